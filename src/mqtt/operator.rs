//! The operator's connection (`pealet apply/get/delete/describe/logs`): a short clean
//! session. A reader thread blocks on the connection and hands what happens to the
//! calling thread through a bounded channel; each step waits for the broker's answer
//! with a timeout. The connection itself is never cut short by a step's timer, so a
//! slow link (seconds of round trip) only makes the steps slower. No retries: an
//! operator command fails and says why.

use std::collections::VecDeque;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::link::{Happened, Link, Polled, Publish, Sender};
use super::{MqttError, broker_name, params};
use crate::config::Settings;

/// Events the reader thread may get ahead of the caller.
const AHEAD: usize = 64;

/// A message received from the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub topic: String,
    pub payload: Vec<u8>,
    /// Sent from the broker's retained store (rather than published just now).
    pub retained: bool,
}

pub struct Operator {
    sender: Sender,
    events: mpsc::Receiver<Polled>,
    client_id: String,
    prefix: String,
    broker: String,
    timeout: Duration,
    /// Messages received while waiting for something else.
    backlog: VecDeque<Message>,
}

impl Operator {
    /// Connects with a fresh client id and a clean session; waits up to `timeout` for
    /// each answer of the broker, this one included.
    pub fn connect(settings: &Settings, timeout: Duration) -> Result<Operator, MqttError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        let client_id = format!("pealet-cli-{}-{nanos:x}", std::process::id());
        let (sender, mut link) = Link::new(params(settings, &client_id, false, None)?)?;
        let (tx, events) = mpsc::sync_channel(AHEAD);
        std::thread::Builder::new()
            .name("mqtt".into())
            .spawn(move || {
                // Ends at the first failure (no retries), at a clean disconnection, or
                // when the operator is gone.
                loop {
                    let polled = link.next();
                    let last =
                        !matches!(polled, Polled::Event(ref e) if *e != Happened::Disconnected);
                    if tx.send(polled).is_err() || last {
                        return;
                    }
                }
            })
            .map_err(MqttError::Thread)?;
        // The connection may take several round trips (TCP, TLS, CONNECT): it has the
        // connect timeout, and each later step the command's timeout.
        let connecting = settings.connect_timeout.max(timeout);
        let mut op = Operator {
            sender,
            events,
            client_id,
            prefix: settings.prefix.trim_end_matches('/').to_owned(),
            broker: broker_name(settings),
            timeout: connecting,
            backlog: VecDeque::new(),
        };
        op.until(CONNECTION, |e| matches!(e, Happened::Connected { .. }))?;
        op.timeout = timeout;
        Ok(op)
    }

    /// Subscribes to `filters` and returns every retained message the broker holds for
    /// them. Done when a marker message published after the subscription comes back:
    /// the broker queues retained messages at subscription time, before the marker.
    /// The subscriptions stay: [`Operator::next`] then yields live messages.
    pub fn retained(&mut self, filters: &[String]) -> Result<Vec<Message>, MqttError> {
        let marker = format!("{}/_operator/{}", self.prefix, self.client_id);
        let all: Vec<String> = filters.iter().chain([&marker]).cloned().collect();
        self.subscribe(&all)?;
        self.publish(&marker, b"marker", false)?;
        // The marker may have come back before the acknowledgement of its publish.
        if !self.backlog.iter().any(|m| m.topic == marker) {
            self.until("the retained messages", |e| match e {
                Happened::Message { topic, .. } => *topic == marker,
                _ => false,
            })?;
        }
        Ok(self
            .backlog
            .drain(..)
            .filter(|m| m.topic != marker)
            .collect())
    }

    /// Subscribes to `filters` (QoS 1) and waits for the broker's acknowledgement; from
    /// then on [`Operator::next`] yields what is published on them.
    pub fn subscribe(&mut self, filters: &[String]) -> Result<(), MqttError> {
        let filters: Vec<(String, bool)> = filters.iter().map(|f| (f.clone(), true)).collect();
        if !self.sender.subscribe(&filters) {
            return Err(MqttError::Lost("the subscription", FULL.into()));
        }
        let mut refused = None;
        self.until("the subscription", |e| match e {
            Happened::Subscribed { refused: r } => {
                refused = r.clone();
                true
            }
            _ => false,
        })?;
        match refused {
            Some(why) => Err(MqttError::Lost("the subscription", why)),
            None => Ok(()),
        }
    }

    /// Publishes with QoS 1 and waits for the broker's acknowledgement. (A broker that
    /// denies the publish by its ACL acknowledges it anyway in MQTT 3.1.1; MQTT 5 says
    /// so, and that is an error here.)
    pub fn publish(&mut self, topic: &str, payload: &[u8], retain: bool) -> Result<(), MqttError> {
        let m = Publish {
            topic: topic.to_owned(),
            payload,
            retain,
            expiry: None,
        };
        if !self.sender.publish(m) {
            return Err(MqttError::Lost("a publish", FULL.into()));
        }
        let mut refused = None;
        self.until("the acknowledgement of a publish", |e| match e {
            Happened::Acked { refused: r } => {
                refused = r.clone();
                true
            }
            _ => false,
        })?;
        match refused {
            Some(why) => Err(MqttError::Lost("the acknowledgement of a publish", why)),
            None => Ok(()),
        }
    }

    /// The next live message, waiting up to `wait`; `None` when none came.
    pub fn next(&mut self, wait: Duration) -> Result<Option<Message>, MqttError> {
        if let Some(m) = self.backlog.pop_front() {
            return Ok(Some(m));
        }
        let deadline = Instant::now() + wait;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            self.poll("a message", left)?;
            if let Some(m) = self.backlog.pop_front() {
                return Ok(Some(m));
            }
        }
        Ok(None)
    }

    /// Disconnects cleanly (best effort).
    pub fn disconnect(mut self) {
        if self.sender.disconnect() {
            let _ = self.until("the disconnection", |e| *e == Happened::Disconnected);
        }
    }

    /// Waits until `done` says so; keeps every message received meanwhile.
    fn until(
        &mut self,
        what: &'static str,
        mut done: impl FnMut(&Happened) -> bool,
    ) -> Result<(), MqttError> {
        let deadline = Instant::now() + self.timeout;
        loop {
            let left = deadline
                .checked_duration_since(Instant::now())
                .ok_or(MqttError::Timeout(self.timeout, what))?;
            if let Some(event) = self.poll(what, left)? {
                if done(&event) {
                    return Ok(());
                }
            }
        }
    }

    /// What happened within `left`, if anything.
    fn poll(&mut self, what: &'static str, left: Duration) -> Result<Option<Happened>, MqttError> {
        let polled = match self.events.recv_timeout(left) {
            Ok(p) => p,
            Err(mpsc::RecvTimeoutError::Timeout) => return Ok(None),
            Err(mpsc::RecvTimeoutError::Disconnected) => Polled::Closed,
        };
        match polled {
            Polled::Event(event) => {
                match &event {
                    Happened::Message {
                        topic,
                        payload,
                        retained,
                    } => self.backlog.push_back(Message {
                        topic: topic.clone(),
                        payload: payload.clone(),
                        retained: *retained,
                    }),
                    Happened::BrokerDisconnect(reason) => {
                        let msg = format!("the broker ended the connection: {reason}");
                        return Err(MqttError::Lost(what, msg));
                    }
                    _ => {}
                }
                Ok(Some(event))
            }
            Polled::Failed(e) if what == CONNECTION => Err(MqttError::Connect {
                broker: self.broker.clone(),
                message: e,
            }),
            Polled::Failed(e) => Err(MqttError::Lost(what, e)),
            Polled::Dead(after) => {
                let msg = format!("nothing heard from the broker for {after:?}");
                Err(MqttError::Lost(what, msg))
            }
            Polled::Closed => Err(MqttError::Lost(what, "the connection was closed".into())),
        }
    }
}

const CONNECTION: &str = "the connection";
const FULL: &str = "the client's request queue is full";
