//! Image pulls: imagePullPolicy, ErrImagePull then ImagePullBackOff with the image
//! back-off, the offline-first start from a local copy, and the imageID.

use super::*;
use crate::spec::Digest;

fn with_policy(policy: PullPolicy) -> Container {
    Container {
        image_pull_policy: policy,
        ..ctr("c")
    }
}

fn one(policy: PullPolicy) -> Lifecycle {
    machine(&pod(
        RestartPolicy::Always,
        vec![],
        vec![with_policy(policy)],
    ))
}

fn pull(id: usize) -> Action {
    Action::PullImage { id }
}
fn missing(id: usize) -> Event {
    Event::ImageMissing {
        id,
        message: "no image docker.io/library/busybox:latest".into(),
    }
}
fn pulled(id: usize) -> Event {
    Event::ImagePulled {
        id,
        size: Some(1234),
    }
}
fn pull_failed(id: usize, present: bool) -> Event {
    Event::ImagePullFailed {
        id,
        message: "manifest unknown".into(),
        present,
    }
}

const BACK_OFF: &str = "Back-off pulling image \"busybox\"";

#[test]
fn each_pull_policy_pulls_when_it_should() {
    // Always pulls before the start; IfNotPresent only when the start finds no image.
    let mut lc = one(PullPolicy::Always);
    run(
        &mut lc,
        vec![
            (0, Event::Start, vec![pull(0)]),
            (900, pulled(0), vec![start(0)]),
            (1000, started(0), vec![]),
        ],
    );
    assert_eq!(state(&lc, 0), "R");
    // It pulls again before each restart.
    run(&mut lc, vec![(2000, exited(0, 1), vec![read(0), pull(0)])]);
    let mut lc = one(PullPolicy::IfNotPresent);
    run(
        &mut lc,
        vec![(0, Event::Start, vec![start(0)]), (10, started(0), vec![])],
    );
    assert_eq!(state(&lc, 0), "R");
    let mut lc = one(PullPolicy::IfNotPresent);
    run(
        &mut lc,
        vec![
            (0, Event::Start, vec![start(0)]),
            (1, missing(0), vec![pull(0)]),
        ],
    );
    assert_eq!(state(&lc, 0), "W:ContainerCreating");
    assert_eq!(phase(&lc), PodPhase::Pending);
    run(
        &mut lc,
        vec![(500, pulled(0), vec![start(0)]), (600, started(0), vec![])],
    );
    assert_eq!(state(&lc, 0), "R");
}

#[test]
fn never_does_not_pull_and_retries_after_the_base() {
    let mut lc = one(PullPolicy::Never);
    run(
        &mut lc,
        vec![(0, Event::Start, vec![start(0)]), (1, missing(0), vec![])],
    );
    assert_eq!(state(&lc, 0), "W:ErrImageNeverPull");
    assert_eq!(
        waiting_message(&lc, 0).as_deref(),
        Some("Container image \"busybox\" is not present with pull policy of Never")
    );
    assert_eq!(lc.next_deadline(), Some(10_001));
    run(&mut lc, vec![(10_001, TIMER, vec![start(0)])]);
    assert_eq!(phase(&lc), PodPhase::Pending);
}

#[test]
fn failed_pulls_show_err_image_pull_then_back_off_doubling_to_the_cap() {
    let mut lc = one(PullPolicy::IfNotPresent);
    run(&mut lc, vec![(0, Event::Start, vec![start(0)])]);
    // (delay after this failure); 10 s doubling, capped at 300 s.
    let delays = [10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000];
    let mut t = 0;
    for (i, delay) in delays.into_iter().enumerate() {
        let label = format!("failure {}", i + 1);
        run(
            &mut lc,
            vec![
                (t, missing(0), vec![pull(0)]),
                (t + 100, pull_failed(0, false), vec![]),
            ],
        );
        t += 100;
        assert_eq!(state(&lc, 0), "W:ErrImagePull", "{label}");
        assert_eq!(waiting_message(&lc, 0).as_deref(), Some("manifest unknown"));
        assert_eq!(phase(&lc), PodPhase::Pending, "{label}");
        // Half the base later, the kubelet's next sync would say back-off.
        assert_eq!(lc.next_deadline(), Some(t + 5_000), "{label}");
        run(&mut lc, vec![(t + 5_000, TIMER, vec![])]);
        assert_eq!(state(&lc, 0), "W:ImagePullBackOff", "{label}");
        assert_eq!(waiting_message(&lc, 0).as_deref(), Some(BACK_OFF));
        assert_eq!(lc.next_deadline(), Some(t + delay), "{label}");
        run(&mut lc, vec![(t + delay, TIMER, vec![start(0)])]);
        t += delay;
        assert_eq!(cs(&lc, 0).restart_count, 0, "{label}");
    }
    // A pull that works resets the back-off.
    run(
        &mut lc,
        vec![
            (t, missing(0), vec![pull(0)]),
            (t + 1, pulled(0), vec![start(0)]),
            (t + 2, started(0), vec![]),
        ],
    );
    assert_eq!(phase(&lc), PodPhase::Running);
}

#[test]
fn the_back_off_follows_the_configured_base_and_cap() {
    let config = Config {
        backoff_base_ms: 1_000,
        backoff_cap_ms: 3_000,
        ..Config::default()
    };
    let p = pod(
        RestartPolicy::Always,
        vec![],
        vec![with_policy(PullPolicy::Always)],
    );
    let mut lc = Lifecycle::new(&p, SpecHash::default(), config, at(0));
    run(&mut lc, vec![(0, Event::Start, vec![pull(0)])]);
    let mut t = 0;
    for delay in [1_000, 2_000, 3_000, 3_000] {
        run(&mut lc, vec![(t, pull_failed(0, false), vec![])]);
        assert_eq!(lc.next_deadline(), Some(t + 500));
        run(&mut lc, vec![(t + 500, TIMER, vec![])]);
        assert_eq!(state(&lc, 0), "W:ImagePullBackOff");
        run(&mut lc, vec![(t + delay, TIMER, vec![pull(0)])]);
        t += delay;
    }
}

#[test]
fn offline_first_a_failed_pull_starts_the_local_copy() {
    // Always, the registry unreachable, the image in the store: start with it.
    let mut lc = one(PullPolicy::Always);
    run(
        &mut lc,
        vec![
            (0, Event::Start, vec![pull(0)]),
            (30_000, pull_failed(0, true), vec![start(0)]),
            (30_100, started(0), vec![]),
        ],
    );
    assert_eq!(state(&lc, 0), "R");
    // Without a copy it waits like any failed pull.
    let mut lc = one(PullPolicy::Always);
    run(
        &mut lc,
        vec![
            (0, Event::Start, vec![pull(0)]),
            (30_000, pull_failed(0, false), vec![]),
        ],
    );
    assert_eq!(state(&lc, 0), "W:ErrImagePull");
}

#[test]
fn an_image_still_missing_after_its_pull_is_a_failed_pull() {
    let mut lc = one(PullPolicy::IfNotPresent);
    run(
        &mut lc,
        vec![
            (0, Event::Start, vec![start(0)]),
            (1, missing(0), vec![pull(0)]),
            (2, pulled(0), vec![start(0)]),
            (3, missing(0), vec![]),
        ],
    );
    assert_eq!(state(&lc, 0), "W:ErrImagePull");
    assert_eq!(lc.next_deadline(), Some(5_003));
}

#[test]
fn the_image_id_is_the_resolved_digest() {
    let mut lc = one(PullPolicy::IfNotPresent);
    assert_eq!(cs(&lc, 0).image_id, None);
    let digest = Digest([7; 32]);
    run(
        &mut lc,
        vec![
            (0, Event::Start, vec![start(0)]),
            (1, Event::ImageResolved { id: 0, digest }, vec![]),
            (1, started(0), vec![]),
        ],
    );
    assert_eq!(cs(&lc, 0).image_id, Some(digest));
}

#[test]
fn a_pod_stopped_while_pulling_does_not_start_afterwards() {
    let mut lc = one(PullPolicy::Always);
    run(
        &mut lc,
        vec![
            (0, Event::Start, vec![pull(0)]),
            (100, stop(None), vec![DONE]),
            (200, pulled(0), vec![]),
            (300, pull_failed(0, false), vec![]),
        ],
    );
    assert_eq!(phase(&lc), PodPhase::Failed);
    assert_eq!(state(&lc, 0), "W:ContainerCreating");
}

#[test]
fn init_containers_pull_in_their_turn() {
    let init = Container {
        image_pull_policy: PullPolicy::Always,
        ..ctr("i")
    };
    let mut lc = machine(&pod(RestartPolicy::Always, vec![init], vec![ctr("c")]));
    run(
        &mut lc,
        vec![
            (0, Event::Start, vec![pull(0)]),
            (1, pull_failed(0, false), vec![]),
        ],
    );
    assert_eq!(state(&lc, 0), "W:ErrImagePull");
    assert_eq!(state(&lc, 1), "W:PodInitializing");
    run(
        &mut lc,
        vec![
            (10_001, TIMER, vec![pull(0)]),
            (10_002, pulled(0), vec![start(0)]),
            (10_003, started(0), vec![]),
            (10_004, exited(0, 0), vec![read(0), start(1)]),
        ],
    );
}

fn progress(id: usize, done: u64, total: u64) -> Event {
    Event::ImagePullProgress { id, done, total }
}

#[test]
fn a_pull_shows_its_progress_at_most_every_two_seconds() {
    let mut lc = one(PullPolicy::Always);
    run(&mut lc, vec![(0, Event::Start, vec![pull(0)])]);
    assert_eq!(state(&lc, 0), "W:ContainerCreating");
    let msg = |lc: &Lifecycle| waiting_message(lc, 0).unwrap_or_default();
    assert_eq!(msg(&lc), "Pulling image \"busybox\"");
    // (time, done, total, message after it)
    let steps: [(u64, u64, u64, &str); 6] = [
        (1000, 12_345_678, 50_000_000, ": 12.3 MB of 50.0 MB"),
        (2000, 20_000_000, 50_000_000, ": 12.3 MB of 50.0 MB"),
        (2999, 25_000_000, 50_000_000, ": 12.3 MB of 50.0 MB"),
        (3000, 30_000_000, 50_000_000, ": 30.0 MB of 50.0 MB"),
        (5500, 999, 1_500, ": 999 B of 1.5 kB"),
        // Bad input is clamped, never shown past the total.
        (8000, 9_000, 1_500, ": 1.5 kB of 1.5 kB"),
    ];
    for (t, done, total, want) in steps {
        let out = lc.step(progress(0, done, total), at(t));
        assert_eq!(
            msg(&lc),
            format!("Pulling image \"busybox\"{want}"),
            "at {t}"
        );
        // A status update only when the message changed.
        let changed = out.contains(&Action::StatusChanged);
        assert_eq!(changed, t != 2000 && t != 2999, "at {t}");
    }
    // Done: the progress goes with the pull; the next pull starts without it.
    run(
        &mut lc,
        vec![
            (9000, pulled(0), vec![start(0)]),
            (9100, started(0), vec![]),
        ],
    );
    assert_eq!(state(&lc, 0), "R");
    run(&mut lc, vec![(9500, exited(0, 1), vec![read(0), pull(0)])]);
    assert_eq!(msg(&lc), "Pulling image \"busybox\"");
    // Progress for a container that does not pull is ignored.
    let mut lc = one(PullPolicy::IfNotPresent);
    run(&mut lc, vec![(0, Event::Start, vec![start(0)])]);
    let out = lc.step(progress(0, 1, 2), at(10));
    assert!(!out.contains(&Action::StatusChanged));
    assert_eq!(waiting_message(&lc, 0), None);
}
