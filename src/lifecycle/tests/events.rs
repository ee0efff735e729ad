//! The Events the lifecycle records, as tables of (time, event) -> Events
//! (`Type:Reason:container:message`): pulls however short, starts, crash loops, probe
//! failures (not the steady ones), hooks and stops.

use super::*;

fn pulled(id: usize, ms: u64) -> (u64, Event) {
    (
        ms,
        Event::ImagePulled {
            id,
            size: Some(1234),
        },
    )
}

/// One row: at `ms`, `event` records exactly `want`.
type EventRow = (u64, Event, Vec<&'static str>);

fn record(lc: &mut Lifecycle, rows: Vec<EventRow>) {
    for (i, (ms, event, want)) in rows.into_iter().enumerate() {
        let label = format!("row {i}: {event:?} at {ms} ms");
        lc.step(event, at(ms));
        let (got, dropped) = lc.take_events();
        assert_eq!(dropped, 0, "{label}");
        let got: Vec<String> = got.iter().map(line).collect();
        assert_eq!(got, want, "{label}");
    }
}

fn line(e: &PodEvent) -> String {
    let c = e.container.as_deref().unwrap_or("");
    format!(
        "{}:{}:{c}:{}",
        e.kind.as_str(),
        e.reason.as_str(),
        e.message
    )
}

fn one(policy: PullPolicy, c: Container) -> Lifecycle {
    machine(&pod(
        RestartPolicy::Always,
        vec![],
        vec![Container {
            image_pull_policy: policy,
            ..c
        }],
    ))
}

#[test]
fn a_pull_however_short_records_pulling_and_pulled_then_the_start() {
    let mut lc = one(PullPolicy::Always, ctr("c"));
    let (ms, done) = pulled(0, 3);
    record(
        &mut lc,
        vec![
            (
                0,
                Event::Start,
                vec!["Normal:Pulling:c:Pulling image \"busybox\""],
            ),
            (
                ms,
                done,
                vec![
                    "Normal:Pulled:c:Successfully pulled image \"busybox\" in 0.003s. Image size: 1234 bytes.",
                ],
            ),
            (
                4,
                started(0),
                vec![
                    "Normal:Created:c:Created container: c",
                    "Normal:Started:c:Started container c",
                ],
            ),
        ],
    );
}

#[test]
fn a_long_pull_records_progress_every_ten_seconds() {
    let mut lc = one(PullPolicy::Always, ctr("c"));
    let progress = |ms: u64, done: u64| {
        let e = Event::ImagePullProgress {
            id: 0,
            done,
            total: 50_000_000,
        };
        (ms, e)
    };
    lc.step(Event::Start, at(0));
    lc.take_events();
    let mut got = Vec::new();
    for s in 1..=25 {
        let (ms, e) = progress(s * 1000, s * 1_000_000);
        lc.step(e, at(ms));
        got.extend(lc.take_events().0.iter().map(line));
    }
    assert_eq!(
        got,
        [
            "Normal:PullProgress:c:Pulling image \"busybox\": 10.0 MB of 50.0 MB",
            "Normal:PullProgress:c:Pulling image \"busybox\": 20.0 MB of 50.0 MB",
        ]
    );
}

#[test]
fn a_start_without_a_pull_and_a_crash_loop() {
    let mut lc = one(PullPolicy::IfNotPresent, ctr("c"));
    let present = "Normal:Pulled:c:Container image \"busybox\" already present on machine";
    let created = "Normal:Created:c:Created container: c";
    let started_ = "Normal:Started:c:Started container c";
    let back_off = "Warning:BackOff:c:Back-off restarting failed container c in pod p_default(u1)";
    record(
        &mut lc,
        vec![
            (0, Event::Start, vec![]),
            (1, started(0), vec![present, created, started_]),
            // The first restart is immediate, the second waits: BackOff.
            (100, exited(0, 1), vec![]),
            (101, started(0), vec![present, created, started_]),
            (200, exited(0, 1), vec![back_off]),
        ],
    );
}

#[test]
fn failed_pulls_and_their_back_off() {
    let mut lc = one(PullPolicy::Always, ctr("c"));
    let failed = Event::ImagePullFailed {
        id: 0,
        message: "manifest unknown".into(),
        present: false,
    };
    let offline = Event::ImagePullFailed {
        id: 0,
        message: "connection refused".into(),
        present: true,
    };
    record(
        &mut lc,
        vec![
            (
                0,
                Event::Start,
                vec!["Normal:Pulling:c:Pulling image \"busybox\""],
            ),
            (10, failed, vec!["Warning:Failed:c:manifest unknown"]),
            (
                5010,
                TIMER,
                vec!["Normal:BackOff:c:Back-off pulling image \"busybox\""],
            ),
            (
                10_010,
                TIMER,
                vec!["Normal:Pulling:c:Pulling image \"busybox\""],
            ),
            (
                10_020,
                offline,
                vec![
                    "Warning:Failed:c:connection refused (starting from the image in the local store)",
                ],
            ),
        ],
    );
    let mut never = one(PullPolicy::Never, ctr("c"));
    let missing = Event::ImageMissing {
        id: 0,
        message: "no image".into(),
    };
    record(
        &mut never,
        vec![
            (0, Event::Start, vec![]),
            (
                1,
                missing,
                vec![
                    "Warning:ErrImageNeverPull:c:Container image \"busybox\" is not present with pull policy of Never",
                ],
            ),
        ],
    );
}

#[test]
fn probe_failures_until_the_threshold_then_quiet() {
    let c = Container {
        liveness_probe: Some(probe(10, 1, 2)),
        readiness_probe: Some(probe(10, 1, 2)),
        ..ctr("c")
    };
    let mut lc = one(PullPolicy::IfNotPresent, c);
    lc.step(Event::Start, at(0));
    lc.step(started(0), at(0));
    lc.take_events();
    let ready_failed = "Warning:Unhealthy:c:Readiness probe failed: exit status 1";
    let live_failed = "Warning:Unhealthy:c:Liveness probe failed: exit status 1";
    let killing = "Normal:Killing:c:Container c failed liveness probe, will be restarted";
    let warned = Event::ProbeDone {
        id: 0,
        kind: ProbeKind::Readiness,
        success: true,
        message: Some("redirect to another host".into()),
    };
    let warning = "Warning:ProbeWarning:c:Readiness probe warning: redirect to another host";
    record(
        &mut lc,
        vec![
            (0, TIMER, vec![]),
            (
                1,
                probed(0, ProbeKind::Readiness, false),
                vec![ready_failed],
            ),
            (1, probed(0, ProbeKind::Liveness, true), vec![]),
            (10_000, TIMER, vec![]),
            (
                10_001,
                probed(0, ProbeKind::Readiness, false),
                vec![ready_failed],
            ),
            (
                10_001,
                probed(0, ProbeKind::Liveness, false),
                vec![live_failed],
            ),
            (20_000, TIMER, vec![]),
            // Readiness fails steadily: no more Events for it.
            (20_001, probed(0, ProbeKind::Readiness, false), vec![]),
            (
                20_001,
                probed(0, ProbeKind::Liveness, false),
                vec![live_failed, killing],
            ),
        ],
    );
    let mut lc = one(
        PullPolicy::IfNotPresent,
        Container {
            readiness_probe: Some(probe(10, 1, 2)),
            ..ctr("c")
        },
    );
    lc.step(Event::Start, at(0));
    lc.step(started(0), at(0));
    lc.step(TIMER, at(0));
    lc.take_events();
    record(
        &mut lc,
        vec![
            (1, warned.clone(), vec![warning]),
            (10_000, TIMER, vec![]),
            (10_001, warned, vec![]),
        ],
    );
}

#[test]
fn hooks_that_fail_and_a_stop() {
    use crate::spec::{Lifecycle as Hooks, LifecycleHandler};
    let hook = Some(LifecycleHandler::Sleep { seconds: 5 });
    let c = Container {
        lifecycle: Some(Hooks {
            post_start: hook.clone(),
            pre_stop: hook,
        }),
        ..ctr("c")
    };
    let mut lc = one(PullPolicy::IfNotPresent, c);
    lc.step(Event::Start, at(0));
    lc.step(started(0), at(0));
    lc.take_events();
    record(
        &mut lc,
        vec![
            (
                5,
                hooked(0, Hook::PostStart, false),
                vec![
                    "Warning:FailedPostStartHook:c:hook exited 1",
                    "Normal:Killing:c:Stopping container c",
                ],
            ),
            (
                6,
                hooked(0, Hook::PreStop, false),
                vec!["Warning:FailedPreStopHook:c:hook exited 1"],
            ),
        ],
    );
    let mut lc = running_one(RestartPolicy::Always, ctr("c"));
    lc.take_events();
    record(
        &mut lc,
        vec![(
            10,
            stop(None),
            vec!["Normal:Killing:c:Stopping container c"],
        )],
    );
}
