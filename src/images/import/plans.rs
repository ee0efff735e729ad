//! Finding the images in a source: OCI `index.json` (nested indexes resolved to this
//! machine's platform) and Docker's `manifest.json`, with their JSON blobs verified.
//!
//! Nothing is written here: a [`Plan`] says what to import; `import` does it.

use crate::images::digest::Digest;
use crate::images::oci;
use crate::images::source::Source;
use crate::images::store::ImageConfig;

use super::ImportError;

/// An image found in a source, not yet imported.
pub struct Plan {
    pub what: String,
    pub names: Vec<String>,
    pub manifest: Option<Vec<u8>>,
    pub config: Vec<u8>,
    pub image_config: ImageConfig,
    pub layers: Vec<PlanLayer>,
}

pub struct PlanLayer {
    pub source: String,
    pub blob: Option<Digest>,
    pub diff_id: Digest,
}

fn blob_name(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

fn read_verified(src: &Source, d: &Digest, what: &'static str) -> Result<Vec<u8>, ImportError> {
    let bytes = src.read_small(&blob_name(d))?;
    let actual = Digest::of(&bytes);
    if actual != *d {
        return Err(ImportError::DigestMismatch {
            what,
            name: blob_name(d),
            expected: *d,
            actual,
        });
    }
    Ok(bytes)
}

/// The images of an OCI layout: every entry of `index.json`, nested indexes resolved to
/// this machine's platform. An index whose entries only differ by platform is one image.
pub fn oci_plans(src: &Source) -> Result<Vec<Plan>, ImportError> {
    let index = oci::parse(&src.read_small("index.json")?, "index.json")?;
    let mut descs = oci::index_manifests(&index, "index.json")?;
    let mut names: Vec<&str> = descs.iter().filter_map(|d| d.name()).collect();
    names.dedup();
    if descs.len() > 1 && names.len() <= 1 && descs.iter().all(|d| d.platform.is_some()) {
        let name = descs.iter().find_map(|d| d.name().map(str::to_string));
        let mut chosen = pick_platform(src, &descs)?;
        if let (Some(n), true) = (name, chosen.name().is_none()) {
            chosen
                .annotations
                .push((oci::NAME_ANNOTATIONS[0].to_string(), n));
        }
        descs = vec![chosen];
    }
    let mut plans = Vec::new();
    for (i, outer) in descs.iter().enumerate() {
        let mut desc = outer.clone();
        if desc.is_index() {
            let what = blob_name(&desc.digest);
            let nested = oci::parse(&read_verified(src, &desc.digest, "index")?, &what)?;
            desc = pick_platform(src, &oci::index_manifests(&nested, &what)?)?;
        }
        let what = blob_name(&desc.digest);
        let manifest = read_verified(src, &desc.digest, "manifest")?;
        let (config_desc, layers) = oci::manifest(&oci::parse(&manifest, &what)?, &what)?;
        let config = read_verified(src, &config_desc.digest, "config")?;
        let (image_config, diff_ids) = oci::config(
            &oci::parse(&config, &blob_name(&config_desc.digest))?,
            &what,
        )?;
        if layers.len() != diff_ids.len() {
            return Err(ImportError::LayerCount {
                what,
                layers: layers.len(),
                diff_ids: diff_ids.len(),
            });
        }
        plans.push(Plan {
            what: format!("image {} of index.json", i + 1),
            names: outer.name().map(str::to_string).into_iter().collect(),
            manifest: Some(manifest),
            config,
            image_config,
            layers: layers
                .iter()
                .zip(diff_ids)
                .map(|(l, diff_id)| PlanLayer {
                    source: blob_name(&l.digest),
                    blob: Some(l.digest),
                    diff_id,
                })
                .collect(),
        });
    }
    Ok(plans)
}

fn pick_platform(src: &Source, descs: &[oci::Descriptor]) -> Result<oci::Descriptor, ImportError> {
    let arch = oci::host_architecture();
    descs
        .iter()
        .find(|d| match &d.platform {
            Some((os, a)) => os == "linux" && a == arch,
            None => descs.len() == 1,
        })
        .cloned()
        .ok_or_else(|| ImportError::NoPlatform {
            path: src.path().to_path_buf(),
            arch,
        })
}

/// The images of a `docker save` archive, named by their RepoTags.
pub fn docker_plans(src: &Source) -> Result<Vec<Plan>, ImportError> {
    let images = oci::docker_manifest(
        &oci::parse(&src.read_small("manifest.json")?, "manifest.json")?,
        "manifest.json",
    )?;
    let mut plans = Vec::new();
    for img in images {
        let config = src.read_small(&img.config)?;
        verify_named(&img.config, &config)?;
        let (image_config, diff_ids) =
            oci::config(&oci::parse(&config, &img.config)?, &img.config)?;
        if img.layers.len() != diff_ids.len() {
            return Err(ImportError::LayerCount {
                what: img.config,
                layers: img.layers.len(),
                diff_ids: diff_ids.len(),
            });
        }
        plans.push(Plan {
            what: format!("image {}", img.config),
            names: img.repo_tags,
            manifest: None,
            config,
            image_config,
            layers: img
                .layers
                .into_iter()
                .zip(diff_ids)
                .map(|(source, diff_id)| PlanLayer {
                    source,
                    blob: None,
                    diff_id,
                })
                .collect(),
        });
    }
    Ok(plans)
}

/// `docker save` names a config `<hex>.json` (or `blobs/sha256/<hex>`) after its digest:
/// when the name is a digest, the content must match it.
fn verify_named(name: &str, bytes: &[u8]) -> Result<(), ImportError> {
    let base = name.rsplit('/').next().unwrap_or(name);
    let Some(expected) = Digest::from_hex(base.trim_end_matches(".json")) else {
        return Ok(());
    };
    let actual = Digest::of(bytes);
    if actual != expected {
        return Err(ImportError::DigestMismatch {
            what: "config",
            name: name.to_string(),
            expected,
            actual,
        });
    }
    Ok(())
}
