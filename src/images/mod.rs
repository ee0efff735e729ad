//! The local image store: content-addressed blobs, layers unpacked once, and offline import.
//!
//! Registry pulls and garbage collection come later; see ARCHITECTURE.md.

pub mod digest;
pub mod extract;
pub mod reference;
pub mod tar;
pub mod tar_write;
