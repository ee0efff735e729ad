//! One pull: resolve the reference (mirrors first), pick the platform, check the disk,
//! download and unpack each missing layer, record the image. See [`pull`].
//!
//! Several pulls of one image (threads or processes) cause one download: each holds the
//! image's lock file (`images/pulls/<sha256 of the reference>`) and a pull that had to
//! wait returns what the one before it recorded. Pulls of different images run in
//! parallel; a layer two of them need is downloaded once (see `blob`).

use std::fs;
use std::io::{self, BufReader};
use std::path::Path;

use rustix::fs::FlockOperation;

use crate::images::digest::Digest;
use crate::images::extract;
use crate::images::layer::{self, LayerError};
use crate::images::oci;
use crate::images::reference::Reference;
use crate::images::store::{ImageRecord, Store, StoreError, flock_file, now};

use super::blob::{self, BlobReader, Partial};
use super::config::Registries;
use super::distribution::{MAX_MANIFEST, Session};
use super::gc;
use super::platform::Platform;

mod error;
mod resolve;
pub use error::{PullError, PullFailure};
use resolve::Resolved;

/// Bytes of layer blobs downloaded so far, of those this pull needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
}

#[derive(Debug, Clone)]
pub struct PullOptions {
    /// The platform to pull; `None`: this machine's ([`Platform::detect`]).
    pub platform: Option<Platform>,
    /// Free bytes that must remain on the store's file system after the pull.
    pub reserve_bytes: u64,
    /// Interrupted blob transfers resumed within this pull.
    pub retries: u32,
    pub extract: extract::Options,
}

impl Default for PullOptions {
    fn default() -> PullOptions {
        PullOptions {
            platform: None,
            reserve_bytes: 256 * 1024 * 1024,
            retries: 3,
            extract: extract::Options::default(),
        }
    }
}

/// A pulled image.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// Normalised reference, as stored.
    pub reference: String,
    /// What the reference resolved to (index or manifest): the pod status's `imageID`
    /// is `<repository>@<digest>`.
    pub digest: Digest,
    pub manifest: Digest,
    pub config: Digest,
    pub layers: usize,
    /// Layers downloaded by this pull, and their compressed bytes.
    pub layers_fetched: usize,
    pub bytes_fetched: u64,
    /// True when another pull of the same image ran meanwhile and this one reused it.
    pub shared: bool,
}

/// Pulls `reference` into `store`. `progress` is called after every buffer (64 KiB):
/// rate-limit it on the caller's side.
pub fn pull(
    store: &Store,
    registries: &Registries,
    reference: &str,
    opts: &PullOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Pulled, PullError> {
    let r = Reference::parse(reference)?;
    let name = r.to_string();
    let lock_path = store
        .root()
        .join("images/pulls")
        .join(Digest::of(name.as_bytes()).hex());
    let asked = now();
    let _image_lock = match flock_file(&lock_path, FlockOperation::NonBlockingLockExclusive)? {
        Some(l) => l,
        None => {
            log::info!("{name}: another pull of it is running; waiting for it");
            let l =
                flock_file(&lock_path, FlockOperation::LockExclusive)?.expect("a blocking flock");
            let done = store.list()?.into_iter().find(|i| i.reference == name);
            if let Some(rec) = done.filter(|i| i.imported >= asked) {
                return Ok(shared(rec));
            }
            l
        }
    };
    let _pulling = store.pulling()?;
    let platform = opts.platform.clone().unwrap_or_else(Platform::detect);
    let Resolved {
        mut session,
        top,
        manifest,
        manifest_digest,
    } = resolve::resolve(registries, &r, &platform)?;
    let what = format!("manifest {manifest_digest}");
    let doc = oci::parse(&manifest, &what).map_err(|source| PullError::Document {
        what: what.clone(),
        source,
    })?;
    let (config_desc, layers) =
        oci::manifest(&doc, &what).map_err(|source| PullError::Document {
            what: what.clone(),
            source,
        })?;
    let config = fetch_config(&mut session, store, &config_desc.digest)?;
    let config_what = format!("config {}", config_desc.digest);
    let (image_config, diff_ids) = oci::parse(&config, &config_what)
        .and_then(|n| oci::config(&n, &config_what))
        .map_err(|source| PullError::Document {
            what: config_what,
            source,
        })?;
    if layers.len() != diff_ids.len() {
        return Err(PullError::LayerCount {
            what,
            layers: layers.len(),
            diff_ids: diff_ids.len(),
        });
    }
    let missing: Vec<usize> = (0..layers.len())
        .filter(|&i| !store.has_layer(&diff_ids[i]))
        .collect();
    check_space(
        store,
        missing.iter().map(|&i| &layers[i]),
        opts.reserve_bytes,
    )?;
    let total: u64 = missing.iter().map(|&i| layers[i].size).sum();
    let mut base = 0;
    let mut fetched = (0, 0);
    for &i in &missing {
        let (desc, diff_id) = (&layers[i], diff_ids[i]);
        let done = || store.has_layer(&diff_id);
        let mut report = |n| {
            progress(Progress {
                done: base + n,
                total,
            })
        };
        let started = std::time::Instant::now();
        if let Some(partial) = blob::open(store, &desc.digest, desc.size, &done)? {
            let path = partial.path.clone();
            let mut reader = partial.reader(
                &mut session,
                desc.digest,
                desc.size,
                opts.retries,
                &mut report,
            );
            unpack(
                store,
                &mut reader,
                &path,
                &desc.digest,
                &diff_id,
                &opts.extract,
            )?;
            log::debug!(
                "layer {}: {} bytes downloaded and unpacked in {:?}",
                desc.digest,
                desc.size,
                started.elapsed()
            );
            fetched = (fetched.0 + 1, fetched.1 + desc.size);
        }
        base += desc.size;
        progress(Progress { done: base, total });
    }
    let lock = store.lock()?;
    let config_digest = store.write_blob(&config, Some(&config_desc.digest))?;
    store.write_blob(&manifest, Some(&manifest_digest))?;
    let mut sizes = Vec::new();
    for d in &diff_ids {
        sizes.push((
            *d,
            store
                .layer_size(d)?
                .or_else(|| fetched_size(store, d))
                .unwrap_or(0),
        ));
    }
    let previous = store.list()?.into_iter().find(|i| i.reference == name);
    let record = ImageRecord {
        reference: name.clone(),
        digest: top,
        manifest: manifest_digest,
        config_digest,
        config: image_config,
        layers: sizes,
        imported: now(),
        last_used: previous.map_or(0, |p| p.last_used),
    };
    store.put(&lock, record)?;
    Ok(Pulled {
        reference: name,
        digest: top,
        manifest: manifest_digest,
        config: config_digest,
        layers: layers.len(),
        layers_fetched: fetched.0,
        bytes_fetched: fetched.1,
        shared: false,
    })
}

fn shared(rec: ImageRecord) -> Pulled {
    Pulled {
        layers: rec.layers.len(),
        reference: rec.reference,
        digest: rec.digest,
        manifest: rec.manifest,
        config: rec.config_digest,
        layers_fetched: 0,
        bytes_fetched: 0,
        shared: true,
    }
}

/// The size of an unpacked layer that no image records yet (left by an earlier pull).
fn fetched_size(store: &Store, diff_id: &Digest) -> Option<u64> {
    gc::dir_size(&store.layer_dir(diff_id)).ok()
}

/// The config blob, from the store when it is there.
fn fetch_config(
    session: &mut Session,
    store: &Store,
    digest: &Digest,
) -> Result<Vec<u8>, PullError> {
    if let Ok(bytes) = store.read_blob(digest) {
        if Digest::of(&bytes) == *digest {
            return Ok(bytes);
        }
    }
    let what = format!("config {digest}");
    let resp = session.blob(digest, 0)?;
    let bytes = resp
        .read_small(MAX_MANIFEST)
        .map_err(|e| session.read_err(&what, e))?;
    let actual = Digest::of(&bytes);
    if actual != *digest {
        return Err(PullError::DigestMismatch {
            what,
            expected: *digest,
            actual,
        });
    }
    Ok(bytes)
}

/// Unpacks the layer as it downloads into `tmp/`, then moves it into place. A broken
/// download keeps its partial file for the next pull; any other failure deletes it, and
/// says "digest mismatch" when the blob was wrong (the decompressor may notice first).
fn unpack(
    store: &Store,
    reader: &mut BlobReader,
    partial: &Path,
    digest: &Digest,
    diff_id: &Digest,
    opts: &extract::Options,
) -> Result<(), PullError> {
    let tmp = store.tmp_path("layer");
    fs::create_dir(&tmp).map_err(|source| StoreError::Write {
        path: tmp.clone(),
        source,
    })?;
    let name = digest.to_string();
    let buffered = BufReader::with_capacity(64 * 1024, &mut *reader);
    if let Err(e) = layer::unpack(buffered, &name, Some(digest), Some(diff_id), &tmp, opts) {
        let _ = fs::remove_dir_all(&tmp);
        if let Some(failure) = reader.take_failure() {
            return Err(failure.into());
        }
        if !matches!(e, LayerError::DigestMismatch { .. }) {
            // Finish the download to tell a bad blob from a bad layer.
            let _ = io::copy(reader, &mut io::sink());
            if let Some(failure) = reader.take_failure() {
                return Err(failure.into());
            }
            blob::verify_file(partial, digest)?;
        }
        Partial::remove(partial);
        return Err(e.into());
    }
    // Deleted before the commit's syncfs, so its pages are never written back.
    Partial::remove(partial);
    let _lock = store.lock()?;
    store.commit_layer(&tmp, diff_id)?;
    Ok(())
}

/// Refuses a pull that would leave less than `reserve` bytes free. The unpacked size is
/// not known before unpacking: compressed layers are counted four times (the download
/// plus about three times its size unpacked), uncompressed ones twice.
fn check_space<'a>(
    store: &Store,
    layers: impl Iterator<Item = &'a oci::Descriptor>,
    reserve: u64,
) -> Result<(), PullError> {
    let needed: u64 = layers
        .map(|l| {
            let plain = l.media_type.ends_with(".tar") || l.media_type.ends_with("rootfs.diff.tar");
            l.size.saturating_mul(if plain { 2 } else { 4 })
        })
        .sum();
    let free = gc::disk_usage(store.root())?.available;
    if free < needed.saturating_add(reserve) {
        let mb = |b: u64| b.div_ceil(1_000_000);
        return Err(PullError::NoSpace {
            needed: mb(needed),
            free: mb(free),
            reserve: mb(reserve),
        });
    }
    Ok(())
}
