//! Probe schedules and thresholds of one container: when startup, liveness and
//! readiness probes run, and when their results flip (kubelet prober worker rules).
//!
//! A result changes the probe's verdict only after `successThreshold` successes or
//! `failureThreshold` failures in a row. Readiness starts as failure, liveness as
//! success, startup as unknown. The startup probe gates the other two; every new
//! instance of the container starts the counts over. Running probes is the shim's job.

use super::container::Kind;
use super::record::Out;
use super::{Action, ContainerId, Now, ProbeKind};
use crate::spec::{Container, Probe, ProbeResult};

#[derive(Debug, Clone)]
pub(super) struct ProbeState {
    pub kind: ProbeKind,
    period_ms: u64,
    timeout_ms: u64,
    initial_delay_ms: u64,
    success_threshold: u32,
    failure_threshold: u32,
    /// The probe's own terminationGracePeriodSeconds, in ms.
    pub grace_ms: Option<u64>,
    /// When the next probe is due; `None` while the probe is off.
    next_at: Option<u64>,
    in_flight: bool,
    /// The verdict after thresholds.
    pub verdict: ProbeResult,
    /// The raw result of the last probe, for the status.
    pub last: ProbeResult,
    pub successes: u32,
    pub failures: u32,
    pub last_failure: Option<String>,
    /// The warning of the last successful probe that had one (for its Event).
    last_warning: Option<String>,
}

impl ProbeState {
    fn new(kind: ProbeKind, p: &Probe) -> ProbeState {
        ProbeState {
            kind,
            period_ms: u64::from(p.period_seconds.max(1)) * 1000,
            timeout_ms: u64::from(p.timeout_seconds.max(1)) * 1000,
            initial_delay_ms: u64::from(p.initial_delay_seconds) * 1000,
            success_threshold: p.success_threshold.max(1),
            failure_threshold: p.failure_threshold.max(1),
            grace_ms: p.termination_grace_period_seconds.map(|s| s * 1000),
            next_at: None,
            in_flight: false,
            verdict: Self::initial(kind),
            last: ProbeResult::Unknown,
            successes: 0,
            failures: 0,
            last_failure: None,
            last_warning: None,
        }
    }

    fn initial(kind: ProbeKind) -> ProbeResult {
        match kind {
            ProbeKind::Startup => ProbeResult::Unknown,
            ProbeKind::Liveness => ProbeResult::Success,
            ProbeKind::Readiness => ProbeResult::Failure,
        }
    }

    /// Starts counting over for a new instance of the container.
    fn reset(&mut self) {
        self.next_at = None;
        self.in_flight = false;
        self.verdict = Self::initial(self.kind);
        self.last = ProbeResult::Unknown;
        self.successes = 0;
        self.failures = 0;
    }

    /// Turns the probe on: first run after initialDelaySeconds from the start.
    fn activate(&mut self, started_mono: u64, now: Now) {
        self.next_at = Some(
            started_mono
                .saturating_add(self.initial_delay_ms)
                .max(now.mono_ms),
        );
    }

    /// Records one result; returns the new verdict when the threshold was reached.
    ///
    /// The counts stop at their threshold: past it they tell nothing new, and a count
    /// that grew at every probe would change the status (written, sent to watchers,
    /// published upstream) every period of every healthy probe.
    fn record(&mut self, success: bool, message: Option<String>) -> Option<ProbeResult> {
        self.in_flight = false;
        if success {
            self.last = ProbeResult::Success;
            self.successes = self.successes.saturating_add(1).min(self.success_threshold);
            self.failures = 0;
            (self.successes >= self.success_threshold).then_some(ProbeResult::Success)
        } else {
            self.last = ProbeResult::Failure;
            self.failures = self.failures.saturating_add(1).min(self.failure_threshold);
            self.successes = 0;
            self.last_failure = Some(message.unwrap_or_else(|| "probe failed".to_string()));
            (self.failures >= self.failure_threshold).then_some(ProbeResult::Failure)
        }
    }
}

/// The probes of one container, in the order startup, liveness, readiness.
#[derive(Debug, Clone)]
pub(super) struct Probes(pub Vec<ProbeState>);

impl Probes {
    pub fn new(c: &Container, kind: Kind) -> Probes {
        // Regular init containers cannot have probes (validation refuses them).
        let specs = match kind {
            Kind::Init => [None, None, None],
            Kind::Sidecar | Kind::App => [
                c.startup_probe.as_ref().map(|p| (ProbeKind::Startup, p)),
                c.liveness_probe.as_ref().map(|p| (ProbeKind::Liveness, p)),
                c.readiness_probe
                    .as_ref()
                    .map(|p| (ProbeKind::Readiness, p)),
            ],
        };
        Probes(
            specs
                .into_iter()
                .flatten()
                .map(|(k, p)| ProbeState::new(k, p))
                .collect(),
        )
    }

    pub fn get_mut(&mut self, kind: ProbeKind) -> Option<&mut ProbeState> {
        self.0.iter_mut().find(|p| p.kind == kind)
    }

    pub fn get(&self, kind: ProbeKind) -> Option<&ProbeState> {
        self.0.iter().find(|p| p.kind == kind)
    }

    pub fn has_startup(&self) -> bool {
        self.get(ProbeKind::Startup).is_some()
    }

    /// No readiness probe, or its verdict is success.
    pub fn readiness_ok(&self) -> bool {
        self.get(ProbeKind::Readiness)
            .is_none_or(|p| p.verdict == ProbeResult::Success)
    }

    /// A new instance started running: startup first if there is one, else the others.
    pub fn on_running(&mut self, started_mono: u64, now: Now) {
        let gated = self.has_startup();
        for p in &mut self.0 {
            p.reset();
            match p.kind {
                ProbeKind::Startup => p.activate(started_mono, now),
                ProbeKind::Liveness | ProbeKind::Readiness => {
                    if !gated {
                        p.activate(started_mono, now);
                    }
                }
            }
        }
    }

    /// The startup probe passed: it stops, liveness and readiness begin.
    pub fn on_started(&mut self, started_mono: u64, now: Now) {
        for p in &mut self.0 {
            match p.kind {
                ProbeKind::Startup => p.next_at = None,
                ProbeKind::Liveness | ProbeKind::Readiness => p.activate(started_mono, now),
            }
        }
    }

    /// The container is stopping or gone: no more probes.
    pub fn stop_all(&mut self) {
        for p in &mut self.0 {
            p.next_at = None;
            p.in_flight = false;
        }
    }

    /// Records a result of a probe that was asked for; `None` for a stale one.
    pub fn record(
        &mut self,
        kind: ProbeKind,
        success: bool,
        message: Option<String>,
    ) -> Option<Option<ProbeResult>> {
        let p = self.get_mut(kind)?;
        if !p.in_flight {
            return None;
        }
        let verdict = p.record(success, message);
        if let Some(v) = verdict {
            p.verdict = v;
        }
        Some(verdict)
    }

    /// Failures of `kind` are at the threshold already: one more tells nothing new.
    pub fn failing_steadily(&self, kind: ProbeKind) -> bool {
        self.get(kind)
            .is_some_and(|p| p.failures >= p.failure_threshold)
    }

    /// Keeps the warning of a successful probe; true when it differs from the last.
    pub fn new_warning(&mut self, kind: ProbeKind, warning: &str) -> bool {
        let Some(p) = self.get_mut(kind) else {
            return false;
        };
        if p.last_warning.as_deref() == Some(warning) {
            return false;
        }
        p.last_warning = Some(warning.to_owned());
        true
    }

    pub fn next_due(&self) -> Option<u64> {
        self.0
            .iter()
            .filter(|p| !p.in_flight)
            .filter_map(|p| p.next_at)
            .min()
    }

    /// Asks for the probes that are due; one in flight is not run twice.
    pub fn run_due(&mut self, id: ContainerId, now: Now, out: &mut Out) {
        for p in &mut self.0 {
            let Some(at) = p.next_at else { continue };
            if at > now.mono_ms || p.in_flight {
                continue;
            }
            p.in_flight = true;
            p.next_at = Some(now.mono_ms.saturating_add(p.period_ms));
            out.push(Action::RunProbe {
                id,
                kind: p.kind,
                timeout_ms: p.timeout_ms,
            });
        }
    }
}
