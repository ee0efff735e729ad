//! Kubernetes validation rules for a [`Pod`]: names, uniqueness, references between
//! fields, ranges. Every problem is reported, each with its Kubernetes field path.
//!
//! Runs on pods read from manifests and on pods decoded from the wire, so it checks
//! everything on its own and assumes nothing about where a pod came from. Bounds of
//! lists and strings are held by the types themselves (`bounded`); syntax of fields
//! is the manifest reader's job. No I/O.

use std::collections::HashSet;

use super::quantity::{format_bytes, format_cpu};
use super::{
    Container, EnvValue, FieldError, HttpGet, LifecycleHandler, Pod, PortRef, Probe, ProbeHandler,
    SecurityProfile, VolumeSource,
};

/// Prints a quantity in its canonical form.
type Format = fn(u64) -> String;

/// The largest user or group id Kubernetes accepts.
pub const MAX_ID: u32 = 2_147_483_647;

const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric \
                         characters or '-', and must start and end with an alphanumeric character";
const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case \
                             alphanumeric characters, '-' or '.', and must start and end with an \
                             alphanumeric character";
const NAME_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and \
                        must start and end with an alphanumeric character";

/// Checks `pod` against the Kubernetes rules; an empty list means valid.
pub fn validate(pod: &Pod) -> Vec<FieldError> {
    let mut v = Validator::default();
    v.dns_label("metadata.name", &pod.name);
    if let Some(ns) = &pod.namespace {
        v.dns_label("metadata.namespace", ns);
    }
    for (key, value) in &pod.labels {
        let p = format!("metadata.labels[{}]", key.as_str());
        v.qualified_name(&p, key);
        v.label_value(&p, value);
    }
    for (key, _) in &pod.annotations {
        v.qualified_name(&format!("metadata.annotations[{}]", key.as_str()), key);
    }
    v.spec(pod);
    v.errors
}

#[derive(Default)]
struct Validator {
    errors: Vec<FieldError>,
}

/// Where a container sits: `spec.initContainers[0]`, and whether it is a regular init
/// container (not a sidecar).
struct Place<'a> {
    path: String,
    c: &'a Container,
    init: bool,
}

impl Validator {
    fn err(&mut self, path: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(path, message));
    }

    fn check(&mut self, ok: bool, path: &str, message: &str) {
        if !ok {
            self.err(path, message);
        }
    }

    fn dns_label(&mut self, path: &str, s: &str) {
        if s.is_empty() {
            self.err(path, "required value");
        } else if s.len() > 63 {
            self.err(path, "must be no more than 63 characters");
        } else if !is_dns_label(s) {
            self.err(path, format!("invalid value {s:?}: {LABEL_MSG}"));
        }
    }

    fn dns_subdomain(&mut self, path: &str, s: &str) {
        if s.len() > 253 {
            self.err(path, "must be no more than 253 characters");
        } else if s.is_empty() || !s.split('.').all(is_dns_label) {
            self.err(path, format!("invalid value {s:?}: {SUBDOMAIN_MSG}"));
        }
    }

    /// A label or annotation key: `[prefix/]name`.
    fn qualified_name(&mut self, path: &str, key: &str) {
        let (prefix, name) = match key.split_once('/') {
            Some((prefix, name)) => (Some(prefix), name),
            None => (None, key),
        };
        if let Some(prefix) = prefix {
            self.dns_subdomain(path, prefix);
        }
        if name.is_empty() || name.len() > 63 || !is_label_name(name) {
            self.err(
                path,
                format!("invalid key {key:?}: {NAME_MSG}, at most 63 characters"),
            );
        }
    }

    fn label_value(&mut self, path: &str, value: &str) {
        if !value.is_empty() && (value.len() > 63 || !is_label_name(value)) {
            self.err(path, format!("invalid value {value:?}: a label value must be empty or consist of alphanumeric characters, '-', '_' or '.', start and end with an alphanumeric character, at most 63 characters"));
        }
    }

    fn id(&mut self, path: &str, id: Option<u32>) {
        if id.is_some_and(|id| id > MAX_ID) {
            self.err(path, format!("must be <= {MAX_ID}"));
        }
    }

    fn spec(&mut self, pod: &Pod) {
        let spec = &pod.spec;
        if spec.containers.is_empty() {
            self.err("spec.containers", "required value");
        }
        let mut volumes = HashSet::new();
        for (i, vol) in spec.volumes.iter().enumerate() {
            let p = format!("spec.volumes[{i}]");
            self.dns_label(&format!("{p}.name"), &vol.name);
            if !vol.name.is_empty() && !volumes.insert(vol.name.as_str()) {
                self.err(
                    &format!("{p}.name"),
                    format!("duplicate value {:?}", vol.name.as_str()),
                );
            }
            if let VolumeSource::HostPath { path, .. } = &vol.source {
                self.check(
                    path.starts_with('/'),
                    &format!("{p}.hostPath.path"),
                    "must be an absolute path",
                );
            }
        }
        let places: Vec<Place> = (spec.init_containers.iter().enumerate())
            .map(|(i, c)| Place {
                path: format!("spec.initContainers[{i}]"),
                c,
                init: true,
            })
            .chain(spec.containers.iter().enumerate().map(|(i, c)| Place {
                path: format!("spec.containers[{i}]"),
                c,
                init: false,
            }))
            .collect();
        let names: HashSet<&str> = places.iter().map(|p| p.c.name.as_str()).collect();
        let mut seen = HashSet::new();
        for place in &places {
            let name = place.c.name.as_str();
            if !name.is_empty() && !seen.insert(name) {
                self.err(
                    &format!("{}.name", place.path),
                    format!("duplicate value {name:?}"),
                );
            }
            self.container(place, &volumes, &names, spec.host.network);
        }
        if let Some(h) = &spec.hostname {
            self.dns_label("spec.hostname", h);
        }
        for (i, alias) in spec.host_aliases.iter().enumerate() {
            let p = format!("spec.hostAliases[{i}].hostnames");
            if alias.hostnames.is_empty() {
                self.err(&p, "required value");
            }
            for (j, h) in alias.hostnames.iter().enumerate() {
                self.dns_subdomain(&format!("{p}[{j}]"), h);
            }
        }
        if spec.active_deadline_seconds == Some(0) {
            self.err("spec.activeDeadlineSeconds", "must be >= 1");
        }
        if let Some(sc) = &spec.security_context {
            let p = "spec.securityContext";
            self.id(&format!("{p}.runAsUser"), sc.run_as_user);
            self.id(&format!("{p}.runAsGroup"), sc.run_as_group);
            self.id(&format!("{p}.fsGroup"), sc.fs_group);
            for (i, g) in sc.supplemental_groups.iter().enumerate() {
                self.id(&format!("{p}.supplementalGroups[{i}]"), Some(*g));
            }
            let mut seen = HashSet::new();
            for (i, s) in sc.sysctls.iter().enumerate() {
                let path = format!("{p}.sysctls[{i}].name");
                if s.name.is_empty() {
                    self.err(&path, "required value");
                } else if !sysctl_name(&s.name) {
                    self.err(
                        &path,
                        format!("invalid value {:?}: not a sysctl name", &*s.name),
                    );
                } else if !seen.insert(s.name.replace('/', ".")) {
                    self.err(&path, format!("duplicate value {:?}", &*s.name));
                }
            }
            self.profiles(
                p,
                sc.seccomp_profile.as_ref(),
                sc.app_armor_profile.as_ref(),
            );
        }
    }

    fn container(
        &mut self,
        at: &Place,
        volumes: &HashSet<&str>,
        names: &HashSet<&str>,
        host_network: bool,
    ) {
        let (c, path) = (at.c, at.path.as_str());
        self.dns_label(&format!("{path}.name"), &c.name);
        if c.image.is_empty() {
            self.err(&format!("{path}.image"), "required value");
        } else if c.image.trim() != c.image.as_str() {
            self.err(
                &format!("{path}.image"),
                "must not have leading or trailing whitespace",
            );
        }
        if c.restart_policy.is_some() && !at.init {
            self.err(
                &format!("{path}.restartPolicy"),
                "may not be set for non-init containers",
            );
        }
        let regular_init = at.init && !c.is_sidecar();
        let probes = [
            ("livenessProbe", &c.liveness_probe),
            ("readinessProbe", &c.readiness_probe),
            ("startupProbe", &c.startup_probe),
        ];
        for (field, probe) in probes {
            let Some(probe) = probe else { continue };
            let p = format!("{path}.{field}");
            if regular_init {
                self.err(
                    &p,
                    "may not be set for init containers without restartPolicy=Always",
                );
            } else {
                self.probe(&p, probe, field != "readinessProbe", c);
            }
        }
        if let Some(l) = &c.lifecycle {
            let hooks = [("postStart", &l.post_start), ("preStop", &l.pre_stop)];
            if regular_init {
                self.err(
                    &format!("{path}.lifecycle"),
                    "may not be set for init containers without restartPolicy=Always",
                );
            } else {
                for (field, hook) in hooks {
                    let p = format!("{path}.lifecycle.{field}");
                    match hook {
                        Some(LifecycleHandler::Exec { command }) => {
                            self.check(
                                !command.is_empty(),
                                &format!("{p}.exec.command"),
                                "required value",
                            );
                        }
                        Some(LifecycleHandler::HttpGet(h)) => {
                            self.http_get(&format!("{p}.httpGet"), h, c)
                        }
                        Some(LifecycleHandler::Sleep { .. }) | None => {}
                    }
                }
            }
        }
        self.ports(path, c, host_network);
        let mut mount_paths = HashSet::new();
        for (i, m) in c.volume_mounts.iter().enumerate() {
            let p = format!("{path}.volumeMounts[{i}]");
            if m.name.is_empty() {
                self.err(&format!("{p}.name"), "required value");
            } else if !volumes.contains(m.name.as_str()) {
                self.err(
                    &format!("{p}.name"),
                    format!("not found {:?}", m.name.as_str()),
                );
            }
            let mp = format!("{p}.mountPath");
            if m.mount_path.is_empty() {
                self.err(&mp, "required value");
            } else if !m.mount_path.starts_with('/') {
                self.err(&mp, "must be an absolute path");
            } else if !mount_paths.insert(m.mount_path.as_str()) {
                self.err(&mp, "must be unique");
            }
            if let Some(sub) = &m.sub_path {
                let sp = format!("{p}.subPath");
                self.check(!sub.starts_with('/'), &sp, "must be a relative path");
                self.check(
                    !sub.split('/').any(|part| part == ".."),
                    &sp,
                    "must not contain '..'",
                );
            }
        }
        for (i, e) in c.env.iter().enumerate() {
            let p = format!("{path}.env[{i}]");
            if e.name.is_empty() {
                self.err(&format!("{p}.name"), "required value");
            } else if !e
                .name
                .bytes()
                .all(|b| (b' '..=b'~').contains(&b) && b != b'=')
            {
                let msg = "a valid environment variable name must consist only of printable ASCII characters other than '='";
                self.err(
                    &format!("{p}.name"),
                    format!("invalid value {:?}: {msg}", e.name.as_str()),
                );
            }
            if let EnvValue::ResourceFieldRef(r) = &e.value {
                let p = format!("{p}.valueFrom.resourceFieldRef");
                if let Some(name) = &r.container_name {
                    if !names.contains(name.as_str()) {
                        self.err(
                            &format!("{p}.containerName"),
                            format!("not found {:?}", name.as_str()),
                        );
                    }
                }
                match r.divisor {
                    Some(d) if r.resource.is_cpu() && d != 1 && d != 1000 => {
                        self.err(
                            &format!("{p}.divisor"),
                            "only divisor's values 1m and 1 are supported with the cpu resource",
                        );
                    }
                    Some(0) => self.err(&format!("{p}.divisor"), "must be > 0"),
                    _ => {}
                }
            }
        }
        if let Some(r) = &c.resources {
            let (req, lim) = (&r.requests, &r.limits);
            let pairs: [(&str, Option<u64>, Option<u64>, Format); 3] = [
                ("cpu", req.cpu, lim.cpu, format_cpu),
                ("memory", req.memory, lim.memory, format_bytes),
                (
                    "ephemeral-storage",
                    req.ephemeral_storage,
                    lim.ephemeral_storage,
                    format_bytes,
                ),
            ];
            for (name, req, lim, fmt) in pairs {
                if let (Some(req), Some(lim)) = (req, lim) {
                    if req > lim {
                        let (req, lim) = (fmt(req), fmt(lim));
                        let msg = format!(
                            "invalid value {req:?}: must be less than or equal to {name} limit of {lim}"
                        );
                        self.err(&format!("{path}.resources.requests.{name}"), msg);
                    }
                }
            }
        }
        if let Some(sc) = &c.security_context {
            self.id(&format!("{path}.securityContext.runAsUser"), sc.run_as_user);
            self.id(
                &format!("{path}.securityContext.runAsGroup"),
                sc.run_as_group,
            );
            let p = format!("{path}.securityContext");
            self.profiles(
                &p,
                sc.seccomp_profile.as_ref(),
                sc.app_armor_profile.as_ref(),
            );
        }
    }

    /// A seccomp Localhost profile is a relative path below the root's seccomp
    /// directory, an AppArmor one a profile name.
    fn profiles(
        &mut self,
        path: &str,
        seccomp: Option<&SecurityProfile>,
        app_armor: Option<&SecurityProfile>,
    ) {
        if let Some(SecurityProfile::Localhost(file)) = seccomp {
            let p = format!("{path}.seccompProfile.localhostProfile");
            let bad = file.is_empty()
                || file.starts_with('/')
                || file
                    .split('/')
                    .any(|c| c == ".." || c.is_empty() || c == ".")
                || file.contains('\0');
            if bad {
                self.err(
                    &p,
                    format!(
                        "invalid value {:?}: must be a relative path without '..'",
                        &**file
                    ),
                );
            }
        }
        if let Some(SecurityProfile::Localhost(name)) = app_armor {
            let p = format!("{path}.appArmorProfile.localhostProfile");
            self.check(!name.trim().is_empty(), &p, "required value");
        }
    }

    fn ports(&mut self, path: &str, c: &Container, host_network: bool) {
        let mut names = HashSet::new();
        for (i, port) in c.ports.iter().enumerate() {
            let p = format!("{path}.ports[{i}]");
            if port.container_port == 0 {
                self.err(
                    &format!("{p}.containerPort"),
                    "must be between 1 and 65535, inclusive",
                );
            }
            if let Some(name) = &port.name {
                self.port_name(&format!("{p}.name"), name);
                if !names.insert(name.as_str()) {
                    self.err(
                        &format!("{p}.name"),
                        format!("duplicate value {:?}", name.as_str()),
                    );
                }
            }
            match port.host_port {
                Some(0) => self.err(
                    &format!("{p}.hostPort"),
                    "must be between 1 and 65535, inclusive",
                ),
                Some(h) if host_network && h != port.container_port => {
                    self.err(
                        &format!("{p}.hostPort"),
                        "must match containerPort when hostNetwork is true",
                    );
                }
                _ => {}
            }
        }
    }

    /// An IANA service name: at most 15 of `[a-z0-9-]`, a letter among them, no
    /// leading, trailing or doubled hyphen.
    fn port_name(&mut self, path: &str, name: &str) {
        let ok = !name.is_empty()
            && name.len() <= 15
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && name.bytes().any(|b| b.is_ascii_lowercase())
            && !name.starts_with('-')
            && !name.ends_with('-')
            && !name.contains("--");
        if !ok {
            self.err(path, format!("invalid value {name:?}: must be an IANA_SVC_NAME (at most 15 characters, matching regex [a-z0-9]([a-z0-9-]*[a-z0-9])*, it must contain at least one letter [a-z], and hyphens cannot be adjacent to other hyphens)"));
        }
    }

    fn port_ref(&mut self, path: &str, port: &PortRef, c: &Container) {
        match port {
            PortRef::Number(0) => self.err(path, "must be between 1 and 65535, inclusive"),
            PortRef::Number(_) => {}
            PortRef::Name(name) => {
                self.port_name(path, name);
                if !c
                    .ports
                    .iter()
                    .any(|p| p.name.as_deref() == Some(name.as_str()))
                {
                    self.err(
                        path,
                        format!("not found {:?} among the container's ports", name.as_str()),
                    );
                }
            }
        }
    }

    fn http_get(&mut self, path: &str, h: &HttpGet, c: &Container) {
        self.port_ref(&format!("{path}.port"), &h.port, c);
        for (i, header) in h.http_headers.iter().enumerate() {
            self.check(
                !header.name.is_empty(),
                &format!("{path}.httpHeaders[{i}].name"),
                "required value",
            );
        }
    }

    fn probe(&mut self, path: &str, probe: &Probe, single_success: bool, c: &Container) {
        match &probe.handler {
            ProbeHandler::Exec { command } => {
                self.check(
                    !command.is_empty(),
                    &format!("{path}.exec.command"),
                    "required value",
                );
            }
            ProbeHandler::HttpGet(h) => self.http_get(&format!("{path}.httpGet"), h, c),
            ProbeHandler::TcpSocket { port, .. } => {
                self.port_ref(&format!("{path}.tcpSocket.port"), port, c)
            }
        }
        let at_least_one = [
            ("periodSeconds", probe.period_seconds),
            ("timeoutSeconds", probe.timeout_seconds),
            ("successThreshold", probe.success_threshold),
            ("failureThreshold", probe.failure_threshold),
        ];
        for (field, value) in at_least_one {
            self.check(value >= 1, &format!("{path}.{field}"), "must be >= 1");
        }
        if single_success && probe.success_threshold > 1 {
            self.err(&format!("{path}.successThreshold"), "must be 1");
        }
        match probe.termination_grace_period_seconds {
            Some(_) if !single_success => {
                self.err(
                    &format!("{path}.terminationGracePeriodSeconds"),
                    "must not be set for readinessProbes",
                );
            }
            Some(0) => self.err(
                &format!("{path}.terminationGracePeriodSeconds"),
                "must be >= 1",
            ),
            _ => {}
        }
    }
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 bytes.
pub fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|c| alnum(c) || *c == b'-')
        && alnum(&b[0])
        && alnum(&b[b.len() - 1])
}

/// `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`: label names and values.
fn is_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// A sysctl name as the API server checks it: dot- or slash-separated segments of
/// lower-case letters, digits, `-` and `_`, each starting and ending alphanumeric.
pub fn sysctl_name(name: &str) -> bool {
    name.len() <= 253
        && name.split(['.', '/']).all(|seg| {
            let b = seg.as_bytes();
            let edge = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
            !b.is_empty()
                && b.first().is_some_and(edge)
                && b.last().is_some_and(edge)
                && b.iter().all(|c| edge(c) || *c == b'-' || *c == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::bounded::{BoundedVec, name};
    use crate::spec::manifest::read::read_pod;
    use crate::spec::{
        ContainerPort, ContainerRestartPolicy, EnvVar, HostAlias, HostPathType, Key, Protocol,
        ResourceField, ResourceFieldRef, Volume,
    };

    const POD: &str = "
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  initContainers:
  - {name: side, image: busybox, restartPolicy: Always,
     startupProbe: {exec: {command: [x]}}, readinessProbe: {tcpSocket: {port: 1}, successThreshold: 3}}
  containers:
  - {name: c, image: busybox, ports: [{containerPort: 80, name: http}]}
";

    fn pod() -> Pod {
        read_pod(POD).unwrap().pod
    }

    fn messages(pod: &Pod) -> Vec<String> {
        validate(pod).iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn a_valid_pod_has_no_errors() {
        assert_eq!(messages(&pod()), Vec::<String>::new());
    }

    #[test]
    fn rules_the_reader_cannot_break_are_checked() {
        let mut p = pod();
        p.spec.active_deadline_seconds = Some(0);
        p.spec.host.network = true;
        p.spec.security_context = Some(crate::spec::PodSecurityContext {
            run_as_user: Some(u32::MAX),
            ..Default::default()
        });
        let hostnames = BoundedVec::new();
        let alias = HostAlias {
            ip: "127.0.0.1".parse().unwrap(),
            hostnames,
        };
        p.spec.host_aliases = BoundedVec::try_from(vec![alias]).unwrap();
        let host_path = VolumeSource::HostPath {
            path: "rel".try_into().unwrap(),
            kind: HostPathType::Unset,
        };
        let vol = || Volume {
            name: name("v").unwrap(),
            source: host_path.clone(),
        };
        p.spec.volumes = BoundedVec::try_from(vec![vol(), vol()]).unwrap();
        let c = &mut p.spec.containers.as_mut_slice()[0];
        let port = ContainerPort {
            name: None,
            container_port: 0,
            host_port: Some(8080),
            protocol: Protocol::Udp,
        };
        let _ = c.ports.push(port);
        let r = ResourceFieldRef {
            container_name: Some(name("nope").unwrap()),
            resource: ResourceField::LimitsCpu,
            divisor: Some(500),
        };
        let _ = c.env.push(EnvVar {
            name: Default::default(),
            value: EnvValue::ResourceFieldRef(r),
        });
        let side = &mut p.spec.init_containers.as_mut_slice()[0];
        side.startup_probe.as_mut().unwrap().period_seconds = 0;
        side.restart_policy = None;
        let key = Key::try_from("Bad.Prefix/ok").unwrap();
        p.labels = BoundedVec::try_from(vec![(key, "v".try_into().unwrap())]).unwrap();
        let want = [
            "metadata.labels[Bad.Prefix/ok]: invalid value \"Bad.Prefix\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
            "spec.volumes[0].hostPath.path: must be an absolute path",
            "spec.volumes[1].name: duplicate value \"v\"",
            "spec.volumes[1].hostPath.path: must be an absolute path",
            "spec.initContainers[0].readinessProbe: may not be set for init containers without restartPolicy=Always",
            "spec.initContainers[0].startupProbe: may not be set for init containers without restartPolicy=Always",
            "spec.containers[0].ports[1].containerPort: must be between 1 and 65535, inclusive",
            "spec.containers[0].ports[1].hostPort: must match containerPort when hostNetwork is true",
            "spec.containers[0].env[0].name: required value",
            "spec.containers[0].env[0].valueFrom.resourceFieldRef.containerName: not found \"nope\"",
            "spec.containers[0].env[0].valueFrom.resourceFieldRef.divisor: only divisor's values 1m and 1 are supported with the cpu resource",
            "spec.hostAliases[0].hostnames: required value",
            "spec.activeDeadlineSeconds: must be >= 1",
            "spec.securityContext.runAsUser: must be <= 2147483647",
        ];
        assert_eq!(messages(&p), want);
    }

    #[test]
    fn probes_are_checked_on_sidecars_and_app_containers() {
        let mut p = pod();
        let side = &mut p.spec.init_containers.as_mut_slice()[0];
        assert_eq!(side.restart_policy, Some(ContainerRestartPolicy::Always));
        let probe = side.startup_probe.as_mut().unwrap();
        probe.period_seconds = 0;
        probe.timeout_seconds = 0;
        probe.success_threshold = 2;
        probe.failure_threshold = 0;
        probe.termination_grace_period_seconds = Some(0);
        side.readiness_probe
            .as_mut()
            .unwrap()
            .termination_grace_period_seconds = Some(5);
        p.spec.containers.as_mut_slice()[0].restart_policy = Some(ContainerRestartPolicy::Always);
        let want = [
            "spec.initContainers[0].readinessProbe.terminationGracePeriodSeconds: must not be set for readinessProbes",
            "spec.initContainers[0].startupProbe.periodSeconds: must be >= 1",
            "spec.initContainers[0].startupProbe.timeoutSeconds: must be >= 1",
            "spec.initContainers[0].startupProbe.failureThreshold: must be >= 1",
            "spec.initContainers[0].startupProbe.successThreshold: must be 1",
            "spec.initContainers[0].startupProbe.terminationGracePeriodSeconds: must be >= 1",
            "spec.containers[0].restartPolicy: may not be set for non-init containers",
        ];
        assert_eq!(messages(&p), want);
    }

    #[test]
    fn names_follow_kubernetes_syntax() {
        for ok in ["a", "a-1", "0", &"a".repeat(63)] {
            assert!(is_dns_label(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", &"a".repeat(64)] {
            assert!(!is_dns_label(bad), "{bad}");
        }
        let mut v = Validator::default();
        for ok in ["http", "web-1", "h2c", "a1b2c3d4e5f6g7h"] {
            v.port_name("p", ok);
        }
        assert!(v.errors.is_empty(), "{:?}", v.errors);
        for bad in ["80", "-a", "a-", "a--b", "Http", "a1b2c3d4e5f6g7h8"] {
            v.port_name(bad, bad);
        }
        assert_eq!(v.errors.len(), 6);
        let mut v = Validator::default();
        for ok in ["app", "app.kubernetes.io/name", "A_b.c", "x/y"] {
            v.qualified_name("k", ok);
        }
        for ok in ["", "v1.0", "A-b_c"] {
            v.label_value("v", ok);
        }
        assert!(v.errors.is_empty(), "{:?}", v.errors);
        for bad in [
            "",
            "/a",
            "a/",
            "-a",
            "a b",
            "a/b/c",
            &format!("{}/a", "b".repeat(254)),
        ] {
            v.qualified_name(bad, bad);
        }
        for bad in ["-", "a ", &"a".repeat(64)] {
            v.label_value(bad, bad);
        }
        assert_eq!(v.errors.len(), 10, "{:?}", v.errors);
    }

    #[test]
    fn an_empty_pod_says_what_is_required() {
        let p = Pod {
            name: Default::default(),
            namespace: None,
            uid: None,
            labels: BoundedVec::new(),
            annotations: BoundedVec::new(),
            spec: Default::default(),
        };
        assert_eq!(
            messages(&p),
            [
                "metadata.name: required value",
                "spec.containers: required value"
            ]
        );
    }
}
