//! The container runtime: pod sandboxes, container processes and their set-up, cgroups.

pub mod caps;
pub mod cgroup;
pub mod config;
pub mod devices;
pub mod init;
pub mod probe;
pub mod resolve;
pub mod sandbox;
pub mod seccomp;
pub mod sysctl;
