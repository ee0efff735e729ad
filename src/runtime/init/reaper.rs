//! The pod's shared PID namespace (shareProcessNamespace): [`start`] creates it with
//! `pealet reap` as its PID 1, and [`main`] is that PID 1.
//!
//! Its only work is reaping: a process whose parent exits is reparented to PID 1 of its
//! namespace, and someone has to collect its exit status or it stays a zombie. It is a
//! fresh exec of pealet (not a fork of the shim, whose dirty pages it would otherwise
//! keep copies of as the shim writes them), it allocates nothing in its loop, and it
//! sleeps in `poll` on a signalfd for SIGCHLD.
//!
//! Lifetime: it dies with the shim (parent-death signal) or when the shim kills it at
//! teardown, after the containers; the kernel then kills whatever is left in the
//! namespace. As PID 1 it gets no signal from inside the pod that it has no handler for,
//! so a container cannot kill it.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};

use rustix::event::{PollFd, PollFlags};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::process::{PidfdFlags, Signal, WaitIdOptions, WaitOptions};
use rustix::thread::{LinkNameSpaceType, UnshareFlags};

use crate::runtime::config::{Join, Namespace};
use crate::sys;

/// The hidden command that runs [`main`].
pub const COMMAND: &str = "reap";

/// A running shared PID namespace, held by its PID 1.
#[derive(Debug)]
pub struct PidNamespace {
    /// PID 1 of the namespace, as the caller's namespace numbers it.
    pub pid: u32,
    pidfd: OwnedFd,
}

#[derive(Debug, thiserror::Error)]
pub enum ReaperError {
    #[error("open /proc/self/ns/pid: {0}")]
    OwnNamespace(Errno),
    #[error("unshare(CLONE_NEWPID): {0}")]
    Unshare(Errno),
    #[error("spawn pealet {COMMAND}: {0}")]
    Spawn(std::io::Error),
    #[error("pidfd_open of pealet {COMMAND}: {0}")]
    Pidfd(Errno),
    #[error("setns back to the caller's PID namespace: {0}")]
    Restore(Errno),
}

/// Create a PID namespace whose PID 1 is `pealet reap`. Call it from a single-threaded
/// process (`unshare` and `setns` are per thread): the caller's own PID stays the same;
/// only for the one child spawned here is the new namespace used, then the caller's
/// children go back to the caller's namespace.
pub fn start() -> Result<PidNamespace, ReaperError> {
    let own = rustix::fs::open(
        "/proc/self/ns/pid",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(ReaperError::OwnNamespace)?;
    sys::unshare(UnshareFlags::NEWPID).map_err(ReaperError::Unshare)?;
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg0("pealet")
        .arg(COMMAND)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .current_dir("/");
    let spawned = cmd.spawn();
    // Always go back, even when the spawn failed: every later child of the caller
    // (containers' `pealet init`, probes) must start in the caller's namespace.
    let restored =
        rustix::thread::move_into_link_name_space(own.as_fd(), Some(LinkNameSpaceType::ProcessID));
    let child = spawned.map_err(ReaperError::Spawn)?;
    restored.map_err(ReaperError::Restore)?;
    let pid = rustix::process::Pid::from_child(&child);
    let pidfd =
        rustix::process::pidfd_open(pid, PidfdFlags::empty()).map_err(ReaperError::Pidfd)?;
    // Dropping the Child neither waits nor kills: [`PidNamespace::stop`] does both.
    Ok(PidNamespace {
        pid: child.id(),
        pidfd,
    })
}

impl PidNamespace {
    /// Its PID 1, whose exit (reaped by the caller) ends the namespace.
    pub fn process(&self) -> rustix::process::Pid {
        rustix::process::Pid::from_raw(self.pid as i32).expect("a child's pid is positive")
    }

    /// Whether PID 1 is on its way out: killed, it first waits until every other process
    /// of the namespace has been reaped (by their parents: the shim, for containers),
    /// and no process can join the namespace meanwhile (a fork into it fails, ENOMEM).
    /// From the `flags` of /proc/PID/stat (`PF_EXITING`), or its zombie state.
    pub fn exiting(&self) -> bool {
        const PF_EXITING: u64 = 0x4;
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)) else {
            return false;
        };
        // "pid (comm) state ppid pgrp session tty_nr tpgid flags ...".
        let mut fields = stat
            .rsplit_once(')')
            .map_or("", |(_, r)| r)
            .split_whitespace();
        let state = fields.next();
        let flags: u64 = fields.nth(5).and_then(|f| f.parse().ok()).unwrap_or(0);
        state == Some("Z") || flags & PF_EXITING != 0
    }

    /// Readable once PID 1 has exited.
    pub fn pidfd(&self) -> BorrowedFd<'_> {
        self.pidfd.as_fd()
    }

    /// How a container joins the namespace.
    pub fn join(&self) -> Join {
        Join {
            kind: Namespace::Pid,
            path: format!("/proc/{}/ns/pid", self.pid),
        }
    }

    /// Kill PID 1, and with it everything still in the namespace, and reap it.
    /// A caller that reaps every child (the shim) may have collected it already.
    pub fn stop(self) {
        let _ = rustix::process::pidfd_send_signal(&self.pidfd, Signal::KILL);
        let _ = rustix::process::waitid(
            rustix::process::WaitId::PidFd(self.pidfd.as_fd()),
            WaitIdOptions::EXITED,
        );
    }
}

/// `pealet reap`: PID 1 of a pod's shared PID namespace. Returns only on a failure of
/// its set-up.
pub fn main() -> u8 {
    // Without its shim nobody would ever stop it: go when the shim goes.
    if let Err(errno) = rustix::process::set_parent_process_death_signal(Some(Signal::KILL)) {
        eprintln!("pealet {COMMAND}: prctl(PR_SET_PDEATHSIG): {errno}");
        return 1;
    }
    // SIGCHLD blocked and read from a signalfd: no handler, no lost wake-up between a
    // reaping pass and the sleep (a pending SIGCHLD keeps the fd readable).
    let signals = match sys::signal_fd(&[libc::SIGCHLD]) {
        Ok(fd) => fd,
        Err(errno) => {
            eprintln!("pealet {COMMAND}: signalfd(SIGCHLD): {errno}");
            return 1;
        }
    };
    let mut record = [0u8; sys::SIGINFO_SIZE];
    loop {
        reap_all();
        let mut fds = [PollFd::new(&signals, PollFlags::IN)];
        let _ = rustix::event::poll(&mut fds, None);
        // Drain every queued record; SIGCHLD coalesces, so one pass reaps them all.
        while rustix::io::read(&signals, &mut record).is_ok_and(|n| n > 0) {}
    }
}

/// Collect every child that has exited, without blocking.
fn reap_all() {
    loop {
        match rustix::process::wait(WaitOptions::NOHANG) {
            Ok(Some(_)) | Err(Errno::INTR) => continue,
            // No child has exited (Ok(None)), or there is no child at all (ECHILD).
            Ok(None) | Err(_) => return,
        }
    }
}
