//! Starting one container instance for the shim: image, fresh overlay directories,
//! cgroup, config, `pealet init` (which becomes the container's PID 1, our child); and what is known about it while it runs.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rustix::process::{Pid, PidfdFlags};

use super::build::{self, ImageView, PodContext};
use crate::images::Store;
use crate::runtime::cgroup::{CgroupPath, Cgroups, Controllers, Limits};
use crate::runtime::devices;
use crate::runtime::init::{self, SpawnError};
use crate::spec::{Container, Reason};

/// A running container instance.
pub struct Running {
    /// The container's PID 1, our child: reaped here, its exit status is the container's.
    pub process: Pid,
    pub pidfd: OwnedFd,
    /// The same process's pid as a number: signal this one.
    pub pid: u32,
    pub cgroup: CgroupPath,
    pub oom_kills_before: u64,
    /// The container's seccomp filter, for the processes `pealet enter` starts in it.
    pub seccomp_file: Option<PathBuf>,
}

/// The streams of a container instance, read until end of file.
pub struct Pipes {
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

/// Why a container did not start, as the kubelet reports it in a Waiting state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartFailure {
    pub reason: Reason,
    pub message: String,
    /// The image is not in the store: whether to pull it is the lifecycle's decision.
    pub image_missing: bool,
}

fn fail(reason: Reason, message: impl std::fmt::Display) -> StartFailure {
    StartFailure {
        reason,
        message: message.to_string(),
        image_missing: false,
    }
}

/// Everything the shim holds that starting a container needs.
pub struct Starter<'a> {
    pub root: &'a Path,
    pub cgroups: &'a dyn Cgroups,
    pub pod_cgroup: &'a CgroupPath,
}

/// A container whose `pealet init` is setting it up.
pub struct Starting {
    /// The digest the image's reference resolved to (the status's imageID).
    pub image_digest: crate::spec::Digest,
    pending: init::Pending,
    cgroup: CgroupPath,
    oom_kills_before: u64,
    seccomp_file: Option<PathBuf>,
}

/// The file in a container instance's directory that holds its seccomp filter.
pub const SECCOMP_FILE: &str = "seccomp";

impl Starter<'_> {
    /// Start `container`, first half: everything up to `pealet init` having its
    /// config, so that several containers set themselves up at the same time.
    pub fn begin(
        &self,
        ctx: &mut PodContext<'_>,
        container: &Container,
    ) -> Result<Starting, StartFailure> {
        let store = Store::open(self.root).map_err(|e| image_missing(container, e))?;
        let image = store
            .resolve(&container.image)
            .map_err(|e| image_missing(container, e))?;
        let instance = ctx.dirs.instance(&container.name);
        let log = ctx.dirs.termination_log(&container.name);
        fresh_instance(&instance, &log).map_err(|e| fail(Reason::CreateContainerError, e))?;
        let limits = Limits::container(container.resources.as_ref());
        let cgroup = self
            .cgroups
            .create_container(self.pod_cgroup, &container.name, &limits)
            .map_err(|e| fail(Reason::CreateContainerError, e))?;
        let privileged =
            (container.security_context.as_ref()).is_some_and(|s| s.privileged == Some(true));
        if !privileged {
            self.cgroups
                .restrict_devices(&cgroup, devices::DEFAULT)
                .map_err(|e| fail(Reason::CreateContainerError, e))?;
        }
        ctx.devices_controlled = self.cgroups.info().enforced.0 & Controllers::DEVICES != 0;
        let oom_kills_before = self.cgroups.oom_kills(&cgroup).unwrap_or(0);
        ctx.cgroup_procs = self
            .cgroups
            .procs_files(&cgroup)
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let view = ImageView {
            layers: image.layers.iter().rev().cloned().collect(),
            config: &image.config,
        };
        let config = build::container_config(ctx, container, &view, &instance)
            .map_err(|e| fail(Reason::CreateContainerConfigError, e))?;
        let seccomp_file = if config.seccomp.is_empty() {
            None
        } else {
            let path = instance.join(SECCOMP_FILE);
            let bytes: Vec<u8> = config
                .seccomp
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect();
            std::fs::write(&path, bytes).map_err(|e| fail(Reason::CreateContainerError, e))?;
            Some(path)
        };
        let mut cmd = Command::new("/proc/self/exe");
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let pending = init::begin(cmd, &config).map_err(run_error)?;
        Ok(Starting {
            image_digest: crate::spec::Digest(image.digest.bytes()),
            pending,
            cgroup,
            oom_kills_before,
            seccomp_file,
        })
    }
}

fn run_error(e: SpawnError) -> StartFailure {
    match e {
        SpawnError::Setup(f) => fail(Reason::RunContainerError, f),
        other => fail(Reason::RunContainerError, other),
    }
}

impl Starting {
    /// The second half: wait until the program runs (or a set-up step failed).
    pub fn finish(self) -> Result<(Running, Pipes), StartFailure> {
        let Starting {
            image_digest: _,
            pending,
            cgroup,
            oom_kills_before,
            seccomp_file,
        } = self;
        let mut started = pending.finish().map_err(run_error)?;
        let pipes = Pipes {
            stdout: started.child.stdout.take().map(OwnedFd::from),
            stderr: started.child.stderr.take().map(OwnedFd::from),
        };
        for fd in [&pipes.stdout, &pipes.stderr].into_iter().flatten() {
            let _ = rustix::fs::fcntl_setfl(fd.as_fd(), rustix::fs::OFlags::NONBLOCK);
        }
        let process = Pid::from_child(&started.child);
        let pidfd = rustix::process::pidfd_open(process, PidfdFlags::empty())
            .map_err(|e| fail(Reason::RunContainerError, format!("pidfd_open: {e}")))?;
        // Dropping the Child neither waits nor kills: the shim reaps the container itself.
        drop(started.child);
        let running = Running {
            process,
            pidfd,
            pid: started.pid,
            cgroup,
            oom_kills_before,
            seccomp_file,
        };
        Ok((running, pipes))
    }
}

/// The image is not in the store: the executor reports
/// [`crate::lifecycle::Event::ImageMissing`], whose rules (pull, or ErrImageNeverPull
/// under Never) are the lifecycle's.
fn image_missing(container: &Container, e: impl std::fmt::Display) -> StartFailure {
    let image = &container.image;
    StartFailure {
        image_missing: true,
        ..fail(
            Reason::ErrImagePull,
            format!("image {image:?} is not in the local store: {e}"),
        )
    }
}

/// Empty `upper`, `work` and `rootfs` for a new instance (a restart starts clean).
fn fresh_instance(dir: &Path, termination_log: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    for d in ["upper", "work", "rootfs"] {
        std::fs::create_dir_all(dir.join(d))?;
    }
    // Writable by whatever user the container runs as, as the kubelet makes it.
    std::fs::write(termination_log, b"")?;
    std::fs::set_permissions(
        termination_log,
        std::os::unix::fs::PermissionsExt::from_mode(0o666),
    )
}

/// Exit code and signal of the container's PID 1: killed by signal N, it exited 128 + N.
pub fn exit_of(status: rustix::process::WaitStatus) -> (i32, Option<u8>) {
    if let Some(code) = status.exit_status() {
        return (code, None);
    }
    match status.terminating_signal() {
        Some(sig) => (128 + sig, u8::try_from(sig).ok()),
        None => (255, None),
    }
}
