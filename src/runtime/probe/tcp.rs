//! tcpSocket probes, and the non-blocking connect that HTTP probes share: `socket`
//! with `SOCK_NONBLOCK`, `connect` (usually `EINPROGRESS`), wait writable, `SO_ERROR`.

use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketFlags, SocketType};

use super::{ProbeOutcome, errno_text};

/// A TCP connection being set up, then established.
#[derive(Debug)]
pub(super) struct Connect {
    fd: OwnedFd,
    addr: SocketAddr,
    connected: bool,
}

impl Connect {
    /// Opens the socket and starts the connection; `Err` is a failure Go would print
    /// as `dial tcp <addr>: ...` (without the `dial tcp <addr>: ` prefix).
    pub(super) fn start(addr: SocketAddr) -> Result<Connect, String> {
        let family = match addr {
            SocketAddr::V4(_) => AddressFamily::INET,
            SocketAddr::V6(_) => AddressFamily::INET6,
        };
        let flags = SocketFlags::NONBLOCK | SocketFlags::CLOEXEC;
        let fd = rustix::net::socket_with(family, SocketType::STREAM, flags, None)
            .map_err(|e| format!("socket: {}", errno_text(e)))?;
        // A non-blocking connect returns at once; the handshake completes (or fails)
        // later and the socket turns writable.
        let connected = match rustix::net::connect(&fd, &addr) {
            Ok(()) => true,
            Err(Errno::INPROGRESS) | Err(Errno::AGAIN) => false,
            Err(e) => return Err(format!("connect: {}", errno_text(e))),
        };
        Ok(Connect {
            fd,
            addr,
            connected,
        })
    }

    pub(super) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub(super) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `Ok(true)` once established, `Ok(false)` while the handshake runs.
    pub(super) fn poll(&mut self) -> Result<bool, String> {
        if self.connected {
            return Ok(true);
        }
        // SO_ERROR carries the handshake's failure; 0 means done or still running,
        // and only an established socket has a peer.
        match rustix::net::sockopt::socket_error(&self.fd) {
            Ok(Ok(())) => {}
            Ok(Err(e)) | Err(e) => return Err(format!("connect: {}", errno_text(e))),
        }
        match rustix::net::getpeername(&self.fd) {
            Ok(_) => {
                self.connected = true;
                Ok(true)
            }
            Err(Errno::NOTCONN) => Ok(false),
            Err(e) => Err(format!("getpeername: {}", errno_text(e))),
        }
    }
}

/// A tcpSocket probe: success as soon as the connection is established.
#[derive(Debug)]
pub(super) struct TcpRun {
    conn: Connect,
}

impl TcpRun {
    pub(super) fn start(addr: SocketAddr) -> Result<TcpRun, ProbeOutcome> {
        match Connect::start(addr) {
            Ok(conn) => Ok(TcpRun { conn }),
            Err(e) => Err(ProbeOutcome::failure(format!("dial tcp {addr}: {e}"))),
        }
    }

    pub(super) fn fd(&self) -> BorrowedFd<'_> {
        self.conn.fd()
    }

    pub(super) fn advance(&mut self) -> Option<ProbeOutcome> {
        match self.conn.poll() {
            Ok(true) => Some(ProbeOutcome::success()),
            Ok(false) => None,
            Err(e) => Some(ProbeOutcome::failure(format!(
                "dial tcp {}: {e}",
                self.conn.addr()
            ))),
        }
    }

    pub(super) fn timeout(&self) -> ProbeOutcome {
        ProbeOutcome::failure(format!("dial tcp {}: i/o timeout", self.conn.addr()))
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::super::testing::{drive, now_ms};
    use super::super::{ProbeRun, Target, resolve_port};
    use crate::spec::{ContainerPort, PortRef, ProbeHandler, Protocol};

    #[test]
    fn an_open_port_succeeds() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let run = ProbeRun::tcp(addr, now_ms(), 2000);
        assert!(run.fd().is_some());
        let out = drive(run);
        assert!(out.success, "{out:?}");
        assert_eq!(out.message, None);
    }

    #[test]
    fn a_closed_port_is_refused() {
        let addr = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        let out = drive(ProbeRun::tcp(addr, now_ms(), 2000));
        assert!(!out.success);
        assert_eq!(
            out.message.unwrap(),
            format!("dial tcp {addr}: connect: connection refused")
        );
    }

    #[test]
    fn a_named_port_from_the_spec_is_probed() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let ports = [ContainerPort {
            name: Some("web".try_into().unwrap()),
            container_port: port,
            host_port: None,
            protocol: Protocol::Tcp,
        }];
        let handler = ProbeHandler::TcpSocket {
            host: None,
            port: PortRef::Name("web".try_into().unwrap()),
        };
        assert_eq!(
            resolve_port(&PortRef::Name("web".try_into().unwrap()), &ports),
            Ok(port)
        );
        let target = Target {
            pod_ip: None,
            ports: &ports,
        };
        let run = ProbeRun::for_probe(&handler, &target, now_ms(), 2000).unwrap();
        assert!(drive(run).success);
    }

    #[test]
    fn a_pending_connect_times_out_at_the_deadline() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut run = ProbeRun::tcp(addr, 1000, 500);
        assert_eq!(run.deadline(), 1500);
        // Whatever the handshake did, an advance before the deadline that sees no
        // connection yet returns nothing, and one at the deadline always answers.
        let out = match run.advance(1000) {
            Some(out) => out,
            None => run.advance(1500).unwrap(),
        };
        let msg = out.message.clone().unwrap_or_default();
        assert!(
            out.success || msg == format!("dial tcp {addr}: i/o timeout"),
            "{out:?}"
        );
    }
}
