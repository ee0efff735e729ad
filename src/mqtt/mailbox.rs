//! The bounded hand-over between the MQTT thread and the rest of the agent, with a
//! stated policy for each kind of message when the broker (or the agent) is slow:
//!
//! - pod statuses: one slot per pod, the newest wins (a map, not a queue); a reconnect
//!   marks every slot to be sent again, so the upstream gets the current status of every
//!   pod and never a replay of old ones;
//! - events: a ring of [`MAX_EVENTS`]; when full the oldest is dropped and counted;
//! - node status: one slot, the newest wins;
//! - desired-state updates from the broker: one slot per pod plus one for the index,
//!   the newest wins (they are retained messages: only the last one matters); at most
//!   [`MAX_PENDING`] pods wait, more are dropped and counted (the broker sends them again
//!   at the next reconnect);
//! - remote-logs requests: a queue of [`MAX_LOG_REQUESTS`] that drops the oldest and
//!   counts (the newest is the one whose operator is most likely still waiting), so a
//!   flood of requests costs nothing beyond the queue; the agent takes them at its own
//!   pace;
//! - remote-logs answers (up to 64 KiB each): a queue of [`MAX_LOG_ANSWERS`] that drops
//!   the oldest and counts.
//!
//! Memory is bounded by the number of pods, never by the length of an outage. Nothing
//! here does I/O; `device` moves the contents to and from the broker.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use crate::desired::Update;
use crate::spec::LogsRequest;
use crate::wake::Waker;

/// Events kept while the broker is away.
pub const MAX_EVENTS: usize = 64;
/// Pods whose status is tracked (desired and static ones together).
pub const MAX_STATUSES: usize = 1024;
/// Pods with a desired-state update waiting for the agent.
pub const MAX_PENDING: usize = 512;
/// Remote-logs requests waiting for the agent.
pub const MAX_LOG_REQUESTS: usize = 4;
/// Remote-logs answers waiting for the broker.
pub const MAX_LOG_ANSWERS: usize = 4;

/// What arrived from the broker since the last look.
#[derive(Debug, Default, PartialEq)]
pub struct Inbound {
    /// Per-pod updates first (by name), then the index: the order operators write them.
    pub updates: Vec<Update>,
    /// The connection came up (true) or went down (false); the latest change only.
    pub connected: Option<bool>,
    /// Updates dropped because too many pods were waiting (since the last look).
    pub dropped: u64,
}

/// Counts of what the policies dropped, for the node's events and logs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Dropped {
    pub events: u64,
    pub statuses: u64,
    pub log_requests: u64,
    pub log_answers: u64,
}

#[derive(Default)]
struct State {
    statuses: BTreeMap<String, Vec<u8>>,
    dirty: BTreeSet<String>,
    events: VecDeque<Vec<u8>>,
    node: Option<Vec<u8>>,
    node_dirty: bool,
    dropped: Dropped,
    pods: BTreeMap<String, Update>,
    index: Option<Update>,
    connected: Option<bool>,
    updates_dropped: u64,
    log_requests: VecDeque<LogsRequest>,
    /// A logs request arrived since the agent last took what arrived: wakes it once.
    logs_arrived: bool,
    /// (request id, encoded LogsResponse).
    log_answers: VecDeque<(String, Vec<u8>)>,
    closed: bool,
}

/// Shared by the MQTT thread and the agent.
#[derive(Default)]
pub struct Mailbox {
    state: Mutex<State>,
    inbound: Condvar,
    /// Also woken when something arrives, for an agent that sleeps in `poll`.
    waker: OnceLock<Waker>,
}

impl Mailbox {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere aborts the process (panic = "abort"); poisoning is moot.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes a `wait`ing agent, and signals the waker if one is set.
    fn notify(&self) {
        self.inbound.notify_all();
        if let Some(w) = self.waker.get() {
            w.wake();
        }
    }

    /// Signals `waker` whenever something arrives from the broker (updates, logs
    /// requests, a connection change, the end of the MQTT thread). Set once.
    pub fn set_waker(&self, waker: Waker) {
        let _ = self.waker.set(waker);
    }

    // --- agent side: to the broker ---

    /// Replaces the status of `pod` (an encoded PodStatus; empty clears it upstream).
    pub fn set_status(&self, pod: &str, payload: Vec<u8>) {
        let mut s = self.lock();
        if !s.statuses.contains_key(pod) && s.statuses.len() >= MAX_STATUSES {
            s.dropped.statuses += 1;
            return;
        }
        s.statuses.insert(pod.to_owned(), payload);
        s.dirty.insert(pod.to_owned());
    }

    /// Queues an encoded Event; drops the oldest when the ring is full.
    pub fn push_event(&self, payload: Vec<u8>) {
        let mut s = self.lock();
        if s.events.len() >= MAX_EVENTS {
            s.events.pop_front();
            s.dropped.events += 1;
        }
        s.events.push_back(payload);
    }

    /// Replaces the node status (an encoded NodeStatus).
    pub fn set_node(&self, payload: Vec<u8>) {
        let mut s = self.lock();
        s.node = Some(payload);
        s.node_dirty = true;
    }

    pub fn dropped(&self) -> Dropped {
        self.lock().dropped
    }

    /// Queues the encoded answer to the logs request `id`; drops the oldest when full.
    pub fn push_log_answer(&self, id: &str, payload: Vec<u8>) {
        let mut s = self.lock();
        if s.log_answers.len() >= MAX_LOG_ANSWERS {
            s.log_answers.pop_front();
            s.dropped.log_answers += 1;
        }
        s.log_answers.push_back((id.to_owned(), payload));
    }

    /// Takes up to `max` logs requests, oldest first.
    pub fn take_log_requests(&self, max: usize) -> Vec<LogsRequest> {
        let mut s = self.lock();
        let n = max.min(s.log_requests.len());
        s.log_requests.drain(..n).collect()
    }

    // --- agent side: from the broker ---

    /// Takes what arrived, without waiting.
    pub fn take(&self) -> Inbound {
        let mut s = self.lock();
        s.logs_arrived = false;
        let mut updates: Vec<Update> = std::mem::take(&mut s.pods).into_values().collect();
        updates.extend(s.index.take());
        Inbound {
            updates,
            connected: s.connected.take(),
            dropped: std::mem::take(&mut s.updates_dropped),
        }
    }

    /// Waits up to `timeout` for something to arrive, then takes it.
    pub fn wait(&self, timeout: Duration) -> Inbound {
        let s = self.lock();
        let empty = |s: &mut State| {
            !s.closed
                && !s.logs_arrived
                && s.pods.is_empty()
                && s.index.is_none()
                && s.connected.is_none()
        };
        let (s, _) = self
            .inbound
            .wait_timeout_while(s, timeout, empty)
            .unwrap_or_else(|e| e.into_inner());
        drop(s);
        self.take()
    }

    // --- MQTT thread side ---

    /// Records an update from the broker; the newest per pod (and for the index) wins.
    pub fn deliver(&self, update: Update) {
        let mut s = self.lock();
        match update.pod().map(str::to_owned) {
            None => s.index = Some(update),
            Some(name) => {
                if !s.pods.contains_key(&name) && s.pods.len() >= MAX_PENDING {
                    s.updates_dropped += 1;
                    return;
                }
                s.pods.insert(name, update);
            }
        }
        self.notify();
    }

    /// Queues a logs request for the agent; drops the oldest when the queue is full.
    pub fn deliver_log_request(&self, request: LogsRequest) {
        let mut s = self.lock();
        if s.log_requests.len() >= MAX_LOG_REQUESTS {
            s.log_requests.pop_front();
            s.dropped.log_requests += 1;
        }
        s.log_requests.push_back(request);
        s.logs_arrived = true;
        self.notify();
    }

    /// Records a connection change; on connect every status and the node status are
    /// sent again (the broker may have lost them, and they may have changed).
    pub fn set_connected(&self, up: bool) {
        let mut s = self.lock();
        s.connected = Some(up);
        if up {
            let all: BTreeSet<String> = s.statuses.keys().cloned().collect();
            s.dirty = all;
            s.node_dirty = s.node.is_some();
        }
        self.notify();
    }

    /// Wakes a waiting agent for good: the MQTT thread has ended.
    pub fn close(&self) {
        self.lock().closed = true;
        self.notify();
    }

    /// Waits up to `timeout` for [`Mailbox::close`]; true when it came.
    pub fn wait_closed(&self, timeout: Duration) -> bool {
        let s = self.lock();
        let (s, _) = self
            .inbound
            .wait_timeout_while(s, timeout, |s| !s.closed)
            .unwrap_or_else(|e| e.into_inner());
        s.closed
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// The next status to publish: (pod, payload). A cleared status is forgotten here.
    pub fn take_status(&self) -> Option<(String, Vec<u8>)> {
        let mut s = self.lock();
        let pod = s.dirty.pop_first()?;
        let payload = s.statuses.get(&pod).cloned().unwrap_or_default();
        if payload.is_empty() {
            s.statuses.remove(&pod);
        }
        Some((pod, payload))
    }

    /// Gives back a status that could not be handed to the client, unless a newer
    /// one arrived meanwhile.
    pub fn return_status(&self, pod: String, payload: Vec<u8>) {
        let mut s = self.lock();
        if !s.dirty.contains(&pod) {
            s.statuses.insert(pod.clone(), payload);
            s.dirty.insert(pod);
        }
    }

    pub fn take_event(&self) -> Option<Vec<u8>> {
        self.lock().events.pop_front()
    }

    pub fn return_event(&self, payload: Vec<u8>) {
        let mut s = self.lock();
        if s.events.len() < MAX_EVENTS {
            s.events.push_front(payload);
        } else {
            s.dropped.events += 1;
        }
    }

    /// The next logs answer to publish: (request id, payload).
    pub fn take_log_answer(&self) -> Option<(String, Vec<u8>)> {
        self.lock().log_answers.pop_front()
    }

    pub fn return_log_answer(&self, id: String, payload: Vec<u8>) {
        let mut s = self.lock();
        if s.log_answers.len() < MAX_LOG_ANSWERS {
            s.log_answers.push_front((id, payload));
        } else {
            s.dropped.log_answers += 1;
        }
    }

    pub fn take_node(&self) -> Option<Vec<u8>> {
        let mut s = self.lock();
        if !s.node_dirty {
            return None;
        }
        s.node_dirty = false;
        s.node.clone()
    }

    pub fn return_node(&self) {
        self.lock().node_dirty = true;
    }
}

#[cfg(test)]
#[path = "mailbox/tests.rs"]
mod tests;
