//! `pealet init`: one container process, set up step by step from a [`ContainerConfig`]
//! and then replaced by the user's program; and [`spawn`], how a parent starts it.
//!
//! The parent (the shim, or a test) runs `pealet init --fd 3` with fork+exec, fd 3
//! being its end of a `SOCK_SEQPACKET` socket pair, with the children of its spawning
//! thread sent into the container's PID namespace for that one spawn: a new one (whose
//! PID 1 the init process becomes), or the pod's shared one, or the host's (a PID
//! namespace applies to children only, so the parent chooses it, as crun's clone does).
//! The init process is thus the container's PID 1 and the parent's own child: no
//! process of pealet stays per container, the parent reaps the program's exit status
//! directly, and the container gets SIGKILL if its parent dies. The parent sends one
//! config frame and reads [`InitReport`] frames until end of stream. In the init process:
//!
//! 1. read the config; enter the container's cgroups (before the cgroup namespace, so
//!    that its root is the container's cgroup);
//! 2. join the pod's net/ipc/uts namespaces, unshare mount + cgroup (+ UTS when private);
//! 3. make `/` rslave so no mount of ours reaches the host;
//! 4. assemble the root file system ([`rootfs`]), pivot into it, take on the user's
//!    identity ([`process`]) and exec. The socket is close-on-exec, so end of stream
//!    without `SetupFailed` means the program runs.
//!
//! In a PID namespace that is not the container's own (shareProcessNamespace, hostPID)
//! the kernel does not end the container's other processes with its main one: the
//! parent kills what is left in the container's cgroup when it reaps the main one.
//!
//! Any failing step sends `SetupFailed { step, arg, errno }` and exits 127.

pub mod enter;
mod process;
pub mod reaper;
mod rootfs;

use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::process::{Child, Command};

use rustix::io::{Errno, FdFlags};
use rustix::net::{AddressFamily, SocketFlags, SocketType};
use rustix::thread::{LinkNameSpaceType, UnshareFlags};

use crate::runtime::config::{self, ContainerConfig, FrameError, InitReport, Namespace};
use crate::runtime::config::{SetupFailed, Step};
use crate::sys;

/// The fd number of the report socket in `pealet init`.
pub const INIT_FD: RawFd = 3;

/// Exit status of an init process whose set-up failed.
pub const SETUP_FAILED_EXIT: u8 = 127;

/// A step's result: the typed failure that goes back to the parent.
pub type StepResult<T = ()> = Result<T, SetupFailed>;

/// Map an errno to the failure of `step` on `arg`.
pub fn failed(step: Step, arg: impl std::fmt::Display) -> impl FnOnce(Errno) -> SetupFailed {
    move |errno| SetupFailed {
        step,
        arg: arg.to_string(),
        errno: errno.raw_os_error(),
    }
}

/// A container whose program runs.
#[derive(Debug)]
pub struct Started {
    /// The container's PID 1, the caller's child: wait on it for its exit status.
    pub child: Child,
    /// The same process's pid in the caller's PID namespace: send signals here.
    pub pid: u32,
}

/// How starting a container can fail on the parent's side.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("socketpair(AF_UNIX, SOCK_SEQPACKET): {0}")]
    Socketpair(Errno),
    #[error("spawn pealet init: {0}")]
    Spawn(std::io::Error),
    #[error("open PID namespace {path}: {errno}")]
    OpenPidNamespace { path: String, errno: Errno },
    #[error("unshare(CLONE_NEWPID): {0}")]
    NewPidNamespace(Errno),
    #[error("setns to PID namespace {path}: {errno}")]
    JoinPidNamespace { path: String, errno: Errno },
    #[error("send config to pealet init: {0}")]
    SendConfig(FrameError),
    #[error("read report of pealet init: {0}")]
    Report(FrameError),
    #[error("container set-up failed: {0}")]
    Setup(SetupFailed),
}

/// A container whose `pealet init` has its config but has not reported yet: several
/// can be set up at once, each finished with [`Pending::finish`].
#[derive(Debug)]
pub struct Pending {
    child: Child,
    ours: OwnedFd,
}

/// Start a container: `cmd` is `pealet` (stdio set by the caller), `init --fd 3` is added.
pub fn spawn(cmd: Command, config: &ContainerConfig) -> Result<Started, SpawnError> {
    begin(cmd, config)?.finish()
}

/// The first half of [`spawn`]: start `pealet init` and send it the config. Call it
/// from the thread that is to be the container's parent (see [`in_pid_namespace`]).
pub fn begin(mut cmd: Command, config: &ContainerConfig) -> Result<Pending, SpawnError> {
    let (ours, theirs) = rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(SpawnError::Socketpair)?;
    cmd.arg("init").arg("--fd").arg(INIT_FD.to_string());
    sys::keep_fd_across_exec(&mut cmd, theirs.as_fd(), INIT_FD);
    let mut child = in_pid_namespace(config, || cmd.spawn())?.map_err(SpawnError::Spawn)?;
    drop(theirs);
    if let Err(e) = config::send(&ours, config) {
        // Without a config the init process exits on its own; reap it.
        drop(ours);
        let _ = child.wait();
        return Err(SpawnError::SendConfig(e));
    }
    Ok(Pending { child, ours })
}

/// Runs `spawn` with this thread's new children going into the container's PID
/// namespace: the one `config` joins (the pod's shared one, or the host's), else a new
/// one whose PID 1 the spawned process becomes; then sets them back to the caller's own
/// namespace, whatever the spawn did. The caller's own PID never changes: a PID
/// namespace only applies to children, and per thread, so `spawn` must start its child
/// from this thread (`Command::spawn` does).
fn in_pid_namespace<T>(
    config: &ContainerConfig,
    spawn: impl FnOnce() -> T,
) -> Result<T, SpawnError> {
    use rustix::fs::{Mode, OFlags};
    let open = |path: &str| {
        rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).map_err(|errno| {
            SpawnError::OpenPidNamespace {
                path: path.to_owned(),
                errno,
            }
        })
    };
    let setns = |fd: &OwnedFd, path: &str| {
        rustix::thread::move_into_link_name_space(fd.as_fd(), Some(LinkNameSpaceType::ProcessID))
            .map_err(|errno| SpawnError::JoinPidNamespace {
                path: path.to_owned(),
                errno,
            })
    };
    const OWN: &str = "/proc/thread-self/ns/pid";
    let own = open(OWN)?;
    match config.join.iter().find(|j| j.kind == Namespace::Pid) {
        Some(join) => setns(&open(&join.path)?, &join.path)?,
        None => sys::unshare(UnshareFlags::NEWPID).map_err(SpawnError::NewPidNamespace)?,
    }
    let spawned = spawn();
    // Always back, even when the spawn failed: every later child of this thread (probes,
    // pulls, the next container) must start where the caller is.
    setns(&own, OWN)?;
    Ok(spawned)
}

impl Pending {
    /// The second half of [`spawn`]: read the reports until the program runs or a step
    /// failed.
    pub fn finish(self) -> Result<Started, SpawnError> {
        let Pending { mut child, ours } = self;
        let mut setup = None;
        let result = loop {
            match config::recv::<InitReport>(&ours) {
                // Not sent by this init (the pid is the child's own); harmless.
                Ok(Some(InitReport::Started { .. })) => {}
                Ok(Some(InitReport::SetupFailed(f))) => setup = Some(f),
                Ok(None) => break Ok(()),
                Err(e) => break Err(SpawnError::Report(e)),
            }
        };
        let failure = match (result, setup) {
            (Err(e), _) => e,
            (Ok(()), Some(f)) => SpawnError::Setup(f),
            // End of stream with no failure: the exec closed the socket (or the init
            // process died before it; then the caller sees it exit at once).
            (Ok(()), None) => {
                let pid = child.id();
                return Ok(Started { child, pid });
            }
        };
        // The init process exits on its own after a failure; reap it.
        let _ = child.wait();
        Err(failure)
    }
}

/// `pealet init --fd N`: never returns on success (the program replaced us).
pub fn main(fd: RawFd) -> u8 {
    // The container's program inherits our signal mask: start it with none blocked.
    if let Err(errno) = sys::unblock_all_signals() {
        eprintln!("pealet init: unblock signals: {errno}");
        return SETUP_FAILED_EXIT;
    }
    let socket = match sys::take_inherited_fd(fd) {
        Ok(socket) => socket,
        Err(errno) => {
            eprintln!("pealet init: fd {fd}: {errno}");
            return SETUP_FAILED_EXIT;
        }
    };
    let failure = run(&socket);
    // If even the report cannot be sent, the exit status still tells.
    let _ = config::send(&socket, &InitReport::SetupFailed(failure));
    SETUP_FAILED_EXIT
}

/// The recipe; see the module documentation for the order. Returns only when a step
/// (exec included) failed.
fn run(socket: &OwnedFd) -> SetupFailed {
    let steps = rustix::io::fcntl_setfd(socket, FdFlags::CLOEXEC)
        .map_err(failed(Step::ReadConfig, "fd"))
        .and_then(|()| read_config(socket));
    let config = match steps {
        Ok(config) => config,
        Err(failure) => return failure,
    };
    let steps = enter_cgroups(&config)
        .and_then(|()| join_namespaces(&config))
        .and_then(|()| unshare_namespaces(&config))
        .and_then(|()| set_hostname(&config))
        .and_then(|()| make_root_rslave());
    match steps {
        Err(failure) => failure,
        Ok(()) => container(&config),
    }
}

/// PID 1 of the container: the file system, then the process, then exec, which
/// returns only when it fails.
fn container(config: &ContainerConfig) -> SetupFailed {
    if let Err(failure) = rootfs::assemble(config) {
        return failure;
    }
    process::become_program(config)
}

fn read_config(socket: &OwnedFd) -> StepResult<ContainerConfig> {
    match config::recv(socket) {
        Ok(Some(config)) => Ok(config),
        Ok(None) => Err(failed(Step::ReadConfig, "end of stream")(Errno::PIPE)),
        Err(e) => Err(failed(Step::ReadConfig, e)(Errno::INVAL)),
    }
}

fn enter_cgroups(config: &ContainerConfig) -> StepResult {
    let pid = std::process::id().to_string();
    for path in &config.cgroup_procs {
        std::fs::write(path, &pid).map_err(|e| failed(Step::EnterCgroup, path)(io_errno(&e)))?;
    }
    Ok(())
}

/// The PID namespace is not joined here: the parent started us in it.
fn join_namespaces(config: &ContainerConfig) -> StepResult {
    for join in &config.join {
        let kind = match join.kind {
            Namespace::Net => LinkNameSpaceType::Network,
            Namespace::Ipc => LinkNameSpaceType::InterProcessCommunication,
            Namespace::Uts => LinkNameSpaceType::HostNameAndNISDomainName,
            Namespace::Pid => continue,
        };
        let open = rustix::fs::open(
            join.path.as_str(),
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        );
        let fd = open.map_err(failed(Step::JoinNamespace, &join.path))?;
        rustix::thread::move_into_link_name_space(fd.as_fd(), Some(kind))
            .map_err(failed(Step::JoinNamespace, &join.path))?;
    }
    Ok(())
}

fn joins(config: &ContainerConfig, kind: Namespace) -> bool {
    config.join.iter().any(|j| j.kind == kind)
}

fn unshare_namespaces(config: &ContainerConfig) -> StepResult {
    let mut flags = UnshareFlags::NEWNS | UnshareFlags::NEWCGROUP;
    if config.hostname.is_some() && !joins(config, Namespace::Uts) {
        flags |= UnshareFlags::NEWUTS;
    }
    sys::unshare(flags).map_err(failed(Step::Unshare, format_args!("{flags:?}")))
}

fn set_hostname(config: &ContainerConfig) -> StepResult {
    match &config.hostname {
        Some(name) if !joins(config, Namespace::Uts) => {
            rustix::system::sethostname(name.as_bytes()).map_err(failed(Step::SetHostname, name))
        }
        _ => Ok(()),
    }
}

/// Ordering: before any mount, or the overlay and /proc would propagate to the host.
fn make_root_rslave() -> StepResult {
    use rustix::mount::MountPropagationFlags as P;
    rustix::mount::mount_change("/", P::DOWNSTREAM | P::REC)
        .map_err(failed(Step::MakeRootSlave, "/"))
}

fn io_errno(e: &std::io::Error) -> Errno {
    Errno::from_io_error(e).unwrap_or(Errno::IO)
}
