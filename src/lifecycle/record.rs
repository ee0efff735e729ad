//! Kubernetes Events as the lifecycle records them: typed values (type, reason,
//! involved container, message, time) made by `step` at the moment a rule fires, kept in
//! a bounded queue until the shim takes them and pushes them to its watchers. Nothing
//! here is parsed back out of a status message.
//!
//! The reasons and messages are the kubelet's: `Pulling`, `Pulled`, `Failed`,
//! `BackOff`, `Created`, `Started`, `Killing`, `Unhealthy`, `ProbeWarning`,
//! `FailedPostStartHook`, `FailedPreStopHook`, `ErrImageNeverPull`, and `PullProgress`
//! (pealet's own, for a long pull on a slow link).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::container::Ctr;
use super::{Action, Now};
use crate::spec::bounded::{Name, Text};
use crate::spec::{EventType, Time};

/// The longest message of an Event (the Kubernetes API's limit).
pub const MAX_EVENT_MESSAGE: usize = 1024;
/// Events kept until the shim takes them; the oldest go first when more come.
pub const MAX_RECORDED: usize = 64;

/// Why an Event was recorded, as the kubelet names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventReason {
    Pulling,
    PullProgress,
    Pulled,
    Failed,
    BackOff,
    ErrImageNeverPull,
    Created,
    Started,
    Killing,
    Unhealthy,
    ProbeWarning,
    FailedPostStartHook,
    FailedPreStopHook,
}

impl EventReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            EventReason::Pulling => "Pulling",
            EventReason::PullProgress => "PullProgress",
            EventReason::Pulled => "Pulled",
            EventReason::Failed => "Failed",
            EventReason::BackOff => "BackOff",
            EventReason::ErrImageNeverPull => "ErrImageNeverPull",
            EventReason::Created => "Created",
            EventReason::Started => "Started",
            EventReason::Killing => "Killing",
            EventReason::Unhealthy => "Unhealthy",
            EventReason::ProbeWarning => "ProbeWarning",
            EventReason::FailedPostStartHook => "FailedPostStartHook",
            EventReason::FailedPreStopHook => "FailedPreStopHook",
        }
    }
}

/// One Event about a container of the pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodEvent {
    pub kind: EventType,
    pub reason: EventReason,
    pub container: Option<Name>,
    /// At most [`MAX_EVENT_MESSAGE`] bytes.
    pub message: Text,
    pub time: Time,
}

impl PodEvent {
    pub(super) fn new(
        kind: EventType,
        reason: EventReason,
        c: &Ctr,
        message: &str,
        now: Now,
    ) -> Self {
        let mut end = message.len().min(MAX_EVENT_MESSAGE);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        PodEvent {
            kind,
            reason,
            container: Some(c.name.clone()),
            message: Text::try_from(&message[..end]).unwrap_or_default(),
            time: now.wall,
        }
    }
}

/// What one step produces: the actions for the shim, in order, and the Events.
#[derive(Debug, Default)]
pub(super) struct Out {
    pub actions: Vec<Action>,
    pub events: Vec<PodEvent>,
}

impl Out {
    pub fn push(&mut self, action: Action) {
        self.actions.push(action);
    }

    pub fn normal(&mut self, reason: EventReason, c: &Ctr, message: &str, now: Now) {
        (self.events).push(PodEvent::new(EventType::Normal, reason, c, message, now));
    }

    pub fn warning(&mut self, reason: EventReason, c: &Ctr, message: &str, now: Now) {
        (self.events).push(PodEvent::new(EventType::Warning, reason, c, message, now));
    }
}

/// The Events not yet taken, at most [`MAX_RECORDED`].
#[derive(Debug, Clone, Default)]
pub(super) struct Recorded {
    queue: VecDeque<PodEvent>,
    /// Dropped because the queue was full, since the last take.
    pub dropped: u64,
}

impl Recorded {
    pub fn extend(&mut self, events: Vec<PodEvent>) {
        for e in events {
            if self.queue.len() >= MAX_RECORDED {
                self.queue.pop_front();
                self.dropped = self.dropped.saturating_add(1);
            }
            self.queue.push_back(e);
        }
    }

    pub fn take(&mut self) -> Vec<PodEvent> {
        self.dropped = 0;
        self.queue.drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::bounded::name;

    #[test]
    fn messages_are_cut_and_the_queue_is_bounded() {
        let c = Ctr::new(
            &crate::spec::Container::new(name("c").unwrap(), "img".try_into().unwrap()),
            false,
        );
        let now = Now {
            mono_ms: 5,
            wall: Time(7),
        };
        let long = "é".repeat(MAX_EVENT_MESSAGE);
        let e = PodEvent::new(EventType::Warning, EventReason::Failed, &c, &long, now);
        assert!(e.message.len() <= MAX_EVENT_MESSAGE && e.message.len() >= MAX_EVENT_MESSAGE - 1);
        assert_eq!((e.time, e.container.as_deref()), (Time(7), Some("c")));
        let mut r = Recorded::default();
        r.extend(vec![e.clone(); MAX_RECORDED + 3]);
        assert_eq!(r.dropped, 3);
        assert_eq!(r.take().len(), MAX_RECORDED);
        assert_eq!((r.dropped, r.take().len()), (0, 0));
    }
}
