//! The container runtime: pod sandboxes, container processes and their set-up.

pub mod caps;
pub mod config;
pub mod init;
pub mod resolve;
pub mod sandbox;
