//! Image pulls for the shim's poll loop. The shim never touches the network itself: a
//! pull is `pealet image pull` as a child, moved into the host's network namespace
//! (the shim sits in its pod's), with the pod's registry settings. Its stderr is kept
//! (the last [`MAX_TAIL`] bytes) for the failure message; its stdout carries progress
//! lines (`--progress-lines`: `progress DONE TOTAL`, about one a second), parsed as they
//! come with a bounded line buffer and handed to the lifecycle, which decides what the
//! status shows. Its pidfd is polled; the executor reaps it with every other child.
//! Several pods pulling one image cause one download: the store's per-image lock makes
//! the later pulls wait and reuse it.

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

/// The longest progress line kept; a longer one is not ours and is skipped.
const MAX_LINE: usize = 64;

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
    out: Option<OwnedFd>,
    lines: Lines,
    /// The newest progress not yet handed to the lifecycle.
    progress: Option<(u64, u64)>,
    status: Option<WaitStatus>,
}

impl Pull {
    fn spawn(
        id: ContainerId,
        reference: &str,
        root: &std::path::Path,
        s: &PullSettings,
    ) -> Result<Pull, String> {
        let pipe = || -> Result<(OwnedFd, OwnedFd), String> {
            let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
                .map_err(|e| format!("pipe: {e}"))?;
            let _ = rustix::fs::fcntl_setfl(&read, rustix::fs::OFlags::NONBLOCK);
            Ok((read, write))
        };
        let (read, write) = pipe()?;
        let (out_read, out_write) = pipe()?;
        let mut cmd = Command::new("/proc/self/exe");
        cmd.arg("--root")
            .arg(root)
            .args(["image", "pull", "--progress-lines", reference]);
        if let Some(ns) = &s.netns {
            cmd.arg("--netns").arg(ns);
        }
        cmd.args(s.registries.args());
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(out_write))
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
            out: Some(out_read),
            lines: Lines::default(),
            progress: None,
            status: None,
        })
    }

    pub(super) fn fds(&self) -> Vec<BorrowedFd<'_>> {
        let mut v = vec![self.pidfd.as_fd()];
        v.extend(self.err.as_ref().map(|fd| fd.as_fd()));
        v.extend(self.out.as_ref().map(|fd| fd.as_fd()));
        v
    }

    /// The child this pull waits for, until it is reaped.
    pub(super) fn child(&self) -> Option<Pid> {
        self.status.is_none().then_some(self.pid)
    }

    pub(super) fn exited(&mut self, status: WaitStatus) {
        self.status = Some(status);
    }

    /// Reads what stderr and stdout hold now: the end of the one, the progress of
    /// the other.
    pub(super) fn read(&mut self) {
        let tail = &mut self.tail;
        drain(&mut self.err, |bytes| {
            tail.extend_from_slice(bytes);
            let excess = tail.len().saturating_sub(MAX_TAIL);
            tail.drain(..excess);
        });
        let (lines, progress) = (&mut self.lines, &mut self.progress);
        drain(&mut self.out, |bytes| {
            lines.feed(bytes, |line| {
                if let Some(p) = parse_progress(line) {
                    *progress = Some(p);
                }
            })
        });
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

/// Reads all `fd` holds now into `sink`; closes it at its end.
fn drain(fd: &mut Option<OwnedFd>, mut sink: impl FnMut(&[u8])) {
    let Some(f) = fd else { return };
    let mut buf = [0u8; 4096];
    loop {
        match rustix::io::read(&*f, &mut buf) {
            Ok(0) => {
                *fd = None;
                return;
            }
            Ok(n) => sink(&buf[..n]),
            Err(Errno::INTR) => {}
            Err(_) => return,
        }
    }
}

/// Splits a byte stream into lines of at most [`MAX_LINE`] bytes; longer ones are
/// dropped whole.
#[derive(Default)]
struct Lines {
    buf: Vec<u8>,
    /// Inside a line that grew too long: skip to its end.
    skipping: bool,
}

impl Lines {
    fn feed(&mut self, bytes: &[u8], mut line: impl FnMut(&[u8])) {
        for &b in bytes {
            if b == b'\n' {
                if !self.skipping {
                    line(&self.buf);
                }
                self.buf.clear();
                self.skipping = false;
            } else if self.buf.len() < MAX_LINE {
                self.buf.push(b);
            } else {
                self.buf.clear();
                self.skipping = true;
            }
        }
    }
}

/// `(done, total)` of the `progress DONE TOTAL` lines `pealet image pull
/// --progress-lines` writes; `None` for any other line.
fn parse_progress(line: &[u8]) -> Option<(u64, u64)> {
    let line = std::str::from_utf8(line).ok()?;
    let mut words = line.split(' ');
    if words.next()? != "progress" {
        return None;
    }
    let done = words.next()?.parse().ok()?;
    let total = words.next()?.parse().ok()?;
    words.next().is_none().then_some((done, total))
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
            if let Some((done, total)) = p.progress.take() {
                let id = p.id;
                self.events
                    .push_back(Event::ImagePullProgress { id, done, total });
            }
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
                    let size = image_size(self.starter.root, &p.reference);
                    self.events.push_back(Event::ImagePulled { id: p.id, size });
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

/// The size in the store of the image `reference` (for the `Pulled` Event).
fn image_size(root: &std::path::Path, reference: &str) -> Option<u64> {
    let wanted = crate::images::reference::Reference::parse(reference).ok()?;
    let wanted = wanted.to_string();
    let list = Store::open(root).ok()?.list().ok()?;
    list.iter()
        .find(|r| r.reference == wanted)
        .map(|r| r.size())
}

#[cfg(test)]
mod tests {
    use super::{Lines, failure_message, parse_progress};

    #[test]
    fn progress_lines_are_parsed_in_pieces_and_anything_else_skipped() {
        let mut lines = Lines::default();
        let mut got = Vec::new();
        let long = format!("progress {} 1\n", "9".repeat(100));
        let chunks: [&[u8]; 6] = [
            b"progress 10 ",
            b"200\nprogress 2",
            b"0 200\npulled reg/app:1 (1 of 1 layers)\n",
            long.as_bytes(),
            b"progress -1 2\nprogress 1 2 3\nprogress 99999999999999999999 1\n\xff\n",
            b"progress 200 200\nprogress 5",
        ];
        for c in chunks {
            lines.feed(c, |l| got.extend(parse_progress(l)));
        }
        assert_eq!(got, [(10, 200), (20, 200), (200, 200)]);
        // The unfinished line is kept, bounded.
        assert_eq!(lines.buf, b"progress 5");
    }

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
