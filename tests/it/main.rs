//! The single integration-test binary: the `pealet` command as a user runs it, the wire
//! format's guarantees, and the repository's invariants.

mod cgroup;
mod cli;
mod mqtt;
mod runtime;
mod tidy;
mod wire;
