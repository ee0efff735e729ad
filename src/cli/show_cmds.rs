//! `pealet ps`, `inspect` and `logs`: what the run directory says about pods, read
//! without asking any shim, so they answer at once and also for stopped pods.

use std::io::{Read, Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use lexopt::prelude::*;

use super::{CliError, globals};
use crate::shim::logs;
use crate::shim::state::{self, PodState};
use crate::spec::manifest::{Node, Value, emit, write};
use crate::spec::{ContainerState, ContainerStatus, Pod, PodPhase, PodStatus, Reason, Time};

pub const PS_HELP: &str = "\
Usage: pealet ps [-o json]

Lists the pods in the run directory: NAME, READY (ready/all app containers),
STATUS (as kubectl shows it; Unknown when the pod's shim is gone), RESTARTS, AGE.
With -o json, a Kubernetes List of Pods with their status.
";

pub const INSPECT_HELP: &str = "\
Usage: pealet inspect POD [-o yaml|json]

Shows a pod as Kubernetes does ('kubectl get pod -o yaml'): metadata, spec and
status with containerStatuses and their states, in Kubernetes field names.
";

fn failed(e: impl std::fmt::Display) -> CliError {
    CliError::Failed(e.to_string())
}

fn output_format(args: &mut lexopt::Parser) -> Result<String, CliError> {
    let f = args.value()?.string()?;
    match f.as_str() {
        "json" | "yaml" => Ok(f),
        _ => Err(CliError::Usage(format!(
            "unknown output format {f:?}: yaml or json"
        ))),
    }
}

pub fn ps(mut args: lexopt::Parser) -> Result<(), CliError> {
    let mut format = None;
    while let Some(arg) = args.next()? {
        match arg {
            Short('h') | Long("help") => return Err(CliError::Help),
            Short('o') | Long("output") => format = Some(output_format(&mut args)?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    let g = globals();
    let pods = state::list(&g.root, &g.run_dir).map_err(failed)?;
    if format.is_some() {
        let items = pods.iter().map(manifest).collect();
        let list = map(vec![
            ("apiVersion", s("v1")),
            ("kind", s("List")),
            ("items", Node::new(Value::Seq(items))),
        ]);
        println!("{}", emit::to_json(&list));
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{:<24} {:<6} {:<26} {:<9} AGE",
        "NAME", "READY", "STATUS", "RESTARTS"
    );
    for p in &pods {
        let (ready, status, restarts, age) = match &p.status {
            Some(st) => {
                let apps = &st.container_statuses;
                let ready = apps.iter().filter(|c| c.ready).count();
                let restarts: u32 = apps
                    .iter()
                    .chain(st.init_container_statuses.iter())
                    .map(|c| c.restart_count)
                    .sum();
                let age = Time::now().0.saturating_sub(st.start_time.0);
                (
                    format!("{ready}/{}", apps.len()),
                    display_status(p, st),
                    restarts,
                    human(age),
                )
            }
            None => ("0/0".into(), "Unknown".into(), 0, "-".into()),
        };
        let _ = writeln!(
            out,
            "{:<24} {:<6} {:<26} {:<9} {age}",
            p.pod.name, ready, status, restarts
        );
    }
    Ok(())
}

/// STATUS as kubectl prints it, simplified; Unknown when a pod that should run has no shim.
fn display_status(p: &PodState, st: &PodStatus) -> String {
    let done = matches!(st.phase, PodPhase::Succeeded | PodPhase::Failed);
    if p.shim.is_none() && !done {
        return "Unknown".into();
    }
    let n = st.init_container_statuses.len();
    for (i, c) in st.init_container_statuses.iter().enumerate() {
        match &c.state {
            ContainerState::Terminated { exit_code: 0, .. } => continue,
            ContainerState::Terminated { reason, .. } => return format!("Init:{reason}"),
            ContainerState::Waiting { reason, .. }
                if !matches!(reason, Reason::PodInitializing) =>
            {
                return format!("Init:{reason}");
            }
            _ => return format!("Init:{i}/{n}"),
        }
    }
    let mut reason = st.phase.as_str().to_string();
    for c in st.container_statuses.iter().rev() {
        match &c.state {
            ContainerState::Waiting { reason: r, .. } => reason = r.to_string(),
            ContainerState::Terminated { reason: r, .. } => reason = r.to_string(),
            ContainerState::Running { .. } => {}
        }
    }
    if st.phase == PodPhase::Running && st.container_statuses.iter().any(|c| c.ready) {
        let all_running = st
            .container_statuses
            .iter()
            .all(|c| matches!(c.state, ContainerState::Running { .. }));
        if all_running {
            reason = "Running".into();
        }
    }
    reason
}

fn human(secs: u64) -> String {
    match secs {
        0..120 => format!("{secs}s"),
        120..7200 => format!("{}m", secs / 60),
        7200..172_800 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    }
}

/// One line of `pealet run`: the phase and each container's state.
pub fn status_line(st: &PodStatus) -> String {
    let mut line = format!("{:<9}", st.phase.as_str());
    if let Some(reason) = &st.reason {
        line.push_str(&format!(" ({reason})"));
    }
    for c in st
        .init_container_statuses
        .iter()
        .chain(st.container_statuses.iter())
    {
        let state = match &c.state {
            ContainerState::Waiting { reason, .. } => format!("Waiting({reason})"),
            ContainerState::Running { .. } if c.ready => "Running(ready)".to_string(),
            ContainerState::Running { .. } => "Running".to_string(),
            ContainerState::Terminated {
                exit_code, reason, ..
            } => format!("Terminated({reason}, exit {exit_code})"),
        };
        line.push_str(&format!(" {}={state}", c.name));
        if c.restart_count > 0 {
            line.push_str(&format!("[restarts {}]", c.restart_count));
        }
    }
    line
}

/// Every app container has run at least once: it is running, or it ran and exited (and
/// may be waiting to restart). What `run --detach` waits for.
pub fn all_started(st: &PodStatus) -> bool {
    !st.container_statuses.is_empty()
        && st.container_statuses.iter().all(|c| {
            matches!(
                c.state,
                ContainerState::Running { .. } | ContainerState::Terminated { .. }
            ) || c.last_state.is_some()
        })
}

/// A container that cannot start, for `run --detach` to report instead of waiting: a
/// Waiting reason other than a normal step, a crash loop of a program that never ran,
/// or an init container's crash loop (the app containers wait for it).
pub fn start_problem(st: &PodStatus) -> Option<String> {
    if matches!(st.phase, PodPhase::Failed | PodPhase::Succeeded) {
        return Some(format!("pod ended: {}", st.phase.as_str()));
    }
    let init = st.init_container_statuses.iter().map(|c| (c, true));
    let apps = st.container_statuses.iter().map(|c| (c, false));
    init.chain(apps)
        .find_map(|(c, is_init)| container_problem(c, is_init))
}

fn container_problem(c: &ContainerStatus, is_init: bool) -> Option<String> {
    let (reason, message) = match (&c.state, &c.last_state) {
        (
            ContainerState::Waiting {
                reason: reason @ Reason::CrashLoopBackOff,
                message,
            },
            _,
        ) if is_init => (reason, message),
        (
            ContainerState::Waiting {
                reason: Reason::CrashLoopBackOff,
                ..
            },
            Some(ContainerState::Terminated {
                reason: reason @ Reason::StartError,
                message,
                ..
            }),
        ) => (reason, message),
        (
            ContainerState::Waiting {
                reason:
                    Reason::ContainerCreating | Reason::PodInitializing | Reason::CrashLoopBackOff,
                ..
            },
            _,
        ) => return None,
        (ContainerState::Waiting { reason, message }, _) => (reason, message),
        _ => return None,
    };
    Some(format!(
        "container {}: {reason}: {}",
        c.name,
        message.as_deref().unwrap_or("")
    ))
}

fn s(v: &str) -> Node {
    Node::new(Value::Str(v.to_string()))
}

fn map(entries: Vec<(&str, Node)>) -> Node {
    Node::new(Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    ))
}

/// The pod manifest with `status` added, as the API server shows a pod.
fn manifest(p: &PodState) -> Node {
    let mut node = write::pod(&p.pod);
    if let (Value::Map(entries), Some(st)) = (&mut node.value, &p.status) {
        entries.push(("status".into(), write::pod_status(st)));
    }
    node
}

pub fn inspect(mut args: lexopt::Parser) -> Result<(), CliError> {
    let (mut pod, mut format) = (None, "yaml".to_string());
    while let Some(arg) = args.next()? {
        match arg {
            Short('h') | Long("help") => return Err(CliError::Help),
            Short('o') | Long("output") => format = output_format(&mut args)?,
            Value(v) if pod.is_none() => pod = Some(v.string()?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    let pod = pod.ok_or_else(|| CliError::Usage("inspect needs a POD".into()))?;
    let g = globals();
    let p = state::read(&g.root, &g.run_dir, &pod).map_err(failed)?;
    let node = manifest(&p);
    match format.as_str() {
        "json" => println!("{}", emit::to_json(&node)),
        _ => print!("{}", emit::to_yaml(&node)),
    }
    Ok(())
}

/// The container a command means: the one given, or the pod's only container.
pub fn pick_container(pod: &Pod, given: Option<String>) -> Result<String, CliError> {
    let names: Vec<&str> = pod.spec.all_containers().map(|c| c.name.as_str()).collect();
    match given {
        Some(c) if names.contains(&c.as_str()) => Ok(c),
        Some(c) => Err(failed(format!(
            "no container {c:?} in pod {}; it has: {}",
            pod.name,
            names.join(", ")
        ))),
        None if pod.spec.containers.len() == 1 && pod.spec.init_containers.is_empty() => {
            Ok(names[0].to_string())
        }
        None => Err(CliError::Usage(format!(
            "pod {} has several containers ({}): choose one with -c",
            pod.name,
            names.join(", ")
        ))),
    }
}

pub fn logs(mut args: lexopt::Parser) -> Result<(), CliError> {
    let (mut pod, mut container) = (None, None);
    let (mut follow, mut previous, mut timestamps) = (false, false, false);
    while let Some(arg) = args.next()? {
        match arg {
            Short('h') | Long("help") => return Err(CliError::Help),
            Short('c') | Long("container") => container = Some(args.value()?.string()?),
            Short('f') | Long("follow") => follow = true,
            Short('p') | Long("previous") => previous = true,
            Long("timestamps") => timestamps = true,
            Value(v) if pod.is_none() => pod = Some(v.string()?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    let pod = pod.ok_or_else(|| CliError::Usage("logs needs a POD".into()))?;
    let g = globals();
    let p = state::read(&g.root, &g.run_dir, &pod).map_err(failed)?;
    let container = pick_container(&p.pod, container)?;
    let dir = p.dirs.logs(&container);
    let [older, current] = logs::files(&dir, previous);
    if previous && !current.exists() {
        return Err(failed(format!(
            "container {container} of pod {pod} has no previous instance"
        )));
    }
    let mut printer = Printer {
        timestamps,
        pending: Vec::new(),
    };
    if let Ok(mut f) = std::fs::File::open(&older) {
        printer.copy(&mut f);
    }
    let mut file = std::fs::File::open(&current).ok();
    if let Some(f) = &mut file {
        printer.copy(f);
    }
    if follow && !previous {
        follow_file(&mut printer, file, &current, &p.dirs);
    }
    Ok(())
}

/// Keep printing what is appended to `current` until the pod's shim exits.
fn follow_file(
    printer: &mut Printer,
    mut file: Option<std::fs::File>,
    current: &std::path::Path,
    dirs: &state::PodDirs,
) {
    loop {
        let alive = state::shim_pid(dirs).is_some();
        std::thread::sleep(Duration::from_millis(100));
        // Rotation or a restart replaced current.log: finish the old file, take the new.
        let replaced = match (&file, std::fs::metadata(current)) {
            (Some(f), Ok(m)) => f.metadata().map(|fm| fm.ino() != m.ino()).unwrap_or(true),
            (None, Ok(_)) => true,
            (_, Err(_)) => false,
        };
        if let Some(f) = &mut file {
            printer.copy(f);
        }
        if replaced {
            file = std::fs::File::open(current).ok();
            if let Some(f) = &mut file {
                printer.copy(f);
            }
        }
        if !alive {
            break;
        }
    }
}

/// Turns log records back into what the container wrote.
struct Printer {
    timestamps: bool,
    /// An incomplete record at the end of what was read so far.
    pending: Vec<u8>,
}

impl Printer {
    fn copy(&mut self, f: &mut std::fs::File) {
        let mut buf = Vec::new();
        let _ = f.read_to_end(&mut buf);
        let _ = f.stream_position();
        self.pending.extend_from_slice(&buf);
        let mut out = std::io::stdout().lock();
        let mut start = 0;
        while let Some(nl) = self.pending[start..].iter().position(|b| *b == b'\n') {
            let line = &self.pending[start..start + nl];
            if let Some((time, _stream, full, text)) = logs::parse_record(line) {
                if self.timestamps {
                    let _ = write!(out, "{time} ");
                }
                let _ = out.write_all(text);
                if full {
                    let _ = out.write_all(b"\n");
                }
            }
            start += nl + 1;
        }
        self.pending.drain(..start);
        let _ = out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::bounded;

    fn ctr(state: ContainerState, last: Option<ContainerState>) -> ContainerStatus {
        ContainerStatus {
            name: bounded::name("c").unwrap(),
            state,
            last_state: last,
            ready: false,
            started: None,
            restart_count: 0,
            image_id: None,
            probes: Default::default(),
        }
    }

    fn waiting(reason: Reason) -> ContainerState {
        ContainerState::Waiting {
            reason,
            message: Some("m".try_into().unwrap()),
        }
    }

    fn exited(reason: Reason) -> ContainerState {
        ContainerState::Terminated {
            exit_code: 1,
            signal: None,
            reason,
            message: None,
            started_at: Default::default(),
            finished_at: Default::default(),
        }
    }

    #[test]
    fn detach_waits_for_every_container_to_run_and_reports_what_cannot_start() {
        let crash = |r| ctr(waiting(Reason::CrashLoopBackOff), Some(exited(r)));
        // (init, app) -> (all started, problem)
        let table = [
            (
                None,
                ctr(waiting(Reason::ContainerCreating), None),
                false,
                false,
            ),
            (None, crash(Reason::Error), true, false),
            (None, crash(Reason::StartError), true, true),
            (
                None,
                ctr(waiting(Reason::ErrImageNeverPull), None),
                false,
                true,
            ),
            (None, ctr(exited(Reason::Error), None), true, false),
            (
                Some(crash(Reason::Error)),
                ctr(waiting(Reason::PodInitializing), None),
                false,
                true,
            ),
        ];
        for (i, (init, app, started, problem)) in table.into_iter().enumerate() {
            let mut st = PodStatus {
                spec_hash: Default::default(),
                phase: PodPhase::Pending,
                conditions: Default::default(),
                reason: None,
                message: None,
                pod_ip: None,
                host_ip: None,
                start_time: Time(0),
                init_container_statuses: Default::default(),
                container_statuses: Default::default(),
            };
            if let Some(init) = init {
                let _ = st.init_container_statuses.push(init);
            }
            let _ = st.container_statuses.push(app);
            assert_eq!(all_started(&st), started, "row {i}");
            assert_eq!(start_problem(&st).is_some(), problem, "row {i}");
        }
    }
}
