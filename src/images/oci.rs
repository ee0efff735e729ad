//! The JSON documents of images: OCI index, manifest and config, Docker's `manifest.json`.
//!
//! Read with the project's YAML/JSON reader (JSON is YAML 1.2) instead of a JSON crate,
//! and written with its JSON emitter. Only the fields pealet uses are read; unknown ones
//! are ignored. No I/O here.

use crate::spec::manifest::emit;
use crate::spec::manifest::yaml;
use crate::spec::manifest::{Node, Value};

use super::digest::Digest;
use super::store::ImageConfig;

pub const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const MEDIA_OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
/// Annotations that name an image in an OCI layout, best first.
pub const NAME_ANNOTATIONS: [&str; 2] = [
    "io.containerd.image.name",
    "org.opencontainers.image.ref.name",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OciError {
    #[error("{what}: not valid JSON: {reason}")]
    Json { what: String, reason: String },
    #[error("{what}: field {field} is missing or of the wrong type")]
    Field { what: String, field: &'static str },
    #[error("{what}: {source}")]
    Digest {
        what: String,
        source: super::digest::DigestError,
    },
}

/// A content descriptor: what a blob is, its digest and size, and optional names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    pub annotations: Vec<(String, String)>,
    /// `(os, architecture)` when given.
    pub platform: Option<(String, String)>,
    /// The platform's `variant` (`v7`, `v8`), when given.
    pub variant: Option<String>,
}

impl Descriptor {
    pub fn is_index(&self) -> bool {
        self.media_type == MEDIA_OCI_INDEX || self.media_type == MEDIA_DOCKER_LIST
    }

    /// The image name from the annotations, if any.
    pub fn name(&self) -> Option<&str> {
        NAME_ANNOTATIONS.iter().find_map(|key| {
            self.annotations
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        })
    }
}

/// One image of a `docker save` archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerImage {
    pub config: String,
    pub repo_tags: Vec<String>,
    pub layers: Vec<String>,
}

pub fn parse(bytes: &[u8], what: &str) -> Result<Node, OciError> {
    let json_err = |reason: String| OciError::Json {
        what: what.to_string(),
        reason,
    };
    let text = std::str::from_utf8(bytes).map_err(|_| json_err("not utf-8".into()))?;
    let mut docs = yaml::parse(text).map_err(|e| json_err(e.to_string()))?;
    match docs.len() {
        1 => Ok(docs.remove(0)),
        n => Err(json_err(format!("{n} documents"))),
    }
}

fn field<'a>(n: &'a Node, key: &'static str, what: &str) -> Result<&'a Node, OciError> {
    n.get(key).ok_or_else(|| OciError::Field {
        what: what.to_string(),
        field: key,
    })
}

fn string(n: Option<&Node>) -> Option<String> {
    match n.map(|n| &n.value) {
        Some(Value::Str(s)) => Some(s.clone()),
        _ => None,
    }
}

fn strings(n: Option<&Node>) -> Vec<String> {
    match n.map(|n| &n.value) {
        Some(Value::Seq(items)) => items.iter().filter_map(|i| string(Some(i))).collect(),
        _ => Vec::new(),
    }
}

fn digest(n: &Node, key: &'static str, what: &str) -> Result<Digest, OciError> {
    let s = string(Some(field(n, key, what)?)).ok_or_else(|| OciError::Field {
        what: what.to_string(),
        field: key,
    })?;
    Digest::parse(&s).map_err(|source| OciError::Digest {
        what: what.to_string(),
        source,
    })
}

fn descriptor(n: &Node, what: &str) -> Result<Descriptor, OciError> {
    let size = match field(n, "size", what)?.value {
        Value::Int(i) if i >= 0 => i as u64,
        _ => {
            return Err(OciError::Field {
                what: what.to_string(),
                field: "size",
            });
        }
    };
    let annotations = match n.get("annotations").map(|a| &a.value) {
        Some(Value::Map(m)) => m
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), string(Some(v))?)))
            .collect(),
        _ => Vec::new(),
    };
    let platform = n
        .get("platform")
        .and_then(|p| Some((string(p.get("os"))?, string(p.get("architecture"))?)));
    let variant = n.get("platform").and_then(|p| string(p.get("variant")));
    Ok(Descriptor {
        variant,
        media_type: string(n.get("mediaType")).unwrap_or_default(),
        digest: digest(n, "digest", what)?,
        size,
        annotations,
        platform,
    })
}

fn descriptors(n: &Node, key: &'static str, what: &str) -> Result<Vec<Descriptor>, OciError> {
    match &field(n, key, what)?.value {
        Value::Seq(items) => items.iter().map(|i| descriptor(i, what)).collect(),
        _ => Err(OciError::Field {
            what: what.to_string(),
            field: key,
        }),
    }
}

/// The `manifests` of an OCI index (or Docker manifest list).
pub fn index_manifests(n: &Node, what: &str) -> Result<Vec<Descriptor>, OciError> {
    descriptors(n, "manifests", what)
}

/// An image manifest's config and layer descriptors.
pub fn manifest(n: &Node, what: &str) -> Result<(Descriptor, Vec<Descriptor>), OciError> {
    let config = descriptor(field(n, "config", what)?, what)?;
    Ok((config, descriptors(n, "layers", what)?))
}

/// An image config: the runtime's part and the layer diffids, base first.
pub fn config(n: &Node, what: &str) -> Result<(ImageConfig, Vec<Digest>), OciError> {
    let c = n.get("config");
    let get = |k: &str| c.and_then(|c| c.get(k));
    let cfg = ImageConfig {
        entrypoint: strings(get("Entrypoint")),
        cmd: strings(get("Cmd")),
        env: strings(get("Env")),
        working_dir: string(get("WorkingDir")).unwrap_or_default(),
        user: string(get("User")).unwrap_or_default(),
    };
    let rootfs = field(n, "rootfs", what)?;
    let ids = match &field(rootfs, "diff_ids", what)?.value {
        Value::Seq(items) => items,
        _ => {
            return Err(OciError::Field {
                what: what.to_string(),
                field: "diff_ids",
            });
        }
    };
    let mut diff_ids = Vec::new();
    for id in ids {
        let s = string(Some(id)).unwrap_or_default();
        diff_ids.push(Digest::parse(&s).map_err(|source| OciError::Digest {
            what: what.to_string(),
            source,
        })?);
    }
    Ok((cfg, diff_ids))
}

/// The images of a `docker save` `manifest.json`.
pub fn docker_manifest(n: &Node, what: &str) -> Result<Vec<DockerImage>, OciError> {
    let Value::Seq(items) = &n.value else {
        return Err(OciError::Field {
            what: what.to_string(),
            field: "(top-level list)",
        });
    };
    items
        .iter()
        .map(|i| {
            Ok(DockerImage {
                config: string(i.get("Config")).ok_or_else(|| OciError::Field {
                    what: what.to_string(),
                    field: "Config",
                })?,
                repo_tags: strings(i.get("RepoTags")),
                layers: strings(i.get("Layers")),
            })
        })
        .collect()
}

fn s(v: &str) -> Node {
    Node::new(Value::Str(v.to_string()))
}

fn map(entries: Vec<(&str, Node)>) -> Node {
    Node::new(Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    ))
}

fn seq(items: Vec<Node>) -> Node {
    Node::new(Value::Seq(items))
}

fn desc(media_type: &str, d: &Digest, size: u64) -> Node {
    map(vec![
        ("mediaType", s(media_type)),
        ("digest", s(&d.to_string())),
        ("size", Node::new(Value::Int(size as i64))),
    ])
}

/// The config of an image made from a plain root filesystem: no command, no env.
pub fn rootfs_config(diff_id: &Digest) -> Vec<u8> {
    let n = map(vec![
        ("architecture", s(host_architecture())),
        ("os", s("linux")),
        ("config", map(vec![])),
        (
            "rootfs",
            map(vec![
                ("type", s("layers")),
                ("diff_ids", seq(vec![s(&diff_id.to_string())])),
            ]),
        ),
    ]);
    emit::to_json(&n).into_bytes()
}

/// An OCI manifest for images that arrive without one (`docker save`, root filesystems):
/// uncompressed layers, whose digests are their diffids.
pub fn synth_manifest(config: &Digest, config_size: u64, layers: &[(Digest, u64)]) -> Vec<u8> {
    let n = map(vec![
        ("schemaVersion", Node::new(Value::Int(2))),
        ("mediaType", s(MEDIA_OCI_MANIFEST)),
        ("config", desc(MEDIA_OCI_CONFIG, config, config_size)),
        (
            "layers",
            seq(layers
                .iter()
                .map(|(d, size)| desc(MEDIA_OCI_LAYER, d, *size))
                .collect()),
        ),
    ]);
    emit::to_json(&n).into_bytes()
}

/// This machine's architecture in OCI terms.
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn reads_index_manifest_and_config() {
        // Tab-indented, as Go's MarshalIndent writes it, with unicode escapes.
        let index = format!(
            "{{\n\t\"schemaVersion\": 2,\n\t\"manifests\": [\n\t\t{{\"mediaType\": \"{MEDIA_OCI_INDEX}\",\
             \"digest\": \"{D}\", \"size\": 7, \"platform\": {{\"os\": \"linux\", \"architecture\": \"arm64\"}},\
             \"annotations\": {{\"org.opencontainers.image.ref.name\": \"a\\u0062c:1\"}}}}\n\t]\n}}\n"
        );
        let n = parse(index.as_bytes(), "index.json").unwrap();
        let m = index_manifests(&n, "index.json").unwrap();
        assert_eq!(m.len(), 1);
        assert!(m[0].is_index());
        assert_eq!(m[0].name(), Some("abc:1"));
        assert_eq!(m[0].platform, Some(("linux".into(), "arm64".into())));

        let manifest = format!(
            "{{\"config\":{{\"digest\":\"{D}\",\"size\":2}},\"layers\":[{{\"digest\":\"{D}\",\"size\":3}}]}}"
        );
        let (c, l) = manifest_of(&manifest);
        assert_eq!((c.size, l.len(), l[0].size), (2, 1, 3));

        let config = format!(
            "{{\"config\":{{\"Entrypoint\":null,\"Cmd\":[\"sh\"],\"Env\":[\"A=1\"],\"User\":\"1000\"}},\
             \"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[\"{D}\"]}}}}"
        );
        let (cfg, ids) = config_of(&config);
        assert!(cfg.entrypoint.is_empty());
        assert_eq!(cfg.cmd, ["sh"]);
        assert_eq!(cfg.user, "1000");
        assert_eq!(ids.len(), 1);
    }

    fn manifest_of(s: &str) -> (Descriptor, Vec<Descriptor>) {
        manifest(&parse(s.as_bytes(), "m").unwrap(), "m").unwrap()
    }

    fn config_of(s: &str) -> (ImageConfig, Vec<Digest>) {
        config(&parse(s.as_bytes(), "c").unwrap(), "c").unwrap()
    }

    #[test]
    fn refuses_bad_documents() {
        assert!(matches!(parse(b"{", "x"), Err(OciError::Json { .. })));
        let n = parse(
            b"{\"manifests\":[{\"digest\":\"sha256:00\",\"size\":1}]}",
            "x",
        )
        .unwrap();
        assert!(matches!(
            index_manifests(&n, "x"),
            Err(OciError::Digest { .. })
        ));
        let n = parse(b"{\"config\":{}}", "x").unwrap();
        assert_eq!(
            config(&n, "x").unwrap_err().to_string(),
            "x: field rootfs is missing or of the wrong type"
        );
    }

    #[test]
    fn generated_documents_read_back() {
        let d = Digest::parse(D).unwrap();
        let c = rootfs_config(&d);
        assert_eq!(config_of(std::str::from_utf8(&c).unwrap()).1, vec![d]);
        let m = synth_manifest(&d, 10, &[(d, 20)]);
        let (cd, layers) = manifest_of(std::str::from_utf8(&m).unwrap());
        assert_eq!((cd.digest, cd.size), (d, 10));
        assert_eq!(layers[0].media_type, MEDIA_OCI_LAYER);
    }
}
