//! The simple policy as tables of events and the actions they give.

use std::time::{Duration, Instant};

use super::*;
use crate::spec::manifest::read;

fn pod(yaml: &str) -> Pod {
    read::read_pod(yaml).unwrap_or_else(|e| panic!("{e:?}")).pod
}

const TWO: &str = "
apiVersion: v1
kind: Pod
metadata: {name: two}
spec:
  restartPolicy: RESTART
  initContainers: [{name: setup, image: busybox:1}]
  containers: [{name: a, image: busybox:1}, {name: b, image: busybox:1}]
";

fn policy(restart: &str) -> (SimplePolicy, Instant) {
    let now = Instant::now();
    let p = pod(&TWO.replace("RESTART", restart));
    (
        SimplePolicy::new(&p, SpecHash::default(), Time(1000), now),
        now,
    )
}

const INIT: ContainerId = ContainerId(0);
const A: ContainerId = ContainerId(1);
const B: ContainerId = ContainerId(2);

fn exited(id: ContainerId, exit_code: i32) -> Event {
    Event::ContainerExited {
        id,
        exit_code,
        signal: None,
        oom_killed: false,
    }
}

#[test]
fn init_first_then_apps_then_running() {
    let (mut p, t) = policy("Always");
    assert_eq!(p.status().phase, PodPhase::Pending);
    assert_eq!(
        p.step(Event::SandboxReady, t),
        vec![Action::StartContainer { id: INIT }]
    );
    assert_eq!(
        p.step(Event::ContainerStarted { id: INIT }, t),
        vec![Action::StatusChanged]
    );
    assert_eq!(
        p.step(exited(INIT, 0), t),
        vec![
            Action::StatusChanged,
            Action::StartContainer { id: A },
            Action::StartContainer { id: B }
        ]
    );
    p.step(Event::ContainerStarted { id: A }, t);
    assert_eq!(p.status().phase, PodPhase::Running);
    assert_eq!(p.status().conditions.ready.status, ConditionStatus::False);
    p.step(
        Event::ContainerStarted { id: B },
        t + Duration::from_secs(2),
    );
    assert_eq!(p.status().conditions.ready.status, ConditionStatus::True);
    assert_eq!(p.status().conditions.ready.last_transition, Since(2));
}

#[test]
fn failed_init_restarts_under_always_and_fails_the_pod_under_never() {
    let (mut p, t) = policy("Always");
    p.step(Event::SandboxReady, t);
    p.step(Event::ContainerStarted { id: INIT }, t);
    assert_eq!(
        p.step(exited(INIT, 3), t),
        vec![
            Action::StatusChanged,
            Action::SetTimer {
                timer: Timer::Restart(INIT),
                at: t + RESTART_DELAY
            }
        ]
    );
    let later = t + RESTART_DELAY;
    assert_eq!(
        p.step(Event::TimerFired(Timer::Restart(INIT)), later),
        vec![Action::StartContainer { id: INIT }]
    );
    assert_eq!(p.status().init_container_statuses[0].restart_count, 1);

    let (mut p, t) = policy("Never");
    p.step(Event::SandboxReady, t);
    p.step(Event::ContainerStarted { id: INIT }, t);
    assert_eq!(
        p.step(exited(INIT, 3), t),
        vec![
            Action::StatusChanged,
            Action::StatusChanged,
            Action::PodTerminated
        ]
    );
    assert_eq!(p.status().phase, PodPhase::Failed);
}

#[test]
fn on_failure_restarts_only_failures_and_the_pod_succeeds() {
    let (mut p, t) = policy("OnFailure");
    p.step(Event::SandboxReady, t);
    p.step(exited(INIT, 0), t);
    p.step(Event::ContainerStarted { id: A }, t);
    p.step(Event::ContainerStarted { id: B }, t);
    assert_eq!(p.step(exited(A, 0), t), vec![Action::StatusChanged]);
    let restart = p.step(exited(B, 1), t);
    assert!(restart.contains(&Action::SetTimer {
        timer: Timer::Restart(B),
        at: t + RESTART_DELAY
    }));
    p.step(Event::TimerFired(Timer::Restart(B)), t);
    p.step(Event::ContainerStarted { id: B }, t);
    let last = p.step(exited(B, 0), t);
    assert_eq!(last.last(), Some(&Action::PodTerminated));
    assert_eq!(p.status().phase, PodPhase::Succeeded);
    let b = &p.status().container_statuses[1];
    assert_eq!(b.restart_count, 1);
    assert!(matches!(
        b.last_state,
        Some(ContainerState::Terminated { exit_code: 1, .. })
    ));
}

#[test]
fn stop_terms_then_kills_after_the_grace_period_and_never_restarts() {
    let (mut p, t) = policy("Always");
    p.step(Event::SandboxReady, t);
    p.step(exited(INIT, 0), t);
    p.step(Event::ContainerStarted { id: A }, t);
    p.step(Event::ContainerStarted { id: B }, t);
    let grace = Duration::from_secs(5);
    assert_eq!(
        p.step(Event::StopRequested { grace }, t),
        vec![
            Action::Signal {
                id: A,
                signal: Sig::Term
            },
            Action::Signal {
                id: B,
                signal: Sig::Term
            },
            Action::SetTimer {
                timer: Timer::Kill,
                at: t + grace
            },
        ]
    );
    assert_eq!(p.step(exited(A, 143), t), vec![Action::StatusChanged]);
    assert_eq!(
        p.step(Event::TimerFired(Timer::Kill), t + grace),
        vec![Action::Signal {
            id: B,
            signal: Sig::Kill
        }]
    );
    assert_eq!(
        p.step(exited(B, 137), t + grace),
        vec![
            Action::StatusChanged,
            Action::StatusChanged,
            Action::PodTerminated
        ]
    );
    assert_eq!(p.step(Event::TimerFired(Timer::Restart(A)), t), vec![]);
    assert_eq!(p.status().phase, PodPhase::Failed);
}

#[test]
fn missing_image_keeps_the_pod_pending_and_retries() {
    let (mut p, t) = policy("Never");
    p.step(Event::SandboxReady, t);
    let failed = Event::ContainerStartFailed {
        id: INIT,
        reason: Reason::ErrImageNeverPull,
        message: "image busybox:1 is not present".into(),
    };
    assert_eq!(
        p.step(failed, t),
        vec![
            Action::StatusChanged,
            Action::SetTimer {
                timer: Timer::Restart(INIT),
                at: t + IMAGE_RETRY_DELAY
            }
        ]
    );
    assert_eq!(p.status().phase, PodPhase::Pending);
    assert_eq!(
        p.step(
            Event::StopRequested {
                grace: Duration::ZERO
            },
            t
        )
        .last(),
        Some(&Action::PodTerminated)
    );
}

#[test]
fn oom_kill_is_reported_with_its_reason() {
    let (mut p, t) = policy("Never");
    p.step(Event::SandboxReady, t);
    p.step(exited(INIT, 0), t);
    p.step(Event::ContainerStarted { id: A }, t);
    let oom = Event::ContainerExited {
        id: A,
        exit_code: 137,
        signal: Some(9),
        oom_killed: true,
    };
    p.step(oom, t);
    assert!(matches!(
        p.status().container_statuses[0].state,
        ContainerState::Terminated {
            exit_code: 137,
            reason: Reason::OomKilled,
            ..
        }
    ));
}
