//! The signed envelope of desired state (format version 3): a Pod, an Index or the
//! deletion of a pod, addressed to one node (and pod), with a generation that only
//! grows, signed with an operator's Ed25519 key. This module lays out and parses the
//! bytes; it does not verify signatures or hold keys (that is `trust`).
//!
//! ```text
//! 0      03          format version 3: signed desired state
//! 1      kind        1 Pod, 5 Index, 10 Deletion (of a pod)
//! 2..    header      postcard: key id [u8; 8], node Short, pod Option<Name>, generation u64
//! ..     message     the version-2 message signed (a Pod or an Index as `encode` writes
//!                    it, compressed or not); nothing for a Deletion
//! last   signature   64 bytes, Ed25519 over every byte before it
//! ```
//!
//! docs/wire-format.md ("Signed desired state") describes the bytes; golden-byte tests
//! in tests/it/wire pin them. Nothing here panics on any input.

use serde::{Deserialize, Serialize};

use super::DecodeError;
use super::bounded::{MAX_PAYLOAD, Name, Short};
use super::codec::{COMPRESSED, FORMAT_VERSION, Kind, Message};

/// The format version of a signed message: its first byte.
pub const SIGNED_VERSION: u8 = 3;
/// An Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// What a signed message carries: its second byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedKind {
    Pod = 1,
    Index = 5,
    /// The pod named in the header is deleted: the message is empty.
    Deletion = 10,
}

impl SignedKind {
    pub fn from_byte(b: u8) -> Option<SignedKind> {
        [SignedKind::Pod, SignedKind::Index, SignedKind::Deletion]
            .into_iter()
            .find(|k| *k as u8 == b)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            SignedKind::Pod => "Pod",
            SignedKind::Index => "Index",
            SignedKind::Deletion => "Deletion",
        }
    }

    /// The wire kind used in errors about this message.
    fn wire_kind(self) -> Kind {
        match self {
            SignedKind::Index => Kind::Index,
            SignedKind::Pod | SignedKind::Deletion => Kind::Pod,
        }
    }
}

/// The first 8 bytes of the SHA-256 of a public key: names the key that signed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct KeyId(pub [u8; 8]);

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// What the signature covers besides the message: who signed, for whom, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// The key that signed.
    pub key: KeyId,
    /// The node the message is for: a message for one node never applies to another.
    pub node: Short,
    /// The pod (a Pod or a Deletion); None for an Index.
    pub pod: Option<Name>,
    /// Grows with every message about the same pod (or index) of the same node: the
    /// signer's clock in milliseconds since the Unix epoch, or more. A device refuses a
    /// generation lower than the last it accepted (a replay).
    pub generation: u64,
}

/// A signed message, parsed but not verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope<'a> {
    pub kind: SignedKind,
    pub header: Header,
    /// The version-2 message inside (empty for a Deletion).
    pub message: &'a [u8],
    /// Every byte the signature covers.
    pub signed: &'a [u8],
    pub signature: &'a [u8; SIGNATURE_LEN],
}

/// Whether `payload` is a signed message (by its first byte).
pub fn is_signed(payload: &[u8]) -> bool {
    payload.first() == Some(&SIGNED_VERSION)
}

/// Parses a signed message: size, version, kind, header, that the message inside is of
/// the kind and subject the header says, and that a signature follows.
pub fn open(payload: &[u8]) -> Result<Envelope<'_>, DecodeError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(DecodeError::TooLarge {
            len: payload.len(),
            max: MAX_PAYLOAD,
        });
    }
    let (&version, rest) = payload.split_first().ok_or(DecodeError::Empty)?;
    if version != SIGNED_VERSION {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    let (&kind_byte, rest) = rest
        .split_first()
        .ok_or(DecodeError::Truncated("signed envelope"))?;
    let kind = SignedKind::from_byte(kind_byte).ok_or(DecodeError::UnknownKind(kind_byte))?;
    let wire = kind.wire_kind();
    let split = rest
        .len()
        .checked_sub(SIGNATURE_LEN)
        .ok_or(DecodeError::Truncated("signed envelope"))?;
    let (body, signature) = rest.split_at(split);
    let signature: &[u8; SIGNATURE_LEN] = signature
        .try_into()
        .map_err(|_| DecodeError::Truncated("signed envelope"))?;
    let malformed = |what| DecodeError::Malformed { kind: wire, what };
    let (header, message) = postcard::take_from_bytes::<Header>(body).map_err(|e| match e {
        postcard::Error::DeserializeUnexpectedEnd => DecodeError::Truncated("signed envelope"),
        _ => malformed("bad signed header"),
    })?;
    if header.node.is_empty() {
        return Err(malformed("the signed header names no node"));
    }
    match (kind, &header.pod) {
        (SignedKind::Index, None) | (SignedKind::Pod | SignedKind::Deletion, Some(_)) => {}
        (SignedKind::Index, Some(_)) => return Err(malformed("a signed index names a pod")),
        _ => return Err(malformed("a signed pod message names no pod")),
    }
    match kind {
        SignedKind::Deletion if !message.is_empty() => {
            return Err(DecodeError::TrailingBytes(message.len()));
        }
        SignedKind::Deletion => {}
        SignedKind::Pod | SignedKind::Index => match message {
            [FORMAT_VERSION, k, ..] if k & !COMPRESSED == kind as u8 => {}
            [] => return Err(DecodeError::Truncated("signed envelope")),
            _ => {
                return Err(malformed(
                    "the signed message is not of the kind the envelope says",
                ));
            }
        },
    }
    Ok(Envelope {
        kind,
        header,
        message,
        signed: &payload[..payload.len() - SIGNATURE_LEN],
        signature,
    })
}

/// The bytes to sign for `header` and `message` (a version-2 message, or empty for a
/// Deletion): the signed message without its signature. `seal` appends the signature.
pub fn unsigned_bytes(kind: SignedKind, header: &Header, message: &[u8]) -> Vec<u8> {
    let out = vec![SIGNED_VERSION, kind as u8];
    // Serializing into a Vec only fails on an allocation failure, which aborts anyway.
    let mut out = postcard::to_extend(header, out).unwrap_or_default();
    out.extend_from_slice(message);
    out
}

/// Appends `signature` to the bytes of [`unsigned_bytes`].
pub fn seal(mut unsigned: Vec<u8>, signature: &[u8; SIGNATURE_LEN]) -> Vec<u8> {
    unsigned.extend_from_slice(signature);
    unsigned
}

/// The desired-state message in `payload`, signed or not, for readers that do not
/// verify (operator commands showing what the broker holds): `None` for an empty
/// payload or a signed Deletion.
pub fn desired<M: Message>(payload: &[u8]) -> Option<Result<M, DecodeError>> {
    if payload.is_empty() {
        return None;
    }
    if !is_signed(payload) {
        return Some(super::decode(payload));
    }
    match open(payload) {
        Ok(env) if env.kind == SignedKind::Deletion => None,
        Ok(env) => Some(super::decode(env.message)),
        Err(e) => Some(Err(e)),
    }
}

/// The generation of a signed payload (0 when it is not a signed message).
pub fn generation(payload: &[u8]) -> u64 {
    open(payload).map_or(0, |e| e.header.generation)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(pod: Option<&str>) -> Header {
        Header {
            key: KeyId([7; 8]),
            node: "n1".try_into().unwrap(),
            pod: pod.map(|p| super::super::bounded::name(p).unwrap()),
            generation: 300,
        }
    }

    #[test]
    fn round_trip_and_hostile_inputs() {
        let msg = [crate::spec::codec::FORMAT_VERSION, 5, 0]; // an empty Index
        let bytes = seal(
            unsigned_bytes(SignedKind::Index, &header(None), &msg),
            &[9; 64],
        );
        let env = open(&bytes).unwrap();
        assert_eq!(
            (env.kind, env.message, env.header.generation),
            (SignedKind::Index, &msg[..], 300)
        );
        assert_eq!(env.signed, &bytes[..bytes.len() - 64]);
        // Every cut-off prefix and every single-byte change is refused or parses (the
        // signature, checked by `trust`, fails then); nothing panics.
        for n in 0..bytes.len() {
            let cut = open(&bytes[..n]);
            assert!(n >= 2 + 64 || cut.is_err(), "prefix {n}");
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0xff;
            let _ = open(&b);
        }
        let del = seal(
            unsigned_bytes(SignedKind::Deletion, &header(Some("web")), &[]),
            &[0; 64],
        );
        assert_eq!(open(&del).unwrap().kind, SignedKind::Deletion);
        assert!(desired::<crate::spec::Pod>(&del).is_none());
        // A Pod envelope around an Index, an index naming a pod, a pod naming none.
        let wrong = seal(
            unsigned_bytes(SignedKind::Pod, &header(Some("a")), &msg),
            &[0; 64],
        );
        assert!(open(&wrong).is_err());
        let wrong = seal(
            unsigned_bytes(SignedKind::Index, &header(Some("a")), &msg),
            &[0; 64],
        );
        assert!(open(&wrong).is_err());
        let wrong = seal(
            unsigned_bytes(SignedKind::Deletion, &header(None), &[]),
            &[0; 64],
        );
        assert!(open(&wrong).is_err());
        assert_eq!(open(&[2, 1]), Err(DecodeError::UnsupportedVersion(2)));
        assert_eq!(open(&[3, 3]), Err(DecodeError::UnknownKind(3)));
    }
}
