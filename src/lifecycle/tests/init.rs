//! Init containers one at a time, their failures under each policy, sidecars started
//! in order behind their startup probes, and sidecars that do not block completion.

use super::*;

fn s(x: &str) -> String {
    x.to_string()
}

#[test]
fn init_containers_run_one_at_a_time_in_order() {
    let mut lc = machine(&pod(
        RestartPolicy::Always,
        vec![ctr("i1"), ctr("i2")],
        vec![ctr("c")],
    ));
    run(
        &mut lc,
        vec![(0, Event::Start, vec![start(0)]), (0, started(0), vec![])],
    );
    assert_eq!(phase(&lc), PodPhase::Pending);
    assert_eq!(
        [state(&lc, 0), state(&lc, 1), state(&lc, 2)],
        [s("R"), s("W:PodInitializing"), s("W:PodInitializing")]
    );
    assert_eq!(
        conds(&lc)[0],
        "False:ContainersNotInitialized:containers with incomplete status: [i1 i2]"
    );
    run(
        &mut lc,
        vec![
            (1_000, exited(0, 0), vec![read(0), start(1)]),
            (1_000, started(1), vec![]),
        ],
    );
    assert_eq!(
        conds(&lc)[0],
        "False:ContainersNotInitialized:containers with incomplete status: [i2]"
    );
    assert!(cs(&lc, 0).ready, "a completed init container is ready");
    run(
        &mut lc,
        vec![(2_000, exited(1, 0), vec![read(1), start(2)])],
    );
    // Until the app container exists it waits with the kubelet's default reason.
    assert_eq!(state(&lc, 2), "W:PodInitializing");
    assert_eq!(conds(&lc)[0], "True");
    assert_eq!(phase(&lc), PodPhase::Pending);
    run(&mut lc, vec![(2_000, started(2), vec![])]);
    assert_eq!(phase(&lc), PodPhase::Running);
    assert_eq!(conds(&lc), [s("True"), s("True"), s("True")]);
    // Init containers are never run again once the app containers started.
    run(
        &mut lc,
        vec![(3_000, exited(2, 1), vec![read(2), start(2)])],
    );
}

#[test]
fn failing_init_container_under_each_policy() {
    use RestartPolicy::{Always, Never, OnFailure};
    // policy -> (actions on the failure, phase, i1, c, Ready)
    let table = [
        (
            Never,
            vec![read(0), DONE],
            PodPhase::Failed,
            "T:1:Error",
            "W:PodInitializing",
            "False:PodFailed",
        ),
        (
            OnFailure,
            vec![read(0), start(0)],
            PodPhase::Pending,
            "W:PodInitializing",
            "W:PodInitializing",
            "False:ContainersNotReady:containers with unready status: [c]",
        ),
        (
            Always,
            vec![read(0), start(0)],
            PodPhase::Pending,
            "W:PodInitializing",
            "W:PodInitializing",
            "False:ContainersNotReady:containers with unready status: [c]",
        ),
    ];
    for (policy, actions, want_phase, want_i1, want_c, want_ready) in table {
        let label = format!("{policy:?}");
        let mut lc = machine(&pod(policy, vec![ctr("i1"), ctr("i2")], vec![ctr("c")]));
        run(
            &mut lc,
            vec![
                (0, Event::Start, vec![start(0)]),
                (0, started(0), vec![]),
                (1_000, exited(0, 1), actions),
            ],
        );
        assert_eq!(phase(&lc), want_phase, "{label}");
        assert_eq!(state(&lc, 0), want_i1, "{label}");
        assert_eq!(state(&lc, 1), "W:PodInitializing", "{label}");
        assert_eq!(state(&lc, 2), want_c, "{label}");
        assert_eq!(
            conds(&lc)[0],
            "False:ContainersNotInitialized:containers with incomplete status: [i1 i2]",
            "{label}"
        );
        assert_eq!(conds(&lc)[2], want_ready, "{label}");
        if policy != Never {
            // The second failure backs off; a success then moves on to i2.
            run(
                &mut lc,
                vec![
                    (1_000, started(0), vec![]),
                    (2_000, exited(0, 1), vec![read(0)]),
                    (11_999, TIMER, vec![]),
                    (12_000, TIMER, vec![start(0)]),
                    (12_000, started(0), vec![]),
                    (13_000, exited(0, 0), vec![read(0), start(1)]),
                ],
            );
            assert_eq!(cs(&lc, 0).restart_count, 2, "{label}");
            assert_eq!(phase(&lc), PodPhase::Pending, "{label}");
        }
    }
}

#[test]
fn sidecars_start_in_order_behind_their_startup_probes() {
    let mut s1 = sidecar("s1");
    s1.startup_probe = Some(probe(1, 1, 30));
    let mut lc = machine(&pod(
        RestartPolicy::Always,
        vec![s1, sidecar("s2"), ctr("i3")],
        vec![ctr("c")],
    ));
    run(
        &mut lc,
        vec![
            (0, Event::Start, vec![start(0)]),
            // Running but not started: s2 waits for the startup probe.
            (0, started(0), vec![]),
            (0, TIMER, vec![run_probe(0, ProbeKind::Startup)]),
            (100, probed(0, ProbeKind::Startup, false), vec![]),
            (1_000, TIMER, vec![run_probe(0, ProbeKind::Startup)]),
        ],
    );
    assert_eq!(cs(&lc, 0).started, Some(false));
    assert_eq!(state(&lc, 1), "W:PodInitializing");
    assert_eq!(
        conds(&lc)[0],
        "False:ContainersNotInitialized:containers with incomplete status: [s1 s2 i3]"
    );
    run(
        &mut lc,
        vec![
            (1_100, probed(0, ProbeKind::Startup, true), vec![start(1)]),
            // A sidecar without a startup probe is started as soon as it runs.
            (1_200, started(1), vec![start(2)]),
            (1_300, started(2), vec![]),
            (2_000, exited(2, 0), vec![read(2), start(3)]),
            (2_000, started(3), vec![]),
        ],
    );
    assert_eq!(cs(&lc, 0).started, Some(true));
    assert_eq!(phase(&lc), PodPhase::Running);
    assert_eq!(conds(&lc), [s("True"), s("True"), s("True")]);
}

#[test]
fn sidecars_restart_whatever_the_pod_policy() {
    for policy in [
        RestartPolicy::Never,
        RestartPolicy::OnFailure,
        RestartPolicy::Always,
    ] {
        let mut lc = machine(&pod(policy, vec![sidecar("s")], vec![ctr("c")]));
        run(
            &mut lc,
            vec![
                (0, Event::Start, vec![start(0)]),
                (0, started(0), vec![start(1)]),
                (0, started(1), vec![]),
                (1_000, exited(0, 0), vec![read(0), start(0)]),
                (1_000, started(0), vec![]),
                (2_000, exited(0, 1), vec![read(0)]),
                (12_000, TIMER, vec![start(0)]),
            ],
        );
        assert_eq!(phase(&lc), PodPhase::Running, "{policy:?}");
    }
}

#[test]
fn sidecars_do_not_block_completion_and_stop_in_reverse_order() {
    // app exit code -> final phase
    let table = [
        (0, PodPhase::Succeeded, "False:PodCompleted"),
        (2, PodPhase::Failed, "False:PodFailed"),
    ];
    for (code, want_phase, want_ready) in table {
        let mut lc = machine(&pod(
            RestartPolicy::Never,
            vec![sidecar("s1"), sidecar("s2")],
            vec![ctr("c")],
        ));
        run(
            &mut lc,
            vec![
                (0, Event::Start, vec![start(0)]),
                (0, started(0), vec![start(1)]),
                (0, started(1), vec![start(2)]),
                (0, started(2), vec![]),
                // The app is done: s2 stops first, then s1.
                (5_000, exited(2, code), vec![read(2), term(1)]),
            ],
        );
        assert_eq!(phase(&lc), PodPhase::Running, "sidecars still run");
        run(
            &mut lc,
            vec![
                (5_100, killed(1, 15), vec![read(1), term(0)]),
                (5_200, killed(0, 15), vec![read(0), DONE]),
            ],
        );
        assert_eq!(phase(&lc), want_phase, "exit {code}");
        assert_eq!(conds(&lc)[2], want_ready, "exit {code}");
        if code == 0 {
            assert_eq!(conds(&lc)[0], "True:PodCompleted");
        }
        assert_eq!(lc.next_deadline(), None);
    }
}

#[test]
fn a_sidecar_that_ignores_sigterm_is_killed_after_the_grace_period() {
    let mut lc = machine(&pod(
        RestartPolicy::OnFailure,
        vec![sidecar("s")],
        vec![ctr("c")],
    ));
    run(
        &mut lc,
        vec![
            (0, Event::Start, vec![start(0)]),
            (0, started(0), vec![start(1)]),
            (0, started(1), vec![]),
            (1_000, exited(1, 0), vec![read(1), term(0)]),
            (30_999, TIMER, vec![]),
            (31_000, TIMER, vec![kill(0)]),
            (31_010, killed(0, 9), vec![read(0), DONE]),
        ],
    );
    assert_eq!(phase(&lc), PodPhase::Succeeded);
}

#[test]
fn a_failed_init_under_never_stops_the_sidecars_before_it() {
    let mut lc = machine(&pod(
        RestartPolicy::Never,
        vec![sidecar("s"), ctr("i")],
        vec![ctr("c")],
    ));
    run(
        &mut lc,
        vec![
            (0, Event::Start, vec![start(0)]),
            (0, started(0), vec![start(1)]),
            (0, started(1), vec![]),
            (1_000, exited(1, 4), vec![read(1), term(0)]),
        ],
    );
    assert_eq!(phase(&lc), PodPhase::Failed);
    assert!(!cs(&lc, 0).ready, "not ready while the pod stops");
    run(&mut lc, vec![(1_100, killed(0, 15), vec![read(0), DONE])]);
    assert_eq!(
        [state(&lc, 1), state(&lc, 2)],
        [s("T:4:Error"), s("W:PodInitializing")]
    );
    assert_eq!(phase(&lc), PodPhase::Failed);
}
