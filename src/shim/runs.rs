//! Probe and hook runs in progress for the shim's poll loop: tcpSocket, httpGet and sleep
//! as [`ProbeRun`]s (the shim is inside the pod's network namespace), exec as a
//! `pealet enter` child with its output on a pipe (bounded), a pidfd and a deadline
//! after which it is killed. Each run ends once, as a [`ProbeOutcome`].
//!
//! Not here: when to run what (the lifecycle's), or reaping (the executor reaps every
//! child and hands an exec run its status through [`Run::exited`]).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rustix::event::PollFlags;
use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags, Signal};

use crate::lifecycle::{ContainerId, Event, Hook, ProbeKind};
use crate::runtime::probe::{
    ExecResult, Interest, MAX_EXEC_OUTPUT, ProbeOutcome, ProbeRun, exec_outcome,
};

/// What a run was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum What {
    Probe(ProbeKind),
    Hook(Hook),
}

/// One probe or hook in progress for container `id`.
pub(super) struct Run {
    pub(super) id: ContainerId,
    pub(super) what: What,
    work: Work,
    /// Its fd was ready in the last poll: advance it.
    pub(super) poked: bool,
    /// Its container exited: the result is dropped.
    pub(super) cancelled: bool,
    pub(super) done: bool,
}

enum Work {
    Net(ProbeRun),
    Exec(ExecRun),
}

/// A `pealet enter` running a command in the container.
struct ExecRun {
    argv: Vec<String>,
    pid: Pid,
    pidfd: OwnedFd,
    out: Option<OwnedFd>,
    output: Vec<u8>,
    deadline: u64,
    status: Option<ExecResult>,
}

/// A running container a process is started in: its PID 1, the `cgroup.procs` files
/// of its cgroup, and its seccomp filter's file.
#[derive(Clone, Copy)]
pub(super) struct Target<'a> {
    pub pid: u32,
    pub procs: &'a [PathBuf],
    pub seccomp: Option<&'a Path>,
}

impl Run {
    pub(super) fn net(id: ContainerId, what: What, run: ProbeRun) -> Run {
        Run::new(id, what, Work::Net(run))
    }

    /// Start `argv` in the container `target`; killed at `now_ms + timeout_ms`.
    pub(super) fn exec(
        id: ContainerId,
        what: What,
        argv: Vec<String>,
        target: &Target<'_>,
        now_ms: u64,
        timeout_ms: u64,
    ) -> Result<Run, String> {
        let Target {
            pid,
            procs,
            seccomp,
        } = *target;
        let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| format!("pipe: {e}"))?;
        let _ = rustix::fs::fcntl_setfl(&read, rustix::fs::OFlags::NONBLOCK);
        let mut cmd = Command::new("/proc/self/exe");
        cmd.args(["enter", "--pid", &pid.to_string()]);
        for f in procs {
            cmd.arg("--cgroup-procs").arg(f);
        }
        if let Some(file) = seccomp {
            cmd.arg("--seccomp").arg(file);
        }
        cmd.arg("--").args(&argv);
        let err = write.try_clone().map_err(|e| format!("dup: {e}"))?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(write))
            .stderr(Stdio::from(err));
        let child = cmd
            .spawn()
            .map_err(|e| format!("start pealet enter: {e}"))?;
        // The pipe's write ends went to the child with `cmd`; dropping it closes ours.
        drop(cmd);
        let pid = Pid::from_child(&child);
        // Dropping the Child neither waits nor kills: the executor reaps it.
        drop(child);
        let pidfd = rustix::process::pidfd_open(pid, PidfdFlags::empty())
            .map_err(|e| format!("pidfd_open: {e}"))?;
        let exec = ExecRun {
            argv,
            pid,
            pidfd,
            out: Some(read),
            output: Vec::new(),
            deadline: now_ms.saturating_add(timeout_ms),
            status: None,
        };
        Ok(Run::new(id, what, Work::Exec(exec)))
    }

    fn new(id: ContainerId, what: What, work: Work) -> Run {
        Run {
            id,
            what,
            work,
            poked: true,
            cancelled: false,
            done: false,
        }
    }

    /// The fds to poll and what for.
    pub(super) fn fds(&self) -> Vec<(BorrowedFd<'_>, PollFlags)> {
        match &self.work {
            Work::Net(run) => run
                .fd()
                .map(|fd| {
                    let flags = match run.interest() {
                        Interest::Readable => PollFlags::IN,
                        Interest::Writable => PollFlags::OUT,
                    };
                    vec![(fd, flags)]
                })
                .unwrap_or_default(),
            Work::Exec(e) => {
                let mut v = vec![(e.pidfd.as_fd(), PollFlags::IN)];
                if let Some(out) = &e.out {
                    v.push((out.as_fd(), PollFlags::IN));
                }
                v
            }
        }
    }

    pub(super) fn deadline(&self) -> u64 {
        match &self.work {
            Work::Net(run) => run.deadline(),
            Work::Exec(e) => e.deadline,
        }
    }

    /// The exec child this run waits for, if any.
    pub(super) fn child(&self) -> Option<Pid> {
        match &self.work {
            Work::Exec(e) if e.status.is_none() => Some(e.pid),
            Work::Exec(_) | Work::Net(_) => None,
        }
    }

    /// How a finished exec run ended, with its output (bounded).
    pub(super) fn exec_result(&self) -> Option<(ExecResult, &[u8])> {
        match &self.work {
            Work::Exec(e) => Some((e.status.unwrap_or(ExecResult::TimedOut), &e.output)),
            Work::Net(_) => None,
        }
    }

    /// The executor reaped this run's exec child.
    pub(super) fn exited(&mut self, status: rustix::process::WaitStatus) {
        if let Work::Exec(e) = &mut self.work {
            e.status = Some(match (status.exit_status(), status.terminating_signal()) {
                (Some(code), _) => ExecResult::Exited(code),
                (None, Some(sig)) => ExecResult::Signaled(sig),
                (None, None) => ExecResult::Exited(255),
            });
            self.poked = true;
        }
    }

    /// Progress without blocking; the outcome once, when the run ends.
    pub(super) fn advance(&mut self, now_ms: u64) -> Option<ProbeOutcome> {
        self.poked = false;
        let outcome = match &mut self.work {
            Work::Net(run) => run.advance(now_ms),
            Work::Exec(e) => e.advance(now_ms),
        };
        if outcome.is_some() {
            self.done = true;
        }
        outcome
    }

    /// Stop the run (its container is gone, or the pod ends): the result is dropped.
    pub(super) fn cancel(&mut self) {
        if let Work::Exec(e) = &mut self.work {
            if e.status.is_none() {
                e.kill();
            }
        }
        self.cancelled = true;
    }

    /// The lifecycle event for `outcome`.
    pub(super) fn event(&self, outcome: ProbeOutcome) -> Event {
        Run::event_for(self.id, self.what, outcome)
    }

    /// The lifecycle event for `outcome` of a run of `what` for container `id`.
    pub(super) fn event_for(id: ContainerId, what: What, outcome: ProbeOutcome) -> Event {
        match what {
            What::Probe(kind) => Event::ProbeDone {
                id,
                kind,
                success: outcome.success,
                message: outcome.message,
            },
            What::Hook(hook) => Event::HookDone {
                id,
                hook,
                success: outcome.success,
                message: outcome.message,
            },
        }
    }
}

impl ExecRun {
    fn advance(&mut self, now_ms: u64) -> Option<ProbeOutcome> {
        self.read_output();
        let result = match self.status {
            Some(result) => result,
            None if now_ms < self.deadline => return None,
            None => {
                self.kill();
                ExecResult::TimedOut
            }
        };
        let argv: Vec<&str> = self.argv.iter().map(String::as_str).collect();
        Some(exec_outcome(&argv, result, &self.output))
    }

    /// Read what the pipe holds now, keeping the first [`MAX_EXEC_OUTPUT`] bytes.
    fn read_output(&mut self) {
        let Some(fd) = &self.out else { return };
        let mut buf = [0u8; 4096];
        loop {
            match rustix::io::read(fd, &mut buf) {
                Ok(0) => {
                    self.out = None;
                    return;
                }
                Ok(n) => {
                    let room = MAX_EXEC_OUTPUT.saturating_sub(self.output.len());
                    self.output.extend_from_slice(&buf[..n.min(room)]);
                }
                Err(Errno::INTR) => {}
                Err(_) => return,
            }
        }
    }

    /// SIGKILL to the command (the child of `pealet enter`) and to `pealet enter`; the
    /// executor reaps the latter when it exits.
    fn kill(&mut self) {
        let raw = self.pid.as_raw_nonzero().get();
        let children = std::fs::read_to_string(format!("/proc/{raw}/task/{raw}/children"));
        for child in children.unwrap_or_default().split_whitespace() {
            let pid = child.parse::<i32>().ok().and_then(Pid::from_raw);
            if let Some(pid) = pid {
                let _ = rustix::process::kill_process(pid, Signal::KILL);
            }
        }
        let _ = rustix::process::kill_process(self.pid, Signal::KILL);
        self.out = None;
    }
}
