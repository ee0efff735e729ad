//! The PodStatus of the machine's state: container statuses, the phase (a port of the
//! kubelet's `getPhase`) and the four conditions with the kubelet's reasons and messages.

use super::container::{CState, Ctr, KillCause, Kind, Termination};
use super::pod::Stage;
use super::{Lifecycle, Now, Reason};
use crate::spec::bounded::{BoundedVec, MAX_SHORT, MAX_TEXT, Short, Text};
use crate::spec::{
    Condition, ConditionDetail, ConditionStatus, ContainerState, ContainerStatus, PodConditions,
    PodPhase, PodStatus, ProbeStatus, RestartPolicy, SpecHash, Time,
};

const DEADLINE_MESSAGE: &str = "Pod was active on the node longer than the specified deadline";

/// An empty status, replaced by the first real one.
pub(super) fn placeholder(spec_hash: SpecHash, start_time: Time) -> PodStatus {
    PodStatus {
        spec_hash,
        phase: PodPhase::Pending,
        conditions: PodConditions::default(),
        reason: None,
        message: None,
        pod_ip: None,
        host_ip: None,
        start_time,
        init_container_statuses: BoundedVec::new(),
        container_statuses: BoundedVec::new(),
    }
}

fn truncated(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn text(s: &str) -> Text {
    Text::try_from(truncated(s, MAX_TEXT)).unwrap_or_default()
}

fn short(s: &str) -> Short {
    Short::try_from(truncated(s, MAX_SHORT)).unwrap_or_default()
}

impl Lifecycle {
    pub(super) fn build_status(&self, now: Now, previous: Option<&PodStatus>) -> PodStatus {
        let statuses: Vec<ContainerStatus> =
            self.ctrs.iter().map(|c| self.container_status(c)).collect();
        let (init, apps) = statuses.split_at(self.n_init);
        let mut phase = self.phase(init, apps);
        if self.deadline_exceeded || self.evicted.is_some() {
            phase = PodPhase::Failed;
        }
        let (reason, message) = if let Some(message) = &self.evicted {
            (Some(Reason::Evicted), Some(text(message)))
        } else if self.deadline_exceeded {
            (Some(Reason::DeadlineExceeded), Some(text(DEADLINE_MESSAGE)))
        } else {
            (None, None)
        };
        let at = now.wall.since(self.start.wall);
        let mut conditions = self.conditions(init, apps, phase);
        if let Some(prev) = previous {
            keep_transitions(&mut conditions, &prev.conditions, at);
        }
        PodStatus {
            spec_hash: self.spec_hash,
            phase,
            conditions,
            reason,
            message,
            pod_ip: None,
            host_ip: None,
            start_time: self.start.wall,
            init_container_statuses: BoundedVec::try_from(init.to_vec()).unwrap_or_default(),
            container_statuses: BoundedVec::try_from(apps.to_vec()).unwrap_or_default(),
        }
    }

    fn since(&self, t: Time) -> crate::spec::Since {
        t.since(self.start.wall)
    }

    fn terminated(&self, t: &Termination) -> ContainerState {
        ContainerState::Terminated {
            exit_code: t.exit_code,
            signal: t.signal,
            reason: t.reason.clone(),
            message: t.message.as_deref().map(text),
            started_at: self.since(t.started_at),
            finished_at: self.since(t.finished_at),
        }
    }

    fn container_status(&self, c: &Ctr) -> ContainerStatus {
        let default_reason = if self.n_init > 0 {
            Reason::PodInitializing
        } else {
            Reason::ContainerCreating
        };
        let state = match &c.state {
            CState::Waiting {
                reason, message, ..
            } => ContainerState::Waiting {
                reason: reason.clone().unwrap_or(default_reason),
                message: message.as_deref().map(text),
            },
            CState::Starting | CState::PostStart { .. } => ContainerState::Waiting {
                reason: default_reason,
                message: None,
            },
            CState::Pulling => ContainerState::Waiting {
                reason: default_reason,
                message: Some(text(&c.image.pulling_message())),
            },
            CState::Running { run } => ContainerState::Running {
                started_at: self.since(run.started_at),
            },
            CState::Stopping { run, stop } => match &stop.cause {
                KillCause::PostStartFailed(m) => ContainerState::Waiting {
                    reason: Reason::PostStartHookError,
                    message: Some(text(m)),
                },
                KillCause::Pod | KillCause::Liveness | KillCause::Startup => {
                    ContainerState::Running {
                        started_at: self.since(run.started_at),
                    }
                }
            },
            CState::Terminated(t) => self.terminated(t),
        };
        let pod_running = matches!(self.stage, Stage::Running);
        let ready = match c.kind {
            Kind::Init => c.ready(),
            Kind::Sidecar | Kind::App => c.ready() && pod_running,
        };
        let probes: Vec<ProbeStatus> = c
            .probes
            .0
            .iter()
            .map(|p| ProbeStatus {
                kind: p.kind,
                last_result: p.last,
                consecutive_successes: p.successes,
                consecutive_failures: p.failures,
                last_failure: p.last_failure.as_deref().map(short),
            })
            .collect();
        ContainerStatus {
            name: c.name.clone(),
            state,
            last_state: c.last.as_ref().map(|t| self.terminated(t)),
            ready,
            started: c.ever_ran.then_some(c.started),
            restart_count: c.restart_count,
            image_id: c.image.id,
            probes: BoundedVec::try_from(probes).unwrap_or_default(),
        }
    }

    /// The kubelet's `getPhase`, over the statuses it reports.
    fn phase(&self, init: &[ContainerStatus], apps: &[ContainerStatus]) -> PodPhase {
        let mut pending_init = 0;
        let mut pending_sidecars = 0;
        let mut failed_init = 0;
        let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
        let last_failed = |s: &ContainerStatus| match &s.last_state {
            Some(ContainerState::Terminated { exit_code, .. }) => Some(*exit_code != 0),
            Some(ContainerState::Waiting { .. } | ContainerState::Running { .. }) | None => None,
        };
        for (c, s) in self.ctrs.iter().zip(init) {
            let sidecar = c.kind == Kind::Sidecar;
            match (&s.state, sidecar) {
                (ContainerState::Running { .. }, false) => pending_init += 1,
                (ContainerState::Running { .. }, true) => {
                    if s.started != Some(true) {
                        pending_sidecars += 1;
                    }
                    running += 1;
                }
                (ContainerState::Terminated { exit_code, .. }, false) => {
                    if *exit_code != 0 {
                        failed_init += 1;
                    }
                }
                (ContainerState::Terminated { .. }, true) => {}
                (ContainerState::Waiting { .. }, false) => match last_failed(s) {
                    Some(true) => failed_init += 1,
                    Some(false) => {}
                    None => pending_init += 1,
                },
                (ContainerState::Waiting { .. }, true) => {
                    if last_failed(s).is_none() {
                        pending_sidecars += 1;
                        waiting += 1;
                    }
                }
            }
        }
        for s in apps {
            match &s.state {
                ContainerState::Running { .. } => running += 1,
                ContainerState::Terminated { exit_code, .. } => {
                    stopped += 1;
                    if *exit_code == 0 {
                        succeeded += 1;
                    }
                }
                ContainerState::Waiting { .. } => match last_failed(s) {
                    Some(_) => stopped += 1,
                    None => waiting += 1,
                },
            }
        }
        let terminal = matches!(self.stage, Stage::Terminated);
        let phase = if failed_init > 0 && self.policy == RestartPolicy::Never {
            PodPhase::Failed
        } else if pending_init > 0 || (pending_sidecars > 0 && !self.init_done) || waiting > 0 {
            PodPhase::Pending
        } else if running > 0 {
            PodPhase::Running
        } else if stopped > 0 {
            if terminal || self.policy != RestartPolicy::Always {
                if stopped == succeeded {
                    PodPhase::Succeeded
                } else if terminal || self.policy == RestartPolicy::Never {
                    PodPhase::Failed
                } else {
                    PodPhase::Running
                }
            } else {
                PodPhase::Running
            }
        } else {
            PodPhase::Pending
        };
        // A pod that ends without a terminal phase (deleted before it ran) is Failed.
        if !terminal {
            return phase;
        }
        match phase {
            PodPhase::Pending | PodPhase::Running | PodPhase::Unknown => PodPhase::Failed,
            PodPhase::Succeeded | PodPhase::Failed => phase,
        }
    }

    fn conditions(
        &self,
        init: &[ContainerStatus],
        apps: &[ContainerStatus],
        phase: PodPhase,
    ) -> PodConditions {
        let sidecar = |i: usize| self.ctrs[i].kind == Kind::Sidecar;
        // Initialized.
        let incomplete: Vec<&str> = init
            .iter()
            .enumerate()
            .filter(|(i, s)| {
                if sidecar(*i) {
                    s.started != Some(true)
                } else {
                    !matches!(s.state, ContainerState::Terminated { exit_code: 0, .. })
                }
            })
            .map(|(_, s)| s.name.as_str())
            .collect();
        let any_app_started = apps.iter().any(|s| {
            matches!(
                s.state,
                ContainerState::Running { .. } | ContainerState::Terminated { .. }
            )
        });
        let initialized = if phase == PodPhase::Succeeded {
            cond(ConditionStatus::True, Some(Reason::PodCompleted), None)
        } else if any_app_started || incomplete.is_empty() {
            cond(ConditionStatus::True, None, None)
        } else {
            let m = format!(
                "containers with incomplete status: [{}]",
                incomplete.join(" ")
            );
            cond(
                ConditionStatus::False,
                Some(Reason::ContainersNotInitialized),
                Some(m),
            )
        };
        // ContainersReady and Ready.
        let unready: Vec<&str> = init
            .iter()
            .enumerate()
            .filter(|(i, s)| sidecar(*i) && !s.ready)
            .map(|(_, s)| s)
            .chain(apps.iter().filter(|s| !s.ready))
            .map(|s| s.name.as_str())
            .collect();
        let ready = match phase {
            PodPhase::Succeeded => cond(ConditionStatus::False, Some(Reason::PodCompleted), None),
            PodPhase::Failed => cond(ConditionStatus::False, Reason::parse("PodFailed"), None),
            PodPhase::Pending | PodPhase::Running | PodPhase::Unknown => {
                if unready.is_empty() {
                    cond(ConditionStatus::True, None, None)
                } else {
                    let m = format!("containers with unready status: [{}]", unready.join(" "));
                    cond(
                        ConditionStatus::False,
                        Some(Reason::ContainersNotReady),
                        Some(m),
                    )
                }
            }
        };
        PodConditions {
            pod_scheduled: cond(ConditionStatus::True, None, None),
            initialized,
            containers_ready: ready.clone(),
            ready,
        }
    }
}

fn cond(status: ConditionStatus, reason: Option<Reason>, message: Option<String>) -> Condition {
    Condition {
        status,
        last_transition: crate::spec::Since(0),
        detail: reason.map(|reason| ConditionDetail {
            reason,
            message: message.as_deref().map(text),
        }),
    }
}

/// A condition's transition time changes only when its status does.
fn keep_transitions(new: &mut PodConditions, old: &PodConditions, at: crate::spec::Since) {
    for (n, o) in [
        (&mut new.pod_scheduled, &old.pod_scheduled),
        (&mut new.initialized, &old.initialized),
        (&mut new.containers_ready, &old.containers_ready),
        (&mut new.ready, &old.ready),
    ] {
        n.last_transition = if n.status == o.status {
            o.last_transition
        } else {
            at
        };
    }
}
