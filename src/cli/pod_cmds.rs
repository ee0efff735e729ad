//! `pealet run`, `exec`, `stop` and `rm`, and the internal `shim` and `enter`: pods as a
//! user drives them. Everything goes through the pod's shim (its socket) or the run
//! directory; processes are only ever started with fork+exec (`Command`).

use std::path::Path;
use std::process::Command;

use lexopt::prelude::*;
use rustix::event::{PollFd, PollFlags};

use super::{CliError, globals, show_cmds};
use crate::images::registry::RegistryFlags;
use crate::runtime::cgroup::{self, CgroupPath};
use crate::runtime::sysctl;
use crate::shim::proto::{Client, ProtoError, Request, Response};
use crate::shim::state::{self, PodDirs};
use crate::shim::{control, logs};
use crate::spec::{self, PodPhase, PodStatus};

pub const RUN_HELP: &str = "\
Usage: pealet run FILE [--detach] [--log-cap BYTES] [--backoff-base-ms MS]
                       [--config FILE] [registry options]

Starts the pod of a Kubernetes Pod manifest (YAML or JSON) under its own shim and
prints one line per status change: time, phase, and each container's state.
Ctrl-C or SIGTERM stops the pod gracefully (SIGTERM, its grace period, SIGKILL);
a second one stops it at once. The pod keeps running if this command is killed.
Like a static pod, a pod run here (by root, on the device) may be privileged and use
host namespaces and hostPath: the agent's admission settings (allow_privileged, ...)
apply to pods from the broker only.

Options:
  -d, --detach         return once every container has started
  --log-cap BYTES      log size kept per container instance (default 1048576)
  --backoff-base-ms MS first crash-loop and image pull back-off delay, doubled per
                       restart or failed pull up to 5 minutes (default 10000, the
                       kubelet's)

Registry options, for images the pod pulls (as 'pealet image pull'), added to the
registry settings of the config file (--config FILE, PEALET_CONFIG, else
/etc/pealet/config.toml when it exists; see 'pealet agent'):
  --insecure-registry HOST  plain HTTP for HOST (loopback registries use it anyway)
  --ca-file HOST=PEM        a CA certificate trusted for HOST
  --mirror HOST=MIRROR      a mirror tried before HOST (host[:port] or URL)
  --auth-file FILE          credentials from a Docker config.json (its auths)

Images are pulled by imagePullPolicy: Always before every start, IfNotPresent when
the local store lacks them, Never not at all. When a pull fails but the store has
the image, the container starts with that copy (a device whose uplink is down).

Exit status: 0 when the pod started (--detach), succeeded or was stopped, 1 when it
failed or could not start, 2 on a usage error.
";

pub const EXEC_HELP: &str = "\
Usage: pealet exec POD [-c CONTAINER] -- COMMAND [ARG...]

Runs COMMAND inside a running container: its namespaces, cgroup, root, user,
capabilities and environment. Standard input, output and error are this command's.
-c may be left out when the pod has one container.

Exit status: COMMAND's, 127 when it could not be started, 1 when the pod or the
container is not running, 2 on a usage error.
";

pub const STOP_HELP: &str = "\
Usage: pealet stop POD [--grace SECONDS]

Stops a pod: SIGTERM to every container, SIGKILL after the grace period (the pod's
terminationGracePeriodSeconds, at least 2 s, unless given; --grace 0 kills at once).
Its status and logs stay until 'pealet rm'.
Exit status: 0 when the pod is stopped, 1 on failure, 2 on a usage error.
";

pub const RM_HELP: &str = "\
Usage: pealet rm POD... [--grace SECONDS]

Removes pods: stops each one if it runs (SIGTERM, SIGKILL after the grace period: the
pod's terminationGracePeriodSeconds, at least 2 s, unless given; --grace 0 kills at
once), then deletes its status, logs, overlay directories, cgroups and emptyDir
volumes. Nothing of the pod is left behind.
Exit status: 0 on success, 1 when a pod does not exist or cannot be removed.
";

fn failed(e: impl std::fmt::Display) -> CliError {
    CliError::Failed(e.to_string())
}

fn dirs(pod: &str) -> PodDirs {
    let g = globals();
    PodDirs::new(&g.root, &g.run_dir, pod)
}

pub fn run(mut args: lexopt::Parser) -> Result<(), CliError> {
    let (mut file, mut detach, mut log_cap) = (None, false, logs::DEFAULT_CAP);
    let mut backoff_base_ms = None::<u64>;
    let mut flag_registries = RegistryFlags::default();
    let mut settings_flags = crate::config::Flags::default();
    while let Some(arg) = args.next()? {
        match arg {
            Short('h') | Long("help") => return Err(CliError::Help),
            Short('d') | Long("detach") => detach = true,
            Long("log-cap") => log_cap = args.value()?.parse()?,
            Long("backoff-base-ms") => backoff_base_ms = Some(args.value()?.parse()?),
            Long(flag) if RegistryFlags::takes(flag) => {
                let flag = flag.to_owned();
                let value = args.value()?.string()?;
                flag_registries.set(&flag, value).map_err(CliError::Usage)?;
            }
            Long("config") => {
                settings_flags
                    .set("config", args.value()?.string()?)
                    .map_err(failed)?;
            }
            Value(v) if file.is_none() => file = Some(v.string()?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    let file = file.ok_or_else(|| CliError::Usage("run needs a FILE".into()))?;
    let mut pods = super::spec_cmds::read_manifest(&file).map_err(CliError::Invalid)?;
    if pods.len() != 1 {
        return Err(CliError::Invalid(vec![format!(
            "{file}: holds {} pods; run takes exactly one",
            pods.len()
        )]));
    }
    let pod = pods.remove(0).pod;
    let d = dirs(&pod.name);
    if d.run.exists() {
        let what = if state::shim_pid(&d).is_some() {
            "is running"
        } else {
            "exists"
        };
        return Err(failed(format!(
            "pod {} {what}; remove it first with 'pealet rm {}'",
            pod.name, pod.name
        )));
    }
    let settings = crate::config::Settings::load(&settings_flags).map_err(failed)?;
    // As the agent admits it: sysctls beyond the safe set only when the config allows.
    if let Err(message) = sysctl::check(&pod, &settings.allowed_unsafe_sysctls) {
        return Err(failed(format!(
            "pod {}: {}: {message}",
            pod.name,
            sysctl::FORBIDDEN
        )));
    }
    let mut registries = settings.registries.clone();
    registries.extend(flag_registries);
    // Read here too, so a bad auth file is refused before the pod starts.
    registries.registries().map_err(failed)?;
    let shim = control::ShimSettings {
        log_cap,
        backoff_base_ms,
        registries: &registries,
        seccomp_default: settings.seccomp_default,
    };
    let client = start_shim(&pod, &shim)?;
    // Signals are blocked only now: the shim started above must not inherit the mask.
    let signals = crate::sys::signal_fd(&[libc::SIGINT, libc::SIGTERM]).map_err(failed)?;
    client
        .send(&Request::Watch { replay: false })
        .map_err(failed)?;
    follow(&client, &signals, &d, detach)
}

/// Start `pealet shim` in its own session and connect to it once it listens.
fn start_shim(pod: &spec::Pod, settings: &control::ShimSettings<'_>) -> Result<Client, CliError> {
    let g = globals();
    control::start(&g.root, &g.run_dir, pod, settings).map_err(failed)
}

/// Print status changes until the pod ends (or, detached, has started).
fn follow(
    client: &Client,
    signals: &std::os::fd::OwnedFd,
    d: &PodDirs,
    detach: bool,
) -> Result<(), CliError> {
    let mut last = String::new();
    let mut stops = 0;
    let mut status: Option<PodStatus> = None;
    loop {
        let mut fds = [
            PollFd::new(client, PollFlags::IN),
            PollFd::new(signals, PollFlags::IN),
        ];
        let _ = rustix::event::poll(&mut fds, None);
        if !fds[1].revents().is_empty() {
            let mut buf = [0u8; crate::sys::SIGINFO_SIZE];
            let _ = rustix::io::read(signals, &mut buf);
            stops += 1;
            let grace = if stops > 1 { Some(0) } else { None };
            eprintln!("stopping pod{}", if stops > 1 { " now" } else { "" });
            // A second connection: this one only watches.
            Client::connect(&d.socket())
                .and_then(|c| {
                    c.send(&Request::Stop {
                        grace_seconds: grace,
                    })
                })
                .map_err(failed)?;
        }
        if fds[0].revents().is_empty() {
            continue;
        }
        match client.recv() {
            Ok(Response::Status(st)) => {
                let line = show_cmds::status_line(&st);
                if line != last {
                    println!("{} {line}", spec::Time::now());
                    last = line;
                }
                if detach {
                    if let Some(problem) = show_cmds::start_problem(&st) {
                        return Err(failed(problem));
                    }
                    if show_cmds::all_started(&st) {
                        return Ok(());
                    }
                }
                status = Some(*st);
            }
            Ok(_) => {}
            Err(ProtoError::Closed) => break,
            Err(e) => return Err(failed(e)),
        }
    }
    match status.map(|s| s.phase) {
        Some(PodPhase::Failed) if stops == 0 => Err(CliError::Exit(1)),
        _ => Ok(()),
    }
}

pub fn stop(mut args: lexopt::Parser) -> Result<(), CliError> {
    let (mut pod, mut grace) = (None, None);
    while let Some(arg) = args.next()? {
        match arg {
            Short('h') | Long("help") => return Err(CliError::Help),
            Long("grace") => grace = Some(args.value()?.parse()?),
            Value(v) if pod.is_none() => pod = Some(v.string()?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    let pod = pod.ok_or_else(|| CliError::Usage("stop needs a POD".into()))?;
    let d = dirs(&pod);
    let g = globals();
    state::read(&g.root, &g.run_dir, &pod).map_err(failed)?;
    stop_pod(&d, grace)
}

/// Ask the shim to stop the pod and wait until it has.
fn stop_pod(d: &PodDirs, grace: Option<u64>) -> Result<(), CliError> {
    control::stop(d, grace).map_err(failed)
}

pub fn rm(mut args: lexopt::Parser) -> Result<(), CliError> {
    let (mut pods, mut grace) = (Vec::new(), None);
    while let Some(arg) = args.next()? {
        match arg {
            Short('h') | Long("help") => return Err(CliError::Help),
            Long("grace") => grace = Some(args.value()?.parse()?),
            Value(v) => pods.push(v.string()?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    if pods.is_empty() {
        return Err(CliError::Usage("rm needs a POD".into()));
    }
    for pod in pods {
        let d = dirs(&pod);
        if !d.run.exists() && !d.root.exists() {
            return Err(failed(format!(
                "no pod {pod:?} in {}",
                globals().run_dir.display()
            )));
        }
        control::remove(&d, &pod, grace).map_err(failed)?;
        println!("{pod}");
    }
    Ok(())
}

pub fn exec(mut args: lexopt::Parser) -> Result<(), CliError> {
    let (mut pod, mut container) = (None, None);
    let mut argv = Vec::new();
    while let Some(arg) = args.next()? {
        match arg {
            Short('h') | Long("help") => return Err(CliError::Help),
            Short('c') | Long("container") => container = Some(args.value()?.string()?),
            Value(v) if pod.is_none() => pod = Some(v.string()?),
            Value(v) => {
                argv.push(v);
                argv.extend(args.raw_args()?);
            }
            _ => return Err(arg.unexpected().into()),
        }
    }
    let pod = pod.ok_or_else(|| CliError::Usage("exec needs a POD".into()))?;
    if argv.is_empty() {
        return Err(CliError::Usage("exec needs a COMMAND after --".into()));
    }
    let g = globals();
    let st = state::read(&g.root, &g.run_dir, &pod).map_err(failed)?;
    let container = show_cmds::pick_container(&st.pod, container)?;
    let reply = Client::connect(&st.dirs.socket())
        .and_then(|c| {
            c.call(&Request::ContainerPid {
                container: container.clone(),
            })
        })
        .map_err(|e| failed(format!("pod {pod} is not running: {e}")))?;
    let pid = match reply {
        Response::ContainerPid(pid) => pid,
        Response::Error { message, .. } => return Err(failed(message)),
        other => return Err(failed(format!("unexpected answer {other:?}"))),
    };
    let cgroups = cgroup::open(
        Path::new(cgroup::DEFAULT_ROOT),
        &cgroup::parent_for(&g.root),
    )
    .map_err(failed)?;
    let cg = CgroupPath::pod(cgroups.parent(), &pod)
        .and_then(|p| p.container(&container))
        .map_err(failed)?;
    let mut cmd = Command::new(std::env::current_exe().map_err(failed)?);
    cmd.args(["enter", "--pid", &pid.to_string()]);
    for f in cgroups.procs_files(&cg) {
        cmd.arg("--cgroup-procs").arg(f);
    }
    let seccomp = st
        .dirs
        .instance(&container)
        .join(crate::shim::container::SECCOMP_FILE);
    if seccomp.exists() {
        cmd.arg("--seccomp").arg(seccomp);
    }
    cmd.arg("--").args(argv);
    let status = cmd
        .status()
        .map_err(|e| failed(format!("start pealet enter: {e}")))?;
    use std::os::unix::process::ExitStatusExt;
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    match code {
        0 => Ok(()),
        code => Err(CliError::Exit(u8::try_from(code).unwrap_or(1))),
    }
}
