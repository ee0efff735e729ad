//! The local image store: content-addressed blobs, layers unpacked once and shared, and
//! offline import of OCI layouts and archives, `docker save` archives and root filesystems.
//!
//! The runtime calls [`Store::open`] then [`Store::resolve`] to get an image's config and
//! its unpacked layer directories (base first) for the overlay `lowerdir`; it calls
//! [`registry::pull`] to fetch an image and [`registry::collect`] to free disk space.

pub mod digest;
pub mod extract;
pub mod import;
pub mod index;
pub mod layer;
pub mod oci;
pub mod paths;
pub mod reference;
pub mod registry;
pub mod source;
pub mod store;
pub mod tar;
pub mod tar_write;

pub use digest::Digest;
pub use import::{ImportOptions, Imported, import};
pub use reference::Reference;
pub use store::{ImageConfig, ImageRecord, Resolved, Store};

/// The default store root (`--root`).
pub const DEFAULT_ROOT: &str = "/var/lib/pealet";
