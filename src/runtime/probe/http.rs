//! httpGet probes and hooks as the kubelet runs them: `GET` with `Connection: close`,
//! the kubelet's default headers unless `httpHeaders` override them, the response read
//! incrementally within bounds, redirects followed only on the same host (at most 10
//! requests). No TLS in the shim: `https` targets fail with a message that says so.
//!
//! Differences from the kubelet, all deliberate: no `Accept-Encoding: gzip` (we never
//! decode bodies); a user `Connection` header is dropped; a redirect's body quoted in
//! the warning is cut to [`MAX_WARNING_BODY`] bytes; hooks follow redirects on the same
//! host only (the kubelet's hook client follows any).

use std::net::{IpAddr, SocketAddr};
use std::os::fd::BorrowedFd;

use rustix::io::Errno;
use rustix::net::{RecvFlags, SendFlags};

use super::response::{Body, Head, MAX_HEAD, head_end, parse_head};
use super::tcp::Connect;
use super::url::{Redirect, Url, redirect};
use super::{Interest, KUBE_VERSION, ProbeError, ProbeOutcome, Target, errno_text};
use crate::spec::{HttpGet, Scheme};

/// At most this much of a redirect's body is quoted in the warning.
pub const MAX_WARNING_BODY: usize = 1024;
/// Go skips at most this many 1xx informational responses.
const MAX_INFORMATIONAL: u8 = 5;

/// What the request is for; it decides the `User-Agent` and what succeeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `kube-probe/<v>`: statuses 200..=399 succeed, and a 3xx the probe did not follow
    /// succeeds with a warning, as the kubelet's `probe.Warning`.
    Probe,
    /// `kube-lifecycle/<v>`: any HTTP response succeeds, as for the kubelet's hooks;
    /// only a failed connection, a malformed response or the timeout fail.
    Lifecycle,
}

impl Purpose {
    fn user_agent(self) -> String {
        match self {
            Purpose::Probe => format!("kube-probe/{KUBE_VERSION}"),
            Purpose::Lifecycle => format!("kube-lifecycle/{KUBE_VERSION}"),
        }
    }
}

/// A GET to send: the URL as the kubelet would build it, the address to connect to.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    url: Url,
    ip: IpAddr,
    headers: Vec<(String, String)>,
    purpose: Purpose,
}

impl HttpRequest {
    /// From a spec's `httpGet`: the port resolved by number or name, the host (or the
    /// pod IP, or 127.0.0.1) in the URL and the Host header, `path` defaulting to `/`.
    pub fn new(get: &HttpGet, target: &Target, purpose: Purpose) -> Result<Self, ProbeError> {
        let port = super::resolve_port(&get.port, target.ports)?;
        let host_field = get.host.as_deref().filter(|h| !h.is_empty());
        let ip = super::resolve_host(host_field, target.pod_ip)?;
        let host = match host_field {
            Some(h) => h.trim_start_matches('[').trim_end_matches(']').to_string(),
            None => ip.to_string(),
        };
        let url = Url::new(get.scheme, host, port, get.path.as_deref().unwrap_or("/"));
        let headers = get
            .http_headers
            .iter()
            .map(|h| (h.name.to_string(), h.value.to_string()))
            .collect();
        Ok(HttpRequest {
            url,
            ip,
            headers,
            purpose,
        })
    }

    /// A plain GET of `path` on `addr`, with extra headers; for tests and tools.
    pub fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)], purpose: Purpose) -> Self {
        HttpRequest {
            url: Url::new(Scheme::Http, addr.ip().to_string(), addr.port(), path),
            ip: addr.ip(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            purpose,
        }
    }

    /// The URL as messages show it, e.g. `http://127.0.0.1:8080/healthz`.
    pub fn url(&self) -> String {
        self.url.to_string()
    }
}

/// The request bytes, as Go's client writes them for the kubelet: Host, then
/// User-Agent (the user's, or none if set empty), Accept `*/*` unless the user's
/// (none if set empty), the other user headers in order, `Connection: close`.
pub(super) fn build_request(
    url: &Url,
    host_override: Option<&str>,
    headers: &[(String, String)],
    purpose: Purpose,
) -> Result<Vec<u8>, String> {
    for (name, value) in headers {
        if name.is_empty() || !name.bytes().all(is_token) {
            return Err(format!("net/http: invalid header field name {name:?}"));
        }
        if value.bytes().any(|b| b != b'\t' && (b < 0x20 || b == 0x7f)) {
            return Err(format!("net/http: invalid header field value for {name:?}"));
        }
    }
    let host = host_override.map_or_else(|| url.host_port(), str::to_string);
    if host.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err("http: invalid Host header".into());
    }
    let named = |n: &'static str| {
        headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(n))
    };
    let mut out = format!("GET {} HTTP/1.1\r\nHost: {host}\r\n", url.target());
    let agent = named("user-agent").next().map(|(_, v)| v.clone());
    let agent = agent.unwrap_or_else(|| purpose.user_agent());
    if !agent.is_empty() {
        out.push_str(&format!("User-Agent: {agent}\r\n"));
    }
    match named("accept").next() {
        None => out.push_str("Accept: */*\r\n"),
        Some((_, v)) if v.is_empty() => {}
        Some(_) => named("accept").for_each(|(k, v)| out.push_str(&format!("{k}: {v}\r\n"))),
    }
    const OURS: [&str; 7] = [
        "host",
        "user-agent",
        "accept",
        "connection",
        "content-length",
        "transfer-encoding",
        "trailer",
    ];
    for (k, v) in headers {
        if !OURS.iter().any(|o| k.eq_ignore_ascii_case(o)) {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    Ok(out.into_bytes())
}

fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// One HTTP probe or hook in progress, across redirects.
#[derive(Debug)]
pub(super) struct HttpRun {
    req: HttpRequest,
    /// The URL of the request in flight.
    url: Url,
    /// The user's Host header, kept across relative redirects as Go does.
    host_override: Option<String>,
    requests: u32,
    conn: Connect,
    out: Vec<u8>,
    sent: usize,
    phase: Phase,
}

#[derive(Debug)]
enum Phase {
    Connecting,
    Sending,
    Head { buf: Vec<u8>, informational: u8 },
    Body { head: Head, body: Body },
}

enum Step {
    Wait,
    Again,
    Done(ProbeOutcome),
}

impl HttpRun {
    pub(super) fn start(req: HttpRequest) -> Result<HttpRun, ProbeOutcome> {
        let url = req.url.clone();
        let host_override = req
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("host"))
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty());
        let (conn, out) = open(&url, req.ip, host_override.as_deref(), &req)?;
        Ok(HttpRun {
            req,
            url,
            host_override,
            requests: 1,
            conn,
            out,
            sent: 0,
            phase: Phase::Connecting,
        })
    }

    pub(super) fn fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.conn.fd())
    }

    pub(super) fn interest(&self) -> Interest {
        match self.phase {
            Phase::Connecting | Phase::Sending => Interest::Writable,
            Phase::Head { .. } | Phase::Body { .. } => Interest::Readable,
        }
    }

    pub(super) fn advance(&mut self) -> Option<ProbeOutcome> {
        loop {
            match self.step() {
                Step::Wait => return None,
                Step::Again => {}
                Step::Done(outcome) => return Some(outcome),
            }
        }
    }

    pub(super) fn timeout(&self) -> ProbeOutcome {
        let why = match self.phase {
            Phase::Body { .. } => "Client.Timeout or context cancellation while reading body",
            _ => "Client.Timeout exceeded while awaiting headers",
        };
        self.fail(&format!("context deadline exceeded ({why})"))
    }

    fn fail(&self, what: &str) -> ProbeOutcome {
        ProbeOutcome::failure(format!("Get \"{}\": {what}", self.url))
    }

    fn step(&mut self) -> Step {
        match &mut self.phase {
            Phase::Connecting => match self.conn.poll() {
                Ok(true) => {
                    self.phase = Phase::Sending;
                    Step::Again
                }
                Ok(false) => Step::Wait,
                Err(e) => Step::Done(self.fail(&format!("dial tcp {}: {e}", self.conn.addr()))),
            },
            Phase::Sending => {
                let rest = &self.out[self.sent..];
                match rustix::net::send(self.conn.fd(), rest, SendFlags::NOSIGNAL) {
                    Ok(n) => {
                        self.sent += n;
                        if self.sent == self.out.len() {
                            self.phase = Phase::Head {
                                buf: Vec::new(),
                                informational: 0,
                            };
                        }
                        Step::Again
                    }
                    Err(Errno::AGAIN) => Step::Wait,
                    Err(Errno::INTR) => Step::Again,
                    Err(e) => Step::Done(self.io_error("write", e)),
                }
            }
            Phase::Head { .. } | Phase::Body { .. } => {
                let mut buf = [0u8; 4096];
                match rustix::net::recv(self.conn.fd(), &mut buf, RecvFlags::empty()) {
                    Ok((_, 0)) => self.on_eof(),
                    Ok((_, n)) => self.on_data(&buf[..n]),
                    Err(Errno::AGAIN) => Step::Wait,
                    Err(Errno::INTR) => Step::Again,
                    Err(e) => Step::Done(self.io_error("read", e)),
                }
            }
        }
    }

    fn io_error(&self, op: &str, e: Errno) -> ProbeOutcome {
        let addr = self.conn.addr();
        self.fail(&format!("{op} tcp {addr}: {op}: {}", errno_text(e)))
    }

    fn on_eof(&mut self) -> Step {
        let outcome = match &self.phase {
            Phase::Head { buf, .. } if buf.is_empty() => self.fail("EOF"),
            Phase::Body { head, body } => match body.eof() {
                Ok(()) => finish(head, body),
                Err(e) => self.fail(&e),
            },
            _ => self.fail("unexpected EOF"),
        };
        Step::Done(outcome)
    }

    fn on_data(&mut self, data: &[u8]) -> Step {
        let (buf, informational) = match &mut self.phase {
            Phase::Body { head, body } => {
                return match body.feed(data) {
                    Ok(true) => Step::Done(finish(head, body)),
                    Ok(false) => Step::Again,
                    Err(e) => Step::Done(self.fail(&e)),
                };
            }
            Phase::Head { buf, informational } => (buf, informational),
            Phase::Connecting | Phase::Sending => return Step::Again,
        };
        buf.extend_from_slice(data);
        loop {
            let Some(end) = head_end(buf) else {
                if buf.len() > MAX_HEAD {
                    let e = format!(
                        "net/http: server response headers exceeded {MAX_HEAD} bytes; aborted"
                    );
                    return Step::Done(self.fail(&e));
                }
                return Step::Again;
            };
            let head = match parse_head(&buf[..end]) {
                Ok(head) => head,
                Err(e) => return Step::Done(self.fail(&e)),
            };
            let rest = buf.split_off(end);
            if (100..200).contains(&head.status) && head.status != 101 {
                *informational += 1;
                if *informational > MAX_INFORMATIONAL {
                    let e = "net/http: too many 1xx informational responses";
                    return Step::Done(self.fail(e));
                }
                *buf = rest;
                continue;
            }
            return self.on_head(head, &rest);
        }
    }

    fn on_head(&mut self, head: Head, rest: &[u8]) -> Step {
        let first_host = &self.req.url.host;
        match redirect(
            head.status,
            head.location.as_deref(),
            &self.url,
            first_host,
            self.requests,
        ) {
            Redirect::Follow { url, relative } => return self.follow(url, relative),
            Redirect::Fail(e) => return Step::Done(ProbeOutcome::failure(e)),
            Redirect::UseResponse => {}
        }
        if self.req.purpose == Purpose::Lifecycle {
            return Step::Done(ProbeOutcome::success());
        }
        if !(200..400).contains(&head.status) {
            let e = format!("HTTP probe failed with statuscode: {}", head.status);
            return Step::Done(ProbeOutcome::failure(e));
        }
        let mut body = Body::new(head.framing);
        let done = match body.feed(rest) {
            Ok(done) => done,
            Err(e) => return Step::Done(self.fail(&e)),
        };
        if done {
            return Step::Done(finish(&head, &body));
        }
        self.phase = Phase::Body { head, body };
        Step::Again
    }

    fn follow(&mut self, url: Url, relative: bool) -> Step {
        if !relative {
            self.host_override = None;
        }
        match open(&url, self.req.ip, self.host_override.as_deref(), &self.req) {
            Ok((conn, out)) => {
                self.url = url;
                self.requests += 1;
                self.conn = conn;
                self.out = out;
                self.sent = 0;
                self.phase = Phase::Connecting;
                Step::Again
            }
            Err(outcome) => Step::Done(outcome),
        }
    }
}

/// Builds the request for `url` and starts its connection.
fn open(
    url: &Url,
    ip: IpAddr,
    host_override: Option<&str>,
    req: &HttpRequest,
) -> Result<(Connect, Vec<u8>), ProbeOutcome> {
    let fail = |e: &str| ProbeOutcome::failure(format!("Get \"{url}\": {e}"));
    if url.scheme == Scheme::Https {
        return Err(fail("https probes are not supported"));
    }
    let out = build_request(url, host_override, &req.headers, req.purpose).map_err(|e| fail(&e))?;
    let addr = SocketAddr::new(ip, url.port);
    let conn = Connect::start(addr).map_err(|e| fail(&format!("dial tcp {addr}: {e}")))?;
    Ok((conn, out))
}

/// A probe's 2xx/3xx response, read as far as the kubelet reads it.
fn finish(head: &Head, body: &Body) -> ProbeOutcome {
    if head.status < 300 {
        return ProbeOutcome::success();
    }
    let kept = body.kept();
    let quoted = String::from_utf8_lossy(&kept[..kept.len().min(MAX_WARNING_BODY)]);
    ProbeOutcome {
        success: true,
        message: Some(format!(
            "Probe terminated redirects, Response body: {quoted}"
        )),
    }
}
