//! The per-pod shim, `pealet shim`: one single-threaded process per pod, started by
//! fork+exec in a session of its own. It holds the pod's sandbox, starts the containers
//! through `pealet init` as its own children (each one's PID 1), is child subreaper, keeps their logs and exit codes and
//! the pod's status, and serves a socket. It does not decide the lifecycle itself:
//! [`crate::lifecycle::Lifecycle`] does; `run.rs` feeds it events and performs its
//! actions, `runs.rs` and `actions.rs` carry out probes, hooks and termination messages.
//!
//! Set-up, in order: signalfd (SIGTERM/SIGINT stop the pod, SIGCHLD reaps), child
//! subreaper, shim.pid, the node facts (before the sandbox changes the hostname), host
//! namespace fds for hostNetwork/hostIPC/hostPID, the sandbox, the shared PID namespace
//! with its reaper (shareProcessNamespace), volumes, the pod cgroup (emptied of what a
//! shim of the pod that died left running), the socket; the lifecycle takes the restart
//! counts of an earlier shim's status of the same spec; then the loop; at the end the
//! reaper, containers' overlays and cgroups go, the status stays.

mod actions;
pub mod build;
mod clients;
pub mod container;
pub mod control;
pub mod env;
pub mod logs;
pub mod proto;
pub mod pulls;
pub mod run;
mod runs;
pub mod state;
mod usage;
pub mod user;

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

use crate::lifecycle::{self, Lifecycle, Now};
use crate::runtime::cgroup::{self, Limits};
use crate::runtime::config::{Join, Namespace};
use crate::runtime::init::reaper;
use crate::runtime::sandbox::{self, SandboxSpec};
use crate::spec::{Pod, SpecHash, Time};
use build::PodContext;
use container::Starter;
use state::PodDirs;

/// How the shim was started (`pealet shim --help`).
#[derive(Debug, Clone)]
pub struct Options {
    pub root: PathBuf,
    pub run_dir: PathBuf,
    pub pod: String,
    pub log_cap: u64,
    pub cgroup_root: PathBuf,
    pub cgroup_parent: PathBuf,
    pub pids_max: u64,
    /// The lifecycle's timing (crash-loop and image pull back-off base and cap).
    pub lifecycle: lifecycle::Config,
    /// Registry settings for the pods' image pulls.
    pub registries: crate::images::registry::RegistryFlags,
    /// RuntimeDefault for containers without a seccompProfile.
    pub seccomp_default: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    #[error("signalfd(SIGTERM, SIGINT, SIGCHLD): {0}")]
    Signals(Errno),
    #[error("prctl(PR_SET_CHILD_SUBREAPER): {0}")]
    Subreaper(Errno),
    #[error("{0}")]
    State(#[from] state::StateError),
    #[error("open host namespace {path}: {errno}")]
    HostNamespace { path: String, errno: Errno },
    #[error("sandbox: {0}")]
    Sandbox(#[from] sandbox::SandboxError),
    #[error("shared PID namespace: {0}")]
    PidNamespace(#[from] reaper::ReaperError),
    #[error("private mount namespace: {0}")]
    MountNamespace(Errno),
    #[error("volumes: {0}")]
    Volumes(#[from] build::BuildError),
    #[error("pod cgroup: {0}")]
    Cgroup(#[from] cgroup::CgroupError),
    #[error("processes a previous shim of the pod left running survive SIGKILL")]
    Leftovers,
    #[error("listen on {path}: {errno}")]
    Listen { path: PathBuf, errno: Errno },
}

/// `pealet shim`: returns when the pod has terminated.
pub fn main(opts: &Options) -> Result<(), ShimError> {
    // SIGCHLD too: every child that exits is reaped at once, those the poll loop
    // watches no pidfd of as well (orphans of the pod, reparented to the subreaper).
    let signals = crate::sys::signal_fd(&[libc::SIGTERM, libc::SIGINT, libc::SIGCHLD])
        .map_err(ShimError::Signals)?;
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
        .map_err(ShimError::Subreaper)?;
    let dirs = PodDirs::new(&opts.root, &opts.run_dir, &opts.pod);
    let state = state::read(&opts.root, &opts.run_dir, &opts.pod)?;
    let pod = state.pod;
    state::write_atomic(&dirs.pid_file(), std::process::id().to_string().as_bytes())?;
    let node = node_facts();
    let host = host_namespaces(&pod)?;
    // Image pulls leave the pod's network for the host's: keep a way back.
    let host_net = open_namespace("net")?;
    let sandbox = sandbox::enter(&dirs.sandbox(), &sandbox_spec(&pod))?;
    // hostPID wins over shareProcessNamespace (the API server refuses both together).
    let shared_pids = pod.spec.host.share_process_namespace && !pod.spec.host.pid;
    let pid_ns = if shared_pids {
        Some(reaper::start()?)
    } else {
        None
    };
    build::prepare_volumes(&pod, &dirs)?;
    let cgroups = cgroup::open(&opts.cgroup_root, &opts.cgroup_parent)?;
    let pod_cgroup = cgroups.create_pod(&pod.name, &Limits::pod(&pod.spec, Some(opts.pids_max)))?;
    stop_leftovers(cgroups.as_ref(), &pod_cgroup, &pod.name)?;
    let listener = listen(&dirs.socket())?;
    let mut joins: Vec<Join> = sandbox
        .joins()
        .into_iter()
        .filter(|j| !host.iter().any(|(h, _)| h.kind == j.kind))
        .collect();
    joins.extend(host.iter().map(|(j, _)| j.clone()));
    joins.extend(pid_ns.as_ref().map(reaper::PidNamespace::join));
    let host_ipc = pod.spec.host.ipc;
    let ctx = PodContext {
        pod: &pod,
        dirs: &dirs,
        node: &node,
        joins,
        shm: Some(if host_ipc {
            "/dev/shm".into()
        } else {
            sandbox.shm()
        }),
        etc_mounts: sandbox.etc_mounts(),
        cgroup_procs: Vec::new(),
        devices_controlled: false,
        seccomp_dir: opts.root.join("seccomp"),
        seccomp_default: opts.seccomp_default,
    };
    let starter = Starter {
        root: &opts.root,
        cgroups: cgroups.as_ref(),
        pod_cgroup: &pod_cgroup,
    };
    let hash = SpecHash::of_pod(&pod);
    let now = Now {
        mono_ms: 0,
        wall: Time::now(),
    };
    let mut lifecycle = Lifecycle::new(&pod, hash, opts.lifecycle, now);
    // A shim started again for the same spec (its predecessor died, or the agent
    // repairs a pod it found without one) keeps the restart counts shown so far.
    if let Some(previous) = &state.status {
        lifecycle.resume(previous);
    }
    let mut executor = run::Executor::new(
        &pod,
        lifecycle,
        ctx,
        starter,
        listener,
        signals,
        opts.log_cap,
    );
    executor.pull_settings = pulls::PullSettings {
        registries: opts.registries.clone(),
        netns: Some(fd_path(&host_net)),
    };
    executor.pid_ns = pid_ns;
    executor.run();
    let pid_ns = executor.pid_ns.take();
    drop(executor);
    if let Some(pid_ns) = pid_ns {
        pid_ns.stop();
    }
    // Teardown: overlays are unmounted with their containers' mount namespaces.
    let _ = std::fs::remove_file(dirs.socket());
    let _ = std::fs::remove_dir_all(dirs.run.join("containers"));
    if let Err(e) = cgroups.remove(&pod_cgroup) {
        log::warn!("{e}");
    }
    let _ = std::fs::remove_file(dirs.pid_file());
    drop(host);
    drop(host_net);
    Ok(())
}

/// Stop what a shim of this pod that died left running in its cgroup: its containers,
/// whose exit statuses and log pipes went with it, are nobody's children now and cannot
/// be supervised again; the lifecycle starts them anew and counts the restart (see
/// [`Lifecycle::resume`]). Bounded: a process that outlives SIGKILL for 10 s fails the
/// start.
fn stop_leftovers(
    cgroups: &dyn cgroup::Cgroups,
    cg: &cgroup::CgroupPath,
    pod: &str,
) -> Result<(), ShimError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut told = false;
    loop {
        let left = cgroups.pids(cg)?;
        if left.is_empty() {
            return Ok(());
        }
        if !told {
            log::warn!(
                "pod {pod}: stopping {} processes a previous shim left running",
                left.len()
            );
            told = true;
        }
        cgroups.kill_all(cg)?;
        if std::time::Instant::now() > deadline {
            return Err(ShimError::Leftovers);
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

fn sandbox_spec(pod: &Pod) -> SandboxSpec {
    SandboxSpec {
        hostname: pod
            .spec
            .hostname
            .as_deref()
            .unwrap_or(&pod.name)
            .to_string(),
        pod_ip: None,
        host_aliases: pod
            .spec
            .host_aliases
            .iter()
            .map(|a| {
                (
                    a.ip.to_string(),
                    a.hostnames.iter().map(|h| h.to_string()).collect(),
                )
            })
            .collect(),
        shm_size: None,
        host_network: pod.spec.host.network,
        host_ipc: pod.spec.host.ipc,
        sysctls: crate::runtime::sysctl::values(pod),
        files_tmpfs: true,
    }
}

/// The host's name, CPUs and memory, read before the sandbox has its own hostname.
fn node_facts() -> env::Node {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0);
    env::Node {
        name: name.trim().to_string(),
        pod_ip: String::new(),
        host_ip: String::new(),
        cpu_millis: cpus * 1000,
        memory_bytes: kib * 1024,
    }
}

/// Open the shim's own (the host's) namespaces that the pod shares with the host, before
/// the sandbox replaces them; containers join them through `/proc/<shim>/fd/<n>`.
fn host_namespaces(pod: &Pod) -> Result<Vec<(Join, OwnedFd)>, ShimError> {
    let h = pod.spec.host;
    let wanted = [
        (h.network, Namespace::Net, "net"),
        (h.network, Namespace::Uts, "uts"),
        (h.ipc, Namespace::Ipc, "ipc"),
        (h.pid, Namespace::Pid, "pid"),
    ];
    let mut out = Vec::new();
    for (_, kind, name) in wanted.into_iter().filter(|w| w.0) {
        let fd = open_namespace(name)?;
        let join = Join {
            kind,
            path: fd_path(&fd).display().to_string(),
        };
        out.push((join, fd));
    }
    Ok(out)
}

/// The shim's own namespace of `kind` (`net`, `ipc` ...).
fn open_namespace(kind: &str) -> Result<OwnedFd, ShimError> {
    let path = format!("/proc/self/ns/{kind}");
    rustix::fs::open(&path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|errno| ShimError::HostNamespace { path, errno })
}

/// A path to the shim's `fd` that other processes can open.
fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!(
        "/proc/{}/fd/{}",
        std::process::id(),
        fd.as_raw_fd()
    ))
}

fn listen(path: &Path) -> Result<OwnedFd, ShimError> {
    let err = |errno| ShimError::Listen {
        path: path.to_path_buf(),
        errno,
    };
    let _ = std::fs::remove_file(path);
    let fd = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )
    .map_err(err)?;
    let addr = SocketAddrUnix::new(path).map_err(err)?;
    rustix::net::bind(&fd, &addr).map_err(err)?;
    rustix::net::listen(&fd, 16).map_err(err)?;
    Ok(fd)
}
