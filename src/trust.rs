//! Signed desired state: operators' Ed25519 keys (`pealet keygen`, signing in `apply`
//! and `delete`), the public keys a device trusts (config `trusted_keys`), signature
//! verification, and the device's gate that refuses unsigned, badly signed and replayed
//! messages once any key is trusted.
//!
//! The envelope's bytes are `spec::signed`; this module holds keys and decides. A
//! message refused here changes nothing on the device: what runs keeps running, and the
//! agent publishes a Warning Event. The last accepted generation of every pod (and of
//! the index) is kept under --root (`Store::put_generations`), so a replay is refused
//! across restarts too. Ed25519 is ring's (already in the binary: the TLS stack's crypto).

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::desired::{Seal, Update};
use crate::images::registry::auth::{base64_decode, base64_encode};
use crate::spec::bounded::{Short, name};
use crate::spec::signed::{self, Envelope, Header, KeyId, SIGNATURE_LEN, SignedKind};

/// How a public key is written: `ed25519:` and the 32 bytes in base64.
pub const PUBLIC_PREFIX: &str = "ed25519:";
const PEM_BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
const PEM_END: &str = "-----END PRIVATE KEY-----";
/// PKCS#8 version 1 of an Ed25519 key up to its 32-byte seed: SEQUENCE { INTEGER 0,
/// SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING (32 bytes) } }.
const PKCS8_V1_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
/// Largest private key file read.
const MAX_KEY_FILE: u64 = 4096;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error(
        "{0:?} is not a public key: expected ed25519: and 44 characters of base64 (pealet keygen prints one)"
    )]
    BadPublic(String),
    #[error("read {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("{path}: not an Ed25519 private key in PKCS#8 PEM (pealet keygen writes one)")]
    BadPrivate { path: PathBuf },
    #[error("{path} may be read by other users (mode {mode:o}): chmod 600 it")]
    Exposed { path: PathBuf, mode: u32 },
    #[error("write {path}: {message}")]
    Write { path: PathBuf, message: String },
    #[error("the system's random source failed")]
    Random,
    #[error("pod {0:?} is not a pod name")]
    BadName(String),
    #[error("node {0:?} is too long a node name")]
    BadNode(String),
}

/// A public key a device trusts, with its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub id: KeyId,
    bytes: [u8; 32],
}

impl PublicKey {
    pub fn from_bytes(bytes: [u8; 32]) -> PublicKey {
        let digest = sha2::Sha256::digest(bytes);
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        PublicKey {
            id: KeyId(id),
            bytes,
        }
    }

    /// `ed25519:<base64 of 32 bytes>`, as `pealet keygen` prints it.
    pub fn parse(text: &str) -> Result<PublicKey, KeyError> {
        let bad = || KeyError::BadPublic(text.to_owned());
        let b64 = text.trim().strip_prefix(PUBLIC_PREFIX).ok_or_else(bad)?;
        let bytes = base64_decode(b64).ok_or_else(bad)?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| bad())?;
        Ok(PublicKey::from_bytes(bytes))
    }
}

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{PUBLIC_PREFIX}{}", base64_encode(&self.bytes))
    }
}

/// The keys a device trusts; several allow rotation (sign with the new key once every
/// device trusts it, then drop the old one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedKeys(Vec<PublicKey>);

impl TrustedKeys {
    pub fn new(keys: Vec<PublicKey>) -> TrustedKeys {
        TrustedKeys(keys)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The id of the trusted key whose signature `env` carries; why not otherwise.
    pub fn verify(&self, env: &Envelope<'_>) -> Result<KeyId, String> {
        let what = what(env.kind);
        let id = env.header.key;
        let Some(key) = self.0.iter().find(|k| k.id == id) else {
            return Err(format!(
                "{what} signed by key {id}, which this node does not trust"
            ));
        };
        UnparsedPublicKey::new(&ED25519, &key.bytes)
            .verify(env.signed, env.signature)
            .map(|()| id)
            .map_err(|_| format!("{what}: the signature of key {id} does not verify"))
    }
}

fn what(kind: SignedKind) -> &'static str {
    match kind {
        SignedKind::Pod => "pod spec",
        SignedKind::Index => "index",
        SignedKind::Deletion => "deletion",
    }
}

/// An operator's private key.
pub struct Signer {
    pair: Ed25519KeyPair,
    pub public: PublicKey,
}

impl Signer {
    /// A new key, and its PKCS#8 PEM text (what `keygen` writes): version 1 (RFC 8410,
    /// the seed only), as `openssl genpkey -algorithm ed25519` writes it and OpenSSL
    /// reads it (ring's own `generate_pkcs8` writes version 2, which OpenSSL 3.0 does
    /// not read).
    pub fn generate() -> Result<(Signer, String), KeyError> {
        use ring::rand::SecureRandom;
        let mut seed = [0u8; 32];
        (ring::rand::SystemRandom::new())
            .fill(&mut seed)
            .map_err(|_| KeyError::Random)?;
        let mut der = PKCS8_V1_PREFIX.to_vec();
        der.extend_from_slice(&seed);
        let signer = Signer::from_der(&der).ok_or(KeyError::Random)?;
        Ok((signer, pem(&der)))
    }

    /// A key from its 32-byte seed (tests and benchmarks: fixed keys, fixed bytes).
    pub fn from_seed(seed: &[u8; 32]) -> Signer {
        let pair = match Ed25519KeyPair::from_seed_unchecked(seed) {
            Ok(p) => p,
            // A 32-byte seed is always a valid Ed25519 key.
            Err(_) => unreachable!("any 32 bytes are an Ed25519 seed"),
        };
        Signer::with(pair)
    }

    fn with(pair: Ed25519KeyPair) -> Signer {
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(pair.public_key().as_ref());
        Signer {
            pair,
            public: PublicKey::from_bytes(bytes),
        }
    }

    fn from_der(der: &[u8]) -> Option<Signer> {
        Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .ok()
            .map(Signer::with)
    }

    /// Reads a private key file (PKCS#8 PEM, as `keygen` or `openssl genpkey -algorithm
    /// ed25519` write it); refused when other users may read it.
    pub fn load(path: &Path) -> Result<Signer, KeyError> {
        use std::io::Read;
        let read = |e: std::io::Error| KeyError::Read {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let file = std::fs::File::open(path).map_err(read)?;
        let mode = file.metadata().map_err(read)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            let path = path.to_path_buf();
            return Err(KeyError::Exposed { path, mode });
        }
        let mut text = String::new();
        file.take(MAX_KEY_FILE)
            .read_to_string(&mut text)
            .map_err(read)?;
        let bad = || KeyError::BadPrivate {
            path: path.to_path_buf(),
        };
        let b64 = text
            .trim()
            .strip_prefix(PEM_BEGIN)
            .and_then(|t| t.strip_suffix(PEM_END))
            .ok_or_else(bad)?;
        let b64: String = b64.split_whitespace().collect();
        let der = base64_decode(&b64).ok_or_else(bad)?;
        Signer::from_der(&der).ok_or_else(bad)
    }

    /// The signed message of `kind` about `pod` (None: the index) of `node`, at
    /// `generation`, carrying `message` (a version-2 message; empty for a Deletion).
    pub fn sign(
        &self,
        kind: SignedKind,
        node: &str,
        pod: Option<&str>,
        generation: u64,
        message: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        let header = Header {
            key: self.public.id,
            node: Short::try_from(node).map_err(|_| KeyError::BadNode(node.to_owned()))?,
            pod: pod
                .map(|p| name(p).map_err(|_| KeyError::BadName(p.to_owned())))
                .transpose()?,
            generation,
        };
        let unsigned = signed::unsigned_bytes(kind, &header, message);
        let mut signature = [0u8; SIGNATURE_LEN];
        signature.copy_from_slice(self.pair.sign(&unsigned).as_ref());
        Ok(signed::seal(unsigned, &signature))
    }
}

/// PKCS#8 DER as PEM, 64 base64 characters a line.
fn pem(der: &[u8]) -> String {
    let b64 = base64_encode(der);
    let mut out = format!("{PEM_BEGIN}\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(PEM_END);
    out.push('\n');
    out
}

/// Writes a new private key file, mode 0600; never over an existing file.
pub fn write_private(path: &Path, pem: &str) -> Result<(), KeyError> {
    let write = |e: std::io::Error| KeyError::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(write)?;
    f.write_all(pem.as_bytes()).map_err(write)?;
    f.sync_all().map_err(write)
}

/// The milliseconds since the Unix epoch: the generation a signer uses, unless the
/// broker holds a message with a higher one (another operator's clock runs ahead).
pub fn now_generation() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// What a generation is about: a pod of this node, or its index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Subject {
    Index,
    Pod(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Seen {
    generation: u64,
    /// FNV-1a of the signed bytes: the same message again is not a replay.
    digest: u64,
    /// The last accepted message deleted the pod (forgotten first when full).
    deleted: bool,
}

/// Subjects whose last generation is kept (the index lists at most 256 pods; the
/// rest is room for deleted ones).
pub const MAX_SUBJECTS: usize = 512;
/// The first byte of the stored file.
const GENERATIONS_VERSION: u8 = 1;

/// The last accepted generation of every subject. When full, the oldest deletion (else
/// the oldest subject) is forgotten and `floor` rises to its generation: a subject not
/// listed must come with a newer generation than any forgotten one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Generations {
    floor: u64,
    seen: BTreeMap<Subject, Seen>,
}

impl Generations {
    /// Whether a message about `subject` at `generation` may be accepted: `Ok(true)`
    /// newer, `Ok(false)` the same message again, `Err(last)` older (a replay).
    pub fn check(&self, subject: &Subject, generation: u64, digest: u64) -> Result<bool, u64> {
        match self.seen.get(subject) {
            Some(s) if generation > s.generation => Ok(true),
            Some(s) if generation == s.generation && digest == s.digest => Ok(false),
            Some(s) => Err(s.generation),
            None if generation > self.floor => Ok(true),
            None => Err(self.floor),
        }
    }

    /// Records an accepted message.
    pub fn accept(&mut self, subject: Subject, generation: u64, digest: u64, deleted: bool) {
        let seen = Seen {
            generation,
            digest,
            deleted,
        };
        self.seen.insert(subject, seen);
        while self.seen.len() > MAX_SUBJECTS {
            let oldest = (self.seen.iter())
                .min_by_key(|(_, s)| (!s.deleted, s.generation))
                .map(|(k, s)| (k.clone(), s.generation));
            let Some((subject, generation)) = oldest else {
                break;
            };
            self.seen.remove(&subject);
            self.floor = self.floor.max(generation);
        }
    }

    /// The stored form: a version byte, then postcard.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_extend(self, vec![GENERATIONS_VERSION]).unwrap_or_default()
    }

    pub fn decode(bytes: &[u8]) -> Option<Generations> {
        let body = bytes.strip_prefix(&[GENERATIONS_VERSION])?;
        let g: Generations = postcard::from_bytes(body).ok()?;
        (g.seen.len() <= MAX_SUBJECTS).then_some(g)
    }
}

/// A message the gate refused: the Event's reason and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub pod: Option<String>,
    /// `Untrusted` or `Replayed`.
    pub reason: &'static str,
    pub why: String,
}

/// The device's gate between the broker and the desired state.
#[derive(Debug, Default)]
pub struct Gate {
    /// Keys are trusted: only signed messages pass, and replays are refused.
    required: bool,
    generations: Generations,
}

impl Gate {
    pub fn new(required: bool, generations: Generations) -> Gate {
        Gate {
            required,
            generations,
        }
    }

    pub fn required(&self) -> bool {
        self.required
    }

    pub fn generations(&self) -> &Generations {
        &self.generations
    }

    /// The update to act on, and whether the generations changed (to be stored before
    /// acting); or why it is refused.
    pub fn admit(&mut self, update: Update) -> Result<(Update, bool), Refused> {
        let pod = update.pod().map(str::to_owned);
        let refuse = |reason, why| Refused { pod, reason, why };
        match update {
            Update::Untrusted { why, .. } => Err(refuse("Untrusted", why)),
            Update::Signed(inner, _) if !self.required => Ok((*inner, false)),
            Update::Signed(inner, seal) => {
                let Seal {
                    key: Some(_),
                    generation,
                    digest,
                } = seal
                else {
                    return Err(refuse("Untrusted", "an unverified signature".into()));
                };
                let (subject, deleted) = match &*inner {
                    Update::Index(_) => (Subject::Index, false),
                    Update::Deleted { name } => (Subject::Pod(name.clone()), true),
                    Update::Pod { name, .. } => (Subject::Pod(name.clone()), false),
                    Update::Signed(..) | Update::Untrusted { .. } => {
                        return Err(refuse(
                            "Untrusted",
                            "a signed message inside another".into(),
                        ));
                    }
                };
                match self.generations.check(&subject, generation, digest) {
                    Ok(true) => {
                        (self.generations).accept(subject, generation, digest, deleted);
                        Ok((*inner, true))
                    }
                    Ok(false) => Ok((*inner, false)),
                    Err(last) => Err(refuse(
                        "Replayed",
                        format!(
                            "replayed {}: generation {generation} is not newer than {last}, \
                             the last this node accepted",
                            subject_words(&subject, deleted)
                        ),
                    )),
                }
            }
            plain if self.required => {
                let what = match plain {
                    Update::Index(_) => "index",
                    Update::Deleted { .. } => "deletion",
                    _ => "pod spec",
                };
                Err(refuse(
                    "Untrusted",
                    format!(
                        "unsigned {what} refused: this node accepts only desired state \
                         signed by a trusted key"
                    ),
                ))
            }
            plain => Ok((plain, false)),
        }
    }
}

fn subject_words(subject: &Subject, deleted: bool) -> String {
    match (subject, deleted) {
        (Subject::Index, _) => "index".into(),
        (Subject::Pod(p), false) => format!("spec of pod {p}"),
        (Subject::Pod(p), true) => format!("deletion of pod {p}"),
    }
}

/// FNV-1a 64 of the signed bytes of a message.
pub fn digest(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
#[path = "trust/tests.rs"]
mod tests;
