//! The byte format on the wire and on disk: a two-byte envelope (format version, message
//! kind) followed by the postcard encoding of the message, compressed (`pack`) when that
//! makes it smaller; the high bit of the kind byte says so.
//!
//! Decoding is bounded: the payload size is checked first, a compressed body may not
//! expand beyond the same limit, and every list and string is checked against its limit
//! before anything is allocated for it (see `bounded`).
//! Nothing here panics on any input. docs/wire-format.md describes the bytes.

use std::borrow::Cow;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::bounded::Short;
use super::bounded::{LimitHit, LimitKind, MAX_PAYLOAD, take_limit_hit};
use super::logs::{Follow, LogChunk, LogsRequest, LogsResponse, LogsResult};
use super::pack;
use super::{Event, Index, NodeStatus, Pod, PodStatus};

/// The format version every message starts with. Golden-byte tests pin the encoding of
/// this version: a change of format means a new number here.
pub const FORMAT_VERSION: u8 = 2;

/// Set in the kind byte when the body is compressed.
pub const COMPRESSED: u8 = 0x80;

/// What a message is: its second byte, without the [`COMPRESSED`] bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Pod = 1,
    PodStatus = 2,
    NodeStatus = 3,
    Event = 4,
    Index = 5,
    LogsRequest = 6,
    LogsResponse = 7,
    LogsFollow = 8,
    LogsChunk = 9,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Pod,
        Kind::PodStatus,
        Kind::NodeStatus,
        Kind::Event,
        Kind::Index,
        Kind::LogsRequest,
        Kind::LogsResponse,
        Kind::LogsFollow,
        Kind::LogsChunk,
    ];

    pub fn from_byte(b: u8) -> Option<Kind> {
        Self::ALL.into_iter().find(|k| *k as u8 == b)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Pod => "Pod",
            Kind::PodStatus => "PodStatus",
            Kind::NodeStatus => "NodeStatus",
            Kind::Event => "Event",
            Kind::Index => "Index",
            Kind::LogsRequest => "LogsRequest",
            Kind::LogsResponse => "LogsResponse",
            Kind::LogsFollow => "LogsFollow",
            Kind::LogsChunk => "LogsChunk",
        }
    }
}

/// A type that travels in an envelope.
///
/// Most types are one kind, their postcard encoding the body. The remote-logs types
/// span two kinds each (a request with or without `follow`, a response or a follow's
/// chunk), so that a kind's bytes never change when the other is added.
pub trait Message: Sized {
    /// The kind of the type (the first of its two kinds, for the remote-logs types).
    const KIND: Kind;
    /// The kind this value travels as.
    fn kind(&self) -> Kind {
        Self::KIND
    }
    /// Whether a message of `kind` decodes to this type.
    fn accepts(kind: Kind) -> bool {
        kind == Self::KIND
    }
    /// Appends the postcard body of this value to `out`.
    fn write_body(&self, out: Vec<u8>) -> Vec<u8>;
    /// Reads a body of `kind` (one that [`Message::accepts`]).
    fn read_body(kind: Kind, body: &[u8]) -> Result<Self, DecodeError>;
}

/// A message of one kind whose body is its postcard encoding.
macro_rules! plain_message {
    ($($ty:ty => $kind:ident),* $(,)?) => {$(
        impl Message for $ty {
            const KIND: Kind = Kind::$kind;
            fn write_body(&self, out: Vec<u8>) -> Vec<u8> {
                to_body(self, out)
            }
            fn read_body(kind: Kind, body: &[u8]) -> Result<Self, DecodeError> {
                body_of(kind, body)
            }
        }
    )*};
}

plain_message!(
    Pod => Pod,
    PodStatus => PodStatus,
    NodeStatus => NodeStatus,
    Event => Event,
    Index => Index,
);

/// Kind LogsRequest: the request's fields; kind LogsFollow: the same, then the Follow.
impl Message for LogsRequest {
    const KIND: Kind = Kind::LogsRequest;
    fn kind(&self) -> Kind {
        match self.follow {
            None => Kind::LogsRequest,
            Some(_) => Kind::LogsFollow,
        }
    }
    fn accepts(kind: Kind) -> bool {
        matches!(kind, Kind::LogsRequest | Kind::LogsFollow)
    }
    fn write_body(&self, out: Vec<u8>) -> Vec<u8> {
        // `follow` is not among the serialized fields of LogsRequest.
        match &self.follow {
            None => to_body(self, out),
            Some(f) => to_body(&(self, f), out),
        }
    }
    fn read_body(kind: Kind, body: &[u8]) -> Result<Self, DecodeError> {
        if kind == Kind::LogsRequest {
            return body_of(kind, body);
        }
        let (mut request, follow): (LogsRequest, Follow) = body_of(kind, body)?;
        request.follow = Some(follow);
        Ok(request)
    }
}

/// Kind LogsResponse: the id, then the result (Text or Error); kind LogsChunk: the id,
/// then the LogChunk, with no variant index.
impl Message for LogsResponse {
    const KIND: Kind = Kind::LogsResponse;
    fn kind(&self) -> Kind {
        match self.result {
            LogsResult::Chunk(_) => Kind::LogsChunk,
            LogsResult::Text(_) | LogsResult::Error(_) => Kind::LogsResponse,
        }
    }
    fn accepts(kind: Kind) -> bool {
        matches!(kind, Kind::LogsResponse | Kind::LogsChunk)
    }
    fn write_body(&self, out: Vec<u8>) -> Vec<u8> {
        match &self.result {
            LogsResult::Chunk(c) => to_body(&(&self.id, c), out),
            LogsResult::Text(_) | LogsResult::Error(_) => to_body(self, out),
        }
    }
    fn read_body(kind: Kind, body: &[u8]) -> Result<Self, DecodeError> {
        if kind == Kind::LogsResponse {
            // The Chunk variant is skipped by serde: its index does not decode here.
            return body_of(kind, body);
        }
        let (id, chunk): (Short, LogChunk) = body_of(kind, body)?;
        Ok(LogsResponse {
            id,
            result: LogsResult::Chunk(chunk),
        })
    }
}

/// Any message, as told by its envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnyMessage {
    Pod(Pod),
    PodStatus(PodStatus),
    NodeStatus(NodeStatus),
    Event(Event),
    Index(Index),
    LogsRequest(LogsRequest),
    LogsResponse(LogsResponse),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("empty payload")]
    Empty,
    #[error("payload of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    #[error("unsupported format version {0} (this pealet reads version {FORMAT_VERSION})")]
    UnsupportedVersion(u8),
    #[error("unknown message kind {0}")]
    UnknownKind(u8),
    #[error("expected a {expected} message, got a {got}", expected = expected.as_str(), got = got.as_str())]
    WrongKind { expected: Kind, got: Kind },
    #[error("a list has {got} items, more than the limit of {max}")]
    TooManyItems { max: usize, got: usize },
    #[error("a string has {got} bytes, more than the limit of {max}")]
    StringTooLong { max: usize, got: usize },
    #[error("payload ends in the middle of a {0} message")]
    Truncated(&'static str),
    #[error("malformed {kind} message: {what}", kind = kind.as_str())]
    Malformed { kind: Kind, what: &'static str },
    #[error("{0} bytes left over after the message")]
    TrailingBytes(usize),
    #[error("compressed {kind} body expands to {len} bytes, over the limit of {max} bytes", kind = kind.as_str())]
    ExpandsTooFar { kind: Kind, len: usize, max: usize },
    #[error("corrupt compressed {kind} body: {what}", kind = kind.as_str())]
    Corrupt { kind: Kind, what: &'static str },
}

/// Encodes `msg` in its envelope, compressed when that is smaller.
pub fn encode<M: Message>(msg: &M) -> Vec<u8> {
    let raw = encode_uncompressed(msg);
    let packed = pack::compress(&raw[2..]);
    if packed.len() >= raw.len() - 2 {
        return raw;
    }
    let mut out = Vec::with_capacity(2 + packed.len());
    out.extend_from_slice(&[FORMAT_VERSION, msg.kind() as u8 | COMPRESSED]);
    out.extend_from_slice(&packed);
    out
}

/// Encodes `msg` in its envelope without compression: what `encode` falls back to, and
/// the layout that docs/wire-format.md describes field by field.
pub fn encode_uncompressed<M: Message>(msg: &M) -> Vec<u8> {
    msg.write_body(vec![FORMAT_VERSION, msg.kind() as u8])
}

/// Appends the postcard encoding of `value` to `out`.
fn to_body<T: Serialize + ?Sized>(value: &T, out: Vec<u8>) -> Vec<u8> {
    let envelope = out.get(..2).map(<[u8]>::to_vec).unwrap_or_default();
    // Serializing into a Vec only fails on an allocation failure, which aborts anyway.
    postcard::to_extend(value, out).unwrap_or(envelope)
}

/// Decodes a message of type `M`, with the default payload limit.
pub fn decode<M: Message>(bytes: &[u8]) -> Result<M, DecodeError> {
    decode_limited(bytes, MAX_PAYLOAD)
}

/// Decodes a message of type `M` no longer than `max` bytes.
pub fn decode_limited<M: Message>(bytes: &[u8], max: usize) -> Result<M, DecodeError> {
    let (kind, body) = envelope(bytes, max)?;
    if !M::accepts(kind) {
        return Err(DecodeError::WrongKind {
            expected: M::KIND,
            got: kind,
        });
    }
    M::read_body(kind, &body)
}

/// Decodes whatever message `bytes` holds.
pub fn decode_any(bytes: &[u8]) -> Result<AnyMessage, DecodeError> {
    let (kind, body) = envelope(bytes, MAX_PAYLOAD)?;
    let body = &*body;
    Ok(match kind {
        Kind::Pod => AnyMessage::Pod(body_of(kind, body)?),
        Kind::PodStatus => AnyMessage::PodStatus(body_of(kind, body)?),
        Kind::NodeStatus => AnyMessage::NodeStatus(body_of(kind, body)?),
        Kind::Event => AnyMessage::Event(body_of(kind, body)?),
        Kind::Index => AnyMessage::Index(body_of(kind, body)?),
        Kind::LogsRequest | Kind::LogsFollow => {
            AnyMessage::LogsRequest(LogsRequest::read_body(kind, body)?)
        }
        Kind::LogsResponse | Kind::LogsChunk => {
            AnyMessage::LogsResponse(LogsResponse::read_body(kind, body)?)
        }
    })
}

/// Reads the envelope; returns the kind and the postcard body, decompressed if need be
/// (to at most `max` bytes with the envelope, the size of an uncompressed message).
fn envelope(bytes: &[u8], max: usize) -> Result<(Kind, Cow<'_, [u8]>), DecodeError> {
    if bytes.len() > max {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            max,
        });
    }
    let (&version, rest) = bytes.split_first().ok_or(DecodeError::Empty)?;
    if version != FORMAT_VERSION {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    let (&kind, body) = rest
        .split_first()
        .ok_or(DecodeError::Truncated("envelope"))?;
    let compressed = kind & COMPRESSED != 0;
    let kind = Kind::from_byte(kind & !COMPRESSED).ok_or(DecodeError::UnknownKind(kind))?;
    if !compressed {
        return Ok((kind, Cow::Borrowed(body)));
    }
    match pack::decompress(body, max.saturating_sub(2)) {
        Ok(body) => Ok((kind, Cow::Owned(body))),
        Err(e) => Err(match e {
            pack::Error::Truncated => DecodeError::Truncated(kind.as_str()),
            pack::Error::TooLarge { len, max } => DecodeError::ExpandsTooFar { kind, len, max },
            pack::Error::Corrupt(what) => DecodeError::Corrupt { kind, what },
            pack::Error::Trailing(n) => DecodeError::TrailingBytes(n),
        }),
    }
}

fn body_of<T: DeserializeOwned>(kind: Kind, body: &[u8]) -> Result<T, DecodeError> {
    take_limit_hit();
    match postcard::take_from_bytes::<T>(body) {
        Ok((msg, [])) => Ok(msg),
        Ok((_, rest)) => Err(DecodeError::TrailingBytes(rest.len())),
        Err(e) => Err(match take_limit_hit() {
            Some(LimitHit {
                what: LimitKind::Items,
                max,
                got,
            }) => DecodeError::TooManyItems { max, got },
            Some(LimitHit {
                what: LimitKind::Bytes,
                max,
                got,
            }) => DecodeError::StringTooLong { max, got },
            None => postcard_error(kind, e),
        }),
    }
}

fn postcard_error(kind: Kind, e: postcard::Error) -> DecodeError {
    use postcard::Error as P;
    let what = match e {
        P::DeserializeUnexpectedEnd => return DecodeError::Truncated(kind.as_str()),
        P::DeserializeBadVarint => "bad varint",
        P::DeserializeBadBool => "bad bool",
        P::DeserializeBadChar => "bad char",
        P::DeserializeBadUtf8 => "string is not UTF-8",
        P::DeserializeBadOption => "bad option tag",
        P::DeserializeBadEnum => "unknown enum variant",
        P::DeserializeBadEncoding => "bad encoding",
        _ => "invalid value",
    };
    DecodeError::Malformed { kind, what }
}
