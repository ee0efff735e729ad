//! HTTP response bodies: empty, Content-Length, chunked (RFC 9112 7.1) or until close,
//! read through fixed buffers; a connection closed early is an error, never a short body.

use std::io::{self, BufRead, BufReader, Read};

use super::http::Conn;
use crate::http1::ChunkedDecoder;

pub enum Body {
    Empty,
    /// The connection and the bytes still to come.
    Length(BufReader<Conn>, u64),
    Chunked(Chunked<BufReader<Conn>>),
    Close(BufReader<Conn>),
}

impl Body {
    pub fn chunked(r: BufReader<Conn>) -> Body {
        Body::Chunked(Chunked::new(r))
    }
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Body::Empty => Ok(0),
            Body::Length(r, remaining) => {
                if *remaining == 0 || buf.is_empty() {
                    return Ok(0);
                }
                let max = buf
                    .len()
                    .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                let n = r.read(&mut buf[..max])?;
                if n == 0 {
                    return Err(closed(*remaining));
                }
                *remaining -= n as u64;
                Ok(n)
            }
            Body::Chunked(c) => c.read(buf),
            Body::Close(r) => r.read(buf),
        }
    }
}

fn closed(remaining: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("connection closed with {remaining} bytes of the body still to come"),
    )
}

/// A chunked body over any buffered reader, decoded by [`ChunkedDecoder`].
pub struct Chunked<R> {
    inner: R,
    decoder: ChunkedDecoder,
}

impl<R: BufRead> Chunked<R> {
    pub fn new(inner: R) -> Chunked<R> {
        Chunked {
            inner,
            decoder: ChunkedDecoder::new(),
        }
    }
}

impl<R: BufRead> Read for Chunked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.decoder.is_done() {
                return Ok(0);
            }
            let input = self.inner.fill_buf()?;
            if input.is_empty() {
                return Err(match self.decoder.chunk_left() {
                    0 => io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed in the chunked body's framing",
                    ),
                    left => closed(left),
                });
            }
            let decoded = self
                .decoder
                .decode(input, buf.len())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let n = decoded.data.len();
            buf[..n].copy_from_slice(&input[decoded.data]);
            self.inner.consume(decoded.consumed);
            if n > 0 {
                return Ok(n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(raw: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        Chunked::new(raw).read_to_end(&mut out).map(|_| out)
    }

    #[test]
    fn chunked_bodies() {
        let raw = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: y\r\n\r\nNEXT";
        assert_eq!(read_all(raw).unwrap(), b"hello world");
        assert_eq!(read_all(b"0\r\n\r\n").unwrap(), b"");
        assert!(read_all(b"5\r\nhel").is_err(), "cut in a chunk");
        assert!(
            read_all(b"5\r\nhello").is_err(),
            "cut before the last chunk"
        );
        assert!(read_all(b"zz\r\n").is_err());
        assert!(read_all(b"5\r\nhelloXX\r\n0\r\n\r\n").is_err());
        let long = format!("{}\r\n", "1".repeat(crate::http1::MAX_CHUNK_LINE + 1));
        assert!(read_all(long.as_bytes()).is_err());
    }
}
