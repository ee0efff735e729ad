//! Capability sets from a container's securityContext: the runc/containerd default
//! set, `add` and `drop` by name (`NET_ADMIN` or `CAP_NET_ADMIN`, `ALL`), everything for
//! privileged containers. Pure: applying the set is a step of `init`.

use rustix::thread::CapabilitySet;

/// The default set of runc and containerd.
pub const DEFAULT: CapabilitySet = CapabilitySet::CHOWN
    .union(CapabilitySet::DAC_OVERRIDE)
    .union(CapabilitySet::FSETID)
    .union(CapabilitySet::FOWNER)
    .union(CapabilitySet::MKNOD)
    .union(CapabilitySet::NET_RAW)
    .union(CapabilitySet::SETGID)
    .union(CapabilitySet::SETUID)
    .union(CapabilitySet::SETFCAP)
    .union(CapabilitySet::SETPCAP)
    .union(CapabilitySet::NET_BIND_SERVICE)
    .union(CapabilitySet::SYS_CHROOT)
    .union(CapabilitySet::KILL)
    .union(CapabilitySet::AUDIT_WRITE);

#[derive(Debug, thiserror::Error)]
pub enum CapsError {
    #[error("unknown capability {0:?}")]
    Unknown(String),
}

/// Every capability the running kernel knows (`/proc/sys/kernel/cap_last_cap`, else
/// every one rustix names) that this process can still pass on: those in its bounding
/// set (`CapBnd` of `/proc/self/status`). A host (or an outer container) whose bounding
/// set lacks some would otherwise make every privileged container fail its capset.
pub fn all() -> CapabilitySet {
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok());
    let known = match last {
        Some(last) if last < 63 => CapabilitySet::from_bits_retain((2u64 << last) - 1),
        _ => CapabilitySet::all(),
    };
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    match bounding_set(&status) {
        Some(bounding) => known & bounding,
        None => known,
    }
}

/// The `CapBnd:` line of a `/proc/<pid>/status` text.
pub fn bounding_set(status: &str) -> Option<CapabilitySet> {
    let hex = status.lines().find_map(|l| l.strip_prefix("CapBnd:"))?;
    u64::from_str_radix(hex.trim(), 16)
        .ok()
        .map(CapabilitySet::from_bits_retain)
}

/// One capability by its Kubernetes name; `ALL` is every capability.
pub fn parse(name: &str) -> Result<CapabilitySet, CapsError> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    if bare == "ALL" {
        return Ok(all());
    }
    CapabilitySet::from_name(bare).ok_or_else(|| CapsError::Unknown(name.to_string()))
}

/// The set a container runs with: drop is applied before add, as in containerd
/// (so `drop: [ALL], add: [NET_BIND_SERVICE]` keeps exactly that one).
pub fn resolve(privileged: bool, add: &[&str], drop: &[&str]) -> Result<CapabilitySet, CapsError> {
    if privileged {
        return Ok(all());
    }
    let mut set = DEFAULT;
    for name in drop {
        set.remove(parse(name)?);
    }
    for name in add {
        set.insert(parse(name)?);
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_add_drop_privileged() {
        assert_eq!(resolve(false, &[], &[]).unwrap(), DEFAULT);
        assert_eq!(DEFAULT.bits().count_ones(), 14);
        let s = resolve(false, &["NET_ADMIN"], &["cap_chown", "KILL"]).unwrap();
        assert!(s.contains(CapabilitySet::NET_ADMIN));
        assert!(!s.contains(CapabilitySet::CHOWN) && !s.contains(CapabilitySet::KILL));
        let only = resolve(false, &["NET_BIND_SERVICE"], &["ALL"]).unwrap();
        assert_eq!(only, CapabilitySet::NET_BIND_SERVICE);
        assert!(
            resolve(true, &[], &["ALL"])
                .unwrap()
                .contains(CapabilitySet::SYS_ADMIN)
        );
        let status = "Name:\tx\nCapBnd:\t000001ffffffffff\nCapAmb:\t0\n";
        assert_eq!(bounding_set(status).unwrap().bits(), 0x1ff_ffff_ffff);
        assert_eq!(bounding_set("Name: x\n"), None);
        assert!(matches!(
            resolve(false, &["FLY"], &[]),
            Err(CapsError::Unknown(_))
        ));
    }
}
