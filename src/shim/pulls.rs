//! Image pulls for the shim's poll loop. The shim never touches the network itself: a
//! pull is `pealet image pull` as a child, moved into the host's network namespace
//! (the shim sits in its pod's), with the pod's registry settings. Its stderr is kept
//! (the last [`MAX_TAIL`] bytes) for the failure message, its pidfd is polled; the
//! executor reaps it with every other child. Several pods pulling one image cause one
//! download: the store's per-image lock makes the later pulls wait and reuse it.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags, Signal, WaitStatus};

use super::run::Executor;
use crate::images::Store;
use crate::images::registry::RegistryFlags;
use crate::lifecycle::{ContainerId, Event};

/// How much of the end of a pull's stderr is kept.
const MAX_TAIL: usize = 4096;

/// What every pull of this shim shares.
#[derive(Debug, Clone, Default)]
pub struct PullSettings {
    pub registries: RegistryFlags,
    /// The host's network namespace, as a path the child can open.
    pub netns: Option<PathBuf>,
}

/// One `pealet image pull` in progress for container `id`.
pub(super) struct Pull {
    pub(super) id: ContainerId,
    reference: String,
    pid: Pid,
    pidfd: OwnedFd,
    err: Option<OwnedFd>,
    tail: Vec<u8>,
    status: Option<WaitStatus>,
}

impl Pull {
    fn spawn(
        id: ContainerId,
        reference: &str,
        root: &std::path::Path,
        s: &PullSettings,
    ) -> Result<Pull, String> {
        let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| format!("pipe: {e}"))?;
        let _ = rustix::fs::fcntl_setfl(&read, rustix::fs::OFlags::NONBLOCK);
        let mut cmd = Command::new("/proc/self/exe");
        cmd.arg("--root")
            .arg(root)
            .args(["image", "pull", reference]);
        if let Some(ns) = &s.netns {
            cmd.arg("--netns").arg(ns);
        }
        cmd.args(s.registries.args());
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(write));
        let child = cmd
            .spawn()
            .map_err(|e| format!("start pealet image pull: {e}"))?;
        drop(cmd);
        let pid = Pid::from_child(&child);
        // Dropping the Child neither waits nor kills: the executor reaps it.
        drop(child);
        let pidfd = rustix::process::pidfd_open(pid, PidfdFlags::empty())
            .map_err(|e| format!("pidfd_open: {e}"))?;
        Ok(Pull {
            id,
            reference: reference.to_string(),
            pid,
            pidfd,
            err: Some(read),
            tail: Vec::new(),
            status: None,
        })
    }

    pub(super) fn fds(&self) -> Vec<BorrowedFd<'_>> {
        let mut v = vec![self.pidfd.as_fd()];
        v.extend(self.err.as_ref().map(|fd| fd.as_fd()));
        v
    }

    /// The child this pull waits for, until it is reaped.
    pub(super) fn child(&self) -> Option<Pid> {
        self.status.is_none().then_some(self.pid)
    }

    pub(super) fn exited(&mut self, status: WaitStatus) {
        self.status = Some(status);
    }

    /// Reads what stderr holds now, keeping its end.
    pub(super) fn read(&mut self) {
        let Some(fd) = &self.err else { return };
        let mut buf = [0u8; 4096];
        loop {
            match rustix::io::read(fd, &mut buf) {
                Ok(0) => {
                    self.err = None;
                    return;
                }
                Ok(n) => {
                    self.tail.extend_from_slice(&buf[..n]);
                    let excess = self.tail.len().saturating_sub(MAX_TAIL);
                    self.tail.drain(..excess);
                }
                Err(Errno::INTR) => {}
                Err(_) => return,
            }
        }
    }

    /// Reaped and its output read to the end (or the writer gone with it).
    fn finished(&self) -> bool {
        self.status.is_some()
    }

    /// `Ok` for a pull that succeeded, else the error it printed last.
    fn result(&self) -> Result<(), String> {
        let status = self.status.expect("finished");
        if status.exit_status() == Some(0) {
            return Ok(());
        }
        Err(failure_message(&self.tail).unwrap_or_else(|| {
            format!(
                "pull of {:?} ended with {status:?} and no message",
                self.reference
            )
        }))
    }

    pub(super) fn kill(&mut self) {
        if self.status.is_none() {
            let _ = rustix::process::kill_process(self.pid, Signal::KILL);
        }
    }
}

/// The last line a failed `pealet image pull` wrote (its error), without the prefix.
fn failure_message(stderr: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(stderr);
    let line = text.lines().rev().map(str::trim).find(|l| !l.is_empty())?;
    Some(line.strip_prefix("pealet: ").unwrap_or(line).to_string())
}

impl Executor<'_> {
    /// Starts pulling container `id`'s image; a failure to start is a failed pull.
    pub(super) fn pull_image(&mut self, id: ContainerId) {
        let reference = self.container(id).image.to_string();
        if self.pulls.iter().any(|p| p.id == id) {
            return;
        }
        match Pull::spawn(id, &reference, self.starter.root, &self.pull_settings) {
            Ok(p) => {
                let c = &self.container(id).name;
                log::info!("container {c}: pulling {reference}");
                self.pulls.push(p);
            }
            Err(message) => self.pull_failed(id, &reference, message),
        }
    }

    /// Finished pulls become events.
    pub(super) fn advance_pulls(&mut self) {
        let mut done = Vec::new();
        for (i, p) in self.pulls.iter_mut().enumerate() {
            p.read();
            if p.finished() {
                done.push(i);
            }
        }
        for i in done.into_iter().rev() {
            let p = self.pulls.remove(i);
            match p.result() {
                Ok(()) => {
                    let c = &self.container(p.id).name;
                    log::info!("container {c}: pulled {}", p.reference);
                    self.events.push_back(Event::ImagePulled { id: p.id });
                }
                Err(message) => self.pull_failed(p.id, &p.reference, message),
            }
        }
    }

    fn pull_failed(&mut self, id: ContainerId, reference: &str, message: String) {
        let present = Store::open(self.starter.root)
            .and_then(|s| s.resolve(reference))
            .is_ok();
        if present {
            eprintln!(
                "pealet shim: pod {}: {message}; starting container {} with the copy of \
                 {reference} in the local store",
                self.pod.name,
                self.container(id).name
            );
        }
        self.events.push_back(Event::ImagePullFailed {
            id,
            message,
            present,
        });
    }

    /// The pod ends: pulls in progress are killed (and reaped with the rest).
    pub(super) fn cancel_pulls(&mut self) {
        for p in &mut self.pulls {
            p.kill();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::failure_message;

    #[test]
    fn the_message_is_the_last_line_without_the_prefix() {
        let err =
            b"reg/app:1: 1.0 MB of 2.0 MB\npealet: cannot pull reg/app:1: manifest unknown\n\n";
        assert_eq!(
            failure_message(err).as_deref(),
            Some("cannot pull reg/app:1: manifest unknown")
        );
        assert_eq!(failure_message(b"\n \n"), None);
        // The kept tail may start inside a character.
        assert_eq!(
            failure_message(b"\xa9oops").as_deref(),
            Some("\u{fffd}oops")
        );
    }
}
