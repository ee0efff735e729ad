//! What an httpGet probe or hook sends: the URL as the kubelet builds it from the
//! spec, the address to connect to, and the request bytes with the kubelet's default
//! headers unless `httpHeaders` override them. Pure; [`super::http`] sends it.

use std::net::{IpAddr, SocketAddr};

use super::url::Url;
use super::{KUBE_VERSION, ProbeError, Target};
use crate::http1::{valid_header_name, valid_header_value};
use crate::spec::{HttpGet, Scheme};

/// What the request is for; it decides the `User-Agent` and what succeeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `kube-probe/<v>`: statuses 200..=399 succeed, and a 3xx the probe did not follow
    /// succeeds with a warning, as the kubelet's `probe.Warning`.
    Probe,
    /// `kube-lifecycle/<v>`: any HTTP response succeeds, as for the kubelet's hooks;
    /// only a failed connection, a malformed response or the timeout fail.
    Lifecycle,
}

impl Purpose {
    fn user_agent(self) -> String {
        match self {
            Purpose::Probe => format!("kube-probe/{KUBE_VERSION}"),
            Purpose::Lifecycle => format!("kube-lifecycle/{KUBE_VERSION}"),
        }
    }
}

/// A GET to send: the URL as the kubelet would build it, the address to connect to.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub(super) url: Url,
    pub(super) ip: IpAddr,
    pub(super) headers: Vec<(String, String)>,
    pub(super) purpose: Purpose,
}

impl HttpRequest {
    /// From a spec's `httpGet`: the port resolved by number or name, the host (or the
    /// pod IP, or 127.0.0.1) in the URL and the Host header, `path` defaulting to `/`.
    pub fn new(get: &HttpGet, target: &Target, purpose: Purpose) -> Result<Self, ProbeError> {
        let port = super::resolve_port(&get.port, target.ports)?;
        let host_field = get.host.as_deref().filter(|h| !h.is_empty());
        let ip = super::resolve_host(host_field, target.pod_ip)?;
        let host = match host_field {
            Some(h) => h.trim_start_matches('[').trim_end_matches(']').to_string(),
            None => ip.to_string(),
        };
        let url = Url::new(get.scheme, host, port, get.path.as_deref().unwrap_or("/"));
        let headers = get
            .http_headers
            .iter()
            .map(|h| (h.name.to_string(), h.value.to_string()))
            .collect();
        Ok(HttpRequest {
            url,
            ip,
            headers,
            purpose,
        })
    }

    /// A plain GET of `path` on `addr`, with extra headers; for tests and tools.
    pub fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)], purpose: Purpose) -> Self {
        HttpRequest {
            url: Url::new(Scheme::Http, addr.ip().to_string(), addr.port(), path),
            ip: addr.ip(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            purpose,
        }
    }

    /// The URL as messages show it, e.g. `http://127.0.0.1:8080/healthz`.
    pub fn url(&self) -> String {
        self.url.to_string()
    }
}

/// The request bytes, as Go's client writes them for the kubelet: Host, then
/// User-Agent (the user's, or none if set empty), Accept `*/*` unless the user's
/// (none if set empty), the other user headers in order, `Connection: close`.
pub(super) fn build_request(
    url: &Url,
    host_override: Option<&str>,
    headers: &[(String, String)],
    purpose: Purpose,
) -> Result<Vec<u8>, String> {
    for (name, value) in headers {
        if !valid_header_name(name) {
            return Err(format!("net/http: invalid header field name {name:?}"));
        }
        if !valid_header_value(value) {
            return Err(format!("net/http: invalid header field value for {name:?}"));
        }
    }
    let host = host_override.map_or_else(|| url.host_port(), str::to_string);
    if host.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err("http: invalid Host header".into());
    }
    let named = |n: &'static str| {
        headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(n))
    };
    let mut out = format!("GET {} HTTP/1.1\r\nHost: {host}\r\n", url.target());
    let agent = named("user-agent").next().map(|(_, v)| v.clone());
    let agent = agent.unwrap_or_else(|| purpose.user_agent());
    if !agent.is_empty() {
        out.push_str(&format!("User-Agent: {agent}\r\n"));
    }
    match named("accept").next() {
        None => out.push_str("Accept: */*\r\n"),
        Some((_, v)) if v.is_empty() => {}
        Some(_) => named("accept").for_each(|(k, v)| out.push_str(&format!("{k}: {v}\r\n"))),
    }
    const OURS: [&str; 7] = [
        "host",
        "user-agent",
        "accept",
        "connection",
        "content-length",
        "transfer-encoding",
        "trailer",
    ];
    for (k, v) in headers {
        if !OURS.iter().any(|o| k.eq_ignore_ascii_case(o)) {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    Ok(out.into_bytes())
}
