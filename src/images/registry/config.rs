//! Per-registry settings (mirrors, plain HTTP, CA file, credentials) as the agent's
//! config fills them, and the endpoints a pull tries for a registry, mirrors first.
//!
//! Plain HTTP is used only for registries listed as insecure and, as Docker does, for
//! registries on a loopback address, unless a CA file is configured for them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;

use super::auth::{self, AuthError, Credentials};
use super::http::{HttpError, Transport, Url};
use super::tls::{self, TlsError};

/// Docker Hub's references say `docker.io`; its API is served here.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("registry {registry}: {source}")]
    Tls { registry: String, source: TlsError },
    #[error("registry {registry}: mirror {mirror:?}: {source}")]
    Mirror {
        registry: String,
        mirror: String,
        source: HttpError,
    },
}

/// Settings of one registry, keyed in [`Registries`] by its name in references
/// (`docker.io`, `ghcr.io`, `127.0.0.1:5000`).
#[derive(Debug, Clone, Default)]
pub struct RegistryConfig {
    /// Mirrors tried in order before the registry itself: `https://host[:port]` or
    /// `host[:port]` (whose own settings, e.g. insecure, then apply).
    pub mirrors: Vec<String>,
    /// Plain HTTP instead of HTTPS.
    pub insecure: bool,
    /// A CA certificate (PEM) trusted for this registry besides the system bundle.
    pub ca_file: Option<PathBuf>,
    pub credentials: Option<Credentials>,
}

/// Settings of every registry, and what all share.
#[derive(Debug, Clone)]
pub struct Registries {
    pub hosts: HashMap<String, RegistryConfig>,
    /// The system CA bundle.
    pub ca_bundle: PathBuf,
    /// Connect timeout and the longest silence on a connection.
    pub timeout: Duration,
}

impl Default for Registries {
    fn default() -> Registries {
        Registries {
            hosts: HashMap::new(),
            ca_bundle: tls::system_bundle(),
            timeout: Duration::from_secs(30),
        }
    }
}

/// One place to pull from.
#[derive(Clone)]
pub struct Endpoint {
    /// `scheme://host[:port]/`.
    pub base: Url,
    pub mirror: bool,
    pub transport: Transport,
    pub credentials: Option<Credentials>,
}

impl Registries {
    pub fn get(&self, registry: &str) -> RegistryConfig {
        self.hosts.get(registry).cloned().unwrap_or_default()
    }

    pub fn entry(&mut self, registry: &str) -> &mut RegistryConfig {
        self.hosts.entry(registry.to_string()).or_default()
    }

    /// Adds the credentials of a Docker `config.json`; returns how many registries.
    pub fn add_docker_auths(&mut self, json: &[u8]) -> Result<usize, AuthError> {
        let auths = auth::parse_docker_auths(json)?;
        let n = auths.len();
        for (registry, creds) in auths {
            self.entry(&registry).credentials = Some(creds);
        }
        Ok(n)
    }

    /// Where to pull from for `registry`: its mirrors, then itself.
    pub fn endpoints(&self, registry: &str) -> Result<Vec<Endpoint>, ConfigError> {
        let cfg = self.get(registry);
        let mut out = Vec::new();
        for m in &cfg.mirrors {
            let bad = |source| ConfigError::Mirror {
                registry: registry.to_string(),
                mirror: m.clone(),
                source,
            };
            let (tls, host) = if m.contains("://") {
                let u = Url::parse(m).map_err(bad)?;
                (Some(u.tls), u.authority())
            } else {
                (None, m.trim_end_matches('/').to_string())
            };
            let mut e = self.endpoint(&host, &host, tls)?;
            e.mirror = true;
            out.push(e);
        }
        let api = if registry == crate::images::reference::DEFAULT_DOMAIN {
            DOCKER_HUB_API
        } else {
            registry
        };
        out.push(self.endpoint(registry, api, None)?);
        Ok(out)
    }

    /// `tls` forces the scheme (a mirror given as a URL).
    fn endpoint(
        &self,
        registry: &str,
        api_host: &str,
        tls: Option<bool>,
    ) -> Result<Endpoint, ConfigError> {
        let cfg = self.get(registry);
        let plain = match tls {
            Some(tls) => !tls,
            None => cfg.ca_file.is_none() && (cfg.insecure || is_loopback(api_host)),
        };
        let scheme = if plain { "http" } else { "https" };
        let base = Url::parse(&format!("{scheme}://{api_host}/")).map_err(|source| {
            ConfigError::Mirror {
                registry: registry.to_string(),
                mirror: api_host.to_string(),
                source,
            }
        })?;
        let tls: Option<Arc<ClientConfig>> = if plain {
            None
        } else {
            Some(
                tls::client_config(&self.ca_bundle, cfg.ca_file.as_deref()).map_err(|source| {
                    ConfigError::Tls {
                        registry: registry.to_string(),
                        source,
                    }
                })?,
            )
        };
        Ok(Endpoint {
            base,
            mirror: false,
            transport: Transport {
                timeout: self.timeout,
                tls,
            },
            credentials: cfg.credentials,
        })
    }
}

/// `localhost`, 127.0.0.0/8 and ::1, with or without a port.
pub fn is_loopback(authority: &str) -> bool {
    let host = if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:5000",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "10.0.0.1:5000",
            "example.com",
            "[::2]",
            "localhost.example.com",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn endpoints_and_schemes() {
        let mut r = Registries {
            ca_bundle: PathBuf::from("/nonexistent/bundle"),
            ..Registries::default()
        };
        r.entry("10.1.2.3:5000").insecure = true;
        r.entry("mirror.local:5000").insecure = true;
        r.entry("docker.io").mirrors = vec!["mirror.local:5000".into()];
        let hub = r.endpoints("docker.io");
        // Docker Hub needs TLS roots, missing here: the error names the registry.
        assert!(hub.is_err_and(|e| e.to_string().starts_with("registry docker.io:")));
        let e = r.endpoints("10.1.2.3:5000").unwrap();
        assert_eq!(e[0].base.to_string(), "http://10.1.2.3:5000/");
        let e = r.endpoints("127.0.0.1:5000").unwrap();
        assert_eq!(e[0].base.to_string(), "http://127.0.0.1:5000/");
        r.entry("localhost:1").mirrors = vec!["http://mirror.local:5000/".into()];
        let e = r.endpoints("localhost:1").unwrap();
        assert_eq!(e.len(), 2);
        assert!(e[0].mirror && !e[1].mirror);
        assert_eq!(e[0].base.to_string(), "http://mirror.local:5000/");
    }
}
