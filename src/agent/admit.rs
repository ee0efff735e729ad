//! Admission on the device: which pods from the broker this node accepts (privileged
//! containers, host namespaces, hostPath volumes: all refused unless the node's config
//! allows them) and whether a pod's requests fit what is left of the node's allocatable
//! resources. Static pods of the manifests directory skip the first check (only root on
//! the device writes there). Pure functions; the runtime calls them before a start.

use crate::spec::{NodeResources, Pod, Reason, VolumeSource};

/// The device's admission settings (config keys `allow_privileged`,
/// `allow_host_namespaces`, `allow_host_path`, `host_path_prefixes`). The default
/// refuses all three: whoever may publish to the broker must not get the host.
#[derive(Debug, Clone, Default)]
pub struct Admission {
    pub allow_privileged: bool,
    pub allow_host_namespaces: bool,
    pub allow_host_path: bool,
    /// Where hostPath is allowed, volumes must lie under one of these; `None`: anywhere.
    pub host_path_prefixes: Option<Vec<String>>,
    /// Sysctls beyond the safe set that pods may set (`allowed_unsafe_sysctls`).
    pub allowed_unsafe_sysctls: Vec<String>,
}

impl Admission {
    /// Everything allowed: what static pods and `pealet run` get.
    pub fn everything() -> Admission {
        Admission {
            allow_privileged: true,
            allow_host_namespaces: true,
            allow_host_path: true,
            host_path_prefixes: None,
            allowed_unsafe_sysctls: Vec::new(),
        }
    }
}

/// Why a pod was not admitted: the status reason and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: Reason,
    pub message: String,
}

impl Admission {
    /// The first rule that `pod` breaks, if any.
    pub fn check(&self, pod: &Pod) -> Result<(), Refusal> {
        let forbidden = |message: String| Refusal {
            reason: Reason::Other("Forbidden".try_into().unwrap_or_default()),
            message,
        };
        if !self.allow_privileged {
            let privileged = (pod.spec.all_containers()).find(|c| {
                (c.security_context.as_ref()).is_some_and(|s| s.privileged == Some(true))
            });
            if let Some(c) = privileged {
                return Err(forbidden(format!(
                    "container {} is privileged; this node does not allow privileged \
                     containers from the broker (allow_privileged = true in its config)",
                    c.name
                )));
            }
        }
        if let Err(message) = crate::runtime::sysctl::check(pod, &self.allowed_unsafe_sysctls) {
            return Err(Refusal {
                reason: Reason::Other(
                    crate::runtime::sysctl::FORBIDDEN
                        .try_into()
                        .unwrap_or_default(),
                ),
                message,
            });
        }
        let host = &pod.spec.host;
        if !self.allow_host_namespaces && (host.network || host.pid || host.ipc) {
            return Err(forbidden(
                "hostNetwork, hostPID and hostIPC are not allowed on this node \
                 (allow_host_namespaces = true in its config)"
                    .into(),
            ));
        }
        if !self.allow_host_path {
            let host_path = (pod.spec.volumes.iter())
                .find(|v| matches!(v.source, VolumeSource::HostPath { .. }));
            if let Some(v) = host_path {
                return Err(forbidden(format!(
                    "volume {} is a hostPath; this node does not allow hostPath volumes \
                     from the broker (allow_host_path = true in its config)",
                    v.name
                )));
            }
        }
        if let Some(prefixes) = &self.host_path_prefixes {
            for v in pod.spec.volumes.iter() {
                if let VolumeSource::HostPath { path, .. } = &v.source {
                    if !prefixes.iter().any(|p| under(path, p)) {
                        return Err(forbidden(format!(
                            "hostPath {path} of volume {} is outside the allowed prefixes ({})",
                            v.name,
                            prefixes.join(", ")
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Whether `path` is `prefix` or lies below it (by whole components, no `..`).
fn under(path: &str, prefix: &str) -> bool {
    if path.split('/').any(|c| c == "..") {
        return false;
    }
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        return path.starts_with('/');
    }
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|r| r.starts_with('/'))
}

/// The requests of a pod as the scheduler counts them: the larger of the sum over app
/// containers and sidecars, and the largest single init container.
pub fn requests(pod: &Pod) -> (u64, u64) {
    let req = |c: &crate::spec::Container| {
        let r = c.resources.as_ref().map(|r| r.requests).unwrap_or_default();
        (r.cpu.unwrap_or(0), r.memory.unwrap_or(0))
    };
    let mut sum = (0u64, 0u64);
    let mut init_max = (0u64, 0u64);
    for c in pod.spec.init_containers.iter() {
        let (cpu, mem) = req(c);
        if c.is_sidecar() {
            sum = (sum.0.saturating_add(cpu), sum.1.saturating_add(mem));
        } else {
            init_max = (init_max.0.max(cpu), init_max.1.max(mem));
        }
    }
    for c in pod.spec.containers.iter() {
        let (cpu, mem) = req(c);
        sum = (sum.0.saturating_add(cpu), sum.1.saturating_add(mem));
    }
    (sum.0.max(init_max.0), sum.1.max(init_max.1))
}

/// Whether `pod` fits beside pods that already request `used` (cpu, memory) on a node
/// with `allocatable`; refused OutOfmemory / OutOfcpu as the kubelet does.
pub fn fits(pod: &Pod, used: (u64, u64), allocatable: &NodeResources) -> Result<(), Refusal> {
    let (cpu, mem) = requests(pod);
    if mem > 0 && used.1.saturating_add(mem) > allocatable.memory {
        return Err(Refusal {
            reason: Reason::OutOfMemory,
            message: format!(
                "Node didn't have enough resource: memory, requested: {mem}, used: {}, capacity: {}",
                used.1, allocatable.memory
            ),
        });
    }
    if cpu > 0 && used.0.saturating_add(cpu) > allocatable.cpu {
        return Err(Refusal {
            reason: Reason::OutOfCpu,
            message: format!(
                "Node didn't have enough resource: cpu, requested: {cpu}m, used: {}m, capacity: {}m",
                used.0, allocatable.cpu
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::manifest::read::read_pod;

    fn pod(yaml: &str) -> Pod {
        read_pod(yaml).unwrap().pod
    }

    const PRIVILEGED: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  hostNetwork: true\n  containers:\n  - name: c\n    image: busybox:1\n    securityContext: {privileged: true}\n    resources: {requests: {memory: 64Mi, cpu: 250m}}\n  volumes:\n  - name: v\n    hostPath: {path: /etc/x}\n";

    #[test]
    fn admission_rules() {
        let p = pod(PRIVILEGED);
        assert!(Admission::everything().check(&p).is_ok());
        let msg = |a: &Admission| a.check(&p).unwrap_err().message;
        assert!(msg(&Admission::default()).contains("allow_privileged = true"));
        let only_priv = Admission {
            allow_privileged: true,
            ..Admission::default()
        };
        assert!(msg(&only_priv).contains("hostNetwork"));
        let no_host_path = Admission {
            allow_host_path: false,
            ..Admission::everything()
        };
        assert!(msg(&no_host_path).contains("allow_host_path = true"));
        let plain = pod(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: c, image: busybox:1}\n",
        );
        assert!(Admission::default().check(&plain).is_ok());
        let no_priv = Admission {
            allow_privileged: false,
            ..Admission::everything()
        };
        assert!(
            no_priv
                .check(&p)
                .unwrap_err()
                .message
                .contains("privileged")
        );
        let no_host = Admission {
            allow_host_namespaces: false,
            ..Admission::everything()
        };
        assert!(
            no_host
                .check(&p)
                .unwrap_err()
                .message
                .contains("hostNetwork")
        );
        let prefixes = |p: &[&str]| Admission {
            host_path_prefixes: Some(p.iter().map(|s| s.to_string()).collect()),
            ..Admission::everything()
        };
        assert!(prefixes(&["/etc"]).check(&p).is_ok());
        assert!(prefixes(&["/et", "/var"]).check(&p).is_err());
        assert!(under("/etc/x", "/etc/"));
        assert!(!under("/etc/../root", "/etc"));
    }

    #[test]
    fn unsafe_sysctls_are_forbidden_unless_allowed() {
        let p = pod(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  securityContext: {sysctls: [{name: kernel.msgmax, value: '1'}]}\n  containers: [{name: c, image: i}]\n",
        );
        let refusal = Admission::default().check(&p).unwrap_err();
        assert_eq!(refusal.reason.to_string(), "SysctlForbidden");
        assert!(
            refusal.message.contains("kernel.msgmax"),
            "{}",
            refusal.message
        );
        let allowed = Admission {
            allowed_unsafe_sysctls: vec!["kernel.msg*".into()],
            ..Admission::default()
        };
        assert!(allowed.check(&p).is_ok());
    }

    #[test]
    fn resource_fit() {
        let p = pod(PRIVILEGED);
        assert_eq!(requests(&p), (250, 64 << 20));
        let node = NodeResources {
            cpu: 1000,
            memory: 100 << 20,
            pods: 110,
        };
        assert!(fits(&p, (0, 0), &node).is_ok());
        let e = fits(&p, (0, 50 << 20), &node).unwrap_err();
        assert_eq!(e.reason, Reason::OutOfMemory);
        let e = fits(&p, (800, 0), &node).unwrap_err();
        assert_eq!(e.reason, Reason::OutOfCpu);
    }
}
