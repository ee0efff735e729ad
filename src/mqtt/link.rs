//! One connection to the broker, MQTT 3.1.1 or MQTT 5, behind version-neutral types:
//! [`Sender`] puts requests into the client's channel (never blocking), [`Link`] reads
//! what happens on the connection and is driven by one thread.
//!
//! The connection is never cut short by a timer of ours while it works: an attempt
//! (DNS, TCP to each address in turn, TLS, CONNECT and CONNACK) runs until it succeeds,
//! fails, or reaches the connect timeout, however long the round trip. A wait that were
//! cancelled in the middle of that would drop the half-open connection and start again
//! from scratch; over a link of 100 ms or more it would never come up. The one timed
//! wait is the keep-alive watchdog: a live connection receives at least a PINGRESP
//! every keep-alive (the client pings at that interval whatever else it sends), so
//! when nothing at all has arrived for 1.5 keep-alives the link is dead (a NAT box
//! forgot the flow, a radio lost its bearer) and the connection is dropped as a whole
//! (`clean`): what was in flight is sent again on the next connection, never half a
//! packet on a reused one.

use std::time::{Duration, Instant};

use rumqttc::v5;
use rumqttc::v5::mqttbytes::QoS as V5QoS;
use rumqttc::{QoS, RecvTimeoutError};

use super::{MAX_INCOMING, MAX_INCOMING_V311, MAX_PAYLOAD_OUT, MqttError};
use crate::config::MqttVersion;
use crate::spec::bounded::MAX_PAYLOAD;

/// How long the broker keeps a device's MQTT 5 session (its subscriptions and queued
/// QoS 1 messages) while the device is away. Desired state is retained anyway, and the
/// device subscribes again at every connect, so a session that expired loses nothing.
pub const SESSION_EXPIRY: u32 = 24 * 3600;
/// MQTT 5 message expiry of Events: an Event queued for a subscriber that has been
/// away longer than this is history, not news.
pub const EVENT_EXPIRY: u32 = 3600;
/// MQTT 5 message expiry of remote-logs answers: their operator waits seconds.
pub const ANSWER_EXPIRY: u32 = 60;

/// A message to publish, with its MQTT 5 message expiry (ignored by 3.1.1).
pub struct Publish<'a> {
    pub topic: String,
    pub payload: &'a [u8],
    pub retain: bool,
    pub expiry: Option<u32>,
}

/// Puts requests into the client's bounded channel; every call returns at once, false
/// when the channel is full (the caller keeps the message and tries again later).
#[derive(Clone)]
pub enum Sender {
    V311(rumqttc::Client),
    V5(v5::Client),
}

impl Sender {
    /// A QoS 1 publish.
    pub fn publish(&self, m: Publish<'_>) -> bool {
        let payload = m.payload.to_vec();
        match self {
            Sender::V311(c) => c
                .try_publish(m.topic, QoS::AtLeastOnce, m.retain, payload)
                .is_ok(),
            Sender::V5(c) => {
                let properties = v5::mqttbytes::v5::PublishProperties {
                    message_expiry_interval: m.expiry,
                    ..Default::default()
                };
                c.try_publish_with_properties(
                    m.topic,
                    V5QoS::AtLeastOnce,
                    m.retain,
                    payload,
                    properties,
                )
                .is_ok()
            }
        }
    }

    /// Subscribes to `filters`, each with its QoS (`true`: QoS 1, `false`: QoS 0).
    pub fn subscribe(&self, filters: &[(String, bool)]) -> bool {
        let qos = |one: bool| match one {
            true => QoS::AtLeastOnce,
            false => QoS::AtMostOnce,
        };
        let qos5 = |one: bool| match one {
            true => V5QoS::AtLeastOnce,
            false => V5QoS::AtMostOnce,
        };
        match self {
            Sender::V311(c) => c
                .try_subscribe_many(
                    (filters.iter())
                        .map(|(f, q)| rumqttc::SubscribeFilter::new(f.clone(), qos(*q))),
                )
                .is_ok(),
            Sender::V5(c) => c
                .try_subscribe_many(
                    (filters.iter())
                        .map(|(f, q)| v5::mqttbytes::v5::Filter::new(f.clone(), qos5(*q))),
                )
                .is_ok(),
        }
    }

    pub fn disconnect(&self) -> bool {
        match self {
            Sender::V311(c) => c.try_disconnect().is_ok(),
            Sender::V5(c) => c.try_disconnect().is_ok(),
        }
    }
}

/// What happened on the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Happened {
    Connected {
        session_present: bool,
    },
    Message {
        topic: String,
        payload: Vec<u8>,
        /// Sent from the broker's retained store (rather than published just now).
        retained: bool,
    },
    /// A message over the payload limit: read (and acknowledged) by the client, its
    /// payload dropped at once without a copy.
    Oversized {
        topic: String,
        len: usize,
    },
    /// A SUBACK; `refused` names the first filter's reason when the broker refused one.
    Subscribed {
        refused: Option<String>,
    },
    /// A PUBACK; with MQTT 5, `refused` carries the broker's reason code when it did not
    /// accept the message (3.1.1 brokers acknowledge a denied publish all the same).
    Acked {
        refused: Option<String>,
    },
    /// The broker ended the connection with a DISCONNECT (MQTT 5), saying why.
    BrokerDisconnect(String),
    /// Our DISCONNECT went out: the connection is closed cleanly.
    Disconnected,
    /// Anything else (PINGRESP, our own outgoing packets).
    Other,
}

/// The outcome of one [`Link::next`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Polled {
    Event(Happened),
    /// The attempt or the connection failed; the next call connects again.
    Failed(String),
    /// Nothing arrived for 1.5 keep-alives: the connection was dropped; the next call
    /// connects again.
    Dead(Duration),
    /// Every [`Sender`] is gone.
    Closed,
}

/// Boxed: one lives per process, and the two differ in size by half a KiB.
enum Connection {
    V311(Box<rumqttc::Connection>),
    V5(Box<v5::Connection>),
}

/// The connection's reading side.
pub struct Link {
    connection: Connection,
    keep_alive: Duration,
    /// When something last arrived on the current connection; `None` while connecting.
    heard: Option<Instant>,
}

/// Everything a connection is made of, version-neutral.
pub struct Params {
    pub version: MqttVersion,
    pub client_id: String,
    pub host: String,
    pub port: u16,
    /// A session that lasts while the client is away (the device) or not (operators).
    pub persistent: bool,
    pub keep_alive: Duration,
    pub connect_timeout: Duration,
    pub credentials: Option<(String, String)>,
    /// Retained Last Will: topic and payload.
    pub will: Option<(String, Vec<u8>)>,
    #[cfg(feature = "tls")]
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// Capacity of the client's request channel.
    pub capacity: usize,
    pub inflight: u16,
}

impl Link {
    /// The client and its connection, not yet connected: the first [`Link::next`]
    /// connects.
    pub fn new(p: Params) -> Result<(Sender, Link), MqttError> {
        let timeout = p.connect_timeout.as_secs().max(1);
        let (sender, connection) = match p.version {
            MqttVersion::V311 => {
                let mut o = rumqttc::MqttOptions::new(p.client_id, p.host, p.port);
                o.set_keep_alive(p.keep_alive)
                    .set_clean_session(!p.persistent)
                    .set_inflight(p.inflight)
                    .set_request_channel_capacity(p.capacity)
                    .set_max_packet_size(MAX_INCOMING_V311, MAX_PAYLOAD_OUT);
                if let Some((user, password)) = p.credentials {
                    o.set_credentials(user, password);
                }
                if let Some((topic, payload)) = p.will {
                    o.set_last_will(rumqttc::LastWill::new(
                        topic,
                        payload,
                        QoS::AtLeastOnce,
                        true,
                    ));
                }
                #[cfg(feature = "tls")]
                if let Some(config) = p.tls {
                    o.set_transport(rumqttc::Transport::Tls(rumqttc::TlsConfiguration::Rustls(
                        config,
                    )));
                }
                let (client, mut connection) = rumqttc::Client::new(o, p.capacity);
                let mut network = connection.eventloop.network_options();
                network.set_tcp_nodelay(true);
                network.set_connection_timeout(timeout);
                connection.eventloop.set_network_options(network);
                (Sender::V311(client), Connection::V311(Box::new(connection)))
            }
            MqttVersion::V5 => {
                let mut o = v5::MqttOptions::new(p.client_id, p.host, p.port);
                o.set_keep_alive(p.keep_alive)
                    .set_clean_start(!p.persistent)
                    .set_session_expiry_interval(p.persistent.then_some(SESSION_EXPIRY))
                    .set_outgoing_inflight_upper_limit(p.inflight)
                    .set_request_channel_capacity(p.capacity)
                    // Announced to the broker: it never sends this client a bigger packet.
                    .set_max_packet_size(Some(MAX_INCOMING as u32))
                    .set_connection_timeout(timeout);
                if let Some((user, password)) = p.credentials {
                    o.set_credentials(user, password);
                }
                if let Some((topic, payload)) = p.will {
                    o.set_last_will(v5::mqttbytes::v5::LastWill::new(
                        topic,
                        payload,
                        V5QoS::AtLeastOnce,
                        true,
                        None,
                    ));
                }
                #[cfg(feature = "tls")]
                if let Some(config) = p.tls {
                    o.set_transport(rumqttc::Transport::Tls(rumqttc::TlsConfiguration::Rustls(
                        config,
                    )));
                }
                let mut network = o.network_options();
                network.set_tcp_nodelay(true);
                network.set_connection_timeout(timeout);
                o.set_network_options(network);
                let (client, connection) = v5::Client::new(o, p.capacity);
                (Sender::V5(client), Connection::V5(Box::new(connection)))
            }
        };
        let link = Link {
            connection,
            keep_alive: p.keep_alive,
            heard: None,
        };
        Ok((sender, link))
    }

    /// Waits for the next thing to happen: blocks while connecting (up to the connect
    /// timeout) and, once connected, until something arrives or the watchdog expires.
    pub fn next(&mut self) -> Polled {
        let limit = self.heard.map(|t| t + self.keep_alive * 3 / 2);
        let polled = match limit {
            // Without a timeout there is no timeout to report.
            None => self.recv(None).unwrap_or(Polled::Closed),
            Some(limit) => {
                let left = limit.saturating_duration_since(Instant::now());
                match self.recv(Some(left)) {
                    Some(p) => p,
                    None => {
                        // Cut short on purpose: the connection is dropped as a whole.
                        self.clean();
                        self.heard = None;
                        return Polled::Dead(self.keep_alive * 3 / 2);
                    }
                }
            }
        };
        match &polled {
            Polled::Event(Happened::Connected { .. }) => self.heard = Some(Instant::now()),
            Polled::Event(Happened::Disconnected) | Polled::Failed(_) => self.heard = None,
            Polled::Event(_) => {}
            Polled::Dead(_) | Polled::Closed => self.heard = None,
        }
        polled
    }

    /// Whether the last poll left a live connection.
    pub fn connected(&self) -> bool {
        self.heard.is_some()
    }

    /// One event; `None` when `timeout` passed first (only with a timeout).
    fn recv(&mut self, timeout: Option<Duration>) -> Option<Polled> {
        match &mut self.connection {
            Connection::V311(c) => {
                let r = match timeout {
                    None => c.recv().map_err(|_| RecvTimeoutError::Disconnected),
                    Some(t) => c.recv_timeout(t),
                };
                match r {
                    Ok(Ok(e)) => {
                        let incoming = matches!(e, rumqttc::Event::Incoming(_));
                        if incoming && self.heard.is_some() {
                            self.heard = Some(Instant::now());
                        }
                        Some(Polled::Event(v311_event(e)))
                    }
                    Ok(Err(e)) => Some(Polled::Failed(e.to_string())),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => Some(Polled::Closed),
                }
            }
            Connection::V5(c) => {
                let r = match timeout {
                    None => c.recv().map_err(|_| v5::RecvTimeoutError::Disconnected),
                    Some(t) => c.recv_timeout(t),
                };
                match r {
                    Ok(Ok(e)) => {
                        let incoming = matches!(e, v5::Event::Incoming(_));
                        if incoming && self.heard.is_some() {
                            self.heard = Some(Instant::now());
                        }
                        Some(Polled::Event(v5_event(e)))
                    }
                    Ok(Err(e)) => Some(Polled::Failed(v5_error(&e))),
                    Err(v5::RecvTimeoutError::Timeout) => None,
                    Err(v5::RecvTimeoutError::Disconnected) => Some(Polled::Closed),
                }
            }
        }
    }

    /// Forgets the publishes kept to be sent again on the next connection (those in
    /// flight when the last one ended) that `superseded` names by topic and payload: a retained
    /// status the caller sends afresh at every connect anyway, or an answer whose
    /// reader has given up. Sent again, they would reach subscribers before the fresh
    /// ones (a status going back in time for a moment), and a message too big for the
    /// link to carry within the watchdog's limit would be sent again on every new
    /// connection, forever. Returns how many were forgotten.
    pub fn forget_pending(&mut self, superseded: impl Fn(&str, &[u8]) -> bool) -> usize {
        match &mut self.connection {
            Connection::V311(c) => {
                let before = c.eventloop.pending.len();
                (c.eventloop.pending).retain(|r| {
                    !matches!(r, rumqttc::Request::Publish(p) if superseded(&p.topic, &p.payload))
                });
                before - c.eventloop.pending.len()
            }
            Connection::V5(c) => {
                let before = c.eventloop.pending.len();
                (c.eventloop.pending).retain(|r| {
                    !matches!(r, v5::Request::Publish(p)
                        if superseded(&String::from_utf8_lossy(&p.topic), &p.payload))
                });
                before - c.eventloop.pending.len()
            }
        }
    }

    fn clean(&mut self) {
        match &mut self.connection {
            Connection::V311(c) => c.eventloop.clean(),
            Connection::V5(c) => c.eventloop.clean(),
        }
    }
}

fn v311_event(e: rumqttc::Event) -> Happened {
    use rumqttc::{Event, Outgoing, Packet, SubscribeReasonCode};
    match e {
        Event::Incoming(Packet::ConnAck(ack)) => Happened::Connected {
            session_present: ack.session_present,
        },
        Event::Incoming(Packet::Publish(p)) if p.payload.len() > MAX_PAYLOAD => {
            Happened::Oversized {
                topic: p.topic,
                len: p.payload.len(),
            }
        }
        Event::Incoming(Packet::Publish(p)) => Happened::Message {
            topic: p.topic,
            payload: p.payload.to_vec(),
            retained: p.retain,
        },
        Event::Incoming(Packet::SubAck(ack)) => Happened::Subscribed {
            refused: (ack.return_codes.iter())
                .any(|c| matches!(c, SubscribeReasonCode::Failure))
                .then(|| "the broker refused a subscription (not authorised?)".to_owned()),
        },
        Event::Incoming(Packet::PubAck(_)) => Happened::Acked { refused: None },
        Event::Outgoing(Outgoing::Disconnect) => Happened::Disconnected,
        _ => Happened::Other,
    }
}

fn v5_event(e: v5::Event) -> Happened {
    use v5::mqttbytes::v5::{PubAckReason, SubscribeReasonCode};
    use v5::{Event, Incoming};
    match e {
        Event::Incoming(Incoming::ConnAck(ack)) => Happened::Connected {
            session_present: ack.session_present,
        },
        Event::Incoming(Incoming::Publish(p)) if p.payload.len() > MAX_PAYLOAD => {
            Happened::Oversized {
                topic: String::from_utf8_lossy(&p.topic).into_owned(),
                len: p.payload.len(),
            }
        }
        Event::Incoming(Incoming::Publish(p)) => Happened::Message {
            topic: String::from_utf8_lossy(&p.topic).into_owned(),
            payload: p.payload.to_vec(),
            retained: p.retain,
        },
        Event::Incoming(Incoming::SubAck(ack)) => Happened::Subscribed {
            refused: (ack.return_codes.iter())
                .find(|c| !matches!(c, SubscribeReasonCode::Success(_)))
                .map(|c| format!("the broker refused a subscription: {c:?}")),
        },
        Event::Incoming(Incoming::PubAck(ack)) => Happened::Acked {
            refused: match ack.reason {
                PubAckReason::Success | PubAckReason::NoMatchingSubscribers => None,
                other => Some(format!("the broker refused the message: {other:?}")),
            },
        },
        Event::Incoming(Incoming::Disconnect(d)) => {
            Happened::BrokerDisconnect(format!("{:?}", d.reason_code))
        }
        Event::Outgoing(rumqttc::Outgoing::Disconnect) => Happened::Disconnected,
        _ => Happened::Other,
    }
}

/// MQTT 5 errors with the broker's reason code spelled out.
fn v5_error(e: &v5::ConnectionError) -> String {
    match e {
        v5::ConnectionError::ConnectionRefused(code) => {
            format!("the broker refused the connection: {code:?}")
        }
        other => other.to_string(),
    }
}
