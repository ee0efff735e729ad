//! The per-pod record's transitions as tables, without I/O.

use super::*;
use crate::spec::manifest::read::read_pod;

fn pod(name: &str, v: u8) -> Pod {
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\n\
         spec: {{containers: [{{name: c, image: 'img:{v}'}}]}}\n"
    );
    read_pod(&yaml).unwrap().pod
}

fn refusal(reason: Reason) -> Refusal {
    Refusal {
        reason,
        message: "no room".into(),
    }
}

fn running(p: &Pod) -> PodStatus {
    PodStatus {
        spec_hash: SpecHash::of_pod(p),
        phase: PodPhase::Running,
        start_time: Time(10),
        conditions: Default::default(),
        reason: None,
        message: None,
        pod_ip: None,
        host_ip: None,
        init_container_statuses: Default::default(),
        container_statuses: Default::default(),
    }
}

const NOTHING: Existing = Existing {
    hash: None,
    adoptable: false,
};

/// The work as one word.
fn work<J>(r: &PodRecord<J>) -> &'static str {
    match r.work {
        Work::Steady => "steady",
        Work::Starting(_) => "starting",
        Work::Replacing(_) => "replacing",
        Work::Stopping(_) => "stopping",
        Work::Refused => "refused",
    }
}

#[test]
fn start_run_replace_and_remove() {
    let mut r: PodRecord<u8> = PodRecord::default();
    let (a1, a2) = (pod("a", 1), pod("a", 2));
    let p = r.place(&a1, Ok(()), NOTHING, Time(1));
    assert_eq!(
        p,
        Placement::Start {
            replacing: false,
            previous: None
        }
    );
    r.starting(1, false);
    assert_eq!((work(&r), r.runs(), r.busy()), ("starting", true, true));
    assert_eq!(r.status(), None, "nothing to show before the shim speaks");
    assert_eq!(r.finished(Ok(()), Time(2)), Done::Started);
    r.set_status(running(&a1));
    assert_eq!(r.to_publish().map(|s| s.phase), Some(PodPhase::Running));
    assert_eq!(r.to_publish(), None, "published once");
    // A new spec while the first one runs: replaced.
    let existing = Existing {
        hash: Some(SpecHash::of_pod(&a1)),
        adoptable: true,
    };
    let p = r.place(&a2, Ok(()), existing, Time(3));
    assert_eq!(
        p,
        Placement::Start {
            replacing: true,
            previous: None
        }
    );
    r.starting(2, true);
    assert_eq!(r.place(&a2, Ok(()), existing, Time(3)), Placement::Keep);
    // The old spec's status no longer shows.
    r.set_status(running(&a1));
    assert_eq!(r.status(), None);
    // Removed while the replacement runs: the stop comes after it.
    assert_eq!(r.remove(), Removal::Stop { previous: Some(2) });
    r.stopping(3);
    assert!(!r.runs() && r.busy());
    assert_eq!(r.remove(), Removal::Already);
    assert_eq!(r.finished(Ok(()), Time(4)), Done::Removed);
}

#[test]
fn adopting_a_shim_that_runs_the_same_spec() {
    let mut r: PodRecord<u8> = PodRecord::default();
    let a = pod("a", 1);
    let existing = Existing {
        hash: Some(SpecHash::of_pod(&a)),
        adoptable: true,
    };
    assert_eq!(r.place(&a, Ok(()), existing, Time(1)), Placement::Adopt);
    assert_eq!(work(&r), "steady");
    // The same spec but nothing to adopt (the shim died): started again.
    let mut r: PodRecord<u8> = PodRecord::default();
    let dead = Existing {
        adoptable: false,
        ..existing
    };
    assert!(matches!(
        r.place(&a, Ok(()), dead, Time(1)),
        Placement::Start {
            replacing: true,
            ..
        }
    ));
}

#[test]
fn a_refused_spec_is_a_state_with_a_stable_status() {
    let mut r: PodRecord<u8> = PodRecord::default();
    let big = pod("big", 1);
    let why = refusal(Reason::OutOfMemory);
    assert_eq!(
        r.place(&big, Err(why.clone()), NOTHING, Time(5)),
        Placement::Refused
    );
    assert_eq!((work(&r), r.runs()), ("refused", false));
    let st = r.to_publish().unwrap();
    assert_eq!(
        (st.phase, st.reason, st.spec_hash, st.start_time),
        (
            PodPhase::Failed,
            Some(Reason::OutOfMemory),
            SpecHash::of_pod(&big),
            Time(5)
        )
    );
    // The same refusal later: the same status, not published again.
    r.place(&big, Err(why), NOTHING, Time(9));
    assert_eq!(r.to_publish(), None);
    // Removing a refused pod only clears its status.
    assert_eq!(r.remove(), Removal::Clear);
}

#[test]
fn a_refused_newer_spec_leaves_the_old_one_running_with_a_note() {
    let mut r: PodRecord<u8> = PodRecord::default();
    let (a1, a2) = (pod("a", 1), pod("a", 2));
    r.place(&a1, Ok(()), NOTHING, Time(1));
    r.starting(1, false);
    r.finished(Ok(()), Time(1));
    r.set_status(running(&a1));
    let why = refusal(Reason::Other("Refused".try_into().unwrap()));
    r.refuse(SpecHash::of_pod(&a2), why, Time(2));
    assert_eq!(work(&r), "steady");
    let st = r.status().unwrap();
    assert_eq!(st.phase, PodPhase::Running);
    assert_eq!(
        st.message.as_deref(),
        Some("newest spec not applied: Refused: no room")
    );
    // A good spec again: the note goes.
    r.place(&a1, Ok(()), NOTHING, Time(3));
    r.set_status(running(&a1));
    assert_eq!(r.status().unwrap().message, None);
}

#[test]
fn a_failed_start_and_a_lost_shim() {
    let mut r: PodRecord<u8> = PodRecord::default();
    let a = pod("a", 1);
    r.place(&a, Ok(()), NOTHING, Time(1));
    r.starting(1, false);
    assert_eq!(
        r.finished(Err("no shim".into()), Time(2)),
        Done::StartFailed
    );
    let st = r.status().unwrap();
    assert_eq!(
        (st.phase, st.reason.map(|r| r.as_str().to_owned())),
        (PodPhase::Failed, Some("FailedStart".to_owned()))
    );
    // A shim that goes away while its pod runs: Unknown, not Running forever.
    let mut r: PodRecord<u8> = PodRecord::default();
    r.place(&a, Ok(()), NOTHING, Time(1));
    r.starting(1, false);
    r.finished(Ok(()), Time(1));
    r.set_status(running(&a));
    assert!(r.shim_gone());
    assert_eq!(r.status().unwrap().phase, PodPhase::Unknown);
    // One that ends with its pod is no surprise.
    let mut done = running(&a);
    done.phase = PodPhase::Succeeded;
    r.set_status(done);
    assert!(!r.shim_gone());
    assert_eq!(r.status().unwrap().phase, PodPhase::Succeeded);
}

#[test]
fn a_lost_shim_is_repaired_and_unknown_until_the_new_one_tells() {
    let mut r: PodRecord<u8> = PodRecord::default();
    let a = pod("a", 1);
    r.place(&a, Ok(()), NOTHING, Time(1));
    r.starting(1, false);
    r.finished(Ok(()), Time(1));
    r.set_status(running(&a));
    assert!(r.shim_gone());
    r.repairing(2);
    assert_eq!(work(&r), "replacing");
    assert_eq!(r.status().unwrap().phase, PodPhase::Unknown);
    // The new shim is up: still Unknown until its first status.
    assert_eq!(r.finished(Ok(()), Time(2)), Done::Started);
    assert_eq!(r.status().unwrap().phase, PodPhase::Unknown);
    r.set_status(running(&a));
    assert_eq!(r.status().unwrap().phase, PodPhase::Running);
    // A new shim that fails to start: Unknown stays, with why.
    assert!(r.shim_gone());
    r.repairing(3);
    r.finished(Err("no shim".into()), Time(3));
    assert_eq!(r.status().unwrap().phase, PodPhase::Unknown);
}
