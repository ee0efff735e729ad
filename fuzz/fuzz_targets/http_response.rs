//! Fuzzes the HTTP/1 response readers of both clients with what a server sends: the
//! registry client's head reader (1xx skipped within the bound) and chunked decoder,
//! and the probes' incremental head and body reader fed in two pieces. Any input gives
//! a response or an error, never a panic; the probe keeps at most MAX_BODY bytes.

#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;
use pealet::images::registry::http::{Chunked, read_head};
use pealet::runtime::probe::response::{Body, MAX_BODY, MAX_HEAD, head_end, parse_head};

fuzz_target!(|data: &[u8]| {
    // Registry: the head, then the rest as a chunked body (finite input: it ends).
    let mut rest = data;
    if read_head(&mut rest).is_ok() {
        let mut out = Vec::new();
        let _ = Chunked::new(rest).take(1 << 20).read_to_end(&mut out);
    }
    let _ = Chunked::new(data)
        .take(1 << 20)
        .read_to_end(&mut Vec::new());

    // Probe: the first byte says where the wire splits the data into two reads.
    let Some((&split, wire)) = data.split_first() else {
        return;
    };
    let Some(end) = head_end(&wire[..wire.len().min(MAX_HEAD)]) else {
        return;
    };
    let Ok(head) = parse_head(&wire[..end]) else {
        return;
    };
    let body_bytes = &wire[end..];
    let at = usize::from(split).min(body_bytes.len());
    let mut body = Body::new(head.framing);
    if let Ok(false) = body.feed(&body_bytes[..at]) {
        let _ = body.feed(&body_bytes[at..]);
    }
    let _ = body.eof();
    assert!(body.kept().len() <= MAX_BODY);
});
