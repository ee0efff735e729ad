//! `pealet init`: one container process, set up step by step from a [`ContainerConfig`]
//! and then replaced by the user's program; and [`spawn`], how a parent starts it.
//!
//! The parent (the shim, or a test) runs `pealet init --fd 3` with fork+exec, fd 3
//! being its end of a `SOCK_SEQPACKET` socket pair. It sends one config frame and reads
//! [`InitReport`] frames until end of stream. In the init process:
//!
//! 1. read the config; enter the container's cgroups (before the cgroup namespace, so
//!    that its root is the container's cgroup);
//! 2. join the pod's namespaces, unshare mount + cgroup + PID (+ UTS when private);
//! 3. make `/` rslave so no mount of ours reaches the host;
//! 4. fork: the child is PID 1 of the new PID namespace (a PID namespace applies to
//!    children only). The parent stays as a tiny waiter: it reports `Started { pid }`,
//!    closes the socket and exits with the child's status (128 + signal when killed),
//!    so the shim reaps an ordinary child. The child gets SIGKILL if the waiter dies;
//!    signal the reported pid for a graceful stop. In a PID namespace that is not the
//!    container's own (shareProcessNamespace, hostPID) the kernel does not end the
//!    container's other processes with its main one, so the waiter kills what is left
//!    in the container's cgroup before it exits;
//! 5. the child assembles the root file system ([`rootfs`]), pivots into it, takes on
//!    the user's identity ([`process`]) and execs. The socket is close-on-exec, so end
//!    of stream after `Started` and without `SetupFailed` means the program runs.
//!
//! Any failing step sends `SetupFailed { step, arg, errno }` and exits 127.

pub mod enter;
mod process;
pub mod reaper;
mod rootfs;

use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::process::{Child, Command, ExitStatus};

use rustix::io::{Errno, FdFlags};
use rustix::net::{AddressFamily, SocketFlags, SocketType};
use rustix::process::WaitOptions;
use rustix::thread::{LinkNameSpaceType, UnshareFlags};

use crate::runtime::config::{self, ContainerConfig, FrameError, InitReport, Namespace};
use crate::runtime::config::{SetupFailed, Step};
use crate::sys::{self, Forked};

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
    /// The init process (the waiter): wait on it for the container's exit status.
    pub child: Child,
    /// The container's PID 1 in the caller's PID namespace: send signals here.
    pub pid: u32,
}

/// How starting a container can fail on the parent's side.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("socketpair(AF_UNIX, SOCK_SEQPACKET): {0}")]
    Socketpair(Errno),
    #[error("spawn pealet init: {0}")]
    Spawn(std::io::Error),
    #[error("send config to pealet init: {0}")]
    SendConfig(FrameError),
    #[error("read report of pealet init: {0}")]
    Report(FrameError),
    #[error("container set-up failed: {0}")]
    Setup(SetupFailed),
    #[error("pealet init exited ({0}) without a report")]
    NoReport(ExitStatus),
    #[error("wait for pealet init: {0}")]
    Wait(std::io::Error),
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

/// The first half of [`spawn`]: start `pealet init` and send it the config.
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
    let mut child = cmd.spawn().map_err(SpawnError::Spawn)?;
    drop(theirs);
    if let Err(e) = config::send(&ours, config) {
        // Without a config the init process exits on its own; reap it.
        drop(ours);
        let _ = child.wait();
        return Err(SpawnError::SendConfig(e));
    }
    Ok(Pending { child, ours })
}

impl Pending {
    /// The second half of [`spawn`]: read the reports until the program runs or a step
    /// failed.
    pub fn finish(self) -> Result<Started, SpawnError> {
        let Pending { mut child, ours } = self;
        let mut pid = None;
        let mut setup = None;
        let result = loop {
            match config::recv::<InitReport>(&ours) {
                Ok(Some(InitReport::Started { pid: p })) => pid = Some(p),
                Ok(Some(InitReport::SetupFailed(f))) => setup = Some(f),
                Ok(None) => break Ok(()),
                Err(e) => break Err(SpawnError::Report(e)),
            }
        };
        let failure = match (result, setup, pid) {
            (Err(e), _, _) => e,
            (Ok(()), Some(f), _) => SpawnError::Setup(f),
            (Ok(()), None, Some(pid)) => return Ok(Started { child, pid }),
            (Ok(()), None, None) => match child.wait() {
                Ok(status) => return Err(SpawnError::NoReport(status)),
                Err(e) => return Err(SpawnError::Wait(e)),
            },
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
    match run(&socket) {
        Ok((pid, leftovers)) => {
            let started = InitReport::Started {
                pid: pid.as_raw_nonzero().get() as u32,
            };
            let _ = config::send(&socket, &started);
            // Close our end here, or the parent would never see end of stream.
            drop(socket);
            // The waiter lives as long as the container and only waits: keep nothing of
            // the set-up (one waiter per container), once the container has run for a
            // second, so that its start never shares the CPU with this.
            if !exits_within(pid, IDLE_RELEASE_AFTER) {
                sys::release_idle_memory();
            }
            let status = wait_for(pid);
            if let Some(procs) = leftovers {
                kill_leftovers(&procs);
            }
            status
        }
        Err(failure) => {
            // If even the report cannot be sent, the exit status still tells.
            let _ = config::send(&socket, &InitReport::SetupFailed(failure));
            SETUP_FAILED_EXIT
        }
    }
}

/// The recipe up to the fork; see the module documentation for the order. Returns in
/// the waiter only (the child either execs or fails), with the container's pid and, when
/// it shares a PID namespace, the `cgroup.procs` files whose members to kill at its end.
fn run(socket: &OwnedFd) -> StepResult<(rustix::process::Pid, Option<Vec<OwnedFd>>)> {
    rustix::io::fcntl_setfd(socket, FdFlags::CLOEXEC).map_err(failed(Step::ReadConfig, "fd"))?;
    let config = read_config(socket)?;
    enter_cgroups(&config)?;
    join_namespaces(&config)?;
    unshare_namespaces(&config)?;
    set_hostname(&config)?;
    make_root_rslave()?;
    // Opened now: the child's pivot_root moves the waiter's root too (one mount
    // namespace), and the container's root has no cgroup file system.
    let leftovers = if joins(&config, Namespace::Pid) {
        Some(cgroup_dirs(&config)?)
    } else {
        None
    };
    match sys::fork().map_err(failed(Step::Fork, "container"))? {
        Forked::Parent(pid) => Ok((pid, leftovers)),
        Forked::Child => Err(container(&config)),
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

fn join_namespaces(config: &ContainerConfig) -> StepResult {
    for join in &config.join {
        let kind = match join.kind {
            Namespace::Net => LinkNameSpaceType::Network,
            Namespace::Ipc => LinkNameSpaceType::InterProcessCommunication,
            Namespace::Uts => LinkNameSpaceType::HostNameAndNISDomainName,
            Namespace::Pid => LinkNameSpaceType::ProcessID,
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
    if !joins(config, Namespace::Pid) {
        flags |= UnshareFlags::NEWPID;
    }
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

/// The waiter: pass on the container's exit status.
/// How long the container runs before its waiter gives memory back.
const IDLE_RELEASE_AFTER: rustix::event::Timespec = rustix::event::Timespec {
    tv_sec: 1,
    tv_nsec: 0,
};

/// Whether our child `pid` exits (or cannot be watched) within `timeout`; it is not
/// reaped here.
fn exits_within(pid: rustix::process::Pid, timeout: rustix::event::Timespec) -> bool {
    use rustix::event::{PollFd, PollFlags};
    let Ok(pidfd) = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()) else {
        return true;
    };
    let mut fds = [PollFd::new(&pidfd, PollFlags::IN)];
    match rustix::event::poll(&mut fds, Some(&timeout)) {
        Ok(n) => n > 0,
        Err(_) => true,
    }
}

fn wait_for(pid: rustix::process::Pid) -> u8 {
    loop {
        match rustix::process::waitpid(Some(pid), WaitOptions::empty()) {
            Err(Errno::INTR) => continue,
            Err(_) => return SETUP_FAILED_EXIT,
            Ok(None) => continue,
            Ok(Some((_, status))) => {
                if let Some(code) = status.exit_status() {
                    return code as u8;
                }
                if let Some(signal) = status.terminating_signal() {
                    return (128 + signal) as u8;
                }
            }
        }
    }
}

/// The directories of the container's `cgroup.procs` files, as `O_PATH` fds.
fn cgroup_dirs(config: &ContainerConfig) -> StepResult<Vec<OwnedFd>> {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    config
        .cgroup_procs
        .iter()
        .map(|procs| {
            let dir = std::path::Path::new(procs).parent().unwrap_or("/".as_ref());
            rustix::fs::open(dir, flags, Mode::empty()).map_err(failed(Step::EnterCgroup, procs))
        })
        .collect()
}

/// The members of the cgroup whose directory is `dir`.
fn members(dir: &OwnedFd) -> Vec<u32> {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::CLOEXEC;
    let Ok(fd) = rustix::fs::openat(dir, "cgroup.procs", flags, Mode::empty()) else {
        return Vec::new();
    };
    let mut text = String::new();
    let _ = std::io::Read::read_to_string(&mut std::fs::File::from(fd), &mut text);
    text.lines().filter_map(|l| l.trim().parse().ok()).collect()
}

/// The container's main process has exited: SIGKILL every other member of its cgroups
/// (a shared PID namespace's PID 1 reaps them), until only the waiter itself is left.
/// Bounded: a member that will not go (stuck in the kernel) is left after about 2 s.
fn kill_leftovers(dirs: &[OwnedFd]) {
    let me = std::process::id();
    for _ in 0..200 {
        let mut left = false;
        for dir in dirs {
            for pid in members(dir) {
                if pid == me {
                    continue;
                }
                left = true;
                if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                }
            }
        }
        if !left {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

fn io_errno(e: &std::io::Error) -> Errno {
    Errno::from_io_error(e).unwrap_or(Errno::IO)
}
