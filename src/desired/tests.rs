//! The rules of `desired` as tables: state before, messages in order, actions of each.

use super::*;
use crate::spec::bounded::name;
use crate::spec::manifest::read::read_pod;

/// Pod `name` at version `v` (its image tag).
fn pod(name: &str, v: u8) -> Pod {
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\n\
         spec: {{containers: [{{name: c, image: 'img:{v}'}}]}}\n"
    );
    read_pod(&yaml).unwrap().pod
}

fn hash(name: &str, v: u8) -> SpecHash {
    SpecHash::of_pod(&pod(name, v))
}

fn index(entries: &[(&str, u8)]) -> Index {
    let mut ix = Index::default();
    for (n, v) in entries {
        ix.insert(name(n).unwrap(), hash(n, *v)).unwrap();
    }
    ix
}

/// A message, as the table writes it.
enum M {
    /// `pods/<name>` with version v.
    P(&'static str, u8),
    /// Empty `pods/<name>`.
    D(&'static str),
    /// `index` listing (name, version).
    I(&'static [(&'static str, u8)]),
    /// `pods/<name>` that does not decode.
    Garbage(&'static str),
    /// `pods/<topic name>` holding a pod of another name.
    Misnamed(&'static str, &'static str),
    /// `pods/<name>` with no containers.
    Invalid(&'static str),
}

fn update(m: &M) -> Update {
    let s = |n: &str| n.to_string();
    match *m {
        M::P(n, v) => Update::Pod {
            name: s(n),
            pod: Ok(Box::new(pod(n, v))),
        },
        M::D(n) => Update::Deleted { name: s(n) },
        M::I(e) => Update::Index(Ok(index(e))),
        M::Garbage(n) => Update::Pod {
            name: s(n),
            pod: Err(DecodeError::Truncated("Pod")),
        },
        M::Misnamed(topic, n) => Update::Pod {
            name: s(topic),
            pod: Ok(Box::new(pod(n, 1))),
        },
        M::Invalid(n) => {
            let mut p = pod(n, 1);
            p.spec.containers = Default::default();
            Update::Pod {
                name: s(n),
                pod: Ok(Box::new(p)),
            }
        }
    }
}

/// Actions in short words: `run a@1`, `stop a`, `hold a@2`, `save`, `refuse a`.
fn words(actions: &[Action]) -> String {
    let version = |p: &Pod| {
        p.spec.containers[0]
            .image
            .trim_start_matches("img:")
            .to_owned()
    };
    let w: Vec<String> = actions
        .iter()
        .map(|a| match a {
            Action::Run(p) => format!("run {}@{}", p.name, version(p)),
            Action::Stop(n) => format!("stop {n}"),
            Action::SaveIndex(_) => "save".into(),
            Action::Hold { pod, hash: h } => {
                let v = (0..10).find(|v| hash(pod, *v) == *h).unwrap();
                format!("hold {pod}@{v}")
            }
            Action::Refuse { pod, .. } => format!("refuse {}", pod.as_deref().unwrap_or("-")),
        })
        .collect();
    w.join(", ")
}

struct Case {
    what: &'static str,
    /// Stored pods (name, version) and the stored index, as at start.
    stored: &'static [(&'static str, u8)],
    stored_index: Option<&'static [(&'static str, u8)]>,
    steps: &'static [(M, &'static str)],
    /// Pods that should run afterwards.
    running: &'static [(&'static str, u8)],
}

const CASES: &[Case] = &[
    Case {
        what: "no index ever: a pod runs at once and an empty message deletes it",
        stored: &[],
        stored_index: None,
        steps: &[
            (M::P("a", 1), "run a@1"),
            (M::D("a"), "stop a"),
            (M::D("a"), ""),
        ],
        running: &[],
    },
    Case {
        what: "apply as pealet does it: the pod, then the index that lists it",
        stored: &[],
        stored_index: Some(&[]),
        steps: &[
            (M::P("a", 1), "hold a@1"),
            (M::I(&[("a", 1)]), "save, run a@1"),
        ],
        running: &[("a", 1)],
    },
    Case {
        what: "index first (retained order is arbitrary), then the pod",
        stored: &[],
        stored_index: None,
        steps: &[(M::I(&[("a", 1)]), "save"), (M::P("a", 1), "run a@1")],
        running: &[("a", 1)],
    },
    Case {
        what: "changed spec waits for its index entry, the old one keeps running",
        stored: &[("a", 1)],
        stored_index: Some(&[("a", 1)]),
        steps: &[
            (M::P("a", 2), "hold a@2"),
            (M::I(&[("a", 2)]), "save, run a@2"),
            (M::P("a", 2), ""),
        ],
        running: &[("a", 2)],
    },
    Case {
        what: "delete as pealet does it: the empty message waits, the index deletes",
        stored: &[("a", 1), ("b", 1)],
        stored_index: Some(&[("a", 1), ("b", 1)]),
        steps: &[(M::D("b"), ""), (M::I(&[("a", 1)]), "save, stop b")],
        running: &[("a", 1)],
    },
    Case {
        what: "deleted while offline, empty message lost with the session: index deletes",
        stored: &[("a", 1), ("b", 1)],
        stored_index: Some(&[("a", 1), ("b", 1)]),
        steps: &[(M::P("a", 1), ""), (M::I(&[("a", 1)]), "save, stop b")],
        running: &[("a", 1)],
    },
    Case {
        what: "broker lost its retained messages: nothing arrives, nothing is deleted",
        stored: &[("a", 1), ("b", 1)],
        stored_index: Some(&[("a", 1), ("b", 1)]),
        steps: &[],
        running: &[("a", 1), ("b", 1)],
    },
    Case {
        what: "a stale retained pod the index does not list never runs",
        stored: &[("a", 1)],
        stored_index: Some(&[("a", 1)]),
        steps: &[(M::P("b", 1), "hold b@1"), (M::I(&[("a", 1)]), "")],
        running: &[("a", 1)],
    },
    Case {
        what: "an older retained spec than the index lists does not replace the stored one",
        stored: &[("a", 2)],
        stored_index: Some(&[("a", 2)]),
        steps: &[(M::P("a", 1), "hold a@1"), (M::I(&[("a", 2)]), "")],
        running: &[("a", 2)],
    },
    Case {
        what: "bad payloads are refused and change nothing",
        stored: &[("a", 1)],
        stored_index: Some(&[("a", 1)]),
        steps: &[
            (M::Garbage("a"), "refuse a"),
            (M::Misnamed("a", "b"), "refuse a"),
            (M::Invalid("a"), "refuse a"),
        ],
        running: &[("a", 1)],
    },
    Case {
        what: "deleted and applied again with a new spec",
        stored: &[("a", 1)],
        stored_index: Some(&[("a", 1)]),
        steps: &[
            (M::D("a"), ""),
            (M::I(&[]), "save, stop a"),
            (M::P("a", 2), "hold a@2"),
            (M::I(&[("a", 2)]), "save, run a@2"),
        ],
        running: &[("a", 2)],
    },
    Case {
        what: "an empty message for a held pod drops it",
        stored: &[],
        stored_index: Some(&[]),
        steps: &[
            (M::P("a", 1), "hold a@1"),
            (M::D("a"), ""),
            (M::I(&[("a", 1)]), "save"),
        ],
        running: &[],
    },
    Case {
        what: "first index after running without one deletes what it does not list",
        stored: &[("a", 1), ("b", 1)],
        stored_index: None,
        steps: &[(M::I(&[("b", 1)]), "save, stop a")],
        running: &[("b", 1)],
    },
];

#[test]
fn rules_as_a_table() {
    for case in CASES {
        let stored = case.stored.iter().map(|(n, v)| pod(n, *v));
        let (mut d, _) = Desired::load(stored, case.stored_index.map(index));
        for (i, (m, want)) in case.steps.iter().enumerate() {
            let got = words(&d.step(update(m)));
            assert_eq!(&got, want, "{}: step {}", case.what, i + 1);
        }
        let running: Vec<(&str, SpecHash)> = d.running().collect();
        let want: Vec<(&str, SpecHash)> = case
            .running
            .iter()
            .map(|(n, v)| (*n, hash(n, *v)))
            .collect();
        assert_eq!(running, want, "{}: running afterwards", case.what);
    }
}

#[test]
fn load_stops_stored_pods_the_stored_index_dropped() {
    let (d, actions) = Desired::load([pod("a", 1), pod("b", 1)], Some(index(&[("a", 1)])));
    assert_eq!(words(&actions), "run a@1, stop b");
    assert_eq!(d.running().count(), 1);
    let (_, actions) = Desired::load([pod("a", 1)], None);
    assert_eq!(words(&actions), "run a@1");
}

#[test]
fn refusals_say_why() {
    let mut d = Desired::default();
    let why = |a: Vec<Action>| match &a[..] {
        [Action::Refuse { why, .. }] => why.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        why(d.step(update(&M::Garbage("a")))),
        "payload ends in the middle of a Pod message"
    );
    assert!(why(d.step(update(&M::Misnamed("a", "b")))).contains("the topic names pod \"a\""));
    assert!(why(d.step(update(&M::Invalid("a")))).starts_with("invalid: spec.containers"));
    let bad_index = Update::Index(Err(DecodeError::UnknownKind(9)));
    assert_eq!(why(d.step(bad_index)), "index: unknown message kind 9");
}
