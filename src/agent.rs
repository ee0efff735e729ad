//! `pealet agent`: the device's main loop. It wires the desired state (`reconcile`,
//! `store`), the broker connection (`mqtt::Device`, optional), the static pods of the
//! manifests directory and the per-pod shims (`agent::runtime`) together.
//!
//! One plain thread runs one `poll` loop (`agent/event_loop.rs`) and sleeps until
//! something happens: SIGTERM or SIGINT (a signalfd), the [`Waker`] (the MQTT thread has
//! updates, logs requests or a connection change; a per-pod start or stop thread has
//! ended), a shim's watch socket (a status or an Event pushed), inotify on the manifests
//! directory, or the earliest timer it set (the node heartbeat, the remote-logs rate
//! limit). The MQTT client has its own thread behind the mailbox; starts and stops run
//! on short-lived threads per pod. Pods belong to their shims: stopping the agent leaves
//! them running.

pub mod admit;
mod event_loop;
pub mod logs;
pub mod node;
pub mod record;
pub mod runtime;
pub mod static_pods;
pub mod watch;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::config::Settings;
use crate::mqtt::Device;
use crate::reconcile::{Reconciler, event};
use crate::spec::{Event, EventType, NodeStatus, Time};
use crate::store::Store;
use crate::wake::Waker;
use admit::Admission;
use node::NodeFacts;
use runtime::ShimRuntime;
use static_pods::StaticPods;

/// How long a clean exit waits for the offline node status to reach the broker.
const GOODBYE: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("signalfd(SIGTERM, SIGINT): {0}")]
    Signals(rustix::io::Errno),
    #[error("eventfd: {0}")]
    Waker(std::io::Error),
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
        allow_host_path: settings.allow_host_path,
        host_path_prefixes: settings.host_path_prefixes.clone(),
        allowed_unsafe_sysctls: settings.allowed_unsafe_sysctls.clone(),
    };
    let waker = Waker::new().map_err(AgentError::Waker)?;
    let mut runtime = ShimRuntime::new(
        paths.root.clone(),
        paths.run_dir.clone(),
        admission,
        facts.allocatable(),
    );
    runtime.set_registries(settings.registries.clone());
    runtime.set_seccomp_default(settings.seccomp_default);
    runtime.set_waker(waker.clone());
    let now = Time::now();
    let mut statics = StaticPods::new(&settings.manifests);
    let mut events = place_static(&mut runtime, &mut statics, now);
    let (mut reconciler, start_events) = Reconciler::start(store, runtime, now);
    if !settings.trusted_keys.is_empty() {
        log::info!("desired state from the broker must be signed by a trusted key");
        reconciler.require_signatures(true);
    }
    events.extend(start_events);
    let device = match &settings.broker {
        Some(_) => {
            let d = Device::start(settings, &name, &facts.status(false, None, now))?;
            d.set_waker(waker.clone());
            Some(d)
        }
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
        logs_due: None,
        reconciler,
        statics,
        device,
        facts,
        node: None,
        node_due: Instant::now(),
        heartbeat: settings.heartbeat.max(Duration::from_secs(1)),
        idle: event_loop::Idle::Busy,
    };
    agent.publish_events(events);
    agent.run(&signals, &waker);
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
    /// When to look at the remote-logs requests again (the rate limit held some back).
    logs_due: Option<Instant>,
    reconciler: Reconciler<ShimRuntime>,
    statics: StaticPods,
    device: Option<Device>,
    facts: NodeFacts,
    node: Option<NodeStatus>,
    /// When the next heartbeat is due.
    node_due: Instant,
    heartbeat: Duration,
    /// On the way to giving memory back when idle.
    idle: event_loop::Idle,
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
