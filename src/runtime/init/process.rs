//! The container's process: working directory, AppArmor exec profile, bounding set,
//! groups, gid, uid, capabilities, no_new_privs, the seccomp filter, then execve of the
//! user's program.
//!
//! The seccomp filter goes last, after no_new_privs, so that it restricts nothing of
//! the set-up. Without no_new_privs (allowPrivilegeEscalation: true) the kernel installs
//! a filter only for a caller with CAP_SYS_ADMIN: then it goes first, while the set-up
//! still has every capability, and the remaining steps (prctl, setgroups, setresuid,
//! capset, execve) must be allowed by it, as with runc.

use std::os::unix::process::CommandExt;
use std::process::Command;

use rustix::process::{Gid, Signal, Uid};
use rustix::thread::{CapabilitySet, CapabilitySets};

use super::failed;
use crate::runtime::config::{ContainerConfig, SetupFailed, Step, unpack_filter};

/// The recipe; returns only when a step (exec included) failed.
pub fn become_program(config: &ContainerConfig) -> SetupFailed {
    let caps = CapabilitySet::from_bits_retain(config.capabilities);
    let early = !config.no_new_privs;
    let steps = chdir(&config.cwd)
        .and_then(|()| app_armor(config.app_armor.as_deref()))
        .and_then(|()| {
            if early {
                seccomp(&config.seccomp)
            } else {
                Ok(())
            }
        })
        // Ordering: the bounding set needs CAP_SETPCAP, which setuid may take away.
        .and_then(|()| drop_bounding(caps))
        .and_then(|()| set_ids(config))
        .and_then(|()| set_capabilities(caps, config.uid))
        // Ordering: a change of uid clears the parent-death signal; set it after.
        .and_then(|()| die_with_waiter())
        .and_then(|()| no_new_privs(config.no_new_privs))
        .and_then(|()| {
            if early {
                Ok(())
            } else {
                seccomp(&config.seccomp)
            }
        });
    match steps {
        Err(failure) => failure,
        Ok(()) => exec(config),
    }
}

/// Created when missing, like the kubelet's workingDir.
fn chdir(cwd: &str) -> Result<(), SetupFailed> {
    let cwd = if cwd.is_empty() { "/" } else { cwd };
    let _ = std::fs::create_dir_all(cwd);
    rustix::process::chdir(cwd).map_err(failed(Step::Chdir, cwd))
}

fn drop_bounding(keep: CapabilitySet) -> Result<(), SetupFailed> {
    for bit in 0..64 {
        let cap = CapabilitySet::from_bits_retain(1 << bit);
        if keep.contains(cap) {
            continue;
        }
        match rustix::thread::remove_capability_from_bounding_set(cap) {
            // Past the kernel's last capability.
            Err(rustix::io::Errno::INVAL) => break,
            other => other.map_err(failed(Step::DropBounding, format_args!("cap {bit}")))?,
        }
    }
    Ok(())
}

/// Keep the permitted set across setuid so capset can raise the effective set again.
fn set_ids(config: &ContainerConfig) -> Result<(), SetupFailed> {
    let arg = format_args!("{}:{}", config.uid, config.gid).to_string();
    rustix::thread::set_keep_capabilities(true).map_err(failed(Step::SetIds, &arg))?;
    let groups: Vec<Gid> = config.groups.iter().map(|&g| Gid::from_raw(g)).collect();
    rustix::thread::set_thread_groups(&groups).map_err(failed(Step::SetIds, &arg))?;
    rustix::thread::set_thread_res_gid(
        Gid::from_raw(config.gid),
        Gid::from_raw(config.gid),
        Gid::from_raw(config.gid),
    )
    .map_err(failed(Step::SetIds, &arg))?;
    rustix::thread::set_thread_res_uid(
        Uid::from_raw(config.uid),
        Uid::from_raw(config.uid),
        Uid::from_raw(config.uid),
    )
    .map_err(failed(Step::SetIds, &arg))?;
    rustix::thread::set_keep_capabilities(false).map_err(failed(Step::SetIds, &arg))
}

/// Effective = permitted = the container's set; inheritable too for uid 0 only. For
/// uid 0 exec keeps it; a non-root program gets none effective unless its file has
/// capabilities, which is what Kubernetes users see with containerd. A non-root process
/// gets no inheritable set: with one, a file with inheritable file capabilities would
/// gain them on exec (CVE-2022-24769).
fn set_capabilities(caps: CapabilitySet, uid: u32) -> Result<(), SetupFailed> {
    let sets = CapabilitySets {
        effective: caps,
        permitted: caps,
        inheritable: if uid == 0 {
            caps
        } else {
            CapabilitySet::empty()
        },
    };
    rustix::thread::set_capabilities(None, sets).map_err(failed(
        Step::SetCapabilities,
        format_args!("{:#x}", caps.bits()),
    ))
}

/// The parent is the shim (or the test) that started the container as its child:
/// without it nobody would reap, log or stop the container, so it does not outlive it.
fn die_with_waiter() -> Result<(), SetupFailed> {
    rustix::process::set_parent_process_death_signal(Some(Signal::KILL))
        .map_err(failed(Step::DieWithWaiter, "SIGKILL"))
}

fn no_new_privs(set: bool) -> Result<(), SetupFailed> {
    if !set {
        return Ok(());
    }
    rustix::thread::set_no_new_privs(true).map_err(failed(Step::NoNewPrivs, "1"))
}

/// Ask the kernel to confine the program we exec with AppArmor profile `name`.
fn app_armor(name: Option<&str>) -> Result<(), SetupFailed> {
    let Some(name) = name else {
        return Ok(());
    };
    let value = format!("exec {name}");
    // The per-LSM file (Linux 5.8) first, then the one of the only major LSM.
    let written = std::fs::write("/proc/self/attr/apparmor/exec", &value)
        .or_else(|_| std::fs::write("/proc/self/attr/exec", &value));
    written.map_err(|e| {
        let errno = rustix::io::Errno::from_io_error(&e).unwrap_or(rustix::io::Errno::IO);
        failed(Step::AppArmor, name)(errno)
    })
}

/// Install the seccomp filter (packed `struct sock_filter`s); none when empty.
fn seccomp(filter: &[u64]) -> Result<(), SetupFailed> {
    if filter.is_empty() {
        return Ok(());
    }
    let program: Vec<_> = filter.iter().map(|v| unpack_filter(*v)).collect();
    crate::sys::seccomp::set_filter(&program).map_err(failed(
        Step::Seccomp,
        format_args!("{} instructions", program.len()),
    ))
}

/// execvp with the container's environment: argv[0] is looked up in its PATH, inside
/// the new root. Returns only on failure.
fn exec(config: &ContainerConfig) -> SetupFailed {
    let Some(program) = config.argv.first() else {
        return failed(Step::Exec, "empty argv")(rustix::io::Errno::INVAL);
    };
    let mut cmd = Command::new(program);
    cmd.args(&config.argv[1..]).env_clear();
    for pair in &config.env {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        cmd.env(name, value);
    }
    let error = cmd.exec();
    let errno = rustix::io::Errno::from_io_error(&error).unwrap_or(rustix::io::Errno::NOENT);
    failed(Step::Exec, program)(errno)
}
