//! Image garbage collection as the kubelet does it: when disk use passes a high mark,
//! remove unused images, least recently used first, until it is under a low mark;
//! `prune` removes every unused image. Also sweeps what crashes leave behind.
//!
//! "Used" is the caller's knowledge: it passes the references (or digests) its pods
//! use. Removal goes through `Store::remove` (index first, then files), so a crash
//! during GC leaves unreferenced files, which a later sweep deletes, never a broken image.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::images::digest::Digest;
use crate::images::reference::Reference;
use crate::images::store::{ImageRecord, Store, StoreError, remove_any};

#[derive(Debug, thiserror::Error)]
pub enum GcError {
    #[error("cannot measure the file system of {path}: {source}")]
    Statvfs {
        path: PathBuf,
        source: rustix::io::Errno,
    },
    #[error("cannot read {path}: {source}")]
    Walk { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Disk use thresholds in percent of the file system holding the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcPolicy {
    pub high_percent: u8,
    pub low_percent: u8,
}

impl Default for GcPolicy {
    /// The kubelet's defaults.
    fn default() -> GcPolicy {
        GcPolicy {
            high_percent: 85,
            low_percent: 80,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskUsage {
    pub total: u64,
    pub available: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    /// References removed, in order.
    pub removed: Vec<String>,
    /// Uncompressed bytes of the layers deleted.
    pub bytes_freed: u64,
    /// Layers, blobs and work files that no image referenced.
    pub leftovers_removed: usize,
}

/// Total and available bytes of the file system holding `path` (statvfs).
pub fn disk_usage(path: &Path) -> Result<DiskUsage, GcError> {
    let s = rustix::fs::statvfs(path).map_err(|source| GcError::Statvfs {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(DiskUsage {
        total: s.f_blocks.saturating_mul(s.f_frsize),
        available: s.f_bavail.saturating_mul(s.f_frsize),
    })
}

/// Runs GC when the store's file system is used above `policy.high_percent`.
pub fn collect(store: &Store, in_use: &[String], policy: &GcPolicy) -> Result<GcReport, GcError> {
    let usage = disk_usage(store.root())?;
    collect_with(store, in_use, policy, usage)
}

/// [`collect`] with the disk usage given (measured by the caller, or made up in tests).
pub fn collect_with(
    store: &Store,
    in_use: &[String],
    policy: &GcPolicy,
    usage: DiskUsage,
) -> Result<GcReport, GcError> {
    let used = usage.total.saturating_sub(usage.available);
    let mut report = GcReport::default();
    if u128::from(used) * 100 < u128::from(usage.total) * u128::from(policy.high_percent) {
        return Ok(report);
    }
    let low = (u128::from(usage.total) * u128::from(policy.low_percent) / 100) as u64;
    let to_free = used.saturating_sub(low);
    log::info!(
        "image gc: disk {used} of {} bytes used; freeing {to_free}",
        usage.total
    );
    for rec in unused_lru_first(store, in_use)? {
        if report.bytes_freed >= to_free {
            break;
        }
        remove(store, &rec, &mut report)?;
    }
    sweep(store, &mut report, false)?;
    Ok(report)
}

/// Removes every unused image, then whatever no image references.
pub fn prune(store: &Store, in_use: &[String]) -> Result<GcReport, GcError> {
    let mut report = GcReport::default();
    for rec in unused_lru_first(store, in_use)? {
        remove(store, &rec, &mut report)?;
    }
    sweep(store, &mut report, true)?;
    Ok(report)
}

fn remove(store: &Store, rec: &ImageRecord, report: &mut GcReport) -> Result<(), GcError> {
    match store.remove(&rec.reference) {
        Ok(removed) => {
            report.bytes_freed += removed.bytes_freed;
            report.removed.push(rec.reference.clone());
            Ok(())
        }
        // Removed meanwhile by someone else.
        Err(StoreError::NotFound(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Unused images, least recently used first (never used: by import time).
fn unused_lru_first(store: &Store, in_use: &[String]) -> Result<Vec<ImageRecord>, GcError> {
    let mut refs = HashSet::new();
    let mut digests = HashSet::new();
    for u in in_use {
        if let Ok(d) = Digest::parse(u) {
            digests.insert(d);
        } else if let Ok(r) = Reference::parse(u) {
            if let Some(d) = r.digest {
                digests.insert(d);
            }
            refs.insert(r.to_string());
        }
    }
    let mut images: Vec<ImageRecord> = store
        .list()?
        .into_iter()
        .filter(|r| {
            !refs.contains(&r.reference)
                && !digests.contains(&r.digest)
                && !digests.contains(&r.manifest)
        })
        .collect();
    images.sort_by_key(|r| {
        (
            if r.last_used == 0 {
                r.imported
            } else {
                r.last_used
            },
            r.reference.clone(),
        )
    });
    Ok(images)
}

/// Deletes layers and blobs no image references, work files and, with `downloads`,
/// partial downloads; only when no pull runs, as a pull's files are not referenced yet.
fn sweep(store: &Store, report: &mut GcReport, downloads: bool) -> Result<(), GcError> {
    let _lock = store.lock()?;
    let Some(_no_pull) = store.no_pull_running()? else {
        return Ok(());
    };
    let images = store.list()?;
    let layers: HashSet<String> = images
        .iter()
        .flat_map(|i| i.layers.iter().map(|(d, _)| d.hex()))
        .collect();
    let blobs: HashSet<String> = images
        .iter()
        .flat_map(|i| [i.manifest.hex(), i.config_digest.hex()])
        .collect();
    let root = store.root();
    let mut dirs: Vec<(PathBuf, Option<&HashSet<String>>)> = vec![
        (root.join("layers/sha256"), Some(&layers)),
        (root.join("blobs/sha256"), Some(&blobs)),
        (root.join("images/tmp"), None),
    ];
    if downloads {
        dirs.push((root.join("images/partial"), None));
    }
    for (dir, keep) in dirs {
        let entries = fs::read_dir(&dir).map_err(|source| GcError::Walk {
            path: dir.clone(),
            source,
        })?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if keep.is_some_and(|k| k.contains(&name)) {
                continue;
            }
            remove_any(&entry.path())?;
            report.leftovers_removed += 1;
        }
    }
    Ok(())
}

/// The bytes of the regular files under `dir` (symlinks not followed).
pub fn dir_size(dir: &Path) -> io::Result<u64> {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d)? {
            let entry = entry?;
            let md = entry.metadata()?;
            if md.is_dir() {
                stack.push(entry.path());
            } else if md.is_file() {
                total += md.len();
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
#[path = "gc_tests.rs"]
mod tests;
