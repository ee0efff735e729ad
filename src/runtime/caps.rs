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

/// Every capability the running kernel knows, from `/proc/sys/kernel/cap_last_cap`,
/// else every one rustix names.
pub fn all() -> CapabilitySet {
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok());
    match last {
        Some(last) if last < 63 => CapabilitySet::from_bits_truncate((2u64 << last) - 1),
        _ => CapabilitySet::all(),
    }
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
        assert!(matches!(
            resolve(false, &["FLY"], &[]),
            Err(CapsError::Unknown(_))
        ));
    }
}
