//! Pulling images from OCI registries into the store, and image garbage collection.
//!
//! [`pull`] resolves a reference on its registry (mirrors first), picks this device's
//! platform from an index, streams the missing layers to disk while their digest is
//! checked (resuming interrupted downloads with Range requests), unpacks them through
//! the same safe extractor as `import`, and records the image. [`gc`] removes unused
//! images, least recently used first. Everything here is blocking; the agent runs it on
//! a thread of its own.

pub mod auth;
pub mod blob;
mod body;
pub mod config;
pub mod distribution;
pub mod flags;
pub mod gc;
pub mod http;
pub mod platform;
pub mod pull;
pub mod tls;
pub mod url;

pub use auth::Credentials;
pub use config::{Registries, RegistryConfig};
pub use flags::RegistryFlags;
pub use gc::{GcPolicy, GcReport, collect, prune};
pub use platform::Platform;
pub use pull::{Progress, PullError, PullOptions, Pulled, pull};
