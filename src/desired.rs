//! Which pods a node should run, decided from the per-pod messages, the node's Index and
//! what was stored on disk: pure logic, no I/O, so the rules are tested as tables.
//!
//! The rules (docs/wire-format.md, "Deletions: never lost, never invented"):
//! - a valid pod message runs when no index was ever received, or when the last index
//!   lists it with the same spec hash; otherwise it is held until an index does;
//! - a pod stops only when an index arrives that no longer lists it, or on an empty pod
//!   message while the last index does not list it (or no index was ever received);
//! - a message that does not decode or validate is refused; the pod's previous good spec
//!   keeps running and nothing else changes.
//!
//! [`Desired::step`] returns [`Action`]s; `reconcile` persists and performs them.

use std::collections::BTreeMap;

use crate::spec::index::MAX_INDEX;
use crate::spec::validate::validate;
use crate::spec::{DecodeError, Index, Pod, SpecHash};

/// One message from the broker about this node's desired state, already decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// A non-empty `pods/<name>` message; `Err` when it did not decode.
    Pod {
        name: String,
        pod: Result<Box<Pod>, DecodeError>,
    },
    /// An empty `pods/<name>` message.
    Deleted { name: String },
    /// An `index` message; `Err` when it did not decode.
    Index(Result<Index, DecodeError>),
    /// A signed message (format version 3) and what it carries; `trust::Gate` checks
    /// its seal and passes on the update inside.
    Signed(Box<Update>, Seal),
    /// A signed message that does not decode, is not for this node and topic, or whose
    /// signature is not of a trusted key: refused by `trust::Gate`, with an Event only.
    Untrusted { pod: Option<String>, why: String },
}

/// What the signature of a signed message says, once checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seal {
    /// The trusted key that signed; None when the node trusts no key (unchecked).
    pub key: Option<crate::spec::signed::KeyId>,
    pub generation: u64,
    /// FNV-1a of the signed bytes (`trust::digest`).
    pub digest: u64,
}

impl Update {
    /// The pod the update is about (None: the index).
    pub fn pod(&self) -> Option<&str> {
        match self {
            Update::Pod { name, .. } | Update::Deleted { name } => Some(name),
            Update::Index(_) => None,
            Update::Signed(inner, _) => inner.pod(),
            Update::Untrusted { pod, .. } => pod.as_deref(),
        }
    }

    /// Whether the update deletes its pod.
    pub fn is_deletion(&self) -> bool {
        match self {
            Update::Deleted { .. } => true,
            Update::Signed(inner, _) => inner.is_deletion(),
            Update::Pod { .. } | Update::Index(_) | Update::Untrusted { .. } => false,
        }
    }
}

/// What to do about an update.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Store this spec and start (or replace) the pod.
    Run(Box<Pod>),
    /// Forget and stop this pod.
    Stop(String),
    /// Store this index as the last one received.
    SaveIndex(Index),
    /// A pod message waits for an index that lists it with its hash.
    Hold { pod: String, hash: SpecHash },
    /// A message was refused; `pod` when it was about one pod.
    Refuse { pod: Option<String>, why: String },
}

#[derive(Debug, Default)]
pub struct Desired {
    running: BTreeMap<String, SpecHash>,
    index: Option<Index>,
    held: BTreeMap<String, (SpecHash, Box<Pod>)>,
}

impl Desired {
    /// The state stored on disk, and what to do about it: every stored pod runs, except
    /// those the stored index no longer lists (left by a crash between the two writes).
    pub fn load(
        pods: impl IntoIterator<Item = Pod>,
        index: Option<Index>,
    ) -> (Desired, Vec<Action>) {
        let mut d = Desired {
            index,
            ..Desired::default()
        };
        let mut actions = Vec::new();
        for pod in pods {
            let name = pod.name.to_string();
            if d.index.as_ref().is_some_and(|ix| !ix.contains(&name)) {
                actions.push(Action::Stop(name));
                continue;
            }
            d.running.insert(name, SpecHash::of_pod(&pod));
            actions.push(Action::Run(Box::new(pod)));
        }
        (d, actions)
    }

    /// Names and spec hashes of the pods that should run.
    pub fn running(&self) -> impl Iterator<Item = (&str, SpecHash)> {
        self.running.iter().map(|(n, h)| (n.as_str(), *h))
    }

    pub fn index(&self) -> Option<&Index> {
        self.index.as_ref()
    }

    pub fn step(&mut self, update: Update) -> Vec<Action> {
        match update {
            Update::Pod { name, pod: Ok(pod) } => self.pod(name, pod),
            Update::Pod { name, pod: Err(e) } => vec![refuse(Some(name), e.to_string())],
            Update::Deleted { name } => self.deleted(name),
            Update::Index(Ok(index)) => self.new_index(index),
            Update::Index(Err(e)) => vec![refuse(None, format!("index: {e}"))],
            // The gate (`trust::Gate`) has checked the seal.
            Update::Signed(inner, _) => self.step(*inner),
            Update::Untrusted { pod, why } => vec![refuse(pod, why)],
        }
    }

    fn pod(&mut self, name: String, pod: Box<Pod>) -> Vec<Action> {
        if pod.name != name.as_str() {
            let why = format!(
                "the topic names pod {name:?}, the payload pod {:?}",
                pod.name
            );
            return vec![refuse(Some(name), why)];
        }
        let errors = validate(&pod);
        if !errors.is_empty() {
            let why = errors.iter().map(|e| e.to_string()).collect::<Vec<_>>();
            return vec![refuse(Some(name), format!("invalid: {}", why.join("; ")))];
        }
        let hash = SpecHash::of_pod(&pod);
        self.held.remove(&name);
        if self.running.get(&name) == Some(&hash) {
            return Vec::new();
        }
        let listed = match &self.index {
            None => true,
            Some(ix) => ix.get(&name) == Some(hash),
        };
        if listed {
            self.running.insert(name, hash);
            return vec![Action::Run(pod)];
        }
        if self.held.len() >= MAX_INDEX {
            return vec![refuse(
                Some(name),
                "too many pods wait for the index".into(),
            )];
        }
        self.held.insert(name.clone(), (hash, pod));
        vec![Action::Hold { pod: name, hash }]
    }

    fn deleted(&mut self, name: String) -> Vec<Action> {
        self.held.remove(&name);
        let listed = self.index.as_ref().is_some_and(|ix| ix.contains(&name));
        if listed || self.running.remove(&name).is_none() {
            return Vec::new();
        }
        vec![Action::Stop(name)]
    }

    /// The index is stored first: the stops and starts it causes follow it on disk, so a
    /// crash or a failed write between them is repaired by `load` at the next start.
    fn new_index(&mut self, index: Index) -> Vec<Action> {
        let mut actions = Vec::new();
        if self.index.as_ref() != Some(&index) {
            actions.push(Action::SaveIndex(index.clone()));
        }
        let gone: Vec<String> = (self.running.keys())
            .filter(|n| !index.contains(n))
            .cloned()
            .collect();
        for name in gone {
            self.running.remove(&name);
            actions.push(Action::Stop(name));
        }
        let ready: Vec<String> = (self.held.iter())
            .filter(|(n, (h, _))| index.get(n) == Some(*h))
            .map(|(n, _)| n.clone())
            .collect();
        for name in ready {
            if let Some((hash, pod)) = self.held.remove(&name) {
                self.running.insert(name, hash);
                actions.push(Action::Run(pod));
            }
        }
        self.index = Some(index);
        actions
    }
}

fn refuse(pod: Option<String>, why: String) -> Action {
    Action::Refuse { pod, why }
}

#[cfg(test)]
#[path = "desired/tests.rs"]
mod tests;
