//! The lifecycle's actions that need more than a syscall: starting probe and hook runs
//! (network ones in the shim itself, exec ones through `pealet enter`), moving them on,
//! and reading a terminated container's message. Part of the executor of `run.rs`.

use std::path::Path;

use super::logs::{self, parse_record};
use super::run::Executor;
use super::runs::{Run, What};
use crate::lifecycle::{ContainerId, Event, Hook, ProbeKind};
use crate::runtime::probe::termination::{self, TerminationError};
use crate::runtime::probe::{ProbeOutcome, ProbeRun, Target, hook_failure_message};
use crate::spec::{LifecycleHandler, ProbeHandler};

/// How much of the end of a log is read to find its last lines.
const LOG_TAIL_READ: u64 = 64 * 1024;

impl Executor<'_> {
    pub(super) fn run_probe(&mut self, id: ContainerId, kind: ProbeKind, timeout_ms: u64) {
        let c = self.container(id);
        let probe = match kind {
            ProbeKind::Liveness => c.liveness_probe.as_ref(),
            ProbeKind::Readiness => c.readiness_probe.as_ref(),
            ProbeKind::Startup => c.startup_probe.as_ref(),
        };
        let Some(probe) = probe else { return };
        let what = What::Probe(kind);
        let now = self.now().mono_ms;
        let target = Target {
            pod_ip: None,
            ports: &c.ports,
        };
        match &probe.handler {
            ProbeHandler::Exec { command } => {
                let argv = command.iter().map(|a| a.to_string()).collect();
                self.start_exec(id, what, argv, timeout_ms);
            }
            handler => {
                if let Some(run) = ProbeRun::for_probe(handler, &target, now, timeout_ms) {
                    self.runs.push(Run::net(id, what, run));
                }
            }
        }
    }

    pub(super) fn run_hook(&mut self, id: ContainerId, hook: Hook, timeout_ms: u64) {
        let c = self.container(id);
        let handler = c.lifecycle.as_ref().and_then(|l| match hook {
            Hook::PostStart => l.post_start.as_ref(),
            Hook::PreStop => l.pre_stop.as_ref(),
        });
        let what = What::Hook(hook);
        let Some(handler) = handler else {
            // Nothing to run: done at once.
            self.events
                .push_back(Run::event_for(id, what, ProbeOutcome::success()));
            return;
        };
        let now = self.now().mono_ms;
        let target = Target {
            pod_ip: None,
            ports: &c.ports,
        };
        match handler {
            LifecycleHandler::Exec { command } => {
                let argv = command.iter().map(|a| a.to_string()).collect();
                self.start_exec(id, what, argv, timeout_ms);
            }
            handler => {
                if let Some(run) = ProbeRun::for_hook(handler, &target, now, timeout_ms) {
                    self.runs.push(Run::net(id, what, run));
                }
            }
        }
    }

    fn start_exec(&mut self, id: ContainerId, what: What, argv: Vec<String>, timeout_ms: u64) {
        let now = self.now().mono_ms;
        let started = match &self.slots[id].running {
            None => Err("container is not running".to_string()),
            Some(r) => {
                let procs = self.starter.cgroups.procs_files(&r.cgroup);
                let target = super::runs::Target {
                    pid: r.pid,
                    procs: &procs,
                    seccomp: r.seccomp_file.as_deref(),
                };
                Run::exec(id, what, argv, &target, now, timeout_ms)
            }
        };
        match started {
            Ok(run) => self.runs.push(run),
            Err(message) => {
                self.events
                    .push_back(Run::event_for(id, what, ProbeOutcome::failure(message)))
            }
        }
    }

    /// Move on every run whose fd was ready or whose deadline has passed; finished runs
    /// become events, cancelled ones are dropped.
    pub(super) fn advance_runs(&mut self) {
        let now = self.now().mono_ms;
        let mut finished = Vec::new();
        for (i, run) in self.runs.iter_mut().enumerate() {
            if run.cancelled || !(run.poked || now >= run.deadline()) {
                continue;
            }
            if let Some(outcome) = run.advance(now) {
                finished.push((i, outcome));
            }
        }
        for (i, outcome) in finished {
            let run = &self.runs[i];
            let outcome = match run.what {
                What::Hook(hook) if !outcome.success => self.hook_failure(run, hook, outcome),
                What::Hook(_) | What::Probe(_) => outcome,
            };
            self.events.push_back(run.event(outcome));
        }
        self.runs.retain(|r| !r.done && !r.cancelled);
    }

    /// A failed hook's message in the kubelet's words, which name the handler, the
    /// container and the pod.
    fn hook_failure(&self, run: &Run, hook: Hook, outcome: ProbeOutcome) -> ProbeOutcome {
        let c = self.container(run.id);
        let handler = c.lifecycle.as_ref().and_then(|l| match hook {
            Hook::PostStart => l.post_start.as_ref(),
            Hook::PreStop => l.pre_stop.as_ref(),
        });
        let Some(handler) = handler else {
            return outcome;
        };
        let error = outcome.message.as_deref().unwrap_or("");
        let message = hook_failure_message(
            handler,
            &c.name,
            self.lifecycle.display(),
            error,
            run.exec_result(),
        );
        ProbeOutcome::failure(message)
    }

    /// The event carrying container `id`'s termination message, if it left one.
    pub(super) fn read_termination_message(
        &self,
        id: ContainerId,
        fallback_to_logs: bool,
    ) -> Option<Event> {
        let c = self.container(id);
        let log = self.ctx.dirs.termination_log(&c.name);
        let dir = log.parent().unwrap_or(Path::new("/"));
        let file = termination::read_message_file(dir, Path::new(&*c.name));
        let log_dir = self.ctx.dirs.logs(&c.name);
        let message = termination::message(file, fallback_to_logs, || log_tail(&log_dir));
        (!message.is_empty()).then_some(Event::TerminationMessage { id, message })
    }
}

/// The end of an instance's log as the container wrote it: the CRI prefix
/// (`<time> <stream> F|P `) stripped, `P` records joined with the next one.
fn log_tail(dir: &Path) -> Result<String, TerminationError> {
    let [_, current] = logs::files(dir, false);
    let data = read_end(&current).map_err(|source| TerminationError::Read {
        path: current.clone(),
        source,
    })?;
    // The first line may be cut by the read: skip it unless the read began at 0.
    let mut lines = data.split(|b| *b == b'\n').collect::<Vec<_>>();
    if data.len() as u64 == LOG_TAIL_READ && !lines.is_empty() {
        lines.remove(0);
    }
    let mut text = Vec::new();
    for line in lines {
        if let Some((_, _, full, content)) = parse_record(line) {
            text.extend_from_slice(content);
            if full {
                text.push(b'\n');
            }
        }
    }
    Ok(termination::log_tail(&text))
}

/// The last [`LOG_TAIL_READ`] bytes of `path`.
fn read_end(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(LOG_TAIL_READ)))?;
    let mut data = Vec::new();
    f.take(LOG_TAIL_READ).read_to_end(&mut data)?;
    Ok(data)
}
