//! On-disk emptyDir `sizeLimit`: the kubelet evicts a pod whose emptyDir uses more than
//! its limit. The kernel tells nothing about a directory's size (no quota on most SD
//! card file systems, and fanotify does not count bytes), so the shim measures each
//! limited volume on its own timer, every [`INTERVAL_MS`] (the kubelet's eviction
//! manager measures every 10 s too), and only for pods that have such a volume: others
//! never wake for it. Memory emptyDirs are tmpfs mounts whose size the kernel enforces.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::state::PodDirs;
use crate::spec::quantity::format_bytes;
use crate::spec::{Pod, StorageMedium, VolumeSource};

/// How often a limited emptyDir is measured.
pub const INTERVAL_MS: u64 = 10_000;

/// Directory entries looked at per volume and measurement, at most: a volume with more
/// counts as over any limit it could have (each entry costs a block at least).
const MAX_ENTRIES: usize = 1_000_000;

/// The pod's limited on-disk emptyDirs and when to measure them next.
#[derive(Debug)]
pub struct SizeLimits {
    volumes: Vec<(String, PathBuf, u64)>,
    next_ms: Option<u64>,
}

impl SizeLimits {
    pub fn new(pod: &Pod, dirs: &PodDirs) -> SizeLimits {
        let volumes: Vec<(String, PathBuf, u64)> = pod
            .spec
            .volumes
            .iter()
            .filter_map(|v| match &v.source {
                VolumeSource::EmptyDir {
                    medium: StorageMedium::Default,
                    size_limit: Some(limit),
                } => Some((v.name.to_string(), dirs.disk_volume(&v.name), *limit)),
                _ => None,
            })
            .collect();
        let next_ms = (!volumes.is_empty()).then_some(INTERVAL_MS);
        SizeLimits { volumes, next_ms }
    }

    /// When to measure next (monotonic ms), `None` for never.
    pub fn next_check(&self) -> Option<u64> {
        self.next_ms
    }

    /// Measure when due: the eviction message of the first volume over its limit (the
    /// kubelet's words); no more measurements after one.
    pub fn check(&mut self, now_ms: u64) -> Option<String> {
        let due = self.next_ms.is_some_and(|t| t <= now_ms);
        if !due {
            return None;
        }
        self.next_ms = Some(now_ms + INTERVAL_MS);
        for (name, path, limit) in &self.volumes {
            if usage(path) > *limit {
                self.next_ms = None;
                return Some(format!(
                    "Usage of EmptyDir volume {name:?} exceeds the limit {:?}.",
                    format_bytes(*limit)
                ));
            }
        }
        None
    }
}

/// Bytes allocated below `dir` (blocks, as du counts them), on its own file system;
/// symbolic links are not followed. `u64::MAX` past [`MAX_ENTRIES`] entries.
pub fn usage(dir: &Path) -> u64 {
    let Ok(top) = std::fs::symlink_metadata(dir) else {
        return 0;
    };
    let mut total = top.blocks() * 512;
    let mut stack = vec![dir.to_path_buf()];
    let mut seen = 0usize;
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            seen += 1;
            if seen > MAX_ENTRIES {
                return u64::MAX;
            }
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            total = total.saturating_add(meta.blocks() * 512);
            if meta.is_dir() && meta.dev() == top.dev() {
                stack.push(entry.path());
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_counts_allocated_blocks_below_a_directory() {
        let dir = std::env::temp_dir().join(format!("pealet-usage-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        let empty = usage(&dir);
        std::fs::write(dir.join("a/b/f"), vec![1u8; 3 << 20]).unwrap();
        // A sparse file costs nothing.
        let sparse = std::fs::File::create(dir.join("sparse")).unwrap();
        sparse.set_len(1 << 30).unwrap();
        std::os::unix::fs::symlink("/usr", dir.join("link")).unwrap();
        let used = usage(&dir) - empty;
        assert!((3 << 20..4 << 20).contains(&used), "{used}");
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(usage(&dir), 0);
    }
}
