//! The node's status for the upstream: cpu count, memory, allocatable (capacity minus
//! the configured reserve), cgroup version and enforced controllers, agent version,
//! os/arch/kernel, and the Ready/MemoryPressure/DiskPressure/PIDPressure conditions
//! from /proc and statvfs. Reads the system; publishes nothing itself.

use std::path::Path;

use crate::runtime::cgroup;
use crate::spec::bounded::Short;
use crate::spec::{
    CgroupInfo, ConditionStatus, NodeCondition, NodeConditions, NodeResources, NodeStatus, Time,
};

/// Pods per node, as the kubelet's default `maxPods`.
pub const MAX_PODS: u32 = 110;
/// Below this share of available memory the node reports MemoryPressure (percent).
const MEMORY_PRESSURE_PERCENT: u64 = 5;
/// Below this share of free space on the root the node reports DiskPressure (percent).
const DISK_PRESSURE_PERCENT: u64 = 10;
/// Above this share of pid_max in use the node reports PIDPressure (percent).
const PID_PRESSURE_PERCENT: u64 = 90;

/// What the node has, what it keeps back, and where its disk state lives.
#[derive(Debug, Clone)]
pub struct NodeFacts {
    pub name: String,
    pub reserved_cpu: u64,
    pub reserved_memory: u64,
    pub root: std::path::PathBuf,
    cgroup: CgroupInfo,
    kernel: String,
    /// Why the desired state cannot be written, while it cannot (DiskPressure).
    store_failure: Option<String>,
}

impl NodeFacts {
    pub fn new(name: &str, reserved_cpu: u64, reserved_memory: u64, root: &Path) -> NodeFacts {
        let uname = rustix::system::uname();
        NodeFacts {
            name: name.to_owned(),
            reserved_cpu,
            reserved_memory,
            root: root.to_path_buf(),
            cgroup: cgroup::detect(Path::new(cgroup::DEFAULT_ROOT)),
            kernel: uname.release().to_string_lossy().into_owned(),
            store_failure: None,
        }
    }

    /// The desired state cannot be written (`Some`: why), or can again; true when
    /// that changed.
    pub fn set_store_failure(&mut self, failure: Option<&str>) -> bool {
        let changed = self.store_failure.as_deref() != failure;
        self.store_failure = failure.map(str::to_owned);
        changed
    }

    pub fn capacity(&self) -> NodeResources {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
        NodeResources {
            cpu: cpus * 1000,
            memory: meminfo("MemTotal:").unwrap_or(0),
            pods: MAX_PODS,
        }
    }

    pub fn allocatable(&self) -> NodeResources {
        let c = self.capacity();
        NodeResources {
            cpu: c.cpu.saturating_sub(self.reserved_cpu),
            memory: c.memory.saturating_sub(self.reserved_memory),
            pods: c.pods,
        }
    }

    /// The status now; `previous` keeps the transition times of unchanged conditions.
    /// The heartbeat time is the caller's (compare without it to detect changes).
    pub fn status(&self, online: bool, previous: Option<&NodeStatus>, now: Time) -> NodeStatus {
        let capacity = self.capacity();
        let mem_pressure = (meminfo("MemAvailable:").zip(meminfo("MemTotal:")))
            .is_some_and(|(a, t)| t > 0 && a * 100 < t * MEMORY_PRESSURE_PERCENT);
        let low = rustix::fs::statvfs(&self.root)
            .is_ok_and(|s| s.f_blocks > 0 && s.f_bavail * 100 < s.f_blocks * DISK_PRESSURE_PERCENT);
        let disk_pressure = low || self.store_failure.is_some();
        let pid_pressure =
            pid_use().is_some_and(|(used, max)| used * 100 > max * PID_PRESSURE_PERCENT);
        let prev = previous.map(|p| &p.conditions);
        let cond = |get: fn(&NodeConditions) -> &NodeCondition, on: bool, reason: &str| {
            let status = if on {
                ConditionStatus::True
            } else {
                ConditionStatus::False
            };
            let since = (prev.map(get))
                .filter(|c| c.status == status)
                .map_or(now, |c| c.last_transition);
            NodeCondition {
                status,
                reason: Some(short(reason)),
                message: None,
                last_transition: since,
            }
        };
        NodeStatus {
            name: short(&self.name),
            online,
            agent_version: short(env!("CARGO_PKG_VERSION")),
            os: short(std::env::consts::OS),
            arch: short(std::env::consts::ARCH),
            kernel: short(&self.kernel),
            cgroup: self.cgroup,
            capacity,
            allocatable: self.allocatable(),
            conditions: NodeConditions {
                ready: cond(|c| &c.ready, online, "KubeletReady"),
                memory_pressure: cond(|c| &c.memory_pressure, mem_pressure, "MemoryPressure"),
                disk_pressure: NodeCondition {
                    message: (self.store_failure.as_deref()).map(|why| {
                        let why = format!("the desired state cannot be stored: {why}");
                        crate::spec::bounded::Text::try_from(short(&why).as_str())
                            .unwrap_or_default()
                    }),
                    ..cond(|c| &c.disk_pressure, disk_pressure, "DiskPressure")
                },
                pid_pressure: cond(|c| &c.pid_pressure, pid_pressure, "PIDPressure"),
            },
            heartbeat: now,
        }
    }
}

fn short(s: &str) -> Short {
    let mut end = s.len().min(crate::spec::bounded::MAX_SHORT);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].try_into().unwrap_or_default()
}

/// A /proc/meminfo line in bytes.
fn meminfo(key: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_meminfo(&text, key)
}

fn parse_meminfo(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kib: u64 = line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Processes in use (from /proc/loadavg) and pid_max.
fn pid_use() -> Option<(u64, u64)> {
    let load = std::fs::read_to_string("/proc/loadavg").ok()?;
    let used = load
        .split_whitespace()
        .nth(3)?
        .split('/')
        .nth(1)?
        .parse()
        .ok()?;
    let max = std::fs::read_to_string("/proc/sys/kernel/pid_max").ok()?;
    Some((used, max.trim().parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_lines() {
        let t = "MemTotal:        3884 kB\nMemAvailable:     100 kB\n";
        assert_eq!(parse_meminfo(t, "MemTotal:"), Some(3884 * 1024));
        assert_eq!(parse_meminfo(t, "MemAvailable:"), Some(100 * 1024));
        assert_eq!(parse_meminfo(t, "Nope:"), None);
    }

    #[test]
    fn allocatable_is_capacity_minus_reserve() {
        let f = NodeFacts::new("n", 500, 1 << 20, Path::new("/"));
        let (c, a) = (f.capacity(), f.allocatable());
        assert_eq!(a.cpu, c.cpu - 500);
        assert_eq!(a.memory, c.memory - (1 << 20));
        let s = f.status(true, None, Time(5));
        assert_eq!(s.conditions.ready.status, ConditionStatus::True);
        let later = f.status(true, Some(&s), Time(9));
        assert_eq!(later.conditions.ready.last_transition, Time(5));
    }
}
