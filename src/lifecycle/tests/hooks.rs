//! postStart and preStop hooks: a container is not Running until postStart is done,
//! a failing postStart kills it, preStop runs before SIGTERM within the grace period.

use super::*;
use crate::spec::{Lifecycle as Hooks, LifecycleHandler};

fn sleep_hook() -> Option<LifecycleHandler> {
    Some(LifecycleHandler::Sleep { seconds: 5 })
}

fn with_hooks(post_start: bool, pre_stop: bool) -> Container {
    Container {
        lifecycle: Some(Hooks {
            post_start: if post_start { sleep_hook() } else { None },
            pre_stop: if pre_stop { sleep_hook() } else { None },
        }),
        ..ctr("c")
    }
}

#[test]
fn post_start_runs_before_the_container_counts_as_running() {
    let mut c = with_hooks(true, false);
    c.liveness_probe = Some(probe(10, 1, 3));
    let mut lc = machine(&pod(RestartPolicy::Always, vec![], vec![c]));
    run(
        &mut lc,
        vec![
            (0, Event::Start, vec![start(0)]),
            (
                0,
                started(0),
                vec![run_hook(0, Hook::PostStart, NO_TIMEOUT)],
            ),
        ],
    );
    assert_eq!(state(&lc, 0), "W:ContainerCreating");
    assert_eq!(cs(&lc, 0).started, Some(false));
    assert_eq!(phase(&lc), PodPhase::Pending);
    assert_eq!(
        lc.next_deadline(),
        None,
        "no probes before postStart is done"
    );
    run(
        &mut lc,
        vec![
            (3_000, hooked(0, Hook::PostStart, true), vec![]),
            (3_000, TIMER, vec![run_probe(0, ProbeKind::Liveness)]),
        ],
    );
    assert_eq!(state(&lc, 0), "R");
    assert_eq!(cs(&lc, 0).started, Some(true));
    assert_eq!(phase(&lc), PodPhase::Running);
}

#[test]
fn failing_post_start_kills_the_container() {
    use RestartPolicy::{Always, Never};
    // (policy, preStop) -> (actions on the failure, actions on the exit, final state)
    let table = [
        (
            Always,
            false,
            vec![term(0)],
            vec![read(0), start(0)],
            "W:ContainerCreating",
        ),
        (
            Never,
            false,
            vec![term(0)],
            vec![read(0), DONE],
            "T:143:Error",
        ),
        (
            Always,
            true,
            vec![run_hook(0, Hook::PreStop, 30_000)],
            vec![read(0), start(0)],
            "W:ContainerCreating",
        ),
    ];
    for (policy, pre_stop, on_fail, on_exit, want) in table {
        let label = format!("{policy:?} preStop {pre_stop}");
        let mut lc = machine(&pod(policy, vec![], vec![with_hooks(true, pre_stop)]));
        run(
            &mut lc,
            vec![
                (0, Event::Start, vec![start(0)]),
                (
                    0,
                    started(0),
                    vec![run_hook(0, Hook::PostStart, NO_TIMEOUT)],
                ),
                (1_000, hooked(0, Hook::PostStart, false), on_fail),
            ],
        );
        assert_eq!(state(&lc, 0), "W:PostStartHookError", "{label}");
        assert_eq!(
            waiting_message(&lc, 0).as_deref(),
            Some("hook exited 1"),
            "{label}"
        );
        if pre_stop {
            run(
                &mut lc,
                vec![(2_000, hooked(0, Hook::PreStop, true), vec![term(0)])],
            );
        }
        run(&mut lc, vec![(2_500, killed(0, 15), on_exit)]);
        assert_eq!(state(&lc, 0), want, "{label}");
        if policy == Never {
            assert_eq!(phase(&lc), PodPhase::Failed, "{label}");
        }
    }
}

#[test]
fn pre_stop_runs_before_sigterm_and_counts_against_the_grace_period() {
    // (preStop done at) -> (SIGTERM at, SIGKILL at); deletion at 1 s, grace 30 s
    let table = [
        (Some(11_000), 11_000, 31_000),
        (Some(30_000), 30_000, 32_000), // at least min_grace after SIGTERM
        (None, 31_000, 33_000),         // the hook overran the grace period
    ];
    for (done_at, term_at, kill_at) in table {
        let label = format!("preStop done {done_at:?}");
        let mut lc = running_one(RestartPolicy::Always, with_hooks(false, true));
        run(
            &mut lc,
            vec![(1_000, stop(None), vec![run_hook(0, Hook::PreStop, 30_000)])],
        );
        assert!(!cs(&lc, 0).ready, "{label}: not ready once deletion begins");
        assert_eq!(state(&lc, 0), "R", "{label}");
        match done_at {
            Some(t) => run(
                &mut lc,
                vec![(t, hooked(0, Hook::PreStop, true), vec![term(0)])],
            ),
            None => run(
                &mut lc,
                vec![
                    (term_at - 1, TIMER, vec![]),
                    (term_at, TIMER, vec![term(0)]),
                ],
            ),
        }
        assert_eq!(lc.next_deadline(), Some(kill_at), "{label}");
        run(
            &mut lc,
            vec![
                (kill_at, TIMER, vec![kill(0)]),
                (kill_at + 1, killed(0, 9), vec![read(0), DONE]),
                (kill_at + 2, hooked(0, Hook::PreStop, true), vec![]),
            ],
        );
        assert_eq!(phase(&lc), PodPhase::Failed, "{label}");
    }
}

#[test]
fn post_start_has_no_timeout_even_past_the_grace_period() {
    let mut p = pod(RestartPolicy::Always, vec![], vec![with_hooks(true, false)]);
    p.spec.termination_grace_period_seconds = Some(1);
    let mut lc = machine(&p);
    run(
        &mut lc,
        vec![
            (0, Event::Start, vec![start(0)]),
            (
                0,
                started(0),
                vec![run_hook(0, Hook::PostStart, NO_TIMEOUT)],
            ),
        ],
    );
    assert_eq!(lc.next_deadline(), None, "nothing ends the hook but itself");
    run(
        &mut lc,
        vec![(60_000, hooked(0, Hook::PostStart, true), vec![])],
    );
    assert_eq!(state(&lc, 0), "R");
    assert_eq!(cs(&lc, 0).restart_count, 0);
}

#[test]
fn after_a_failed_post_start_the_exit_code_decides_the_restart() {
    // Kubelet: the kill is part of the failed start; the next sync sees only the exit.
    // (policy, exit code) -> (actions on the exit, final state, phase)
    let table = [
        (
            RestartPolicy::OnFailure,
            0,
            vec![read(0), DONE],
            "T:0:Completed",
        ),
        (
            RestartPolicy::OnFailure,
            143,
            vec![read(0), start(0)],
            "W:ContainerCreating",
        ),
        (
            RestartPolicy::Never,
            0,
            vec![read(0), DONE],
            "T:0:Completed",
        ),
    ];
    for (policy, code, on_exit, want) in table {
        let label = format!("{policy:?} exit {code}");
        let mut lc = machine(&pod(policy, vec![], vec![with_hooks(true, false)]));
        run(
            &mut lc,
            vec![
                (0, Event::Start, vec![start(0)]),
                (
                    0,
                    started(0),
                    vec![run_hook(0, Hook::PostStart, NO_TIMEOUT)],
                ),
                (1_000, hooked(0, Hook::PostStart, false), vec![term(0)]),
                (1_500, exited(0, code), on_exit),
            ],
        );
        assert_eq!(state(&lc, 0), want, "{label}");
        if code == 0 {
            assert_eq!(phase(&lc), PodPhase::Succeeded, "{label}");
        }
    }
}
