//! The single integration-test binary: the `pealet` command as a user runs it, the wire
//! format's guarantees, and the repository's invariants.

mod agent;
mod cgroup;
mod cli;
mod images;
mod mqtt;
mod node_name;
mod pod;
mod runtime;
mod tidy;
mod wan;
mod wire;
