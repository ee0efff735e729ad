//! Kubernetes Pod manifests (YAML or JSON text) to [`Pod`]s, with Kubernetes defaults
//! applied, and every problem of a document reported at once with its field path.
//!
//! Errors are [`FieldError`]s: `spec.containers[1].livenessProbe.periodSeconds: must
//! be >= 1`. When a file holds more than one non-empty document, each path starts with
//! the 1-based number of its document in the file: `[doc 2] spec.containers: ...`.
//! Parse errors of the text itself have an empty path and say the line.
//!
//! Fields are sorted into four kinds: mapped onto the [`Pod`]; refused because pealet
//! cannot do what they ask (`is not supported`); accepted and returned in
//! [`ReadPod::ignored`] because they mean nothing on a single node (scheduling, service
//! accounts, fields written by API servers, `windowsOptions`); anything else is an
//! `unknown field`. Values that do not fit a field
//! still produce a placeholder, so that [`validate`] runs on the whole pod and no
//! problem hides behind another. This module does no I/O.

mod container;
mod spec;

use super::node::{Node, Value};
use super::yaml;
use crate::spec::bounded::{self, BoundedString, BoundedVec, Name};
use crate::spec::quantity::QuantityError;
use crate::spec::validate::validate;
use crate::spec::{FieldError, Pod, SecurityProfile};

/// A pod read from a manifest, and the fields that were accepted without effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadPod {
    pub pod: Pod,
    /// Field paths accepted but meaningless or not enforced on one node, in document
    /// order: `spec.nodeSelector`, `spec.serviceAccountName`.
    pub ignored: Vec<String>,
}

/// Reads every non-empty document of `text` as a pod and validates it. An input with
/// no document at all gives an empty list.
pub fn read_pods(text: &str) -> Result<Vec<ReadPod>, Vec<FieldError>> {
    let docs = yaml::parse(text).map_err(|e| vec![FieldError::new("", e.to_string())])?;
    let multi = docs.iter().filter(|d| d.value != Value::Null).count() > 1;
    let mut pods = Vec::new();
    let mut errors = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        if doc.value == Value::Null {
            continue;
        }
        match read_document(doc) {
            Ok(pod) => pods.push(pod),
            Err(errs) if multi => errors.extend(errs.into_iter().map(|e| FieldError {
                path: format!("[doc {}] {}", i + 1, e.path),
                message: e.message,
            })),
            Err(errs) => errors.extend(errs),
        }
    }
    if errors.is_empty() {
        Ok(pods)
    } else {
        Err(errors)
    }
}

/// Reads exactly one pod; any other number of documents is an error saying how many.
pub fn read_pod(text: &str) -> Result<ReadPod, Vec<FieldError>> {
    let mut pods = read_pods(text)?;
    if pods.len() != 1 {
        let msg = format!("expected exactly one pod, found {} documents", pods.len());
        return Err(vec![FieldError::new("", msg)]);
    }
    Ok(pods.remove(0))
}

/// One document: read, then validate what was read, dropping validation errors on
/// fields whose reading already failed.
fn read_document(doc: &Node) -> Result<ReadPod, Vec<FieldError>> {
    let mut r = Reader::default();
    let pod = r.pod(doc);
    let read_errors = std::mem::take(&mut r.errors);
    match pod {
        None => Err(read_errors),
        Some(pod) => {
            let mut errors = read_errors.clone();
            let shadows: Vec<&FieldError> = read_errors.iter().chain(&r.quiet).collect();
            errors.extend(
                validate(&pod)
                    .into_iter()
                    .filter(|v| !shadows.iter().any(|e| covers(e, v))),
            );
            if errors.is_empty() {
                Ok(ReadPod {
                    pod,
                    ignored: r.ignored,
                })
            } else {
                Err(errors)
            }
        }
    }
}

/// Whether reading error `e` is on the field of validation error `v` or above it, or on
/// an item of the list `v` is about (an unreadable item leaves the list short).
fn covers(e: &FieldError, v: &FieldError) -> bool {
    if let Some(rest) = v.path.strip_prefix(e.path.as_str()) {
        return rest.is_empty() || rest.starts_with(['.', '[']);
    }
    e.path
        .strip_prefix(v.path.as_str())
        .is_some_and(|rest| rest.starts_with('['))
}

/// `path.key`.
fn at(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// `path[i]`.
fn idx(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// Collects errors and ignored paths while a document is read.
#[derive(Default)]
struct Reader {
    errors: Vec<FieldError>,
    ignored: Vec<String>,
    /// Paths of placeholders: validation errors under them are not reported.
    quiet: Vec<FieldError>,
}

impl Reader {
    fn err(&mut self, path: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(path, message));
    }

    fn unknown(&mut self, path: &str) {
        self.err(path, "unknown field");
    }

    fn unsupported(&mut self, path: &str) {
        self.err(path, "is not supported by pealet");
    }

    /// Marks `path` as a placeholder, standing for a value that could not be read.
    fn placeholder(&mut self, path: &str) {
        self.quiet.push(FieldError::new(path, ""));
    }

    fn ignore(&mut self, path: &str) {
        self.ignored.push(path.to_owned());
    }

    /// The entries of a mapping; null reads as an empty mapping.
    fn map<'a>(&mut self, n: &'a Node, path: &str) -> &'a [(String, Node)] {
        match &n.value {
            Value::Map(entries) => entries,
            Value::Null => &[],
            _ => {
                self.err(path, "must be a mapping");
                &[]
            }
        }
    }

    /// The items of a list (at most `max` of them); null reads as an empty list.
    fn list<'a>(&mut self, n: &'a Node, path: &str, max: usize) -> &'a [Node] {
        match &n.value {
            Value::Seq(items) if items.len() > max => {
                self.err(
                    path,
                    format!("must have at most {max} items, got {}", items.len()),
                );
                &items[..max]
            }
            Value::Seq(items) => items,
            Value::Null => &[],
            _ => {
                self.err(path, "must be a list");
                &[]
            }
        }
    }

    fn str<'a>(&mut self, n: &'a Node, path: &str) -> Option<&'a str> {
        match &n.value {
            Value::Str(s) => Some(s),
            Value::Null => None,
            _ => {
                self.err(path, "must be a string");
                None
            }
        }
    }

    fn bounded<const N: usize>(&mut self, n: &Node, path: &str) -> Option<BoundedString<N>> {
        let s = self.str(n, path)?;
        match BoundedString::try_from(s) {
            Ok(b) => Some(b),
            Err(e) => {
                self.err(
                    path,
                    format!("must be no more than {} bytes, got {}", e.max, e.got),
                );
                None
            }
        }
    }

    fn name(&mut self, n: &Node, path: &str) -> Option<Name> {
        let s = self.str(n, path)?;
        match bounded::name(s) {
            Ok(name) => Some(name),
            Err(e) => {
                self.err(
                    path,
                    format!("must be no more than {} bytes, got {}", e.max, e.got),
                );
                None
            }
        }
    }

    fn bool(&mut self, n: &Node, path: &str) -> Option<bool> {
        match n.value {
            Value::Bool(b) => Some(b),
            Value::Null => None,
            _ => {
                self.err(path, "must be a boolean");
                None
            }
        }
    }

    /// An integer in `min..=max`.
    fn int(&mut self, n: &Node, path: &str, min: i64, max: i64) -> Option<i64> {
        let digits = |s: &str| {
            s.trim_start_matches(['-', '+'])
                .bytes()
                .all(|b| b.is_ascii_digit())
        };
        // An integer too large for i64 is a Float as written: out of any range.
        let i = match &n.value {
            Value::Int(i) => i128::from(*i),
            Value::Null => return None,
            Value::Float(s) if digits(s) && s.starts_with('-') => i128::MIN,
            Value::Float(s) if digits(s) => i128::MAX,
            _ => {
                self.err(path, "must be an integer");
                return None;
            }
        };
        if i < i128::from(min) {
            self.err(path, format!("must be >= {min}"));
            return None;
        }
        if i > i128::from(max) {
            self.err(path, format!("must be <= {max}"));
            return None;
        }
        i64::try_from(i).ok()
    }

    fn u32(&mut self, n: &Node, path: &str, min: u32) -> Option<u32> {
        self.int(n, path, min.into(), i32::MAX.into())
            .map(|i| i as u32)
    }

    fn u64(&mut self, n: &Node, path: &str, min: u64) -> Option<u64> {
        self.int(n, path, min as i64, i64::MAX).map(|i| i as u64)
    }

    /// A user or group id: `0..=2147483647`.
    fn id(&mut self, n: &Node, path: &str) -> Option<u32> {
        self.u32(n, path, 0)
    }

    /// A quantity written as a string or a number.
    fn quantity(
        &mut self,
        n: &Node,
        path: &str,
        parse: fn(&str) -> Result<u64, QuantityError>,
    ) -> Option<u64> {
        let text = match &n.value {
            Value::Str(s) | Value::Float(s) => s.clone(),
            Value::Int(i) => i.to_string(),
            Value::Null => return None,
            _ => {
                self.err(path, "must be a string or a number");
                return None;
            }
        };
        parse(&text).map_err(|e| self.err(path, e.to_string())).ok()
    }

    /// `seccompProfile` or `appArmorProfile`: `type` and, for Localhost,
    /// `localhostProfile`.
    fn security_profile(&mut self, n: &Node, path: &str) -> Option<SecurityProfile> {
        #[derive(Clone, Copy)]
        enum Type {
            RuntimeDefault,
            Unconfined,
            Localhost,
        }
        let mut kind = None;
        let mut localhost = None;
        for (k, v) in self.map(n, path) {
            let p = at(path, k);
            match k.as_str() {
                "type" => {
                    let options = [
                        ("RuntimeDefault", Type::RuntimeDefault),
                        ("Unconfined", Type::Unconfined),
                        ("Localhost", Type::Localhost),
                    ];
                    kind = self.choice(v, &p, &options);
                }
                "localhostProfile" => localhost = self.bounded(v, &p),
                _ => self.unknown(&p),
            }
        }
        match (kind, localhost) {
            (Some(Type::Localhost), Some(name)) => Some(SecurityProfile::Localhost(name)),
            (Some(Type::Localhost), None) => {
                self.err(
                    &at(path, "localhostProfile"),
                    "is required for type Localhost",
                );
                None
            }
            (Some(_), Some(_)) => {
                self.err(
                    &at(path, "localhostProfile"),
                    "may be set only for type Localhost",
                );
                None
            }
            (Some(Type::RuntimeDefault), None) => Some(SecurityProfile::RuntimeDefault),
            (Some(Type::Unconfined), None) => Some(SecurityProfile::Unconfined),
            (None, _) => {
                if n.get("type").is_none() {
                    self.err(&at(path, "type"), "is required");
                }
                None
            }
        }
    }

    /// `seLinuxOptions`: refused unless empty; this node applies no SELinux labels.
    fn se_linux_options(&mut self, n: &Node, path: &str) {
        if !self.map(n, path).is_empty() {
            self.err(
                path,
                "is not supported by pealet: it applies no SELinux labels (leave it empty)",
            );
        }
    }

    /// One of a fixed set of strings.
    fn choice<T: Copy>(&mut self, n: &Node, path: &str, options: &[(&str, T)]) -> Option<T> {
        let s = self.str(n, path)?;
        if let Some((_, v)) = options.iter().find(|(name, _)| *name == s) {
            return Some(*v);
        }
        let supported: Vec<String> = options
            .iter()
            .map(|(name, _)| format!("{name:?}"))
            .collect();
        self.err(
            path,
            format!(
                "unsupported value {s:?}: supported values {}",
                supported.join(", ")
            ),
        );
        None
    }

    /// A list of `{name, value}` mappings (HTTP headers, sysctls), each made into a `T`;
    /// a missing name or value reads as empty and is left to validation.
    fn name_values<const N: usize, const V: usize, T, const MAX: usize>(
        &mut self,
        n: &Node,
        path: &str,
        make: impl Fn(BoundedString<N>, BoundedString<V>) -> T,
    ) -> BoundedVec<T, MAX> {
        let mut out = BoundedVec::new();
        for (i, item) in self.list(n, path, MAX).iter().enumerate() {
            let path = idx(path, i);
            let (mut name, mut value) = (None, None);
            for (k, v) in self.map(item, &path) {
                let p = at(&path, k);
                match k.as_str() {
                    "name" => name = self.bounded(v, &p),
                    "value" => value = self.bounded(v, &p),
                    _ => self.unknown(&p),
                }
            }
            let _ = out.push(make(name.unwrap_or_default(), value.unwrap_or_default()));
        }
        out
    }

    /// A list of bounded strings.
    fn strings<const N: usize, const MAX: usize>(
        &mut self,
        n: &Node,
        path: &str,
    ) -> BoundedVec<BoundedString<N>, MAX> {
        let mut out = BoundedVec::new();
        for (i, item) in self.list(n, path, MAX).iter().enumerate() {
            if let Some(s) = self.bounded(item, &idx(path, i)) {
                let _ = out.push(s);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{
        EnvValue, PortRef, Probe, ProbeHandler, PullPolicy, RestartPolicy, StorageMedium,
        VolumeSource,
    };

    fn example(name: &str) -> ReadPod {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/k8s-examples/");
        let text = std::fs::read_to_string(format!("{dir}{name}")).unwrap();
        read_pod(&text).unwrap_or_else(|e| panic!("{name}: {e:?}"))
    }

    #[test]
    fn an_unreadable_list_item_is_reported_once() {
        let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    livenessProbe: {exec: {command: [true]}}\n";
        assert_eq!(
            errors(text),
            ["spec.containers[0].livenessProbe.exec.command[0]: must be a string"]
        );
    }

    fn errors(text: &str) -> Vec<String> {
        match read_pods(text) {
            Ok(pods) => panic!("read without errors: {pods:?}"),
            Err(errs) => errs.iter().map(|e| e.to_string()).collect(),
        }
    }

    const MINIMAL: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: busybox\n";

    #[test]
    fn every_kubernetes_example_reads() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/k8s-examples");
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".yaml") {
                let read = example(&name);
                assert!(!read.pod.name.is_empty(), "{name}");
                n += 1;
            }
        }
        assert_eq!(n, 14);
    }

    #[test]
    fn examples_map_key_values() {
        let p = example("dependent-envars.yaml").pod;
        let env = &p.spec.containers[0].env;
        assert_eq!(env.len(), 6);
        assert_eq!(env[0].name.as_str(), "SERVICE_PORT");
        assert_eq!(env[0].value, EnvValue::Value("80".try_into().unwrap()));
        let escaped = "$$(PROTOCOL)://$(SERVICE_IP):$(SERVICE_PORT)";
        assert_eq!(env[5].value, EnvValue::Value(escaped.try_into().unwrap()));
        assert_eq!(p.spec.containers[0].command.len(), 2);
        assert_eq!(p.spec.containers[0].image_pull_policy, PullPolicy::Always);

        let p = example("localhost.yaml").pod;
        assert!(p.spec.init_containers[0].is_sidecar());
        assert!(!p.spec.containers[0].is_sidecar());
        assert_eq!(
            p.spec.containers[0].image_pull_policy,
            PullPolicy::IfNotPresent
        );

        let p = example("tcp-liveness-readiness.yaml").pod;
        let c = &p.spec.containers[0];
        assert_eq!(c.ports[0].container_port, 8080);
        for probe in [&c.liveness_probe, &c.readiness_probe] {
            let probe = probe.as_ref().unwrap();
            let want = ProbeHandler::TcpSocket {
                host: None,
                port: PortRef::Number(8080),
            };
            assert_eq!(probe.handler, want);
            assert_eq!(
                (probe.initial_delay_seconds, probe.period_seconds),
                (15, 10)
            );
            assert_eq!((probe.timeout_seconds, probe.failure_threshold), (1, 3));
        }
        assert_eq!(p.labels[0].0.as_str(), "app.kubernetes.io/name");

        let p = example("memory-request-limit-2.yaml").pod;
        let r = p.spec.containers[0].resources.clone().unwrap();
        assert_eq!(
            (r.requests.memory, r.limits.memory),
            (Some(50 << 20), Some(100 << 20))
        );
        assert_eq!(p.namespace(), "mem-example");

        let read = example("init-containers.yaml");
        assert_eq!(read.ignored, ["spec.dnsPolicy"]);
        assert_eq!(read.pod.spec.init_containers[0].command.len(), 4);

        let p = example("security-context.yaml").pod;
        let sc = p.spec.security_context.unwrap();
        assert_eq!((sc.run_as_user, sc.fs_group), (Some(1000), Some(2000)));
        let csc = p.spec.containers[0].security_context.as_ref().unwrap();
        assert_eq!(csc.allow_privilege_escalation, Some(false));

        let p = example("two-container-pod.yaml").pod;
        assert_eq!(p.spec.restart_policy, RestartPolicy::Never);
        assert_eq!(p.spec.containers.len(), 2);

        let p = example("shared-volume.yaml").pod;
        let want = VolumeSource::EmptyDir {
            medium: StorageMedium::Default,
            size_limit: Some(10 << 20),
        };
        assert_eq!(p.spec.volumes[0].source, want);
        assert!(p.spec.containers[0].volume_mounts[0].read_only);

        let p = example("exec-liveness.yaml").pod;
        let probe = p.spec.containers[0].liveness_probe.as_ref().unwrap();
        assert_eq!((probe.initial_delay_seconds, probe.period_seconds), (5, 5));
    }

    #[test]
    fn many_problems_are_reported_at_once() {
        let text = r#"
apiVersion: v1
kind: Pod
metadata:
  name: Bad_Name
  labels: {app: "-x-", version: 1}
  creationTimestamp: null
spec:
  nodeSelector: {disk: ssd}
  restartPolicy: Sometimes
  volumes:
  - name: cfg
    configMap: {name: cfg}
  - name: data
  initContainers:
  - name: init
    image: busybox
    livenessProbe: {exec: {command: [true]}}
  containers:
  - name: app
    image: nginx
    imagePullPolcy: Always
    restartPolicy: Always
    ports:
    - {containerPort: 80, name: http}
    - {containerPort: 70000, name: http}
    - {containerPort: "81"}
    env:
    - {name: A=B, value: x}
    - {name: PORT, value: 80}
    volumeMounts:
    - {name: cfg, mountPath: /etc/cfg}
    - {name: missing, mountPath: relative, subPath: ../up}
    resources:
      requests: {cpu: 2}
      limits: {cpu: 500m, nvidia.com/gpu: 1}
    livenessProbe:
      httpGet: {port: web}
      periodSeconds: 0
      successThreshold: 2
    tty: true
  - name: app
    image: busybox
    envFrom: []
"#;
        let want = [
            "metadata.labels[version]: must be a string",
            "spec.restartPolicy: unsupported value \"Sometimes\": supported values \"Always\", \"OnFailure\", \"Never\"",
            "spec.volumes[0].configMap: configMap volumes are not supported by pealet",
            "spec.volumes[1]: must specify a volume type",
            "spec.initContainers[0].livenessProbe.exec.command[0]: must be a string",
            "spec.containers[0].imagePullPolcy: unknown field",
            "spec.containers[0].ports[1].containerPort: must be <= 65535",
            "spec.containers[0].ports[2].containerPort: must be an integer",
            "spec.containers[0].env[1].value: must be a string",
            "spec.containers[0].resources.limits.nvidia.com/gpu: resource is not supported by pealet",
            "spec.containers[0].livenessProbe.periodSeconds: must be >= 1",
            "spec.containers[1].envFrom: is not supported by pealet",
            "metadata.name: invalid value \"Bad_Name\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
            "metadata.labels[app]: invalid value \"-x-\": a label value must be empty or consist of alphanumeric characters, '-', '_' or '.', start and end with an alphanumeric character, at most 63 characters",
            "spec.initContainers[0].livenessProbe: may not be set for init containers without restartPolicy=Always",
            "spec.containers[0].restartPolicy: may not be set for non-init containers",
            "spec.containers[0].livenessProbe.httpGet.port: not found \"web\" among the container's ports",
            "spec.containers[0].livenessProbe.successThreshold: must be 1",
            "spec.containers[0].ports[1].name: duplicate value \"http\"",
            "spec.containers[0].volumeMounts[1].name: not found \"missing\"",
            "spec.containers[0].volumeMounts[1].mountPath: must be an absolute path",
            "spec.containers[0].volumeMounts[1].subPath: must not contain '..'",
            "spec.containers[0].env[0].name: invalid value \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='",
            "spec.containers[0].resources.requests.cpu: invalid value \"2\": must be less than or equal to cpu limit of 500m",
            "spec.containers[1].name: duplicate value \"app\"",
        ];
        assert_eq!(errors(text), want);
    }

    #[test]
    fn ignored_fields_are_listed_in_order() {
        let text = format!(
            "{MINIMAL}    tty: true\n    securityContext: {{windowsOptions: {{}}}}\n  nodeName: pi\n  dnsPolicy: None\nstatus: {{}}\n"
        );
        let read = read_pod(&text).unwrap();
        let want = [
            "spec.containers[0].tty",
            "spec.containers[0].securityContext.windowsOptions",
            "spec.nodeName",
            "spec.dnsPolicy",
            "status",
        ];
        assert_eq!(read.ignored, want);
    }

    #[test]
    fn security_profiles_are_read_and_what_pealet_cannot_apply_is_refused() {
        let text = format!(
            "{MINIMAL}    securityContext:\n      seccompProfile: {{type: Localhost, localhostProfile: profiles/deny.json}}\n      appArmorProfile: {{type: Unconfined}}\n      procMount: Default\n      seLinuxOptions: {{}}\n  securityContext:\n    seccompProfile: {{type: RuntimeDefault}}\n    sysctls: [{{name: net.ipv4.ping_group_range, value: '0 0'}}]\n"
        );
        let p = read_pod(&text).unwrap().pod;
        let csc = p.spec.containers[0].security_context.as_ref().unwrap();
        let file = crate::spec::bounded::Text::try_from("profiles/deny.json").unwrap();
        assert_eq!(csc.seccomp_profile, Some(SecurityProfile::Localhost(file)));
        assert_eq!(csc.app_armor_profile, Some(SecurityProfile::Unconfined));
        let psc = p.spec.security_context.as_ref().unwrap();
        assert_eq!(psc.seccomp_profile, Some(SecurityProfile::RuntimeDefault));
        let text = format!(
            "{MINIMAL}    securityContext:\n      seccompProfile: {{type: Localhost, localhostProfile: ../../etc/x}}\n      appArmorProfile: {{type: Localhost}}\n      procMount: Unmasked\n      seLinuxOptions: {{level: 's0:c1'}}\n  securityContext:\n    seccompProfile: {{type: RuntimeDefault, localhostProfile: a}}\n    sysctls: [{{name: 'Net.IPv4', value: '1'}}, {{name: kernel.msgmax, value: '1'}}, {{name: kernel/msgmax, value: '2'}}]\n"
        );
        let want = [
            "spec.containers[0].securityContext.appArmorProfile.localhostProfile: is required for type Localhost",
            "spec.containers[0].securityContext.procMount: unsupported value \"Unmasked\": supported values \"Default\"",
            "spec.containers[0].securityContext.seLinuxOptions: is not supported by pealet: it applies no SELinux labels (leave it empty)",
            "spec.securityContext.seccompProfile.localhostProfile: may be set only for type Localhost",
            "spec.containers[0].securityContext.seccompProfile.localhostProfile: invalid value \"../../etc/x\": must be a relative path without '..'",
            "spec.securityContext.sysctls[0].name: invalid value \"Net.IPv4\": not a sysctl name",
            "spec.securityContext.sysctls[2].name: duplicate value \"kernel/msgmax\"",
        ];
        assert_eq!(errors(&text), want);
    }

    #[test]
    fn unknown_and_unsupported_fields_name_their_path() {
        let text = format!(
            "{MINIMAL}    volumeMounts: [{{name: v, mountPath: /v, subPathExpr: x}}]\n    env: [{{name: A, valueFrom: {{secretKeyRef: {{name: s, key: k}}}}}}]\n    startupProbe: {{grpc: {{port: 1}}}}\n    lifecycle: {{preStop: {{tcpSocket: {{port: 1}}}}}}\n  volumes: [{{name: v, emptyDir: {{}}}}]\n  ephemeralContainers: []\n  hostUsers: false\n  bogus: 1\nmetadata2: x\n"
        );
        let want = [
            "spec.containers[0].volumeMounts[0].subPathExpr: is not supported by pealet",
            "spec.containers[0].env[0].valueFrom.secretKeyRef: is not supported by pealet",
            "spec.containers[0].startupProbe.grpc: is not supported by pealet",
            "spec.containers[0].lifecycle.preStop.tcpSocket: is not supported by pealet",
            "spec.ephemeralContainers: is not supported by pealet",
            "spec.hostUsers: is not supported by pealet",
            "spec.bogus: unknown field",
            "metadata2: unknown field",
        ];
        assert_eq!(errors(&text), want);
    }

    #[test]
    fn kind_and_api_version_are_checked_first() {
        let deployment = "apiVersion: apps/v1\nkind: Deployment\nspec: {replicas: 1}\n";
        let want = [
            "apiVersion: only v1 is supported, got \"apps/v1\"",
            "kind: only Pod is supported, got \"Deployment\"",
        ];
        assert_eq!(errors(deployment), want);
        assert_eq!(errors("kind: Pod\n"), ["apiVersion: required value"]);
        assert_eq!(
            errors("- a\n"),
            ["a document must be a mapping, got a list"]
        );
    }

    #[test]
    fn multi_document_errors_say_which_document() {
        let text = format!(
            "# pods\n---\n{MINIMAL}---\n---\n{}",
            MINIMAL.replace("name: p", "name: P")
        );
        let errs = errors(&text);
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].starts_with("[doc 3] metadata.name: invalid value \"P\""),
            "{errs:?}"
        );
        let two = format!("{MINIMAL}---\n{}", MINIMAL.replace("name: p", "name: q"));
        let pods = read_pods(&two).unwrap();
        let names: Vec<&str> = pods.iter().map(|r| r.pod.name.as_str()).collect();
        assert_eq!(names, ["p", "q"]);
        let e = read_pod(&two).unwrap_err();
        assert_eq!(
            e[0].to_string(),
            "expected exactly one pod, found 2 documents"
        );
        assert_eq!(read_pods("").unwrap(), vec![]);
        assert!(read_pod("# nothing\n").is_err());
    }

    #[test]
    fn flow_json_and_block_read_the_same() {
        let flow = "{apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: [{name: c, image: busybox}]}}";
        let json = r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}"#;
        let block = read_pod(MINIMAL).unwrap();
        assert_eq!(read_pod(flow).unwrap(), block);
        assert_eq!(read_pod(json).unwrap(), block);
        assert_eq!(read_pod(MINIMAL.trim_end()).unwrap(), block);
    }

    #[test]
    fn quoted_numbers_are_strings_and_int_or_string_takes_both() {
        let text = format!(
            "{MINIMAL}    args: [\"80\", '1.5', x]\n    ports: [{{containerPort: 0x50, name: web}}]\n    readinessProbe: {{httpGet: {{port: web}}}}\n    livenessProbe: {{httpGet: {{port: 80}}}}\n    resources: {{limits: {{cpu: 0.5, memory: \"64Mi\"}}}}\n"
        );
        let c = read_pod(&text).unwrap().pod.spec.containers[0].clone();
        let args: Vec<&str> = c.args.iter().map(|a| a.as_str()).collect();
        assert_eq!(args, ["80", "1.5", "x"]);
        assert_eq!(c.ports[0].container_port, 80);
        let port = |p: &Option<Probe>| match &p.as_ref().unwrap().handler {
            ProbeHandler::HttpGet(h) => h.port.clone(),
            h => panic!("{h:?}"),
        };
        assert_eq!(
            port(&c.readiness_probe),
            PortRef::Name(bounded::name("web").unwrap())
        );
        assert_eq!(port(&c.liveness_probe), PortRef::Number(80));
        let r = c.resources.unwrap();
        assert_eq!(
            (r.requests.cpu, r.limits.cpu, r.requests.memory),
            (Some(500), Some(500), Some(64 << 20))
        );
        let bad = format!("{MINIMAL}    args: [80]\n    workingDir: 1.5\n");
        let want = [
            "spec.containers[0].args[0]: must be a string",
            "spec.containers[0].workingDir: must be a string",
        ];
        assert_eq!(errors(&bad), want);
    }

    #[test]
    fn defaults_follow_kubernetes() {
        let text = format!(
            "{MINIMAL}    terminationMessagePath: /dev/termination-log\n    livenessProbe: {{exec: {{command: [x]}}}}\n  - {{name: d, image: 'a:1', terminationMessagePolicy: FallbackToLogsOnError}}\n"
        );
        let pod = read_pod(&text).unwrap().pod;
        let (c, d) = (&pod.spec.containers[0], &pod.spec.containers[1]);
        assert_eq!(c.termination_message, None);
        let want = ProbeHandler::Exec {
            command: BoundedVec::try_from(vec!["x".try_into().unwrap()]).unwrap(),
        };
        assert_eq!(c.liveness_probe, Some(Probe::new(want)));
        assert_eq!(d.image_pull_policy, PullPolicy::IfNotPresent);
        let m = d.termination_message.as_ref().unwrap();
        assert_eq!(m.path.as_str(), "/dev/termination-log");
        assert_eq!(pod.spec.restart_policy, RestartPolicy::Always);
        assert_eq!(pod.namespace, None);
    }

    #[test]
    fn bounds_are_field_errors() {
        let many: String = (0..17)
            .map(|i| format!("  - {{name: c{i}, image: x}}\n"))
            .collect();
        let text = format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n{many}"
        );
        assert_eq!(
            errors(&text),
            ["spec.containers: must have at most 16 items, got 17"]
        );
        let long = MINIMAL.replace("name: p", &format!("name: {}", "a".repeat(64)));
        assert_eq!(
            errors(&long),
            ["metadata.name: must be no more than 63 bytes, got 64"]
        );
        let big = format!("{MINIMAL}    securityContext: {{runAsUser: 2147483648}}\n");
        assert_eq!(
            errors(&big),
            ["spec.containers[0].securityContext.runAsUser: must be <= 2147483647"]
        );
        let huge = format!("{MINIMAL}  activeDeadlineSeconds: 99999999999999999999\n");
        assert_eq!(
            errors(&huge),
            ["spec.activeDeadlineSeconds: must be <= 9223372036854775807"]
        );
    }

    #[test]
    fn hostile_inputs_are_errors() {
        let deep = format!("{MINIMAL}metadata2: {}{}\n", "[".repeat(70), "]".repeat(70));
        let e = errors(&deep);
        assert!(e[0].starts_with("line 8: nested more than 64"), "{e:?}");
        let huge = format!("{MINIMAL}# {}\n", "x".repeat(yaml::MAX_INPUT));
        assert!(errors(&huge)[0].starts_with("input is "));
        let aliases = format!("{MINIMAL}  nodeSelector: &a {{a: b}}\n  affinity: *a\n");
        assert_eq!(
            errors(&aliases),
            ["line 8: anchors and aliases are not supported"]
        );
        let dup = format!("{MINIMAL}  hostNetwork: true\n  hostNetwork: false\n");
        assert_eq!(errors(&dup), ["line 9: duplicate key \"hostNetwork\""]);
    }

    #[test]
    fn every_prefix_of_every_example_reads_or_fails_without_panic() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/k8s-examples");
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for (i, _) in text.char_indices() {
                let _ = read_pods(&text[..i]);
            }
        }
    }
}
