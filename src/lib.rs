//! pealet: a kubelet and a container runtime in one small static binary.
//!
//! This crate holds the wire types and manifest reader (`spec`) and the command line
//! (`cli`). See ARCHITECTURE.md for the map and the invariants.

#![deny(unsafe_code)]

pub mod agent;
pub mod cli;
pub mod config;
pub mod desired;
pub mod http1;
pub mod images;
pub mod lifecycle;
pub mod mqtt;
pub mod reconcile;
pub mod runtime;
pub mod shim;
pub mod spec;
pub mod store;
pub mod sys;
pub mod trust;
pub mod wake;
