//! The shim's executor: one thread, one `poll` over the listening socket, a signalfd
//! (SIGTERM, SIGINT), the clients, one pidfd per running container and its stdout and
//! stderr pipes, and the fds of probe and hook runs, with the lifecycle's next deadline
//! as the timeout. What happens becomes a [`lifecycle::Event`]; the
//! [`lifecycle::Action`]s that come back are performed here (`actions.rs`).

use std::collections::VecDeque;
use std::os::fd::OwnedFd;
use std::time::Instant;

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use rustix::process::{Signal, WaitOptions};

use super::build::PodContext;
use super::container::{self, Pipes, Running, Starter};
use super::logs::{ContainerLog, Stream};
use super::proto::Response;
use super::pulls::{Pull, PullSettings};
use super::runs::Run;
use super::state::write_atomic;
use crate::lifecycle::{Action, ContainerId, Event, Lifecycle, Now, PodEvent, Sig};
use crate::runtime::config::{self, Namespace};
use crate::runtime::init::reaper;
use crate::spec::{self, Container, Pod, Time};

/// A connected client; `watch` clients get every status, `stop` ones `Stopped`.
pub(super) struct Client {
    pub(super) fd: OwnedFd,
    pub(super) watch: bool,
    pub(super) stop: bool,
    /// Hung up or failed: removed after the current round of poll results.
    pub(super) gone: bool,
}

/// Per container: the running instance, its pipes and its log.
#[derive(Default)]
pub(super) struct Slot {
    pub(super) running: Option<Running>,
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
    log: Option<ContainerLog>,
}

/// What became ready in one poll.
enum Ready {
    Listener,
    Signal,
    Client(usize),
    Exit,
    Pipe(usize, Stream),
    Run(usize),
    Pull,
    /// The shared PID namespace's reaper exited.
    Reaper,
}

/// Whether the shim has been idle long enough to give memory back
/// (`sys::release_idle_memory`) before its next long sleep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Idle {
    /// Woke since the last release: first a sleep of at most [`IDLE_RELEASE_AFTER`].
    Busy,
    /// That sleep passed with nothing to do: release, then sleep as long as needed.
    Quiet,
}

/// How long the shim is idle before it gives memory back.
const IDLE_RELEASE_AFTER: Timespec = Timespec {
    tv_sec: 1,
    tv_nsec: 0,
};

pub struct Executor<'a> {
    pub pod: &'a Pod,
    pub lifecycle: Lifecycle,
    pub ctx: PodContext<'a>,
    pub starter: Starter<'a>,
    pub listener: OwnedFd,
    pub signals: OwnedFd,
    pub log_cap: u64,
    pub(super) slots: Vec<Slot>,
    pub(super) clients: Vec<Client>,
    pub(super) runs: Vec<Run>,
    pub(super) pulls: Vec<Pull>,
    /// How image pulls are run (registry settings, the host's network).
    pub pull_settings: PullSettings,
    /// The pod's shared PID namespace (shareProcessNamespace), held by its `pealet
    /// reap`; rebuilt when that dies.
    pub pid_ns: Option<reaper::PidNamespace>,
    /// The origin of the lifecycle's monotonic milliseconds.
    clock: Instant,
    pub(super) events: VecDeque<Event>,
    /// The newest Events of the lifecycle, for a watcher that asks for a replay.
    pub(super) backlog: VecDeque<PodEvent>,
    terminated: bool,
    /// Where the shim is on its way to giving memory back when idle.
    idle: Idle,
    /// On-disk emptyDir sizeLimits, measured on the shim's timer.
    size_limits: super::usage::SizeLimits,
}

impl<'a> Executor<'a> {
    pub fn new(
        pod: &'a Pod,
        lifecycle: Lifecycle,
        ctx: PodContext<'a>,
        starter: Starter<'a>,
        listener: OwnedFd,
        signals: OwnedFd,
        log_cap: u64,
    ) -> Executor<'a> {
        let n = pod.spec.all_containers().count();
        let size_limits = super::usage::SizeLimits::new(pod, ctx.dirs);
        Executor {
            pod,
            lifecycle,
            ctx,
            starter,
            listener,
            signals,
            log_cap,
            slots: (0..n).map(|_| Slot::default()).collect(),
            clients: Vec::new(),
            runs: Vec::new(),
            pulls: Vec::new(),
            pull_settings: PullSettings::default(),
            pid_ns: None,
            // The lifecycle was made at monotonic 0 just before.
            clock: Instant::now(),
            events: VecDeque::from([Event::Start]),
            backlog: VecDeque::new(),
            terminated: false,
            idle: Idle::Busy,
            size_limits,
        }
    }

    pub(super) fn container(&self, id: ContainerId) -> &'a Container {
        let pod: &'a Pod = self.pod;
        pod.spec
            .all_containers()
            .nth(id)
            .expect("ids come from the spec")
    }

    /// The real clocks, read here only: monotonic for timers, wall for the status.
    pub(super) fn now(&self) -> Now {
        Now {
            mono_ms: u64::try_from(self.clock.elapsed().as_millis()).unwrap_or(u64::MAX),
            wall: Time::now(),
        }
    }

    /// Run until the pod has terminated and every log pipe is drained.
    pub fn run(&mut self) {
        self.persist();
        loop {
            self.drain_events();
            if self.terminated && self.slots.iter().all(|s| s.running.is_none()) {
                self.drain_pipes();
                return;
            }
            let ready = self.poll();
            for r in ready {
                self.handle(r);
            }
            self.clients.retain(|c| !c.gone);
            self.advance_runs();
            self.advance_pulls();
            let now = self.now().mono_ms;
            if self.lifecycle.next_deadline().is_some_and(|t| t <= now) {
                self.events.push_back(Event::TimerFired);
            }
            if let Some(message) = self.size_limits.check(now) {
                self.events.push_back(Event::Evicted { message });
            }
        }
    }

    fn drain_events(&mut self) {
        while let Some(event) = self.events.pop_front() {
            let mut actions = self.lifecycle.step(event, self.now());
            // Termination messages are read and given to the lifecycle at once: no
            // status (and no `Stopped` answer) shows the exit without its message.
            let reads: Vec<(ContainerId, bool)> = actions
                .iter()
                .filter_map(|a| match a {
                    Action::ReadTerminationMessage {
                        id,
                        fallback_to_logs,
                    } => Some((*id, *fallback_to_logs)),
                    _ => None,
                })
                .collect();
            for (id, fallback_to_logs) in reads {
                if let Some(e) = self.read_termination_message(id, fallback_to_logs) {
                    let more = self.lifecycle.step(e, self.now());
                    let changed = actions.contains(&Action::StatusChanged);
                    // One StatusChanged, the step's own, persists the status with it.
                    actions.extend(
                        more.into_iter()
                            .filter(|a| !(changed && *a == Action::StatusChanged)),
                    );
                }
            }
            // The containers one step starts set themselves up side by side.
            let starts: Vec<ContainerId> = actions
                .iter()
                .filter_map(|a| match a {
                    Action::StartContainer { id } => Some(*id),
                    _ => None,
                })
                .collect();
            self.start(&starts);
            self.tell_events();
            for action in actions {
                self.perform(action);
            }
        }
    }

    fn perform(&mut self, action: Action) {
        match action {
            // Started above, with the other containers of the same step.
            Action::StartContainer { .. } => {}
            Action::PullImage { id } => self.pull_image(id),
            Action::Signal { id, signal } => self.signal(id, signal),
            Action::RunProbe {
                id,
                kind,
                timeout_ms,
            } => self.run_probe(id, kind, timeout_ms),
            Action::RunHook {
                id,
                hook,
                timeout_ms,
            } => self.run_hook(id, hook, timeout_ms),
            // Read with the step that asked for it (`drain_events`).
            Action::ReadTerminationMessage { .. } => {}
            Action::StatusChanged => self.persist(),
            Action::PodTerminated => {
                self.terminated = true;
                for run in &mut self.runs {
                    run.cancel();
                }
                self.cancel_pulls();
                self.reply_stopped();
            }
        }
    }

    fn start(&mut self, ids: &[ContainerId]) {
        if !ids.is_empty() {
            self.settle_pid_namespace();
        }
        let mut starting = Vec::new();
        for &id in ids {
            let container = self.container(id);
            match self.starter.begin(&mut self.ctx, container) {
                Ok(s) => starting.push((id, s)),
                Err(f) => self.start_failed(id, f),
            }
        }
        for (id, s) in starting {
            let digest = s.image_digest;
            match s.finish() {
                Ok((running, Pipes { stdout, stderr })) => {
                    let name = &self.container(id).name;
                    let slot = &mut self.slots[id];
                    match ContainerLog::open(&self.ctx.dirs.logs(name), self.log_cap) {
                        Ok(log) => slot.log = Some(log),
                        Err(e) => log::warn!("container {name}: {e}"),
                    }
                    slot.running = Some(running);
                    slot.stdout = stdout;
                    slot.stderr = stderr;
                    self.events.push_back(Event::ImageResolved { id, digest });
                    self.events.push_back(Event::ContainerStarted { id });
                }
                Err(f) => self.start_failed(id, f),
            }
        }
    }

    fn start_failed(&mut self, id: ContainerId, f: container::StartFailure) {
        // The lifecycle decides whether to pull a missing image.
        if f.image_missing {
            let message = f.message;
            self.events.push_back(Event::ImageMissing { id, message });
            return;
        }
        self.events.push_back(Event::ContainerStartFailed {
            id,
            reason: f.reason,
            message: f.message,
        });
    }

    fn signal(&mut self, id: ContainerId, signal: Sig) {
        let Some(running) = &self.slots[id].running else {
            return;
        };
        let sig = match signal {
            Sig::Term => Signal::TERM,
            Sig::Kill => Signal::KILL,
        };
        if let Some(pid) = rustix::process::Pid::from_raw(running.pid as i32) {
            let _ = rustix::process::kill_process(pid, sig);
        }
        if signal == Sig::Kill {
            let _ = self.starter.cgroups.kill_all(&running.cgroup);
        }
    }

    /// Write the status file and send the status to every watcher.
    fn persist(&mut self) {
        let status = self.lifecycle.status();
        if let Err(e) = write_atomic(&self.ctx.dirs.status(), &spec::encode(&status)) {
            log::error!("{e}");
        }
        let response = Response::Status(Box::new(status));
        for c in self.clients.iter_mut().filter(|c| c.watch && !c.gone) {
            c.gone = config::send(&c.fd, &response).is_err();
        }
    }

    fn reply_stopped(&mut self) {
        for c in self.clients.iter().filter(|c| c.stop) {
            let _ = config::send(&c.fd, &Response::Stopped);
        }
    }

    fn poll(&mut self) -> Vec<Ready> {
        let mut sources = vec![Ready::Listener, Ready::Signal];
        let mut pollfds = vec![
            PollFd::new(&self.listener, PollFlags::IN),
            PollFd::new(&self.signals, PollFlags::IN),
        ];
        for (i, c) in self.clients.iter().enumerate() {
            sources.push(Ready::Client(i));
            pollfds.push(PollFd::new(&c.fd, PollFlags::IN));
        }
        for (i, slot) in self.slots.iter().enumerate() {
            if let Some(r) = &slot.running {
                sources.push(Ready::Exit);
                pollfds.push(PollFd::new(&r.pidfd, PollFlags::IN));
            }
            for (pipe, stream) in [
                (&slot.stdout, Stream::Stdout),
                (&slot.stderr, Stream::Stderr),
            ] {
                if let Some(fd) = pipe {
                    sources.push(Ready::Pipe(i, stream));
                    pollfds.push(PollFd::new(fd, PollFlags::IN));
                }
            }
        }
        for (i, run) in self.runs.iter().enumerate() {
            for (fd, flags) in run.fds() {
                sources.push(Ready::Run(i));
                pollfds.push(PollFd::from_borrowed_fd(fd, flags));
            }
        }
        for pull in &self.pulls {
            for fd in pull.fds() {
                sources.push(Ready::Pull);
                pollfds.push(PollFd::from_borrowed_fd(fd, PollFlags::IN));
            }
        }
        if let Some(ns) = &self.pid_ns {
            sources.push(Ready::Reaper);
            pollfds.push(PollFd::from_borrowed_fd(ns.pidfd(), PollFlags::IN));
        }
        let now = self.now().mono_ms;
        let next = self.runs.iter().map(Run::deadline);
        let next = next.chain(self.size_limits.next_check());
        let timeout = next.chain(self.lifecycle.next_deadline()).min().map(|at| {
            let ms = at.saturating_sub(now).saturating_add(1);
            Timespec {
                tv_sec: i64::try_from(ms / 1000).unwrap_or(i64::MAX),
                tv_nsec: i64::try_from(ms % 1000 * 1_000_000).unwrap_or(0),
            }
        });
        // Before a sleep of a second or more, give back the pages the work since the
        // last wake touched: an idle shim keeps only what its next wake-up needs. Only
        // once the shim has been idle for a second, so that a pod start or a burst of
        // requests never waits for it, and right before the sleep, so that no code runs
        // between the release and the sleep.
        let long = timeout.as_ref().is_none_or(|t| t.tv_sec >= 1);
        let (timeout, capped) = match self.idle {
            Idle::Busy if long => (Some(IDLE_RELEASE_AFTER), true),
            Idle::Quiet if long => {
                crate::sys::release_idle_memory();
                (timeout, false)
            }
            Idle::Busy | Idle::Quiet => (timeout, false),
        };
        match rustix::event::poll(&mut pollfds, timeout.as_ref()) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => log::error!("poll: {e}"),
        }
        let ready: Vec<bool> = pollfds.iter().map(|p| !p.revents().is_empty()).collect();
        self.idle = if capped && !ready.contains(&true) {
            Idle::Quiet
        } else {
            Idle::Busy
        };
        sources
            .into_iter()
            .zip(ready)
            .filter(|(_, r)| *r)
            .map(|(s, _)| s)
            .collect()
    }

    fn handle(&mut self, ready: Ready) {
        match ready {
            Ready::Listener => self.accept(),
            Ready::Signal => self.on_signal(),
            Ready::Client(i) => self.on_client(i),
            Ready::Exit => self.reap(),
            Ready::Pipe(i, stream) => self.read_pipe(i, stream),
            // Its output is read and its end noticed in `advance_pulls`.
            Ready::Pull => self.reap(),
            Ready::Reaper => self.reap(),
            Ready::Run(i) => {
                // An exec run's pidfd: reap it with the rest.
                if self.runs[i].child().is_some() {
                    self.reap();
                }
                self.runs[i].poked = true;
            }
        }
    }

    /// Reap every child that exited: containers become events, strays are collected.
    pub(super) fn reap(&mut self) {
        while let Ok(Some((pid, status))) = rustix::process::wait(WaitOptions::NOHANG) {
            if self.pid_ns.as_ref().is_some_and(|ns| ns.process() == pid) {
                self.rebuild_pid_namespace();
                continue;
            }
            if let Some(run) = self.runs.iter_mut().find(|r| r.child() == Some(pid)) {
                run.exited(status);
                continue;
            }
            if let Some(pull) = self.pulls.iter_mut().find(|p| p.child() == Some(pid)) {
                pull.exited(status);
                continue;
            }
            let slot = self
                .slots
                .iter()
                .position(|s| s.running.as_ref().is_some_and(|r| r.process == pid));
            let Some(i) = slot else { continue };
            let running = self.slots[i].running.take().expect("found above");
            // In a PID namespace that is not the container's own, its other processes
            // outlive its main one: end them with it, as its own namespace would.
            if self.ctx.joins.iter().any(|j| j.kind == Namespace::Pid) {
                let _ = self.starter.cgroups.kill_all(&running.cgroup);
            }
            let (exit_code, signal) = container::exit_of(status);
            let ooms = self.starter.cgroups.oom_kills(&running.cgroup).unwrap_or(0);
            let oom_killed = ooms > running.oom_kills_before;
            self.drain_slot(i);
            // Results of runs for this instance no longer mean anything.
            for run in self.runs.iter_mut().filter(|r| r.id == i) {
                run.cancel();
            }
            self.events.push_back(Event::ContainerExited {
                id: i,
                exit_code: if oom_killed { 137 } else { exit_code },
                signal,
                oom_killed,
            });
        }
    }

    /// Containers that died with their shared PID namespace are started again before
    /// its `pealet reap` has finished exiting (it waits until the shim has reaped them):
    /// a start into it would fail. Reap until it is gone (and so replaced), at most 2 s.
    fn settle_pid_namespace(&mut self) {
        let deadline = Instant::now() + std::time::Duration::from_secs(2);
        while self
            .pid_ns
            .as_ref()
            .is_some_and(reaper::PidNamespace::exiting)
        {
            if Instant::now() > deadline {
                return;
            }
            self.reap();
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// The pod's `pealet reap` died (killed from the host: nothing in the pod can), and
    /// the kernel killed every process of its PID namespace with it. Start a new
    /// namespace for the containers the lifecycle starts again (their exits arrive as
    /// usual and count as restarts); without one, their starts fail and say why.
    fn rebuild_pid_namespace(&mut self) {
        let pod = &self.pod.name;
        self.pid_ns = match reaper::start() {
            Ok(ns) => {
                log::warn!(
                    "pod {pod}: pealet {} of its shared PID namespace died; started a new one",
                    reaper::COMMAND
                );
                let join = ns.join();
                self.ctx.joins.retain(|j| j.kind != Namespace::Pid);
                self.ctx.joins.push(join);
                Some(ns)
            }
            Err(e) => {
                log::error!("pod {pod}: its shared PID namespace is gone: {e}");
                // Containers then fail to start with the reason (the namespace's path).
                None
            }
        };
    }

    fn read_pipe(&mut self, i: usize, stream: Stream) {
        let slot = &mut self.slots[i];
        let pipe = match stream {
            Stream::Stdout => &mut slot.stdout,
            Stream::Stderr => &mut slot.stderr,
        };
        let Some(fd) = pipe else { return };
        let mut buf = [0u8; 16 * 1024];
        loop {
            match rustix::io::read(&*fd, &mut buf) {
                Ok(0) | Err(Errno::BADF) => {
                    *pipe = None;
                    if let Some(log) = &mut slot.log {
                        let _ = log.close_stream(stream);
                    }
                    return;
                }
                Ok(n) => {
                    if let Some(log) = &mut slot.log {
                        if let Err(e) = log.write(stream, &buf[..n]) {
                            log::warn!("{e}");
                        }
                    }
                }
                Err(Errno::INTR) => {}
                Err(_) => return,
            }
        }
    }

    /// Read what a container left in its pipes (the writers may be gone or not).
    fn drain_slot(&mut self, i: usize) {
        self.read_pipe(i, Stream::Stdout);
        self.read_pipe(i, Stream::Stderr);
    }

    fn drain_pipes(&mut self) {
        for i in 0..self.slots.len() {
            self.drain_slot(i);
        }
    }
}
