//! The reconciler over a temp-dir store and an in-memory runtime.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::*;
use crate::spec::bounded::name;
use crate::spec::manifest::read::read_pod;
use crate::spec::{Index, SpecHash};

/// Pods "run" as entries of a map; `fail` makes `apply` fail for one pod name.
#[derive(Default)]
struct MemRuntime {
    pods: BTreeMap<String, SpecHash>,
    applied: usize,
    fail: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("no such image")]
struct MemError;

impl PodRuntime for MemRuntime {
    type Error = MemError;
    fn apply(&mut self, pod: &Pod) -> Result<(), MemError> {
        if self.fail.as_deref() == Some(pod.name.as_str()) {
            return Err(MemError);
        }
        self.applied += 1;
        self.pods
            .insert(pod.name.to_string(), SpecHash::of_pod(pod));
        Ok(())
    }
    fn remove(&mut self, name: &str) -> Result<(), MemError> {
        self.pods.remove(name);
        Ok(())
    }
    fn refuse(&mut self, _name: &str, _why: &str) {}
}

fn pod(name: &str, v: u8) -> Pod {
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\n\
         spec: {{containers: [{{name: c, image: 'img:{v}'}}]}}\n"
    );
    read_pod(&yaml).unwrap().pod
}

fn root(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pealet-rec-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn index(pods: &[&Pod]) -> Index {
    let mut ix = Index::default();
    for p in pods {
        ix.insert(name(&p.name).unwrap(), SpecHash::of_pod(p))
            .unwrap();
    }
    ix
}

fn names(r: &MemRuntime) -> Vec<&str> {
    r.pods.keys().map(String::as_str).collect()
}

#[test]
fn desired_state_survives_a_restart_without_broker() {
    let dir = root("restart");
    let store = Store::open(&dir).unwrap();
    let (mut r, events) = Reconciler::start(store.clone(), MemRuntime::default(), Time(1));
    assert!(events.is_empty());
    let (a, b) = (pod("a", 1), pod("b", 1));
    for p in [&a, &b] {
        let update = Update::Pod {
            name: p.name.to_string(),
            pod: Ok(Box::new(p.clone())),
        };
        assert!(r.handle(update, Time(2)).is_empty());
    }
    r.handle(Update::Index(Ok(index(&[&a, &b]))), Time(3));
    assert_eq!(names(r.runtime()), ["a", "b"]);
    // Deleted through the index, then the "device reboots".
    r.handle(Update::Index(Ok(index(&[&a]))), Time(4));
    assert_eq!(names(r.runtime()), ["a"]);
    let (r, events) = Reconciler::start(store, MemRuntime::default(), Time(5));
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(names(r.runtime()), ["a"]);
    assert_eq!(r.desired().index(), Some(&index(&[&a])));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn failures_and_refusals_become_warning_events() {
    let dir = root("fail");
    let store = Store::open(&dir).unwrap();
    let runtime = MemRuntime {
        fail: Some("bad".into()),
        ..MemRuntime::default()
    };
    let (mut r, _) = Reconciler::start(store.clone(), runtime, Time(1));
    let events = r.handle(
        Update::Pod {
            name: "bad".into(),
            pod: Ok(Box::new(pod("bad", 1))),
        },
        Time(7),
    );
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventType::Warning);
    assert_eq!(&*events[0].reason, "FailedStart");
    assert_eq!(events[0].pod.as_deref(), Some("bad"));
    assert_eq!(&*events[0].message, "start pod bad: no such image");
    assert_eq!(events[0].time, Time(7));
    // The spec is stored even so: the next start tries again.
    assert_eq!(store.load().pods.len(), 1);
    let events = r.handle(
        Update::Pod {
            name: "x".into(),
            pod: Err(crate::spec::DecodeError::Empty),
        },
        Time(8),
    );
    assert_eq!(&*events[0].reason, "Refused");
    assert_eq!(&*events[0].message, "empty payload");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unchanged_spec_is_not_applied_again() {
    let dir = root("same");
    let (mut r, _) = Reconciler::start(Store::open(&dir).unwrap(), MemRuntime::default(), Time(1));
    let update = || Update::Pod {
        name: "a".into(),
        pod: Ok(Box::new(pod("a", 1))),
    };
    r.handle(update(), Time(2));
    r.handle(update(), Time(3));
    assert_eq!(r.runtime().applied, 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn events_cut_long_text_to_its_bounds() {
    let long = "é".repeat(20_000);
    let e = event(
        EventType::Normal,
        &long,
        Some("a".into()),
        long.clone(),
        Time(0),
    );
    assert!(e.reason.len() <= crate::spec::bounded::MAX_SHORT && !e.reason.is_empty());
    assert!(e.message.len() <= crate::spec::bounded::MAX_TEXT && !e.message.is_empty());
}

#[test]
fn a_change_that_cannot_be_stored_waits_and_is_made_once_it_is() {
    let dir = root("unstored");
    let (mut r, _) = Reconciler::start(Store::open(&dir).unwrap(), MemRuntime::default(), Time(1));
    let put = |p: &Pod| Update::Pod {
        name: p.name.to_string(),
        pod: Ok(Box::new(p.clone())),
    };
    let (a, b, b2) = (pod("a", 1), pod("b", 1), pod("b", 2));
    // The desired directory is a file now: every write fails.
    std::fs::remove_dir_all(dir.join("desired")).unwrap();
    std::fs::write(dir.join("desired"), b"").unwrap();
    let events = r.handle(put(&a), Time(2));
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(&*events[0].reason, "FailedStore");
    assert!(names(r.runtime()).is_empty(), "acted on though not stored");
    assert!(r.store_failure().is_some());
    let first = r.retry_due().expect("a retry is due");
    // More changes wait behind it, the newest of a pod replacing the older one; one
    // Warning for the whole outage.
    assert!(r.handle(put(&b), Time(3)).is_empty());
    assert!(r.handle(put(&b2), Time(4)).is_empty());
    assert!(r.retry(Time(5)).is_empty());
    assert!(r.retry_due().unwrap() > first, "back-off");
    assert!(names(r.runtime()).is_empty());
    // Writable again: stored, then made, in order.
    std::fs::remove_file(dir.join("desired")).unwrap();
    std::fs::create_dir(dir.join("desired")).unwrap();
    let events = r.retry(Time(6));
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(&*events[0].reason, "Stored");
    assert_eq!(names(r.runtime()), ["a", "b"]);
    assert_eq!(r.runtime().pods["b"], SpecHash::of_pod(&b2));
    assert_eq!(r.runtime().applied, 2);
    assert!(r.store_failure().is_none() && r.retry_due().is_none());
    let stored = Store::open(&dir).unwrap().load();
    assert_eq!(stored.pods.keys().collect::<Vec<_>>(), ["a", "b"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_removal_begun_by_an_earlier_run_is_finished() {
    let dir = root("removal");
    let store = Store::open(&dir).unwrap();
    let (mut r, _) = Reconciler::start(store.clone(), MemRuntime::default(), Time(1));
    let a = pod("a", 1);
    r.handle(
        Update::Pod {
            name: "a".into(),
            pod: Ok(Box::new(a.clone())),
        },
        Time(2),
    );
    // The deletion is recorded, then the agent "crashes" before the pod is gone.
    store.begin_removal("a").unwrap();
    let runtime = MemRuntime {
        pods: [("a".to_owned(), SpecHash::of_pod(&a))].into(),
        ..MemRuntime::default()
    };
    let (mut r, events) = Reconciler::start(store.clone(), runtime, Time(3));
    assert!(events.is_empty(), "{events:?}");
    assert!(names(r.runtime()).is_empty());
    r.removed("a");
    assert!(store.load().removing.is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}
