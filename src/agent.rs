//! `pealet agent`: the device's main loop. It wires the desired state (`reconcile`,
//! `store`), the broker connection (`mqtt::Device`, optional), the static pods of the
//! manifests directory and the per-pod shims (`agent::runtime`) together.
//!
//! One plain thread runs the loop (no async runtime: a tick-driven loop is all it
//! needs): wait up to one tick for updates from the broker, hand them to the
//! reconciler, rescan the manifests, collect finished starts and stops, publish the
//! statuses that changed and the node status (on change and as a heartbeat), and answer
//! remote-logs requests (rate-limited, see `agent::logs`). The MQTT
//! client has its own thread behind the mailbox; starts and stops run on short-lived
//! threads per pod. Pods belong to their shims: stopping the agent leaves them running.

pub mod admit;
pub mod logs;
pub mod node;
pub mod pull_events;
pub mod runtime;
pub mod static_pods;

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::config::Settings;
use crate::desired::Update;
use crate::mqtt::Device;
use crate::reconcile::{Reconciler, event};
use crate::spec::{self, Event, EventType, NodeStatus, Reason, Time};
use crate::store::Store;
use admit::Admission;
use node::NodeFacts;
use runtime::ShimRuntime;
use static_pods::StaticPods;

/// How often the loop looks at the shims and the manifests directory when idle.
pub const TICK: Duration = Duration::from_millis(500);
/// The tick while pods are starting or stopping, so that their new statuses go out
/// within ten milliseconds.
const FAST_TICK: Duration = Duration::from_millis(10);
/// How long the fast tick lasts after the last change.
const FAST_FOR: Duration = Duration::from_secs(10);
/// How long a clean exit waits for the offline node status to reach the broker.
const GOODBYE: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("signalfd(SIGTERM, SIGINT): {0}")]
    Signals(rustix::io::Errno),
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    Mqtt(#[from] crate::mqtt::MqttError),
}

/// Where the agent keeps things, beside its settings.
#[derive(Debug, Clone)]
pub struct Paths {
    pub root: PathBuf,
    pub run_dir: PathBuf,
}

/// Runs until SIGTERM or SIGINT.
pub fn run(settings: &Settings, paths: &Paths) -> Result<(), AgentError> {
    // Before any thread starts, so that every thread keeps them blocked.
    let signals =
        crate::sys::signal_fd(&[libc::SIGINT, libc::SIGTERM]).map_err(AgentError::Signals)?;
    let name = settings.node_name()?;
    let store = Store::open(&paths.root)?;
    let facts = NodeFacts::new(
        &name,
        settings.reserved_cpu,
        settings.reserved_memory,
        &paths.root,
    );
    let admission = Admission {
        allow_privileged: settings.allow_privileged,
        allow_host_namespaces: settings.allow_host_namespaces,
        host_path_prefixes: settings.host_path_prefixes.clone(),
    };
    let mut runtime = ShimRuntime::new(
        paths.root.clone(),
        paths.run_dir.clone(),
        admission,
        facts.allocatable(),
    );
    runtime.set_registries(settings.registries.clone());
    let now = Time::now();
    let mut statics = StaticPods::new(&settings.manifests);
    let mut events = place_static(&mut runtime, &mut statics, now);
    let (reconciler, start_events) = Reconciler::start(store, runtime, now);
    events.extend(start_events);
    let device = match &settings.broker {
        Some(_) => Some(Device::start(
            settings,
            &name,
            &facts.status(false, None, now),
        )?),
        None => {
            log::info!("no broker configured: running static pods only");
            None
        }
    };
    log::info!("agent for node {name} started");
    let mut agent = Agent {
        paths: paths.clone(),
        limiter: logs::Limiter::default(),
        follows: logs::Follows::default(),
        logs_dropped: 0,
        reconciler,
        statics,
        device,
        facts,
        published: BTreeMap::new(),
        pulls: pull_events::PullWatch::default(),
        node: None,
        node_sent: Instant::now(),
        heartbeat: settings.heartbeat.max(Duration::from_secs(1)),
        fast_until: Instant::now() + FAST_FOR,
    };
    agent.publish_events(events);
    while !signalled(&signals) {
        agent.turn();
    }
    log::info!("stopping the agent; the pods keep running");
    if let Some(device) = agent.device.take() {
        let offline = agent.facts.status(false, agent.node.as_ref(), Time::now());
        device.stop(&offline, GOODBYE);
    }
    Ok(())
}

struct Agent {
    paths: Paths,
    /// Paces the answers to remote-logs requests.
    limiter: logs::Limiter,
    /// Remote-logs follows (`logs --node N -f`), answered by `answer_follows`.
    follows: logs::Follows,
    /// Remote-logs requests dropped so far (the mailbox's count), to say when it grows.
    logs_dropped: u64,
    reconciler: Reconciler<ShimRuntime>,
    statics: StaticPods,
    device: Option<Device>,
    facts: NodeFacts,
    /// The last status published per pod (encoded).
    published: BTreeMap<String, Vec<u8>>,
    /// Image pulls seen in the statuses, for their Events.
    pulls: pull_events::PullWatch,
    node: Option<NodeStatus>,
    node_sent: Instant,
    heartbeat: Duration,
    /// Until when the loop ticks fast (pods changed recently).
    fast_until: Instant,
}

impl Agent {
    /// One tick: updates in, static pods, finished work, statuses and node status out.
    fn turn(&mut self) {
        let tick = if Instant::now() < self.fast_until {
            FAST_TICK
        } else {
            TICK
        };
        let inbound = match &self.device {
            Some(d) => d.wait(tick),
            None => {
                std::thread::sleep(tick);
                Default::default()
            }
        };
        if !inbound.updates.is_empty() {
            self.fast_until = Instant::now() + FAST_FOR;
        }
        let now = Time::now();
        let mut events = Vec::new();
        if inbound.dropped > 0 {
            let msg = format!(
                "{} desired-state updates dropped (too many pending)",
                inbound.dropped
            );
            events.push(event(EventType::Warning, "UpdatesDropped", None, msg, now));
        }
        for update in inbound.updates {
            events.extend(self.handle(update, now));
        }
        let runtime = self.reconciler.runtime_mut();
        events.extend(place_static(runtime, &mut self.statics, now));
        if runtime.busy() || self.pulls.watching() {
            self.fast_until = Instant::now() + FAST_FOR;
        }
        let polled = runtime.poll();
        for (pod, message) in polled.failed {
            events.push(event(EventType::Warning, "Failed", Some(pod), message, now));
        }
        for pod in polled.gone {
            self.pulls.forget(&pod);
            if runtime.runs(&pod) {
                continue;
            }
            // Cleared even when this run of the agent never published it: a deletion
            // that arrives before the first publish after a restart must not leave the
            // status retained by the previous run behind.
            self.published.remove(&pod);
            if let Some(d) = &self.device {
                d.set_status(&pod, None);
            }
        }
        self.publish_events(events);
        self.publish_statuses();
        self.publish_node(inbound.connected == Some(true), now);
        self.answer_logs();
        self.answer_follows();
    }

    /// Answers the remote-logs requests that the rate limit allows now; the others wait
    /// in the mailbox's bounded queue for a later tick.
    fn answer_logs(&mut self) {
        let Some(d) = &self.device else {
            return;
        };
        let dropped = d.dropped().log_requests;
        if dropped > self.logs_dropped {
            let n = dropped - self.logs_dropped;
            log::warn!("{n} remote-logs requests dropped: too many at once");
            self.logs_dropped = dropped;
        }
        let n = self.limiter.available(Instant::now());
        if n == 0 {
            return;
        }
        let requests = d.take_log_requests(n);
        self.limiter.spend(requests.len());
        for r in &requests {
            if r.follow.is_some() {
                if let Some(busy) = self.follows.request(r, Instant::now()) {
                    d.answer_logs(&busy);
                }
                continue;
            }
            let answer = logs::answer(&self.paths.root, &self.paths.run_dir, r);
            if let spec::logs::LogsResult::Error(e) = &answer.result {
                log::info!("logs of pod {}: {}", r.pod, e.message);
            }
            d.answer_logs(&answer);
        }
    }

    /// Sends what the remote-logs follows have due (new output, ends, renewals).
    fn answer_follows(&mut self) {
        let Some(d) = &self.device else {
            return;
        };
        let mut files = logs::Files {
            root: &self.paths.root,
            run_dir: &self.paths.run_dir,
        };
        for answer in self.follows.due(Instant::now(), &mut files) {
            d.answer_logs(&answer);
        }
    }

    fn handle(&mut self, update: Update, now: Time) -> Vec<Event> {
        let name = match &update {
            Update::Pod { name, .. } | Update::Deleted { name } => Some(name.clone()),
            Update::Index(_) => None,
        };
        if let Some(name) = name.as_ref().filter(|n| self.statics.contains(n)) {
            let msg =
                format!("pod {name} is a static pod of this node; change its manifest on the node");
            return vec![event(
                EventType::Warning,
                "Refused",
                Some(name.clone()),
                msg,
                now,
            )];
        }
        let deleted = matches!(update, Update::Deleted { .. });
        let events = self.reconciler.handle(update, now);
        let runtime = self.reconciler.runtime_mut();
        for e in &events {
            if let (EventType::Warning, "Refused", Some(pod)) = (e.kind, e.reason.as_str(), &e.pod)
            {
                let reason = Reason::Other(e.reason.clone());
                runtime.note_refused(pod, reason, e.message.to_string());
            }
        }
        if let Some(name) = name.filter(|n| deleted && !runtime.runs(n)) {
            // A refused spec of a pod that never ran: its status goes with it.
            runtime.unplace(&name);
        }
        events
    }

    fn publish_events(&self, events: Vec<Event>) {
        for e in &events {
            let level = match e.kind {
                EventType::Normal => log::Level::Info,
                EventType::Warning => log::Level::Warn,
            };
            log::log!(level, "{}: {}", e.reason.as_str(), e.message.as_str());
            if let Some(d) = &self.device {
                d.push_event(e);
            }
        }
    }

    /// Publishes every status that changed since it was last published.
    fn publish_statuses(&mut self) {
        use crate::reconcile::PodRuntime;
        let mut events = Vec::new();
        for (pod, status) in self.reconciler.runtime().statuses() {
            let bytes = spec::encode(&status);
            let previous = self.published.get(&pod);
            if previous == Some(&bytes) {
                continue;
            }
            let old: Option<spec::PodStatus> = previous.and_then(|b| spec::decode(b).ok());
            let now = Time::now();
            events.extend(pull_events::pull_events(&pod, old.as_ref(), &status, now));
            let runtime = self.reconciler.runtime();
            let clock = (now, Instant::now());
            let pulls = self
                .pulls
                .events(&pod, old.as_ref(), &status, clock, runtime);
            events.extend(pulls);
            log::debug!("pod {pod}: status {}", status.phase.as_str());
            if let Some(d) = &self.device {
                d.set_status(&pod, Some(&status));
            }
            self.published.insert(pod, bytes);
        }
        self.publish_events(events);
    }

    /// The node status at connect, when it changes and as a heartbeat.
    fn publish_node(&mut self, connected: bool, now: Time) {
        let mut status = self.facts.status(true, self.node.as_ref(), now);
        let changed = self.node.as_ref().is_none_or(|old| {
            let mut old = old.clone();
            old.heartbeat = now;
            old != status
        });
        if !(changed || connected || self.node_sent.elapsed() >= self.heartbeat) {
            return;
        }
        status.heartbeat = now;
        let runtime = self.reconciler.runtime_mut();
        runtime.set_allocatable(status.allocatable);
        if let Some(d) = &self.device {
            d.set_node(&status);
        }
        self.node = Some(status);
        self.node_sent = Instant::now();
    }
}

/// Rescans the manifests directory and starts, replaces or stops static pods.
fn place_static(runtime: &mut ShimRuntime, statics: &mut StaticPods, now: Time) -> Vec<Event> {
    let changes = statics.scan();
    let mut events = Vec::new();
    for (file, why) in changes.problems {
        let msg = format!("{file}: {why}");
        events.push(event(EventType::Warning, "BadManifest", None, msg, now));
    }
    for name in changes.stop {
        log::info!("static pod {name}: its manifest is gone");
        runtime.unplace(&name);
    }
    for pod in changes.run {
        if let Err(e) = runtime.place(&pod, true) {
            let name = Some(pod.name.to_string());
            events.push(event(
                EventType::Warning,
                "FailedStart",
                name,
                e.to_string(),
                now,
            ));
        }
    }
    events
}

/// Whether SIGTERM or SIGINT arrived (the signalfd does not block).
fn signalled(signals: &OwnedFd) -> bool {
    let mut buf = [0u8; crate::sys::SIGINFO_SIZE];
    rustix::io::read(signals, &mut buf).is_ok_and(|n| n > 0)
}
