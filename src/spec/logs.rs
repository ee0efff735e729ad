//! Remote logs: the request an operator publishes to a node (`pealet logs --node N`) and
//! the answer its agent publishes back, both bounded.
//!
//! The request names the pod, optionally the container, how many of the newest lines to
//! send and which instance (current or previous); the answer carries at most
//! [`MAX_LOG_TEXT`] bytes of what the container wrote (the newest lines, with a flag when
//! older ones were cut to fit), or a typed error. The answer goes to
//! `<prefix>/<node>/logs/resp/<id>`, derived from the request's id, never to a topic the
//! requester chooses (docs/wire-format.md, MQTT topics).
//!
//! A request with [`Follow`] (`pealet logs --node N -f`, its own message kind) asks for
//! the output as it comes: the agent answers with [`LogChunk`]s, numbered, each starting
//! where the one before ended ([`Cursor`]), until the pod is gone or the operator stops
//! renewing the request within [`FOLLOW_LEASE`].

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::bounded::{BoundedVec, Name, Short, Text};

/// Most bytes of log text in one answer: the payload limit (64 KiB) minus room for the
/// envelope, the id, the container name and the length prefixes.
pub const MAX_LOG_TEXT: usize = 60 * 1024;
/// Longest request id: it becomes the last level of the reply topic.
pub const MAX_REQUEST_ID: usize = 32;

/// How long an agent keeps following for an operator that has not renewed its request.
pub const FOLLOW_LEASE: Duration = Duration::from_secs(30);
/// How often an operator renews a follow: three times per lease, so that one or two
/// lost renewals do not end it.
pub const FOLLOW_RENEW: Duration = Duration::from_secs(10);

/// Asks a node's agent for the logs of one container.
///
/// Without `follow` it travels as kind LogsRequest; with it as kind LogsFollow, whose
/// body is the same fields followed by the [`Follow`] (`codec`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogsRequest {
    /// Names the answer's topic: 1 to [`MAX_REQUEST_ID`] of `[a-z0-9-]`.
    pub id: Short,
    pub pod: Name,
    /// None: the pod's only container.
    pub container: Option<Name>,
    /// The newest this many lines; None: as many as fit in [`MAX_LOG_TEXT`].
    pub tail: Option<u32>,
    /// The instance before the last restart.
    pub previous: bool,
    /// Each line starts with its RFC 3339 time.
    pub timestamps: bool,
    /// Keep sending new output: not part of the LogsRequest body (see above).
    #[serde(skip)]
    pub follow: Option<Follow>,
}

/// What a follow request adds: where the operator's output stands. A renewal carries
/// the cursor of the last chunk received, so that an agent that no longer knows the
/// follow (it restarted, or the lease ran out) goes on from there instead of sending
/// the tail again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Follow {
    /// None: a new follow, starting with the tail of the logs.
    pub after: Option<Cursor>,
}

/// A position in a container's logs, opaque to the operator: the log file (its inode
/// number on the node) and a byte offset in it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub file: u64,
    pub offset: u64,
}

/// The answer to a [`LogsRequest`] with the same id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogsResponse {
    pub id: Short,
    pub result: LogsResult,
}

/// Text and Error travel as kind LogsResponse; Chunk, the answer to a follow, as kind
/// LogsChunk, whose body is the id followed by the [`LogChunk`] (`codec`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogsResult {
    Text(LogText),
    Error(LogsError),
    /// Not part of the LogsResponse body: a LogsResponse never decodes to it.
    #[serde(skip)]
    Chunk(LogChunk),
}

/// One answer to a follow: the output since the previous chunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogChunk {
    /// 0 for the first chunk the agent sends for this follow, then one more each time:
    /// a gap means chunks were lost on the way; 0 again means the agent started over
    /// (from the renewal's cursor).
    pub seq: u32,
    pub container: Name,
    /// The new output (bytes as written), at most [`MAX_LOG_TEXT`]; may be empty (the
    /// answer to a renewal when nothing new was written, or the last chunk).
    pub text: BoundedVec<u8, MAX_LOG_TEXT>,
    /// Output before this text was left out: older lines of the first chunk, lines
    /// over the rate limit, or output lost to rotation or a restart.
    pub skipped: bool,
    /// Where this text ends: what the next renewal carries.
    pub cursor: Cursor,
    /// The follow is over, and why; no chunk follows.
    pub end: Option<FollowEnd>,
}

/// Why a follow ended. Appended to only, with a new format version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FollowEnd {
    /// The pod was deleted.
    PodGone,
    /// The pod's spec no longer has the container.
    ContainerGone,
    /// The pod finished (its shim exited): everything it wrote has been sent.
    PodFinished,
    /// The node follows as many logs as it allows at once; nothing was sent.
    Busy,
}

impl FollowEnd {
    pub const fn as_str(self) -> &'static str {
        match self {
            FollowEnd::PodGone => "PodGone",
            FollowEnd::ContainerGone => "ContainerGone",
            FollowEnd::PodFinished => "PodFinished",
            FollowEnd::Busy => "Busy",
        }
    }
}

/// What a container wrote, newest lines last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogText {
    /// The container these are the logs of (the one chosen when the request named none).
    pub container: Name,
    /// The bytes as written (not necessarily UTF-8).
    pub text: BoundedVec<u8, MAX_LOG_TEXT>,
    /// Older lines were left out to stay within [`MAX_LOG_TEXT`].
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogsError {
    pub reason: LogsErrorReason,
    pub message: Text,
}

/// Why no logs came back. Appended to only, with a new format version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogsErrorReason {
    /// The node runs no pod of that name.
    NoSuchPod,
    /// The pod has no container of that name.
    NoSuchContainer,
    /// The pod has several containers and the request named none.
    ContainerNeeded,
    /// `previous` was asked and the container never restarted.
    NoPreviousInstance,
    /// The request does not hold (a name that is not a DNS label).
    Invalid,
    /// The log files could not be read.
    Unreadable,
}

impl LogsErrorReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            LogsErrorReason::NoSuchPod => "NoSuchPod",
            LogsErrorReason::NoSuchContainer => "NoSuchContainer",
            LogsErrorReason::ContainerNeeded => "ContainerNeeded",
            LogsErrorReason::NoPreviousInstance => "NoPreviousInstance",
            LogsErrorReason::Invalid => "Invalid",
            LogsErrorReason::Unreadable => "Unreadable",
        }
    }
}

/// Whether `id` may name a reply topic: 1 to [`MAX_REQUEST_ID`] of `[a-z0-9-]` (no MQTT
/// wildcard, no level separator).
pub fn is_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_plain_topic_levels() {
        assert!(is_request_id("1f2e-0a"));
        for bad in ["", "a/b", "+", "#", "A", &"a".repeat(MAX_REQUEST_ID + 1)] {
            assert!(!is_request_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_full_answer_fits_the_payload_limit() {
        let answer = LogsResponse {
            id: "x".repeat(MAX_REQUEST_ID).as_str().try_into().unwrap(),
            result: LogsResult::Text(LogText {
                container: super::super::bounded::name(&"c".repeat(63)).unwrap(),
                text: BoundedVec::try_from(vec![0xffu8; MAX_LOG_TEXT]).unwrap(),
                truncated: true,
            }),
        };
        let raw = super::super::codec::encode_uncompressed(&answer);
        assert!(
            raw.len() <= super::super::bounded::MAX_PAYLOAD,
            "{}",
            raw.len()
        );
        let bytes = super::super::encode(&answer);
        assert_eq!(super::super::decode::<LogsResponse>(&bytes), Ok(answer));
    }
}
