//! Pod-level progress: the stage of the pod, init ordering (regular init containers
//! one at a time, each sidecar started before the next), starting app containers,
//! completion, the active deadline, and the restart decision after an exit.

use super::backoff::go_duration;
use super::container::{CState, Kind, Termination};
use super::record::{EventReason, Out};
use super::{ContainerId, Lifecycle, Now, Reason};
use crate::spec::RestartPolicy;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    /// Before [`super::Event::Start`].
    Created,
    Running,
    /// Stopping everything that runs; `deadline_ms` ends the grace period.
    Terminating {
        why: StopWhy,
        deadline_ms: u64,
    },
    /// Nothing runs and nothing will start.
    Terminated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StopWhy {
    /// StopRequested (deletion).
    Requested,
    /// activeDeadlineSeconds passed.
    DeadlineExceeded,
    /// All app containers ended for good: the sidecars are stopped.
    Completed,
    /// An init container failed under restartPolicy Never.
    InitFailed,
}

impl Lifecycle {
    pub(super) fn on_start(&mut self, _now: Now) {
        match self.stage {
            Stage::Created => self.stage = Stage::Running,
            Stage::Running | Stage::Terminating { .. } | Stage::Terminated => {}
        }
    }

    /// Starts what may start and stops what must stop. Returns true when the pod has
    /// just become terminated.
    pub(super) fn sync(&mut self, now: Now, out: &mut Out) -> bool {
        match self.stage {
            Stage::Created | Stage::Terminated => return false,
            Stage::Running => self.sync_running(now, out),
            Stage::Terminating { .. } => {}
        }
        match self.stage {
            Stage::Terminating { deadline_ms, .. } => {
                if self.sync_terminating(deadline_ms, now, out) {
                    self.stage = Stage::Terminated;
                    return true;
                }
            }
            Stage::Created | Stage::Running | Stage::Terminated => {}
        }
        // A delay that has passed needs no more timer: the container waits for its turn.
        for c in &mut self.ctrs {
            if let CState::Waiting { retry_at_ms, .. } = &mut c.state {
                if retry_at_ms.is_some_and(|t| t <= now.mono_ms) {
                    *retry_at_ms = None;
                }
            }
        }
        false
    }

    fn sync_running(&mut self, now: Now, out: &mut Out) {
        if !self.init_done {
            if !self.sync_init(now, out) {
                return;
            }
            self.init_done = true;
        }
        // Done when every app container has ended and none will restart; then the
        // sidecars are stopped and the phase follows the app containers.
        let all_done = self
            .ctrs
            .iter()
            .filter(|c| c.kind == Kind::App)
            .all(|c| matches!(c.state, CState::Terminated(_)));
        if all_done {
            self.begin_pod_stop(StopWhy::Completed, self.grace_ms, now);
            return;
        }
        for id in 0..self.ctrs.len() {
            let c = &self.ctrs[id];
            let restartable = match c.kind {
                Kind::Init => false,
                Kind::Sidecar | Kind::App => true,
            };
            if restartable && c.startable(now) {
                self.start(id, now, out);
            }
        }
    }

    /// Walks the init containers in order; returns true when all are done.
    fn sync_init(&mut self, now: Now, out: &mut Out) -> bool {
        for id in 0..self.n_init {
            let c = &self.ctrs[id];
            let done = match c.kind {
                Kind::Init => c.succeeded(),
                Kind::Sidecar => c.running_started(),
                Kind::App => true,
            };
            if done {
                continue;
            }
            if c.startable(now) {
                self.start(id, now, out);
            }
            return false;
        }
        true
    }

    fn start(&mut self, id: ContainerId, now: Now, out: &mut Out) {
        super::image::begin_start(&mut self.ctrs[id], id, now, out);
    }

    /// Decides what follows an exit (or a failed start that counts as a run).
    /// `killed_unhealthy`: killed for a failed liveness or startup probe, which the
    /// kubelet restarts unless the policy is Never, whatever the code.
    pub(super) fn after_exit(
        &mut self,
        id: ContainerId,
        t: Termination,
        ran_ms: u64,
        killed_unhealthy: bool,
        now: Now,
        out: &mut Out,
    ) {
        let running = matches!(self.stage, Stage::Running);
        let c = &mut self.ctrs[id];
        c.started = false;
        c.probes.stop_all();
        let failed = t.exit_code != 0 || killed_unhealthy;
        let restart = running
            && match c.kind {
                Kind::Sidecar => true,
                Kind::Init => failed && self.policy != RestartPolicy::Never,
                Kind::App => match self.policy {
                    RestartPolicy::Always => true,
                    RestartPolicy::OnFailure => failed,
                    RestartPolicy::Never => false,
                },
            };
        if !restart {
            let init_failed = c.kind == Kind::Init && failed;
            c.state = CState::Terminated(t);
            if running && init_failed {
                self.begin_pod_stop(StopWhy::InitFailed, self.grace_ms, now);
            }
            return;
        }
        let wait = c.backoff.on_exit(ran_ms, &self.config);
        let retry_at = now.mono_ms.saturating_add(wait);
        let (reason, message) = if wait == 0 {
            (None, None)
        } else {
            let m = format!(
                "back-off {} restarting failed container={} pod={}",
                go_duration(wait),
                c.name,
                self.display
            );
            let e = format!(
                "Back-off restarting failed container {} in pod {}",
                c.name, self.display
            );
            out.warning(EventReason::BackOff, c, &e, now);
            (Some(Reason::CrashLoopBackOff), Some(m))
        };
        c.last = Some(t);
        c.state = CState::Waiting {
            reason,
            message,
            retry_at_ms: Some(retry_at),
        };
    }

    /// When activeDeadlineSeconds ends the pod, if it still can.
    pub(super) fn active_deadline(&self) -> Option<u64> {
        if self.deadline_exceeded {
            return None;
        }
        match self.stage {
            Stage::Running => self.active_deadline_ms,
            Stage::Terminating { why, .. } => match why {
                StopWhy::Requested => self.active_deadline_ms,
                StopWhy::DeadlineExceeded | StopWhy::Completed | StopWhy::InitFailed => None,
            },
            Stage::Created | Stage::Terminated => None,
        }
    }

    /// activeDeadlineSeconds: the pod fails and its containers are killed.
    pub(super) fn check_active_deadline(&mut self, now: Now) {
        if self.active_deadline().is_none_or(|d| d > now.mono_ms) {
            return;
        }
        self.deadline_exceeded = true;
        match self.stage {
            Stage::Running => self.begin_pod_stop(StopWhy::DeadlineExceeded, self.grace_ms, now),
            Stage::Created | Stage::Terminating { .. } | Stage::Terminated => {}
        }
    }
}
