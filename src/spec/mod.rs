//! Wire types (Pod, PodStatus, NodeStatus, Event, Index, remote logs), their bounds and validation, the
//! postcard codec with its version envelope, and the Kubernetes manifest reader/writer.
//!
//! Pure logic: nothing in here touches the file system, the network or the clock
//! (except `Time::now`, which callers pass in).

pub mod bounded;
pub mod codec;
pub mod index;
pub mod logs;
pub mod manifest;
pub mod pack;
pub mod pod;
pub mod quantity;
pub mod signed;
pub mod status;
pub mod validate;

use std::fmt;

pub use codec::{AnyMessage, DecodeError, Kind, decode, decode_any, encode};
pub use index::{Index, IndexEntry};
pub use logs::{LogsRequest, LogsResponse};
pub use pod::*;
pub use status::*;

/// One problem with one field of a manifest or spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Kubernetes field path: `spec.containers[1].livenessProbe.periodSeconds`.
    pub path: String,
    /// What is wrong, lower case, no trailing period: `must be >= 1`.
    pub message: String,
}

impl FieldError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}
