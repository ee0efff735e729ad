//! Pod sysctls as the kubelet admits them: the safe set is always allowed, other
//! namespaced sysctls only when the node's config lists them (`allowed_unsafe_sysctls`,
//! with `prefix*` patterns), and nothing that would change the host: a sysctl that is
//! not namespaced, a net.* one with hostNetwork, an IPC one with hostIPC. Refusals carry
//! the kubelet's reason, SysctlForbidden. Pure; the sandbox writes the values.

use crate::spec::Pod;

/// The kubelet's safe sysctls: namespaced, and harmless to other pods.
pub const SAFE: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];

/// The status reason of a pod refused for its sysctls.
pub const FORBIDDEN: &str = "SysctlForbidden";

/// The namespace a sysctl belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Namespace {
    Ipc,
    Net,
    Uts,
}

/// `kernel/shm_rmid_forced` and `kernel.shm_rmid_forced` are the same sysctl.
pub fn normalize(name: &str) -> String {
    name.replace('/', ".")
}

/// The namespace of a (normalized) sysctl, `None` when it is not namespaced.
pub fn namespace_of(name: &str) -> Option<Namespace> {
    const IPC: &[&str] = &[
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
        "kernel.msgmax",
        "kernel.msgmni",
        "kernel.msgmnb",
    ];
    if IPC.contains(&name) || name.starts_with("fs.mqueue.") {
        Some(Namespace::Ipc)
    } else if name.starts_with("net.") {
        Some(Namespace::Net)
    } else if name == "kernel.hostname" || name == "kernel.domainname" {
        Some(Namespace::Uts)
    } else {
        None
    }
}

/// Whether `name` matches an `allowed_unsafe_sysctls` entry (exact, or `prefix*`).
fn allowed(name: &str, patterns: &[String]) -> bool {
    patterns.iter().any(|p| {
        let p = normalize(p);
        match p.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == p,
        }
    })
}

/// The pod's sysctls as (path below /proc/sys, value), or the refusal message.
pub fn check(pod: &Pod, allowed_unsafe: &[String]) -> Result<Vec<(String, String)>, String> {
    let Some(sc) = &pod.spec.security_context else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for s in sc.sysctls.iter() {
        let name = normalize(&s.name);
        let Some(ns) = namespace_of(&name) else {
            return Err(format!(
                "forbidden sysctl: {name:?} is not namespaced: it would change the host"
            ));
        };
        if ns == Namespace::Uts {
            return Err(format!(
                "forbidden sysctl: {name:?}: set the hostname with spec.hostname"
            ));
        }
        let host = &pod.spec.host;
        if ns == Namespace::Net && host.network {
            return Err(format!(
                "forbidden sysctl: {name:?} not allowed with hostNetwork enabled"
            ));
        }
        if ns == Namespace::Ipc && host.ipc {
            return Err(format!(
                "forbidden sysctl: {name:?} not allowed with hostIPC enabled"
            ));
        }
        if !SAFE.contains(&name.as_str()) && !allowed(&name, allowed_unsafe) {
            return Err(format!(
                "forbidden sysctl: {name:?} not allowlisted (allowed_unsafe_sysctls)"
            ));
        }
        out.push((name.replace('.', "/"), s.value.to_string()));
    }
    Ok(out)
}

/// The sysctls of an admitted pod to write in its sandbox: (path below /proc/sys,
/// value). Only namespaced ones of the pod's own namespaces ever come out.
pub fn values(pod: &Pod) -> Vec<(String, String)> {
    check(pod, &["*".to_string()]).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{PodSecurityContext, Sysctl};

    fn pod(sysctls: &[(&str, &str)], host_network: bool) -> Pod {
        let mut p = crate::spec::manifest::read::read_pods(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: i}]\n",
        )
        .unwrap()
        .remove(0)
        .pod;
        let mut sc = PodSecurityContext::default();
        for (n, v) in sysctls {
            let _ = sc.sysctls.push(Sysctl {
                name: (*n).try_into().unwrap(),
                value: (*v).try_into().unwrap(),
            });
        }
        p.spec.security_context = Some(sc);
        p.spec.host.network = host_network;
        p
    }

    #[test]
    fn safe_allowed_and_forbidden_sysctls() {
        let safe = pod(
            &[
                ("net.ipv4.ping_group_range", "0 1000"),
                ("kernel/shm_rmid_forced", "1"),
            ],
            false,
        );
        assert_eq!(
            check(&safe, &[]).unwrap(),
            [
                (
                    "net/ipv4/ping_group_range".to_string(),
                    "0 1000".to_string()
                ),
                ("kernel/shm_rmid_forced".to_string(), "1".to_string())
            ]
        );
        let unsafe_ = pod(&[("kernel.msgmax", "1024")], false);
        assert_eq!(
            check(&unsafe_, &[]).unwrap_err(),
            "forbidden sysctl: \"kernel.msgmax\" not allowlisted (allowed_unsafe_sysctls)"
        );
        assert!(check(&unsafe_, &["kernel.msg*".to_string()]).is_ok());
        assert!(check(&unsafe_, &["kernel.msgmax".to_string()]).is_ok());
        assert!(check(&unsafe_, &["kernel.shm*".to_string()]).is_err());
        let host = pod(&[("vm.swappiness", "1")], false);
        assert!(
            check(&host, &["*".to_string()])
                .unwrap_err()
                .contains("not namespaced")
        );
        let net = pod(&[("net.ipv4.tcp_syncookies", "1")], true);
        assert!(check(&net, &[]).unwrap_err().contains("hostNetwork"));
        let uts = pod(&[("kernel.hostname", "x")], false);
        assert!(check(&uts, &["*".to_string()]).is_err());
    }
}
