//! What the shim's executor and its pod policy say to each other: [`Event`]s in,
//! [`Action`]s out, through the one call [`Policy::step`]. No I/O here.
//!
//! The executor (`run.rs`) performs actions and turns what happens (a container started,
//! exited, a timer fired, a client asked to stop) into events. The policy decides and
//! owns the pod's [`PodStatus`]. The simple policy of `policy.rs` is one implementation;
//! the lifecycle state machine replaces it where `run.rs` constructs it.

use std::time::{Duration, Instant};

use crate::spec::{PodStatus, Reason};

/// A container of the pod: its index in init containers followed by app containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContainerId(pub usize);

/// The two signals of a graceful stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sig {
    Term,
    Kill,
}

/// What a timer was set for; a timer that is no longer wanted is ignored when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// Start the container again (after a restart delay or a failed start).
    Restart(ContainerId),
    /// The grace period of a stop is over.
    Kill,
}

/// Something that happened to the pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The sandbox, volumes and pod cgroup exist: containers may start.
    SandboxReady,
    ContainerStarted {
        id: ContainerId,
    },
    ContainerStartFailed {
        id: ContainerId,
        reason: Reason,
        message: String,
    },
    ContainerExited {
        id: ContainerId,
        exit_code: i32,
        signal: Option<u8>,
        oom_killed: bool,
    },
    StopRequested {
        grace: Duration,
    },
    TimerFired(Timer),
}

/// Something the executor must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    StartContainer {
        id: ContainerId,
    },
    Signal {
        id: ContainerId,
        signal: Sig,
    },
    SetTimer {
        timer: Timer,
        at: Instant,
    },
    /// [`Policy::status`] changed: persist and publish it.
    StatusChanged,
    /// No container runs or will run again: tear the pod down.
    PodTerminated,
}

/// A pod's lifecycle as the executor sees it.
pub trait Policy {
    /// Feed one event at time `now`; the actions to perform, in order.
    fn step(&mut self, event: Event, now: Instant) -> Vec<Action>;
    /// The pod's current status.
    fn status(&self) -> &PodStatus;
}
