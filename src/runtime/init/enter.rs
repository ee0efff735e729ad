//! `pealet enter`: a new process inside a running container (what `pealet exec` runs):
//! its cgroups, then its namespaces (cgroup, ipc, uts, net, pid, and mnt last, which
//! also moves to its root), then a fork so the child is in its PID namespace; the child
//! takes on the container's ids, bounding set, environment, AppArmor profile,
//! no_new_privs and seccomp filter (the file the shim wrote) and execs.
//! The parent waits and exits with the child's status.
//!
//! Everything about the container is read from `/proc/<pid>` of its PID 1 before the
//! first setns; nothing is trusted from inside the container afterwards.

use std::os::fd::OwnedFd;

use rustix::fs::{Mode, OFlags};
use rustix::thread::LinkNameSpaceType as Ns;

use super::{SETUP_FAILED_EXIT, StepResult, failed, process};
use crate::runtime::config::{ContainerConfig, Step};
use crate::sys::{self, Forked};

/// The namespaces joined, in order; mnt last (it changes root and cwd).
const NAMESPACES: [(&str, Ns); 6] = [
    ("cgroup", Ns::ControlGroup),
    ("ipc", Ns::InterProcessCommunication),
    ("uts", Ns::HostNameAndNISDomainName),
    ("net", Ns::Network),
    ("pid", Ns::ProcessID),
    ("mnt", Ns::Mount),
];

/// The container a process is started in.
pub struct Target<'a> {
    /// Its PID 1.
    pub pid: u32,
    /// The `cgroup.procs` files of its cgroups.
    pub cgroup_procs: &'a [String],
    /// Its seccomp filter (packed `struct sock_filter`s, as the shim wrote them).
    pub seccomp: Option<&'a std::path::Path>,
}

/// Run `argv` in the container `target`; the exit status to pass on.
pub fn main(target: &Target<'_>, argv: Vec<String>) -> u8 {
    // The program inherits our signal mask: run it with none blocked.
    if let Err(errno) = sys::unblock_all_signals() {
        eprintln!("pealet exec: unblock signals: {errno}");
        return SETUP_FAILED_EXIT;
    }
    match prepare(target, argv) {
        Ok(config) => match sys::fork() {
            Ok(Forked::Child) => {
                let failure = process::become_program(&config);
                eprintln!("pealet exec: {failure}");
                std::process::exit(i32::from(SETUP_FAILED_EXIT));
            }
            Ok(Forked::Parent(child)) => wait_for(child),
            Err(errno) => {
                eprintln!("pealet exec: fork: {errno}");
                SETUP_FAILED_EXIT
            }
        },
        Err(failure) => {
            eprintln!("pealet exec: {failure}");
            SETUP_FAILED_EXIT
        }
    }
}

fn prepare(target: &Target<'_>, argv: Vec<String>) -> StepResult<ContainerConfig> {
    let (pid, cgroup_procs) = (target.pid, target.cgroup_procs);
    let mut config = read_process(pid, argv)?;
    // Read before the mount namespace changes: the file is the host's.
    if let Some(path) = target.seccomp {
        let bytes = std::fs::read(path)
            .map_err(|e| failed(Step::ReadConfig, path.display())(super::io_errno(&e)))?;
        config.seccomp = bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect();
    }
    let namespaces = open_namespaces(pid)?;
    let me = std::process::id().to_string();
    for path in cgroup_procs {
        std::fs::write(path, &me)
            .map_err(|e| failed(Step::EnterCgroup, path)(super::io_errno(&e)))?;
    }
    for ((name, kind), fd) in NAMESPACES.iter().zip(&namespaces) {
        rustix::thread::move_into_link_name_space(std::os::fd::AsFd::as_fd(fd), Some(*kind))
            .map_err(failed(
                Step::JoinNamespace,
                format_args!("/proc/{pid}/ns/{name}"),
            ))?;
    }
    Ok(config)
}

fn open_namespaces(pid: u32) -> StepResult<Vec<OwnedFd>> {
    NAMESPACES
        .iter()
        .map(|(name, _)| {
            let path = format!("/proc/{pid}/ns/{name}");
            rustix::fs::open(&path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
                .map_err(failed(Step::JoinNamespace, &path))
        })
        .collect()
}

/// Ids, groups, bounding set, no_new_privs and environment of the container's PID 1.
fn read_process(pid: u32, argv: Vec<String>) -> StepResult<ContainerConfig> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path)
        .map_err(|e| failed(Step::ReadConfig, &path)(super::io_errno(&e)))?;
    let field = |name: &str| -> Vec<&str> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.split_whitespace().collect())
            .unwrap_or_default()
    };
    let first = |name: &str| {
        field(name)
            .first()
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    };
    let groups = field("Groups:")
        .iter()
        .filter_map(|g| g.parse().ok())
        .collect();
    let capabilities = field("CapBnd:")
        .first()
        .and_then(|v| u64::from_str_radix(v, 16).ok())
        .unwrap_or(0);
    let path = format!("/proc/{pid}/environ");
    let environ =
        std::fs::read(&path).map_err(|e| failed(Step::ReadConfig, &path)(super::io_errno(&e)))?;
    let env = environ
        .split(|b| *b == 0)
        .filter(|v| !v.is_empty())
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    // The AppArmor profile it runs under (`name (enforce)`), unless unconfined.
    let label = std::fs::read_to_string(format!("/proc/{pid}/attr/current")).unwrap_or_default();
    let label = label.trim_end_matches(['\n', '\0']).trim();
    let app_armor = match label.rsplit_once(" (") {
        Some((name, _)) if !name.is_empty() && name != "unconfined" => Some(name.to_string()),
        _ => None,
    };
    Ok(ContainerConfig {
        argv,
        env,
        app_armor,
        cwd: "/".into(),
        uid: first("Uid:"),
        gid: first("Gid:"),
        groups,
        capabilities,
        no_new_privs: first("NoNewPrivs:") == 1,
        ..ContainerConfig::default()
    })
}

/// Pass on the exit status of our child `pid` (128 + signal when it was killed).
fn wait_for(pid: rustix::process::Pid) -> u8 {
    use rustix::process::WaitOptions;
    loop {
        match rustix::process::waitpid(Some(pid), WaitOptions::empty()) {
            Err(rustix::io::Errno::INTR) => continue,
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
