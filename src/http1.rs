//! HTTP/1 rules that both HTTP clients share, the registry client
//! ([`crate::images::registry::http`]) and the httpGet probes and hooks
//! (`runtime::probe`): the response head parser, how many informational responses
//! are skipped, which header names and values may be sent, and the chunked body
//! decoder. Pure: no I/O; each client reads and writes its own way and hands the
//! bytes here.

/// At most this many 1xx informational responses (`100 Continue`, `103 Early Hints`)
/// are skipped before the final response, as Go's client does; one more is an error,
/// so an endless series of them cannot keep a client reading.
pub const MAX_INFORMATIONAL: usize = 5;

/// Whether `name` may be sent as a header name: an RFC 9110 token.
pub fn valid_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether `value` may be sent as a header value: no control character but tab. A CR
/// or LF would end the header and start another one (header injection), a NUL is
/// refused by servers.
pub fn valid_header_value(value: &str) -> bool {
    !value.bytes().any(|b| b != b'\t' && (b < 0x20 || b == 0x7f))
}

/// The index just past the blank line that ends a response head, if `buf` holds one.
/// Lines end with `\n`, optionally preceded by `\r`, as Go accepts.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    let mut start = 0;
    for (i, &b) in buf.iter().enumerate() {
        if b == b'\n' {
            let line = &buf[start..i];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() && start > 0 {
                return Some(i + 1);
            }
            start = i + 1;
        }
    }
    None
}

/// How a response body's end is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// 1xx, 204 and 304 responses (and answers to HEAD) have none.
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

/// A response head: status and headers (names as sent, values trimmed), parsed by
/// [`ResponseHead::parse`] for both clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

impl ResponseHead {
    /// Parses a head as [`head_end`] delimits it: `HTTP/1.0` or `HTTP/1.1`, a three-digit
    /// status, `name: value` lines. The errors read like Go's.
    pub fn parse(head: &[u8]) -> Result<ResponseHead, String> {
        let text = String::from_utf8_lossy(head);
        let mut lines = text.lines();
        let status_line = lines.next().unwrap_or_default();
        let (proto, rest) = status_line
            .split_once(' ')
            .ok_or_else(|| format!("malformed HTTP response {status_line:?}"))?;
        if !matches!(proto, "HTTP/1.0" | "HTTP/1.1") {
            return Err(format!("malformed HTTP version {proto:?}"));
        }
        let code = rest.split(' ').next().unwrap_or_default();
        let status = match code.parse::<u16>() {
            Ok(s) if code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()) => s,
            _ => return Err(format!("malformed HTTP status code {code:?}")),
        };
        let mut headers = Vec::new();
        for line in lines {
            if line.is_empty() {
                break;
            }
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| format!("malformed MIME header line: {line}"))?;
            headers.push((name.to_string(), value.trim().to_string()));
        }
        Ok(ResponseHead { status, headers })
    }

    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A 1xx response other than `101 Switching Protocols`: skipped, up to
    /// [`MAX_INFORMATIONAL`] of them.
    pub fn is_informational(&self) -> bool {
        (100..200).contains(&self.status) && self.status != 101
    }

    /// How the body ends: none for 1xx, 204, 304 (and HEAD requests); chunked when the
    /// last transfer coding is `chunked`; else the first Content-Length; else the close.
    pub fn framing(&self, head_request: bool) -> Result<Framing, String> {
        let chunked = self
            .headers
            .iter()
            .rfind(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"))
            .is_some_and(|(_, v)| {
                let last = v.rsplit(',').next().unwrap_or_default().trim();
                last.eq_ignore_ascii_case("chunked")
            });
        let length = match self.header("content-length") {
            Some(v) => Some(
                v.parse::<u64>()
                    .map_err(|_| format!("bad Content-Length {v:?}"))?,
            ),
            None => None,
        };
        Ok(
            if head_request || (100..200).contains(&self.status) || matches!(self.status, 204 | 304)
            {
                Framing::Empty
            } else if chunked {
                Framing::Chunked
            } else if let Some(n) = length {
                Framing::Length(n)
            } else {
                Framing::UntilClose
            },
        )
    }
}

/// The longest chunk-size line, and the most trailer bytes, accepted (Go's limit).
pub const MAX_CHUNK_LINE: usize = 4096;

/// Why a chunked body cannot be read. The texts are Go's where Go has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("malformed chunked encoding: line too long")]
    LineTooLong,
    #[error("malformed chunked encoding: invalid chunk size {0:?}")]
    Size(String),
    #[error("malformed chunked encoding: chunk data not followed by a line end")]
    NoLineEnd,
    #[error("malformed chunked encoding: trailers longer than {MAX_CHUNK_LINE} bytes")]
    TrailersTooLong,
}

/// What one [`ChunkedDecoder::decode`] call found: it used the first `consumed` bytes
/// of its input, and `data` (a range of the input, maybe empty) is body data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub consumed: usize,
    pub data: std::ops::Range<usize>,
}

/// A chunked body (RFC 9112 7.1) decoded from bytes as they arrive, by both HTTP
/// clients: chunk-size lines (extensions ignored), the data, the line end after it,
/// trailers (ignored) up to the empty line. Every line is bounded. Pure.
#[derive(Debug, Default)]
pub struct ChunkedDecoder {
    state: ChunkState,
    /// The line being read (chunk size, line end, trailer), at most [`MAX_CHUNK_LINE`].
    line: Vec<u8>,
    trailer_bytes: usize,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    #[default]
    Size,
    /// Bytes left in the current chunk.
    Data(u64),
    /// The line end after a chunk's data.
    DataEnd,
    Trailer,
    Done,
}

impl ChunkedDecoder {
    pub fn new() -> ChunkedDecoder {
        ChunkedDecoder::default()
    }

    /// The last chunk and the trailers' empty line were read.
    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Bytes still to come in the current chunk (0 between chunks).
    pub fn chunk_left(&self) -> u64 {
        match self.state {
            ChunkState::Data(n) => n,
            _ => 0,
        }
    }

    /// Reads framing from the start of `input` up to the next run of at most `max`
    /// bytes of body data, and that run. Stops after the run, at the end of the input,
    /// or at the end of the body (the bytes after it are not consumed).
    pub fn decode(&mut self, input: &[u8], max: usize) -> Result<Decoded, ChunkError> {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                ChunkState::Done => break,
                ChunkState::Data(left) => {
                    if max == 0 {
                        break;
                    }
                    let n = (input.len() - i)
                        .min(max)
                        .min(usize::try_from(left).unwrap_or(usize::MAX));
                    let left = left - n as u64;
                    self.state = if left == 0 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left)
                    };
                    return Ok(Decoded {
                        consumed: i + n,
                        data: i..i + n,
                    });
                }
                ChunkState::Size | ChunkState::DataEnd | ChunkState::Trailer => {
                    let rest = &input[i..];
                    let newline = rest.iter().position(|&b| b == b'\n');
                    let take = newline.map_or(rest.len(), |p| p + 1);
                    if self.line.len() + take > MAX_CHUNK_LINE {
                        return Err(ChunkError::LineTooLong);
                    }
                    self.line.extend_from_slice(&rest[..take]);
                    i += take;
                    if newline.is_none() {
                        break;
                    }
                    self.end_of_line()?;
                }
            }
        }
        Ok(Decoded {
            consumed: i,
            data: i..i,
        })
    }

    /// A whole line (ending in LF) is in `self.line`.
    fn end_of_line(&mut self) -> Result<(), ChunkError> {
        let mut line = &self.line[..self.line.len() - 1];
        if let Some(l) = line.strip_suffix(b"\r") {
            line = l;
        }
        self.state = match self.state {
            ChunkState::Size => match chunk_size(line)? {
                0 => ChunkState::Trailer,
                n => ChunkState::Data(n),
            },
            ChunkState::DataEnd if line.is_empty() => ChunkState::Size,
            ChunkState::DataEnd => return Err(ChunkError::NoLineEnd),
            ChunkState::Trailer if line.is_empty() => ChunkState::Done,
            ChunkState::Trailer => {
                self.trailer_bytes += self.line.len();
                if self.trailer_bytes > MAX_CHUNK_LINE {
                    return Err(ChunkError::TrailersTooLong);
                }
                ChunkState::Trailer
            }
            state => state,
        };
        self.line.clear();
        Ok(())
    }
}

/// The hexadecimal size before any `;extension`, surrounding blanks allowed.
fn chunk_size(line: &[u8]) -> Result<u64, ChunkError> {
    let text = String::from_utf8_lossy(line);
    let hex = text
        .split(';')
        .next()
        .unwrap_or_default()
        .trim_matches([' ', '\t']);
    let valid = !hex.is_empty() && hex.len() <= 16 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    match valid {
        true => u64::from_str_radix(hex, 16).map_err(|_| ChunkError::Size(hex.to_string())),
        false => Err(ChunkError::Size(hex.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_tokens() {
        for ok in ["Authorization", "X-Custom_1", "a!#$%&'*+-.^_`|~z"] {
            assert!(valid_header_name(ok), "{ok:?}");
        }
        for bad in ["", "A B", "A:B", "A\r\nB", "Ä", "(x)", "a/b", "a\"b"] {
            assert!(!valid_header_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn header_values_have_no_line_breaks_or_controls() {
        for ok in ["", "Bearer abc.def-ghi", "a\tb", "with spaces", "ünïcode"] {
            assert!(valid_header_value(ok), "{ok:?}");
        }
        for bad in [
            "Bearer a\r\nX-Injected: 1",
            "a\nb",
            "a\rb",
            "a\0b",
            "a\x7fb",
            "a\x1bb",
        ] {
            assert!(!valid_header_value(bad), "{bad:?}");
        }
    }

    /// Decodes `wire` handed over in pieces of `step` bytes, at most `max` data bytes
    /// a call: (body, bytes consumed, done).
    fn decode_all(
        wire: &[u8],
        step: usize,
        max: usize,
    ) -> Result<(Vec<u8>, usize, bool), ChunkError> {
        let mut d = ChunkedDecoder::new();
        let (mut out, mut pos) = (Vec::new(), 0);
        while !d.is_done() && pos < wire.len() {
            let piece = &wire[pos..(pos + step).min(wire.len())];
            let r = d.decode(piece, max)?;
            out.extend_from_slice(&piece[r.data]);
            pos += r.consumed;
        }
        Ok((out, pos, d.is_done()))
    }

    #[test]
    fn chunked_bodies_decode_in_any_pieces() {
        let wire = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: y\r\n\r\nNEXT";
        for step in [1, 2, 3, 7, 4096] {
            for max in [1, 2, 5, 4096] {
                let got = decode_all(wire, step, max).unwrap();
                assert_eq!(
                    got,
                    (b"hello world".to_vec(), wire.len() - 4, true),
                    "{step} {max}"
                );
            }
        }
        let cases: [(&[u8], &[u8], bool); 5] = [
            (b"0\r\n\r\n", b"", true),
            (b"3\nabc\n0\n\n", b"abc", true),
            (b" A \r\n0123456789\r\n0\r\n\r\n", b"0123456789", true),
            (b"5\r\nhel", b"hel", false),
            (b"5\r\nhello\r\n0\r\n", b"hello", false),
        ];
        for (wire, body, done) in cases {
            let (got, _, is_done) = decode_all(wire, 4096, 4096).unwrap();
            assert_eq!((got.as_slice(), is_done), (body, done), "{wire:?}");
        }
    }

    #[test]
    fn malformed_chunked_bodies_are_errors() {
        let long = format!("{}\r\n", "1".repeat(MAX_CHUNK_LINE + 1));
        let trailers = format!("0\r\n{}", "X-T: y\r\n".repeat(MAX_CHUNK_LINE / 8 + 1));
        let cases: [(&[u8], ChunkError); 7] = [
            (b"zz\r\n", ChunkError::Size("zz".into())),
            (b"+5\r\nhello\r\n", ChunkError::Size("+5".into())),
            (b"\r\n", ChunkError::Size("".into())),
            (
                b"11111111111111111\r\n",
                ChunkError::Size("11111111111111111".into()),
            ),
            (b"5\r\nhelloXX\r\n0\r\n\r\n", ChunkError::NoLineEnd),
            (long.as_bytes(), ChunkError::LineTooLong),
            (trailers.as_bytes(), ChunkError::TrailersTooLong),
        ];
        for (wire, want) in cases {
            assert_eq!(decode_all(wire, 3, 4096).unwrap_err(), want, "{wire:?}");
        }
    }

    #[test]
    fn heads_parse_and_say_how_the_body_ends() {
        let cases: [(&[u8], bool, u16, Framing); 8] = [
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
                false,
                200,
                Framing::Length(3),
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
                true,
                200,
                Framing::Empty,
            ),
            (
                b"HTTP/1.0 200\nTransfer-Encoding: gzip, chunked\n\n",
                false,
                200,
                Framing::Chunked,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
                false,
                200,
                Framing::UntilClose,
            ),
            (
                b"HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n",
                false,
                204,
                Framing::Empty,
            ),
            (
                b"HTTP/1.1 304 Not Modified\r\n\r\n",
                false,
                304,
                Framing::Empty,
            ),
            (b"HTTP/1.1 100 Continue\r\n\r\n", false, 100, Framing::Empty),
            (
                b"HTTP/1.1 404 Not Found\r\n\r\n",
                false,
                404,
                Framing::UntilClose,
            ),
        ];
        for (bytes, head_request, status, framing) in cases {
            let head = ResponseHead::parse(bytes).unwrap();
            assert_eq!(head.status, status, "{bytes:?}");
            assert_eq!(head.framing(head_request), Ok(framing), "{bytes:?}");
        }
        let head =
            ResponseHead::parse(b"HTTP/1.1 302 Found\r\nLocation:  /x \r\nlocation: /y\r\n\r\n")
                .unwrap();
        assert_eq!(head.header("LOCATION"), Some("/x"));
        let informational = |s: &[u8]| ResponseHead::parse(s).unwrap().is_informational();
        assert!(informational(b"HTTP/1.1 100 Continue\r\n\r\n"));
        assert!(informational(b"HTTP/1.1 103 Early Hints\r\n\r\n"));
        assert!(!informational(b"HTTP/1.1 101 Switching Protocols\r\n\r\n"));
        assert!(!informational(b"HTTP/1.1 200 OK\r\n\r\n"));
        let bad_length =
            ResponseHead::parse(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n").unwrap();
        assert_eq!(
            bad_length.framing(false),
            Err("bad Content-Length \"-1\"".into())
        );
        for bad in [
            &b"SSH-2.0\r\n\r\n"[..],
            b"HTTP/2 200\r\n\r\n",
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
        ] {
            assert!(ResponseHead::parse(bad).is_err(), "{bad:?}");
        }
    }
}
