//! Restart policy, exit reasons, crash-loop back-off and its reset, restart counts,
//! start failures, termination messages.

use super::*;
use crate::spec::{TerminationMessage, TerminationMessagePolicy};

#[test]
fn exit_codes_under_each_restart_policy() {
    use RestartPolicy::{Always, Never, OnFailure};
    // (policy, exit code) -> (actions, phase, state, lastState)
    type Row = (
        RestartPolicy,
        i32,
        Vec<Action>,
        PodPhase,
        &'static str,
        Option<&'static str>,
    );
    let table: [Row; 6] = [
        (
            Always,
            0,
            vec![read(0), start(0)],
            PodPhase::Running,
            "W:ContainerCreating",
            Some("T:0:Completed"),
        ),
        (
            Always,
            3,
            vec![read(0), start(0)],
            PodPhase::Running,
            "W:ContainerCreating",
            Some("T:3:Error"),
        ),
        (
            OnFailure,
            0,
            vec![read(0), DONE],
            PodPhase::Succeeded,
            "T:0:Completed",
            None,
        ),
        (
            OnFailure,
            3,
            vec![read(0), start(0)],
            PodPhase::Running,
            "W:ContainerCreating",
            Some("T:3:Error"),
        ),
        (
            Never,
            0,
            vec![read(0), DONE],
            PodPhase::Succeeded,
            "T:0:Completed",
            None,
        ),
        (
            Never,
            3,
            vec![read(0), DONE],
            PodPhase::Failed,
            "T:3:Error",
            None,
        ),
    ];
    for (policy, code, actions, want_phase, want_state, want_last) in table {
        let label = format!("{policy:?} exit {code}");
        let mut lc = running_one(policy, ctr("c"));
        assert_eq!(phase(&lc), PodPhase::Running, "{label}");
        run(&mut lc, vec![(5_000, exited(0, code), actions.clone())]);
        assert_eq!(phase(&lc), want_phase, "{label}");
        assert_eq!(state(&lc, 0), want_state, "{label}");
        assert_eq!(
            cs(&lc, 0).last_state.as_ref().map(word).as_deref(),
            want_last,
            "{label}"
        );
        if actions.contains(&start(0)) {
            run(&mut lc, vec![(5_000, started(0), vec![])]);
            assert_eq!(cs(&lc, 0).restart_count, 1, "{label}");
            assert_eq!(state(&lc, 0), "R", "{label}");
        } else {
            assert_eq!(cs(&lc, 0).restart_count, 0, "{label}");
            assert_eq!(lc.next_deadline(), None, "{label}");
        }
    }
}

#[test]
fn terminated_reasons_and_times() {
    // (exit code, oom) -> reason
    let table = [
        (0, false, "T:0:Completed"),
        (1, false, "T:1:Error"),
        (137, true, "T:137:OOMKilled"),
        (137, false, "T:137:Error"),
    ];
    for (code, oom, want) in table {
        let mut lc = running_one(RestartPolicy::Never, ctr("c"));
        let ev = Event::ContainerExited {
            id: 0,
            exit_code: code,
            signal: None,
            oom_killed: oom,
        };
        lc.step(ev, at(7_500));
        assert_eq!(state(&lc, 0), want);
        let ContainerState::Terminated {
            started_at,
            finished_at,
            ..
        } = cs(&lc, 0).state
        else {
            panic!("not terminated")
        };
        assert_eq!((started_at.0, finished_at.0), (0, 7));
    }
}

/// Crashes the running container after `ran_ms`; returns the wait until its restart.
fn crash_after(lc: &mut Lifecycle, t: &mut u64, ran_ms: u64) -> u64 {
    *t += ran_ms;
    let actions = lc.step(exited(0, 1), at(*t));
    let wait = if actions.contains(&start(0)) {
        0
    } else {
        let due = lc.next_deadline().expect("a restart is due");
        assert_eq!(state(lc, 0), "W:CrashLoopBackOff");
        assert!(
            lc.step(TIMER, at(due - 1)).is_empty(),
            "nothing before the delay"
        );
        assert!(lc.step(TIMER, at(due)).contains(&start(0)));
        due - *t
    };
    *t += wait;
    lc.step(started(0), at(*t));
    wait
}

#[test]
fn crash_loop_back_off_doubles_to_the_cap() {
    let mut lc = running_one(RestartPolicy::Always, ctr("c"));
    let mut t = 0;
    let waits: Vec<u64> = (0..8)
        .map(|_| crash_after(&mut lc, &mut t, 1_000))
        .collect();
    assert_eq!(
        waits,
        [0, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000]
    );
    assert_eq!(cs(&lc, 0).restart_count, 8);
    assert_eq!(phase(&lc), PodPhase::Running);
}

#[test]
fn crash_loop_message_is_the_kubelets() {
    let mut lc = running_one(RestartPolicy::Always, ctr("c"));
    let mut t = 0;
    crash_after(&mut lc, &mut t, 1_000);
    crash_after(&mut lc, &mut t, 1_000);
    lc.step(exited(0, 1), at(t + 1_000));
    assert_eq!(state(&lc, 0), "W:CrashLoopBackOff");
    assert_eq!(
        waiting_message(&lc, 0).as_deref(),
        Some("back-off 20s restarting failed container=c pod=p_default(u1)")
    );
    assert_eq!(
        cs(&lc, 0).last_state.as_ref().map(word).as_deref(),
        Some("T:1:Error")
    );
    // Go's duration spelling for the longer delays.
    let table = [
        (10_000, "10s"),
        (80_000, "1m20s"),
        (160_000, "2m40s"),
        (300_000, "5m0s"),
        (1_500, "1.5s"),
        (500, "500ms"),
        (3_600_000, "1h0m0s"),
    ];
    for (ms, want) in table {
        assert_eq!(super::super::backoff::go_duration(ms), want);
    }
}

#[test]
fn back_off_resets_after_ten_minutes_of_running() {
    // (how long the third run lasted) -> wait before the third restart
    let table = [(599_999, 20_000), (600_000, 0), (3_600_000, 0)];
    for (ran, want) in table {
        let mut lc = running_one(RestartPolicy::Always, ctr("c"));
        let mut t = 0;
        assert_eq!(crash_after(&mut lc, &mut t, 1_000), 0);
        assert_eq!(crash_after(&mut lc, &mut t, 1_000), 10_000);
        assert_eq!(crash_after(&mut lc, &mut t, ran), want, "ran {ran} ms");
        // After a reset the sequence starts over: the next crash waits the base.
        if want == 0 {
            assert_eq!(crash_after(&mut lc, &mut t, 1_000), 10_000);
        }
    }
}

#[test]
fn back_off_base_and_cap_come_from_config() {
    let config = Config {
        backoff_base_ms: 1_000,
        backoff_cap_ms: 3_000,
        ..Config::default()
    };
    let mut lc = Lifecycle::new(
        &pod(RestartPolicy::Always, vec![], vec![ctr("c")]),
        SpecHash::default(),
        config,
        at(0),
    );
    run(
        &mut lc,
        vec![(0, Event::Start, vec![start(0)]), (0, started(0), vec![])],
    );
    let mut t = 0;
    let waits: Vec<u64> = (0..5).map(|_| crash_after(&mut lc, &mut t, 10)).collect();
    assert_eq!(waits, [0, 1_000, 2_000, 3_000, 3_000]);
}

#[test]
fn restart_count_only_grows() {
    let mut lc = running_one(RestartPolicy::Always, ctr("c"));
    let mut counts = vec![cs(&lc, 0).restart_count];
    let mut t = 0;
    for _ in 0..4 {
        t += 1_000;
        lc.step(exited(0, 2), at(t));
        counts.push(cs(&lc, 0).restart_count);
        if let Some(due) = lc.next_deadline() {
            t = due;
            lc.step(TIMER, at(t));
        }
        // A failed create is not a restart.
        let failed = Event::ContainerStartFailed {
            id: 0,
            reason: Reason::CreateContainerError,
            message: "no such file".into(),
        };
        lc.step(failed, at(t));
        counts.push(cs(&lc, 0).restart_count);
        t += 10_000;
        lc.step(TIMER, at(t));
        lc.step(started(0), at(t));
        counts.push(cs(&lc, 0).restart_count);
    }
    assert_eq!(counts, [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4]);
}

#[test]
fn start_failures() {
    // (reason) -> (state after, actions at the retry time, restart count after the retry)
    let table = [
        (
            Reason::CreateContainerError,
            "W:CreateContainerError",
            10_000,
            vec![start(0)],
        ),
        (
            Reason::CreateContainerConfigError,
            "W:CreateContainerConfigError",
            10_000,
            vec![start(0)],
        ),
        (Reason::StartError, "W:ContainerCreating", 0, vec![]),
    ];
    for (reason, want_state, retry, later) in table {
        let mut lc = machine(&pod(RestartPolicy::Always, vec![], vec![ctr("c")]));
        lc.step(Event::Start, at(0));
        let ev = Event::ContainerStartFailed {
            id: 0,
            reason: reason.clone(),
            message: "exec: not found".into(),
        };
        let actions: Vec<Action> = lc
            .step(ev, at(0))
            .into_iter()
            .filter(|a| *a != Action::StatusChanged)
            .collect();
        // StartError counts as a run that failed: restarted at once (first restart).
        let immediate = retry == 0;
        assert_eq!(actions.contains(&start(0)), immediate, "{reason}");
        assert_eq!(state(&lc, 0), want_state, "{reason}");
        if !immediate {
            assert_eq!(waiting_message(&lc, 0).as_deref(), Some("exec: not found"));
            assert_eq!(lc.next_deadline(), Some(retry), "{reason}");
            run(&mut lc, vec![(retry, TIMER, later)]);
        } else {
            assert_eq!(
                cs(&lc, 0).last_state.as_ref().map(word).as_deref(),
                Some("T:128:StartError")
            );
        }
    }
}

#[test]
fn termination_message_is_asked_for_and_recorded() {
    use TerminationMessagePolicy::{FallbackToLogsOnError, File};
    // (policy, exit code, restart policy) -> fallback_to_logs
    let table = [
        (File, 3, RestartPolicy::Never, false),
        (FallbackToLogsOnError, 3, RestartPolicy::Never, true),
        (FallbackToLogsOnError, 0, RestartPolicy::Never, false),
        (FallbackToLogsOnError, 3, RestartPolicy::Always, true),
    ];
    for (tm_policy, code, policy, fallback) in table {
        let mut c = ctr("c");
        c.termination_message = Some(TerminationMessage {
            path: Text::try_from("/dev/termination-log").unwrap(),
            policy: tm_policy,
        });
        let mut lc = running_one(policy, c);
        let actions = lc.step(exited(0, code), at(1_000));
        assert_eq!(
            actions[0],
            Action::ReadTerminationMessage {
                id: 0,
                fallback_to_logs: fallback
            }
        );
        lc.step(
            Event::TerminationMessage {
                id: 0,
                message: "bye".into(),
            },
            at(1_000),
        );
        let s = cs(&lc, 0);
        let record = match policy {
            RestartPolicy::Never => s.state,
            RestartPolicy::Always | RestartPolicy::OnFailure => s.last_state.unwrap(),
        };
        let ContainerState::Terminated { message, .. } = record else {
            panic!("not terminated")
        };
        assert_eq!(message.as_deref(), Some("bye"));
    }
}

#[test]
fn a_resumed_pod_keeps_its_restart_counts_and_counts_the_new_start() {
    let spec = pod(RestartPolicy::Always, vec![], vec![ctr("a"), ctr("b")]);
    // The pod a dead shim ran: "a" restarted twice and runs, "b" never started.
    let mut old = machine(&spec);
    run(
        &mut old,
        vec![
            (0, Event::Start, vec![start(0), start(1)]),
            (0, started(0), vec![]),
        ],
    );
    let mut t = 0;
    crash_after(&mut old, &mut t, 20_000);
    crash_after(&mut old, &mut t, 20_000);
    assert_eq!(cs(&old, 0).restart_count, 2);
    let previous = old.status();

    let mut lc = machine(&spec);
    lc.resume(&previous);
    assert_eq!(cs(&lc, 0).restart_count, 2, "shown before the first step");
    run(
        &mut lc,
        vec![
            (0, Event::Start, vec![start(0), start(1)]),
            (0, started(0), vec![]),
            (0, started(1), vec![]),
        ],
    );
    assert_eq!(cs(&lc, 0).restart_count, 3, "the new start is a restart");
    assert_eq!(cs(&lc, 1).restart_count, 0, "b had never run");

    // A status of another spec carries nothing over.
    let mut other = Lifecycle::new(&spec, SpecHash([7; 8]), Config::default(), at(0));
    other.resume(&previous);
    assert_eq!(cs(&other, 0).restart_count, 0);
}
