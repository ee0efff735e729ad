//! The agent's [`PodRuntime`] over the per-pod shims: apply starts a shim (as `pealet
//! run --detach` does), adopts one that already runs the same spec (agent restarts never
//! restart containers), or replaces it gracefully; remove stops it gracefully and
//! deletes its state. Statuses are read from the shims' status files.
//!
//! Starts, replacements and removals run on a short-lived thread per pod (a graceful
//! stop waits out the grace period); the agent's loop never waits for them. Those
//! threads only call `Command` (fork+exec) and the shim's socket, never fork.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::thread::JoinHandle;

use super::admit::{self, Admission, Refusal};
use crate::images::registry::RegistryFlags;
use crate::reconcile::PodRuntime;
use crate::shim::control;
use crate::shim::state::{self, PodDirs};
use crate::spec::{NodeResources, Pod, PodPhase, PodStatus, Reason, SpecHash, Time};

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

/// A pod this runtime runs.
struct Managed {
    pod: Pod,
    is_static: bool,
}

/// What the agent should publish after [`ShimRuntime::poll`].
#[derive(Debug, Default)]
pub struct Polled {
    /// Pods whose removal finished: clear their status upstream.
    pub gone: Vec<String>,
    /// Starts or stops that failed: (pod, message) for Warning Events.
    pub failed: Vec<(String, String)>,
}

pub struct ShimRuntime {
    root: PathBuf,
    run_dir: PathBuf,
    log_cap: u64,
    /// Registry settings handed to every shim for its image pulls.
    registries: RegistryFlags,
    admission: Admission,
    allocatable: NodeResources,
    pods: BTreeMap<String, Managed>,
    /// Why the newest spec of a pod did not run (refused, invalid, failed start).
    notes: BTreeMap<String, Refusal>,
    /// Work in progress per pod; `true` when it is a removal.
    ops: BTreeMap<String, (bool, JoinHandle<Result<(), String>>)>,
    removing: BTreeSet<String>,
    /// The spec hash of a refused pod that does not run (what its status describes).
    refused: BTreeMap<String, SpecHash>,
    /// Pods whose status is to be cleared without any work (refused, never ran).
    cleared: Vec<String>,
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
            admission,
            allocatable,
            pods: BTreeMap::new(),
            notes: BTreeMap::new(),
            ops: BTreeMap::new(),
            removing: BTreeSet::new(),
            refused: BTreeMap::new(),
            cleared: Vec::new(),
        }
    }

    /// The registry settings of the pods' image pulls (the agent's config).
    pub fn set_registries(&mut self, registries: RegistryFlags) {
        self.registries = registries;
    }

    pub fn set_allocatable(&mut self, allocatable: NodeResources) {
        self.allocatable = allocatable;
    }

    /// Number of pods run.
    pub fn len(&self) -> usize {
        self.pods.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
    }

    /// Whether starts or stops are in progress.
    pub fn busy(&self) -> bool {
        !self.ops.is_empty()
    }

    /// Whether a spec of `name` runs (or is being started).
    pub fn runs(&self, name: &str) -> bool {
        self.pods.contains_key(name)
    }

    /// The spec of `name` that runs (or is being started).
    pub fn spec(&self, name: &str) -> Option<&Pod> {
        self.pods.get(name).map(|m| &m.pod)
    }

    pub fn is_static(&self, name: &str) -> bool {
        self.pods.get(name).is_some_and(|m| m.is_static)
    }

    /// Records why the newest spec of `pod` did not run (shown in its status until the
    /// next good spec or its removal); the previous good spec keeps running.
    pub fn note_refused(&mut self, pod: &str, reason: Reason, message: String) {
        self.notes
            .insert(pod.to_owned(), Refusal { reason, message });
    }

    /// Starts, adopts or replaces a pod; `is_static` for a manifest of the manifests
    /// directory (only the agent's static-pod scan passes true).
    pub fn place(&mut self, pod: &Pod, is_static: bool) -> Result<(), RuntimeError> {
        let name = pod.name.to_string();
        let refused = |r: &Refusal| RuntimeError::Refused {
            pod: name.clone(),
            reason: r.reason.as_str().to_owned(),
            message: r.message.clone(),
        };
        self.refused.insert(name.clone(), SpecHash::of_pod(pod));
        if let Err(r) = self.admission.check(pod) {
            let e = refused(&r);
            self.notes.insert(name, r);
            return Err(e);
        }
        let used = (self.pods.iter())
            .filter(|(n, _)| **n != name)
            .map(|(_, m)| admit::requests(&m.pod))
            .fold((0u64, 0u64), |a, b| {
                (a.0.saturating_add(b.0), a.1.saturating_add(b.1))
            });
        if let Err(r) = admit::fits(pod, used, &self.allocatable) {
            let e = refused(&r);
            self.notes.insert(name, r);
            return Err(e);
        }
        self.notes.remove(&name);
        self.refused.remove(&name);
        self.removing.remove(&name);
        let hash = SpecHash::of_pod(pod);
        let current = state::read(&self.root, &self.run_dir, &name).ok();
        let adopt = current.as_ref().is_some_and(|st| {
            let same = SpecHash::of_pod(&st.pod) == hash;
            let finished = (st.status.as_ref())
                .is_some_and(|s| matches!(s.phase, PodPhase::Succeeded | PodPhase::Failed));
            same && (st.shim.is_some() || finished)
        }) && !self.ops.contains_key(&name);
        self.pods.insert(
            name.clone(),
            Managed {
                pod: pod.clone(),
                is_static,
            },
        );
        if adopt {
            log::info!("pod {name}: adopted its running shim (spec {hash})");
            return Ok(());
        }
        let (root, run_dir, log_cap) = (self.root.clone(), self.run_dir.clone(), self.log_cap);
        let registries = self.registries.clone();
        let pod = pod.clone();
        let replacing = current.is_some();
        let job = move || -> Result<(), String> {
            let d = PodDirs::new(&root, &run_dir, &pod.name);
            if replacing {
                log::info!("pod {}: replacing it with spec {hash}", pod.name);
            }
            control::remove(&d, &pod.name, None).map_err(|e| e.to_string())?;
            control::start(&root, &run_dir, &pod, log_cap, None, &registries)
                .map(drop)
                .map_err(|e| e.to_string())
        };
        self.spawn(name, false, job);
        Ok(())
    }

    /// Stops a pod gracefully and deletes its state, on a thread; static or not.
    pub fn unplace(&mut self, name: &str) {
        let noted = self.notes.remove(name).is_some();
        self.refused.remove(name);
        if self.pods.remove(name).is_none() {
            if noted {
                // Only a refused spec was shown: nothing runs, the status just goes.
                self.cleared.push(name.to_owned());
            }
            return;
        }
        log::info!("pod {name}: stopping it gracefully, then removing it");
        self.removing.insert(name.to_owned());
        let (root, run_dir) = (self.root.clone(), self.run_dir.clone());
        let pod = name.to_owned();
        self.spawn(name.to_owned(), true, move || {
            let d = PodDirs::new(&root, &run_dir, &pod);
            control::remove(&d, &pod, None).map_err(|e| e.to_string())
        });
    }

    /// Runs `job` on a thread of its own, after the work still in progress on the same
    /// pod (a new spec while the old one is still stopping): the loop never waits.
    fn spawn(
        &mut self,
        name: String,
        removal: bool,
        job: impl FnOnce() -> Result<(), String> + Send + 'static,
    ) {
        let previous = self.ops.remove(&name);
        let pod = name.clone();
        let chained = move || {
            if let Some((_, handle)) = previous {
                if let Ok(Err(e)) = handle.join() {
                    log::warn!("pod {pod}: {e}");
                }
            }
            job()
        };
        match std::thread::Builder::new()
            .name(format!("pod-{name}"))
            .spawn(chained)
        {
            Ok(handle) => {
                self.ops.insert(name, (removal, handle));
            }
            Err(e) => log::error!("pod {name}: start a thread: {e}"),
        }
    }

    /// Collects finished work: removals done, starts that failed.
    pub fn poll(&mut self) -> Polled {
        let mut out = Polled {
            gone: std::mem::take(&mut self.cleared),
            ..Polled::default()
        };
        let done: Vec<String> = (self.ops.iter())
            .filter(|(_, (_, h))| h.is_finished())
            .map(|(n, _)| n.clone())
            .collect();
        for name in done {
            let Some((removal, handle)) = self.ops.remove(&name) else {
                continue;
            };
            let result = handle
                .join()
                .unwrap_or_else(|_| Err("the worker thread panicked".into()));
            if let Err(message) = &result {
                out.failed.push((name.clone(), message.clone()));
                if !removal {
                    let reason = Reason::Other("FailedStart".try_into().unwrap_or_default());
                    self.note_refused(&name, reason, message.clone());
                }
            }
            if removal && self.removing.remove(&name) {
                out.gone.push(name);
            }
        }
        out
    }

    /// The status of `name`: its shim's status file, with the note about a refused
    /// newer spec; a synthesized Failed status when nothing of it runs.
    fn status(&self, name: &str) -> Option<PodStatus> {
        let from_shim = (self.pods.get(name)).and_then(|m| {
            let d = PodDirs::new(&self.root, &self.run_dir, name);
            let bytes = std::fs::read(d.status()).ok()?;
            let st = crate::spec::decode::<PodStatus>(&bytes).ok()?;
            (st.spec_hash == SpecHash::of_pod(&m.pod) || self.notes.contains_key(name))
                .then_some(st)
        });
        let note = self.notes.get(name);
        match (from_shim, note) {
            (Some(st), None) => Some(st),
            (Some(mut st), Some(n)) => {
                st.message = Some(text(&format!(
                    "newest spec not applied: {}: {}",
                    n.reason.as_str(),
                    n.message
                )));
                Some(st)
            }
            (None, Some(n)) => Some(PodStatus {
                spec_hash: (self.refused.get(name).copied())
                    .or_else(|| self.pods.get(name).map(|m| SpecHash::of_pod(&m.pod)))
                    .unwrap_or_default(),
                phase: PodPhase::Failed,
                reason: Some(n.reason.clone()),
                message: Some(text(&n.message)),
                start_time: Time::now(),
                conditions: Default::default(),
                pod_ip: None,
                host_ip: None,
                init_container_statuses: Default::default(),
                container_statuses: Default::default(),
            }),
            (None, None) => None,
        }
    }
}

fn text(s: &str) -> crate::spec::bounded::Text {
    let mut end = s.len().min(crate::spec::bounded::MAX_TEXT);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].try_into().unwrap_or_default()
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

    fn statuses(&self) -> Vec<(String, PodStatus)> {
        let names: BTreeSet<&String> = self.pods.keys().chain(self.notes.keys()).collect();
        (names.into_iter())
            .filter_map(|n| Some((n.clone(), self.status(n)?)))
            .collect()
    }
}

impl super::pull_events::Images for ShimRuntime {
    fn image(&self, pod: &str, container: &str) -> Option<(String, crate::spec::PullPolicy)> {
        let spec = &self.spec(pod)?.spec;
        let mut all = spec.init_containers.iter().chain(spec.containers.iter());
        let c = all.find(|c| c.name.as_str() == container)?;
        Some((c.image.to_string(), c.image_pull_policy))
    }

    fn size(&self, reference: &str) -> Option<u64> {
        let wanted = crate::images::reference::Reference::parse(reference).ok()?;
        let wanted = wanted.to_string();
        let store = crate::images::Store::open(&self.root).ok()?;
        let list = store.list().ok()?;
        list.iter()
            .find(|r| r.reference == wanted)
            .map(|r| r.size())
    }
}
