//! What the shim tells `pealet init` (a [`ContainerConfig`]) and what comes back
//! ([`InitReport`]), as length-prefixed postcard frames on one `SOCK_SEQPACKET` socket.
//!
//! Paths are UTF-8 strings (postcard encodes no `PathBuf` without serde's std). Every
//! frame is one packet, so a frame is never read in part. `InitReport::Started` is no
//! longer sent (the parent knows its child's pid) and is ignored when received.

use std::fmt;
use std::os::fd::AsFd;

use rustix::net::{RecvFlags, SendFlags};
use serde::{Deserialize, Serialize};

/// Largest frame either side sends or accepts, length prefix included.
pub const MAX_FRAME: usize = 64 * 1024;

/// Paths masked in every non-privileged container (runc's default list).
pub const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths made read-only in every non-privileged container (runc's default list).
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Everything `pealet init` needs to turn itself into one container process.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerConfig {
    /// Image layers, top-most first (overlayfs `lowerdir` order).
    pub layers: Vec<String>,
    /// Fresh writable layer of this container instance (overlayfs `upperdir`).
    pub upper: String,
    /// Overlayfs `workdir`: empty, on the same file system as `upper`.
    pub work: String,
    /// Empty directory where the root file system is assembled before pivot_root.
    pub rootfs: String,
    /// Remount the root read-only after set-up (readOnlyRootFilesystem).
    pub readonly_rootfs: bool,
    /// Bind mounts and tmpfs volumes, in order, destinations inside the container.
    pub mounts: Vec<Mount>,
    /// The pod's tmpfs for /dev/shm (bind-mounted), or none for a private one.
    pub shm: Option<String>,
    /// Namespaces to join, e.g. `/proc/<shim>/ns/net`; pid here shares the pod's.
    pub join: Vec<Join>,
    /// `cgroup.procs` files to enter before the cgroup namespace is created.
    pub cgroup_procs: Vec<String>,
    /// Hostname of a private UTS namespace; used only when no UTS namespace is joined.
    pub hostname: Option<String>,
    /// The program and its arguments; `argv[0]` is looked up in the container's PATH.
    pub argv: Vec<String>,
    /// `NAME=value` pairs, the whole environment.
    pub env: Vec<String>,
    /// Working directory inside the container (created if missing).
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// Capability bits (`1 << CAP_*`), see [`crate::runtime::caps`].
    pub capabilities: u64,
    /// Set `no_new_privs` (allowPrivilegeEscalation false).
    pub no_new_privs: bool,
    /// Mount /dev `nodev` (the bound default device nodes keep working): for
    /// containers whose device access no cgroup controls.
    pub dev_nodev: bool,
    /// The seccomp filter to install last before exec (`struct sock_filter` packed by
    /// [`pack_filter`]); empty for none.
    pub seccomp: Vec<u64>,
    /// An AppArmor profile to exec into (written to `/proc/self/attr/apparmor/exec`).
    pub app_armor: Option<String>,
    pub masked_paths: Vec<String>,
    pub readonly_paths: Vec<String>,
}

/// One `struct sock_filter` as a u64 for the config frame: code, jt, jf, k.
pub fn pack_filter(insn: &crate::sys::seccomp::SockFilter) -> u64 {
    u64::from(insn.code)
        | (u64::from(insn.jt) << 16)
        | (u64::from(insn.jf) << 24)
        | (u64::from(insn.k) << 32)
}

/// The inverse of [`pack_filter`].
pub fn unpack_filter(v: u64) -> crate::sys::seccomp::SockFilter {
    crate::sys::seccomp::SockFilter {
        code: v as u16,
        jt: (v >> 16) as u8,
        jf: (v >> 24) as u8,
        k: (v >> 32) as u32,
    }
}

/// One mount, destination inside the container's root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mount {
    pub kind: MountKind,
    /// Host path (bind) or ignored (tmpfs).
    pub source: String,
    /// Path below `source`, resolved inside `source`: no `..` or symlink escape.
    pub sub_path: Option<String>,
    pub destination: String,
    pub readonly: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum MountKind {
    Bind,
    Tmpfs { size: Option<u64> },
}

/// A namespace to join with setns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Join {
    pub kind: Namespace,
    pub path: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Namespace {
    Net,
    Ipc,
    Uts,
    Pid,
}

/// What `pealet init` sends back; end of stream after `Started` means the exec worked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum InitReport {
    /// The container's PID 1, as the shim's PID namespace numbers it: signal this one.
    Started { pid: u32 },
    /// A step failed; the container process exits without running the program.
    SetupFailed(SetupFailed),
}

/// The step of the set-up recipe that failed, with its argument and errno.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{step} {arg}: {}", rustix::io::Errno::from_raw_os_error(*.errno))]
pub struct SetupFailed {
    pub step: Step,
    pub arg: String,
    pub errno: i32,
}

/// Every step of the recipe, named after what it does; Display names the syscall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    ReadConfig,
    EnterCgroup,
    JoinNamespace,
    Unshare,
    SetHostname,
    MakeRootSlave,
    Fork,
    MountOverlay,
    ResolvePath,
    MountVolume,
    MountProc,
    MountDev,
    MountDevice,
    MountSys,
    MountShm,
    PivotRoot,
    MaskPath,
    ReadonlyPath,
    ReadonlyRoot,
    Chdir,
    DropBounding,
    SetIds,
    SetCapabilities,
    DieWithWaiter,
    NoNewPrivs,
    AppArmor,
    Seccomp,
    Exec,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::ReadConfig => "read config: recv",
            Step::EnterCgroup => "enter cgroup: write",
            Step::JoinNamespace => "join namespace: setns",
            Step::Unshare => "unshare",
            Step::SetHostname => "sethostname",
            Step::MakeRootSlave => "make / rslave: mount",
            Step::Fork => "fork",
            Step::MountOverlay => "mount overlay on",
            Step::ResolvePath => "resolve in root: openat",
            Step::MountVolume => "mount volume on",
            Step::MountProc => "mount proc on",
            Step::MountDev => "mount /dev tmpfs on",
            Step::MountDevice => "bind device",
            Step::MountSys => "mount sysfs on",
            Step::MountShm => "mount /dev/shm on",
            Step::PivotRoot => "pivot_root to",
            Step::MaskPath => "mask path: mount",
            Step::ReadonlyPath => "read-only path: mount",
            Step::ReadonlyRoot => "remount / read-only: mount",
            Step::Chdir => "chdir",
            Step::DropBounding => "drop bounding set: prctl",
            Step::SetIds => "set ids: setgroups/setgid/setuid",
            Step::SetCapabilities => "capset",
            Step::DieWithWaiter => "prctl(PR_SET_PDEATHSIG)",
            Step::NoNewPrivs => "prctl(PR_SET_NO_NEW_PRIVS)",
            Step::AppArmor => "AppArmor exec profile: write /proc/self/attr/apparmor/exec",
            Step::Seccomp => "seccomp(SECCOMP_SET_MODE_FILTER)",
            Step::Exec => "execve",
        })
    }
}

/// A frame that could not be sent or received.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("send frame: {0}")]
    Send(rustix::io::Errno),
    #[error("recv frame: {0}")]
    Recv(rustix::io::Errno),
    #[error("frame of {0} bytes is larger than the maximum {MAX_FRAME}")]
    TooLarge(usize),
    #[error("frame length prefix does not match the {0} bytes received")]
    Truncated(usize),
    #[error("frame does not decode: {0}")]
    Decode(postcard::Error),
}

/// One frame's bytes: a u32 little-endian length, then the postcard bytes.
pub fn encode_frame<T: Serialize>(msg: &T) -> Result<Vec<u8>, FrameError> {
    let mut buf = vec![0u8; 4];
    buf = postcard::to_extend(msg, buf).map_err(FrameError::Decode)?;
    if buf.len() > MAX_FRAME {
        return Err(FrameError::TooLarge(buf.len()));
    }
    let len = (buf.len() - 4) as u32;
    buf[..4].copy_from_slice(&len.to_le_bytes());
    Ok(buf)
}

/// The message in one whole frame (length prefix included), checked against its prefix.
pub fn decode_frame<T: for<'de> Deserialize<'de>>(frame: &[u8]) -> Result<T, FrameError> {
    let n = frame.len();
    if n > MAX_FRAME {
        return Err(FrameError::TooLarge(n));
    }
    if n < 4 {
        return Err(FrameError::Truncated(n));
    }
    let len = u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
    if len != n - 4 {
        return Err(FrameError::Truncated(n));
    }
    postcard::from_bytes(&frame[4..]).map_err(FrameError::Decode)
}

/// Send one frame in one packet.
pub fn send<T: Serialize>(fd: impl AsFd, msg: &T) -> Result<(), FrameError> {
    let buf = encode_frame(msg)?;
    let sent = rustix::net::send(fd, &buf, SendFlags::NOSIGNAL).map_err(FrameError::Send)?;
    if sent != buf.len() {
        return Err(FrameError::Truncated(sent));
    }
    Ok(())
}

/// Receive one frame; `None` at end of stream.
pub fn recv<T: for<'de> Deserialize<'de>>(fd: impl AsFd) -> Result<Option<T>, FrameError> {
    let mut buf = vec![0u8; MAX_FRAME];
    let (n, _) = loop {
        match rustix::net::recv(&fd, &mut buf[..], RecvFlags::empty()) {
            Err(rustix::io::Errno::INTR) => continue,
            other => break other.map_err(FrameError::Recv)?,
        }
    };
    if n == 0 {
        return Ok(None);
    }
    decode_frame(&buf[..n]).map(Some)
}
