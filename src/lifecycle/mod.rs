//! The pod lifecycle as a pure state machine: events in, actions out, the clock passed in.
//!
//! The per-pod shim feeds [`Event`]s to [`Lifecycle::step`] and carries out the
//! [`Action`]s it returns (start a container, signal it, run a probe or a hook, read a
//! termination message, publish the status). Nothing here does I/O or reads a clock:
//! every rule of the kubelet (phases, conditions, restart policy and back-off, init and
//! sidecar ordering, probe thresholds, hooks, graceful termination) is a function of the
//! events and the [`Now`] given with each of them. Pod state changes only in `step`.
//!
//! Where the kubelet leaves a choice open: containers killed for the active deadline report the
//! runtime's reason (`Error`, 137 or 143) and the pod carries `DeadlineExceeded`; a
//! probe result is assumed to belong to the instance it was asked for.

mod backoff;
mod container;
mod events;
mod image;
mod pod;
mod probe;
mod record;
mod status;
mod terminate;
#[cfg(test)]
mod tests;

use crate::spec::{Digest, Pod, PodStatus, SpecHash, Time};

pub use crate::spec::{ProbeKind, Reason};

use container::Ctr;
use pod::Stage;
pub use record::{EventReason, MAX_EVENT_MESSAGE, MAX_RECORDED, PodEvent};
use record::{Out, Recorded};

/// The time of an event: monotonic milliseconds for timers, wall time for the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    pub mono_ms: u64,
    pub wall: Time,
}

/// Index into `init_containers ++ containers`, in spec order.
pub type ContainerId = usize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sig {
    Term,
    Kill,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    PostStart,
    PreStop,
}

/// What the shim tells the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The pod's sandbox is ready: start running it.
    Start,
    ContainerStarted {
        id: ContainerId,
    },
    /// The container could not be created or started. `StartError`, `RunContainerError`
    /// and `ContainerCannotRun` count as a run that failed (restart policy and back-off
    /// apply); any other reason leaves it waiting and retried after the back-off base.
    ContainerStartFailed {
        id: ContainerId,
        reason: Reason,
        message: String,
    },
    ContainerExited {
        id: ContainerId,
        exit_code: i32,
        signal: Option<u8>,
        oom_killed: bool,
    },
    /// A probe finished; a probe past its timeout is a failure.
    ProbeDone {
        id: ContainerId,
        kind: ProbeKind,
        success: bool,
        message: Option<String>,
    },
    HookDone {
        id: ContainerId,
        hook: Hook,
        success: bool,
        message: Option<String>,
    },
    /// The deadline of [`Lifecycle::next_deadline`] has passed.
    TimerFired,
    /// The pod uses more local storage than it may (an emptyDir over its sizeLimit): it
    /// is killed at once and fails with reason Evicted and this message, as the
    /// kubelet's eviction manager does.
    Evicted {
        message: String,
    },
    /// Delete the pod; `None` uses the pod's `terminationGracePeriodSeconds`.
    StopRequested {
        grace_seconds: Option<u64>,
    },
    /// The termination message read after [`Action::ReadTerminationMessage`].
    TerminationMessage {
        id: ContainerId,
        message: String,
    },
    /// [`Action::StartContainer`] found the image missing from the store (`message`).
    ImageMissing {
        id: ContainerId,
        message: String,
    },
    /// [`Action::PullImage`] finished: the image is in the store, `size` bytes of it
    /// when the store says so.
    ImagePulled {
        id: ContainerId,
        size: Option<u64>,
    },
    /// How far [`Action::PullImage`] has got: `done` of `total` bytes downloaded. Shown
    /// in the status at most every 2 s, so that status updates stay cheap.
    ImagePullProgress {
        id: ContainerId,
        done: u64,
        total: u64,
    },
    /// [`Action::PullImage`] failed with `message`; `present`: the store has a copy.
    ImagePullFailed {
        id: ContainerId,
        message: String,
        present: bool,
    },
    /// The digest of the image a container is starting from (its `imageID`).
    ImageResolved {
        id: ContainerId,
        digest: Digest,
    },
}

/// What the machine asks the shim to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    StartContainer {
        id: ContainerId,
    },
    /// Pull the container's image into the store, without blocking; answered by
    /// [`Event::ImagePulled`] or [`Event::ImagePullFailed`].
    PullImage {
        id: ContainerId,
    },
    Signal {
        id: ContainerId,
        signal: Sig,
    },
    RunProbe {
        id: ContainerId,
        kind: ProbeKind,
        timeout_ms: u64,
    },
    /// `timeout_ms` is [`NO_TIMEOUT`] for postStart, which the kubelet waits for
    /// however long it takes; preStop gets what is left of the grace period.
    RunHook {
        id: ContainerId,
        hook: Hook,
        timeout_ms: u64,
    },
    /// Read `terminationMessagePath`; with `fallback_to_logs`, the log tail when empty.
    ReadTerminationMessage {
        id: ContainerId,
        fallback_to_logs: bool,
    },
    /// [`Lifecycle::status`] differs from what it was before this step.
    StatusChanged,
    /// No container runs and none will start again; the shim may clean up and exit.
    PodTerminated,
}

/// The `timeout_ms` of a run that may take as long as it takes.
pub const NO_TIMEOUT: u64 = u64::MAX;

/// Timing knobs, all in milliseconds; the defaults are the kubelet's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// The first crash-loop delay (after the first, immediate, restart).
    pub backoff_base_ms: u64,
    /// The longest crash-loop delay.
    pub backoff_cap_ms: u64,
    /// A container that ran this long starts over with no back-off.
    pub backoff_reset_ms: u64,
    /// The least time between SIGTERM and SIGKILL.
    pub min_grace_ms: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            backoff_base_ms: 10_000,
            backoff_cap_ms: 300_000,
            backoff_reset_ms: 600_000,
            min_grace_ms: 2_000,
        }
    }
}

/// The lifecycle of one pod.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    /// `name_namespace(uid)`, as the kubelet names a pod in messages.
    display: String,
    spec_hash: SpecHash,
    config: Config,
    policy: crate::spec::RestartPolicy,
    grace_ms: u64,
    active_deadline_ms: Option<u64>,
    start: Now,
    ctrs: Vec<Ctr>,
    n_init: usize,
    stage: Stage,
    /// App containers have been started once: init ordering no longer applies.
    init_done: bool,
    /// Set when activeDeadlineSeconds passed: the pod is Failed whatever its containers.
    deadline_exceeded: bool,
    /// The message of an eviction ([`Event::Evicted`]).
    evicted: Option<String>,
    /// The status as of the end of the last step.
    cached: PodStatus,
    /// Events recorded by the steps, until [`Lifecycle::take_events`].
    recorded: Recorded,
}

impl Lifecycle {
    pub fn new(pod: &Pod, spec_hash: SpecHash, config: Config, now: Now) -> Lifecycle {
        let spec = &pod.spec;
        let ctrs: Vec<Ctr> = spec
            .init_containers
            .iter()
            .map(|c| Ctr::new(c, true))
            .chain(spec.containers.iter().map(|c| Ctr::new(c, false)))
            .collect();
        let display = match &pod.uid {
            Some(uid) => format!("{}_{}({})", pod.name, pod.namespace(), uid),
            None => format!("{}_{}", pod.name, pod.namespace()),
        };
        let mut lc = Lifecycle {
            display,
            spec_hash,
            config,
            policy: spec.restart_policy,
            grace_ms: spec.termination_grace_period_seconds().saturating_mul(1000),
            active_deadline_ms: spec
                .active_deadline_seconds
                .map(|s| now.mono_ms.saturating_add(s.saturating_mul(1000))),
            start: now,
            ctrs,
            n_init: spec.init_containers.len(),
            stage: Stage::Created,
            init_done: false,
            deadline_exceeded: false,
            evicted: None,
            cached: status::placeholder(spec_hash, now.wall),
            recorded: Recorded::default(),
        };
        lc.cached = lc.build_status(now, None);
        lc
    }

    /// Carries over what an earlier shim of the same spec reported (its status file,
    /// kept in the run directory), before the first step: each container's restart
    /// count, and that it ran, so that its next start counts as a restart. A shim
    /// started again after its predecessor died thus keeps the counts the operator saw.
    /// Statuses of another spec, and containers the spec does not have, are ignored.
    pub fn resume(&mut self, previous: &PodStatus) {
        if previous.spec_hash != self.spec_hash {
            return;
        }
        let before = previous
            .init_container_statuses
            .iter()
            .chain(previous.container_statuses.iter());
        for old in before {
            let Some(c) = self.ctrs.iter_mut().find(|c| c.name == old.name) else {
                continue;
            };
            c.restart_count = c.restart_count.max(old.restart_count);
            c.ever_ran |= old.started.is_some() || old.restart_count > 0;
        }
        self.cached = self.build_status(self.start, None);
    }

    /// Applies one event; returns what the shim must do, in order.
    pub fn step(&mut self, event: Event, now: Now) -> Vec<Action> {
        let mut out = Out::default();
        match event {
            Event::Start => self.on_start(now),
            Event::ContainerStarted { id } => self.on_started(id, now, &mut out),
            Event::ContainerStartFailed {
                id,
                reason,
                message,
            } => self.on_start_failed(id, reason, message, now, &mut out),
            Event::ContainerExited {
                id,
                exit_code,
                signal,
                oom_killed,
            } => self.on_exited(id, exit_code, signal, oom_killed, now, &mut out),
            Event::ProbeDone {
                id,
                kind,
                success,
                message,
            } => self.on_probe_done(id, kind, success, message, now, &mut out),
            Event::HookDone {
                id,
                hook,
                success,
                message,
            } => self.on_hook_done(id, hook, success, message, now, &mut out),
            Event::TimerFired => self.on_timer(now, &mut out),
            Event::Evicted { message } => {
                if self.evicted.is_none() && !matches!(self.stage, pod::Stage::Terminated) {
                    self.evicted = Some(message);
                    self.on_stop_requested(0, true, now);
                    out.push(Action::StatusChanged);
                }
            }
            Event::StopRequested { grace_seconds } => {
                let grace = grace_seconds.map_or(self.grace_ms, |s| s.saturating_mul(1000));
                self.on_stop_requested(grace, grace_seconds == Some(0), now);
            }
            Event::TerminationMessage { id, message } => self.on_termination_message(id, message),
            Event::ImageMissing { id, message } => {
                self.on_image_missing(id, message, now, &mut out)
            }
            Event::ImagePulled { id, size } => self.on_image_pulled(id, size, now, &mut out),
            Event::ImagePullProgress { id, done, total } => {
                self.on_image_pull_progress(id, done, total, now, &mut out)
            }
            Event::ImagePullFailed {
                id,
                message,
                present,
            } => self.on_image_pull_failed(id, message, present, now, &mut out),
            Event::ImageResolved { id, digest } => self.on_image_resolved(id, digest),
        }
        let terminated = self.sync(now, &mut out);
        let previous = self.cached.clone();
        self.cached = self.build_status(now, Some(&previous));
        if self.cached != previous {
            out.push(Action::StatusChanged);
        }
        if terminated {
            out.push(Action::PodTerminated);
        }
        self.recorded.extend(out.events);
        out.actions
    }

    /// The Events recorded since the last call, oldest first, and how many were
    /// dropped meanwhile (more than [`MAX_RECORDED`] waited).
    pub fn take_events(&mut self) -> (Vec<PodEvent>, u64) {
        let dropped = self.recorded.dropped;
        (self.recorded.take(), dropped)
    }

    /// The earliest monotonic time at which [`Event::TimerFired`] has work to do.
    pub fn next_deadline(&self) -> Option<u64> {
        let mut next = self.active_deadline();
        for c in &self.ctrs {
            if let Some(t) = c.next_deadline(matches!(self.stage, Stage::Running)) {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        }
        next
    }

    /// The pod as the kubelet names it in messages: `name_namespace(uid)`.
    pub fn display(&self) -> &str {
        &self.display
    }

    /// The pod status as of the last step; times are offsets from `start_time`.
    pub fn status(&self) -> PodStatus {
        self.cached.clone()
    }
}
