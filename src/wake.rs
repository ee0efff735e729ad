//! [`Waker`]: an eventfd that other threads (the MQTT thread, the agent's per-pod
//! threads) signal to wake a `poll` loop. Cloning shares the one eventfd; a wake costs
//! one `write`, and any number of wakes before the loop looks fold into one.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use rustix::event::{EventfdFlags, eventfd};

#[derive(Clone, Debug)]
pub struct Waker {
    fd: Arc<OwnedFd>,
}

impl Waker {
    pub fn new() -> std::io::Result<Waker> {
        let fd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        Ok(Waker { fd: Arc::new(fd) })
    }

    /// Makes the fd readable until [`Waker::drain`]. Never blocks (the counter would
    /// have to reach 2^64 - 1 first).
    pub fn wake(&self) {
        let _ = rustix::io::write(&*self.fd, &1u64.to_ne_bytes());
    }

    /// Clears the readiness; true when a wake had come since the last drain.
    pub fn drain(&self) -> bool {
        let mut buf = [0u8; 8];
        rustix::io::read(&*self.fd, &mut buf).is_ok_and(|n| n == 8)
    }
}

impl AsFd for Waker {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wakes_fold_into_one_and_drain_clears() {
        let w = Waker::new().unwrap();
        assert!(!w.drain());
        let other = w.clone();
        other.wake();
        other.wake();
        let mut fds = [rustix::event::PollFd::new(&w, rustix::event::PollFlags::IN)];
        let n = rustix::event::poll(&mut fds, None).unwrap();
        assert_eq!(n, 1);
        assert!(w.drain());
        assert!(!w.drain());
    }
}
