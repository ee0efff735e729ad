//! A small HTTP/1.1 client for registries: GET and HEAD over TCP or TLS, one request per
//! connection, bounded response heads, bodies streamed (Content-Length, chunked, or until
//! close), redirects followed, timeouts on every socket operation.
//!
//! It is not a general client: no keep-alive, no proxies, no compression, no cookies.
//! Authorization is dropped when a redirect leaves the host it was meant for (registries
//! redirect blob GETs to object storage that must not see the registry's credentials).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use super::body::Body;
pub use super::body::Chunked;
pub use super::url::Url;
use crate::http1::{
    Framing, MAX_INFORMATIONAL, ResponseHead, valid_header_name, valid_header_value,
};

/// Largest response head (status line and headers).
const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 128;
const MAX_REDIRECTS: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("invalid url {url:?}: {reason}")]
    Url { url: String, reason: &'static str },
    #[error("cannot resolve {host}: {source}")]
    Resolve { host: String, source: io::Error },
    #[error("cannot connect to {host}: {source}")]
    Connect { host: String, source: io::Error },
    #[error("{host}: https needed but no tls configuration was given")]
    NoTls { host: String },
    #[error("tls handshake with {host} failed: {source}")]
    Tls { host: String, source: io::Error },
    #[error("{host}: cannot send the request: {source}")]
    Send { host: String, source: io::Error },
    #[error("{host}: bad response: {reason}")]
    Head { host: String, reason: String },
    #[error("{url}: more than {MAX_REDIRECTS} redirects")]
    TooManyRedirects { url: String },
    /// A header that cannot be sent as it is: a value with CR, LF or another control
    /// character (a registry's token, say) would end the header and inject others.
    #[error("{host}: refusing to send header {name:?}: {reason}")]
    Header {
        host: String,
        name: String,
        reason: &'static str,
    },
}

/// A connection, plain or TLS.
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

/// How to connect: the socket timeout and the TLS configuration for `https` URLs.
#[derive(Clone)]
pub struct Transport {
    pub timeout: Duration,
    pub tls: Option<Arc<ClientConfig>>,
}

/// A request: method, URL and extra headers (Host, User-Agent and Connection are added).
#[derive(Clone)]
pub struct Request {
    pub method: &'static str,
    pub url: Url,
    pub headers: Vec<(&'static str, String)>,
}

impl Request {
    pub fn get(url: Url) -> Request {
        Request {
            method: "GET",
            url,
            headers: Vec::new(),
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Request {
        self.headers.push((name, value.into()));
        self
    }
}

/// A response whose body is read through [`Read`].
pub struct Response {
    pub status: u16,
    /// The URL that answered (after redirects).
    pub url: Url,
    headers: Vec<(String, String)>,
    body: Body,
}

impl Response {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length")?.trim().parse().ok()
    }

    /// The whole body when it is at most `max` bytes; longer bodies are an error.
    pub fn read_small(mut self, max: u64) -> io::Result<Vec<u8>> {
        let mut buf = Vec::new();
        (&mut self).take(max + 1).read_to_end(&mut buf)?;
        if buf.len() as u64 > max {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("response body larger than {max} bytes"),
            ));
        }
        Ok(buf)
    }
}

impl Read for Response {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.body.read(buf)
    }
}

impl Transport {
    /// Sends `req`, following redirects. `Authorization` only goes to the original host.
    pub fn send(&self, mut req: Request) -> Result<Response, HttpError> {
        let origin = req.url.authority();
        for _ in 0..=MAX_REDIRECTS {
            let resp = self.send_once(&req)?;
            let location = match resp.status {
                301 | 302 | 303 | 307 | 308 => resp.header("location").map(str::to_string),
                _ => None,
            };
            let Some(location) = location else {
                return Ok(resp);
            };
            req.url = req.url.join(&location)?;
            if req.url.authority() != origin {
                req.headers
                    .retain(|(n, _)| !n.eq_ignore_ascii_case("authorization"));
            }
            log::debug!("redirected to {}", req.url.host);
        }
        Err(HttpError::TooManyRedirects {
            url: req.url.to_string(),
        })
    }

    /// One request, one connection, no redirects.
    pub fn send_once(&self, req: &Request) -> Result<Response, HttpError> {
        check_headers(req)?;
        let mut conn = self.connect(&req.url)?;
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: pealet/{}\r\nConnection: close\r\n",
            req.method,
            req.url.path,
            req.url.authority(),
            env!("CARGO_PKG_VERSION")
        );
        for (name, value) in &req.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let host = req.url.host.clone();
        conn.write_all(head.as_bytes())
            .and_then(|()| conn.flush())
            .map_err(|source| HttpError::Send {
                host: host.clone(),
                source,
            })?;
        let mut reader = BufReader::with_capacity(64 * 1024, conn);
        let bad = |reason: String| HttpError::Head {
            host: host.clone(),
            reason,
        };
        let head = read_head(&mut reader).map_err(|e| bad(e.to_string()))?;
        let framing = head.framing(req.method == "HEAD").map_err(bad)?;
        let body = match framing {
            Framing::Empty => Body::Empty,
            Framing::Chunked => Body::chunked(reader),
            Framing::Length(n) => Body::Length(reader, n),
            Framing::UntilClose => Body::Close(reader),
        };
        let ResponseHead { status, headers } = head;
        Ok(Response {
            status,
            url: req.url.clone(),
            headers,
            body,
        })
    }

    fn connect(&self, url: &Url) -> Result<Conn, HttpError> {
        let host = url.host.clone();
        let addrs = (url.host.trim_matches(['[', ']']), url.port)
            .to_socket_addrs()
            .map_err(|source| HttpError::Resolve {
                host: host.clone(),
                source,
            })?;
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
        let mut tcp = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, self.timeout) {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = e,
            }
        }
        let connect_err = |source| HttpError::Connect {
            host: host.clone(),
            source,
        };
        let mut tcp = tcp.ok_or_else(|| connect_err(last))?;
        tcp.set_read_timeout(Some(self.timeout))
            .and_then(|()| tcp.set_write_timeout(Some(self.timeout)))
            .and_then(|()| tcp.set_nodelay(true))
            .map_err(connect_err)?;
        if !url.tls {
            return Ok(Conn::Plain(tcp));
        }
        let config = self
            .tls
            .clone()
            .ok_or_else(|| HttpError::NoTls { host: host.clone() })?;
        let tls_err = |source| HttpError::Tls {
            host: host.clone(),
            source,
        };
        let name = ServerName::try_from(url.host.trim_matches(['[', ']']).to_string())
            .map_err(|e| tls_err(io::Error::new(io::ErrorKind::InvalidInput, e)))?;
        let mut conn =
            ClientConnection::new(config, name).map_err(|e| tls_err(io::Error::other(e)))?;
        while conn.is_handshaking() {
            conn.complete_io(&mut tcp).map_err(tls_err)?;
        }
        Ok(Conn::Tls(Box::new(StreamOwned::new(conn, tcp))))
    }
}

/// Every extra header of `req` must be sendable as it is, before anything is sent.
fn check_headers(req: &Request) -> Result<(), HttpError> {
    for (name, value) in &req.headers {
        let reason = if !valid_header_name(name) {
            "the name is not a token"
        } else if !valid_header_value(value) {
            "the value contains CR, LF or another control character"
        } else {
            continue;
        };
        return Err(HttpError::Header {
            host: req.url.host.clone(),
            name: name.to_string(),
            reason,
        });
    }
    Ok(())
}

/// Reads the final response's head ([`ResponseHead::parse`]), skipping at most
/// [`MAX_INFORMATIONAL`] 1xx responses; all heads together at most [`MAX_HEAD`] bytes.
pub fn read_head(r: &mut impl BufRead) -> io::Result<ResponseHead> {
    let invalid = |m: String| io::Error::new(io::ErrorKind::InvalidData, m);
    let mut budget = MAX_HEAD;
    for _ in 0..=MAX_INFORMATIONAL {
        let mut bytes = Vec::new();
        loop {
            let line = read_line(r, &mut budget)?;
            let end = line.is_empty();
            bytes.extend_from_slice(line.as_bytes());
            bytes.extend_from_slice(b"\r\n");
            if end && bytes.len() > 2 {
                break;
            }
        }
        let head = ResponseHead::parse(&bytes).map_err(invalid)?;
        if head.headers.len() > MAX_HEADERS {
            return Err(invalid("too many headers".into()));
        }
        if head.status == 101 {
            return Err(invalid("unexpected 101 Switching Protocols".into()));
        }
        if !head.is_informational() {
            return Ok(head);
        }
    }
    Err(invalid(format!(
        "more than {MAX_INFORMATIONAL} informational (1xx) responses"
    )))
}

/// One CRLF- (or LF-) terminated line, charged to `budget`.
pub fn read_line(r: &mut impl BufRead, budget: &mut usize) -> io::Result<String> {
    let mut line = Vec::new();
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed in the response head",
            ));
        }
        let (take, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if take > *budget {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "response head too large",
            ));
        }
        *budget -= take;
        line.extend_from_slice(&buf[..take]);
        r.consume(take);
        if done {
            break;
        }
    }
    while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        line.pop();
    }
    String::from_utf8(line)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "response head is not utf-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads() {
        let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A:  b \r\n\r\nhello";
        let mut r = &raw[..];
        let head = read_head(&mut r).unwrap();
        assert_eq!(head.status, 200);
        assert_eq!(head.headers[1], ("X-A".to_string(), "b".to_string()));
        assert_eq!(head.framing(false), Ok(Framing::Length(5)));
        assert_eq!(r, b"hello");
        for bad in [
            &b"SSH-2.0\r\n\r\n"[..],
            b"HTTP/1.1 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
        ] {
            assert!(read_head(&mut &bad[..]).is_err());
        }
        let huge = format!("HTTP/1.1 200 OK\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        assert!(read_head(&mut huge.as_bytes()).is_err());
        assert!(read_head(&mut &b"HTTP/1.1 200 OK\r\nX: y"[..]).is_err());
    }

    #[test]
    fn informational_responses_are_skipped_up_to_the_bound() {
        let continues = |n| "HTTP/1.1 100 Continue\r\n\r\n".repeat(n);
        let ok = format!(
            "{}HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 204 No\r\n\r\n",
            continues(4)
        );
        assert_eq!(read_head(&mut ok.as_bytes()).unwrap().status, 204);
        let many = format!(
            "{}HTTP/1.1 200 OK\r\n\r\n",
            continues(MAX_INFORMATIONAL + 1)
        );
        let err = read_head(&mut many.as_bytes()).unwrap_err();
        assert_eq!(err.to_string(), "more than 5 informational (1xx) responses");
        let switch = b"HTTP/1.1 101 Switching Protocols\r\n\r\n";
        assert!(read_head(&mut &switch[..]).is_err());
    }

    /// A server on 127.0.0.1 that reads one request head and then sends `100 Continue`
    /// until the client goes away.
    fn endless_continue_server() -> (std::net::SocketAddr, std::thread::JoinHandle<()>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let thread = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut budget = MAX_HEAD;
            while !read_line(&mut reader, &mut budget).unwrap().is_empty() {}
            let mut stream = stream;
            while stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").is_ok() {}
        });
        (addr, thread)
    }

    #[test]
    fn an_endless_series_of_100_continue_is_a_clear_error() {
        let (addr, server) = endless_continue_server();
        let transport = Transport {
            timeout: Duration::from_secs(10),
            tls: None,
        };
        let url = Url::parse(&format!("http://{addr}/v2/")).unwrap();
        let err = match transport.send(Request::get(url)) {
            Err(e) => e.to_string(),
            Ok(r) => panic!("a response with status {}", r.status),
        };
        assert_eq!(
            err,
            "127.0.0.1: bad response: more than 5 informational (1xx) responses"
        );
        server.join().unwrap();
    }

    #[test]
    fn a_header_value_with_a_line_break_is_refused_before_connecting() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let transport = Transport {
            timeout: Duration::from_secs(10),
            tls: None,
        };
        let url = Url::parse(&format!("http://{addr}/v2/")).unwrap();
        let req = Request::get(url).header("Authorization", "Bearer abc\r\nX-Injected: 1");
        let err = transport.send(req).err().expect("refused");
        assert_eq!(
            err.to_string(),
            "127.0.0.1: refusing to send header \"Authorization\": the value contains CR, LF or another control character"
        );
        let not_connected = listener.accept().unwrap_err();
        assert_eq!(not_connected.kind(), io::ErrorKind::WouldBlock);
    }
}
