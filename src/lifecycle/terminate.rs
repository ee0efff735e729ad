//! Graceful termination: preStop, SIGTERM, SIGKILL after the grace period, for one
//! container (liveness, postStart failure) or for the whole pod (deletion, deadline,
//! completion), app containers first and then sidecars one by one in reverse order.
//!
//! The preStop hook's time counts against the grace period; SIGKILL comes at the end
//! of the grace period but never sooner than `min_grace_ms` after SIGTERM (kubelet:
//! `gracePeriod - preStop time`, at least 2 s).

use super::container::{CState, Ctr, KillCause, Kind, Stop, StopStep};
use super::pod::{Stage, StopWhy};
use super::record::{EventReason, Out};
use super::{Action, Config, ContainerId, Hook, Lifecycle, Now, Sig};

/// Begins stopping a running container; does nothing to one that is not running.
pub(super) fn begin_stop(
    c: &mut Ctr,
    id: ContainerId,
    cause: KillCause,
    grace_ms: u64,
    config: &Config,
    now: Now,
    out: &mut Out,
) {
    let run = match &c.state {
        CState::PostStart { run } | CState::Running { run } => *run,
        CState::Waiting { .. } | CState::Starting | CState::Pulling | CState::Stopping { .. } => {
            return;
        }
        CState::Terminated(_) => return,
    };
    c.probes.stop_all();
    let m = match &cause {
        KillCause::Pod | KillCause::PostStartFailed(_) => format!("Stopping container {}", c.name),
        KillCause::Liveness => {
            format!(
                "Container {} failed liveness probe, will be restarted",
                c.name
            )
        }
        KillCause::Startup => {
            format!(
                "Container {} failed startup probe, will be restarted",
                c.name
            )
        }
    };
    out.normal(EventReason::Killing, c, &m, now);
    let deadline_ms = now.mono_ms.saturating_add(grace_ms);
    let step = if c.has_pre_stop && grace_ms > 0 {
        out.push(Action::RunHook {
            id,
            hook: Hook::PreStop,
            timeout_ms: grace_ms,
        });
        StopStep::PreStop {
            until_ms: deadline_ms,
        }
    } else {
        term(id, deadline_ms, config, now, out)
    };
    c.state = CState::Stopping {
        run,
        stop: Stop {
            cause,
            step,
            deadline_ms,
        },
    };
}

/// Sends SIGTERM; SIGKILL is due at the end of the grace period, `min_grace` at least.
fn term(id: ContainerId, deadline_ms: u64, config: &Config, now: Now, out: &mut Out) -> StopStep {
    out.push(Action::Signal {
        id,
        signal: Sig::Term,
    });
    StopStep::Term {
        kill_at_ms: deadline_ms.max(now.mono_ms.saturating_add(config.min_grace_ms)),
    }
}

/// The preStop hook finished (or failed: the kubelet goes on with SIGTERM either way).
pub(super) fn pre_stop_done(
    c: &mut Ctr,
    id: ContainerId,
    config: &Config,
    now: Now,
    out: &mut Out,
) {
    if let CState::Stopping { stop, .. } = &mut c.state {
        if let StopStep::PreStop { .. } = stop.step {
            stop.step = term(id, stop.deadline_ms, config, now, out);
        }
    }
}

/// Moves a stopping container on when its preStop time or grace period is over.
pub(super) fn stop_timers(c: &mut Ctr, id: ContainerId, config: &Config, now: Now, out: &mut Out) {
    let CState::Stopping { stop, .. } = &mut c.state else {
        return;
    };
    match stop.step {
        StopStep::PreStop { until_ms } => {
            if until_ms <= now.mono_ms {
                stop.step = term(id, stop.deadline_ms, config, now, out);
            }
        }
        StopStep::Term { kill_at_ms } => {
            if kill_at_ms <= now.mono_ms {
                out.push(Action::Signal {
                    id,
                    signal: Sig::Kill,
                });
                stop.step = StopStep::Killed;
            }
        }
        StopStep::Killed => {}
    }
}

/// A container stopping: its preStop hook and its grace period end now.
fn cut_short(c: &mut Ctr, now: Now) {
    let CState::Stopping { stop, .. } = &mut c.state else {
        return;
    };
    stop.deadline_ms = stop.deadline_ms.min(now.mono_ms);
    match &mut stop.step {
        StopStep::PreStop { until_ms } => *until_ms = (*until_ms).min(now.mono_ms),
        StopStep::Term { kill_at_ms } => *kill_at_ms = (*kill_at_ms).min(now.mono_ms),
        StopStep::Killed => {}
    }
}

impl Lifecycle {
    /// Deletion: Ready goes false now, containers stop within `grace_ms`.
    ///
    /// An explicit grace period of 0 (`pealet stop --grace 0`, a second Ctrl-C) is a
    /// forced stop: no 2 s minimum, and a stop already under way is cut short.
    pub(super) fn on_stop_requested(&mut self, grace_ms: u64, force: bool, now: Now) {
        if force {
            self.config.min_grace_ms = 0;
            if let Stage::Terminating { deadline_ms, .. } = &mut self.stage {
                *deadline_ms = now.mono_ms;
            }
            for c in &mut self.ctrs {
                cut_short(c, now);
            }
        }
        match self.stage {
            Stage::Created | Stage::Running => {
                self.begin_pod_stop(StopWhy::Requested, grace_ms, now)
            }
            Stage::Terminating { .. } | Stage::Terminated => {}
        }
    }

    pub(super) fn begin_pod_stop(&mut self, why: StopWhy, grace_ms: u64, now: Now) {
        self.stage = Stage::Terminating {
            why,
            deadline_ms: now.mono_ms.saturating_add(grace_ms),
        };
    }

    /// Stops what still runs: app and init containers together, then the sidecars in
    /// reverse order, each after the one behind it has exited. Returns true once
    /// nothing runs.
    pub(super) fn sync_terminating(&mut self, deadline_ms: u64, now: Now, out: &mut Out) -> bool {
        // Each container gets what is left of the pod's grace period.
        let grace = deadline_ms.saturating_sub(now.mono_ms);
        let mut busy = false;
        for (id, c) in self.ctrs.iter_mut().enumerate() {
            match c.kind {
                Kind::Sidecar => continue,
                Kind::Init | Kind::App => {}
            }
            begin_stop(c, id, KillCause::Pod, grace, &self.config, now, out);
            busy |= c.active();
        }
        if busy {
            return false;
        }
        for id in (0..self.n_init).rev() {
            let c = &mut self.ctrs[id];
            match c.kind {
                Kind::Sidecar => {}
                Kind::Init | Kind::App => continue,
            }
            begin_stop(c, id, KillCause::Pod, grace, &self.config, now, out);
            if c.active() {
                return false;
            }
        }
        true
    }
}
