//! Pod and container cgroups behind one small trait, [`Cgroups`], with cgroup v2, v1 and
//! a do-nothing implementation chosen once by [`open`]. It creates cgroups, writes limits,
//! moves processes in, reads OOM kills, kills members and removes cgroups; it does not
//! create namespaces or start processes.
//!
//! Layout: `<root>/<parent>/<pod>/<container>` (v1: the same path in each controller's
//! hierarchy), the parent being `pealet-<id of the instance's --root>` ([`parent_for`]), with processes only in the container leaves. A controller that is missing
//! or cannot be enabled is left out and reported by [`Cgroups::info`]: a pod never fails
//! to start because of it.

mod disabled;
mod files;
mod v1;
mod v2;

use std::fmt;
use std::io;
use std::path::{Component, Path, PathBuf};

pub use disabled::Disabled;
pub use v1::V1;
pub use v2::V2;

use crate::runtime::devices::Rule;
use crate::spec::pod::{PodSpec, Resources};
pub use crate::spec::status::{CgroupInfo, Controllers};

/// Where the kernel's cgroup filesystems are mounted.
pub const DEFAULT_ROOT: &str = "/sys/fs/cgroup";
/// The prefix of the cgroup that holds every pod of one pealet instance.
pub const DEFAULT_PARENT: &str = "pealet";

/// The cgroup that holds the pods of the pealet instance whose `--root` is `root`,
/// relative to the hierarchy's root: `pealet-` and 8 hex digits of the SHA-256 of the
/// root's canonical path. Two instances (two roots) never share a pod's cgroup even
/// when their pods have the same name.
pub fn parent_for(root: &Path) -> PathBuf {
    use sha2::Digest as _;
    let path = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let hash = sha2::Sha256::digest(path.as_os_str().as_encoded_bytes());
    let id: String = hash[..4].iter().map(|b| format!("{b:02x}")).collect();
    PathBuf::from(format!("{DEFAULT_PARENT}-{id}"))
}
/// Tasks one pod may have at most, unless configured otherwise.
pub const DEFAULT_PIDS_MAX: u64 = 1024;
/// The CFS period every CPU limit uses, in microseconds (as the kubelet).
pub const CPU_PERIOD_US: u64 = 100_000;
/// The smallest quota the kubelet writes, in microseconds.
pub const MIN_CPU_QUOTA_US: u64 = 1_000;
const MIN_SHARES: u64 = 2;
const MAX_SHARES: u64 = 262_144;

/// The controllers whose limits this module writes.
const USED: u8 = Controllers::CPU | Controllers::MEMORY | Controllers::PIDS;

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("invalid cgroup name {name:?}")]
    BadName { name: String },
    #[error("create directory {}", path.display())]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("write {value} to {}", path.display())]
    Write {
        path: PathBuf,
        value: String,
        source: io::Error,
    },
    #[error("read {}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("parse {text:?} in {}", path.display())]
    Parse { path: PathBuf, text: String },
    #[error("list directory {}", path.display())]
    ListDir { path: PathBuf, source: io::Error },
    #[error("kill pid {pid} of {}", path.display())]
    Kill {
        path: PathBuf,
        pid: u32,
        source: io::Error,
    },
    #[error("device program for {}: {errno}", path.display())]
    DeviceProgram {
        path: PathBuf,
        errno: rustix::io::Errno,
    },
    #[error("remove directory {}", path.display())]
    Remove { path: PathBuf, source: io::Error },
}

/// A cgroup relative to the root of each hierarchy: `<parent>/<pod>[/<container>]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CgroupPath(PathBuf);

impl CgroupPath {
    /// The cgroup of a pod (named by its uid or name) under `parent`.
    pub fn pod(parent: &Path, pod: &str) -> Result<CgroupPath, CgroupError> {
        Ok(CgroupPath(parent.join(component(pod)?)))
    }

    /// The cgroup of one of this pod's containers.
    pub fn container(&self, name: &str) -> Result<CgroupPath, CgroupError> {
        Ok(CgroupPath(self.0.join(component(name)?)))
    }

    pub fn as_path(&self) -> &Path {
        &self.0
    }
}

impl fmt::Display for CgroupPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.display())
    }
}

/// One path component: no separators, not `.` or `..`, not empty.
fn component(name: &str) -> Result<&str, CgroupError> {
    let bad = name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']);
    if bad {
        return Err(CgroupError::BadName {
            name: name.to_string(),
        });
    }
    Ok(name)
}

/// A relative path of plain components, as a configured parent must be.
fn check_parent(parent: &Path) -> Result<(), CgroupError> {
    let plain = parent.components().count() > 0
        && parent
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
    if plain {
        Ok(())
    } else {
        Err(CgroupError::BadName {
            name: parent.display().to_string(),
        })
    }
}

/// The limits of one cgroup. `None` means no limit of its own (the kernel default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of memory; no swap on top where the kernel offers that knob.
    pub memory: Option<u64>,
    /// Millicores of CPU time; 0 means no quota (as the kubelet).
    pub cpu_limit: Option<u64>,
    /// Millicores requested: the relative CPU weight. `None`: the minimum.
    pub cpu_request: Option<u64>,
    /// Tasks.
    pub pids: Option<u64>,
}

impl Limits {
    /// A container's limits. As the API server defaults it, a CPU request that is not
    /// given equals the CPU limit.
    pub fn container(resources: Option<&Resources>) -> Limits {
        let Some(r) = resources else {
            return Limits::default();
        };
        Limits {
            memory: r.limits.memory,
            cpu_limit: r.limits.cpu,
            cpu_request: r.requests.cpu.or(r.limits.cpu),
            pids: None,
        }
    }

    /// A pod's limits, as the kubelet sizes the pod cgroup: the sum over app containers
    /// and sidecars, or the largest init container plus the sidecars if that is more. A
    /// memory or CPU limit exists only when every container has one.
    pub fn pod(spec: &PodSpec, pids: Option<u64>) -> Limits {
        if spec.containers.is_empty() {
            return Limits {
                pids,
                ..Limits::default()
            };
        }
        let of = |c: &crate::spec::pod::Container| Limits::container(c.resources.as_ref());
        let sidecars: Vec<Limits> = spec
            .init_containers
            .iter()
            .filter(|c| c.is_sidecar())
            .map(of)
            .collect();
        let app = spec
            .containers
            .iter()
            .map(of)
            .chain(sidecars.iter().copied());
        let mut pod = app.fold(Limits::zero(), Limits::plus);
        let on_top = sidecars.iter().copied().fold(Limits::zero(), Limits::plus);
        for init in spec.init_containers.iter().filter(|c| !c.is_sidecar()) {
            pod = pod.at_least(of(init).plus(on_top));
        }
        Limits { pids, ..pod }
    }

    fn zero() -> Limits {
        Limits {
            memory: Some(0),
            cpu_limit: Some(0),
            cpu_request: Some(0),
            pids: None,
        }
    }

    fn plus(self, o: Limits) -> Limits {
        let add = |a: Option<u64>, b: Option<u64>| Some(a?.saturating_add(b?));
        let add_request = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
        };
        Limits {
            memory: add(self.memory, o.memory),
            cpu_limit: add(self.cpu_limit, o.cpu_limit),
            cpu_request: add_request(self.cpu_request, o.cpu_request),
            pids: None,
        }
    }

    fn at_least(self, o: Limits) -> Limits {
        let max = |a: Option<u64>, b: Option<u64>| Some(a?.max(b?));
        Limits {
            memory: max(self.memory, o.memory),
            cpu_limit: max(self.cpu_limit, o.cpu_limit),
            cpu_request: self.cpu_request.max(o.cpu_request),
            pids: None,
        }
    }

    /// The CFS quota per [`CPU_PERIOD_US`], `None` for no quota.
    pub fn cpu_quota_us(&self) -> Option<u64> {
        match self.cpu_limit {
            None | Some(0) => None,
            Some(millis) => Some(millis.saturating_mul(100).max(MIN_CPU_QUOTA_US)),
        }
    }

    /// cgroup v1 `cpu.shares` for the CPU request, as the kubelet computes it.
    pub fn cpu_shares(&self) -> u64 {
        let millis = self.cpu_request.unwrap_or(0);
        (millis.saturating_mul(1024) / 1000).clamp(MIN_SHARES, MAX_SHARES)
    }

    /// cgroup v2 `cpu.weight` for the CPU request: runc's mapping of shares
    /// [2, 262144] onto weights [1, 10000].
    pub fn cpu_weight(&self) -> u64 {
        1 + ((self.cpu_shares() - MIN_SHARES) * 9999) / (MAX_SHARES - MIN_SHARES)
    }
}

/// A cgroup hierarchy that pealet manages. Methods on a cgroup that was never created or
/// is already removed do nothing harmful: listing finds no members, removal succeeds.
pub trait Cgroups: fmt::Debug + Send + Sync {
    /// The version and the controllers whose limits are enforced.
    fn info(&self) -> CgroupInfo;
    /// The cgroup that holds every pod, relative to the root.
    fn parent(&self) -> &Path;
    /// Create `cg` and whatever is missing above it, with controllers enabled for it.
    fn create(&self, cg: &CgroupPath) -> Result<(), CgroupError>;
    /// Write `limits` for the enforced controllers; the others are skipped.
    fn apply(&self, cg: &CgroupPath, limits: &Limits) -> Result<(), CgroupError>;
    /// Move a process into `cg`, which must be a leaf.
    fn add_pid(&self, cg: &CgroupPath, pid: u32) -> Result<(), CgroupError>;
    /// The `cgroup.procs` files a process writes its own pid to in order to join `cg`
    /// (what `pealet init` does before it creates its cgroup namespace).
    fn procs_files(&self, cg: &CgroupPath) -> Vec<PathBuf>;
    /// Processes in `cg` and below.
    fn pids(&self, cg: &CgroupPath) -> Result<Vec<u32>, CgroupError>;
    /// How many processes in `cg` and below the OOM killer has killed (0 when the memory
    /// controller is not enforced).
    fn oom_kills(&self, cg: &CgroupPath) -> Result<u64, CgroupError>;
    /// SIGKILL every process in `cg` and below; returns once sent, not once gone.
    fn kill_all(&self, cg: &CgroupPath) -> Result<(), CgroupError>;
    /// Let the processes of `cg` open only the devices `rules` allow (mknod included);
    /// nothing when device access control is not enforced ([`Controllers::DEVICES`]).
    fn restrict_devices(&self, cg: &CgroupPath, rules: &[Rule]) -> Result<(), CgroupError>;
    /// Remove `cg` and everything below it, leaf-first; for a pod also the parent cgroup
    /// when this manager created it and no other pod uses it.
    fn remove(&self, cg: &CgroupPath) -> Result<(), CgroupError>;

    /// Create a pod's cgroup and apply its limits.
    fn create_pod(&self, pod: &str, limits: &Limits) -> Result<CgroupPath, CgroupError> {
        let cg = CgroupPath::pod(self.parent(), pod)?;
        self.create(&cg)?;
        self.apply(&cg, limits)?;
        Ok(cg)
    }

    /// Create a container's cgroup in its pod's and apply its limits.
    fn create_container(
        &self,
        pod: &CgroupPath,
        name: &str,
        limits: &Limits,
    ) -> Result<CgroupPath, CgroupError> {
        let cg = pod.container(name)?;
        self.create(&cg)?;
        self.apply(&cg, limits)?;
        Ok(cg)
    }
}

/// Which hierarchy `root` holds and which of the controllers pealet uses it offers,
/// without changing anything. [`Cgroups::info`] of the opened manager says what is
/// enforced in the end.
pub fn detect(root: &Path) -> CgroupInfo {
    if root.join("cgroup.controllers").exists() {
        let devices = if v2::device_programs_load() {
            Controllers::DEVICES
        } else {
            0
        };
        return CgroupInfo {
            version: 2,
            enforced: Controllers(v2::available(root).0 | devices),
        };
    }
    let v1 = v1::available(root);
    if v1.0 != 0 {
        return CgroupInfo {
            version: 1,
            enforced: v1,
        };
    }
    CgroupInfo::default()
}

/// Detect the hierarchy at `root` once and prepare `parent` in it. Fails only for an
/// invalid `parent`; a hierarchy that cannot be used gives [`Disabled`], with a warning.
pub fn open(root: &Path, parent: &Path) -> Result<Box<dyn Cgroups>, CgroupError> {
    check_parent(parent)?;
    let opened: Result<Box<dyn Cgroups>, CgroupError> = match detect(root).version {
        2 => V2::open(root, parent).map(|m| Box::new(m) as Box<dyn Cgroups>),
        1 => V1::open(root, parent).map(|m| Box::new(m) as Box<dyn Cgroups>),
        _ => {
            log::warn!(
                "no cgroup hierarchy at {}: limits are not enforced",
                root.display()
            );
            Ok(Box::new(Disabled::new(parent)))
        }
    };
    Ok(opened.unwrap_or_else(|e| {
        log::warn!("cgroups disabled, limits are not enforced: {e}");
        Box::new(Disabled::new(parent))
    }))
}

#[cfg(test)]
mod tests;
