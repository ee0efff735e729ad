//! The pod level of a manifest: apiVersion and kind, metadata, the pod spec and its
//! volumes. Part of `read`; containers are in `container`.

use std::net::{IpAddr, Ipv4Addr};

use super::{Reader, at, idx};
use crate::spec::bounded::{self, BoundedString, BoundedVec, MAX_SMALL, Name};
use crate::spec::manifest::node::{Node, Value};
use crate::spec::quantity;
use crate::spec::{
    HostAlias, HostPathType, Key, Pod, PodSecurityContext, PodSpec, RestartPolicy, StorageMedium,
    Sysctl, Volume, VolumeSource,
};

impl Reader {
    /// A top-level document: apiVersion and kind first, then the rest.
    pub(super) fn pod(&mut self, doc: &Node) -> Option<Pod> {
        let Value::Map(_) = doc.value else {
            self.err(
                "",
                format!("a document must be a mapping, got {}", doc.kind_name()),
            );
            return None;
        };
        let mut ok = true;
        for (field, want) in [("apiVersion", "v1"), ("kind", "Pod")] {
            match doc.get(field).map(|n| &n.value) {
                Some(Value::Str(s)) if s == want => {}
                Some(Value::Str(s)) => {
                    self.err(field, format!("only {want} is supported, got {s:?}"));
                    ok = false;
                }
                None | Some(Value::Null) => {
                    self.err(field, "required value");
                    ok = false;
                }
                Some(_) => {
                    self.err(field, "must be a string");
                    ok = false;
                }
            }
        }
        if !ok {
            return None;
        }
        let mut pod = Pod {
            name: Name::new(),
            namespace: None,
            uid: None,
            labels: BoundedVec::new(),
            annotations: BoundedVec::new(),
            spec: PodSpec::default(),
        };
        for (k, v) in self.map(doc, "") {
            match k.as_str() {
                "apiVersion" | "kind" => {}
                "metadata" => self.metadata(v, &mut pod),
                "spec" => pod.spec = self.spec(v, "spec"),
                "status" => self.ignore(k),
                _ => self.unknown(k),
            }
        }
        Some(pod)
    }

    fn metadata(&mut self, n: &Node, pod: &mut Pod) {
        for (k, v) in self.map(n, "metadata") {
            let p = at("metadata", k);
            match k.as_str() {
                "name" => pod.name = self.name(v, &p).unwrap_or_default(),
                "namespace" => pod.namespace = self.name(v, &p),
                "uid" => pod.uid = self.bounded(v, &p),
                "labels" => pod.labels = self.key_values(v, &p),
                "annotations" => pod.annotations = self.key_values(v, &p),
                "creationTimestamp"
                | "resourceVersion"
                | "generation"
                | "managedFields"
                | "ownerReferences"
                | "finalizers"
                | "selfLink"
                | "generateName"
                | "deletionTimestamp"
                | "deletionGracePeriodSeconds" => self.ignore(&p),
                _ => self.unknown(&p),
            }
        }
    }

    /// Labels or annotations, sorted by key.
    fn key_values<const N: usize, const MAX: usize>(
        &mut self,
        n: &Node,
        path: &str,
    ) -> BoundedVec<(Key, BoundedString<N>), MAX> {
        let entries = self.map(n, path);
        if entries.len() > MAX {
            self.err(
                path,
                format!("must have at most {MAX} items, got {}", entries.len()),
            );
        }
        let mut out = Vec::new();
        for (k, v) in entries.iter().take(MAX) {
            let p = format!("{path}[{k}]");
            let key = Key::try_from(k.as_str())
                .map_err(|e| self.err(&p, format!("key must be no more than {} bytes", e.max)));
            let value = self.bounded::<N>(v, &p).unwrap_or_default();
            if let Ok(key) = key {
                out.push((key, value));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        BoundedVec::try_from(out).unwrap_or_default()
    }

    fn spec(&mut self, n: &Node, path: &str) -> PodSpec {
        let mut spec = PodSpec::default();
        for (k, v) in self.map(n, path) {
            let p = at(path, k);
            match k.as_str() {
                "containers" => spec.containers = self.containers(v, &p),
                "initContainers" => spec.init_containers = self.containers(v, &p),
                "volumes" => spec.volumes = self.volumes(v, &p),
                "restartPolicy" => {
                    spec.restart_policy = self
                        .choice(
                            v,
                            &p,
                            &[
                                ("Always", RestartPolicy::Always),
                                ("OnFailure", RestartPolicy::OnFailure),
                                ("Never", RestartPolicy::Never),
                            ],
                        )
                        .unwrap_or_default();
                }
                "hostNetwork" => spec.host.network = self.bool(v, &p).unwrap_or(false),
                "hostPID" => spec.host.pid = self.bool(v, &p).unwrap_or(false),
                "hostIPC" => spec.host.ipc = self.bool(v, &p).unwrap_or(false),
                "shareProcessNamespace" => {
                    spec.host.share_process_namespace = self.bool(v, &p).unwrap_or(false);
                }
                "hostname" => spec.hostname = self.name(v, &p),
                "hostAliases" => spec.host_aliases = self.host_aliases(v, &p),
                "terminationGracePeriodSeconds" => {
                    spec.termination_grace_period_seconds = self.u64(v, &p, 0);
                }
                "activeDeadlineSeconds" => spec.active_deadline_seconds = self.u64(v, &p, 1),
                "securityContext" => spec.security_context = Some(self.pod_security(v, &p)),
                "nodeName"
                | "nodeSelector"
                | "affinity"
                | "tolerations"
                | "schedulerName"
                | "priorityClassName"
                | "priority"
                | "preemptionPolicy"
                | "serviceAccountName"
                | "serviceAccount"
                | "automountServiceAccountToken"
                | "dnsPolicy"
                | "dnsConfig"
                | "enableServiceLinks"
                | "topologySpreadConstraints"
                | "readinessGates"
                | "runtimeClassName"
                | "overhead"
                | "os"
                | "imagePullSecrets"
                | "setHostnameAsFQDN"
                | "subdomain"
                | "schedulingGates" => self.ignore(&p),
                "ephemeralContainers"
                | "hostUsers"
                | "resourceClaims"
                | "resources"
                | "hostnameOverride" => self.unsupported(&p),
                _ => self.unknown(&p),
            }
        }
        spec
    }

    fn host_aliases(&mut self, n: &Node, path: &str) -> BoundedVec<HostAlias, MAX_SMALL> {
        let mut out = BoundedVec::new();
        for (i, item) in self.list(n, path, MAX_SMALL).iter().enumerate() {
            let path = idx(path, i);
            let mut ip = None;
            let mut hostnames = BoundedVec::new();
            for (k, v) in self.map(item, &path) {
                let p = at(&path, k);
                match k.as_str() {
                    "ip" => match self.str(v, &p).map(str::parse::<IpAddr>) {
                        Some(Ok(addr)) => ip = Some(addr),
                        Some(Err(_)) => self.err(&p, "must be a valid IP address"),
                        None => {}
                    },
                    "hostnames" => hostnames = self.strings(v, &p),
                    _ => self.unknown(&p),
                }
            }
            if item.get("ip").is_none() {
                self.err(&at(&path, "ip"), "required value");
            }
            // A placeholder keeps the indexes of later aliases.
            let ip = ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
            let _ = out.push(HostAlias { ip, hostnames });
        }
        out
    }

    fn pod_security(&mut self, n: &Node, path: &str) -> PodSecurityContext {
        let mut sc = PodSecurityContext::default();
        for (k, v) in self.map(n, path) {
            let p = at(path, k);
            match k.as_str() {
                "runAsUser" => sc.run_as_user = self.id(v, &p),
                "runAsGroup" => sc.run_as_group = self.id(v, &p),
                "runAsNonRoot" => sc.run_as_non_root = self.bool(v, &p),
                "fsGroup" => sc.fs_group = self.id(v, &p),
                "supplementalGroups" => {
                    for (i, g) in self.list(v, &p, MAX_SMALL).iter().enumerate() {
                        if let Some(g) = self.id(g, &idx(&p, i)) {
                            let _ = sc.supplemental_groups.push(g);
                        }
                    }
                }
                "sysctls" => {
                    sc.sysctls = self.name_values(v, &p, |name, value| Sysctl { name, value });
                }
                "seccompProfile" => sc.seccomp_profile = self.security_profile(v, &p),
                "appArmorProfile" => sc.app_armor_profile = self.security_profile(v, &p),
                "seLinuxOptions" => self.se_linux_options(v, &p),
                "windowsOptions" => self.ignore(&p),
                "fsGroupChangePolicy" | "supplementalGroupsPolicy" | "seLinuxChangePolicy" => {
                    self.unsupported(&p);
                }
                _ => self.unknown(&p),
            }
        }
        sc
    }

    fn volumes(&mut self, n: &Node, path: &str) -> BoundedVec<Volume, { bounded::MAX_MOUNTS }> {
        let mut out = BoundedVec::new();
        for (i, item) in self.list(n, path, bounded::MAX_MOUNTS).iter().enumerate() {
            let path = idx(path, i);
            let mut name = Name::new();
            let mut sources = Vec::new();
            for (k, v) in self.map(item, &path) {
                let p = at(&path, k);
                match k.as_str() {
                    "name" => name = self.name(v, &p).unwrap_or_default(),
                    "emptyDir" => sources.push(self.empty_dir(v, &p)),
                    "hostPath" => sources.push(self.host_path(v, &p)),
                    s if UNSUPPORTED_VOLUMES.contains(&s) => {
                        self.err(&p, format!("{s} volumes are not supported by pealet"));
                        sources.push(None);
                    }
                    _ => self.unknown(&p),
                }
            }
            if sources.is_empty() {
                self.err(&path, "must specify a volume type");
            } else if sources.len() > 1 {
                self.err(&path, "may not specify more than 1 volume type");
            }
            // A placeholder source keeps mounts of this volume from failing validation.
            let source = sources
                .into_iter()
                .flatten()
                .next()
                .unwrap_or(VolumeSource::EmptyDir {
                    medium: StorageMedium::Default,
                    size_limit: None,
                });
            let _ = out.push(Volume { name, source });
        }
        out
    }

    fn empty_dir(&mut self, n: &Node, path: &str) -> Option<VolumeSource> {
        let (mut medium, mut size_limit) = (StorageMedium::Default, None);
        for (k, v) in self.map(n, path) {
            let p = at(path, k);
            match k.as_str() {
                "medium" => {
                    medium = self
                        .choice(
                            v,
                            &p,
                            &[
                                ("", StorageMedium::Default),
                                ("Memory", StorageMedium::Memory),
                            ],
                        )
                        .unwrap_or_default();
                }
                "sizeLimit" => size_limit = self.quantity(v, &p, quantity::parse_bytes),
                _ => self.unknown(&p),
            }
        }
        Some(VolumeSource::EmptyDir { medium, size_limit })
    }

    fn host_path(&mut self, n: &Node, path: &str) -> Option<VolumeSource> {
        let (mut host, mut kind) = (None, HostPathType::Unset);
        for (k, v) in self.map(n, path) {
            let p = at(path, k);
            match k.as_str() {
                "path" => host = self.bounded(v, &p),
                "type" => {
                    let options = HostPathType::ALL.map(|t| (t.as_str(), t));
                    kind = self.choice(v, &p, &options).unwrap_or_default();
                }
                _ => self.unknown(&p),
            }
        }
        Some(VolumeSource::HostPath {
            path: host.unwrap_or_default(),
            kind,
        })
    }
}

/// Volume sources that Kubernetes knows and pealet refuses.
const UNSUPPORTED_VOLUMES: &[&str] = &[
    "configMap",
    "secret",
    "persistentVolumeClaim",
    "projected",
    "downwardAPI",
    "ephemeral",
    "csi",
    "image",
    "nfs",
    "iscsi",
    "gitRepo",
    "awsElasticBlockStore",
    "gcePersistentDisk",
    "azureDisk",
    "azureFile",
    "cephfs",
    "cinder",
    "fc",
    "flexVolume",
    "flocker",
    "glusterfs",
    "photonPersistentDisk",
    "portworxVolume",
    "quobyte",
    "rbd",
    "scaleIO",
    "storageos",
    "vsphereVolume",
];
