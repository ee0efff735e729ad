//! The device's connection: one thread that owns the rumqttc `Connection` and only polls
//! it, moving messages between the client and the [`Mailbox`]; [`Device`] is the
//! agent's handle (statuses, events, node status, logs answers out; desired-state
//! updates and logs requests in).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rumqttc::{
    Client, Connection, Event, LastWill, Outgoing, Packet, QoS, RecvTimeoutError, SubscribeFilter,
};

use super::{Backoff, Inbound, Mailbox, MqttError, TICK, Topics, broker_name, options};
use crate::config::Settings;
use crate::spec::{self, LogsRequest, LogsResponse, NodeStatus, PodStatus};

/// The agent's handle on its broker connection. Every method returns at once.
pub struct Device {
    mailbox: Arc<Mailbox>,
    outbox: Arc<Outbox>,
    topics: Topics,
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Device {
    /// Starts the MQTT thread for node `node`; `offline` is the Last Will (a NodeStatus
    /// that says `online: false`). Connecting happens in the background, with retries.
    pub fn start(
        settings: &Settings,
        node: &str,
        offline: &NodeStatus,
    ) -> Result<Device, MqttError> {
        let topics = Topics::new(&settings.prefix, node);
        let mut opts = options(settings, &topics.device_client_id(), false)?;
        let will = LastWill::new(topics.node(), spec::encode(offline), QoS::AtLeastOnce, true);
        opts.set_last_will(will);
        let (client, connection) = super::client(opts, super::REQUEST_CAPACITY);
        let mailbox = Arc::new(Mailbox::default());
        let stopping = Arc::new(AtomicBool::new(false));
        let outbox = Arc::new(Outbox {
            client: client.clone(),
            mailbox: mailbox.clone(),
            topics: topics.clone(),
            connected: AtomicBool::new(false),
            flushing: Mutex::new(()),
        });
        let poller = Poller {
            connection,
            client,
            outbox: outbox.clone(),
            mailbox: mailbox.clone(),
            topics: topics.clone(),
            stopping: stopping.clone(),
            broker: broker_name(settings),
        };
        let thread = std::thread::Builder::new()
            .name("mqtt".into())
            .spawn(move || poller.run())
            .map_err(MqttError::Thread)?;
        Ok(Device {
            mailbox,
            outbox,
            topics,
            stopping,
            thread: Some(thread),
        })
    }

    /// Signals `waker` whenever something arrives from the broker; the agent then
    /// takes it with [`Device::take`].
    pub fn set_waker(&self, waker: crate::wake::Waker) {
        self.mailbox.set_waker(waker);
    }

    pub fn topics(&self) -> &Topics {
        &self.topics
    }

    /// Publishes (retained) the status of `pod`, or clears it with `None`; only the
    /// newest status per pod waits while the broker is away.
    pub fn set_status(&self, pod: &str, status: Option<&PodStatus>) {
        self.mailbox
            .set_status(pod, status.map(spec::encode).unwrap_or_default());
        self.outbox.flush();
    }

    /// Publishes an Event (not retained); the oldest is dropped when 64 wait.
    pub fn push_event(&self, event: &spec::Event) {
        self.mailbox.push_event(spec::encode(event));
        self.outbox.flush();
    }

    /// Publishes (retained) the node status; sent again at every connect.
    pub fn set_node(&self, node: &NodeStatus) {
        self.mailbox.set_node(spec::encode(node));
        self.outbox.flush();
    }

    /// Up to `max` remote-logs requests, oldest first (at most
    /// [`MAX_LOG_REQUESTS`](super::MAX_LOG_REQUESTS) wait; more are dropped).
    pub fn take_log_requests(&self, max: usize) -> Vec<LogsRequest> {
        self.mailbox.take_log_requests(max)
    }

    /// Publishes (not retained) the answer to a logs request on its reply topic.
    pub fn answer_logs(&self, answer: &LogsResponse) {
        self.mailbox
            .push_log_answer(&answer.id, spec::encode(answer));
        self.outbox.flush();
    }

    /// What the broker sent since the last call, without waiting.
    pub fn take(&self) -> Inbound {
        self.mailbox.take()
    }

    /// Waits up to `timeout` for something from the broker.
    pub fn wait(&self, timeout: Duration) -> Inbound {
        self.mailbox.wait(timeout)
    }

    pub fn dropped(&self) -> super::Dropped {
        self.mailbox.dropped()
    }

    /// Says goodbye: publishes `offline` (retained), disconnects cleanly (so the broker
    /// does not send the Last Will) and waits up to `grace` for the thread to finish.
    pub fn stop(mut self, offline: &NodeStatus, grace: Duration) {
        self.mailbox.set_node(spec::encode(offline));
        self.stopping.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + grace;
        while !self.mailbox.is_closed() && Instant::now() < deadline {
            std::thread::sleep(TICK);
        }
        if let Some(t) = self.thread.take() {
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for Device {
    /// The thread ends too (a clean disconnect when connected).
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
    }
}

/// What waits to go out, and the client that sends it. Flushed by the MQTT thread at
/// every turn and by the agent's thread as soon as it adds something, so that a status
/// goes out at once instead of at the thread's next turn (up to [`TICK`] later).
struct Outbox {
    client: Client,
    mailbox: Arc<Mailbox>,
    topics: Topics,
    /// Set by the MQTT thread: nothing is handed to the client while the broker is away
    /// (the mailbox coalesces; the client's queue would not).
    connected: AtomicBool,
    /// One flush at a time: two could publish two statuses of a pod out of order.
    flushing: Mutex<()>,
}

impl Outbox {
    /// Hands what waits to the client, in order: node status, pod statuses, events,
    /// logs answers; stops at the first the client's queue refuses.
    fn flush(&self) {
        if !self.connected.load(Ordering::SeqCst) {
            return;
        }
        let _one = self.flushing.lock().unwrap_or_else(|e| e.into_inner());
        let publish = |topic: String, payload: &[u8], retain: bool| {
            self.client
                .try_publish(topic, QoS::AtLeastOnce, retain, payload.to_vec())
                .is_ok()
        };
        while let Some(node) = self.mailbox.take_node() {
            if !publish(self.topics.node(), &node, true) {
                self.mailbox.return_node();
                return;
            }
        }
        while let Some((pod, payload)) = self.mailbox.take_status() {
            if !publish(self.topics.status(&pod), &payload, true) {
                self.mailbox.return_status(pod, payload);
                return;
            }
        }
        while let Some(event) = self.mailbox.take_event() {
            if !publish(self.topics.events(), &event, false) {
                self.mailbox.return_event(event);
                return;
            }
        }
        while let Some((id, answer)) = self.mailbox.take_log_answer() {
            if !publish(self.topics.logs_reply(&id), &answer, false) {
                self.mailbox.return_log_answer(id, answer);
                return;
            }
        }
    }
}

/// The state of the MQTT thread.
struct Poller {
    connection: Connection,
    client: Client,
    outbox: Arc<Outbox>,
    mailbox: Arc<Mailbox>,
    topics: Topics,
    stopping: Arc<AtomicBool>,
    broker: String,
}

impl Poller {
    fn run(mut self) {
        let mut connected = false;
        let mut backoff = Backoff::seeded();
        let mut disconnect_sent = false;
        let mut subscribed = false;
        loop {
            if connected {
                // Retried until the client's channel takes it: without it, a broker that
                // lost the session would never send this node anything again.
                subscribed = subscribed || self.subscribe();
                self.outbox.flush();
                if self.stopping.load(Ordering::SeqCst) && !disconnect_sent {
                    // The node status went first: requests are written in order.
                    disconnect_sent = self.client.try_disconnect().is_ok();
                }
            } else if self.stopping.load(Ordering::SeqCst) {
                break;
            }
            match self.connection.recv_timeout(TICK) {
                Ok(Ok(Event::Incoming(Packet::ConnAck(ack)))) => {
                    log::info!(
                        "connected to {} (session present: {})",
                        self.broker,
                        ack.session_present
                    );
                    connected = true;
                    self.outbox.connected.store(true, Ordering::SeqCst);
                    subscribed = false;
                    backoff.reset();
                    self.mailbox.set_connected(true);
                }
                Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                    if let Some(request) = self.topics.receive_logs(&p.topic, &p.payload) {
                        match request {
                            Ok(r) => self.mailbox.deliver_log_request(r),
                            // Not a warning: anyone who may publish could flood the log.
                            Err(e) => log::debug!("a logs request refused: {e}"),
                        }
                        continue;
                    }
                    match self.topics.receive(&p.topic, &p.payload) {
                        Some(update) => self.mailbox.deliver(update),
                        None => log::debug!("ignored a message on {}", p.topic),
                    }
                }
                Ok(Ok(Event::Outgoing(Outgoing::Disconnect))) => break,
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    if self.stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    if connected {
                        log::warn!("lost the connection to {}: {e}", self.broker);
                        self.mailbox.set_connected(false);
                    } else {
                        log::debug!("connect to {}: {e}", self.broker);
                    }
                    connected = false;
                    self.outbox.connected.store(false, Ordering::SeqCst);
                    self.sleep(backoff.next_delay());
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        self.mailbox.close();
    }

    /// Subscribes to this node's pods and index (every connect: the broker then sends
    /// the retained ones again), and to its logs requests with QoS 0, so that the broker
    /// does not queue them for the session while the device is away (a late answer
    /// would reach nobody); false when the client's channel is full for now.
    fn subscribe(&self) -> bool {
        let filters = (self.topics.device_filters().into_iter())
            .map(|f| SubscribeFilter::new(f, QoS::AtLeastOnce))
            .chain([SubscribeFilter::new(
                self.topics.logs_request(),
                QoS::AtMostOnce,
            )]);
        self.client.try_subscribe_many(filters).is_ok()
    }

    /// Moves what waits in the mailbox into the client, as far as its channel takes it.
    /// Sleeps `d`, waking early when asked to stop.
    fn sleep(&self, d: Duration) {
        let end = Instant::now() + d;
        while !self.stopping.load(Ordering::SeqCst) {
            let now = Instant::now();
            if now >= end {
                return;
            }
            std::thread::sleep((end - now).min(TICK));
        }
    }
}
