//! From a reference to this platform's manifest: the endpoints in order (mirrors first),
//! the digest pinned by the reference checked, an index resolved to one manifest.

use crate::images::digest::Digest;
use crate::images::oci;
use crate::images::reference::Reference;
use crate::images::registry::config::Registries;
use crate::images::registry::distribution::{
    Fetched, MEDIA_DOCKER_MANIFEST, RegistryError, Session,
};
use crate::images::registry::platform::Platform;

use super::PullError;

const MEDIA_DOCKER_V1: &str = "application/vnd.docker.distribution.manifest.v1";

pub struct Resolved {
    /// The session that answered, for the blobs.
    pub session: Session,
    /// The digest the reference resolved to (index or manifest).
    pub top: Digest,
    pub manifest: Vec<u8>,
    pub manifest_digest: Digest,
}

pub fn resolve(
    registries: &Registries,
    r: &Reference,
    platform: &Platform,
) -> Result<Resolved, PullError> {
    let wanted = match (&r.digest, &r.tag) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.clone(),
        (None, None) => "latest".to_string(),
    };
    let endpoints = registries.endpoints(&r.domain)?;
    let mut last: Option<RegistryError> = None;
    for endpoint in &endpoints {
        let mut session = Session::new(endpoint, &r.path);
        match session.manifest(&wanted) {
            Ok(top) => return choose(session, r, platform, top),
            // A mirror that fails is skipped; the registry's own answer is final.
            Err(e) if endpoint.mirror => {
                log::warn!("mirror {}: {e}; trying the next endpoint", session.registry);
                last = Some(e);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(last
        .expect("the registry itself is always the last endpoint")
        .into())
}

fn choose(
    mut session: Session,
    r: &Reference,
    platform: &Platform,
    top: Fetched,
) -> Result<Resolved, PullError> {
    if let Some(d) = r.digest {
        if d != top.digest {
            return Err(PullError::DigestMismatch {
                what: format!("manifest of {r}"),
                expected: d,
                actual: top.digest,
            });
        }
    }
    let what = format!("{r} ({})", top.digest);
    let media = top.media_type.as_str();
    if media == oci::MEDIA_OCI_MANIFEST || media == MEDIA_DOCKER_MANIFEST {
        return Ok(Resolved {
            session,
            top: top.digest,
            manifest_digest: top.digest,
            manifest: top.bytes,
        });
    }
    if media != oci::MEDIA_OCI_INDEX && media != oci::MEDIA_DOCKER_LIST {
        let media_type = if media.starts_with(MEDIA_DOCKER_V1) {
            format!("{media} (Docker schema 1, no longer supported)")
        } else {
            media.to_string()
        };
        return Err(PullError::MediaType { what, media_type });
    }
    let doc_err = |source| PullError::Document {
        what: what.clone(),
        source,
    };
    let descs = oci::parse(&top.bytes, &what)
        .and_then(|n| oci::index_manifests(&n, &what))
        .map_err(doc_err)?;
    let platforms: Vec<Option<Platform>> = descs
        .iter()
        .map(|d| {
            d.platform
                .as_ref()
                .map(|(os, arch)| Platform::new(os, arch, d.variant.as_deref()))
        })
        .collect();
    let Some(i) = platform.choose(&platforms) else {
        let available: Vec<String> = platforms.iter().flatten().map(|p| p.to_string()).collect();
        return Err(PullError::NoPlatform {
            reference: r.to_string(),
            platform: platform.clone(),
            available: if available.is_empty() {
                "no platforms".into()
            } else {
                available.join(", ")
            },
        });
    };
    let desc = &descs[i];
    log::debug!("{r}: {} for {platform}", desc.digest);
    let fetched = session.manifest(&desc.digest.to_string())?;
    if fetched.digest != desc.digest {
        return Err(PullError::DigestMismatch {
            what: format!("manifest {} of {r}", desc.digest),
            expected: desc.digest,
            actual: fetched.digest,
        });
    }
    if fetched.media_type != oci::MEDIA_OCI_MANIFEST && fetched.media_type != MEDIA_DOCKER_MANIFEST
    {
        return Err(PullError::MediaType {
            what: format!("manifest {} of {r}", desc.digest),
            media_type: fetched.media_type,
        });
    }
    Ok(Resolved {
        session,
        top: top.digest,
        manifest_digest: fetched.digest,
        manifest: fetched.bytes,
    })
}
