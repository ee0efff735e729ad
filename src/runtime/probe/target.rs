//! Where a probe goes: its port by number or by the name of a container port, its
//! host as an IP address, else the pod IP, else 127.0.0.1. Pure.

use std::net::{IpAddr, Ipv4Addr};

use crate::spec::{ContainerPort, PortRef};

/// Why a probe could not even start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    #[error("port {name:?} not found in the container's ports")]
    PortNotFound { name: String },
    #[error("invalid port number: {port}")]
    InvalidPort { port: u32 },
    #[error("dial tcp: lookup {host}: host names other than localhost are not resolved by probes")]
    HostName { host: String },
}

/// Where a probe of one container goes.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The pod's IP, when the sandbox knows it.
    pub pod_ip: Option<IpAddr>,
    /// The container's `ports`, for ports given by name.
    pub ports: &'a [ContainerPort],
}

/// A port by number, or by the name of one of the container's ports (any protocol, as
/// the kubelet does); a name made of digits is a number.
pub fn resolve_port(port: &PortRef, ports: &[ContainerPort]) -> Result<u16, ProbeError> {
    let n = match port {
        PortRef::Number(n) => u32::from(*n),
        PortRef::Name(name) => match ports
            .iter()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
        {
            Some(p) => u32::from(p.container_port),
            None => name.parse::<u32>().map_err(|_| ProbeError::PortNotFound {
                name: name.to_string(),
            })?,
        },
    };
    match u16::try_from(n) {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(ProbeError::InvalidPort { port: n }),
    }
}

/// The address a probe connects to: `host` as an IP address (`localhost` and `[::1]`
/// too), else the pod IP, else 127.0.0.1 (see the module notes).
pub fn resolve_host(host: Option<&str>, pod_ip: Option<IpAddr>) -> Result<IpAddr, ProbeError> {
    let host = match host {
        Some(h) if !h.is_empty() => h,
        _ => return Ok(pod_ip.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))),
    };
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(ip);
    }
    if bare.eq_ignore_ascii_case("localhost") {
        return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    Err(ProbeError::HostName {
        host: host.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Protocol;

    fn port(name: &str, n: u16) -> ContainerPort {
        ContainerPort {
            name: Some(name.try_into().unwrap()),
            container_port: n,
            host_port: None,
            protocol: Protocol::Tcp,
        }
    }

    #[test]
    fn ports_resolve_by_number_and_name() {
        let ports = [port("http", 8080), port("metrics", 9090)];
        let name = |s: &str| PortRef::Name(s.try_into().unwrap());
        assert_eq!(resolve_port(&PortRef::Number(80), &ports), Ok(80));
        assert_eq!(resolve_port(&name("metrics"), &ports), Ok(9090));
        assert_eq!(resolve_port(&name("8081"), &ports), Ok(8081));
        assert_eq!(
            resolve_port(&name("grpc"), &ports),
            Err(ProbeError::PortNotFound {
                name: "grpc".into()
            })
        );
        assert_eq!(
            resolve_port(&PortRef::Number(0), &ports),
            Err(ProbeError::InvalidPort { port: 0 })
        );
        assert_eq!(
            resolve_port(&name("70000"), &ports),
            Err(ProbeError::InvalidPort { port: 70000 })
        );
    }

    #[test]
    fn hosts_default_to_the_pod_ip_then_loopback() {
        let pod: IpAddr = "10.1.2.3".parse().unwrap();
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        assert_eq!(resolve_host(None, Some(pod)), Ok(pod));
        assert_eq!(resolve_host(Some(""), None), Ok(lo));
        assert_eq!(resolve_host(Some("localhost"), Some(pod)), Ok(lo));
        assert_eq!(
            resolve_host(Some("[::1]"), None),
            Ok("::1".parse().unwrap())
        );
        assert_eq!(
            resolve_host(Some("192.168.1.9"), None),
            Ok("192.168.1.9".parse().unwrap())
        );
        let err = resolve_host(Some("db.local"), None).unwrap_err();
        assert!(
            err.to_string().starts_with("dial tcp: lookup db.local:"),
            "{err}"
        );
    }
}
