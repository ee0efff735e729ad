//! Performs the decisions of `desired`: stores them on disk first, then asks the pod
//! runtime to act, and turns what happened into Events for the upstream.
//!
//! The runtime is reached through one small trait, [`PodRuntime`], so that this layer
//! does not know how pods run. The agent implements it over the per-pod shims (start,
//! replace, stop, re-adopt after an agent restart); tests use an in-memory one.
//!
//! Order: the desired state on disk changes before the runtime is asked to act, so a
//! crash in between is repaired at the next start (`Desired::load` and the runtime's
//! adoption compare the two; a removal is recorded as `<pod>.removing` and finished by
//! the next agent). Nothing here blocks on the network.
//!
//! Durable first: a change whose write fails (a full disk) is not acted on. It waits,
//! with every change after it, in a queue of at most one entry per pod plus the index
//! (the newest wins), so what is on disk is always what runs or is about to run; the
//! queue is written again at [`Reconciler::retry_due`] (back-off from 1 s to 60 s, a
//! deadline of the agent's loop, never a poll) and at every new change. The first
//! failure is a Warning Event; [`Reconciler::store_failure`] says why meanwhile (the
//! node reports DiskPressure).

use std::time::{Duration, Instant};

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

    /// Finishes the removal of pod `name` that an earlier run began (recorded in the
    /// store) and a crash interrupted: as [`PodRuntime::remove`], also when this run
    /// never heard of the pod; its status is cleared upstream in any case.
    fn finish_removal(&mut self, name: &str) -> Result<(), Self::Error> {
        self.remove(name)
    }

    /// The newest spec of pod `name` was refused by the desired-state rules (`why`:
    /// it does not decode or is not valid): its status says so; whatever of the pod
    /// runs keeps running.
    fn refuse(&mut self, name: &str, why: &str);
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// A change that could not be stored; it is not acted on.
    #[error("store: {source}")]
    Unstored {
        action: Box<Action>,
        source: StoreError,
    },
    #[error("start pod {pod}: {message}")]
    Apply { pod: String, message: String },
    #[error("stop pod {pod}: {message}")]
    Remove { pod: String, message: String },
}

/// The first and the longest pause before the store is written again.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(60);

/// Desired state, its store and the runtime, kept in step; the trust gate in front.
pub struct Reconciler<R: PodRuntime> {
    desired: Desired,
    store: Store,
    runtime: R,
    gate: Gate,
    /// Changes not stored yet, oldest first: none of them is acted on.
    unstored: Vec<Action>,
    /// Why the last write failed, while changes wait.
    failure: Option<String>,
    /// When to write them again, and the pause after that.
    retry: Option<(Instant, Duration)>,
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
            unstored: Vec::new(),
            failure: None,
            retry: None,
        };
        for name in loaded.removing {
            // Begun by an earlier run that did not see it through.
            log::info!("pod {name}: finishing its removal");
            if let Err(e) = r.runtime.finish_removal(&name) {
                let msg = format!("stop pod {name}: {e}");
                events.push(warning("FailedStop", Some(name), msg, now));
            }
        }
        events.extend(r.perform(actions, now));
        (r, events)
    }

    /// Once any key is trusted: only signed messages pass the gate, replays do not.
    pub fn require_signatures(&mut self, required: bool) {
        let generations = self.gate.generations().clone();
        self.gate = Gate::new(required, generations);
    }

    /// Pod `name` is gone from the runtime: its removal is over.
    pub fn removed(&mut self, name: &str) {
        if let Err(e) = self.store.end_removal(name) {
            // Harmless: the next start finds nothing of the pod to stop.
            log::warn!("pod {name}: {e}");
        }
    }

    /// Why changes wait unstored, if they do.
    pub fn store_failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// When the changes that wait unstored are to be written again.
    pub fn retry_due(&self) -> Option<Instant> {
        self.retry.map(|(at, _)| at)
    }

    /// Writes the changes that wait again (and acts on those stored); returns the
    /// Events to publish.
    pub fn retry(&mut self, now: Time) -> Vec<Event> {
        let waiting = std::mem::take(&mut self.unstored);
        self.perform(waiting, now)
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
        let mut actions = self.desired.step(update);
        if !actions.is_empty() && !self.unstored.is_empty() {
            // A new change is a reason to try the store again, oldest change first.
            let mut waiting = std::mem::take(&mut self.unstored);
            waiting.append(&mut actions);
            actions = waiting;
        }
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
            if matches!(action, Action::Hold { .. } | Action::Refuse { .. }) {
                continue;
            }
            if !self.unstored.is_empty() {
                // After a change that is not stored yet: this one waits behind it.
                self.wait_unstored(action);
                continue;
            }
            for e in self.perform_one(action) {
                if let ReconcileError::Unstored { action, source } = e {
                    let first = self.failure.is_none();
                    let msg = format!("{source}: the change waits until it can be stored");
                    self.failure = Some(source.to_string());
                    self.wait_unstored(*action);
                    if first {
                        events.push(warning("FailedStore", pod.clone(), msg, now));
                    } else {
                        log::debug!("still cannot store: {msg}");
                    }
                    continue;
                }
                events.push(warning(e.reason(), pod.clone(), e.to_string(), now));
            }
        }
        if self.unstored.is_empty() {
            self.retry = None;
            if self.failure.take().is_some() {
                let msg = "the desired state is stored again; the waiting changes are made";
                events.push(event(EventType::Normal, "Stored", None, msg.into(), now));
            }
        } else {
            let pause = self.retry.map_or(RETRY_FIRST, |(_, p)| p);
            self.retry = Some((Instant::now() + pause, (pause * 2).min(RETRY_MAX)));
        }
        events
    }

    /// Queues a change that cannot be stored yet; a newer change of the same pod (or
    /// index) replaces an older one, so the queue holds at most one per pod.
    fn wait_unstored(&mut self, action: Action) {
        let key = |a: &Action| match a {
            Action::Run(p) => Some(p.name.to_string()),
            Action::Stop(n) => Some(n.clone()),
            Action::SaveIndex(_) => None,
            Action::Hold { pod, .. } => Some(pod.clone()),
            Action::Refuse { pod, .. } => pod.clone(),
        };
        let k = key(&action);
        self.unstored.retain(|a| key(a) != k);
        self.unstored.push(action);
    }

    /// Storage first, then the runtime, only once stored; failures are returned.
    fn perform_one(&mut self, action: Action) -> Vec<ReconcileError> {
        let stored = match &action {
            Action::Run(pod) => self.store.put_pod(pod).map(|_| ()),
            Action::Stop(name) => self.store.begin_removal(name),
            Action::SaveIndex(index) => self.store.put_index(index).map(|_| ()),
            Action::Hold { .. } | Action::Refuse { .. } => Ok(()),
        };
        if let Err(source) = stored {
            let action = Box::new(action);
            return vec![ReconcileError::Unstored { action, source }];
        }
        let mut errors = Vec::new();
        match action {
            Action::Run(pod) => {
                if let Err(e) = self.runtime.apply(&pod) {
                    let (pod, message) = (pod.name.to_string(), e.to_string());
                    errors.push(ReconcileError::Apply { pod, message });
                }
            }
            Action::Stop(name) => {
                if let Err(e) = self.runtime.remove(&name) {
                    let message = e.to_string();
                    errors.push(ReconcileError::Remove { pod: name, message });
                }
            }
            Action::SaveIndex(_) | Action::Hold { .. } | Action::Refuse { .. } => {}
        }
        errors
    }
}

impl ReconcileError {
    /// The Event reason of this failure.
    fn reason(&self) -> &'static str {
        match self {
            ReconcileError::Unstored { .. } => "FailedStore",
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
