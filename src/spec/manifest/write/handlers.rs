//! Probes, lifecycle handlers and security contexts of a container, in Kubernetes names.

use super::{Map, bool, list, s, uint};
use crate::spec::bounded::Text;
use crate::spec::manifest::node::Node;
use crate::spec::{
    HttpGet, LifecycleHandler, PortRef, Probe, ProbeHandler, SecurityContext, SecurityProfile,
};

pub(super) fn probe(p: &Probe) -> Node {
    let handler = match &p.handler {
        ProbeHandler::Exec { command } => ("exec", exec(command)),
        ProbeHandler::HttpGet(h) => ("httpGet", http_get(h)),
        ProbeHandler::TcpSocket { host, port } => (
            "tcpSocket",
            Map::new()
                .opt("host", host.as_deref().map(s))
                .put("port", port_ref(port))
                .done(),
        ),
    };
    Map::new()
        .put(handler.0, handler.1)
        .some("initialDelaySeconds", p.initial_delay_seconds != 0, || {
            uint(p.initial_delay_seconds)
        })
        .put("timeoutSeconds", uint(p.timeout_seconds))
        .put("periodSeconds", uint(p.period_seconds))
        .put("successThreshold", uint(p.success_threshold))
        .put("failureThreshold", uint(p.failure_threshold))
        .opt(
            "terminationGracePeriodSeconds",
            p.termination_grace_period_seconds.map(uint),
        )
        .done()
}

pub(super) fn lifecycle_handler(h: &LifecycleHandler) -> Node {
    let (key, value) = match h {
        LifecycleHandler::Exec { command } => ("exec", exec(command)),
        LifecycleHandler::HttpGet(h) => ("httpGet", http_get(h)),
        LifecycleHandler::Sleep { seconds } => {
            ("sleep", Map::new().put("seconds", uint(*seconds)).done())
        }
    };
    Map::new().put(key, value).done()
}

fn exec(command: &[Text]) -> Node {
    Map::new().put("command", list(command, |a| s(a))).done()
}

fn http_get(h: &HttpGet) -> Node {
    Map::new()
        .opt("path", h.path.as_deref().map(s))
        .put("port", port_ref(&h.port))
        .opt("host", h.host.as_deref().map(s))
        .put("scheme", s(h.scheme.as_str()))
        .some("httpHeaders", !h.http_headers.is_empty(), || {
            list(&h.http_headers, |x| {
                Map::new()
                    .put("name", s(&x.name))
                    .put("value", s(&x.value))
                    .done()
            })
        })
        .done()
}

/// An IntOrString: a number stays a number, a port name a string.
fn port_ref(p: &PortRef) -> Node {
    match p {
        PortRef::Number(n) => uint(*n),
        PortRef::Name(name) => s(name),
    }
}

pub(super) fn security(sc: &SecurityContext) -> Node {
    Map::new()
        .opt(
            "capabilities",
            sc.capabilities.as_ref().map(|c| {
                Map::new()
                    .some("add", !c.add.is_empty(), || list(&c.add, |x| s(x)))
                    .some("drop", !c.drop.is_empty(), || list(&c.drop, |x| s(x)))
                    .done()
            }),
        )
        .opt("privileged", sc.privileged.map(bool))
        .opt("runAsUser", sc.run_as_user.map(uint))
        .opt("runAsGroup", sc.run_as_group.map(uint))
        .opt("runAsNonRoot", sc.run_as_non_root.map(bool))
        .opt(
            "readOnlyRootFilesystem",
            sc.read_only_root_filesystem.map(bool),
        )
        .opt(
            "allowPrivilegeEscalation",
            sc.allow_privilege_escalation.map(bool),
        )
        .opt("seccompProfile", sc.seccomp_profile.as_ref().map(profile))
        .opt(
            "appArmorProfile",
            sc.app_armor_profile.as_ref().map(profile),
        )
        .done()
}

/// `{type: Localhost, localhostProfile: NAME}`.
pub(super) fn profile(p: &SecurityProfile) -> Node {
    let (kind, localhost) = match p {
        SecurityProfile::RuntimeDefault => ("RuntimeDefault", None),
        SecurityProfile::Unconfined => ("Unconfined", None),
        SecurityProfile::Localhost(name) => ("Localhost", Some(s(name))),
    };
    Map::new()
        .put("type", s(kind))
        .opt("localhostProfile", localhost)
        .done()
}
