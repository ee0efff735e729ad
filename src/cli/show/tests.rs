//! kubectl's words and layouts for sample statuses.

use super::*;
use crate::spec::bounded::name;
use crate::spec::{ConditionStatus, PodConditions, PodPhase, Reason, Since};

fn container(n: &str, state: ContainerState, ready: bool, restarts: u32) -> ContainerStatus {
    ContainerStatus {
        name: name(n).unwrap(),
        state,
        last_state: None,
        ready,
        started: Some(true),
        restart_count: restarts,
        image_id: None,
        probes: Default::default(),
    }
}

fn status(phase: PodPhase, inits: Vec<ContainerStatus>, apps: Vec<ContainerStatus>) -> PodStatus {
    PodStatus {
        spec_hash: SpecHash([7; 8]),
        phase,
        conditions: PodConditions::default(),
        reason: None,
        message: None,
        pod_ip: Some("10.0.0.7".parse().unwrap()),
        host_ip: None,
        start_time: Time(1000),
        init_container_statuses: inits.try_into().unwrap(),
        container_statuses: apps.try_into().unwrap(),
    }
}

fn running() -> ContainerState {
    ContainerState::Running {
        started_at: Since(1),
    }
}

fn waiting(r: Reason) -> ContainerState {
    ContainerState::Waiting {
        reason: r,
        message: None,
    }
}

fn exited(code: i32, r: Reason) -> ContainerState {
    ContainerState::Terminated {
        exit_code: code,
        signal: None,
        reason: r,
        message: None,
        started_at: Since(1),
        finished_at: Since(2),
    }
}

#[test]
fn status_words_as_kubectl_prints_them() {
    use PodPhase::*;
    let cases = [
        (
            status(Running, vec![], vec![container("a", running(), true, 0)]),
            "Running",
        ),
        (
            status(
                Pending,
                vec![],
                vec![container("a", waiting(Reason::ContainerCreating), false, 0)],
            ),
            "ContainerCreating",
        ),
        (
            status(
                Running,
                vec![],
                vec![container("a", waiting(Reason::CrashLoopBackOff), false, 4)],
            ),
            "CrashLoopBackOff",
        ),
        (
            status(
                Succeeded,
                vec![],
                vec![container("a", exited(0, Reason::Completed), false, 0)],
            ),
            "Completed",
        ),
        (
            status(
                Failed,
                vec![],
                vec![container("a", exited(137, Reason::OomKilled), false, 0)],
            ),
            "OOMKilled",
        ),
        (
            status(
                Pending,
                vec![container("i", exited(1, Reason::Error), false, 0)],
                vec![],
            ),
            "Init:ExitCode:1",
        ),
        (
            status(
                Pending,
                vec![container("i", waiting(Reason::CrashLoopBackOff), false, 0)],
                vec![],
            ),
            "Init:CrashLoopBackOff",
        ),
        (
            status(
                Pending,
                vec![
                    container("i", exited(0, Reason::Completed), false, 0),
                    container("j", waiting(Reason::PodInitializing), false, 0),
                ],
                vec![],
            ),
            "Init:1/2",
        ),
    ];
    for (st, want) in cases {
        assert_eq!(status_word(&st), want);
    }
    let mut evicted = status(Failed, vec![], vec![]);
    evicted.reason = Some(Reason::Evicted);
    assert_eq!(status_word(&evicted), "Evicted");
    let mut half = status(
        Running,
        vec![],
        vec![
            container("a", running(), true, 0),
            container("b", exited(0, Reason::Completed), false, 0),
        ],
    );
    assert_eq!(status_word(&half), "NotReady");
    half.conditions.ready.status = ConditionStatus::True;
    assert_eq!(status_word(&half), "Running");
}

#[test]
fn ages_as_kubectl_prints_them() {
    let a = |s: u64| age(Time(0), Time(s));
    assert_eq!(a(42), "42s");
    assert_eq!(a(119), "119s");
    assert_eq!(a(192), "3m12s");
    assert_eq!(a(25 * 60), "25m");
    assert_eq!(a(5 * 3600 + 180), "5h3m");
    assert_eq!(a(20 * 3600), "20h");
    assert_eq!(a(76 * 3600), "3d4h");
    assert_eq!(a(40 * 86_400), "40d");
    assert_eq!(a(740 * 86_400), "2y10d");
    assert_eq!(age(Time(10), Time(5)), "0s");
}

#[test]
fn table_aligns_columns() {
    let st = status(
        PodPhase::Running,
        vec![],
        vec![
            container("a", running(), true, 2),
            container("b", running(), false, 1),
        ],
    );
    let rows = vec![
        vec![
            "NAME".into(),
            "READY".into(),
            "STATUS".into(),
            "RESTARTS".into(),
            "AGE".into(),
            "IP".into(),
            "NODE".into(),
        ],
        pod_row("web", Some(&st), None, "pi-01", true, Time(1100)),
        pod_row("queued-pod", None, Some(1), "pi-01", true, Time(1100)),
    ];
    assert_eq!(
        table(&rows),
        "NAME         READY   STATUS    RESTARTS   AGE         IP         NODE\n\
         web          1/2     Running   3          100s        10.0.0.7   pi-01\n\
         queued-pod   0/1     Pending   0          <unknown>   <none>     pi-01\n"
    );
}

#[test]
fn describe_names_states_and_a_pending_update() {
    let mut c = container("web", exited(1, Reason::Error), false, 3);
    c.last_state = Some(running());
    let st = status(PodPhase::Running, vec![], vec![c]);
    let text = describe("web", "pi-01", None, Some(&st), Some(SpecHash([8; 8])));
    for want in [
        "Name:           web\n",
        "Node:           pi-01\n",
        "Status:         Error\n",
        "Spec Hash:      0707070707070707 (the index lists 0808080808080808: an update is pending)\n",
        "  web:\n    Image:          <unknown>\n    State:          Terminated\n      Reason:       Error\n      Exit Code:    1\n",
        "    Last State:     Running\n",
        "    Restart Count:  3\n",
        "  Ready             Unknown\n",
    ] {
        assert!(text.contains(want), "{want:?} not in\n{text}");
    }
    let none = describe("x", "n", None, None, None);
    assert!(none.ends_with("Status:         Pending (no status reported yet)\n"));
}
