//! The simple pod policy the shim runs until the lifecycle state machine replaces it:
//! init containers one at a time in order (each must exit 0), then every app container;
//! restartPolicy Always/OnFailure restart after a short fixed delay, Never does not. No
//! back-off, probes or hooks. Pure: time comes in with each event.

use std::time::{Duration, Instant};

use super::event::{Action, ContainerId, Event, Policy, Sig, Timer};
use crate::spec::bounded::Text;
use crate::spec::{
    ConditionStatus, ContainerState, ContainerStatus, Pod, PodPhase, PodStatus, Reason,
    RestartPolicy, Since, SpecHash, Time,
};

/// Delay before a container is started again after it exited or failed to start.
pub const RESTART_DELAY: Duration = Duration::from_millis(500);
/// Delay before an image that was missing is looked up again.
pub const IMAGE_RETRY_DELAY: Duration = Duration::from_secs(5);

pub struct SimplePolicy {
    n_init: usize,
    restart: RestartPolicy,
    start: Instant,
    status: PodStatus,
    running: Vec<bool>,
    init_done: bool,
    stopping: bool,
    finished: bool,
}

impl SimplePolicy {
    /// A pod accepted at `now` (wall clock `wall`), every container waiting.
    pub fn new(pod: &Pod, spec_hash: SpecHash, wall: Time, now: Instant) -> SimplePolicy {
        let n_init = pod.spec.init_containers.len();
        let waiting = |name: &crate::spec::bounded::Name, reason: Reason| ContainerStatus {
            name: name.clone(),
            state: ContainerState::Waiting {
                reason,
                message: None,
            },
            last_state: None,
            ready: false,
            started: None,
            restart_count: 0,
            image_id: None,
            probes: Default::default(),
        };
        let app_reason = if n_init > 0 {
            Reason::PodInitializing
        } else {
            Reason::ContainerCreating
        };
        let init = pod.spec.init_containers.iter();
        let app = pod.spec.containers.iter();
        let mut status = PodStatus {
            spec_hash,
            phase: PodPhase::Pending,
            conditions: Default::default(),
            reason: None,
            message: None,
            pod_ip: None,
            host_ip: None,
            start_time: wall,
            init_container_statuses: bounded(
                init.map(|c| waiting(&c.name, Reason::PodInitializing)),
            ),
            container_statuses: bounded(app.map(|c| waiting(&c.name, app_reason.clone()))),
        };
        status.conditions.pod_scheduled.status = ConditionStatus::True;
        let mut policy = SimplePolicy {
            n_init,
            restart: pod.spec.restart_policy,
            start: now,
            status,
            running: vec![false; n_init + pod.spec.containers.len()],
            init_done: n_init == 0,
            stopping: false,
            finished: false,
        };
        policy.refresh(now);
        policy
    }

    fn since(&self, now: Instant) -> Since {
        Since(
            u32::try_from(now.saturating_duration_since(self.start).as_secs()).unwrap_or(u32::MAX),
        )
    }

    fn container(&mut self, id: ContainerId) -> &mut ContainerStatus {
        if id.0 < self.n_init {
            &mut self.status.init_container_statuses.as_mut_slice()[id.0]
        } else {
            &mut self.status.container_statuses.as_mut_slice()[id.0 - self.n_init]
        }
    }

    fn apps(&self) -> impl Iterator<Item = ContainerId> + use<> {
        (self.n_init..self.running.len()).map(ContainerId)
    }

    fn start_apps(&self) -> Vec<Action> {
        self.apps()
            .map(|id| Action::StartContainer { id })
            .collect()
    }

    /// Whether the container runs again after it exited with `code`; an init container
    /// that succeeded is done.
    fn restarts(&self, id: ContainerId, code: i32) -> bool {
        let init = id.0 < self.n_init;
        match self.restart {
            RestartPolicy::Always => !init || code != 0,
            RestartPolicy::OnFailure => code != 0,
            RestartPolicy::Never => false,
        }
    }

    fn started(&mut self, id: ContainerId, now: Instant) -> Vec<Action> {
        let since = self.since(now);
        self.running[id.0] = true;
        let c = self.container(id);
        c.state = ContainerState::Running { started_at: since };
        c.started = Some(true);
        c.ready = true;
        self.refresh(now);
        vec![Action::StatusChanged]
    }

    fn start_failed(
        &mut self,
        id: ContainerId,
        reason: Reason,
        message: String,
        now: Instant,
    ) -> Vec<Action> {
        self.running[id.0] = false;
        let image = matches!(reason, Reason::ErrImagePull | Reason::ErrImageNeverPull);
        let c = self.container(id);
        c.state = ContainerState::Waiting {
            reason,
            message: Some(text(&message)),
        };
        c.ready = false;
        let mut actions = vec![Action::StatusChanged];
        if self.stopping {
            actions.extend(self.finish_if_idle(now));
        } else if image || self.restarts(id, 128) {
            let delay = if image {
                IMAGE_RETRY_DELAY
            } else {
                RESTART_DELAY
            };
            actions.push(Action::SetTimer {
                timer: Timer::Restart(id),
                at: now + delay,
            });
        } else {
            let since = self.since(now);
            self.container(id).state =
                terminated(128, None, Reason::StartError, Some(message), since, since);
            actions.extend(self.after_exit(id, 128, now));
        }
        self.refresh(now);
        actions
    }

    fn exited(
        &mut self,
        id: ContainerId,
        code: i32,
        signal: Option<u8>,
        oom: bool,
        now: Instant,
    ) -> Vec<Action> {
        self.running[id.0] = false;
        let since = self.since(now);
        let reason = match (oom, code) {
            (true, _) => Reason::OomKilled,
            (false, 0) => Reason::Completed,
            (false, _) => Reason::Error,
        };
        let c = self.container(id);
        let started_at = match c.state {
            ContainerState::Running { started_at } => started_at,
            _ => since,
        };
        c.state = terminated(code, signal, reason, None, started_at, since);
        c.ready = false;
        let mut actions = vec![Action::StatusChanged];
        if self.stopping {
            actions.extend(self.finish_if_idle(now));
        } else {
            actions.extend(self.after_exit(id, code, now));
        }
        self.refresh(now);
        actions
    }

    /// Next step after a container ended for good or will restart.
    fn after_exit(&mut self, id: ContainerId, code: i32, now: Instant) -> Vec<Action> {
        if self.restarts(id, code) {
            return vec![Action::SetTimer {
                timer: Timer::Restart(id),
                at: now + RESTART_DELAY,
            }];
        }
        if id.0 < self.n_init {
            if code != 0 {
                // An init container failed and will not restart: the pod failed.
                self.stopping = true;
                return self.finish_if_idle(now);
            }
            if id.0 + 1 < self.n_init {
                return vec![Action::StartContainer {
                    id: ContainerId(id.0 + 1),
                }];
            }
            self.init_done = true;
            return self.start_apps();
        }
        self.finish_if_idle(now)
    }

    fn restart(&mut self, id: ContainerId, now: Instant) -> Vec<Action> {
        if self.stopping || self.finished || self.running[id.0] {
            return Vec::new();
        }
        let c = self.container(id);
        if matches!(c.state, ContainerState::Terminated { .. }) {
            c.last_state = Some(c.state.clone());
            c.restart_count += 1;
        }
        self.refresh(now);
        vec![Action::StartContainer { id }]
    }

    fn stop(&mut self, grace: Duration, now: Instant) -> Vec<Action> {
        if self.stopping && !self.running.iter().any(|r| *r) {
            return self.finish_if_idle(now);
        }
        self.stopping = true;
        let mut actions: Vec<Action> = (0..self.running.len())
            .filter(|&i| self.running[i])
            .map(|i| Action::Signal {
                id: ContainerId(i),
                signal: Sig::Term,
            })
            .collect();
        actions.push(Action::SetTimer {
            timer: Timer::Kill,
            at: now + grace,
        });
        actions.extend(self.finish_if_idle(now));
        actions
    }

    fn kill(&self) -> Vec<Action> {
        (0..self.running.len())
            .filter(|&i| self.stopping && self.running[i])
            .map(|i| Action::Signal {
                id: ContainerId(i),
                signal: Sig::Kill,
            })
            .collect()
    }

    /// The pod is over when nothing runs and nothing will start again.
    fn finish_if_idle(&mut self, now: Instant) -> Vec<Action> {
        if self.finished || self.running.iter().any(|r| *r) {
            return Vec::new();
        }
        let will_run = !self.stopping
            && self.apps().any(|id| {
                let c = &self.status.container_statuses[id.0 - self.n_init];
                !matches!(c.state, ContainerState::Terminated { .. })
            });
        if will_run {
            return Vec::new();
        }
        self.finished = true;
        self.refresh(now);
        vec![Action::StatusChanged, Action::PodTerminated]
    }

    /// Phase and conditions from the containers.
    fn refresh(&mut self, now: Instant) {
        let since = self.since(now);
        let st = &mut self.status;
        let all_ok = st
            .init_container_statuses
            .iter()
            .chain(st.container_statuses.iter())
            .all(|c| matches!(c.state, ContainerState::Terminated { exit_code: 0, .. }));
        let ran = st.container_statuses.iter().any(|c| c.started.is_some());
        st.phase = match (self.finished, all_ok, self.init_done && ran) {
            (true, true, _) => PodPhase::Succeeded,
            (true, false, _) => PodPhase::Failed,
            (false, _, true) => PodPhase::Running,
            (false, _, false) => PodPhase::Pending,
        };
        let ready = !self.finished && st.container_statuses.iter().all(|c| c.ready);
        let set = |cond: &mut crate::spec::Condition, on: bool| {
            let status = if on {
                ConditionStatus::True
            } else {
                ConditionStatus::False
            };
            if cond.status != status {
                cond.status = status;
                cond.last_transition = since;
            }
        };
        set(&mut st.conditions.pod_scheduled, true);
        set(&mut st.conditions.initialized, self.init_done);
        set(&mut st.conditions.containers_ready, ready);
        set(&mut st.conditions.ready, ready);
    }
}

impl Policy for SimplePolicy {
    fn step(&mut self, event: Event, now: Instant) -> Vec<Action> {
        match event {
            Event::SandboxReady if self.n_init > 0 => {
                vec![Action::StartContainer { id: ContainerId(0) }]
            }
            Event::SandboxReady => self.start_apps(),
            Event::ContainerStarted { id } => self.started(id, now),
            Event::ContainerStartFailed {
                id,
                reason,
                message,
            } => self.start_failed(id, reason, message, now),
            Event::ContainerExited {
                id,
                exit_code,
                signal,
                oom_killed,
            } => self.exited(id, exit_code, signal, oom_killed, now),
            Event::StopRequested { grace } => self.stop(grace, now),
            Event::TimerFired(Timer::Restart(id)) => self.restart(id, now),
            Event::TimerFired(Timer::Kill) => self.kill(),
        }
    }

    fn status(&self) -> &PodStatus {
        &self.status
    }
}

fn terminated(
    code: i32,
    signal: Option<u8>,
    reason: Reason,
    message: Option<String>,
    started_at: Since,
    finished_at: Since,
) -> ContainerState {
    ContainerState::Terminated {
        exit_code: code,
        signal,
        reason,
        message: message.map(|m| text(&m)),
        started_at,
        finished_at,
    }
}

fn bounded<T, const N: usize>(
    items: impl Iterator<Item = T>,
) -> crate::spec::bounded::BoundedVec<T, N> {
    let all: Vec<T> = items.take(N).collect();
    all.try_into().unwrap_or_default()
}

/// A message cut to what a status may carry.
pub fn text(s: &str) -> Text {
    let mut end = s.len().min(Text::MAX);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Text::try_from(&s[..end]).unwrap_or_default()
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
