//! The agent's record of one pod: the spec it runs, the work in progress on it (an
//! enum: starting, replacing, stopping, refused, or none), a refusal of a newer spec,
//! the newest status its shim pushed, and what was last published. Pure: the runtime
//! (`runtime.rs`) does the I/O that the transitions here ask for, and tests drive them
//! without any.
//!
//! `J` is the handle of a job on a thread of its own (a start or a stop); the tests use
//! `()`.

use crate::spec::bounded::Text;
use crate::spec::{self, Pod, PodPhase, PodStatus, Reason, SpecHash, Time};

/// Why a spec does not run: refused by admission or by the desired-state rules, or its
/// start failed. Typed: the reason is the status reason, the message says why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: Reason,
    pub message: String,
}

/// A refused spec: why, which spec (its hash names the status), and since when.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Refused {
    why: Refusal,
    hash: SpecHash,
    since: Time,
}

/// The work in progress on a pod.
#[derive(Debug)]
pub enum Work<J> {
    /// None: its shim runs (or ran) the spec, and tells its status.
    Steady,
    /// A shim is being started for a pod with nothing in the run directory.
    Starting(J),
    /// The old shim is being stopped and removed, then a new one started.
    Replacing(J),
    /// The pod is being stopped and removed; the record goes when that is done.
    Stopping(J),
    /// Nothing runs: the newest spec was refused and no earlier one ran.
    Refused,
}

/// What the run directory holds of a pod when a spec is placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Existing {
    /// The spec hash of the pod there, if any.
    pub hash: Option<SpecHash>,
    /// Its shim runs, or it finished (Succeeded or Failed): either can be adopted.
    pub adoptable: bool,
}

/// What placing a spec asks of the runtime.
#[derive(Debug, PartialEq, Eq)]
pub enum Placement<J> {
    /// Nothing to do: refused (the old spec, if any, keeps running).
    Refused,
    /// The shim runs this spec already: watch it.
    Adopt,
    /// The same spec is being started already: nothing more to do.
    Keep,
    /// Start a job (after `previous`, still running on this pod); `replacing` when
    /// something of the pod is in the run directory.
    Start {
        replacing: bool,
        previous: Option<J>,
    },
}

/// What removing a pod asks of the runtime.
#[derive(Debug, PartialEq, Eq)]
pub enum Removal<J> {
    /// Only a refusal was shown: the record goes, its status is cleared.
    Clear,
    /// Stop and remove it on a job (after `previous`).
    Stop { previous: Option<J> },
    /// It is being stopped and removed already.
    Already,
}

/// A finished job, as the record sees it.
#[derive(Debug, PartialEq, Eq)]
pub enum Done {
    /// A start: watch the new shim.
    Started,
    /// A start failed (the refusal shows why).
    StartFailed,
    /// A removal: the record goes, its status is cleared.
    Removed,
}

#[derive(Debug)]
pub struct PodRecord<J> {
    /// The spec that runs or is being started; `None` while only a refusal is shown.
    spec: Option<(Pod, SpecHash)>,
    pub is_static: bool,
    pub work: Work<J>,
    refused: Option<Refused>,
    /// The newest status its shim pushed (or its status file, for a finished pod).
    status: Option<PodStatus>,
    /// Its shim went away while the pod still ran.
    lost: bool,
    /// The encoding of the status last published.
    published: Option<Vec<u8>>,
}

impl<J> Default for PodRecord<J> {
    fn default() -> Self {
        PodRecord {
            spec: None,
            is_static: false,
            work: Work::Refused,
            refused: None,
            status: None,
            lost: false,
            published: None,
        }
    }
}

impl<J> PodRecord<J> {
    /// The spec that runs (or is being started).
    pub fn spec(&self) -> Option<&Pod> {
        self.spec.as_ref().map(|(p, _)| p)
    }

    /// Whether a spec runs or is being started (not only a refusal, not a removal).
    pub fn runs(&self) -> bool {
        self.spec.is_some() && !matches!(self.work, Work::Stopping(_))
    }

    /// Whether a job runs for this pod.
    pub fn busy(&self) -> bool {
        match self.work {
            Work::Starting(_) | Work::Replacing(_) | Work::Stopping(_) => true,
            Work::Steady | Work::Refused => false,
        }
    }

    /// The job in progress, if any.
    pub fn job(&self) -> Option<&J> {
        match &self.work {
            Work::Starting(j) | Work::Replacing(j) | Work::Stopping(j) => Some(j),
            Work::Steady | Work::Refused => None,
        }
    }

    /// Takes the job in progress, if any (to chain the next one after it).
    fn take_job(&mut self) -> Option<J> {
        match std::mem::replace(&mut self.work, Work::Steady) {
            Work::Starting(j) | Work::Replacing(j) | Work::Stopping(j) => Some(j),
            Work::Steady | Work::Refused => None,
        }
    }

    /// A new spec for the pod; `admitted` is the admission's verdict.
    pub fn place(
        &mut self,
        pod: &Pod,
        admitted: Result<(), Refusal>,
        existing: Existing,
        now: Time,
    ) -> Placement<J> {
        let hash = SpecHash::of_pod(pod);
        if let Err(why) = admitted {
            self.refuse(hash, why, now);
            return Placement::Refused;
        }
        self.refused = None;
        self.lost = false;
        let same = existing.hash == Some(hash);
        let unchanged = self.spec.as_ref().is_some_and(|(_, h)| *h == hash);
        self.spec = Some((pod.clone(), hash));
        if same && existing.adoptable && !self.busy() {
            self.work = Work::Steady;
            return Placement::Adopt;
        }
        if unchanged && matches!(self.work, Work::Starting(_) | Work::Replacing(_)) {
            return Placement::Keep;
        }
        self.status = None;
        let previous = self.take_job();
        Placement::Start {
            replacing: existing.hash.is_some() || previous.is_some(),
            previous,
        }
    }

    /// The job asked for by [`PodRecord::place`] runs.
    pub fn starting(&mut self, job: J, replacing: bool) {
        self.work = match replacing {
            true => Work::Replacing(job),
            false => Work::Starting(job),
        };
    }

    /// A new shim is being started for the spec that runs, because the last one died
    /// (`shim_gone`) or was found dead: the status stays Unknown until the new shim
    /// tells its own.
    pub fn repairing(&mut self, job: J) {
        self.work = Work::Replacing(job);
    }

    /// The newest spec was refused: the old one, if any, keeps running.
    pub fn refuse(&mut self, hash: SpecHash, why: Refusal, now: Time) {
        let since = match &self.refused {
            Some(r) if r.hash == hash && r.why == why => r.since,
            _ => now,
        };
        self.refused = Some(Refused { why, hash, since });
        if self.spec.is_none() && !self.busy() {
            self.work = Work::Refused;
        }
    }

    /// The pod is to go.
    pub fn remove(&mut self) -> Removal<J> {
        self.refused = None;
        if self.spec.is_none() {
            return match self.work {
                Work::Stopping(_) => Removal::Already,
                Work::Steady | Work::Starting(_) | Work::Replacing(_) | Work::Refused => {
                    Removal::Clear
                }
            };
        }
        self.spec = None;
        self.status = None;
        Removal::Stop {
            previous: self.take_job(),
        }
    }

    /// The removal job asked for by [`PodRecord::remove`] runs.
    pub fn stopping(&mut self, job: J) {
        self.work = Work::Stopping(job);
    }

    /// The job in progress ended: `Err` with why a start failed.
    pub fn finished(&mut self, result: Result<(), String>, now: Time) -> Done {
        let work = std::mem::replace(&mut self.work, Work::Steady);
        match (work, result) {
            (Work::Stopping(_), _) => Done::Removed,
            (_, Ok(())) => Done::Started,
            (_, Err(message)) => {
                let reason = Reason::Other("FailedStart".try_into().unwrap_or_default());
                let hash = self.spec.as_ref().map(|(_, h)| *h).unwrap_or_default();
                self.refuse(hash, Refusal { reason, message }, now);
                Done::StartFailed
            }
        }
    }

    /// A status its shim pushed (or read from its status file).
    pub fn set_status(&mut self, status: PodStatus) {
        self.lost = false;
        self.status = Some(status);
    }

    /// Its shim closed the watch connection. True when that was unexpected: the pod
    /// had not ended (the status then says Unknown instead of claiming it runs).
    pub fn shim_gone(&mut self) -> bool {
        let ended = (self.status.as_ref())
            .is_some_and(|s| matches!(s.phase, PodPhase::Succeeded | PodPhase::Failed));
        let expected = ended || !matches!(self.work, Work::Steady);
        self.lost = !expected;
        self.lost
    }

    /// The status to show: the shim's for the spec that runs, with a note about a
    /// refused newer spec; a Failed status when only a refused spec is known.
    pub fn status(&self) -> Option<PodStatus> {
        let hash = self.spec.as_ref().map(|(_, h)| *h);
        let from_shim = (self.status.as_ref()).filter(|s| Some(s.spec_hash) == hash);
        match (from_shim, &self.refused) {
            (Some(st), refused) => {
                let mut st = st.clone();
                if let Some(r) = refused {
                    let note = format!(
                        "newest spec not applied: {}: {}",
                        r.why.reason.as_str(),
                        r.why.message
                    );
                    st.message = Some(text(&note));
                }
                if self.lost {
                    st.phase = PodPhase::Unknown;
                    st.reason = Some(Reason::Other("ShimLost".try_into().unwrap_or_default()));
                    st.message = Some(text("the pod's shim exited unexpectedly"));
                }
                Some(st)
            }
            (None, Some(r)) => Some(PodStatus {
                spec_hash: r.hash,
                phase: PodPhase::Failed,
                reason: Some(r.why.reason.clone()),
                message: Some(text(&r.why.message)),
                start_time: r.since,
                conditions: Default::default(),
                pod_ip: None,
                host_ip: None,
                init_container_statuses: Default::default(),
                container_statuses: Default::default(),
            }),
            (None, None) => None,
        }
    }

    /// The status when it differs from the one last published (which it becomes).
    pub fn to_publish(&mut self) -> Option<PodStatus> {
        let status = self.status()?;
        let bytes = spec::encode(&status);
        if self.published.as_ref() == Some(&bytes) {
            return None;
        }
        self.published = Some(bytes);
        Some(status)
    }
}

fn text(s: &str) -> Text {
    let mut end = s.len().min(crate::spec::bounded::MAX_TEXT);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].try_into().unwrap_or_default()
}

#[cfg(test)]
#[path = "record/tests.rs"]
mod tests;
