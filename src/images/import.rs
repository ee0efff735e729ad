//! Offline import: OCI layouts and archives, `docker save` archives, plain root
//! filesystems (directory or tar), each into the store with every digest verified.
//!
//! Layers stream from the source through [`layer::unpack`] (gzip, zstd or plain, both
//! hashers, the safe extractor) into a temporary directory; only when the blob
//! digest and the diffid match is the layer renamed into place. A layer already in the
//! store is not read again. The whole import holds the store lock.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read};
use std::path::{Path, PathBuf};

use super::digest::Digest;
use super::extract;
use super::layer::{self, GZIP_MAGIC, LayerError};
use super::oci::{self, OciError};
use super::reference::{Reference, ReferenceError};
use super::source::{self, Source, SourceError};
use super::store::{ImageConfig, ImageRecord, Lock, Store, StoreError, now};
use super::tar_write;

mod plans;
use plans::{Plan, docker_plans, oci_plans};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Oci(#[from] OciError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error("cannot read {path}: {source}")]
    Stat { path: PathBuf, source: io::Error },
    #[error("--name needs an archive with exactly one image; {path} holds {count}")]
    NameWithSeveralImages { path: PathBuf, count: usize },
    #[error("{path}: {which} has no name; give one with --name")]
    NoName { path: PathBuf, which: String },
    #[error("{path}: holds no image")]
    NoImages { path: PathBuf },
    #[error("{path}: no image for linux/{arch} in the index")]
    NoPlatform { path: PathBuf, arch: &'static str },
    #[error("{what}: {layers} layers but {diff_ids} diffids in the config")]
    LayerCount {
        what: String,
        layers: usize,
        diff_ids: usize,
    },
    #[error(transparent)]
    Layer(#[from] LayerError),
    #[error("layer {layer}: cannot create its directory: {source}")]
    ReadLayer { layer: String, source: io::Error },
    #[error(
        "{what} {name}: digest mismatch: expected {expected}, got {actual}; the data was deleted"
    )]
    DigestMismatch {
        what: &'static str,
        name: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("cannot pack the directory {path}: {source}")]
    Pack { path: PathBuf, source: io::Error },
}

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The name for an image that has none, or that replaces the archive's names.
    pub name: Option<String>,
    pub extract: extract::Options,
}

/// One image that was imported.
#[derive(Debug, Clone)]
pub struct Imported {
    pub references: Vec<String>,
    pub manifest: Digest,
    /// Each layer's diffid, and whether it was unpacked now (false: already stored).
    pub layers: Vec<(Digest, bool)>,
}

/// Imports every image found at `path`.
pub fn import(
    store: &Store,
    path: &Path,
    opts: &ImportOptions,
) -> Result<Vec<Imported>, ImportError> {
    let lock = store.lock()?;
    let stat = |source| ImportError::Stat {
        path: path.to_path_buf(),
        source,
    };
    let md = fs::metadata(path).map_err(stat)?;
    let mut ctx = Ctx {
        store,
        lock: &lock,
        opts,
        sizes: HashMap::new(),
    };
    if md.is_dir() {
        let src = Source::Dir(path.to_path_buf());
        if src.exists("oci-layout") {
            return ctx.import_plans(&src, oci_plans(&src)?);
        }
        if src.exists("manifest.json") {
            return ctx.import_plans(&src, docker_plans(&src)?);
        }
        return ctx.import_rootfs_dir(path).map(|i| vec![i]);
    }
    let mut head = [0u8; 4];
    let n = File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .map_err(stat)?;
    if head[..n].starts_with(GZIP_MAGIC) {
        if !source::gzip_holds_image(path)? {
            return ctx.import_rootfs_tar(path).map(|i| vec![i]);
        }
        // A compressed image archive (`docker save | gzip`): archives are read with
        // seeks, so it is decompressed into the store's work directory first.
        let plain = store.tmp_path("archive.tar");
        let result = source::gunzip(path, &plain)
            .map_err(ImportError::from)
            .and_then(|()| ctx.import_archive(&plain));
        let _ = fs::remove_file(&plain);
        return result;
    }
    ctx.import_archive(path)
}

struct Ctx<'a> {
    store: &'a Store,
    lock: &'a Lock,
    opts: &'a ImportOptions,
    /// Sizes of layers met in this import.
    sizes: HashMap<Digest, u64>,
}

impl Ctx<'_> {
    /// An uncompressed tar: an OCI archive, a `docker save` archive, or a root filesystem.
    fn import_archive(&mut self, path: &Path) -> Result<Vec<Imported>, ImportError> {
        let src = Source::index_tar(path)?;
        if src.exists("oci-layout") && src.exists("index.json") {
            return self.import_plans(&src, oci_plans(&src)?);
        }
        if src.exists("manifest.json") {
            return self.import_plans(&src, docker_plans(&src)?);
        }
        self.import_rootfs_tar(path).map(|i| vec![i])
    }

    fn import_plans(
        &mut self,
        src: &Source,
        mut plans: Vec<Plan>,
    ) -> Result<Vec<Imported>, ImportError> {
        let path = src.path().to_path_buf();
        if plans.is_empty() {
            return Err(ImportError::NoImages { path });
        }
        if let Some(name) = &self.opts.name {
            if plans.len() != 1 {
                let count = plans.len();
                return Err(ImportError::NameWithSeveralImages { path, count });
            }
            plans[0].names = vec![name.clone()];
        }
        // Every name is checked before anything is unpacked.
        let mut refs = Vec::new();
        for plan in &plans {
            if plan.names.is_empty() {
                let which = plan.what.clone();
                return Err(ImportError::NoName { path, which });
            }
            let r: Result<Vec<String>, _> = plan
                .names
                .iter()
                .map(|n| Reference::parse(n).map(|r| r.to_string()))
                .collect();
            refs.push(r?);
        }
        let mut done = Vec::new();
        for (plan, refs) in plans.into_iter().zip(refs) {
            let mut layers = Vec::new();
            for l in &plan.layers {
                if self.store.has_layer(&l.diff_id) {
                    self.strip_stored(&l.diff_id)?;
                    let size = self.known_size(&l.diff_id)?;
                    layers.push((l.diff_id, size, false));
                    continue;
                }
                let reader = src.open(&l.source)?;
                let unpacked = self.unpack(reader, &l.source, l.blob.as_ref(), Some(&l.diff_id))?;
                layers.push(unpacked);
            }
            done.push(self.record(
                refs,
                plan.manifest,
                &plan.config,
                plan.image_config,
                &layers,
            )?);
        }
        Ok(done)
    }

    fn known_size(&self, diff_id: &Digest) -> Result<u64, ImportError> {
        match self.sizes.get(diff_id) {
            Some(s) => Ok(*s),
            None => Ok(self.store.layer_size(diff_id)?.unwrap_or(0)),
        }
    }

    /// Streams one layer into a temporary directory and moves it into place once both
    /// digests are known to be right. Returns the diffid and the uncompressed size.
    fn unpack(
        &mut self,
        src: Box<dyn Read + '_>,
        name: &str,
        blob: Option<&Digest>,
        diff_id: Option<&Digest>,
    ) -> Result<(Digest, u64, bool), ImportError> {
        let tmp = self.store.tmp_path("layer");
        fs::create_dir(&tmp).map_err(|source| ImportError::ReadLayer {
            layer: name.to_string(),
            source,
        })?;
        let result = layer::unpack(src, name, blob, diff_id, &tmp, &self.opts.extract);
        let (actual, size) = match result {
            Ok(r) => r,
            Err(e) => {
                let _ = fs::remove_dir_all(&tmp);
                return Err(e.into());
            }
        };
        let new = self.store.commit_layer(&tmp, &actual)?;
        if !new {
            self.strip_stored(&actual)?;
        }
        self.sizes.insert(actual, size);
        Ok((actual, size, new))
    }

    /// `--strip-setuid` for a layer the store already had: its files lose their setuid
    /// and setgid bits too (in every image that shares the layer), so the option means
    /// the same whether the layer was new or not.
    fn strip_stored(&self, diff_id: &Digest) -> Result<(), ImportError> {
        if !self.opts.extract.strip_setuid {
            return Ok(());
        }
        let dir = self.store.layer_dir(diff_id);
        extract::strip_setuid_tree(&dir).map_err(|source| ImportError::ReadLayer {
            layer: dir.display().to_string(),
            source,
        })?;
        Ok(())
    }

    /// Writes the config and manifest blobs and the index entries.
    fn record(
        &self,
        refs: Vec<String>,
        manifest: Option<Vec<u8>>,
        config: &[u8],
        image_config: ImageConfig,
        layers: &[(Digest, u64, bool)],
    ) -> Result<Imported, ImportError> {
        let config_digest = self.store.write_blob(config, None)?;
        let sizes: Vec<(Digest, u64)> = layers.iter().map(|(d, s, _)| (*d, *s)).collect();
        let manifest = manifest
            .unwrap_or_else(|| oci::synth_manifest(&config_digest, config.len() as u64, &sizes));
        let manifest_digest = self.store.write_blob(&manifest, None)?;
        let time = now();
        for reference in &refs {
            let record = ImageRecord {
                reference: reference.clone(),
                digest: manifest_digest,
                manifest: manifest_digest,
                config_digest,
                config: image_config.clone(),
                layers: sizes.clone(),
                imported: time,
                last_used: 0,
            };
            self.store.put(self.lock, record)?;
        }
        Ok(Imported {
            references: refs,
            manifest: manifest_digest,
            layers: layers.iter().map(|(d, _, new)| (*d, *new)).collect(),
        })
    }

    /// A plain root filesystem as a tar (gzip or not): one layer, an empty config.
    fn import_rootfs_tar(&mut self, path: &Path) -> Result<Imported, ImportError> {
        let reference = self.rootfs_name(path)?;
        let file = File::open(path).map_err(|source| ImportError::Stat {
            path: path.to_path_buf(),
            source,
        })?;
        let label = path.display().to_string();
        let layer = self.unpack(Box::new(BufReader::new(file)), &label, None, None)?;
        let config = oci::rootfs_config(&layer.0);
        self.record(
            vec![reference],
            None,
            &config,
            ImageConfig::default(),
            &[layer],
        )
    }

    /// A root filesystem directory is packed into a temporary tar first, so that it gets
    /// a diffid and goes through the same checks as any layer.
    fn import_rootfs_dir(&mut self, dir: &Path) -> Result<Imported, ImportError> {
        self.rootfs_name(dir)?;
        let tar = self.store.tmp_path("rootfs.tar");
        let pack_err = |source| ImportError::Pack {
            path: dir.to_path_buf(),
            source,
        };
        let packed = File::create(&tar).and_then(|f| {
            let mut w = tar_write::Writer::new(BufWriter::new(f));
            tar_write::pack_dir(dir, &mut w)?;
            w.finish().map(drop)
        });
        let result = packed
            .map_err(pack_err)
            .and_then(|()| self.import_rootfs_tar(&tar));
        let _ = fs::remove_file(&tar);
        result
    }

    fn rootfs_name(&self, path: &Path) -> Result<String, ImportError> {
        let name = self.opts.name.as_ref().ok_or_else(|| ImportError::NoName {
            path: path.to_path_buf(),
            which: "a root filesystem".to_string(),
        })?;
        Ok(Reference::parse(name)?.to_string())
    }
}
