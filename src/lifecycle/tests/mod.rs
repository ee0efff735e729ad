//! Table tests of the lifecycle rules, in milliseconds: rows of (time, event) and the
//! exact actions that follow, then the states, phase and conditions they lead to.

mod events;
mod hooks;
mod images;
mod init;
mod probes;
mod restart;
mod terminate;

use super::*;
use crate::spec::bounded::{BoundedVec, Text, name};
use crate::spec::{
    Container, ContainerRestartPolicy, ContainerState, ContainerStatus, PodPhase, PodSpec, Probe,
    ProbeHandler, PullPolicy, RestartPolicy,
};

/// Wall clock of monotonic 0.
const T0: u64 = 1_800_000_000;

fn at(ms: u64) -> Now {
    Now {
        mono_ms: ms,
        wall: Time(T0 + ms / 1000),
    }
}

fn ctr(n: &str) -> Container {
    let mut c = Container::new(name(n).unwrap(), Text::try_from("busybox").unwrap());
    c.image_pull_policy = PullPolicy::IfNotPresent;
    c
}

fn sidecar(n: &str) -> Container {
    Container {
        restart_policy: Some(ContainerRestartPolicy::Always),
        ..ctr(n)
    }
}

/// An exec probe: period and thresholds as given, other fields at their defaults.
fn probe(period_s: u32, success: u32, failure: u32) -> Probe {
    Probe {
        period_seconds: period_s,
        success_threshold: success,
        failure_threshold: failure,
        ..Probe::new(ProbeHandler::Exec {
            command: BoundedVec::new(),
        })
    }
}

fn pod(policy: RestartPolicy, init: Vec<Container>, apps: Vec<Container>) -> Pod {
    Pod {
        name: name("p").unwrap(),
        namespace: None,
        uid: Some("u1".try_into().unwrap()),
        labels: BoundedVec::new(),
        annotations: BoundedVec::new(),
        spec: PodSpec {
            init_containers: BoundedVec::try_from(init).unwrap(),
            containers: BoundedVec::try_from(apps).unwrap(),
            restart_policy: policy,
            ..PodSpec::default()
        },
    }
}

fn machine(pod: &Pod) -> Lifecycle {
    Lifecycle::new(pod, SpecHash::default(), Config::default(), at(0))
}

/// One row: at `ms`, `event` gives exactly `want` (StatusChanged left out).
type Row = (u64, Event, Vec<Action>);

fn run(lc: &mut Lifecycle, rows: Vec<Row>) {
    for (i, (ms, event, want)) in rows.into_iter().enumerate() {
        let label = format!("row {i}: {event:?} at {ms} ms");
        let got: Vec<Action> = lc
            .step(event, at(ms))
            .into_iter()
            .filter(|a| *a != Action::StatusChanged)
            .collect();
        assert_eq!(got, want, "{label}");
    }
}

// Events.
fn started(id: usize) -> Event {
    Event::ContainerStarted { id }
}
fn exited(id: usize, exit_code: i32) -> Event {
    Event::ContainerExited {
        id,
        exit_code,
        signal: None,
        oom_killed: false,
    }
}
fn killed(id: usize, signal: u8) -> Event {
    Event::ContainerExited {
        id,
        exit_code: 128 + i32::from(signal),
        signal: Some(signal),
        oom_killed: false,
    }
}
fn probed(id: usize, kind: ProbeKind, success: bool) -> Event {
    Event::ProbeDone {
        id,
        kind,
        success,
        message: (!success).then(|| "exit status 1".to_string()),
    }
}
fn hooked(id: usize, hook: Hook, success: bool) -> Event {
    Event::HookDone {
        id,
        hook,
        success,
        message: (!success).then(|| "hook exited 1".to_string()),
    }
}
fn stop(grace_seconds: Option<u64>) -> Event {
    Event::StopRequested { grace_seconds }
}
const TIMER: Event = Event::TimerFired;

// Actions.
fn start(id: usize) -> Action {
    Action::StartContainer { id }
}
fn term(id: usize) -> Action {
    Action::Signal {
        id,
        signal: Sig::Term,
    }
}
fn kill(id: usize) -> Action {
    Action::Signal {
        id,
        signal: Sig::Kill,
    }
}
fn read(id: usize) -> Action {
    Action::ReadTerminationMessage {
        id,
        fallback_to_logs: false,
    }
}
fn run_probe(id: usize, kind: ProbeKind) -> Action {
    Action::RunProbe {
        id,
        kind,
        timeout_ms: 1000,
    }
}
fn run_hook(id: usize, hook: Hook, timeout_ms: u64) -> Action {
    Action::RunHook {
        id,
        hook,
        timeout_ms,
    }
}
const DONE: Action = Action::PodTerminated;

// Status views.
fn cs(lc: &Lifecycle, id: usize) -> ContainerStatus {
    let s = lc.status();
    let n = s.init_container_statuses.len();
    if id < n {
        s.init_container_statuses[id].clone()
    } else {
        s.container_statuses[id - n].clone()
    }
}

fn phase(lc: &Lifecycle) -> PodPhase {
    lc.status().phase
}

/// A container state in one short word: `W:Reason`, `R`, `T:code:Reason`.
fn word(s: &ContainerState) -> String {
    match s {
        ContainerState::Waiting { reason, .. } => format!("W:{reason}"),
        ContainerState::Running { .. } => "R".to_string(),
        ContainerState::Terminated {
            exit_code, reason, ..
        } => format!("T:{exit_code}:{reason}"),
    }
}

fn state(lc: &Lifecycle, id: usize) -> String {
    word(&cs(lc, id).state)
}

fn waiting_message(lc: &Lifecycle, id: usize) -> Option<String> {
    match cs(lc, id).state {
        ContainerState::Waiting { message, .. } => message.map(|m| m.to_string()),
        ContainerState::Running { .. } | ContainerState::Terminated { .. } => None,
    }
}

/// A condition as `Status[:Reason[:message]]`.
fn cond(c: &crate::spec::Condition) -> String {
    let mut s = c.status.as_str().to_string();
    if let Some(d) = &c.detail {
        s += &format!(":{}", d.reason);
        if let Some(m) = &d.message {
            s += &format!(":{m}");
        }
    }
    s
}

/// Initialized, ContainersReady, Ready.
fn conds(lc: &Lifecycle) -> [String; 3] {
    let c = lc.status().conditions;
    [
        cond(&c.initialized),
        cond(&c.containers_ready),
        cond(&c.ready),
    ]
}

/// A one-container pod under `policy`, started and running since 0.
fn running_one(policy: RestartPolicy, c: Container) -> Lifecycle {
    let mut lc = machine(&pod(policy, vec![], vec![c]));
    run(
        &mut lc,
        vec![(0, Event::Start, vec![start(0)]), (0, started(0), vec![])],
    );
    lc
}

#[test]
fn status_changed_only_when_the_status_changes() {
    let mut lc = machine(&pod(RestartPolicy::Always, vec![], vec![ctr("c")]));
    assert_eq!(lc.step(Event::Start, at(0)), vec![start(0)]);
    assert_eq!(lc.step(started(0), at(0)), vec![Action::StatusChanged]);
    assert_eq!(lc.step(TIMER, at(5)), vec![]);
    assert_eq!(
        lc.step(started(0), at(6)),
        vec![],
        "a stale event changes nothing"
    );
    assert_eq!(phase(&lc), PodPhase::Running);
    assert_eq!(lc.status().conditions.ready.last_transition.0, 0);
}

#[test]
fn a_pod_starts_pending_with_kubelet_conditions() {
    let lc = machine(&pod(RestartPolicy::Always, vec![], vec![ctr("c")]));
    assert_eq!(phase(&lc), PodPhase::Pending);
    assert_eq!(state(&lc, 0), "W:ContainerCreating");
    assert_eq!(cs(&lc, 0).started, None);
    assert_eq!(
        conds(&lc),
        [
            "True".to_string(),
            "False:ContainersNotReady:containers with unready status: [c]".to_string(),
            "False:ContainersNotReady:containers with unready status: [c]".to_string(),
        ]
    );
    assert_eq!(lc.status().conditions.pod_scheduled.status.as_str(), "True");
    assert_eq!(lc.next_deadline(), None);
}
