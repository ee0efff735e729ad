//! Probe schedules and thresholds: liveness kills, readiness gates the conditions,
//! startup gates both, initial delays, and probe results in the container status.

use super::*;
use crate::spec::ProbeResult;
use ProbeKind::{Liveness, Readiness, Startup};

fn with_liveness(p: Probe) -> Container {
    Container {
        liveness_probe: Some(p),
        ..ctr("c")
    }
}

#[test]
fn liveness_kills_after_failure_threshold_and_restarts_per_policy() {
    use RestartPolicy::{Always, Never, OnFailure};
    // (policy, probe grace) -> (SIGKILL time, actions on the exit, phase after)
    let table = [
        (
            Always,
            None,
            50_010,
            vec![read(0), start(0)],
            PodPhase::Running,
        ),
        (
            OnFailure,
            None,
            50_010,
            vec![read(0), start(0)],
            PodPhase::Running,
        ),
        (Never, None, 50_010, vec![read(0), DONE], PodPhase::Failed),
        (
            Always,
            Some(5),
            25_010,
            vec![read(0), start(0)],
            PodPhase::Running,
        ),
    ];
    for (policy, grace, kill_at, on_exit, want_phase) in table {
        let label = format!("{policy:?} grace {grace:?}");
        let mut p = probe(10, 1, 3);
        p.termination_grace_period_seconds = grace;
        let mut lc = running_one(policy, with_liveness(p));
        run(
            &mut lc,
            vec![
                (0, TIMER, vec![run_probe(0, Liveness)]),
                (10, probed(0, Liveness, false), vec![]),
                (10_000, TIMER, vec![run_probe(0, Liveness)]),
                (10_010, probed(0, Liveness, false), vec![]),
                (20_000, TIMER, vec![run_probe(0, Liveness)]),
                (20_010, probed(0, Liveness, false), vec![term(0)]),
            ],
        );
        let p = &cs(&lc, 0).probes[0];
        assert_eq!(
            (p.kind, p.last_result, p.consecutive_failures),
            (Liveness, ProbeResult::Failure, 3),
            "{label}"
        );
        assert_eq!(p.last_failure.as_deref(), Some("exit status 1"), "{label}");
        assert_eq!(lc.next_deadline(), Some(kill_at), "{label}");
        run(
            &mut lc,
            vec![
                (kill_at - 1, TIMER, vec![]),
                (kill_at, TIMER, vec![kill(0)]),
                (kill_at + 5, killed(0, 9), on_exit),
            ],
        );
        assert_eq!(phase(&lc), want_phase, "{label}");
        assert_eq!(
            cs(&lc, 0)
                .last_state
                .or(Some(cs(&lc, 0).state))
                .as_ref()
                .map(word)
                .as_deref(),
            Some("T:137:Error"),
            "{label}"
        );
    }
}

#[test]
fn a_success_between_failures_starts_the_count_over() {
    let mut lc = running_one(RestartPolicy::Always, with_liveness(probe(10, 1, 2)));
    run(
        &mut lc,
        vec![
            (0, TIMER, vec![run_probe(0, Liveness)]),
            (1, probed(0, Liveness, false), vec![]),
            (10_000, TIMER, vec![run_probe(0, Liveness)]),
            (10_001, probed(0, Liveness, true), vec![]),
            (20_000, TIMER, vec![run_probe(0, Liveness)]),
            (20_001, probed(0, Liveness, false), vec![]),
            (30_000, TIMER, vec![run_probe(0, Liveness)]),
            (30_001, probed(0, Liveness, false), vec![term(0)]),
        ],
    );
}

#[test]
fn readiness_gates_containers_ready_and_ready() {
    let mut c = ctr("c");
    c.readiness_probe = Some(probe(5, 2, 1));
    let mut lc = machine(&pod(RestartPolicy::Always, vec![], vec![c, ctr("d")]));
    run(
        &mut lc,
        vec![
            (0, Event::Start, vec![start(0), start(1)]),
            (0, started(0), vec![]),
            (0, started(1), vec![]),
        ],
    );
    let unready = "False:ContainersNotReady:containers with unready status: [c]".to_string();
    // (time, event, actions) -> (c ready, ContainersReady, Ready)
    let table = [
        (0, TIMER, vec![run_probe(0, Readiness)], false),
        (10, probed(0, Readiness, true), vec![], false),
        (5_000, TIMER, vec![run_probe(0, Readiness)], false),
        (5_010, probed(0, Readiness, true), vec![], true),
        (10_000, TIMER, vec![run_probe(0, Readiness)], true),
        (10_010, probed(0, Readiness, false), vec![], false),
    ];
    assert!(!cs(&lc, 0).ready && cs(&lc, 1).ready);
    assert_eq!(cs(&lc, 0).probes[0].last_result, ProbeResult::Unknown);
    for (t, ev, actions, ready) in table {
        run(&mut lc, vec![(t, ev, actions)]);
        assert_eq!(cs(&lc, 0).ready, ready, "at {t}");
        let want = if ready {
            "True".to_string()
        } else {
            unready.clone()
        };
        assert_eq!(conds(&lc)[1..], [want.clone(), want], "at {t}");
        assert_eq!(phase(&lc), PodPhase::Running);
    }
    assert_eq!(lc.status().conditions.ready.last_transition.0, 10);
}

#[test]
fn startup_probe_gates_liveness_and_readiness() {
    let mut c = ctr("c");
    c.startup_probe = Some(probe(1, 1, 3));
    c.liveness_probe = Some(probe(10, 1, 3));
    c.readiness_probe = Some(probe(10, 1, 3));
    let mut lc = running_one(RestartPolicy::Always, c);
    assert_eq!(cs(&lc, 0).started, Some(false));
    run(
        &mut lc,
        vec![
            (0, TIMER, vec![run_probe(0, Startup)]),
            (5, probed(0, Startup, false), vec![]),
            (1_000, TIMER, vec![run_probe(0, Startup)]),
            (1_005, probed(0, Startup, true), vec![]),
            // Liveness and readiness begin once the container has started.
            (
                1_005,
                TIMER,
                vec![run_probe(0, Liveness), run_probe(0, Readiness)],
            ),
            (2_000, TIMER, vec![]),
        ],
    );
    assert_eq!(cs(&lc, 0).started, Some(true));
    assert!(
        !cs(&lc, 0).ready,
        "readiness is false until its first success"
    );
    run(&mut lc, vec![(1_010, probed(0, Readiness, true), vec![])]);
    assert!(cs(&lc, 0).ready);
}

#[test]
fn startup_probe_failure_threshold_kills() {
    let mut c = ctr("c");
    c.startup_probe = Some(probe(1, 1, 2));
    c.liveness_probe = Some(probe(10, 1, 1));
    let mut lc = running_one(RestartPolicy::Never, c);
    run(
        &mut lc,
        vec![
            (0, TIMER, vec![run_probe(0, Startup)]),
            (5, probed(0, Startup, false), vec![]),
            (1_000, TIMER, vec![run_probe(0, Startup)]),
            (1_005, probed(0, Startup, false), vec![term(0)]),
            (1_100, killed(0, 15), vec![read(0), DONE]),
        ],
    );
    assert_eq!(phase(&lc), PodPhase::Failed);
}

#[test]
fn initial_delay_and_period() {
    let mut p = probe(7, 1, 3);
    p.initial_delay_seconds = 15;
    let mut lc = running_one(RestartPolicy::Always, with_liveness(p));
    assert_eq!(lc.next_deadline(), Some(15_000));
    run(
        &mut lc,
        vec![
            (14_999, TIMER, vec![]),
            (15_000, TIMER, vec![run_probe(0, Liveness)]),
        ],
    );
    // In flight: no second probe, and the next one is a period after the first.
    assert_eq!(lc.next_deadline(), None);
    run(&mut lc, vec![(15_500, probed(0, Liveness, true), vec![])]);
    assert_eq!(lc.next_deadline(), Some(22_000));
    // Stale results are ignored.
    run(&mut lc, vec![(15_600, probed(0, Liveness, false), vec![])]);
    assert_eq!(cs(&lc, 0).probes[0].consecutive_successes, 1);
}

#[test]
fn a_restart_starts_probe_counts_over() {
    let mut c = with_liveness(probe(10, 1, 3));
    c.readiness_probe = Some(probe(10, 1, 1));
    let mut lc = running_one(RestartPolicy::Always, c);
    run(
        &mut lc,
        vec![
            (
                0,
                TIMER,
                vec![run_probe(0, Liveness), run_probe(0, Readiness)],
            ),
            (1, probed(0, Liveness, false), vec![]),
            (1, probed(0, Readiness, true), vec![]),
        ],
    );
    assert!(cs(&lc, 0).ready);
    run(
        &mut lc,
        vec![(2_000, exited(0, 1), vec![read(0), start(0)])],
    );
    assert!(!cs(&lc, 0).ready);
    run(&mut lc, vec![(2_000, started(0), vec![])]);
    let s = cs(&lc, 0);
    assert!(!s.ready, "readiness starts false again");
    assert_eq!(s.probes[0].consecutive_failures, 0);
    assert_eq!(s.probes[1].last_result, ProbeResult::Unknown);
}

#[test]
fn a_liveness_kill_restarts_under_on_failure_even_after_exit_0() {
    // (policy) -> actions on a clean exit after the kill
    let table = [
        (RestartPolicy::OnFailure, vec![read(0), start(0)]),
        (RestartPolicy::Never, vec![read(0), DONE]),
    ];
    for (policy, on_exit) in table {
        let mut lc = running_one(policy, with_liveness(probe(10, 1, 1)));
        run(
            &mut lc,
            vec![
                (0, TIMER, vec![run_probe(0, Liveness)]),
                (1, probed(0, Liveness, false), vec![term(0)]),
                (500, exited(0, 0), on_exit),
            ],
        );
    }
}

#[test]
fn steady_probe_results_leave_the_status_unchanged() {
    // The counts stop at their thresholds, so a probe that keeps giving the same
    // result changes the status only until its verdict is reached.
    let c = Container {
        readiness_probe: Some(probe(10, 2, 3)),
        ..ctr("c")
    };
    let mut lc = running_one(RestartPolicy::Always, c);
    // (result, status changed, consecutive successes, failures, ready)
    let rows = [
        (true, true, 1, 0, false),
        (true, true, 2, 0, true),
        (true, false, 2, 0, true),
        (true, false, 2, 0, true),
        (false, true, 0, 1, true),
        (false, true, 0, 2, true),
        (false, true, 0, 3, false),
        (false, false, 0, 3, false),
        (true, true, 1, 0, false),
    ];
    for (i, (success, changed, successes, failures, ready)) in rows.into_iter().enumerate() {
        let t = i as u64 * 10_000;
        assert_eq!(
            lc.step(TIMER, at(t)),
            vec![run_probe(0, Readiness)],
            "row {i}"
        );
        let actions = lc.step(probed(0, Readiness, success), at(t + 10));
        assert_eq!(actions.contains(&Action::StatusChanged), changed, "row {i}");
        let s = cs(&lc, 0);
        let p = &s.probes[0];
        assert_eq!(
            (p.consecutive_successes, p.consecutive_failures, s.ready),
            (successes, failures, ready),
            "row {i}"
        );
    }
}
