//! The image index's records and their on-disk bytes: a version byte, then postcard.
//!
//! postcard carries no field names, so the exact bytes of a sample index are pinned by a
//! test: a change of format must come with a new [`INDEX_VERSION`]. Version 1 (before
//! registry pulls, without [`ImageRecord::digest`]) is still read. No I/O here.

use serde::{Deserialize, Serialize};

use super::digest::Digest;

/// First byte of the index file; bump it when [`Index`] or its records change.
pub const INDEX_VERSION: u8 = 2;

/// What the runtime needs from an image's config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
}

/// One image in the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// Normalised, e.g. `docker.io/library/busybox:latest`.
    pub reference: String,
    /// What the reference resolved to on its registry (an index or a manifest): the
    /// image's id as the pod status shows it (`imageID`). Equals `manifest` for imports.
    pub digest: Digest,
    /// The image manifest for this platform (a blob in the store).
    pub manifest: Digest,
    pub config_digest: Digest,
    pub config: ImageConfig,
    /// Layer diffids, base layer first, with their uncompressed tar sizes.
    pub layers: Vec<(Digest, u64)>,
    /// Seconds since the epoch; `last_used` is 0 until a container uses the image.
    pub imported: u64,
    pub last_used: u64,
}

impl ImageRecord {
    pub fn size(&self) -> u64 {
        self.layers.iter().map(|(_, s)| s).sum()
    }
}

/// Every image in the store. On disk: [`INDEX_VERSION`], then postcard.
#[derive(Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    pub images: Vec<ImageRecord>,
}

impl Index {
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = vec![INDEX_VERSION];
        bytes.extend(postcard::to_allocvec(self).expect("the index always serialises"));
        bytes
    }

    /// `None` for an unknown version or corrupt bytes.
    pub fn decode(bytes: &[u8]) -> Option<Index> {
        match bytes.split_first() {
            Some((&INDEX_VERSION, body)) => postcard::from_bytes(body).ok(),
            Some((&1, body)) => postcard::from_bytes::<IndexV1>(body).ok().map(|v1| Index {
                images: v1.images.into_iter().map(RecordV1::upgrade).collect(),
            }),
            _ => None,
        }
    }
}

/// Version 1 of the index, read once and written back as the current version.
#[derive(Deserialize)]
struct IndexV1 {
    images: Vec<RecordV1>,
}

#[derive(Deserialize)]
struct RecordV1 {
    reference: String,
    manifest: Digest,
    config_digest: Digest,
    config: ImageConfig,
    layers: Vec<(Digest, u64)>,
    imported: u64,
    last_used: u64,
}

impl RecordV1 {
    fn upgrade(self) -> ImageRecord {
        ImageRecord {
            reference: self.reference,
            digest: self.manifest,
            manifest: self.manifest,
            config_digest: self.config_digest,
            config: self.config,
            layers: self.layers,
            imported: self.imported,
            last_used: self.last_used,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Index {
        Index {
            images: vec![ImageRecord {
                reference: "docker.io/library/busybox:latest".into(),
                digest: Digest::of(b"m"),
                manifest: Digest::of(b"m"),
                config_digest: Digest::of(b"c"),
                config: ImageConfig {
                    entrypoint: vec!["/bin/sh".into()],
                    cmd: vec![],
                    env: vec!["PATH=/bin".into()],
                    working_dir: "/".into(),
                    user: "0".into(),
                },
                layers: vec![(Digest::of(b"l"), 1024)],
                imported: 1_700_000_000,
                last_used: 0,
            }],
        }
    }

    #[test]
    fn round_trip_and_refusals() {
        let bytes = sample().encode();
        assert_eq!(Index::decode(&bytes), Some(sample()));
        let mut other = bytes.clone();
        other[0] = INDEX_VERSION + 1;
        assert_eq!(Index::decode(&other), None);
        other[0] = 0;
        assert_eq!(Index::decode(&other), None);
        assert_eq!(Index::decode(&bytes[..bytes.len() - 3]), None);
        assert_eq!(Index::decode(&[]), None);
    }

    #[test]
    fn golden_bytes() {
        let hex: String = sample()
            .encode()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hex, GOLDEN, "the index format changed: bump INDEX_VERSION");
    }

    #[test]
    fn reads_version_1() {
        let bytes: Vec<u8> = (0..GOLDEN_V1.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&GOLDEN_V1[i..i + 2], 16).unwrap())
            .collect();
        assert_eq!(Index::decode(&bytes), Some(sample()));
    }

    const GOLDEN: &str = concat!(
        "020120646f636b65722e696f2f6c6962726172792f62757379626f783a6c617465737462",
        "c66a7a5dd70c3146618063c344e531e6d4b59e379808443ce962b3abd63c5a62c66a7a5d",
        "d70c3146618063c344e531e6d4b59e379808443ce962b3abd63c5a2e7d2c03a9507ae265",
        "ecf5b5356885a53393a2029d241394997265a1a25aefc601072f62696e2f736800010950",
        "4154483d2f62696e012f013001acac86c0e609ca906f632b0e2dacccb2b77d22b0621f20",
        "ebece1a4835b93f6f0800880e2cfaa0600",
    );

    /// The sample as version 1 wrote it (no `digest`: it reads back as the manifest).
    const GOLDEN_V1: &str = concat!(
        "010120646f636b65722e696f2f6c6962726172792f62757379626f783a6c617465737462",
        "c66a7a5dd70c3146618063c344e531e6d4b59e379808443ce962b3abd63c5a2e7d2c03a9",
        "507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc601072f62696e2f7368",
        "000109504154483d2f62696e012f013001acac86c0e609ca906f632b0e2dacccb2b77d22",
        "b0621f20ebece1a4835b93f6f0800880e2cfaa0600",
    );
}
