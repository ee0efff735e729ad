//! The agent's [`PodRuntime`] over the per-pod shims: apply starts a shim (as `pealet
//! run --detach` does), adopts one that already runs the same spec (agent restarts never
//! restart containers), or replaces it gracefully; remove stops it gracefully and
//! deletes its state. One [`PodRecord`] per pod says what is in progress; its shim's
//! watch connection ([`ShimWatch`]) pushes its statuses and Events.
//!
//! Starts, replacements and removals run on a short-lived thread per pod (a graceful
//! stop waits out the grace period); the thread signals the agent's [`Waker`] when it
//! is done, and the loop never waits for it. Those threads only call `Command`
//! (fork+exec) and the shim's socket, never fork.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::admit::{self, Admission};
use super::record::{Done, Existing, Placement, PodRecord, Refusal, Removal};
use super::watch::{Pushed, ShimWatch};
use crate::images::registry::RegistryFlags;
use crate::reconcile::{PodRuntime, event};
use crate::shim::control;
use crate::shim::proto::{Client, Request};
use crate::shim::state::{self, PodDirs};
use crate::spec::{
    self, EventType, NodeResources, Pod, PodPhase, PodStatus, Reason, RestartPolicy, Time,
};
use crate::wake::Waker;

/// The annotation that marks a pod started from a manifest in the manifests directory.
pub const STATIC_ANNOTATION: &str = "pealet.io/static";

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("pod {pod} is a static pod of this node; it cannot be changed over MQTT")]
    Static { pod: String },
    #[error("pod {pod} refused: {reason}: {message}")]
    Refused {
        pod: String,
        reason: String,
        message: String,
    },
}

/// What a job hands back: a start's watch connection and its shim's pidfd, or why it
/// failed.
type Outcome = Result<Option<(Client, OwnedFd)>, String>;

/// A start or a stop on a thread of its own.
pub struct Job {
    thread: Option<JoinHandle<()>>,
    outcome: Arc<Mutex<Option<Outcome>>>,
}

/// One pod: its record and its shim's watch connection.
#[derive(Default)]
struct Entry {
    record: PodRecord<Job>,
    watch: Option<ShimWatch>,
    /// The stop of a shim that runs a pod admission now refuses (admitted under
    /// earlier settings); a later start of the pod waits for it.
    refused_stop: Option<Job>,
}

pub struct ShimRuntime {
    root: PathBuf,
    run_dir: PathBuf,
    log_cap: u64,
    /// Registry settings handed to every shim for its image pulls.
    registries: RegistryFlags,
    /// Handed to every shim: RuntimeDefault for containers without a seccompProfile.
    seccomp_default: bool,
    admission: Admission,
    allocatable: NodeResources,
    pods: BTreeMap<String, Entry>,
    /// Signalled by the jobs when they end.
    waker: Option<Waker>,
    /// Events for the upstream, taken by the agent after each turn.
    events: Vec<spec::Event>,
    /// Pods whose status is to be cleared upstream (removed, or only refused).
    cleared: Vec<String>,
    /// Pidfds of the shims this agent started (its children) until it has reaped them.
    children: Vec<OwnedFd>,
}

impl ShimRuntime {
    pub fn new(
        root: PathBuf,
        run_dir: PathBuf,
        admission: Admission,
        allocatable: NodeResources,
    ) -> ShimRuntime {
        ShimRuntime {
            root,
            run_dir,
            log_cap: crate::shim::logs::DEFAULT_CAP,
            registries: RegistryFlags::default(),
            seccomp_default: false,
            admission,
            allocatable,
            pods: BTreeMap::new(),
            waker: None,
            events: Vec::new(),
            cleared: Vec::new(),
            children: Vec::new(),
        }
    }

    /// The registry settings of the pods' image pulls (the agent's config).
    pub fn set_registries(&mut self, registries: RegistryFlags) {
        self.registries = registries;
    }

    pub fn set_seccomp_default(&mut self, on: bool) {
        self.seccomp_default = on;
    }

    /// Signalled whenever a start or stop job ends.
    pub fn set_waker(&mut self, waker: Waker) {
        self.waker = Some(waker);
    }

    pub fn set_allocatable(&mut self, allocatable: NodeResources) {
        self.allocatable = allocatable;
    }

    /// Whether a spec of `name` runs (or is being started).
    pub fn runs(&self, name: &str) -> bool {
        self.pods.get(name).is_some_and(|e| e.record.runs())
    }

    pub fn is_static(&self, name: &str) -> bool {
        (self.pods.get(name)).is_some_and(|e| e.record.runs() && e.record.is_static)
    }

    /// Starts, adopts or replaces a pod; `is_static` for a manifest of the manifests
    /// directory (only the agent's static-pod scan passes true).
    pub fn place(&mut self, pod: &Pod, is_static: bool) -> Result<(), RuntimeError> {
        let name = pod.name.to_string();
        let used = (self.pods.iter())
            .filter(|(n, e)| **n != name && e.record.runs())
            .filter_map(|(_, e)| e.record.spec().map(admit::requests))
            .fold((0u64, 0u64), |a, b| {
                (a.0.saturating_add(b.0), a.1.saturating_add(b.1))
            });
        // Static pods were written by root on the device: they may have the host.
        let rules = match is_static {
            true => Ok(()),
            false => self.admission.check(pod),
        };
        let admitted = rules
            .and_then(|()| admit::fits(pod, used, &self.allocatable))
            .map_err(|r| Refusal {
                reason: r.reason,
                message: r.message,
            });
        let current = state::read(&self.root, &self.run_dir, &name).ok();
        let existing = Existing {
            hash: current.as_ref().map(|st| spec::SpecHash::of_pod(&st.pod)),
            // A finished pod is adopted as finished only when its restart policy would
            // not have started it again: one stopped by an interrupted removal (or by
            // hand) is started again, as its policy asks.
            adoptable: current.as_ref().is_some_and(|st| {
                let policy = st.pod.spec.restart_policy;
                let finished = (st.status.as_ref()).is_some_and(|s| match s.phase {
                    PodPhase::Succeeded => policy != RestartPolicy::Always,
                    PodPhase::Failed => policy == RestartPolicy::Never,
                    PodPhase::Pending | PodPhase::Running | PodPhase::Unknown => false,
                });
                st.shim.is_some() || finished
            }),
        };
        let entry = self.pods.entry(name.clone()).or_default();
        let refusal = admitted.as_ref().err().cloned();
        // A shim this agent does not track yet (it started before an agent restart)
        // runs a pod that admission now refuses: admitted under earlier settings, before
        // an upgrade or a change of the config. As the kubelet does with a pod that no
        // longer passes admission, it is stopped.
        // While such a stop runs, nothing is adopted: a start waits for it instead.
        let existing = Existing {
            adoptable: existing.adoptable && entry.refused_stop.is_none(),
            ..existing
        };
        let orphan = refusal.is_some()
            && !entry.record.runs()
            && entry.refused_stop.is_none()
            && current.as_ref().is_some_and(|st| st.shim.is_some());
        match entry.record.place(pod, admitted, existing, Time::now()) {
            Placement::Refused => {
                let r = refusal.unwrap_or_else(|| Refusal {
                    reason: Reason::Other(Default::default()),
                    message: String::new(),
                });
                if orphan {
                    log::warn!("pod {name}: refused now ({}), stopping it", r.message);
                    let (root, run_dir) = (self.root.clone(), self.run_dir.clone());
                    let pod = name.clone();
                    let job = spawn(&name, None, None, move || {
                        let d = PodDirs::new(&root, &run_dir, &pod);
                        control::remove(&d, &pod, None).map_err(|e| e.to_string())?;
                        Ok(None)
                    });
                    entry.refused_stop = Some(job);
                }
                return Err(RuntimeError::Refused {
                    pod: name,
                    reason: r.reason.as_str().to_owned(),
                    message: r.message,
                });
            }
            Placement::Keep => {}
            Placement::Adopt => {
                entry.record.is_static = is_static;
                log::info!("pod {name}: adopted (spec {})", spec::SpecHash::of_pod(pod));
                let d = PodDirs::new(&self.root, &self.run_dir, &name);
                let running = current.as_ref().is_some_and(|st| st.shim.is_some());
                entry.watch = running
                    .then(|| ShimWatch::adopt(&d.socket()))
                    .and_then(|w| {
                        w.map_err(|e| log::warn!("pod {name}: watch its shim: {e}"))
                            .ok()
                    });
                if entry.watch.is_none() {
                    // Finished (or its shim just went): the status file says how.
                    if let Some(status) = current.and_then(|st| st.status) {
                        entry.record.set_status(status);
                    }
                }
            }
            Placement::Start {
                replacing,
                previous,
            } => {
                let previous = previous.or_else(|| entry.refused_stop.take());
                entry.record.is_static = is_static;
                entry.watch = None;
                match replacing {
                    true => log::info!("pod {name}: replacing it"),
                    false => log::info!("pod {name}: starting it"),
                }
                // The same spec with no shim left (it died, maybe while the agent was
                // down): a new shim takes over its run directory and restart counts.
                let resume = existing.hash == Some(spec::SpecHash::of_pod(pod));
                if resume {
                    log::warn!("pod {name}: its shim is gone; starting a new one");
                }
                let paths = (self.root.as_path(), self.run_dir.as_path(), self.log_cap);
                let settings = (&self.registries, self.seccomp_default);
                let start = Self::start_job(paths, settings, pod, !resume);
                let job = spawn(&name, self.waker.clone(), previous, start);
                entry.record.starting(job, replacing);
            }
        }
        Ok(())
    }

    /// A job that starts a shim for `pod` and watches it, after removing what is left
    /// of an earlier run of it when `fresh` (a new spec); otherwise the new shim takes
    /// over the run directory (status, restart counts, logs) of the one that died.
    fn start_job(
        (root, run_dir, log_cap): (&Path, &Path, u64),
        (registries, seccomp_default): (&RegistryFlags, bool),
        pod: &Pod,
        fresh: bool,
    ) -> impl FnOnce() -> Outcome + Send + 'static {
        let (root, run_dir) = (root.to_path_buf(), run_dir.to_path_buf());
        let registries = registries.clone();
        let pod = pod.clone();
        move || {
            if fresh {
                let d = PodDirs::new(&root, &run_dir, &pod.name);
                control::remove(&d, &pod.name, None).map_err(|e| e.to_string())?;
            }
            let shim = control::ShimSettings {
                log_cap,
                backoff_base_ms: None,
                registries: &registries,
                seccomp_default,
            };
            let (client, pidfd) =
                control::start_child(&root, &run_dir, &pod, &shim).map_err(|e| e.to_string())?;
            // Events of the start so far come first: the shim keeps them.
            (client.send(&Request::Watch { replay: true })).map_err(|e| e.to_string())?;
            Ok(Some((client, pidfd)))
        }
    }

    /// The shim of `name` died while its pod ran: start a new one at once, which stops
    /// what the old one left running and starts the containers again, keeping their
    /// restart counts. Until it reports, the pod's status says Unknown.
    fn repair(&mut self, name: &str) {
        let Some(pod) = self.pods.get(name).and_then(|e| e.record.spec().cloned()) else {
            return;
        };
        let paths = (self.root.as_path(), self.run_dir.as_path(), self.log_cap);
        let start = Self::start_job(paths, self.shim_settings(), &pod, false);
        let job = spawn(name, self.waker.clone(), None, start);
        if let Some(entry) = self.pods.get_mut(name) {
            entry.record.repairing(job);
        }
    }

    /// What every shim of this agent is started with besides its pod and paths.
    fn shim_settings(&self) -> (&RegistryFlags, bool) {
        (&self.registries, self.seccomp_default)
    }

    /// The pidfds of the shims this agent has started and not reaped yet, for its poll.
    pub fn children(&self) -> impl Iterator<Item = BorrowedFd<'_>> {
        self.children.iter().map(|fd| fd.as_fd())
    }

    /// Reaps the shims that have exited.
    pub fn reap_children(&mut self) {
        self.children.retain(|fd| !control::reap(fd));
    }

    /// Stops a pod gracefully and deletes its state, on a thread; static or not.
    pub fn unplace(&mut self, name: &str) {
        let Some(entry) = self.pods.get_mut(name) else {
            return;
        };
        match entry.record.remove() {
            Removal::Already => {}
            Removal::Clear => {
                self.pods.remove(name);
                self.cleared.push(name.to_owned());
            }
            Removal::Stop { previous } => {
                log::info!("pod {name}: stopping it gracefully, then removing it");
                entry.watch = None;
                let (root, run_dir) = (self.root.clone(), self.run_dir.clone());
                let pod = name.to_owned();
                let job = spawn(name, self.waker.clone(), previous, move || {
                    let d = PodDirs::new(&root, &run_dir, &pod);
                    control::remove(&d, &pod, None).map_err(|e| e.to_string())?;
                    Ok(None)
                });
                entry.record.stopping(job);
            }
        }
    }

    /// Collects the jobs that have ended: starts watch their new shim, removals clear
    /// their pod's status, failures become Warning Events.
    pub fn collect(&mut self) {
        let done: Vec<(String, Outcome)> = (self.pods.iter_mut())
            .filter_map(|(n, e)| Some((n.clone(), e.record.job()?.outcome()?)))
            .collect();
        let now = Time::now();
        for (name, outcome) in done {
            let Some(entry) = self.pods.get_mut(&name) else {
                continue;
            };
            let (result, client) = match outcome {
                Ok(Some((client, pidfd))) => {
                    self.children.push(pidfd);
                    (Ok(()), Some(client))
                }
                Ok(None) => (Ok(()), None),
                Err(e) => (Err(e), None),
            };
            if let Err(message) = &result {
                let (pod, msg) = (Some(name.clone()), message.clone());
                (self.events).push(event(EventType::Warning, "Failed", pod, msg, now));
            }
            match entry.record.finished(result, now) {
                Done::Started => {
                    log::info!("pod {name}: started");
                    entry.watch = client.map(ShimWatch::new);
                }
                Done::StartFailed => {}
                Done::Removed => {
                    log::info!("pod {name}: stopped and removed");
                    self.pods.remove(&name);
                    self.cleared.push(name);
                }
            }
        }
    }

    /// The watch connections, by pod, for the agent's poll.
    pub fn watches(&self) -> impl Iterator<Item = (&str, BorrowedFd<'_>)> {
        (self.pods.iter()).filter_map(|(n, e)| Some((n.as_str(), e.watch.as_ref()?.as_fd())))
    }

    /// Reads what the shim of `name` pushed.
    pub fn on_watch(&mut self, name: &str) {
        let Some(entry) = self.pods.get_mut(name) else {
            return;
        };
        let Some(watch) = &entry.watch else {
            return;
        };
        for pushed in watch.read() {
            match pushed {
                Pushed::Status(st) => entry.record.set_status(*st),
                Pushed::Event(e) => self.events.push(e.upstream(name)),
                Pushed::Closed => {
                    entry.watch = None;
                    if entry.record.shim_gone() {
                        log::warn!("pod {name}: its shim exited unexpectedly; starting a new one");
                        self.repair(name);
                    }
                    break;
                }
            }
        }
    }

    /// Statuses that changed since they were last published.
    pub fn to_publish(&mut self) -> Vec<(String, PodStatus)> {
        (self.pods.iter_mut())
            .filter_map(|(n, e)| Some((n.clone(), e.record.to_publish()?)))
            .collect()
    }

    /// Events to publish, and pods whose status is to be cleared.
    pub fn take(&mut self) -> (Vec<spec::Event>, Vec<String>) {
        (
            std::mem::take(&mut self.events),
            std::mem::take(&mut self.cleared),
        )
    }
}

/// Runs `job` on a thread of its own, after `previous` (the work still in progress on
/// the same pod, say a stop before a new start); wakes `waker` when done.
fn spawn(
    name: &str,
    waker: Option<Waker>,
    previous: Option<Job>,
    job: impl FnOnce() -> Outcome + Send + 'static,
) -> Job {
    let outcome = Arc::new(Mutex::new(None));
    let slot = outcome.clone();
    let wake = waker.clone();
    let pod = name.to_owned();
    let run = move || {
        if let Some(mut p) = previous {
            if let Some(t) = p.thread.take() {
                let _ = t.join();
            }
            if let Some(Err(e)) = p.outcome() {
                log::warn!("pod {pod}: {e}");
            }
        }
        let result = job();
        if let Ok(mut o) = slot.lock() {
            *o = Some(result);
        }
        if let Some(w) = wake {
            w.wake();
        }
    };
    let builder = std::thread::Builder::new().name(format!("pod-{name}"));
    let thread = match builder.spawn(run) {
        Ok(t) => Some(t),
        Err(e) => {
            if let Ok(mut o) = outcome.lock() {
                *o = Some(Err(format!("start a thread: {e}")));
            }
            if let Some(w) = waker {
                w.wake();
            }
            None
        }
    };
    Job { thread, outcome }
}

impl Job {
    /// The outcome once the job has ended.
    pub fn outcome(&self) -> Option<Outcome> {
        self.outcome.lock().ok()?.take()
    }
}

impl PodRuntime for ShimRuntime {
    type Error = RuntimeError;

    fn apply(&mut self, pod: &Pod) -> Result<(), RuntimeError> {
        if self.is_static(&pod.name) {
            let pod = pod.name.to_string();
            return Err(RuntimeError::Static { pod });
        }
        self.place(pod, false)
    }

    fn remove(&mut self, name: &str) -> Result<(), RuntimeError> {
        if self.is_static(name) {
            return Err(RuntimeError::Static { pod: name.into() });
        }
        self.unplace(name);
        Ok(())
    }

    /// Only for a removal recorded in the store: a pod this agent does not know of but
    /// the run directory holds is stopped and removed all the same (a `pealet run` pod
    /// never has such a record, and is left alone).
    fn finish_removal(&mut self, name: &str) -> Result<(), RuntimeError> {
        if self.pods.contains_key(name) {
            return self.remove(name);
        }
        let d = PodDirs::new(&self.root, &self.run_dir, name);
        if !d.run.exists() && !d.root.exists() {
            // Nothing of it is left: the status the crashed agent may have left goes.
            self.cleared.push(name.to_owned());
            return Ok(());
        }
        log::info!("pod {name}: stopping what is left of it, then removing it");
        let (root, run_dir) = (self.root.clone(), self.run_dir.clone());
        let pod = name.to_owned();
        let job = spawn(name, self.waker.clone(), None, move || {
            let d = PodDirs::new(&root, &run_dir, &pod);
            control::remove(&d, &pod, None).map_err(|e| e.to_string())?;
            Ok(None)
        });
        let entry = self.pods.entry(name.to_owned()).or_default();
        entry.record.stopping(job);
        Ok(())
    }

    fn refuse(&mut self, name: &str, why: &str) {
        let entry = self.pods.entry(name.to_owned()).or_default();
        let reason = Reason::Other("Refused".try_into().unwrap_or_default());
        let why = Refusal {
            reason,
            message: why.to_owned(),
        };
        entry
            .record
            .refuse(spec::SpecHash::default(), why, Time::now());
    }
}
