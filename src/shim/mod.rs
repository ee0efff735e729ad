//! The per-pod shim.

pub mod event;
pub mod policy;
