//! Pod termination: Ready false at once, SIGTERM then SIGKILL after the grace period,
//! app containers before sidecars (in reverse order), activeDeadlineSeconds.

use super::*;

#[test]
fn sigkill_after_the_grace_period() {
    // (pod grace, requested grace) -> SIGKILL at (deletion at 1 s)
    let table = [
        (Some(30), None, 31_000),
        (Some(5), None, 6_000),
        (Some(30), Some(10), 11_000),
        (Some(0), None, 3_000),
        (None, Some(1), 3_000),
    ];
    for (pod_grace, asked, kill_at) in table {
        let label = format!("grace {pod_grace:?} asked {asked:?}");
        let mut p = pod(RestartPolicy::Always, vec![], vec![ctr("c")]);
        p.spec.termination_grace_period_seconds = pod_grace;
        let mut lc = machine(&p);
        run(
            &mut lc,
            vec![
                (0, Event::Start, vec![start(0)]),
                (0, started(0), vec![]),
                (1_000, stop(asked), vec![term(0)]),
            ],
        );
        assert_eq!(lc.next_deadline(), Some(kill_at), "{label}");
        assert_eq!(phase(&lc), PodPhase::Running, "{label}");
        assert_eq!(
            conds(&lc)[2],
            "False:ContainersNotReady:containers with unready status: [c]",
            "{label}"
        );
        run(
            &mut lc,
            vec![
                (kill_at - 1, TIMER, vec![]),
                (kill_at, TIMER, vec![kill(0)]),
                (kill_at + 10, killed(0, 9), vec![read(0), DONE]),
            ],
        );
        assert_eq!(state(&lc, 0), "T:137:Error", "{label}");
        assert_eq!(phase(&lc), PodPhase::Failed, "{label}");
        // No restart after termination, whatever the policy.
        assert_eq!(lc.next_deadline(), None, "{label}");
    }
}

#[test]
fn an_explicit_grace_of_zero_kills_at_once_and_cuts_a_stop_short() {
    // Asked for 0 at the start: SIGTERM, then SIGKILL with the next timer, no 2 s.
    let p = pod(RestartPolicy::Always, vec![], vec![ctr("c")]);
    let mut lc = machine(&p);
    run(
        &mut lc,
        vec![
            (0, Event::Start, vec![start(0)]),
            (0, started(0), vec![]),
            (1_000, stop(Some(0)), vec![term(0)]),
        ],
    );
    assert_eq!(lc.next_deadline(), Some(1_000));
    run(
        &mut lc,
        vec![
            (1_000, TIMER, vec![kill(0)]),
            (1_010, killed(0, 9), vec![read(0), DONE]),
        ],
    );
    // A graceful stop under way (30 s), then a second request with 0: killed now.
    let mut lc = machine(&p);
    run(
        &mut lc,
        vec![
            (0, Event::Start, vec![start(0)]),
            (0, started(0), vec![]),
            (1_000, stop(None), vec![term(0)]),
        ],
    );
    assert_eq!(lc.next_deadline(), Some(31_000));
    run(&mut lc, vec![(5_000, stop(Some(0)), vec![])]);
    assert_eq!(lc.next_deadline(), Some(5_000));
    run(
        &mut lc,
        vec![
            (5_000, TIMER, vec![kill(0)]),
            (5_010, killed(0, 9), vec![read(0), DONE]),
        ],
    );
    assert_eq!(state(&lc, 0), "T:137:Error");
}

#[test]
fn a_container_that_exits_on_sigterm_ends_the_pod_at_once() {
    let mut lc = running_one(RestartPolicy::Always, ctr("c"));
    run(
        &mut lc,
        vec![
            (1_000, stop(None), vec![term(0)]),
            (1_200, exited(0, 0), vec![read(0), DONE]),
        ],
    );
    assert_eq!(phase(&lc), PodPhase::Succeeded);
    run(
        &mut lc,
        vec![(40_000, TIMER, vec![]), (40_000, stop(None), vec![])],
    );
}

#[test]
fn apps_stop_first_then_sidecars_in_reverse_order() {
    let mut lc = machine(&pod(
        RestartPolicy::Always,
        vec![sidecar("s1"), sidecar("s2")],
        vec![ctr("a"), ctr("b")],
    ));
    run(
        &mut lc,
        vec![
            (0, Event::Start, vec![start(0)]),
            (0, started(0), vec![start(1)]),
            (0, started(1), vec![start(2), start(3)]),
            (0, started(2), vec![]),
            (0, started(3), vec![]),
            (1_000, stop(Some(10)), vec![term(2), term(3)]),
            (2_000, exited(2, 0), vec![read(2)]),
            (3_000, exited(3, 0), vec![read(3), term(1)]),
            (4_000, exited(1, 0), vec![read(1), term(0)]),
            // s1 gets what is left of the grace period, at least min_grace.
            (11_000, TIMER, vec![kill(0)]),
            (11_001, killed(0, 9), vec![read(0), DONE]),
        ],
    );
    assert_eq!(
        phase(&lc),
        PodPhase::Succeeded,
        "app containers decide the phase"
    );
}

#[test]
fn stop_while_a_container_is_being_created() {
    let mut lc = machine(&pod(RestartPolicy::Always, vec![], vec![ctr("c")]));
    run(
        &mut lc,
        vec![
            (0, Event::Start, vec![start(0)]),
            (100, stop(None), vec![]),
            (200, started(0), vec![term(0)]),
            (300, killed(0, 15), vec![read(0), DONE]),
        ],
    );
    let mut lc = machine(&pod(RestartPolicy::Always, vec![], vec![ctr("c")]));
    run(
        &mut lc,
        vec![(0, stop(None), vec![DONE]), (1, Event::Start, vec![])],
    );
    assert_eq!(phase(&lc), PodPhase::Failed, "a pod deleted before it ran");
    assert_eq!(state(&lc, 0), "W:ContainerCreating");
}

#[test]
fn active_deadline_fails_the_pod_and_kills_its_containers() {
    let mut p = pod(RestartPolicy::Always, vec![sidecar("s")], vec![ctr("c")]);
    p.spec.active_deadline_seconds = Some(60);
    let mut lc = machine(&p);
    run(
        &mut lc,
        vec![
            (0, Event::Start, vec![start(0)]),
            (0, started(0), vec![start(1)]),
            (0, started(1), vec![]),
        ],
    );
    assert_eq!(lc.next_deadline(), Some(60_000));
    run(
        &mut lc,
        vec![(59_999, TIMER, vec![]), (60_000, TIMER, vec![term(1)])],
    );
    let s = lc.status();
    assert_eq!(s.phase, PodPhase::Failed);
    assert_eq!(s.reason, Some(Reason::DeadlineExceeded));
    assert_eq!(
        s.message.as_deref(),
        Some("Pod was active on the node longer than the specified deadline")
    );
    assert_eq!(conds(&lc)[2], "False:PodFailed");
    run(
        &mut lc,
        vec![
            (61_000, killed(1, 15), vec![read(1), term(0)]),
            (62_000, killed(0, 15), vec![read(0), DONE]),
        ],
    );
    assert_eq!(phase(&lc), PodPhase::Failed);
    assert_eq!(lc.next_deadline(), None);
}

#[test]
fn no_active_deadline_after_the_pod_completed() {
    let mut p = pod(RestartPolicy::Never, vec![], vec![ctr("c")]);
    p.spec.active_deadline_seconds = Some(60);
    let mut lc = machine(&p);
    run(
        &mut lc,
        vec![
            (0, Event::Start, vec![start(0)]),
            (0, started(0), vec![]),
            (1_000, exited(0, 0), vec![read(0), DONE]),
            (60_000, TIMER, vec![]),
        ],
    );
    assert_eq!(phase(&lc), PodPhase::Succeeded);
    assert_eq!(lc.next_deadline(), None);
}

#[test]
fn a_container_started_during_termination_skips_post_start() {
    let mut c = ctr("c");
    c.lifecycle = Some(crate::spec::Lifecycle {
        post_start: Some(crate::spec::LifecycleHandler::Sleep { seconds: 1 }),
        pre_stop: None,
    });
    let mut lc = machine(&pod(RestartPolicy::Always, vec![], vec![c]));
    run(
        &mut lc,
        vec![
            (0, Event::Start, vec![start(0)]),
            (100, stop(None), vec![]),
            (200, started(0), vec![term(0)]),
        ],
    );
}

#[test]
fn no_timer_left_for_a_deadline_once_the_pod_completed() {
    let mut p = pod(RestartPolicy::Never, vec![sidecar("s")], vec![ctr("c")]);
    p.spec.active_deadline_seconds = Some(2);
    let mut lc = machine(&p);
    run(
        &mut lc,
        vec![
            (0, Event::Start, vec![start(0)]),
            (0, started(0), vec![start(1)]),
            (0, started(1), vec![]),
            // The sidecar crashes and backs off; then the app completes.
            (100, exited(0, 1), vec![read(0), start(0)]),
            (100, started(0), vec![]),
            (200, exited(0, 1), vec![read(0)]),
            (1_000, exited(1, 0), vec![read(1), DONE]),
        ],
    );
    assert_eq!(phase(&lc), PodPhase::Succeeded);
    assert_eq!(
        lc.next_deadline(),
        None,
        "no back-off or deadline timer is left"
    );
    run(&mut lc, vec![(10_200, TIMER, vec![])]);
}
