//! The per-pod shim.

pub mod build;
pub mod env;
pub mod event;
pub mod logs;
pub mod policy;
pub mod proto;
pub mod state;
pub mod user;
