//! Fuzz target: any bytes through `codec::decode_any` (every kind, the remote-logs
//! follow and chunk included; seeds in `fuzz/seeds/decode`); whatever decodes must
//! re-encode, decode to the same message, and print as a manifest.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pealet::spec::manifest::{emit, write};
use pealet::spec::{AnyMessage, decode_any, encode};

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = decode_any(data) else { return };
    let again = match &msg {
        AnyMessage::Pod(m) => encode(m),
        AnyMessage::PodStatus(m) => encode(m),
        AnyMessage::NodeStatus(m) => encode(m),
        AnyMessage::Event(m) => encode(m),
        AnyMessage::Index(m) => encode(m),
        AnyMessage::LogsRequest(m) => encode(m),
        AnyMessage::LogsResponse(m) => encode(m),
    };
    assert_eq!(decode_any(&again).as_ref(), Ok(&msg));
    let tree = write::message(&msg);
    let _ = emit::to_yaml(&tree);
    let _ = emit::to_json(&tree);
});
