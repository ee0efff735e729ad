//! The pod spec a device receives: the Kubernetes Pod with the same field meanings and
//! defaults, trimmed to what a single node acts on and laid out for a compact encoding.
//!
//! Defaults are applied before a spec is encoded (imagePullPolicy, requests from limits),
//! so a device never has to re-derive them. Fields left at their defaults cost one byte
//! or nothing. This module holds types only; reading manifests is `manifest`, checking
//! them is `validate`, the byte format is `codec`.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::bounded::{
    BoundedString, BoundedVec, MAX_ARGS, MAX_CONTAINERS, MAX_ENV, MAX_KEY, MAX_LABELS, MAX_MOUNTS,
    MAX_PORTS, MAX_SMALL, Name, Short, Text, TooLong,
};

/// The Kubernetes default of `terminationGracePeriodSeconds`.
pub const DEFAULT_GRACE_PERIOD_SECONDS: u64 = 30;
/// The Kubernetes default of `terminationMessagePath`.
pub const DEFAULT_TERMINATION_MESSAGE_PATH: &str = "/dev/termination-log";

/// A pod: metadata and spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pod {
    /// A DNS-1123 label.
    pub name: Name,
    /// `None` means "default".
    pub namespace: Option<Name>,
    pub uid: Option<Short>,
    /// Sorted by key, keys unique.
    pub labels: BoundedVec<(Key, Short), MAX_LABELS>,
    /// Sorted by key, keys unique.
    pub annotations: BoundedVec<(Key, Text), MAX_LABELS>,
    pub spec: PodSpec,
}

impl Pod {
    /// The namespace with its default applied.
    pub fn namespace(&self) -> &str {
        self.namespace.as_deref().unwrap_or("default")
    }
}

/// A label or annotation key: an optional DNS-subdomain prefix and `/`, then a name.
///
/// Keys under the prefixes of [`Key::PREFIXES`] are frequent (the recommended
/// `app.kubernetes.io/*` labels); on the wire such a prefix is one byte.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(BoundedString<MAX_KEY>);

impl Key {
    /// Index 0 is "no known prefix". Append only: indexes are part of the format.
    pub const PREFIXES: [&'static str; 4] = [
        "",
        "app.kubernetes.io/",
        "kubernetes.io/",
        "kubectl.kubernetes.io/",
    ];

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn split(&self) -> (u8, &str) {
        for (i, p) in Self::PREFIXES.iter().enumerate().skip(1) {
            if let Some(rest) = self.0.strip_prefix(p) {
                return (i as u8, rest);
            }
        }
        (0, &self.0)
    }
}

impl std::ops::Deref for Key {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for Key {
    type Error = TooLong;
    fn try_from(s: &str) -> Result<Key, TooLong> {
        BoundedString::try_from(s).map(Key)
    }
}

impl Serialize for Key {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.split().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let (prefix, rest) = <(u8, BoundedString<MAX_KEY>)>::deserialize(d)?;
        let prefix = Self::PREFIXES
            .get(usize::from(prefix))
            .ok_or_else(|| D::Error::custom("unknown key prefix"))?;
        let key = format!("{prefix}{rest}");
        BoundedString::try_from(key)
            .map(Key)
            .map_err(|_| D::Error::custom("key too long"))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodSpec {
    /// Run in order before the app containers; those with `restart_policy: Always` are
    /// sidecars that keep running beside them.
    pub init_containers: BoundedVec<Container, MAX_CONTAINERS>,
    pub containers: BoundedVec<Container, MAX_CONTAINERS>,
    pub volumes: BoundedVec<Volume, MAX_MOUNTS>,
    pub restart_policy: RestartPolicy,
    pub host: HostNamespaces,
    pub hostname: Option<Name>,
    pub host_aliases: BoundedVec<HostAlias, MAX_SMALL>,
    /// `None` means [`DEFAULT_GRACE_PERIOD_SECONDS`].
    pub termination_grace_period_seconds: Option<u64>,
    pub active_deadline_seconds: Option<u64>,
    pub security_context: Option<PodSecurityContext>,
}

impl PodSpec {
    pub fn termination_grace_period_seconds(&self) -> u64 {
        self.termination_grace_period_seconds
            .unwrap_or(DEFAULT_GRACE_PERIOD_SECONDS)
    }

    /// Init containers then app containers, in spec order.
    pub fn all_containers(&self) -> impl Iterator<Item = &Container> {
        self.init_containers.iter().chain(self.containers.iter())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestartPolicy {
    #[default]
    Always,
    OnFailure,
    Never,
}

impl RestartPolicy {
    pub const fn as_str(self) -> &'static str {
        match self {
            RestartPolicy::Always => "Always",
            RestartPolicy::OnFailure => "OnFailure",
            RestartPolicy::Never => "Never",
        }
    }
}

/// Which host namespaces the pod joins instead of its own. One byte on the wire.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostNamespaces {
    pub network: bool,
    pub pid: bool,
    pub ipc: bool,
    /// `shareProcessNamespace`: one PID namespace for all containers of the pod.
    pub share_process_namespace: bool,
}

impl HostNamespaces {
    fn to_bits(self) -> u8 {
        u8::from(self.network)
            | u8::from(self.pid) << 1
            | u8::from(self.ipc) << 2
            | u8::from(self.share_process_namespace) << 3
    }

    fn from_bits(b: u8) -> Option<Self> {
        if b & !0x0f != 0 {
            return None;
        }
        Some(Self {
            network: b & 1 != 0,
            pid: b & 2 != 0,
            ipc: b & 4 != 0,
            share_process_namespace: b & 8 != 0,
        })
    }
}

impl Serialize for HostNamespaces {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.to_bits())
    }
}

impl<'de> Deserialize<'de> for HostNamespaces {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let b = u8::deserialize(d)?;
        Self::from_bits(b).ok_or_else(|| serde::de::Error::custom("unknown host namespace bits"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostAlias {
    pub ip: IpAddr,
    pub hostnames: BoundedVec<Short, MAX_SMALL>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodSecurityContext {
    pub run_as_user: Option<u32>,
    pub run_as_group: Option<u32>,
    pub run_as_non_root: Option<bool>,
    pub fs_group: Option<u32>,
    pub supplemental_groups: BoundedVec<u32, MAX_SMALL>,
    pub sysctls: BoundedVec<Sysctl, MAX_SMALL>,
    /// The containers' seccomp profile unless a container names its own.
    pub seccomp_profile: Option<SecurityProfile>,
    /// The containers' AppArmor profile unless a container names its own.
    pub app_armor_profile: Option<SecurityProfile>,
}

/// A seccomp or AppArmor profile (`seccompProfile`, `appArmorProfile`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SecurityProfile {
    /// The runtime's default: for seccomp, the policy of Docker's default profile.
    RuntimeDefault,
    Unconfined,
    /// `localhostProfile`: for seccomp a file below `<root>/seccomp/`, for AppArmor the
    /// name of a profile loaded on the host.
    Localhost(Text),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sysctl {
    pub name: Short,
    pub value: Short,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub name: Name,
    pub source: VolumeSource,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum VolumeSource {
    EmptyDir {
        medium: StorageMedium,
        /// Bytes.
        size_limit: Option<u64>,
    },
    HostPath {
        path: Text,
        kind: HostPathType,
    },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum StorageMedium {
    /// On the node's disk (under the root directory).
    #[default]
    Default,
    /// A tmpfs.
    Memory,
}

/// `hostPath.type`; `Unset` is the empty string: no check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostPathType {
    #[default]
    Unset,
    DirectoryOrCreate,
    Directory,
    FileOrCreate,
    File,
    Socket,
    CharDevice,
    BlockDevice,
}

impl HostPathType {
    pub const ALL: [HostPathType; 8] = [
        HostPathType::Unset,
        HostPathType::DirectoryOrCreate,
        HostPathType::Directory,
        HostPathType::FileOrCreate,
        HostPathType::File,
        HostPathType::Socket,
        HostPathType::CharDevice,
        HostPathType::BlockDevice,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            HostPathType::Unset => "",
            HostPathType::DirectoryOrCreate => "DirectoryOrCreate",
            HostPathType::Directory => "Directory",
            HostPathType::FileOrCreate => "FileOrCreate",
            HostPathType::File => "File",
            HostPathType::Socket => "Socket",
            HostPathType::CharDevice => "CharDevice",
            HostPathType::BlockDevice => "BlockDevice",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Container {
    pub name: Name,
    pub image: Text,
    /// Already defaulted: Always for `:latest` or no tag, else IfNotPresent.
    pub image_pull_policy: PullPolicy,
    /// Replaces the image's Entrypoint when not empty.
    pub command: BoundedVec<Text, MAX_ARGS>,
    /// Replaces the image's Cmd when not empty.
    pub args: BoundedVec<Text, MAX_ARGS>,
    pub working_dir: Option<Text>,
    pub env: BoundedVec<EnvVar, MAX_ENV>,
    pub ports: BoundedVec<ContainerPort, MAX_PORTS>,
    pub volume_mounts: BoundedVec<VolumeMount, MAX_MOUNTS>,
    pub resources: Option<Resources>,
    pub liveness_probe: Option<Probe>,
    pub readiness_probe: Option<Probe>,
    pub startup_probe: Option<Probe>,
    pub lifecycle: Option<Lifecycle>,
    pub security_context: Option<SecurityContext>,
    /// `None` means [`DEFAULT_TERMINATION_MESSAGE_PATH`] with policy File.
    pub termination_message: Option<TerminationMessage>,
    /// Only on init containers: `Always` makes it a sidecar.
    pub restart_policy: Option<ContainerRestartPolicy>,
}

impl Container {
    /// A container with only a name and an image, every other field at its Kubernetes
    /// default (the pull policy defaulted from the image's tag).
    pub fn new(name: Name, image: Text) -> Container {
        Container {
            image_pull_policy: PullPolicy::default_for(&image),
            name,
            image,
            command: BoundedVec::new(),
            args: BoundedVec::new(),
            working_dir: None,
            env: BoundedVec::new(),
            ports: BoundedVec::new(),
            volume_mounts: BoundedVec::new(),
            resources: None,
            liveness_probe: None,
            readiness_probe: None,
            startup_probe: None,
            lifecycle: None,
            security_context: None,
            termination_message: None,
            restart_policy: None,
        }
    }

    pub fn is_sidecar(&self) -> bool {
        self.restart_policy == Some(ContainerRestartPolicy::Always)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

impl PullPolicy {
    /// The Kubernetes default for `image`: Always for `:latest` or no tag, else IfNotPresent.
    pub fn default_for(image: &str) -> PullPolicy {
        if image.contains('@') {
            return PullPolicy::IfNotPresent;
        }
        // The tag follows the last ':' after the last '/' (a ':' before it is a port).
        let last = image.rsplit('/').next().unwrap_or(image);
        match last.rsplit_once(':') {
            Some((_, "latest")) | None => PullPolicy::Always,
            Some(_) => PullPolicy::IfNotPresent,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            PullPolicy::Always => "Always",
            PullPolicy::IfNotPresent => "IfNotPresent",
            PullPolicy::Never => "Never",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContainerRestartPolicy {
    Always,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminationMessage {
    pub path: Text,
    pub policy: TerminationMessagePolicy,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TerminationMessagePolicy {
    #[default]
    File,
    FallbackToLogsOnError,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvVar {
    pub name: Short,
    pub value: EnvValue,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EnvValue {
    /// May refer to earlier variables as `$(NAME)`; `$$` escapes.
    Value(Text),
    FieldRef(FieldRef),
    ResourceFieldRef(ResourceFieldRef),
}

/// `valueFrom.fieldRef.fieldPath`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FieldRef {
    Name,
    Namespace,
    Uid,
    Label(Short),
    Annotation(Short),
    NodeName,
    PodIp,
    HostIp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceFieldRef {
    /// `None`: the container that declares the variable.
    pub container_name: Option<Name>,
    pub resource: ResourceField,
    /// In the resource's unit (millicores or bytes); `None` means 1 (1 core, 1 byte).
    pub divisor: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResourceField {
    LimitsCpu,
    LimitsMemory,
    LimitsEphemeralStorage,
    RequestsCpu,
    RequestsMemory,
    RequestsEphemeralStorage,
}

impl ResourceField {
    pub const ALL: [ResourceField; 6] = [
        ResourceField::LimitsCpu,
        ResourceField::LimitsMemory,
        ResourceField::LimitsEphemeralStorage,
        ResourceField::RequestsCpu,
        ResourceField::RequestsMemory,
        ResourceField::RequestsEphemeralStorage,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ResourceField::LimitsCpu => "limits.cpu",
            ResourceField::LimitsMemory => "limits.memory",
            ResourceField::LimitsEphemeralStorage => "limits.ephemeral-storage",
            ResourceField::RequestsCpu => "requests.cpu",
            ResourceField::RequestsMemory => "requests.memory",
            ResourceField::RequestsEphemeralStorage => "requests.ephemeral-storage",
        }
    }

    pub const fn is_cpu(self) -> bool {
        matches!(self, ResourceField::LimitsCpu | ResourceField::RequestsCpu)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerPort {
    /// An IANA service name, at most 15 bytes.
    pub name: Option<Name>,
    pub container_port: u16,
    pub host_port: Option<u16>,
    pub protocol: Protocol,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    pub const fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeMount {
    pub name: Name,
    pub mount_path: Text,
    pub read_only: bool,
    pub sub_path: Option<Text>,
}

/// Requests and limits. Requests default to limits when only limits are given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    pub requests: ResourceList,
    pub limits: ResourceList,
}

impl Resources {
    pub fn get(&self, field: ResourceField) -> Option<u64> {
        match field {
            ResourceField::LimitsCpu => self.limits.cpu,
            ResourceField::LimitsMemory => self.limits.memory,
            ResourceField::LimitsEphemeralStorage => self.limits.ephemeral_storage,
            ResourceField::RequestsCpu => self.requests.cpu,
            ResourceField::RequestsMemory => self.requests.memory,
            ResourceField::RequestsEphemeralStorage => self.requests.ephemeral_storage,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceList {
    /// Millicores.
    pub cpu: Option<u64>,
    /// Bytes.
    pub memory: Option<u64>,
    /// Bytes.
    pub ephemeral_storage: Option<u64>,
}

/// Field names and defaults as in Kubernetes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    pub handler: ProbeHandler,
    pub initial_delay_seconds: u32,
    pub period_seconds: u32,
    pub timeout_seconds: u32,
    pub success_threshold: u32,
    pub failure_threshold: u32,
    pub termination_grace_period_seconds: Option<u64>,
}

impl Probe {
    pub const DEFAULT_PERIOD_SECONDS: u32 = 10;
    pub const DEFAULT_TIMEOUT_SECONDS: u32 = 1;
    pub const DEFAULT_SUCCESS_THRESHOLD: u32 = 1;
    pub const DEFAULT_FAILURE_THRESHOLD: u32 = 3;

    /// A probe with the Kubernetes defaults.
    pub fn new(handler: ProbeHandler) -> Probe {
        Probe {
            handler,
            initial_delay_seconds: 0,
            period_seconds: Self::DEFAULT_PERIOD_SECONDS,
            timeout_seconds: Self::DEFAULT_TIMEOUT_SECONDS,
            success_threshold: Self::DEFAULT_SUCCESS_THRESHOLD,
            failure_threshold: Self::DEFAULT_FAILURE_THRESHOLD,
            termination_grace_period_seconds: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProbeHandler {
    Exec { command: BoundedVec<Text, MAX_ARGS> },
    HttpGet(HttpGet),
    TcpSocket { host: Option<Short>, port: PortRef },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpGet {
    /// `None`: the pod IP (inside the pod's network namespace).
    pub host: Option<Short>,
    /// `None` means "/".
    pub path: Option<Text>,
    pub port: PortRef,
    pub scheme: Scheme,
    pub http_headers: BoundedVec<HttpHeader, MAX_SMALL>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpHeader {
    pub name: Short,
    pub value: Text,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scheme {
    #[default]
    Http,
    Https,
}

impl Scheme {
    pub const fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "HTTP",
            Scheme::Https => "HTTPS",
        }
    }
}

/// A port by number, or by the name of one of the container's ports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PortRef {
    Number(u16),
    Name(Name),
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lifecycle {
    pub post_start: Option<LifecycleHandler>,
    pub pre_stop: Option<LifecycleHandler>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LifecycleHandler {
    Exec { command: BoundedVec<Text, MAX_ARGS> },
    HttpGet(HttpGet),
    Sleep { seconds: u64 },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityContext {
    pub run_as_user: Option<u32>,
    pub run_as_group: Option<u32>,
    pub run_as_non_root: Option<bool>,
    pub privileged: Option<bool>,
    pub allow_privilege_escalation: Option<bool>,
    pub read_only_root_filesystem: Option<bool>,
    pub capabilities: Option<Capabilities>,
    pub seccomp_profile: Option<SecurityProfile>,
    pub app_armor_profile: Option<SecurityProfile>,
}

/// Capability names as written in the manifest (`NET_ADMIN`, `ALL`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    pub add: BoundedVec<Short, MAX_SMALL>,
    pub drop: BoundedVec<Short, MAX_SMALL>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policy_defaults_like_kubernetes() {
        let cases = [
            ("alpine", PullPolicy::Always),
            ("alpine:latest", PullPolicy::Always),
            ("alpine:3.20", PullPolicy::IfNotPresent),
            ("localhost:5000/app", PullPolicy::Always),
            ("localhost:5000/app:1", PullPolicy::IfNotPresent),
            ("ghcr.io/o/app@sha256:abcd", PullPolicy::IfNotPresent),
            ("ghcr.io/o/app:latest@sha256:abcd", PullPolicy::IfNotPresent),
        ];
        for (image, want) in cases {
            assert_eq!(PullPolicy::default_for(image), want, "{image}");
        }
    }

    #[test]
    fn known_key_prefixes_cost_one_byte() {
        for (key, bytes) in [
            ("app.kubernetes.io/name", &b"\x01\x04name"[..]),
            ("kubernetes.io/os", b"\x02\x02os"),
            ("app", b"\x00\x03app"),
        ] {
            let k = Key::try_from(key).unwrap();
            let enc = postcard::to_allocvec(&k).unwrap();
            assert_eq!(enc, bytes, "{key}");
            assert_eq!(postcard::from_bytes::<Key>(&enc).unwrap(), k);
        }
        assert!(postcard::from_bytes::<Key>(b"\x09\x01a").is_err());
    }

    #[test]
    fn host_namespaces_round_trip_as_one_byte() {
        let h = HostNamespaces {
            network: true,
            ipc: true,
            ..Default::default()
        };
        let bytes = postcard::to_allocvec(&h).unwrap();
        assert_eq!(bytes, [5]);
        assert_eq!(postcard::from_bytes::<HostNamespaces>(&bytes).unwrap(), h);
        assert!(postcard::from_bytes::<HostNamespaces>(&[0x10]).is_err());
    }
}
