//! PodStatus, NodeStatus, Event and Index to trees in Kubernetes names; `probes`, `specHash`,
//! `online` and `heartbeat` are pealet's own additions.

use super::{Map, bool, list, s, uint};
use crate::spec::manifest::node::{Node, Value};
use crate::spec::quantity::{format_bytes, format_cpu};
use crate::spec::{
    ContainerState, ContainerStatus, Event, Index, NodeResources, NodeStatus, PodStatus, Reason,
    Since,
};

/// The `status` of a Pod; every offset in it printed as an absolute time.
pub fn pod_status(st: &PodStatus) -> Node {
    let conditions = st.conditions.iter().into_iter().map(|(kind, c)| {
        let detail = c.detail.as_ref();
        Map::new()
            .put("type", s(kind))
            .put("status", s(c.status.as_str()))
            .put("lastTransitionTime", time_at(st, c.last_transition))
            .opt("reason", detail.map(|d| s(d.reason.as_str())))
            .opt("message", detail.and_then(|d| d.message.as_deref()).map(s))
            .done()
    });
    let statuses = |list: &[ContainerStatus]| {
        Node::new(Value::Seq(
            list.iter().map(|c| container_status(st, c)).collect(),
        ))
    };
    Map::new()
        .put("phase", s(st.phase.as_str()))
        .put("conditions", Node::new(Value::Seq(conditions.collect())))
        .opt("reason", st.reason.as_ref().map(reason))
        .opt("message", st.message.as_deref().map(s))
        .opt("hostIP", st.host_ip.map(|ip| s(&ip.to_string())))
        .opt("podIP", st.pod_ip.map(|ip| s(&ip.to_string())))
        .put("startTime", s(&st.start_time.to_string()))
        .some(
            "initContainerStatuses",
            !st.init_container_statuses.is_empty(),
            || statuses(&st.init_container_statuses),
        )
        .some(
            "containerStatuses",
            !st.container_statuses.is_empty(),
            || statuses(&st.container_statuses),
        )
        .put("specHash", s(&st.spec_hash.to_string()))
        .done()
}

fn container_status(st: &PodStatus, c: &ContainerStatus) -> Node {
    let last_state = match &c.last_state {
        Some(state) => container_state(st, state),
        None => Map::new().done(),
    };
    Map::new()
        .put("name", s(&c.name))
        .put("state", container_state(st, &c.state))
        .put("lastState", last_state)
        .put("ready", bool(c.ready))
        .put("restartCount", uint(c.restart_count))
        .opt("imageID", c.image_id.map(|d| s(&d.to_string())))
        .opt("started", c.started.map(bool))
        .some("probes", !c.probes.is_empty(), || {
            list(&c.probes, |p| {
                Map::new()
                    .put("type", s(p.kind.as_str()))
                    .put("result", s(p.last_result.as_str()))
                    .put("consecutiveSuccesses", uint(p.consecutive_successes))
                    .put("consecutiveFailures", uint(p.consecutive_failures))
                    .opt("lastFailure", p.last_failure.as_deref().map(s))
                    .done()
            })
        })
        .done()
}

fn container_state(st: &PodStatus, state: &ContainerState) -> Node {
    let (key, value) = match state {
        ContainerState::Waiting { reason: r, message } => (
            "waiting",
            Map::new()
                .put("reason", reason(r))
                .opt("message", message.as_deref().map(s)),
        ),
        ContainerState::Running { started_at } => (
            "running",
            Map::new().put("startedAt", time_at(st, *started_at)),
        ),
        ContainerState::Terminated {
            exit_code,
            signal,
            reason: r,
            message,
            started_at,
            finished_at,
        } => (
            "terminated",
            Map::new()
                .put("exitCode", Node::new(Value::Int(i64::from(*exit_code))))
                .opt("signal", signal.map(uint))
                .put("reason", reason(r))
                .opt("message", message.as_deref().map(s))
                .put("startedAt", time_at(st, *started_at))
                .put("finishedAt", time_at(st, *finished_at)),
        ),
    };
    Map::new().put(key, value.done()).done()
}

fn reason(r: &Reason) -> Node {
    s(r.as_str())
}

/// An offset inside a status, as the absolute RFC 3339 time.
fn time_at(st: &PodStatus, since: Since) -> Node {
    s(&st.at(since).to_string())
}

/// A node: its identity, what it can run, and how it is.
pub fn node_status(n: &NodeStatus) -> Node {
    let resources = |r: &NodeResources| {
        Map::new()
            .put("cpu", s(&format_cpu(r.cpu)))
            .put("memory", s(&format_bytes(r.memory)))
            .put("pods", s(&r.pods.to_string()))
            .done()
    };
    let controllers = n.cgroup.enforced.names().map(s).collect();
    let info = Map::new()
        .put("kubeletVersion", s(&n.agent_version))
        .put("operatingSystem", s(&n.os))
        .put("architecture", s(&n.arch))
        .put("kernelVersion", s(&n.kernel))
        .put("cgroupVersion", uint(n.cgroup.version))
        .put("cgroupControllers", Node::new(Value::Seq(controllers)));
    let conditions = n.conditions.iter().into_iter().map(|(kind, c)| {
        Map::new()
            .put("type", s(kind))
            .put("status", s(c.status.as_str()))
            .opt("reason", c.reason.as_deref().map(s))
            .opt("message", c.message.as_deref().map(s))
            .put("lastTransitionTime", s(&c.last_transition.to_string()))
            .done()
    });
    Map::new()
        .put("name", s(&n.name))
        .put("online", bool(n.online))
        .put("nodeInfo", info.done())
        .put("capacity", resources(&n.capacity))
        .put("allocatable", resources(&n.allocatable))
        .put("conditions", Node::new(Value::Seq(conditions.collect())))
        .put("heartbeat", s(&n.heartbeat.to_string()))
        .done()
}

/// An Event about a pod (and a container in it) or about the node.
pub fn event(e: &Event) -> Node {
    let object = match &e.pod {
        Some(pod) => Map::new().put("kind", s("Pod")).put("name", s(pod)).opt(
            "fieldPath",
            e.container
                .as_ref()
                .map(|c| s(&format!("spec.containers{{{c}}}"))),
        ),
        None => Map::new().put("kind", s("Node")),
    };
    Map::new()
        .put("type", s(e.kind.as_str()))
        .put("reason", s(&e.reason))
        .put("involvedObject", object.done())
        .put("message", s(&e.message))
        .put("lastTimestamp", s(&e.time.to_string()))
        .put("count", uint(e.count))
        .done()
}

/// A node's index of desired pods: `pods: [{name, specHash}]` (pealet's own kind).
pub fn index(ix: &Index) -> Node {
    let pods = ix.pods.iter().map(|e| {
        Map::new()
            .put("name", s(&e.name))
            .put("specHash", s(&e.spec_hash.to_string()))
            .done()
    });
    Map::new()
        .put("pods", Node::new(Value::Seq(pods.collect())))
        .done()
}
