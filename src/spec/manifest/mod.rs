//! Kubernetes manifests: YAML (block and flow, multi-document, comments) and JSON in,
//! YAML and JSON out, always in Kubernetes field names.
//!
//! `yaml` parses text into a [`Node`] tree that remembers lines; `read` maps the tree
//! onto [`Pod`](super::Pod), collecting every problem with its field path; `write` turns
//! wire types back into a tree; `emit` prints a tree as YAML or JSON.

pub mod emit;
pub mod node;
pub mod read;
pub mod write;
pub mod yaml;

pub use node::{Node, Value};
