//! Reading an HTTP/1.x response within bounds: the head (status line and headers, at
//! most [`MAX_HEAD`] bytes) and the body's framing (length, chunked, until close),
//! keeping at most [`MAX_BODY`] bytes of it. Pure byte handling, no I/O: the parsing
//! and the chunked decoder are [`crate::http1`]'s, shared with the registry client.

use crate::http1::{ChunkedDecoder, ResponseHead};
pub use crate::http1::{Framing, head_end};

/// The longest response head we read; longer ones fail (Go's default is 10 MiB, far
/// more than a device should buffer for a health check).
pub const MAX_HEAD: usize = 16 * 1024;
/// The kubelet reads at most 10 KiB of a probe's body and ignores the rest.
pub const MAX_BODY: usize = 10 * 1024;

/// A parsed response head: what the prober needs of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    pub location: Option<String>,
    pub framing: Framing,
}

/// Parses a head as [`head_end`] delimits it ([`ResponseHead::parse`]), keeping what the
/// prober needs. Errors read like Go's.
pub fn parse_head(head: &[u8]) -> Result<Head, String> {
    let head = ResponseHead::parse(head)?;
    Ok(Head {
        status: head.status,
        location: head.header("location").map(str::to_string),
        framing: head.framing(false)?,
    })
}

/// A body being read: decodes its framing and keeps the first [`MAX_BODY`] bytes.
#[derive(Debug)]
pub struct Body {
    state: BodyState,
    kept: Vec<u8>,
}

#[derive(Debug)]
enum BodyState {
    Length(u64),
    UntilClose,
    Chunked(ChunkedDecoder),
    Done,
}

impl Body {
    pub fn new(framing: Framing) -> Body {
        let state = match framing {
            Framing::Empty | Framing::Length(0) => BodyState::Done,
            Framing::Length(n) => BodyState::Length(n),
            Framing::Chunked => BodyState::Chunked(ChunkedDecoder::new()),
            Framing::UntilClose => BodyState::UntilClose,
        };
        Body {
            state,
            kept: Vec::new(),
        }
    }

    /// Consumes bytes from the connection; `Ok(true)` once the body is complete or
    /// [`MAX_BODY`] bytes of it were read (the kubelet stops there too).
    pub fn feed(&mut self, mut data: &[u8]) -> Result<bool, String> {
        while !data.is_empty() && !self.is_done() {
            match &mut self.state {
                BodyState::Done => {}
                BodyState::UntilClose => {
                    let n = self.keep(data);
                    data = &data[n..];
                }
                BodyState::Length(rem) => {
                    let n = data.len().min(usize::try_from(*rem).unwrap_or(usize::MAX));
                    *rem -= n as u64;
                    if *rem == 0 {
                        self.state = BodyState::Done;
                    }
                    let (chunk, rest) = data.split_at(n);
                    data = rest;
                    self.keep(chunk);
                }
                BodyState::Chunked(decoder) => {
                    let decoded = decoder
                        .decode(data, usize::MAX)
                        .map_err(|e| e.to_string())?;
                    if decoder.is_done() {
                        self.state = BodyState::Done;
                    }
                    let chunk = &data[decoded.data];
                    data = &data[decoded.consumed..];
                    self.keep(chunk);
                }
            }
        }
        Ok(self.is_done())
    }

    /// The peer closed the connection: fine only where the body was complete or is
    /// delimited by the close.
    pub fn eof(&self) -> Result<(), String> {
        match self.state {
            BodyState::Done | BodyState::UntilClose => Ok(()),
            _ => Err("unexpected EOF".into()),
        }
    }

    pub fn kept(&self) -> &[u8] {
        &self.kept
    }

    fn is_done(&self) -> bool {
        matches!(self.state, BodyState::Done) || self.kept.len() >= MAX_BODY
    }

    /// Keeps what fits; returns how many bytes of `data` were used.
    fn keep(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(MAX_BODY - self.kept.len());
        self.kept.extend_from_slice(&data[..n]);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_end_at_the_first_blank_line() {
        assert_eq!(head_end(b"HTTP/1.1 200 OK\r\n\r\nbody"), Some(19));
        assert_eq!(head_end(b"HTTP/1.1 200 OK\nA: b\n\nbody"), Some(22));
        assert_eq!(head_end(b"HTTP/1.1 200 OK\r\nA: b\r\n"), None);
        assert_eq!(head_end(b"\r\n"), None);
    }

    #[test]
    fn status_lines_and_headers_parse_with_go_errors() {
        let h = parse_head(b"HTTP/1.1 302 Found\r\nlocation: /x\r\nContent-Length: 3\r\n\r\n");
        let h = h.unwrap();
        assert_eq!(h.status, 302);
        assert_eq!(h.location.as_deref(), Some("/x"));
        assert_eq!(h.framing, Framing::Length(3));
        let h = parse_head(b"HTTP/1.0 200\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
        assert_eq!(h.framing, Framing::Chunked);
        let h = parse_head(b"HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n").unwrap();
        assert_eq!(h.framing, Framing::Empty);
        let h = parse_head(b"HTTP/1.1 200 OK\r\n\r\n").unwrap();
        assert_eq!(h.framing, Framing::UntilClose);
        let errs = [
            (
                &b"garbage\r\n\r\n"[..],
                "malformed HTTP response \"garbage\"",
            ),
            (
                b"SPDY/3 200 OK\r\n\r\n",
                "malformed HTTP version \"SPDY/3\"",
            ),
            (
                b"HTTP/1.1 20 OK\r\n\r\n",
                "malformed HTTP status code \"20\"",
            ),
            (
                b"HTTP/1.1 2x0 OK\r\n\r\n",
                "malformed HTTP status code \"2x0\"",
            ),
            (
                b"HTTP/1.1 200 OK\r\nnocolon\r\n\r\n",
                "malformed MIME header line: nocolon",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
                "bad Content-Length \"-1\"",
            ),
        ];
        for (bytes, want) in errs {
            assert_eq!(parse_head(bytes).unwrap_err(), want);
        }
    }

    #[test]
    fn length_bodies_end_at_their_length() {
        let mut b = Body::new(Framing::Length(5));
        assert_eq!(b.feed(b"abc"), Ok(false));
        assert!(b.eof().is_err());
        assert_eq!(b.feed(b"deXX"), Ok(true));
        assert_eq!(b.kept(), b"abcde");
        assert!(b.eof().is_ok());
    }

    #[test]
    fn chunked_bodies_decode_across_reads() {
        let mut b = Body::new(Framing::Chunked);
        let wire = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n";
        for (i, byte) in wire.iter().enumerate() {
            let done = b.feed(std::slice::from_ref(byte)).unwrap();
            assert_eq!(done, i == wire.len() - 1, "at {i}");
        }
        assert_eq!(b.kept(), b"Wikipedia");
        let mut bad = Body::new(Framing::Chunked);
        assert!(bad.feed(b"zz\r\n").is_err());
        let mut long = Body::new(Framing::Chunked);
        assert!(
            long.feed(&[b'1'; crate::http1::MAX_CHUNK_LINE + 1])
                .is_err()
        );
    }

    #[test]
    fn bodies_stop_at_the_kubelet_limit() {
        let mut b = Body::new(Framing::UntilClose);
        assert_eq!(b.feed(&[b'a'; 6000]), Ok(false));
        assert_eq!(b.feed(&[b'b'; 6000]), Ok(true));
        assert_eq!(b.kept().len(), MAX_BODY);
        let mut b = Body::new(Framing::Length(1 << 40));
        assert_eq!(b.feed(&[b'a'; MAX_BODY + 1]), Ok(true));
    }
}
