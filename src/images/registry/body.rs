//! HTTP response bodies: empty, Content-Length, chunked (RFC 9112 7.1) or until close,
//! read through fixed buffers; a connection closed early is an error, never a short body.

use std::io::{self, BufRead, BufReader, Read};

use super::http::{Conn, read_line};

/// Longest chunk-size line or trailer section accepted.
const MAX_CHUNK_LINE: usize = 4096;

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

/// A chunked body over any buffered reader.
pub struct Chunked<R> {
    inner: R,
    /// Bytes left in the current chunk.
    left: u64,
    started: bool,
    done: bool,
}

impl<R: BufRead> Chunked<R> {
    pub fn new(inner: R) -> Chunked<R> {
        Chunked {
            inner,
            left: 0,
            started: false,
            done: false,
        }
    }

    /// Reads the next chunk-size line (after the previous chunk's CRLF).
    fn next_chunk(&mut self) -> io::Result<()> {
        let mut budget = MAX_CHUNK_LINE;
        if self.started && !read_line(&mut self.inner, &mut budget)?.is_empty() {
            return Err(invalid("chunk not followed by a line end"));
        }
        self.started = true;
        let line = read_line(&mut self.inner, &mut budget)?;
        let size = line.split(';').next().unwrap_or_default().trim();
        self.left = u64::from_str_radix(size, 16).map_err(|_| invalid("invalid chunk size"))?;
        if self.left == 0 {
            // Trailers, up to the empty line; their content is ignored.
            let mut budget = MAX_CHUNK_LINE;
            while !read_line(&mut self.inner, &mut budget)?.is_empty() {}
            self.done = true;
        }
        Ok(())
    }
}

fn invalid(m: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, m.to_string())
}

impl<R: BufRead> Read for Chunked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.left == 0 {
            if self.done {
                return Ok(0);
            }
            self.next_chunk()?;
        }
        let max = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 {
            return Err(closed(self.left));
        }
        self.left -= n as u64;
        Ok(n)
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
        let long = format!("{}\r\n", "1".repeat(MAX_CHUNK_LINE + 1));
        assert!(read_all(long.as_bytes()).is_err());
    }
}
