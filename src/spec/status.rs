//! What a device reports: PodStatus, NodeStatus and Event, with Kubernetes meanings.
//!
//! Times inside a [`PodStatus`] are offsets in seconds from its `start_time`, which keeps
//! a status of a running pod small; [`PodStatus::at`] turns them back into [`Time`].
//! Well-known reasons are enum variants (one byte); anything else is carried as text.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::bounded::{BoundedVec, MAX_CONTAINERS, Name, Short, Text};

/// Seconds since the Unix epoch, UTC.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Time(pub u64);

impl Time {
    pub fn now() -> Time {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Time(d.as_secs())
    }

    /// `self` as an offset from `base` (zero when it is earlier).
    pub fn since(self, base: Time) -> Since {
        Since(u32::try_from(self.0.saturating_sub(base.0)).unwrap_or(u32::MAX))
    }
}

impl fmt::Display for Time {
    /// RFC 3339 in UTC, as Kubernetes writes `metav1.Time`: `2026-11-22T02:04:09Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0;
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Seconds after the `start_time` of the status that holds it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Since(pub u32);

/// Identifies the exact spec a status describes: FNV-1a 64 of the pod's uncompressed
/// encoding (see [`SpecHash::of_pod`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SpecHash(pub [u8; 8]);

impl SpecHash {
    /// The hash of `pod`'s uncompressed encoding: stable whatever the compressor does.
    pub fn of_pod(pod: &super::Pod) -> SpecHash {
        SpecHash::of(&super::codec::encode_uncompressed(pod))
    }

    /// FNV-1a 64 of `bytes`.
    pub fn of(encoded_pod: &[u8]) -> SpecHash {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in encoded_pod {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        SpecHash(h.to_be_bytes())
    }
}

impl fmt::Display for SpecHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// A sha256 digest, raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Digest(pub [u8; 32]);

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sha256:")?;
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodStatus {
    pub spec_hash: SpecHash,
    pub phase: PodPhase,
    pub conditions: PodConditions,
    pub reason: Option<Reason>,
    pub message: Option<Text>,
    pub pod_ip: Option<IpAddr>,
    pub host_ip: Option<IpAddr>,
    /// When the node accepted the pod; every [`Since`] in this status counts from here.
    pub start_time: Time,
    pub init_container_statuses: BoundedVec<ContainerStatus, MAX_CONTAINERS>,
    pub container_statuses: BoundedVec<ContainerStatus, MAX_CONTAINERS>,
}

impl PodStatus {
    /// The absolute time of an offset in this status.
    pub fn at(&self, since: Since) -> Time {
        Time(self.start_time.0.saturating_add(u64::from(since.0)))
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PodPhase {
    #[default]
    Pending,
    Running,
    Succeeded,
    Failed,
    Unknown,
}

impl PodPhase {
    pub const fn as_str(self) -> &'static str {
        match self {
            PodPhase::Pending => "Pending",
            PodPhase::Running => "Running",
            PodPhase::Succeeded => "Succeeded",
            PodPhase::Failed => "Failed",
            PodPhase::Unknown => "Unknown",
        }
    }
}

/// The four pod conditions of the kubelet, always present.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodConditions {
    pub pod_scheduled: Condition,
    pub initialized: Condition,
    pub containers_ready: Condition,
    pub ready: Condition,
}

impl PodConditions {
    /// (Kubernetes type name, condition), in the kubelet's order.
    pub fn iter(&self) -> [(&'static str, &Condition); 4] {
        [
            ("PodScheduled", &self.pod_scheduled),
            ("Initialized", &self.initialized),
            ("ContainersReady", &self.containers_ready),
            ("Ready", &self.ready),
        ]
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    pub status: ConditionStatus,
    pub last_transition: Since,
    /// Why, when the kubelet would say: a reason and perhaps a message.
    pub detail: Option<ConditionDetail>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConditionDetail {
    pub reason: Reason,
    pub message: Option<Text>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConditionStatus {
    True,
    False,
    #[default]
    Unknown,
}

impl ConditionStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }
}

/// Reasons the kubelet gives, one byte each on the wire; any other as `Other`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reason {
    ContainerCreating,
    PodInitializing,
    CrashLoopBackOff,
    CreateContainerError,
    CreateContainerConfigError,
    RunContainerError,
    ErrImagePull,
    ImagePullBackOff,
    ErrImageNeverPull,
    InvalidImageName,
    PostStartHookError,
    Completed,
    Error,
    OomKilled,
    DeadlineExceeded,
    ContainerCannotRun,
    StartError,
    ContainersNotReady,
    ContainersNotInitialized,
    PodCompleted,
    OutOfMemory,
    OutOfCpu,
    Evicted,
    Other(Short),
}

impl Reason {
    const KNOWN: [Reason; 23] = [
        Reason::ContainerCreating,
        Reason::PodInitializing,
        Reason::CrashLoopBackOff,
        Reason::CreateContainerError,
        Reason::CreateContainerConfigError,
        Reason::RunContainerError,
        Reason::ErrImagePull,
        Reason::ImagePullBackOff,
        Reason::ErrImageNeverPull,
        Reason::InvalidImageName,
        Reason::PostStartHookError,
        Reason::Completed,
        Reason::Error,
        Reason::OomKilled,
        Reason::DeadlineExceeded,
        Reason::ContainerCannotRun,
        Reason::StartError,
        Reason::ContainersNotReady,
        Reason::ContainersNotInitialized,
        Reason::PodCompleted,
        Reason::OutOfMemory,
        Reason::OutOfCpu,
        Reason::Evicted,
    ];

    /// The kubelet's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            Reason::ContainerCreating => "ContainerCreating",
            Reason::PodInitializing => "PodInitializing",
            Reason::CrashLoopBackOff => "CrashLoopBackOff",
            Reason::CreateContainerError => "CreateContainerError",
            Reason::CreateContainerConfigError => "CreateContainerConfigError",
            Reason::RunContainerError => "RunContainerError",
            Reason::ErrImagePull => "ErrImagePull",
            Reason::ImagePullBackOff => "ImagePullBackOff",
            Reason::ErrImageNeverPull => "ErrImageNeverPull",
            Reason::InvalidImageName => "InvalidImageName",
            Reason::PostStartHookError => "PostStartHookError",
            Reason::Completed => "Completed",
            Reason::Error => "Error",
            Reason::OomKilled => "OOMKilled",
            Reason::DeadlineExceeded => "DeadlineExceeded",
            Reason::ContainerCannotRun => "ContainerCannotRun",
            Reason::StartError => "StartError",
            Reason::ContainersNotReady => "ContainersNotReady",
            Reason::ContainersNotInitialized => "ContainersNotInitialized",
            Reason::PodCompleted => "PodCompleted",
            Reason::OutOfMemory => "OutOfmemory",
            Reason::OutOfCpu => "OutOfcpu",
            Reason::Evicted => "Evicted",
            Reason::Other(s) => s,
        }
    }

    /// The well-known variant for `s`, else `Other` (or `None` when too long).
    pub fn parse(s: &str) -> Option<Reason> {
        if let Some(r) = Self::KNOWN.iter().find(|r| r.as_str() == s) {
            return Some(r.clone());
        }
        Short::try_from(s).ok().map(Reason::Other)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerStatus {
    pub name: Name,
    pub state: ContainerState,
    /// The state before the last restart; `None` before the first restart.
    pub last_state: Option<ContainerState>,
    pub ready: bool,
    /// `None` until the container has run once.
    pub started: Option<bool>,
    pub restart_count: u32,
    /// The resolved image digest, once known.
    pub image_id: Option<Digest>,
    /// Results of the container's probes, so the upstream can see why it is not ready.
    pub probes: BoundedVec<ProbeStatus, 3>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContainerState {
    Waiting {
        reason: Reason,
        message: Option<Text>,
    },
    Running {
        started_at: Since,
    },
    Terminated {
        exit_code: i32,
        signal: Option<u8>,
        reason: Reason,
        message: Option<Text>,
        started_at: Since,
        finished_at: Since,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeStatus {
    pub kind: ProbeKind,
    pub last_result: ProbeResult,
    pub consecutive_successes: u32,
    pub consecutive_failures: u32,
    pub last_failure: Option<Short>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProbeKind {
    Startup,
    Liveness,
    Readiness,
}

impl ProbeKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            ProbeKind::Startup => "startup",
            ProbeKind::Liveness => "liveness",
            ProbeKind::Readiness => "readiness",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProbeResult {
    Unknown,
    Success,
    Failure,
}

impl ProbeResult {
    pub const fn as_str(self) -> &'static str {
        match self {
            ProbeResult::Unknown => "Unknown",
            ProbeResult::Success => "Success",
            ProbeResult::Failure => "Failure",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub name: Short,
    pub online: bool,
    pub agent_version: Short,
    pub os: Short,
    pub arch: Short,
    pub kernel: Short,
    pub cgroup: CgroupInfo,
    pub capacity: NodeResources,
    pub allocatable: NodeResources,
    pub conditions: NodeConditions,
    pub heartbeat: Time,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupInfo {
    /// 0: no usable hierarchy, 1: v1 (legacy or hybrid), 2: v2 (unified).
    pub version: u8,
    /// Controllers whose limits are enforced.
    pub enforced: Controllers,
}

/// A set of cgroup controllers: bit 0 cpu, 1 memory, 2 pids, 3 cpuset, 4 io, 5 devices
/// (device access control: the v1 devices controller or a v2 device program).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Controllers(pub u8);

impl Controllers {
    pub const CPU: u8 = 1;
    pub const MEMORY: u8 = 2;
    pub const PIDS: u8 = 4;
    pub const CPUSET: u8 = 8;
    pub const IO: u8 = 16;
    pub const DEVICES: u8 = 32;
    pub const NAMES: [(u8, &'static str); 6] = [
        (Self::CPU, "cpu"),
        (Self::MEMORY, "memory"),
        (Self::PIDS, "pids"),
        (Self::CPUSET, "cpuset"),
        (Self::IO, "io"),
        (Self::DEVICES, "devices"),
    ];

    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMES
            .into_iter()
            .filter(move |(b, _)| self.0 & b != 0)
            .map(|(_, n)| n)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeResources {
    /// Millicores.
    pub cpu: u64,
    /// Bytes.
    pub memory: u64,
    pub pods: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeConditions {
    pub ready: NodeCondition,
    pub memory_pressure: NodeCondition,
    pub disk_pressure: NodeCondition,
    pub pid_pressure: NodeCondition,
}

impl NodeConditions {
    pub fn iter(&self) -> [(&'static str, &NodeCondition); 4] {
        [
            ("Ready", &self.ready),
            ("MemoryPressure", &self.memory_pressure),
            ("DiskPressure", &self.disk_pressure),
            ("PIDPressure", &self.pid_pressure),
        ]
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeCondition {
    pub status: ConditionStatus,
    pub reason: Option<Short>,
    pub message: Option<Text>,
    pub last_transition: Time,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub kind: EventType,
    /// `Pulled`, `Started`, `Killing`, `Unhealthy`, `BackOff`, `Failed`, ...
    pub reason: Short,
    /// The pod the event is about, if any (else the node).
    pub pod: Option<Name>,
    pub container: Option<Name>,
    pub message: Text,
    pub time: Time,
    /// How many times it happened in a row (1 for a single event).
    pub count: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    pub const fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_formats_rfc3339_utc() {
        assert_eq!(Time(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(Time(951_782_400).to_string(), "2000-02-29T00:00:00Z");
        assert_eq!(Time(1_795_313_049).to_string(), "2026-11-22T02:04:09Z");
    }

    #[test]
    fn reasons_round_trip_through_their_names() {
        for r in Reason::KNOWN {
            assert_eq!(Reason::parse(r.as_str()), Some(r.clone()));
        }
        assert_eq!(
            Reason::parse("Custom"),
            Some(Reason::Other(Short::try_from("Custom").unwrap()))
        );
    }

    #[test]
    fn since_saturates() {
        assert_eq!(Time(5).since(Time(10)), Since(0));
        assert_eq!(Time(15).since(Time(10)), Since(5));
    }
}
