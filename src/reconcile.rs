//! Performs the decisions of `desired`: stores them on disk first, then asks the pod
//! runtime to act, and turns what happened into Events for the upstream.
//!
//! The runtime is reached through one small trait, [`PodRuntime`], so that this layer
//! does not know how pods run. The agent implements it over the per-pod shims (start,
//! replace, stop, re-adopt after an agent restart); tests use an in-memory one.
//!
//! Order: the desired state on disk changes before the runtime is asked to act, so a
//! crash in between is repaired at the next start (`Desired::load` and the runtime's
//! adoption compare the two). Nothing here blocks on the network.

use crate::desired::{Action, Desired, Update};
use crate::spec::bounded::Name;
use crate::spec::{Event, EventType, Pod, Time};
use crate::store::{Store, StoreError};
use crate::trust::{Gate, Generations};

/// How the reconciler makes pods run. Every call returns quickly: long work (pulling an
/// image, a graceful stop with its grace period) continues in the runtime, which
/// reports progress upstream by its own means (the agent: statuses its shims push).
pub trait PodRuntime {
    type Error: std::error::Error;

    /// Makes `pod` run: starts it, or adopts it when it already runs with this spec
    /// (after an agent restart: no container restarts), or replaces it gracefully when
    /// it runs with another spec (a new uid; the status names the new spec hash).
    fn apply(&mut self, pod: &Pod) -> Result<(), Self::Error>;

    /// Stops pod `name` gracefully and forgets it; nothing when it does not run. Once it
    /// is gone, its status is cleared upstream (an empty retained status message).
    fn remove(&mut self, name: &str) -> Result<(), Self::Error>;

    /// The newest spec of pod `name` was refused by the desired-state rules (`why`:
    /// it does not decode or is not valid): its status says so; whatever of the pod
    /// runs keeps running.
    fn refuse(&mut self, name: &str, why: &str);
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("store pod {pod}: {source}")]
    StorePod { pod: String, source: StoreError },
    #[error("forget pod {pod}: {source}")]
    ForgetPod { pod: String, source: StoreError },
    #[error("store index: {0}")]
    StoreIndex(StoreError),
    #[error("start pod {pod}: {message}")]
    Apply { pod: String, message: String },
    #[error("stop pod {pod}: {message}")]
    Remove { pod: String, message: String },
}

/// Desired state, its store and the runtime, kept in step; the trust gate in front.
pub struct Reconciler<R: PodRuntime> {
    desired: Desired,
    store: Store,
    runtime: R,
    gate: Gate,
}

impl<R: PodRuntime> Reconciler<R> {
    /// Loads the stored desired state and makes every stored pod run (with no broker
    /// needed). Returns Events for files that could not be read and failed starts.
    pub fn start(store: Store, runtime: R, now: Time) -> (Self, Vec<Event>) {
        let loaded = store.load();
        let mut events: Vec<Event> = (loaded.problems.iter())
            .map(|p| warning("FailedLoad", None, p.to_string(), now))
            .collect();
        let (desired, actions) = Desired::load(loaded.pods.into_values(), loaded.index);
        let generations = match store.generations() {
            Ok(g) => g.unwrap_or_default(),
            Err(e) => {
                events.push(warning("FailedLoad", None, e.to_string(), now));
                Generations::default()
            }
        };
        let mut r = Reconciler {
            desired,
            store,
            runtime,
            gate: Gate::new(false, generations),
        };
        events.extend(r.perform(actions, now));
        (r, events)
    }

    /// Once any key is trusted: only signed messages pass the gate, replays do not.
    pub fn require_signatures(&mut self, required: bool) {
        let generations = self.gate.generations().clone();
        self.gate = Gate::new(required, generations);
    }

    /// One message from the broker; returns the Events to publish.
    pub fn handle(&mut self, update: Update, now: Time) -> Vec<Event> {
        match self.admit(update, now) {
            Ok((update, mut events)) => {
                events.extend(self.apply(update, now));
                events
            }
            Err(refused) => vec![*refused],
        }
    }

    /// The trust gate: the update to act on (with Events of a failed store of the
    /// generations, which are stored before anything acts on it), or the Warning Event
    /// of its refusal. A refused message changes nothing.
    pub fn admit(&mut self, update: Update, now: Time) -> Result<(Update, Vec<Event>), Box<Event>> {
        let (update, changed) = (self.gate.admit(update))
            .map_err(|r| Box::new(warning(r.reason, r.pod, r.why, now)))?;
        let mut events = Vec::new();
        if changed {
            if let Err(e) = self.store.put_generations(self.gate.generations()) {
                events.push(warning("FailedStore", None, e.to_string(), now));
            }
        }
        Ok((update, events))
    }

    /// An update that passed [`Reconciler::admit`]; returns the Events to publish.
    pub fn apply(&mut self, update: Update, now: Time) -> Vec<Event> {
        let actions = self.desired.step(update);
        self.perform(actions, now)
    }

    pub fn runtime(&self) -> &R {
        &self.runtime
    }

    pub fn runtime_mut(&mut self) -> &mut R {
        &mut self.runtime
    }

    pub fn desired(&self) -> &Desired {
        &self.desired
    }

    fn perform(&mut self, actions: Vec<Action>, now: Time) -> Vec<Event> {
        let mut events = Vec::new();
        for action in actions {
            let pod = match &action {
                Action::Run(p) => Some(p.name.to_string()),
                Action::Stop(n) => Some(n.clone()),
                Action::Hold { pod, .. } | Action::Refuse { pod: Some(pod), .. } => {
                    Some(pod.clone())
                }
                Action::SaveIndex(_) | Action::Refuse { pod: None, .. } => None,
            };
            if let Action::Hold { hash, .. } = &action {
                // The usual order of an apply (pod, then index): not worth an Event.
                log::debug!("pod {pod:?}: spec {hash} waits for the index to list it");
            }
            if let Action::Refuse { why, .. } = &action {
                if let Some(name) = &pod {
                    self.runtime.refuse(name, why);
                }
                events.push(warning("Refused", pod.clone(), why.clone(), now));
            }
            for e in self.perform_one(action) {
                events.push(warning(e.reason(), pod.clone(), e.to_string(), now));
            }
        }
        events
    }

    /// Storage first, then the runtime; both are attempted, failures are returned.
    fn perform_one(&mut self, action: Action) -> Vec<ReconcileError> {
        let mut errors = Vec::new();
        match action {
            Action::Run(pod) => {
                let name = pod.name.to_string();
                if let Err(source) = self.store.put_pod(&pod) {
                    let pod = name.clone();
                    errors.push(ReconcileError::StorePod { pod, source });
                }
                if let Err(e) = self.runtime.apply(&pod) {
                    let message = e.to_string();
                    errors.push(ReconcileError::Apply { pod: name, message });
                }
            }
            Action::Stop(name) => {
                if let Err(source) = self.store.remove_pod(&name) {
                    let pod = name.clone();
                    errors.push(ReconcileError::ForgetPod { pod, source });
                }
                if let Err(e) = self.runtime.remove(&name) {
                    let message = e.to_string();
                    errors.push(ReconcileError::Remove { pod: name, message });
                }
            }
            Action::SaveIndex(index) => {
                if let Err(e) = self.store.put_index(&index) {
                    errors.push(ReconcileError::StoreIndex(e));
                }
            }
            Action::Hold { .. } | Action::Refuse { .. } => {}
        }
        errors
    }
}

impl ReconcileError {
    /// The Event reason of this failure.
    fn reason(&self) -> &'static str {
        match self {
            ReconcileError::StorePod { .. }
            | ReconcileError::ForgetPod { .. }
            | ReconcileError::StoreIndex(_) => "FailedStore",
            ReconcileError::Apply { .. } => "FailedStart",
            ReconcileError::Remove { .. } => "FailedStop",
        }
    }
}

fn warning(reason: &str, pod: Option<String>, message: String, now: Time) -> Event {
    event(EventType::Warning, reason, pod, message, now)
}

/// An Event; over-long text is cut to its bound (at a character boundary).
pub fn event(kind: EventType, reason: &str, pod: Option<String>, msg: String, now: Time) -> Event {
    Event {
        kind,
        reason: cut(reason).as_str().try_into().unwrap_or_default(),
        pod: pod.and_then(|p| Name::try_from(p.as_str()).ok()),
        container: None,
        message: cut_to(&msg, crate::spec::bounded::MAX_TEXT)
            .as_str()
            .try_into()
            .unwrap_or_default(),
        time: now,
        count: 1,
    }
}

fn cut(s: &str) -> String {
    cut_to(s, crate::spec::bounded::MAX_SHORT)
}

fn cut_to(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

#[cfg(test)]
#[path = "reconcile/tests.rs"]
mod tests;
