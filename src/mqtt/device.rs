//! The device's connection: one thread that reads the connection ([`Link`]) and moves
//! what the broker sends into the [`Mailbox`]; [`Device`] is the agent's handle
//! (statuses, events, node status, logs answers out; desired-state updates and logs
//! requests in). What goes out is handed to the client's channel by whichever thread
//! adds it, at once; the connection's own event loop writes it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::link::{ANSWER_EXPIRY, EVENT_EXPIRY, Happened, Link, Polled, Publish, Sender};
use super::{Backoff, Inbound, Mailbox, MqttError, Topics, broker_name, params};
use crate::config::Settings;
use crate::spec::{self, LogsRequest, LogsResponse, NodeStatus, PodStatus};

/// The agent's handle on its broker connection. Every method returns at once.
pub struct Device {
    mailbox: Arc<Mailbox>,
    outbox: Arc<Outbox>,
    topics: Topics,
    stopping: Arc<AtomicBool>,
    /// Ends the reader's back-off sleep early (a message, or being dropped).
    wake: mpsc::Sender<()>,
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
        let topics = Topics::new(&settings.prefix, node).with_keys(settings.trusted_keys.clone());
        let will = (topics.node(), spec::encode(offline));
        let p = params(settings, &topics.device_client_id(), true, Some(will))?;
        let (sender, link) = Link::new(p)?;
        let mailbox = Arc::new(Mailbox::default());
        let stopping = Arc::new(AtomicBool::new(false));
        let (wake, sleeper) = mpsc::channel();
        let outbox = Arc::new(Outbox {
            sender: sender.clone(),
            mailbox: mailbox.clone(),
            topics: topics.clone(),
            connected: AtomicBool::new(false),
            flushing: Mutex::new(()),
        });
        let reader = Reader {
            link,
            sender,
            outbox: outbox.clone(),
            mailbox: mailbox.clone(),
            topics: topics.clone(),
            stopping: stopping.clone(),
            sleeper,
            broker: broker_name(settings),
            reconnect_max: settings.reconnect_max.max(Duration::from_millis(250)),
            oversized: Default::default(),
        };
        let thread = std::thread::Builder::new()
            .name("mqtt".into())
            .spawn(move || reader.run())
            .map_err(MqttError::Thread)?;
        Ok(Device {
            mailbox,
            outbox,
            topics,
            stopping,
            wake,
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
    /// While disconnected there is nothing to say: the broker has sent the Last Will.
    pub fn stop(mut self, offline: &NodeStatus, grace: Duration) {
        self.mailbox.set_node(spec::encode(offline));
        self.stopping.store(true, Ordering::SeqCst);
        self.outbox.flush();
        if self.outbox.connected.load(Ordering::SeqCst) {
            // After the node status in the client's channel: requests go out in order.
            self.outbox.sender.disconnect();
        }
        let _ = self.wake.send(());
        self.mailbox.wait_closed(grace);
        if let Some(t) = self.thread.take() {
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for Device {
    /// The thread ends too (at once when it waits between attempts; otherwise at the end
    /// of the attempt or when the connection next hears from the broker).
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        let _ = self.wake.send(());
    }
}

/// What waits to go out, and the client that sends it. Flushed by the agent's thread as
/// soon as it adds something and by the reader at every connect, so that a status goes
/// out at once.
struct Outbox {
    sender: Sender,
    mailbox: Arc<Mailbox>,
    topics: Topics,
    /// Set by the reader: nothing is handed to the client while the broker is away (the
    /// mailbox coalesces; the client's queue would not).
    connected: AtomicBool,
    /// One flush at a time: two could publish two statuses of a pod out of order.
    flushing: Mutex<()>,
}

impl Outbox {
    /// Hands what waits to the client, in order: node status, pod statuses, events,
    /// logs answers; stops at the first the client's queue refuses (the reader flushes
    /// again when the broker acknowledges something).
    fn flush(&self) {
        if !self.connected.load(Ordering::SeqCst) {
            return;
        }
        let _one = self.flushing.lock().unwrap_or_else(|e| e.into_inner());
        let publish = |topic: String, payload: &[u8], retain: bool, expiry: Option<u32>| {
            self.sender.publish(Publish {
                topic,
                payload,
                retain,
                expiry,
            })
        };
        while let Some(node) = self.mailbox.take_node() {
            if !publish(self.topics.node(), &node, true, None) {
                self.mailbox.return_node();
                return;
            }
        }
        // Statuses never expire: a retained status lives as long as its pod.
        while let Some((pod, payload)) = self.mailbox.take_status() {
            if !publish(self.topics.status(&pod), &payload, true, None) {
                self.mailbox.return_status(pod, payload);
                return;
            }
        }
        while let Some(event) = self.mailbox.take_event() {
            if !publish(self.topics.events(), &event, false, Some(EVENT_EXPIRY)) {
                self.mailbox.return_event(event);
                return;
            }
        }
        while let Some((id, answer)) = self.mailbox.take_log_answer() {
            let topic = self.topics.logs_reply(&id);
            if !publish(topic, &answer, false, Some(ANSWER_EXPIRY)) {
                self.mailbox.return_log_answer(id, answer);
                return;
            }
        }
    }
}

/// The MQTT thread: reads the connection, reconnects with back-off.
struct Reader {
    link: Link,
    sender: Sender,
    outbox: Arc<Outbox>,
    mailbox: Arc<Mailbox>,
    topics: Topics,
    stopping: Arc<AtomicBool>,
    sleeper: mpsc::Receiver<()>,
    broker: String,
    reconnect_max: Duration,
    /// The oversized messages already handed over (topic and size), newest last: a
    /// retained one comes again at every connect, and is reported once.
    oversized: std::collections::VecDeque<(String, usize)>,
}

/// Oversized messages remembered, so that each is reported once.
const OVERSIZED_SEEN: usize = 16;

impl Reader {
    fn run(mut self) {
        let mut backoff = Backoff::seeded(self.reconnect_max);
        let mut subscribed = false;
        loop {
            let connected = self.link.connected();
            let started = Instant::now();
            match self.link.next() {
                Polled::Event(Happened::Connected { session_present }) => {
                    log::info!(
                        "connected to {} (session present: {session_present})",
                        self.broker
                    );
                    backoff.reset();
                    subscribed = false;
                    self.outbox.connected.store(true, Ordering::SeqCst);
                    self.mailbox.set_connected(true);
                }
                Polled::Event(Happened::Message { topic, payload, .. }) => {
                    self.receive(&topic, &payload);
                }
                Polled::Event(Happened::Oversized { topic, len }) => {
                    self.oversized(&topic, len);
                }
                Polled::Event(Happened::Subscribed { refused: Some(why) }) => {
                    log::warn!("{}: {why}", self.broker);
                }
                Polled::Event(Happened::BrokerDisconnect(reason)) => {
                    log::warn!("{} ended the connection: {reason}", self.broker);
                }
                Polled::Event(Happened::Disconnected) | Polled::Closed => break,
                Polled::Event(_) => {}
                Polled::Failed(e) => {
                    self.down(connected, &e);
                    if self.stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    // An attempt that took long (a timeout) already waited; a connection
                    // that broke did not: every device of a fleet whose broker restarts
                    // then waits its own jittered pause.
                    let spent = if connected {
                        Duration::ZERO
                    } else {
                        started.elapsed()
                    };
                    if self.sleep(backoff.next_delay().saturating_sub(spent)) {
                        break;
                    }
                }
                Polled::Dead(after) => {
                    let e = format!("nothing heard for {after:?}: the link is dead");
                    self.down(connected, &e);
                    if self.stopping.load(Ordering::SeqCst) {
                        break;
                    }
                }
            }
            if self.link.connected() {
                // Retried until the client's channel takes it: without it, a broker that
                // lost the session would never send this node anything again.
                subscribed = subscribed || self.subscribe();
                self.outbox.flush();
            }
        }
        self.outbox.connected.store(false, Ordering::SeqCst);
        self.mailbox.close();
    }

    /// The connection went down (or an attempt failed). Statuses, the node status and
    /// logs answers that were in flight are not sent again: the mailbox sends the
    /// current status of every pod and of the node at the next connect, and a logs
    /// answer that did not make it is one its operator has stopped waiting for. Events
    /// and the clearing of a status (an empty payload) are sent again: nothing else
    /// would send them.
    fn down(&mut self, was_connected: bool, why: &str) {
        let topics = &self.topics;
        let node = topics.node();
        let reply = topics.logs_reply("");
        self.link.forget_pending(|t, payload| {
            !payload.is_empty()
                && (t == node || t.starts_with(&reply) || topics.pod_of(t, "status").is_some())
        });
        if was_connected {
            log::warn!("lost the connection to {}: {why}", self.broker);
            self.outbox.connected.store(false, Ordering::SeqCst);
            self.mailbox.set_connected(false);
        } else {
            log::debug!("connect to {}: {why}", self.broker);
        }
    }

    /// A message over the payload limit, already dropped: the agent refuses it as a
    /// desired-state update that did not decode (a Warning Event, the pod's status says
    /// so), once per topic and size.
    fn oversized(&mut self, topic: &str, len: usize) {
        let key = (topic.to_owned(), len);
        if self.oversized.contains(&key) {
            log::debug!("the message of {len} bytes on {topic} again: skipped");
            return;
        }
        if self.oversized.len() == OVERSIZED_SEEN {
            self.oversized.pop_front();
        }
        self.oversized.push_back(key);
        match self.topics.receive_oversized(topic, len) {
            Some(update) => self.mailbox.deliver(update),
            None => log::warn!("skipped a message of {len} bytes on {topic}: over the limit"),
        }
    }

    /// A message from the broker: a logs request, or a desired-state update.
    fn receive(&self, topic: &str, payload: &[u8]) {
        if let Some(request) = self.topics.receive_logs(topic, payload) {
            match request {
                Ok(r) => self.mailbox.deliver_log_request(r),
                // Not a warning: anyone who may publish could flood the log.
                Err(e) => log::debug!("a logs request refused: {e}"),
            }
            return;
        }
        match self.topics.receive(topic, payload) {
            Some(update) => self.mailbox.deliver(update),
            None => log::debug!("ignored a message on {topic}"),
        }
    }

    /// Subscribes to this node's pods and index (every connect: the broker then sends
    /// the retained ones again), and to its logs requests with QoS 0, so that the broker
    /// does not queue them for the session while the device is away (a late answer
    /// would reach nobody); false when the client's channel is full for now.
    fn subscribe(&self) -> bool {
        let filters: Vec<(String, bool)> = (self.topics.device_filters().into_iter())
            .map(|f| (f, true))
            .chain([(self.topics.logs_request(), false)])
            .collect();
        self.sender.subscribe(&filters)
    }

    /// Sleeps `d`; true when the device is being stopped or dropped meanwhile.
    fn sleep(&self, d: Duration) -> bool {
        match self.sleeper.recv_timeout(d) {
            Err(mpsc::RecvTimeoutError::Timeout) => self.stopping.load(Ordering::SeqCst),
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => true,
        }
    }
}
