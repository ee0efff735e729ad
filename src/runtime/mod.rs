//! The container runtime: namespaces, rootfs, cgroups, the shim.

pub mod cgroup;
