//! The container's process: working directory, bounding set, groups, gid, uid,
//! capabilities, no_new_privs, then execve of the user's program.

use std::os::unix::process::CommandExt;
use std::process::Command;

use rustix::process::{Gid, Signal, Uid};
use rustix::thread::{CapabilitySet, CapabilitySets};

use super::failed;
use crate::runtime::config::{ContainerConfig, SetupFailed, Step};

/// The recipe; returns only when a step (exec included) failed.
pub fn become_program(config: &ContainerConfig) -> SetupFailed {
    let caps = CapabilitySet::from_bits_retain(config.capabilities);
    let steps = chdir(&config.cwd)
        // Ordering: the bounding set needs CAP_SETPCAP, which setuid may take away.
        .and_then(|()| drop_bounding(caps))
        .and_then(|()| set_ids(config))
        .and_then(|()| set_capabilities(caps))
        // Ordering: a change of uid clears the parent-death signal; set it after.
        .and_then(|()| die_with_waiter())
        .and_then(|()| no_new_privs(config.no_new_privs));
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

/// Effective = permitted = inheritable = the container's set. For uid 0 exec keeps
/// it; a non-root program gets none effective unless its file has capabilities,
/// which is what Kubernetes users see with containerd.
fn set_capabilities(caps: CapabilitySet) -> Result<(), SetupFailed> {
    let sets = CapabilitySets {
        effective: caps,
        permitted: caps,
        inheritable: caps,
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
