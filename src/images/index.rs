//! The image index's records and their on-disk bytes: a version byte, then postcard.
//!
//! postcard carries no field names, so the exact bytes of a sample index are pinned by a
//! test: a change of format must come with a new [`INDEX_VERSION`]. No I/O here.

use serde::{Deserialize, Serialize};

use super::digest::Digest;

/// First byte of the index file; bump it when [`Index`] or its records change.
pub const INDEX_VERSION: u8 = 1;

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

    /// `None` for another version or corrupt bytes.
    pub fn decode(bytes: &[u8]) -> Option<Index> {
        match bytes.split_first() {
            Some((&INDEX_VERSION, body)) => postcard::from_bytes(body).ok(),
            _ => None,
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

    const GOLDEN: &str = concat!(
        "010120646f636b65722e696f2f6c6962726172792f62757379626f783a6c617465737462",
        "c66a7a5dd70c3146618063c344e531e6d4b59e379808443ce962b3abd63c5a2e7d2c03a9",
        "507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc601072f62696e2f7368",
        "000109504154483d2f62696e012f013001acac86c0e609ca906f632b0e2dacccb2b77d22",
        "b0621f20ebece1a4835b93f6f0800880e2cfaa0600",
    );
}
