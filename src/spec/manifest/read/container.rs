//! The containers of a Pod manifest: env, ports, mounts, resources, probes, lifecycle
//! hooks and security context, with Kubernetes defaults. Part of `read`; no checks
//! across fields here (those are `validate`).

use super::{Reader, at, idx};
use crate::spec::bounded::{
    BoundedVec, MAX_ARGS, MAX_CONTAINERS, MAX_ENV, MAX_MOUNTS, MAX_PORTS, Name, Text,
};
use crate::spec::manifest::node::{Node, Value};
use crate::spec::quantity::{parse_bytes, parse_cpu};
use crate::spec::{
    Capabilities, Container, ContainerPort, ContainerRestartPolicy,
    DEFAULT_TERMINATION_MESSAGE_PATH, EnvValue, EnvVar, FieldRef, HttpGet, HttpHeader, Lifecycle,
    LifecycleHandler, PortRef, Probe, ProbeHandler, Protocol, PullPolicy, ResourceField,
    ResourceFieldRef, ResourceList, Resources, Scheme, SecurityContext, TerminationMessage,
    TerminationMessagePolicy, VolumeMount,
};

impl Reader {
    pub(super) fn containers(
        &mut self,
        n: &Node,
        path: &str,
    ) -> BoundedVec<Container, MAX_CONTAINERS> {
        let mut out = BoundedVec::new();
        for (i, item) in self.list(n, path, MAX_CONTAINERS).iter().enumerate() {
            let _ = out.push(self.container(item, &idx(path, i)));
        }
        out
    }

    fn container(&mut self, n: &Node, path: &str) -> Container {
        let mut c = Container::new(Name::new(), Default::default());
        let (mut pull, mut message_path, mut message_policy) = (None, None, None);
        for (k, v) in self.map(n, path) {
            let p = at(path, k);
            match k.as_str() {
                "name" => c.name = self.name(v, &p).unwrap_or_default(),
                "image" => c.image = self.bounded(v, &p).unwrap_or_default(),
                "imagePullPolicy" => {
                    let options = [
                        PullPolicy::Always,
                        PullPolicy::IfNotPresent,
                        PullPolicy::Never,
                    ];
                    pull = self.choice(v, &p, &options.map(|o| (o.as_str(), o)));
                }
                "command" => c.command = self.strings(v, &p),
                "args" => c.args = self.strings(v, &p),
                "workingDir" => c.working_dir = self.bounded(v, &p),
                "env" => c.env = self.env(v, &p),
                "ports" => c.ports = self.ports(v, &p),
                "volumeMounts" => c.volume_mounts = self.mounts(v, &p),
                "resources" => c.resources = self.resources(v, &p),
                "livenessProbe" => c.liveness_probe = self.probe(v, &p),
                "readinessProbe" => c.readiness_probe = self.probe(v, &p),
                "startupProbe" => c.startup_probe = self.probe(v, &p),
                "lifecycle" => c.lifecycle = self.lifecycle(v, &p),
                "securityContext" => c.security_context = Some(self.security(v, &p)),
                "terminationMessagePath" => message_path = self.bounded(v, &p),
                "terminationMessagePolicy" => {
                    message_policy = self.choice(
                        v,
                        &p,
                        &[
                            ("File", TerminationMessagePolicy::File),
                            (
                                "FallbackToLogsOnError",
                                TerminationMessagePolicy::FallbackToLogsOnError,
                            ),
                        ],
                    );
                }
                "restartPolicy" => {
                    c.restart_policy =
                        self.choice(v, &p, &[("Always", ContainerRestartPolicy::Always)]);
                }
                "stdin" | "stdinOnce" | "tty" | "resizePolicy" => self.ignore(&p),
                "envFrom" | "volumeDevices" | "restartPolicyRules" => self.unsupported(&p),
                _ => self.unknown(&p),
            }
        }
        c.image_pull_policy = pull.unwrap_or_else(|| PullPolicy::default_for(&c.image));
        let policy = message_policy.unwrap_or_default();
        let message_path = message_path.filter(|p| p.as_str() != DEFAULT_TERMINATION_MESSAGE_PATH);
        if message_path.is_some() || policy != TerminationMessagePolicy::File {
            let path = message_path.unwrap_or_else(|| {
                DEFAULT_TERMINATION_MESSAGE_PATH
                    .try_into()
                    .unwrap_or_default()
            });
            c.termination_message = Some(TerminationMessage { path, policy });
        }
        c
    }

    fn env(&mut self, n: &Node, path: &str) -> BoundedVec<EnvVar, MAX_ENV> {
        let mut out = BoundedVec::new();
        for (i, item) in self.list(n, path, MAX_ENV).iter().enumerate() {
            let path = idx(path, i);
            let (mut name, mut value, mut from) = (None, None, None);
            for (k, v) in self.map(item, &path) {
                let p = at(&path, k);
                match k.as_str() {
                    "name" => name = self.bounded(v, &p),
                    "value" => value = self.bounded(v, &p),
                    "valueFrom" => from = Some(self.value_from(v, &p)),
                    _ => self.unknown(&p),
                }
            }
            let value = match (value, from) {
                (Some(v), Some(_)) if !v.is_empty() => {
                    let msg = "may not be specified when `value` is not empty";
                    self.err(&at(&path, "valueFrom"), msg);
                    EnvValue::Value(v)
                }
                (_, Some(Some(from))) => from,
                (v, _) => EnvValue::Value(v.unwrap_or_default()),
            };
            let _ = out.push(EnvVar {
                name: name.unwrap_or_default(),
                value,
            });
        }
        out
    }

    fn value_from(&mut self, n: &Node, path: &str) -> Option<EnvValue> {
        let mut sources = Vec::new();
        for (k, v) in self.map(n, path) {
            let p = at(path, k);
            match k.as_str() {
                "fieldRef" => sources.push(self.field_ref(v, &p).map(EnvValue::FieldRef)),
                "resourceFieldRef" => {
                    sources.push(
                        self.resource_field_ref(v, &p)
                            .map(EnvValue::ResourceFieldRef),
                    );
                }
                "configMapKeyRef" | "secretKeyRef" | "fileKeyRef" => {
                    self.unsupported(&p);
                    sources.push(None);
                }
                _ => self.unknown(&p),
            }
        }
        match sources.len() {
            0 => self.err(
                path,
                "must specify one of: `fieldRef` or `resourceFieldRef`",
            ),
            1 => {}
            _ => self.err(path, "may not have more than one field specified at a time"),
        }
        sources.into_iter().flatten().next()
    }

    fn field_ref(&mut self, n: &Node, path: &str) -> Option<FieldRef> {
        let mut field = None;
        for (k, v) in self.map(n, path) {
            let p = at(path, k);
            match k.as_str() {
                "fieldPath" => field = self.str(v, &p).map(|s| (s, p)),
                "apiVersion" => {
                    self.choice(v, &p, &[("v1", ())]);
                }
                _ => self.unknown(&p),
            }
        }
        let Some((field, p)) = field else {
            self.err(&at(path, "fieldPath"), "required value");
            return None;
        };
        let quoted = |prefix: &str| {
            let key = field
                .strip_prefix(prefix)?
                .strip_prefix("['")?
                .strip_suffix("']")?;
            key.try_into().ok()
        };
        let r = match field {
            "metadata.name" => FieldRef::Name,
            "metadata.namespace" => FieldRef::Namespace,
            "metadata.uid" => FieldRef::Uid,
            "spec.nodeName" => FieldRef::NodeName,
            "status.podIP" => FieldRef::PodIp,
            "status.hostIP" => FieldRef::HostIp,
            _ => {
                if let Some(key) = quoted("metadata.labels") {
                    FieldRef::Label(key)
                } else if let Some(key) = quoted("metadata.annotations") {
                    FieldRef::Annotation(key)
                } else {
                    let msg = format!(
                        "unsupported value {field:?}: supported values \"metadata.name\", \
                         \"metadata.namespace\", \"metadata.uid\", \"metadata.labels['<key>']\", \
                         \"metadata.annotations['<key>']\", \"spec.nodeName\", \"status.podIP\", \
                         \"status.hostIP\""
                    );
                    self.err(&p, msg);
                    return None;
                }
            }
        };
        Some(r)
    }

    fn resource_field_ref(&mut self, n: &Node, path: &str) -> Option<ResourceFieldRef> {
        let (mut container_name, mut resource, mut divisor) = (None, None, None);
        for (k, v) in self.map(n, path) {
            let p = at(path, k);
            match k.as_str() {
                "containerName" => container_name = self.name(v, &p),
                "resource" => {
                    let options = ResourceField::ALL.map(|f| (f.as_str(), f));
                    resource = self.choice(v, &p, &options);
                }
                "divisor" => divisor = Some((v, p)),
                _ => self.unknown(&p),
            }
        }
        let Some(resource) = resource else {
            if n.get("resource").is_none() {
                self.err(&at(path, "resource"), "required value");
            }
            return None;
        };
        let parse = if resource.is_cpu() {
            parse_cpu
        } else {
            parse_bytes
        };
        let divisor = divisor.and_then(|(v, p)| self.quantity(v, &p, parse));
        Some(ResourceFieldRef {
            container_name,
            resource,
            divisor,
        })
    }

    fn ports(&mut self, n: &Node, path: &str) -> BoundedVec<ContainerPort, MAX_PORTS> {
        let mut out = BoundedVec::new();
        for (i, item) in self.list(n, path, MAX_PORTS).iter().enumerate() {
            let path = idx(path, i);
            let mut port = ContainerPort {
                name: None,
                container_port: 0,
                host_port: None,
                protocol: Protocol::Tcp,
            };
            for (k, v) in self.map(item, &path) {
                let p = at(&path, k);
                match k.as_str() {
                    "name" => port.name = self.name(v, &p),
                    "containerPort" => {
                        port.container_port = self.int(v, &p, 1, 65535).unwrap_or(0) as u16;
                    }
                    "hostPort" => {
                        port.host_port = self
                            .int(v, &p, 0, 65535)
                            .filter(|&h| h != 0)
                            .map(|h| h as u16);
                    }
                    "protocol" => {
                        let options = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp];
                        port.protocol = self
                            .choice(v, &p, &options.map(|o| (o.as_str(), o)))
                            .unwrap_or_default();
                    }
                    "hostIP" => self.unsupported(&p),
                    _ => self.unknown(&p),
                }
            }
            if item.get("containerPort").is_none() {
                self.err(&at(&path, "containerPort"), "required value");
            }
            let _ = out.push(port);
        }
        out
    }

    fn mounts(&mut self, n: &Node, path: &str) -> BoundedVec<VolumeMount, MAX_MOUNTS> {
        let mut out = BoundedVec::new();
        for (i, item) in self.list(n, path, MAX_MOUNTS).iter().enumerate() {
            let path = idx(path, i);
            let mut m = VolumeMount {
                name: Name::new(),
                mount_path: Default::default(),
                read_only: false,
                sub_path: None,
            };
            for (k, v) in self.map(item, &path) {
                let p = at(&path, k);
                match k.as_str() {
                    "name" => m.name = self.name(v, &p).unwrap_or_default(),
                    "mountPath" => m.mount_path = self.bounded(v, &p).unwrap_or_default(),
                    "readOnly" => m.read_only = self.bool(v, &p).unwrap_or(false),
                    "subPath" => m.sub_path = self.bounded(v, &p).filter(|s| !s.is_empty()),
                    "subPathExpr" | "mountPropagation" | "recursiveReadOnly" => {
                        self.unsupported(&p)
                    }
                    _ => self.unknown(&p),
                }
            }
            let _ = out.push(m);
        }
        out
    }

    /// Requests and limits; a request left out defaults to its limit.
    fn resources(&mut self, n: &Node, path: &str) -> Option<Resources> {
        let mut r = Resources::default();
        for (k, v) in self.map(n, path) {
            let p = at(path, k);
            match k.as_str() {
                "requests" => r.requests = self.resource_list(v, &p),
                "limits" => r.limits = self.resource_list(v, &p),
                "claims" => self.unsupported(&p),
                _ => self.unknown(&p),
            }
        }
        let (req, lim) = (&mut r.requests, &r.limits);
        req.cpu = req.cpu.or(lim.cpu);
        req.memory = req.memory.or(lim.memory);
        req.ephemeral_storage = req.ephemeral_storage.or(lim.ephemeral_storage);
        (r != Resources::default()).then_some(r)
    }

    fn resource_list(&mut self, n: &Node, path: &str) -> ResourceList {
        let mut list = ResourceList::default();
        for (k, v) in self.map(n, path) {
            let p = at(path, k);
            match k.as_str() {
                "cpu" => list.cpu = self.quantity(v, &p, parse_cpu),
                "memory" => list.memory = self.quantity(v, &p, parse_bytes),
                "ephemeral-storage" => list.ephemeral_storage = self.quantity(v, &p, parse_bytes),
                _ => self.err(&p, "resource is not supported by pealet"),
            }
        }
        list
    }

    fn probe(&mut self, n: &Node, path: &str) -> Option<Probe> {
        if n.value == Value::Null {
            return None;
        }
        let mut handlers = Vec::new();
        let mut probe = Probe::new(ProbeHandler::Exec {
            command: BoundedVec::new(),
        });
        for (k, v) in self.map(n, path) {
            let p = at(path, k);
            match k.as_str() {
                "exec" => handlers.push(Some(ProbeHandler::Exec {
                    command: self.exec(v, &p),
                })),
                "httpGet" => handlers.push(Some(ProbeHandler::HttpGet(self.http_get(v, &p)))),
                "tcpSocket" => handlers.push(self.tcp_socket(v, &p)),
                "grpc" => {
                    self.unsupported(&p);
                    handlers.push(None);
                }
                "initialDelaySeconds" => {
                    probe.initial_delay_seconds = self.u32(v, &p, 0).unwrap_or(0);
                }
                "periodSeconds" => {
                    probe.period_seconds =
                        self.u32(v, &p, 1).unwrap_or(Probe::DEFAULT_PERIOD_SECONDS);
                }
                "timeoutSeconds" => {
                    probe.timeout_seconds =
                        self.u32(v, &p, 1).unwrap_or(Probe::DEFAULT_TIMEOUT_SECONDS);
                }
                "successThreshold" => {
                    probe.success_threshold = self
                        .u32(v, &p, 1)
                        .unwrap_or(Probe::DEFAULT_SUCCESS_THRESHOLD);
                }
                "failureThreshold" => {
                    probe.failure_threshold = self
                        .u32(v, &p, 1)
                        .unwrap_or(Probe::DEFAULT_FAILURE_THRESHOLD);
                }
                "terminationGracePeriodSeconds" => {
                    probe.termination_grace_period_seconds = self.u64(v, &p, 1);
                }
                _ => self.unknown(&p),
            }
        }
        self.one_handler(handlers.len(), path);
        match handlers.into_iter().flatten().next() {
            Some(handler) => probe.handler = handler,
            None => self.placeholder(&at(path, "exec")),
        }
        Some(probe)
    }

    fn one_handler(&mut self, count: usize, path: &str) {
        match count {
            0 => self.err(path, "must specify a handler type"),
            1 => {}
            _ => self.err(path, "may not specify more than 1 handler type"),
        }
    }

    fn exec(&mut self, n: &Node, path: &str) -> BoundedVec<Text, MAX_ARGS> {
        let mut command = BoundedVec::new();
        for (k, v) in self.map(n, path) {
            let p = at(path, k);
            match k.as_str() {
                "command" => command = self.strings(v, &p),
                _ => self.unknown(&p),
            }
        }
        command
    }

    fn http_get(&mut self, n: &Node, path: &str) -> HttpGet {
        let mut h = HttpGet {
            host: None,
            path: None,
            port: PortRef::Number(0),
            scheme: Scheme::Http,
            http_headers: BoundedVec::new(),
        };
        for (k, v) in self.map(n, path) {
            let p = at(path, k);
            match k.as_str() {
                "host" => h.host = self.bounded(v, &p),
                "path" => h.path = self.bounded(v, &p),
                "port" => h.port = self.port_ref(v, &p),
                "scheme" => {
                    let options = [Scheme::Http, Scheme::Https].map(|s| (s.as_str(), s));
                    h.scheme = self.choice(v, &p, &options).unwrap_or_default();
                }
                "httpHeaders" => {
                    h.http_headers =
                        self.name_values(v, &p, |name, value| HttpHeader { name, value });
                }
                _ => self.unknown(&p),
            }
        }
        if n.get("port").is_none() {
            self.err(&at(path, "port"), "required value");
        }
        h
    }

    fn tcp_socket(&mut self, n: &Node, path: &str) -> Option<ProbeHandler> {
        let (mut host, mut port) = (None, PortRef::Number(0));
        for (k, v) in self.map(n, path) {
            let p = at(path, k);
            match k.as_str() {
                "host" => host = self.bounded(v, &p),
                "port" => port = self.port_ref(v, &p),
                _ => self.unknown(&p),
            }
        }
        if n.get("port").is_none() {
            self.err(&at(path, "port"), "required value");
        }
        Some(ProbeHandler::TcpSocket { host, port })
    }

    /// A port number, or the name of one of the container's ports.
    fn port_ref(&mut self, n: &Node, path: &str) -> PortRef {
        match &n.value {
            Value::Str(_) => self.name(n, path).map(PortRef::Name),
            Value::Int(_) => self
                .int(n, path, 1, 65535)
                .map(|p| PortRef::Number(p as u16)),
            _ => {
                self.err(path, "must be an integer or a string");
                None
            }
        }
        .unwrap_or(PortRef::Number(0))
    }

    fn lifecycle(&mut self, n: &Node, path: &str) -> Option<Lifecycle> {
        let mut l = Lifecycle::default();
        for (k, v) in self.map(n, path) {
            let p = at(path, k);
            match k.as_str() {
                "postStart" => l.post_start = self.hook(v, &p),
                "preStop" => l.pre_stop = self.hook(v, &p),
                "stopSignal" => self.unsupported(&p),
                _ => self.unknown(&p),
            }
        }
        (l != Lifecycle::default()).then_some(l)
    }

    fn hook(&mut self, n: &Node, path: &str) -> Option<LifecycleHandler> {
        if n.value == Value::Null {
            return None;
        }
        let mut handlers = Vec::new();
        for (k, v) in self.map(n, path) {
            let p = at(path, k);
            match k.as_str() {
                "exec" => handlers.push(Some(LifecycleHandler::Exec {
                    command: self.exec(v, &p),
                })),
                "httpGet" => handlers.push(Some(LifecycleHandler::HttpGet(self.http_get(v, &p)))),
                "sleep" => {
                    let mut seconds = 0;
                    for (k, v) in self.map(v, &p) {
                        let p = at(&p, k);
                        match k.as_str() {
                            "seconds" => seconds = self.u64(v, &p, 0).unwrap_or(0),
                            _ => self.unknown(&p),
                        }
                    }
                    handlers.push(Some(LifecycleHandler::Sleep { seconds }));
                }
                "tcpSocket" => {
                    self.unsupported(&p);
                    handlers.push(None);
                }
                _ => self.unknown(&p),
            }
        }
        self.one_handler(handlers.len(), path);
        let handler = handlers.into_iter().flatten().next();
        if handler.is_none() {
            self.placeholder(&at(path, "exec"));
        }
        let placeholder = || LifecycleHandler::Exec {
            command: BoundedVec::new(),
        };
        Some(handler.unwrap_or_else(placeholder))
    }

    fn security(&mut self, n: &Node, path: &str) -> SecurityContext {
        let mut sc = SecurityContext::default();
        for (k, v) in self.map(n, path) {
            let p = at(path, k);
            match k.as_str() {
                "runAsUser" => sc.run_as_user = self.id(v, &p),
                "runAsGroup" => sc.run_as_group = self.id(v, &p),
                "runAsNonRoot" => sc.run_as_non_root = self.bool(v, &p),
                "privileged" => sc.privileged = self.bool(v, &p),
                "allowPrivilegeEscalation" => sc.allow_privilege_escalation = self.bool(v, &p),
                "readOnlyRootFilesystem" => sc.read_only_root_filesystem = self.bool(v, &p),
                "capabilities" => {
                    let mut caps = Capabilities::default();
                    for (k, v) in self.map(v, &p) {
                        let p = at(&p, k);
                        match k.as_str() {
                            "add" => caps.add = self.strings(v, &p),
                            "drop" => caps.drop = self.strings(v, &p),
                            _ => self.unknown(&p),
                        }
                    }
                    sc.capabilities = Some(caps);
                }
                "seccompProfile" => sc.seccomp_profile = self.security_profile(v, &p),
                "appArmorProfile" => sc.app_armor_profile = self.security_profile(v, &p),
                "seLinuxOptions" => self.se_linux_options(v, &p),
                // Default is what every container gets; Unmasked would need a user
                // namespace (hostUsers: false), which pealet does not make.
                "procMount" => {
                    self.choice(v, &p, &[("Default", ())]);
                }
                "windowsOptions" => self.ignore(&p),
                _ => self.unknown(&p),
            }
        }
        sc
    }
}
