//! The operator's connection (`pealet apply/get/delete/describe`): a short clean session
//! driven from the calling thread, step by step, each step waiting for the broker's
//! answer with a timeout. No retries: an operator command fails and says why.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rumqttc::{
    Client, Connection, Event, Outgoing, Packet, QoS, RecvTimeoutError, SubscribeFilter,
    SubscribeReasonCode,
};

use super::{MqttError, REQUEST_CAPACITY, TICK, broker_name, options};
use crate::config::Settings;

/// A message received from the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub topic: String,
    pub payload: Vec<u8>,
    /// Sent from the broker's retained store (rather than published just now).
    pub retained: bool,
}

pub struct Operator {
    client: Client,
    connection: Connection,
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
        let opts = options(settings, &client_id, true)?;
        let (client, connection) = super::client(opts, REQUEST_CAPACITY);
        let mut op = Operator {
            client,
            connection,
            client_id,
            prefix: settings.prefix.trim_end_matches('/').to_owned(),
            broker: broker_name(settings),
            timeout,
            backlog: VecDeque::new(),
        };
        op.until(CONNECTION, |e| {
            matches!(e, Event::Incoming(Packet::ConnAck(_)))
        })?;
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
                Event::Incoming(Packet::Publish(p)) => p.topic == marker,
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
        let subs = filters
            .iter()
            .map(|f| SubscribeFilter::new(f.clone(), QoS::AtLeastOnce));
        self.client
            .try_subscribe_many(subs)
            .map_err(|e| MqttError::Lost("the subscription", e.to_string()))?;
        let mut refused = false;
        self.until("the subscription", |e| match e {
            Event::Incoming(Packet::SubAck(ack)) => {
                refused = ack
                    .return_codes
                    .iter()
                    .any(|c| matches!(c, SubscribeReasonCode::Failure));
                true
            }
            _ => false,
        })?;
        if refused {
            let msg = "the broker refused a subscription (not authorised?)".to_owned();
            return Err(MqttError::Lost("the subscription", msg));
        }
        Ok(())
    }

    /// Publishes with QoS 1 and waits for the broker's acknowledgement. (A broker that
    /// denies the publish by its ACL acknowledges it anyway in MQTT 3.1.1.)
    pub fn publish(&mut self, topic: &str, payload: &[u8], retain: bool) -> Result<(), MqttError> {
        self.client
            .try_publish(topic, QoS::AtLeastOnce, retain, payload.to_vec())
            .map_err(|e| MqttError::Lost("a publish", e.to_string()))?;
        self.until("the acknowledgement of a publish", |e| {
            matches!(e, Event::Incoming(Packet::PubAck(_)))
        })
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
        if self.client.try_disconnect().is_ok() {
            let _ = self.until("the disconnection", |e| {
                matches!(e, Event::Outgoing(Outgoing::Disconnect))
            });
        }
    }

    /// Polls until `done` says so; keeps every message received meanwhile.
    fn until(
        &mut self,
        what: &'static str,
        mut done: impl FnMut(&Event) -> bool,
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

    /// One poll of at most `left`: the event, if one came.
    fn poll(&mut self, what: &'static str, left: Duration) -> Result<Option<Event>, MqttError> {
        match self.connection.recv_timeout(left.min(TICK)) {
            Ok(Ok(event)) => {
                if let Event::Incoming(Packet::Publish(p)) = &event {
                    self.backlog.push_back(Message {
                        topic: p.topic.clone(),
                        payload: p.payload.to_vec(),
                        retained: p.retain,
                    });
                }
                Ok(Some(event))
            }
            Ok(Err(e)) if what == CONNECTION => Err(MqttError::Connect {
                broker: self.broker.clone(),
                message: e.to_string(),
            }),
            Ok(Err(e)) => Err(MqttError::Lost(what, e.to_string())),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => {
                Err(MqttError::Lost(what, "the client was closed".into()))
            }
        }
    }
}

const CONNECTION: &str = "the connection";
