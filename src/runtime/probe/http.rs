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

use super::request::{HttpRequest, Purpose, build_request};
use super::response::{Body, Head, MAX_HEAD, head_end, parse_head};
use super::tcp::Connect;
use super::url::{Redirect, Url, redirect};
use super::{Interest, ProbeOutcome, errno_text};
use crate::http1::MAX_INFORMATIONAL;
use crate::spec::Scheme;

/// At most this much of a redirect's body is quoted in the warning.
pub const MAX_WARNING_BODY: usize = 1024;

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
    Head { buf: Vec<u8>, informational: usize },
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
