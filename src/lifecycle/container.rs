//! One container's state: waiting, starting, postStart, running, stopping or terminated,
//! with its last termination, restart count, back-off and probes. No pod-level rules.

use super::backoff::Backoff;
use super::image::Image;
use super::probe::Probes;
use super::{Now, Reason};
use crate::spec::bounded::Name;
use crate::spec::{Container, TerminationMessagePolicy, Time};

/// Where a container sits in the pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A regular init container: runs to completion, in order.
    Init,
    /// An init container with `restartPolicy: Always`.
    Sidecar,
    App,
}

/// When the current instance started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Run {
    pub started_at: Time,
    pub started_mono: u64,
}

/// How a container ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Termination {
    pub exit_code: i32,
    pub signal: Option<u8>,
    pub reason: Reason,
    pub message: Option<String>,
    pub started_at: Time,
    pub finished_at: Time,
}

impl Termination {
    /// The runtime's reason: OOMKilled, Completed for exit 0, else Error.
    pub fn reason_for(exit_code: i32, oom_killed: bool) -> Reason {
        if oom_killed {
            Reason::OomKilled
        } else if exit_code == 0 {
            Reason::Completed
        } else {
            Reason::Error
        }
    }
}

/// Why a running container is being killed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum KillCause {
    /// The pod is terminating (deletion, deadline, completion, failed init).
    Pod,
    Liveness,
    Startup,
    /// The postStart hook failed, with its message.
    PostStartFailed(String),
}

/// The steps of a graceful stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StopStep {
    /// The preStop hook runs; SIGTERM at `until_ms` at the latest.
    PreStop { until_ms: u64 },
    /// SIGTERM sent; SIGKILL at `kill_at_ms`.
    Term { kill_at_ms: u64 },
    /// SIGKILL sent; waiting for the exit.
    Killed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Stop {
    pub cause: KillCause,
    pub step: StopStep,
    /// The end of the grace period.
    pub deadline_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum CState {
    /// Not running. `retry_at_ms`: not before then (back-off, create retry).
    Waiting {
        reason: Option<Reason>,
        message: Option<String>,
        retry_at_ms: Option<u64>,
    },
    /// StartContainer was asked for; waiting for started or failed.
    Starting,
    /// PullImage was asked for; waiting for its result.
    Pulling,
    /// Running, its postStart hook not yet done: not yet Running in the status.
    PostStart {
        run: Run,
    },
    Running {
        run: Run,
    },
    Stopping {
        run: Run,
        stop: Stop,
    },
    /// Ended and will not be restarted (or not yet decided: pod terminating).
    Terminated(Termination),
}

#[derive(Debug, Clone)]
pub(super) struct Ctr {
    pub name: Name,
    pub kind: Kind,
    pub has_post_start: bool,
    pub has_pre_stop: bool,
    pub fallback_to_logs: bool,
    pub probes: Probes,
    pub state: CState,
    /// The termination before the current instance (`lastState`).
    pub last: Option<Termination>,
    pub restart_count: u32,
    /// Some instance has been created (so the next one is a restart).
    pub ever_ran: bool,
    /// Running and its startup probe (if any) has succeeded.
    pub started: bool,
    pub backoff: Backoff,
    pub image: Image,
}

impl Ctr {
    pub fn new(c: &Container, init: bool) -> Ctr {
        let kind = match (init, c.is_sidecar()) {
            (true, true) => Kind::Sidecar,
            (true, false) => Kind::Init,
            (false, _) => Kind::App,
        };
        let (has_post_start, has_pre_stop) = match &c.lifecycle {
            Some(l) => (l.post_start.is_some(), l.pre_stop.is_some()),
            None => (false, false),
        };
        let fallback_to_logs = c
            .termination_message
            .as_ref()
            .is_some_and(|t| t.policy == TerminationMessagePolicy::FallbackToLogsOnError);
        Ctr {
            name: c.name.clone(),
            kind,
            has_post_start,
            has_pre_stop,
            fallback_to_logs,
            probes: Probes::new(c, kind),
            state: CState::Waiting {
                reason: None,
                message: None,
                retry_at_ms: None,
            },
            last: None,
            restart_count: 0,
            ever_ran: false,
            started: false,
            backoff: Backoff::default(),
            image: Image::new(c),
        }
    }

    /// May be started now (order permitting).
    pub fn startable(&self, now: Now) -> bool {
        match &self.state {
            CState::Waiting { retry_at_ms, .. } => retry_at_ms.is_none_or(|t| t <= now.mono_ms),
            CState::Starting
            | CState::Pulling
            | CState::PostStart { .. }
            | CState::Running { .. }
            | CState::Stopping { .. }
            | CState::Terminated(_) => false,
        }
    }

    /// A process exists or is being created.
    pub fn active(&self) -> bool {
        match &self.state {
            CState::Starting
            | CState::PostStart { .. }
            | CState::Running { .. }
            | CState::Stopping { .. } => true,
            CState::Waiting { .. } | CState::Pulling | CState::Terminated(_) => false,
        }
    }

    /// A regular init container that exited 0.
    pub fn succeeded(&self) -> bool {
        matches!(&self.state, CState::Terminated(t) if t.exit_code == 0)
    }

    /// Running and started: the next init container may start after a sidecar.
    pub fn running_started(&self) -> bool {
        matches!(self.state, CState::Running { .. }) && self.started
    }

    /// Ready as the kubelet reports it (before pod-level overrides).
    pub fn ready(&self) -> bool {
        match self.kind {
            Kind::Init => self.succeeded(),
            Kind::Sidecar | Kind::App => self.running_started() && self.probes.readiness_ok(),
        }
    }

    /// Makes the instance that just started `Running` (its postStart done).
    pub fn become_running(&mut self, run: Run, now: Now) {
        self.state = CState::Running { run };
        self.started = !self.probes.has_startup();
        self.probes.on_running(run.started_mono, now);
    }

    /// The earliest timer of this container.
    pub fn next_deadline(&self, pod_running: bool) -> Option<u64> {
        match &self.state {
            CState::Waiting { retry_at_ms, .. } => {
                let t = match (*retry_at_ms, self.image.backoff_from_ms) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                t.filter(|_| pod_running)
            }
            CState::Running { .. } => self.probes.next_due(),
            CState::Stopping { stop, .. } => match stop.step {
                StopStep::PreStop { until_ms } => Some(until_ms),
                StopStep::Term { kill_at_ms } => Some(kill_at_ms),
                StopStep::Killed => None,
            },
            CState::Starting
            | CState::Pulling
            | CState::PostStart { .. }
            | CState::Terminated(_) => None,
        }
    }

    /// Sets the message of the most recent termination.
    pub fn set_termination_message(&mut self, message: String) {
        match &mut self.state {
            CState::Terminated(t) => t.message = Some(message),
            CState::Waiting { .. }
            | CState::Starting
            | CState::Pulling
            | CState::PostStart { .. }
            | CState::Running { .. }
            | CState::Stopping { .. } => {
                if let Some(t) = &mut self.last {
                    t.message = Some(message);
                }
            }
        }
    }
}
