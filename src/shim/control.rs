//! Starting, stopping and removing a pod's shim from outside: what `pealet run`, `stop`
//! and `rm` do, shared with the agent. Processes are only started with `Command`
//! (fork+exec), so this is safe to call from a multithreaded process.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, PidfdFlags};

use super::proto::{Client, ProtoError, Request};
use super::state::{self, PodDirs};
use crate::images::registry::RegistryFlags;
use crate::runtime::cgroup::{self, CgroupPath};
use crate::spec::{self, Pod};

/// How long a start waits for a new shim's socket.
pub const SHIM_START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a stop waits for the shim's teardown after its `Stopped` answer.
const SHIM_EXIT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("create {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    State(#[from] state::StateError),
    #[error("start pealet shim: {0}")]
    Spawn(std::io::Error),
    #[error("pod {pod}: the shim exited ({status}): {log}")]
    ShimExited {
        pod: String,
        status: std::process::ExitStatus,
        log: String,
    },
    #[error("pod {pod}: the shim did not listen within {SHIM_START_TIMEOUT:?}")]
    ShimTimeout { pod: String },
    #[error("stop pod: {0}")]
    Stop(ProtoError),
    #[error("shim {0} did not exit")]
    ShimStuck(u32),
    #[error("cgroups of pod {pod}: {message}")]
    Cgroup { pod: String, message: String },
    #[error("processes of pod {0} survive SIGKILL")]
    Survivors(String),
    #[error("remove {path}: {source}")]
    Remove {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What a shim is started with besides its pod.
#[derive(Debug, Clone, Copy)]
pub struct ShimSettings<'a> {
    /// The bytes of log kept per container.
    pub log_cap: u64,
    /// Overrides the crash-loop and image back-off base (10 s) of this pod.
    pub backoff_base_ms: Option<u64>,
    /// The settings of its image pulls.
    pub registries: &'a RegistryFlags,
    /// RuntimeDefault for containers without a seccompProfile (`seccomp_default`).
    pub seccomp_default: bool,
}

/// Writes the pod's spec into its (new) run directory and starts `pealet shim` for it
/// in a session of its own, stdout/stderr to `shim.log`; returns a connection once the
/// shim listens.
pub fn start(
    root: &Path,
    run_dir: &Path,
    pod: &Pod,
    settings: &ShimSettings<'_>,
) -> Result<Client, ControlError> {
    start_child(root, run_dir, pod, settings).map(|(c, _)| c)
}

/// As [`start`], for a caller that lives on as the shim's parent (the agent): also a
/// pidfd of the shim, readable once it has exited, when the caller reaps it
/// ([`reap`]) so that no shim stays a zombie.
pub fn start_child(
    root: &Path,
    run_dir: &Path,
    pod: &Pod,
    settings: &ShimSettings<'_>,
) -> Result<(Client, OwnedFd), ControlError> {
    let ShimSettings {
        log_cap,
        backoff_base_ms,
        registries,
        seccomp_default,
    } = *settings;
    let d = PodDirs::new(root, run_dir, &pod.name);
    // Every pod's files sit below two directories only root may enter.
    for dir in [
        run_dir.join("pods"),
        root.join("pods"),
        d.run.clone(),
        d.root.clone(),
    ] {
        state::private_dir(&dir).map_err(|source| ControlError::Create { path: dir, source })?;
    }
    state::write_atomic(&d.spec(), &spec::encode(pod))?;
    let log = state::create_private(&d.shim_log()).map_err(|source| ControlError::Create {
        path: d.shim_log(),
        source,
    })?;
    let exe = std::env::current_exe().map_err(ControlError::Spawn)?;
    let mut cmd = Command::new(exe);
    cmd.arg("--root").arg(root).arg("--run-dir").arg(run_dir);
    cmd.args([
        "shim",
        "--pod",
        &pod.name,
        "--log-cap",
        &log_cap.to_string(),
    ]);
    if let Some(ms) = backoff_base_ms {
        cmd.args(["--backoff-base-ms", &ms.to_string()]);
    }
    cmd.args(registries.args());
    if seccomp_default {
        cmd.arg("--seccomp-default");
    }
    let err_log = log.try_clone().map_err(ControlError::Spawn)?;
    cmd.stdin(Stdio::null()).stdout(err_log).stderr(log);
    crate::sys::new_session(&mut cmd);
    let mut child = cmd.spawn().map_err(ControlError::Spawn)?;
    // Opened before anyone could reap the child, so it names this shim.
    let pidfd = rustix::process::pidfd_open(Pid::from_child(&child), PidfdFlags::empty())
        .map_err(|e| ControlError::Spawn(e.into()))?;
    let deadline = Instant::now() + SHIM_START_TIMEOUT;
    loop {
        if let Ok(client) = Client::connect(&d.socket()) {
            // The shim lives on in its own session: dropping the Child neither waits
            // nor kills. Its parent reaps it through the pidfd, or, once the parent
            // has gone (`pealet run`), init does.
            drop(child);
            return Ok((client, pidfd));
        }
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(d.shim_log()).unwrap_or_default();
            let log = log.trim().to_owned();
            let pod = pod.name.to_string();
            return Err(ControlError::ShimExited { pod, status, log });
        }
        if Instant::now() > deadline {
            let pod = pod.name.to_string();
            return Err(ControlError::ShimTimeout { pod });
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Reap the shim behind `pidfd` (from [`start_child`]) if it has exited; true when it
/// has (or cannot be waited for: not ours, already reaped).
pub fn reap(pidfd: &OwnedFd) -> bool {
    use rustix::process::{WaitId, WaitIdOptions};
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG;
    match rustix::process::waitid(WaitId::PidFd(pidfd.as_fd()), options) {
        Ok(Some(_)) => true,
        Ok(None) => false,
        Err(rustix::io::Errno::INTR) => false,
        Err(_) => true,
    }
}

/// Asks the shim to stop the pod (SIGTERM, `grace` or the pod's own period, SIGKILL)
/// and waits until the shim has exited; nothing when no shim runs.
pub fn stop(d: &PodDirs, grace: Option<u64>) -> Result<(), ControlError> {
    let Some(pid) = state::shim_pid(d) else {
        return Ok(());
    };
    let request = Request::Stop {
        grace_seconds: grace,
    };
    match Client::connect(&d.socket()).and_then(|c| c.call(&request)) {
        Ok(_) | Err(ProtoError::Closed) => {}
        // A pod that ended by itself: the shim is tearing down and has closed (or
        // removed) its socket; the wait below tells whether it really goes away.
        Err(e) => log::debug!("stop request to shim {pid}: {e}"),
    }
    // Stopped comes before the shim's own teardown; wait for that too.
    let deadline = Instant::now() + SHIM_EXIT_TIMEOUT;
    while Path::new(&format!("/proc/{pid}")).exists() && state::shim_pid(d).is_some() {
        if Instant::now() > deadline {
            return Err(ControlError::ShimStuck(pid));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// Stops the pod if it runs, kills whatever is left in its cgroup, and deletes its
/// run directory and its directory under the root.
/// Stops the pod (`grace` overrides its grace period, as [`stop`]) and removes it.
pub fn remove(d: &PodDirs, pod: &str, grace: Option<u64>) -> Result<(), ControlError> {
    stop(d, grace)?;
    // `<root>/pods/<pod>`: the instance's root is two levels up.
    let root = d
        .root
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("/"));
    remove_cgroups(root, pod)?;
    for dir in [&d.run, &d.root] {
        match std::fs::remove_dir_all(dir) {
            Err(source) if source.kind() != std::io::ErrorKind::NotFound => {
                let path = dir.clone();
                return Err(ControlError::Remove { path, source });
            }
            _ => {}
        }
    }
    Ok(())
}

/// Kills whatever is left in the pod's cgroup (a shim killed with SIGKILL leaves its
/// containers running) and removes it; `root` is the instance's `--root`.
pub fn remove_cgroups(root: &Path, pod: &str) -> Result<(), ControlError> {
    let cg_err = |e: cgroup::CgroupError| ControlError::Cgroup {
        pod: pod.to_owned(),
        message: e.to_string(),
    };
    let cgroups =
        cgroup::open(Path::new(cgroup::DEFAULT_ROOT), &cgroup::parent_for(root)).map_err(cg_err)?;
    let cg = CgroupPath::pod(cgroups.parent(), pod).map_err(cg_err)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cgroups.pids(&cg).map_err(cg_err)?.is_empty() {
        cgroups.kill_all(&cg).map_err(cg_err)?;
        if Instant::now() > deadline {
            return Err(ControlError::Survivors(pod.to_owned()));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    cgroups.remove(&cg).map_err(cg_err)
}
