//! Wire types to a [`Node`] tree in Kubernetes field names, as `kubectl get -o yaml`
//! shows them: a pod becomes a Pod manifest that reads back into the same [`Pod`].
//!
//! Defaults that the wire types hold as plain values print as Kubernetes shows them
//! (`imagePullPolicy`, `protocol: TCP`, probe timings and thresholds, `scheme: HTTP`,
//! `hostPath.type: ""`), and so do `terminationMessagePath`/`Policy`, which a reader folds
//! back. Optional fields print only when set (`namespace`, `terminationGracePeriodSeconds`,
//! `httpGet.path`): printing their default would read back as a different, explicit
//! value. Absent optional parts are left out, present but empty ones print as `{}`.
//! Statuses, nodes and events use Kubernetes names where Kubernetes has one; times print
//! as RFC 3339.

use super::node::{Node, Value};
use crate::spec::codec::AnyMessage;
use crate::spec::quantity::{format_bytes, format_cpu};
use crate::spec::{
    Container, EnvValue, FieldRef, Key, Pod, PodSecurityContext, PodSpec, ResourceList, Resources,
    StorageMedium, TerminationMessagePolicy, Volume, VolumeSource,
};

/// Any message, by its kind.
pub fn message(m: &AnyMessage) -> Node {
    match m {
        AnyMessage::Pod(p) => pod(p),
        AnyMessage::PodStatus(st) => pod_status(st),
        AnyMessage::NodeStatus(n) => node_status(n),
        AnyMessage::Event(e) => event(e),
        AnyMessage::Index(ix) => index(ix),
        AnyMessage::LogsRequest(r) => logs::logs_request(r),
        AnyMessage::LogsResponse(r) => logs::logs_response(r),
    }
}

/// A Pod manifest: `apiVersion`, `kind`, `metadata`, `spec`.
pub fn pod(pod: &Pod) -> Node {
    let metadata = Map::new()
        .put("name", s(&pod.name))
        .opt("namespace", pod.namespace.as_deref().map(s))
        .opt("uid", pod.uid.as_deref().map(s))
        .some("labels", !pod.labels.is_empty(), || key_map(&pod.labels))
        .some("annotations", !pod.annotations.is_empty(), || {
            key_map(&pod.annotations)
        });
    Map::new()
        .put("apiVersion", s("v1"))
        .put("kind", s("Pod"))
        .put("metadata", metadata.done())
        .put("spec", pod_spec(&pod.spec))
        .done()
}

fn key_map<V: std::ops::Deref<Target = str>>(entries: &[(Key, V)]) -> Node {
    let entries = entries.iter().map(|(k, v)| (k.as_str().to_owned(), s(v)));
    Node::new(Value::Map(entries.collect()))
}

fn pod_spec(spec: &PodSpec) -> Node {
    let host = spec.host;
    Map::new()
        .some("initContainers", !spec.init_containers.is_empty(), || {
            list(&spec.init_containers, container)
        })
        .put("containers", list(&spec.containers, container))
        .some("volumes", !spec.volumes.is_empty(), || {
            list(&spec.volumes, volume)
        })
        .put("restartPolicy", s(spec.restart_policy.as_str()))
        .opt(
            "terminationGracePeriodSeconds",
            spec.termination_grace_period_seconds.map(uint),
        )
        .opt(
            "activeDeadlineSeconds",
            spec.active_deadline_seconds.map(uint),
        )
        .some("hostNetwork", host.network, || bool(true))
        .some("hostPID", host.pid, || bool(true))
        .some("hostIPC", host.ipc, || bool(true))
        .some(
            "shareProcessNamespace",
            host.share_process_namespace,
            || bool(true),
        )
        .opt(
            "securityContext",
            spec.security_context.as_ref().map(pod_security),
        )
        .opt("hostname", spec.hostname.as_deref().map(s))
        .some("hostAliases", !spec.host_aliases.is_empty(), || {
            list(&spec.host_aliases, |a| {
                Map::new()
                    .put("ip", s(&a.ip.to_string()))
                    .put("hostnames", list(&a.hostnames, |h| s(h)))
                    .done()
            })
        })
        .done()
}

fn pod_security(sc: &PodSecurityContext) -> Node {
    Map::new()
        .opt("runAsUser", sc.run_as_user.map(uint))
        .opt("runAsGroup", sc.run_as_group.map(uint))
        .opt("runAsNonRoot", sc.run_as_non_root.map(bool))
        .some(
            "supplementalGroups",
            !sc.supplemental_groups.is_empty(),
            || list(&sc.supplemental_groups, |g| uint(*g)),
        )
        .opt("fsGroup", sc.fs_group.map(uint))
        .some("sysctls", !sc.sysctls.is_empty(), || {
            list(&sc.sysctls, |x| {
                Map::new()
                    .put("name", s(&x.name))
                    .put("value", s(&x.value))
                    .done()
            })
        })
        .opt(
            "seccompProfile",
            sc.seccomp_profile.as_ref().map(handlers::profile),
        )
        .opt(
            "appArmorProfile",
            sc.app_armor_profile.as_ref().map(handlers::profile),
        )
        .done()
}

fn volume(v: &Volume) -> Node {
    let source = match &v.source {
        VolumeSource::EmptyDir { medium, size_limit } => {
            let medium = (*medium == StorageMedium::Memory).then(|| s("Memory"));
            let size = size_limit.map(|b| s(&format_bytes(b)));
            (
                "emptyDir",
                Map::new()
                    .opt("medium", medium)
                    .opt("sizeLimit", size)
                    .done(),
            )
        }
        VolumeSource::HostPath { path, kind } => (
            "hostPath",
            Map::new()
                .put("path", s(path))
                .put("type", s(kind.as_str()))
                .done(),
        ),
    };
    Map::new()
        .put("name", s(&v.name))
        .put(source.0, source.1)
        .done()
}

fn container(c: &Container) -> Node {
    let (path, policy) = match &c.termination_message {
        Some(t) => (t.path.as_str(), t.policy),
        None => (
            crate::spec::DEFAULT_TERMINATION_MESSAGE_PATH,
            TerminationMessagePolicy::File,
        ),
    };
    let policy = match policy {
        TerminationMessagePolicy::File => "File",
        TerminationMessagePolicy::FallbackToLogsOnError => "FallbackToLogsOnError",
    };
    Map::new()
        .put("name", s(&c.name))
        .put("image", s(&c.image))
        .some("command", !c.command.is_empty(), || {
            list(&c.command, |a| s(a))
        })
        .some("args", !c.args.is_empty(), || list(&c.args, |a| s(a)))
        .opt("workingDir", c.working_dir.as_deref().map(s))
        .some("ports", !c.ports.is_empty(), || {
            list(&c.ports, |p| {
                Map::new()
                    .opt("name", p.name.as_deref().map(s))
                    .put("containerPort", uint(p.container_port))
                    .opt("hostPort", p.host_port.map(uint))
                    .put("protocol", s(p.protocol.as_str()))
                    .done()
            })
        })
        .some("env", !c.env.is_empty(), || {
            list(&c.env, |e| {
                Map::new()
                    .put("name", s(&e.name))
                    .put_pair(env_value(&e.value))
                    .done()
            })
        })
        .opt("resources", c.resources.as_ref().map(resources))
        .opt("restartPolicy", c.restart_policy.map(|_| s("Always")))
        .some("volumeMounts", !c.volume_mounts.is_empty(), || {
            list(&c.volume_mounts, |m| {
                Map::new()
                    .put("name", s(&m.name))
                    .put("mountPath", s(&m.mount_path))
                    .some("readOnly", m.read_only, || bool(true))
                    .opt("subPath", m.sub_path.as_deref().map(s))
                    .done()
            })
        })
        .opt("livenessProbe", c.liveness_probe.as_ref().map(probe))
        .opt("readinessProbe", c.readiness_probe.as_ref().map(probe))
        .opt("startupProbe", c.startup_probe.as_ref().map(probe))
        .opt(
            "lifecycle",
            c.lifecycle.as_ref().map(|l| {
                Map::new()
                    .opt("postStart", l.post_start.as_ref().map(lifecycle_handler))
                    .opt("preStop", l.pre_stop.as_ref().map(lifecycle_handler))
                    .done()
            }),
        )
        .put("terminationMessagePath", s(path))
        .put("terminationMessagePolicy", s(policy))
        .put("imagePullPolicy", s(c.image_pull_policy.as_str()))
        .opt("securityContext", c.security_context.as_ref().map(security))
        .done()
}

fn env_value(v: &EnvValue) -> (&'static str, Node) {
    let field_path = |f: &FieldRef| match f {
        FieldRef::Name => "metadata.name".to_owned(),
        FieldRef::Namespace => "metadata.namespace".to_owned(),
        FieldRef::Uid => "metadata.uid".to_owned(),
        FieldRef::Label(k) => format!("metadata.labels['{k}']"),
        FieldRef::Annotation(k) => format!("metadata.annotations['{k}']"),
        FieldRef::NodeName => "spec.nodeName".to_owned(),
        FieldRef::PodIp => "status.podIP".to_owned(),
        FieldRef::HostIp => "status.hostIP".to_owned(),
    };
    let from = match v {
        EnvValue::Value(text) => return ("value", s(text)),
        EnvValue::FieldRef(f) => {
            let r = Map::new()
                .put("apiVersion", s("v1"))
                .put("fieldPath", s(&field_path(f)));
            ("fieldRef", r.done())
        }
        EnvValue::ResourceFieldRef(r) => {
            let divisor = |d: u64| {
                s(&if r.resource.is_cpu() {
                    format_cpu(d)
                } else {
                    format_bytes(d)
                })
            };
            let r = Map::new()
                .opt("containerName", r.container_name.as_deref().map(s))
                .put("resource", s(r.resource.as_str()))
                .opt("divisor", r.divisor.map(divisor));
            ("resourceFieldRef", r.done())
        }
    };
    ("valueFrom", Map::new().put(from.0, from.1).done())
}

fn resources(r: &Resources) -> Node {
    let list = |l: &ResourceList| {
        Map::new()
            .opt("cpu", l.cpu.map(|m| s(&format_cpu(m))))
            .opt("memory", l.memory.map(|b| s(&format_bytes(b))))
            .opt(
                "ephemeral-storage",
                l.ephemeral_storage.map(|b| s(&format_bytes(b))),
            )
    };
    let (limits, requests) = (list(&r.limits), list(&r.requests));
    Map::new()
        .some("limits", !limits.0.is_empty(), || limits.done())
        .some("requests", !requests.0.is_empty(), || requests.done())
        .done()
}

mod handlers;
mod logs;
mod status;
use handlers::{lifecycle_handler, probe, security};
pub use status::{event, index, node_status, pod_status};

/// A mapping under construction, in insertion order.
struct Map(Vec<(String, Node)>);

impl Map {
    fn new() -> Map {
        Map(Vec::new())
    }

    fn put(mut self, key: &str, value: Node) -> Map {
        self.0.push((key.to_owned(), value));
        self
    }

    fn put_pair(self, (key, value): (&str, Node)) -> Map {
        self.put(key, value)
    }

    fn opt(self, key: &str, value: Option<Node>) -> Map {
        match value {
            Some(v) => self.put(key, v),
            None => self,
        }
    }

    fn some(self, key: &str, present: bool, value: impl FnOnce() -> Node) -> Map {
        if present {
            self.put(key, value())
        } else {
            self
        }
    }

    fn done(self) -> Node {
        Node::new(Value::Map(self.0))
    }
}

fn s(v: &str) -> Node {
    Node::new(Value::Str(v.to_owned()))
}

fn bool(b: bool) -> Node {
    Node::new(Value::Bool(b))
}

/// An unsigned number; beyond `i64::MAX` (never valid in Kubernetes) it saturates.
fn uint(n: impl Into<u64>) -> Node {
    Node::new(Value::Int(i64::try_from(n.into()).unwrap_or(i64::MAX)))
}

fn list<T>(items: &[T], f: impl Fn(&T) -> Node) -> Node {
    Node::new(Value::Seq(items.iter().map(f).collect()))
}

#[cfg(test)]
mod tests;
