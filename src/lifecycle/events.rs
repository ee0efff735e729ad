//! What each event does to one container: started, failed to start, exited, a probe
//! or hook result, a timer, a termination message. Stale events are ignored. The
//! Events of these rules (`Created`, `Started`, `Failed`, `Unhealthy`, `ProbeWarning`,
//! the hooks' failures) are recorded here.

use super::container::{CState, KillCause, Run, Termination};
use super::pod::Stage;
use super::record::{EventReason, Out};
use super::terminate::{begin_stop, pre_stop_done, stop_timers};
use super::{Action, ContainerId, Hook, Lifecycle, NO_TIMEOUT, Now, ProbeKind, Reason};
use crate::spec::{ProbeResult, PullPolicy};

/// A probe's name at the start of a sentence, as the kubelet writes it.
fn probe_name(kind: ProbeKind) -> &'static str {
    match kind {
        ProbeKind::Startup => "Startup",
        ProbeKind::Liveness => "Liveness",
        ProbeKind::Readiness => "Readiness",
    }
}

impl Lifecycle {
    pub(super) fn on_started(&mut self, id: ContainerId, now: Now, out: &mut Out) {
        let pod_running = matches!(self.stage, Stage::Running);
        let Some(c) = self.ctrs.get_mut(id) else {
            return;
        };
        if c.state != CState::Starting {
            return;
        }
        if c.ever_ran {
            c.restart_count = c.restart_count.saturating_add(1);
        }
        c.ever_ran = true;
        if !c.image.pulled && c.image.policy != PullPolicy::Always {
            let m = format!(
                "Container image {:?} already present on machine",
                c.image.reference
            );
            out.normal(EventReason::Pulled, c, &m, now);
        }
        out.normal(
            EventReason::Created,
            c,
            &format!("Created container: {}", c.name),
            now,
        );
        out.normal(
            EventReason::Started,
            c,
            &format!("Started container {}", c.name),
            now,
        );
        let run = Run {
            started_at: now.wall,
            started_mono: now.mono_ms,
        };
        // A pod that is stopping skips postStart: the container is stopped right away.
        if c.has_post_start && pod_running {
            // The kubelet runs postStart before it reports the container running,
            // and waits for it as long as it takes.
            c.started = false;
            c.state = CState::PostStart { run };
            out.push(Action::RunHook {
                id,
                hook: Hook::PostStart,
                timeout_ms: NO_TIMEOUT,
            });
        } else {
            c.become_running(run, now);
        }
    }

    pub(super) fn on_start_failed(
        &mut self,
        id: ContainerId,
        reason: Reason,
        message: String,
        now: Now,
        out: &mut Out,
    ) {
        let base = self.config.backoff_base_ms;
        let Some(c) = self.ctrs.get_mut(id) else {
            return;
        };
        if c.state != CState::Starting {
            return;
        }
        out.warning(EventReason::Failed, c, &format!("Error: {message}"), now);
        let ran = matches!(
            reason,
            Reason::StartError | Reason::RunContainerError | Reason::ContainerCannotRun
        );
        if !ran {
            c.state = CState::Waiting {
                reason: Some(reason),
                message: Some(message),
                retry_at_ms: Some(now.mono_ms.saturating_add(base)),
            };
            return;
        }
        // The runtime created the container but could not run it: a failed run (exit 128).
        if c.ever_ran {
            c.restart_count = c.restart_count.saturating_add(1);
        }
        c.ever_ran = true;
        let t = Termination {
            exit_code: 128,
            signal: None,
            reason: Reason::StartError,
            message: Some(message),
            started_at: now.wall,
            finished_at: now.wall,
        };
        self.after_exit(id, t, 0, false, now, out);
    }

    pub(super) fn on_exited(
        &mut self,
        id: ContainerId,
        exit_code: i32,
        signal: Option<u8>,
        oom_killed: bool,
        now: Now,
        out: &mut Out,
    ) {
        let Some(c) = self.ctrs.get_mut(id) else {
            return;
        };
        let mut killed_unhealthy = false;
        let run = match &c.state {
            CState::PostStart { run } | CState::Running { run } => *run,
            CState::Stopping { run, stop } => {
                // The kubelet restarts a container it killed for a probe whatever its
                // exit code; after a failed postStart only the exit code counts.
                killed_unhealthy = match stop.cause {
                    KillCause::Liveness | KillCause::Startup => true,
                    KillCause::PostStartFailed(_) | KillCause::Pod => false,
                };
                *run
            }
            // Exited before it was reported started: it ran for no time.
            CState::Starting => {
                if c.ever_ran {
                    c.restart_count = c.restart_count.saturating_add(1);
                }
                c.ever_ran = true;
                Run {
                    started_at: now.wall,
                    started_mono: now.mono_ms,
                }
            }
            CState::Waiting { .. } | CState::Pulling | CState::Terminated(_) => return,
        };
        let t = Termination {
            exit_code,
            signal,
            reason: Termination::reason_for(exit_code, oom_killed),
            message: None,
            started_at: run.started_at,
            finished_at: now.wall,
        };
        out.push(Action::ReadTerminationMessage {
            id,
            fallback_to_logs: c.fallback_to_logs && exit_code != 0,
        });
        let ran_ms = now.mono_ms.saturating_sub(run.started_mono);
        self.after_exit(id, t, ran_ms, killed_unhealthy, now, out);
    }

    pub(super) fn on_probe_done(
        &mut self,
        id: ContainerId,
        kind: ProbeKind,
        success: bool,
        message: Option<String>,
        now: Now,
        out: &mut Out,
    ) {
        let pod_grace = self.grace_ms;
        let Some(c) = self.ctrs.get_mut(id) else {
            return;
        };
        let CState::Running { run } = c.state else {
            return;
        };
        let steady = c.probes.failing_steadily(kind);
        let Some(verdict) = c.probes.record(kind, success, message.clone()) else {
            return;
        };
        // Every failure until the threshold, not the steady ones after it; a warning
        // (a redirect not followed) when it differs from the last one.
        match (success, message) {
            (false, m) if !steady => {
                let m = m.unwrap_or_else(|| "probe failed".into());
                let m = format!("{} probe failed: {m}", probe_name(kind));
                out.warning(EventReason::Unhealthy, c, &m, now);
            }
            (true, Some(w)) if c.probes.new_warning(kind, &w) => {
                let m = format!("{} probe warning: {w}", probe_name(kind));
                out.warning(EventReason::ProbeWarning, c, &m, now);
            }
            (false, _) | (true, _) => {}
        }
        let grace = c
            .probes
            .get(kind)
            .and_then(|p| p.grace_ms)
            .unwrap_or(pod_grace);
        match (kind, verdict) {
            (ProbeKind::Startup, Some(ProbeResult::Success)) => {
                c.started = true;
                c.probes.on_started(run.started_mono, now);
            }
            (ProbeKind::Startup, Some(ProbeResult::Failure)) => {
                begin_stop(c, id, KillCause::Startup, grace, &self.config, now, out);
            }
            (ProbeKind::Liveness, Some(ProbeResult::Failure)) => {
                begin_stop(c, id, KillCause::Liveness, grace, &self.config, now, out);
            }
            (ProbeKind::Startup | ProbeKind::Liveness, Some(ProbeResult::Unknown))
            | (ProbeKind::Liveness, Some(ProbeResult::Success))
            | (
                ProbeKind::Readiness,
                Some(ProbeResult::Success | ProbeResult::Failure | ProbeResult::Unknown),
            )
            | (ProbeKind::Startup | ProbeKind::Liveness | ProbeKind::Readiness, None) => {}
        }
    }

    pub(super) fn on_hook_done(
        &mut self,
        id: ContainerId,
        hook: Hook,
        success: bool,
        message: Option<String>,
        now: Now,
        out: &mut Out,
    ) {
        let grace = self.grace_ms;
        let Some(c) = self.ctrs.get_mut(id) else {
            return;
        };
        match hook {
            Hook::PostStart => {
                let CState::PostStart { run } = c.state else {
                    return;
                };
                if success {
                    c.become_running(run, now);
                } else {
                    let m = message.unwrap_or_else(|| "PostStartHook failed".to_string());
                    out.warning(EventReason::FailedPostStartHook, c, &m, now);
                    // Kubelet: killContainer after FailedPostStartHook, preStop included.
                    c.state = CState::Running { run };
                    begin_stop(
                        c,
                        id,
                        KillCause::PostStartFailed(m),
                        grace,
                        &self.config,
                        now,
                        out,
                    );
                }
            }
            Hook::PreStop => {
                if !success && matches!(c.state, CState::Stopping { .. }) {
                    let m = message.unwrap_or_else(|| "PreStopHook failed".to_string());
                    out.warning(EventReason::FailedPreStopHook, c, &m, now);
                }
                pre_stop_done(c, id, &self.config, now, out)
            }
        }
    }

    pub(super) fn on_timer(&mut self, now: Now, out: &mut Out) {
        self.check_active_deadline(now);
        self.image_timers(now, out);
        for (id, c) in self.ctrs.iter_mut().enumerate() {
            stop_timers(c, id, &self.config, now, out);
            if let CState::Running { .. } = c.state {
                c.probes.run_due(id, now, out);
            }
        }
    }

    pub(super) fn on_termination_message(&mut self, id: ContainerId, message: String) {
        if let Some(c) = self.ctrs.get_mut(id) {
            c.set_termination_message(message);
        }
    }
}
