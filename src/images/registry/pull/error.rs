//! Why a pull failed: one error with the registry's message for the user, and a
//! [`PullFailure`] kind for the caller's reason (ErrImagePull) and back-off.

use crate::images::digest::Digest;
use crate::images::layer::LayerError;
use crate::images::oci::OciError;
use crate::images::reference::ReferenceError;
use crate::images::registry::blob::BlobError;
use crate::images::registry::config::ConfigError;
use crate::images::registry::distribution::RegistryError;
use crate::images::registry::gc::GcError;
use crate::images::registry::platform::Platform;
use crate::images::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Layer(#[from] LayerError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Disk(#[from] GcError),
    #[error("{what}: {source}")]
    Document { what: String, source: OciError },
    #[error("{what}: unsupported media type {media_type:?}")]
    MediaType { what: String, media_type: String },
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("{reference}: no image for {platform} (the index has {available})")]
    NoPlatform {
        reference: String,
        platform: Platform,
        available: String,
    },
    #[error("{what}: {layers} layers but {diff_ids} diffids in the config")]
    LayerCount {
        what: String,
        layers: usize,
        diff_ids: usize,
    },
    #[error(
        "not enough disk space: the pull needs about {needed} MB, {free} MB are free and {reserve} MB must stay free"
    )]
    NoSpace {
        needed: u64,
        free: u64,
        reserve: u64,
    },
}

/// What kind of failure, for the caller's reason and back-off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullFailure {
    NotFound,
    Unauthorized,
    /// The network or the registry failed: retry later.
    Unavailable,
    NoSpace,
    /// The image is broken or unusable here (digest, platform, format).
    Invalid,
    /// The local store failed.
    Local,
}

impl PullError {
    pub fn failure(&self) -> PullFailure {
        use RegistryError as R;
        match self {
            PullError::Registry(R::NotFound { .. }) => PullFailure::NotFound,
            PullError::Registry(R::Unauthorized { .. } | R::Auth(_)) => PullFailure::Unauthorized,
            PullError::Blob(BlobError::Registry(R::NotFound { .. })) => PullFailure::NotFound,
            PullError::Registry(_) | PullError::Blob(BlobError::Registry(_)) => {
                PullFailure::Unavailable
            }
            PullError::Blob(BlobError::Interrupted { .. }) => PullFailure::Unavailable,
            PullError::NoSpace { .. } => PullFailure::NoSpace,
            PullError::Store(_) | PullError::Disk(_) | PullError::Config(_) => PullFailure::Local,
            PullError::Blob(BlobError::Io { .. }) => PullFailure::Local,
            _ => PullFailure::Invalid,
        }
    }
}
