//! The agent's watch connection to one shim: the shim pushes the pod's status at every
//! change and the lifecycle's Events as they happen (`shim::proto`, typed frames of at
//! most `MAX_FRAME` bytes); the agent's poll loop reads them when the socket is readable,
//! without ever blocking. A connection that closes says the shim has exited.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use rustix::io::Errno;
use rustix::net::RecvFlags;

use crate::runtime::config::{self, MAX_FRAME};
use crate::shim::proto::{Client, ProtoError, Request, Response};
use crate::spec::bounded::Name;
use crate::spec::{self, PodStatus};

/// Frames read per readiness, so that one busy shim cannot hold the loop.
const MAX_READ: usize = 64;

/// What a shim pushed.
#[derive(Debug)]
pub enum Pushed {
    Status(Box<PodStatus>),
    Event(Box<PushedEvent>),
    /// The connection closed: the shim has exited (or is exiting).
    Closed,
}

/// An Event a shim pushed.
#[derive(Debug)]
pub struct PushedEvent(pub crate::lifecycle::PodEvent);

impl PushedEvent {
    /// The Event of pod `pod` as the upstream sees it.
    pub fn upstream(&self, pod: &str) -> spec::Event {
        let e = &self.0;
        spec::Event {
            kind: e.kind,
            reason: e.reason.as_str().try_into().unwrap_or_default(),
            pod: Name::try_from(pod).ok(),
            container: e.container.clone(),
            message: e.message.clone(),
            time: e.time,
            count: 1,
        }
    }
}

pub struct ShimWatch {
    client: Client,
}

impl AsFd for ShimWatch {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.client.as_fd()
    }
}

impl ShimWatch {
    /// Watches the shim listening on `socket` (an adopted pod): its current status
    /// first, then the changes; no replay of earlier Events (they were published by
    /// whoever watched it then).
    pub fn adopt(socket: &Path) -> Result<ShimWatch, ProtoError> {
        let client = Client::connect(socket)?;
        client.send(&Request::Watch { replay: false })?;
        Ok(ShimWatch { client })
    }

    /// A connection that has already asked to watch (the start job's).
    pub fn new(client: Client) -> ShimWatch {
        ShimWatch { client }
    }

    /// What the shim pushed since the last read, without blocking.
    pub fn read(&self) -> Vec<Pushed> {
        let mut out = Vec::new();
        while out.len() < MAX_READ {
            match self.next() {
                Ok(Some(p)) => {
                    let closed = matches!(p, Pushed::Closed);
                    out.push(p);
                    if closed {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    log::warn!("watch of a shim: {e}");
                }
            }
        }
        out
    }

    /// The next frame, `None` when none waits. A frame is sized first (peeked), so that
    /// no buffer of the largest frame is kept for the few hundred bytes of a status.
    fn next(&self) -> Result<Option<Pushed>, config::FrameError> {
        let peek = RecvFlags::PEEK | RecvFlags::TRUNC | RecvFlags::DONTWAIT;
        let len = match rustix::net::recv(&self.client, &mut [0u8; 0][..], peek) {
            Ok((_, 0)) => return Ok(Some(Pushed::Closed)),
            Ok((_, n)) => n,
            Err(Errno::AGAIN | Errno::INTR) => return Ok(None),
            Err(_) => return Ok(Some(Pushed::Closed)),
        };
        let mut buf = vec![0u8; len.min(MAX_FRAME + 1)];
        let n = match rustix::net::recv(&self.client, &mut buf[..], RecvFlags::DONTWAIT) {
            Ok((n, _)) => n,
            Err(Errno::AGAIN | Errno::INTR) => return Ok(None),
            Err(_) => return Ok(Some(Pushed::Closed)),
        };
        Ok(match config::decode_frame::<Response>(&buf[..n])? {
            Response::Status(st) => Some(Pushed::Status(st)),
            Response::Event(e) => Some(Pushed::Event(Box::new(PushedEvent(*e)))),
            // Not asked for on a watch connection.
            Response::Stopped | Response::ContainerPid(_) | Response::Error { .. } => None,
        })
    }
}
