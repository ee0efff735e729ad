//! The shim's socket protocol: one [`Request`] enum from clients, one [`Response`] enum
//! back, each a length-prefixed postcard frame of at most [`MAX_FRAME`] bytes in one
//! `SOCK_SEQPACKET` packet (the frame codec of `runtime::config`). Typed error codes go
//! on the wire, never internal error strings alone. A watcher gets statuses and the
//! lifecycle's Events ([`PodEvent`], typed, each message at most 1 KiB) as they happen.

use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
use serde::{Deserialize, Serialize};

use crate::lifecycle::PodEvent;
pub use crate::runtime::config::MAX_FRAME;
use crate::runtime::config::{self, FrameError};
use crate::spec::PodStatus;

/// What a client asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// The current status, once.
    Status,
    /// The current status, then every change and every Event until the pod is gone.
    /// With `replay`, the Events the shim keeps (the newest [`MAX_BACKLOG`] since it
    /// started) come first: what its starter missed before it could connect.
    Watch { replay: bool },
    /// Stop the pod: SIGTERM, then SIGKILL after the grace period (the pod's own when
    /// `None`). Answered with `Stopped` once every container has exited.
    Stop { grace_seconds: Option<u64> },
    /// The pid (in the shim's PID namespace) of a container's PID 1, for `pealet exec`.
    ContainerPid { container: String },
}

/// What the shim answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    Status(Box<PodStatus>),
    /// An Event of the pod, to watchers.
    Event(Box<PodEvent>),
    Stopped,
    ContainerPid(u32),
    Error {
        code: ErrorCode,
        message: String,
    },
}

/// Events a shim keeps for a watcher that asks for a replay.
pub const MAX_BACKLOG: usize = 32;

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorCode {
    /// The frame did not decode as a request.
    BadRequest,
    /// No container of that name in the pod.
    NoSuchContainer,
    /// The container is not running.
    NotRunning,
}

#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    #[error("socket(AF_UNIX, SOCK_SEQPACKET): {0}")]
    Socket(rustix::io::Errno),
    #[error("connect {path}: {errno}")]
    Connect {
        path: std::path::PathBuf,
        errno: rustix::io::Errno,
    },
    #[error("{0}")]
    Frame(#[from] FrameError),
    #[error("the shim closed the connection")]
    Closed,
}

/// A connection to a pod's shim.
pub struct Client {
    fd: OwnedFd,
}

impl std::os::fd::AsFd for Client {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Client {
    pub fn connect(socket: &Path) -> Result<Client, ProtoError> {
        let fd = rustix::net::socket_with(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .map_err(ProtoError::Socket)?;
        let connect = |errno| ProtoError::Connect {
            path: socket.to_path_buf(),
            errno,
        };
        let addr = SocketAddrUnix::new(socket).map_err(connect)?;
        rustix::net::connect(&fd, &addr).map_err(connect)?;
        Ok(Client { fd })
    }

    pub fn send(&self, request: &Request) -> Result<(), ProtoError> {
        Ok(config::send(&self.fd, request)?)
    }

    /// The next response; `Closed` at end of stream.
    pub fn recv(&self) -> Result<Response, ProtoError> {
        config::recv(&self.fd)?.ok_or(ProtoError::Closed)
    }

    /// One request, one response.
    pub fn call(&self, request: &Request) -> Result<Response, ProtoError> {
        self.send(request)?;
        self.recv()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::config::{decode_frame, encode_frame};

    #[test]
    fn requests_and_responses_round_trip_as_frames() {
        let requests = [
            Request::Status,
            Request::Watch { replay: true },
            Request::Stop {
                grace_seconds: Some(3),
            },
            Request::ContainerPid {
                container: "web".into(),
            },
        ];
        for r in requests {
            let frame = encode_frame(&r).unwrap();
            assert_eq!(frame[..4], ((frame.len() - 4) as u32).to_le_bytes());
            assert_eq!(decode_frame::<Request>(&frame).unwrap(), r);
        }
        let err = Response::Error {
            code: ErrorCode::NoSuchContainer,
            message: "no container x".into(),
        };
        assert_eq!(
            decode_frame::<Response>(&encode_frame(&err).unwrap()).unwrap(),
            err
        );
    }

    #[test]
    fn bad_frames_are_typed_errors() {
        let frame = encode_frame(&Request::Watch { replay: false }).unwrap();
        assert!(matches!(
            decode_frame::<Request>(&frame[..frame.len() - 1]),
            Err(FrameError::Truncated(_))
        ));
        assert!(matches!(
            decode_frame::<Request>(&[1, 0]),
            Err(FrameError::Truncated(2))
        ));
        assert!(matches!(
            decode_frame::<Request>(&[1, 0, 0, 0, 99]),
            Err(FrameError::Decode(_))
        ));
        let big = vec![0u8; MAX_FRAME + 1];
        assert!(matches!(
            decode_frame::<Request>(&big),
            Err(FrameError::TooLarge(_))
        ));
        let huge = Request::ContainerPid {
            container: "x".repeat(MAX_FRAME),
        };
        assert!(matches!(encode_frame(&huge), Err(FrameError::TooLarge(_))));
    }
}
