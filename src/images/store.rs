//! The image store on disk: verified blobs, layers unpacked once, and the image index.
//!
//! ```text
//! <root>/blobs/sha256/<hex>          manifests and configs, content-addressed, verified
//! <root>/layers/sha256/<diffid>/     one unpacked layer, shared by every image using it
//! <root>/images/index                the index: reference -> manifest, config, layers
//! <root>/images/lock                 flock: one writer at a time (CLI and agent)
//! <root>/images/tmp/                 work in progress; emptied when no pull runs
//! <root>/images/partial/<hex>        blob downloads, kept across restarts to resume
//! <root>/images/pulling.lock         flock, shared by every running pull
//! ```
//!
//! Every write is atomic: files are written to `tmp/`, synced and renamed; layers are
//! unpacked into `tmp/`, synced and renamed, so a crash never leaves a half file or a half
//! layer where it could be used. Layer tarballs are not kept once unpacked (SD cards
//! are small). Registry pulls (`registry`) and garbage collection build on it.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::digest::Digest;
use super::index::Index;
pub use super::index::{ImageConfig, ImageRecord};
use super::reference::{Reference, ReferenceError};

mod files;
mod locks;
use files::sync_fs;
pub use files::{now, remove_any, sync_dir};
pub use locks::{Lock, flock_file};

/// Largest index accepted.
const MAX_INDEX: u64 = 16 * 1024 * 1024;
/// `last_used` is only rewritten when older than this (seconds): SD cards wear out.
const LAST_USED_GRANULARITY: u64 = 60;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the store directory {path}: {source}")]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("cannot lock the image store {path}: {source}")]
    Lock {
        path: PathBuf,
        source: rustix::io::Errno,
    },
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot remove {path}: {source}")]
    Remove { path: PathBuf, source: io::Error },
    #[error("image index {path} is corrupt or of an unknown version")]
    CorruptIndex { path: PathBuf },
    #[error("blob digest mismatch: expected {expected}, got {actual}; nothing was stored")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error("no image {0}")]
    NotFound(String),
    #[error("image {image}: layer {layer} is missing from the store")]
    LayerMissing { image: String, layer: Digest },
}

/// An image ready to run: its config and its unpacked layers, base layer first (reverse
/// the list for overlayfs `lowerdir`, which names the top layer first).
#[derive(Debug, Clone)]
pub struct Resolved {
    pub reference: String,
    /// What the reference resolved to when recorded (index or manifest).
    pub digest: Digest,
    pub manifest: Digest,
    pub config: ImageConfig,
    pub layers: Vec<PathBuf>,
}

/// What `remove` deleted.
#[derive(Debug, Default)]
pub struct Removed {
    pub layers_removed: usize,
    pub layers_kept: usize,
    /// Uncompressed size of the layers deleted.
    pub bytes_freed: u64,
}

pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the store under `root` and clears leftovers of
    /// interrupted work.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        let store = Store {
            root: root.to_path_buf(),
        };
        for dir in [
            "blobs/sha256",
            "layers/sha256",
            "images/tmp",
            "images/partial",
            "images/pulls",
        ] {
            let path = root.join(dir);
            fs::create_dir_all(&path).map_err(|source| StoreError::CreateDir { path, source })?;
        }
        let _lock = store.lock()?;
        // Pulls unpack into tmp/ without the store lock: leave it alone while one runs.
        if store.no_pull_running()?.is_none() {
            return Ok(store);
        }
        let tmp = store.tmp_root();
        let entries = fs::read_dir(&tmp).map_err(|source| StoreError::Read {
            path: tmp.clone(),
            source,
        })?;
        for entry in entries.flatten() {
            remove_any(&entry.path())?;
        }
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn tmp_root(&self) -> PathBuf {
        self.root.join("images/tmp")
    }

    /// A fresh path under `tmp/` (not created).
    pub fn tmp_path(&self, what: &str) -> PathBuf {
        // Pointer-width: every target with atomics has it (not every one has 64-bit
        // atomics); with the process id, unique for far longer than a tmp path lives.
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        self.tmp_root()
            .join(format!("{what}-{}-{n}", std::process::id()))
    }

    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(d.hex())
    }

    pub fn layer_dir(&self, diffid: &Digest) -> PathBuf {
        self.root.join("layers/sha256").join(diffid.hex())
    }

    pub fn has_layer(&self, diffid: &Digest) -> bool {
        self.layer_dir(diffid).is_dir()
    }

    /// Stores `bytes` as a blob after checking them against `expected`.
    pub fn write_blob(
        &self,
        bytes: &[u8],
        expected: Option<&Digest>,
    ) -> Result<Digest, StoreError> {
        let actual = Digest::of(bytes);
        if let Some(e) = expected {
            if *e != actual {
                return Err(StoreError::DigestMismatch {
                    expected: *e,
                    actual,
                });
            }
        }
        let path = self.blob_path(&actual);
        if !path.exists() {
            self.write_atomic(&path, bytes)?;
        }
        Ok(actual)
    }

    pub fn read_blob(&self, d: &Digest) -> Result<Vec<u8>, StoreError> {
        let path = self.blob_path(d);
        fs::read(&path).map_err(|source| StoreError::Read { path, source })
    }

    /// Moves an unpacked layer from `tmp` into place. Returns false when the layer was
    /// already there (then `tmp` is removed).
    pub fn commit_layer(&self, tmp: &Path, diffid: &Digest) -> Result<bool, StoreError> {
        let dest = self.layer_dir(diffid);
        if dest.exists() {
            remove_any(tmp)?;
            return Ok(false);
        }
        // Data before name: the layer's files reach the disk before it becomes visible.
        sync_fs(tmp)?;
        fs::rename(tmp, &dest).map_err(|source| StoreError::Write {
            path: dest.clone(),
            source,
        })?;
        sync_dir(dest.parent().expect("layers/sha256"))?;
        Ok(true)
    }

    /// Every image, sorted by reference.
    pub fn list(&self) -> Result<Vec<ImageRecord>, StoreError> {
        let mut images = self.load()?.images;
        images.sort_by(|a, b| a.reference.cmp(&b.reference));
        Ok(images)
    }

    /// Adds or replaces the image with the same reference. The caller holds the lock.
    pub fn put(&self, _lock: &Lock, record: ImageRecord) -> Result<(), StoreError> {
        let mut index = self.load()?;
        index.images.retain(|r| r.reference != record.reference);
        index.images.push(record);
        self.save(&index)
    }

    /// The size recorded for a layer by any image that has it, if one does.
    pub fn layer_size(&self, diffid: &Digest) -> Result<Option<u64>, StoreError> {
        Ok(self
            .load()?
            .images
            .iter()
            .flat_map(|r| r.layers.iter())
            .find(|(d, _)| d == diffid)
            .map(|(_, s)| *s))
    }

    /// The image's unpacked layers and config, for a container about to start; records
    /// the time of use.
    pub fn resolve(&self, reference: &str) -> Result<Resolved, StoreError> {
        let _lock = self.lock()?;
        let mut index = self.load()?;
        let i = find(&index, reference)?;
        let now = now();
        let record = &mut index.images[i];
        if now.saturating_sub(record.last_used) >= LAST_USED_GRANULARITY {
            record.last_used = now;
        }
        let record = record.clone();
        let mut layers = Vec::new();
        for (diffid, _) in &record.layers {
            let dir = self.layer_dir(diffid);
            if !dir.is_dir() {
                return Err(StoreError::LayerMissing {
                    image: record.reference.clone(),
                    layer: *diffid,
                });
            }
            layers.push(dir);
        }
        if record.last_used == now {
            self.save(&index)?;
        }
        Ok(Resolved {
            reference: record.reference,
            digest: record.digest,
            manifest: record.manifest,
            config: record.config,
            layers,
        })
    }

    /// Removes an image, then the layers and blobs no other image uses. The index is
    /// written first: a crash later leaves only unreferenced files, never a broken image.
    pub fn remove(&self, reference: &str) -> Result<Removed, StoreError> {
        let _lock = self.lock()?;
        let mut index = self.load()?;
        let i = find(&index, reference)?;
        let gone = index.images.remove(i);
        self.save(&index)?;
        let mut removed = Removed::default();
        let used = |d: &Digest| {
            index
                .images
                .iter()
                .any(|r| r.layers.iter().any(|(l, _)| l == d))
        };
        for (diffid, size) in &gone.layers {
            if used(diffid) {
                removed.layers_kept += 1;
                continue;
            }
            // Rename first, so no half-deleted layer is ever visible under its name.
            let dir = self.layer_dir(diffid);
            let doomed = self.tmp_path("rm");
            match fs::rename(&dir, &doomed) {
                Ok(()) => {
                    remove_any(&doomed)?;
                    removed.layers_removed += 1;
                    removed.bytes_freed += size;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => return Err(StoreError::Remove { path: dir, source }),
            }
        }
        for blob in [gone.manifest, gone.config_digest] {
            let in_use = index
                .images
                .iter()
                .any(|r| r.manifest == blob || r.config_digest == blob);
            if !in_use {
                let _ = fs::remove_file(self.blob_path(&blob));
            }
        }
        Ok(removed)
    }

    fn index_path(&self) -> PathBuf {
        self.root.join("images/index")
    }

    fn load(&self) -> Result<Index, StoreError> {
        let path = self.index_path();
        let bytes = match File::open(&path) {
            Ok(f) => {
                let mut buf = Vec::new();
                io::Read::read_to_end(&mut io::Read::take(f, MAX_INDEX), &mut buf).map_err(
                    |source| StoreError::Read {
                        path: path.clone(),
                        source,
                    },
                )?;
                buf
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Index::default()),
            Err(source) => return Err(StoreError::Read { path, source }),
        };
        Index::decode(&bytes).ok_or(StoreError::CorruptIndex { path })
    }

    fn save(&self, index: &Index) -> Result<(), StoreError> {
        self.write_atomic(&self.index_path(), &index.encode())
    }

    /// Write to a temporary file, fsync, rename over `path`, fsync the directory.
    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        let tmp = self.tmp_path("write");
        let err = |source| StoreError::Write {
            path: path.to_path_buf(),
            source,
        };
        let mut f = File::create(&tmp).map_err(err)?;
        f.write_all(bytes)
            .and_then(|()| f.sync_all())
            .map_err(err)?;
        fs::rename(&tmp, path).map_err(err)?;
        sync_dir(path.parent().expect("store files live in directories"))
    }
}

/// Finds an image by reference (normalised), else by digest (resolved or manifest): a
/// bare digest, or `repository@digest` within that repository.
fn find(index: &Index, reference: &str) -> Result<usize, StoreError> {
    let (wanted, digest, repo) = match Digest::parse(reference) {
        Ok(d) => (String::new(), Some(d), String::new()),
        Err(_) => {
            let r = Reference::parse(reference)?;
            (r.to_string(), r.digest, r.repository())
        }
    };
    let same_repo = |rec: &str| {
        rec.strip_prefix(&repo)
            .is_some_and(|t| t.starts_with([':', '@']))
    };
    let by_digest = |rec: &ImageRecord| {
        digest.is_some_and(|d| rec.manifest == d || rec.digest == d)
            && (repo.is_empty() || same_repo(&rec.reference))
    };
    let images = &index.images;
    images
        .iter()
        .position(|r| r.reference == wanted)
        .or_else(|| images.iter().position(by_digest))
        .ok_or_else(|| StoreError::NotFound(reference.to_string()))
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
