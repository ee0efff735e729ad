//! Internal commands that pealet re-executes: `pealet init`, one container process;
//! `pealet sandbox`, a bare holder of a pod's namespaces (tests); `pealet shim`, one
//! pod; `pealet enter`, a process inside a running container (`pealet exec`); `pealet
//! reap`, PID 1 of a pod's shared PID namespace.

use std::io::{Read, Write};
use std::path::PathBuf;

use lexopt::prelude::*;

use super::{CliError, globals};
use crate::runtime::cgroup;
use crate::runtime::{init, sandbox};
use crate::shim::{self, logs};

pub const INIT_HELP: &str = "\
Usage: pealet init --fd N

Internal: becomes one container process. Reads a ContainerConfig frame from the
SOCK_SEQPACKET socket on fd N, sets the container up, reports Started or SetupFailed
frames on the same socket and executes the container's program.
";

pub const REAP_HELP: &str = "\
Usage: pealet reap

Internal: PID 1 of a pod's shared PID namespace (shareProcessNamespace). Reaps
orphaned processes until it is killed or its parent exits.
";

pub fn reap(mut args: lexopt::Parser) -> Result<(), CliError> {
    if let Some(arg) = args.next()? {
        return match arg {
            Short('h') | Long("help") => Err(CliError::Help),
            _ => Err(arg.unexpected().into()),
        };
    }
    std::process::exit(i32::from(init::reaper::main()));
}

pub const SANDBOX_HELP: &str = "\
Usage: pealet sandbox DIR HOSTNAME

Internal: creates a pod sandbox (network, IPC, UTS and mount namespaces, loopback
up, the hostname, /etc files and the shm tmpfs in DIR), prints 'ready' and holds it
until standard input is closed.
";

pub fn init(mut args: lexopt::Parser) -> Result<(), CliError> {
    let mut fd = None;
    while let Some(arg) = args.next()? {
        match arg {
            Short('h') | Long("help") => return Err(CliError::Help),
            Long("fd") => fd = Some(args.value()?.parse()?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    let fd = fd.ok_or_else(|| CliError::Usage("init: --fd is required".into()))?;
    // Success never returns here: the program has replaced this process.
    std::process::exit(i32::from(init::main(fd)));
}

pub fn sandbox(mut args: lexopt::Parser) -> Result<(), CliError> {
    let mut words = Vec::new();
    while let Some(arg) = args.next()? {
        match arg {
            Short('h') | Long("help") => return Err(CliError::Help),
            Value(v) => words.push(v.string()?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    let [dir, hostname] = <[String; 2]>::try_from(words)
        .map_err(|_| CliError::Usage("sandbox: DIR and HOSTNAME are required".into()))?;
    let spec = sandbox::SandboxSpec {
        hostname,
        ..sandbox::SandboxSpec::default()
    };
    sandbox::enter(&PathBuf::from(dir), &spec).map_err(|e| CliError::Failed(e.to_string()))?;
    let mut out = std::io::stdout();
    let _ = writeln!(out, "ready").and_then(|()| out.flush());
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    Ok(())
}

pub const ENTER_HELP: &str = "\
Usage: pealet enter --pid PID [--cgroup-procs FILE]... [--seccomp FILE] -- COMMAND [ARG...]

Internal: runs COMMAND in the container whose PID 1 is PID (used by 'pealet exec').
";

pub const SHIM_HELP: &str = "\
Usage: pealet shim --pod NAME [--log-cap BYTES] [--cgroup-root DIR] [--cgroup-parent P]
                   [--pids-max N] [--backoff-base-ms MS] [--backoff-cap-ms MS]
                   [--insecure-registry HOST] [--ca-file HOST=PEM] [--mirror HOST=MIRROR]
                   [--auth-file FILE] [--seccomp-default]

Internal: runs the pod whose spec is in RUN_DIR/pods/NAME/spec (started by 'pealet run').
";

pub fn shim(mut args: lexopt::Parser) -> Result<(), CliError> {
    let g = globals();
    let mut opts = shim::Options {
        root: g.root.clone(),
        run_dir: g.run_dir.clone(),
        pod: String::new(),
        log_cap: logs::DEFAULT_CAP,
        cgroup_root: PathBuf::from(cgroup::DEFAULT_ROOT),
        cgroup_parent: cgroup::parent_for(&g.root),
        pids_max: cgroup::DEFAULT_PIDS_MAX,
        lifecycle: crate::lifecycle::Config::default(),
        registries: Default::default(),
        seccomp_default: false,
    };
    while let Some(arg) = args.next()? {
        match arg {
            Short('h') | Long("help") => return Err(CliError::Help),
            Long("pod") => opts.pod = args.value()?.string()?,
            Long("log-cap") => opts.log_cap = args.value()?.parse()?,
            Long("cgroup-root") => opts.cgroup_root = args.value()?.into(),
            Long("cgroup-parent") => opts.cgroup_parent = args.value()?.into(),
            Long("pids-max") => opts.pids_max = args.value()?.parse()?,
            Long("seccomp-default") => opts.seccomp_default = true,
            Long("backoff-base-ms") => opts.lifecycle.backoff_base_ms = args.value()?.parse()?,
            Long("backoff-cap-ms") => opts.lifecycle.backoff_cap_ms = args.value()?.parse()?,
            Long(flag) if crate::images::registry::RegistryFlags::takes(flag) => {
                let flag = flag.to_owned();
                let value = args.value()?.string()?;
                opts.registries.set(&flag, value).map_err(CliError::Usage)?;
            }
            _ => return Err(arg.unexpected().into()),
        }
    }
    if opts.pod.is_empty() {
        return Err(CliError::Usage("shim: --pod is required".into()));
    }
    shim::main(&opts).map_err(|e| CliError::Failed(format!("shim of pod {}: {e}", opts.pod)))
}

pub fn enter(mut args: lexopt::Parser) -> Result<(), CliError> {
    let (mut pid, mut procs, mut argv) = (None, Vec::new(), Vec::new());
    let mut seccomp = None;
    while let Some(arg) = args.next()? {
        match arg {
            Short('h') | Long("help") => return Err(CliError::Help),
            Long("pid") => pid = Some(args.value()?.parse()?),
            Long("cgroup-procs") => procs.push(args.value()?.string()?),
            Long("seccomp") => seccomp = Some(std::path::PathBuf::from(args.value()?)),
            Value(v) => {
                argv.push(v.string()?);
                for a in args.raw_args()? {
                    argv.push(
                        a.into_string()
                            .map_err(|a| CliError::Usage(format!("{a:?} is not UTF-8")))?,
                    );
                }
            }
            _ => return Err(arg.unexpected().into()),
        }
    }
    let pid = pid.ok_or_else(|| CliError::Usage("enter: --pid is required".into()))?;
    let target = crate::runtime::init::enter::Target {
        pid,
        cgroup_procs: &procs,
        seccomp: seccomp.as_deref(),
    };
    std::process::exit(i32::from(crate::runtime::init::enter::main(&target, argv)));
}
