//! Settings of the agent and of the operator commands, from command-line flags, then
//! `PEALET_*` environment variables, then the config file (/etc/pealet/config.toml, or
//! `--config`/`PEALET_CONFIG`), in that order of precedence.
//!
//! Secrets come only from files (`password_file`, `tls.key_file`): a password on a
//! command line is visible to every user in /proc. This module reads and checks
//! settings; it does not connect anywhere.

pub mod toml;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::images::registry::RegistryFlags;
use crate::trust::{PublicKey, TrustedKeys};
use toml::Value;

pub const DEFAULT_CONFIG: &str = "/etc/pealet/config.toml";
pub const DEFAULT_PREFIX: &str = "pealet/v1";

/// One setting: its key in the config file, its flag and its environment variable.
struct Key {
    file: &'static str,
    flag: &'static str,
    env: &'static str,
}

const fn key(file: &'static str, flag: &'static str, env: &'static str) -> Key {
    Key { file, flag, env }
}

const KEYS: &[Key] = &[
    key("broker", "broker", "PEALET_BROKER"),
    key("node", "node", "PEALET_NODE"),
    key("prefix", "prefix", "PEALET_PREFIX"),
    key("tls.ca_file", "ca-file", "PEALET_TLS_CA_FILE"),
    key("tls.cert_file", "cert-file", "PEALET_TLS_CERT_FILE"),
    key("tls.key_file", "key-file", "PEALET_TLS_KEY_FILE"),
    key("username", "username", "PEALET_USERNAME"),
    key("password_file", "password-file", "PEALET_PASSWORD_FILE"),
    key("keep_alive", "keep-alive", "PEALET_KEEP_ALIVE"),
    key(
        "connect_timeout",
        "connect-timeout",
        "PEALET_CONNECT_TIMEOUT",
    ),
    key("reconnect_max", "reconnect-max", "PEALET_RECONNECT_MAX"),
    key("mqtt_version", "mqtt-version", "PEALET_MQTT_VERSION"),
    key("heartbeat", "heartbeat", "PEALET_HEARTBEAT"),
    key("root", "root", "PEALET_ROOT"),
    key("run_dir", "run-dir", "PEALET_RUN_DIR"),
    key("manifests", "manifests", "PEALET_MANIFESTS"),
    key(
        "allow_privileged",
        "allow-privileged",
        "PEALET_ALLOW_PRIVILEGED",
    ),
    key(
        "allow_host_namespaces",
        "allow-host-namespaces",
        "PEALET_ALLOW_HOST_NAMESPACES",
    ),
    key(
        "allow_host_path",
        "allow-host-path",
        "PEALET_ALLOW_HOST_PATH",
    ),
    key(
        "host_path_prefixes",
        "host-path-prefixes",
        "PEALET_HOST_PATH_PREFIXES",
    ),
    key("trusted_keys", "trusted-keys", "PEALET_TRUSTED_KEYS"),
    key("signing_key", "signing-key", "PEALET_SIGNING_KEY"),
    key("reserved_cpu", "reserved-cpu", "PEALET_RESERVED_CPU"),
    key(
        "reserved_memory",
        "reserved-memory",
        "PEALET_RESERVED_MEMORY",
    ),
    key(
        "registry_auth_file",
        "registry-auth-file",
        "PEALET_REGISTRY_AUTH_FILE",
    ),
    key(
        "seccomp_default",
        "seccomp-default",
        "PEALET_SECCOMP_DEFAULT",
    ),
    key(
        "allowed_unsafe_sysctls",
        "allowed-unsafe-sysctls",
        "PEALET_ALLOWED_UNSAFE_SYSCTLS",
    ),
];

/// The sections of per-registry settings: `[registries."HOST"]`.
const REGISTRIES: &str = "registries.";

/// Help text for the settings flags, shared by every command that takes them.
pub const FLAGS_HELP: &str = "\
Broker settings (also PEALET_<NAME> in the environment, or /etc/pealet/config.toml):
  --broker URL          mqtt://host[:port] (1883) or mqtts://host[:port] (8883)
  --prefix PREFIX       topic prefix (default pealet/v1)
  --ca-file FILE        CA certificates (PEM) to verify the broker (default: the
                        system's trust store: $SSL_CERT_FILE, else the usual bundle
                        of the distribution, /etc/ssl/certs/ca-certificates.crt)
  --cert-file FILE      client certificate (PEM) for mutual TLS
  --key-file FILE       its private key (PEM)
  --username NAME       MQTT user name
  --password-file FILE  MQTT password, read from FILE (never from the command line)
  --keep-alive SECONDS  MQTT keep-alive (default 30, at least 5): a ping every
                        SECONDS; a link that answers nothing for 1.5 times that is
                        dropped and connected again
  --connect-timeout SECONDS
                        for TCP, TLS and the broker's CONNACK together (default 30)
  --reconnect-max SECONDS
                        longest pause between two connection attempts (default 30);
                        pauses start at 0.25 s and double, with random jitter
  --mqtt-version 3|5    MQTT 3.1.1 (default) or MQTT 5
  --signing-key FILE    operators: sign what apply and delete publish with this
                        Ed25519 private key (pealet keygen writes one)
  --config FILE         settings file (default /etc/pealet/config.toml)
";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("the password is read only from a file: use --password-file FILE")]
    PasswordOnCommandLine,
    #[error("read {path}: {message}")]
    ReadFile { path: PathBuf, message: String },
    #[error("{path}: {source}")]
    Syntax {
        path: PathBuf,
        source: toml::TomlError,
    },
    #[error("{path}: unknown setting {key:?}")]
    UnknownKey { path: PathBuf, key: String },
    #[error("{origin}: {key} must be {what}")]
    BadValue {
        origin: String,
        key: &'static str,
        what: &'static str,
    },
    #[error("{origin}: trusted_keys: {message}")]
    BadKey { origin: String, message: String },
    #[error("broker URL {0:?}: use mqtt://host[:port] or mqtts://host[:port]")]
    BadBroker(String),
    #[error("no node name: give --node NAME (/proc/sys/kernel/hostname is unreadable)")]
    NoNodeName,
}

/// Settings given as flags, by flag name.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    values: BTreeMap<&'static str, String>,
    config: Option<PathBuf>,
}

impl Flags {
    /// Records `--flag value` when `flag` is a settings flag; false when it is not.
    pub fn set(&mut self, flag: &str, value: String) -> Result<bool, ConfigError> {
        if flag == "password" {
            return Err(ConfigError::PasswordOnCommandLine);
        }
        if flag == "config" {
            self.config = Some(PathBuf::from(value));
            return Ok(true);
        }
        match KEYS.iter().find(|k| k.flag == flag) {
            Some(k) => {
                self.values.insert(k.file, value);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Whether `flag` (without dashes) is a settings flag that takes a value.
    pub fn takes(flag: &str) -> bool {
        flag == "config" || flag == "password" || KEYS.iter().any(|k| k.flag == flag)
    }
}

/// Where the broker is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    pub tls: bool,
    pub host: String,
    pub port: u16,
}

impl Broker {
    pub fn parse(url: &str) -> Result<Broker, ConfigError> {
        let bad = || ConfigError::BadBroker(url.to_owned());
        let (tls, rest) = match url.split_once("://") {
            Some(("mqtt" | "tcp", rest)) => (false, rest),
            Some(("mqtts" | "ssl", rest)) => (true, rest),
            _ => return Err(bad()),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let default_port = if tls { 8883 } else { 1883 };
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(bad)?;
            match after.strip_prefix(':') {
                Some(p) => (host, p.parse().map_err(|_| bad())?),
                None if after.is_empty() => (host, default_port),
                None => return Err(bad()),
            }
        } else {
            match rest.split_once(':') {
                Some((h, p)) => (h, p.parse().map_err(|_| bad())?),
                None => (rest, default_port),
            }
        };
        if host.is_empty() || host.contains(['/', '@', ' ']) {
            return Err(bad());
        }
        Ok(Broker {
            tls,
            host: host.to_owned(),
            port,
        })
    }
}

/// The MQTT protocol version spoken to the broker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MqttVersion {
    /// MQTT 3.1.1, the default: every broker speaks it.
    #[default]
    V311,
    /// MQTT 5: session expiry, message expiry, reason codes, maximum packet size.
    V5,
}

impl MqttVersion {
    fn parse(v: &Value) -> Option<MqttVersion> {
        match v {
            Value::Int(3 | 4) => Some(MqttVersion::V311),
            Value::Int(5) => Some(MqttVersion::V5),
            Value::Str(s) => match s.as_str() {
                "3" | "3.1.1" | "4" => Some(MqttVersion::V311),
                "5" | "5.0" => Some(MqttVersion::V5),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Every setting, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub broker: Option<Broker>,
    /// As given (a comma list for operator commands); see [`Settings::node_name`].
    pub node: Option<String>,
    pub prefix: String,
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
    pub keep_alive: Duration,
    /// TCP, TLS and CONNACK of one connection attempt together.
    pub connect_timeout: Duration,
    /// The cap of the reconnect back-off.
    pub reconnect_max: Duration,
    pub mqtt_version: MqttVersion,
    pub heartbeat: Duration,
    pub root: PathBuf,
    pub run_dir: PathBuf,
    pub manifests: PathBuf,
    /// Admission of pods from the broker: whether privileged containers may run
    /// (default false; static pods of the manifests directory always may).
    pub allow_privileged: bool,
    /// Admission: whether hostNetwork/hostPID/hostIPC may be used (default false).
    pub allow_host_namespaces: bool,
    /// Admission: whether hostPath volumes may be used (default false).
    pub allow_host_path: bool,
    /// Admission: where allowed, hostPath volumes must lie under one of these;
    /// `None`: anywhere.
    pub host_path_prefixes: Option<Vec<String>>,
    /// The public keys whose signatures the agent trusts; once any is set, unsigned
    /// desired state is refused (see `trust`).
    pub trusted_keys: TrustedKeys,
    /// The operator's private key: `apply` and `delete` sign what they publish.
    pub signing_key: Option<PathBuf>,
    /// Containers without a seccompProfile get RuntimeDefault (the kubelet's
    /// `--seccomp-default`); default false, as the kubelet's, true in the installed config.
    pub seccomp_default: bool,
    /// Admission: sysctls beyond the safe set that pods may set (`name` or `prefix*`).
    pub allowed_unsafe_sysctls: Vec<String>,
    /// Kept back from the node's capacity for the system: millicores, bytes.
    pub reserved_cpu: u64,
    pub reserved_memory: u64,
    /// Image pulls: `[registries."HOST"]` sections (mirrors, insecure, ca_file) and
    /// `registry_auth_file`, a Docker config.json with credentials.
    pub registries: RegistryFlags,
}

impl Settings {
    /// Reads the environment and the config file, under `flags`.
    pub fn load(flags: &Flags) -> Result<Settings, ConfigError> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let (path, required) = match (&flags.config, env("PEALET_CONFIG")) {
            (Some(p), _) => (p.clone(), true),
            (None, Some(p)) => (PathBuf::from(p), true),
            (None, None) => (PathBuf::from(DEFAULT_CONFIG), false),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => Some(text),
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                let message = e.to_string();
                return Err(ConfigError::ReadFile { path, message });
            }
        };
        Settings::resolve(flags, env, text.as_deref().map(|t| (path.as_path(), t)))
    }

    /// The layering itself, without I/O: flags, then `env`, then the file's text.
    pub fn resolve(
        flags: &Flags,
        env: impl Fn(&str) -> Option<String>,
        file: Option<(&Path, &str)>,
    ) -> Result<Settings, ConfigError> {
        let mut from_file = BTreeMap::new();
        let mut registries = RegistryFlags::default();
        if let Some((path, text)) = file {
            let syntax = |source| ConfigError::Syntax {
                path: path.to_path_buf(),
                source,
            };
            for (k, v) in toml::parse(text).map_err(syntax)? {
                if k.starts_with(REGISTRIES) {
                    registry_setting(&mut registries, path, &k, v)?;
                    continue;
                }
                let Some(key) = KEYS.iter().find(|key| key.file == k) else {
                    let path = path.to_path_buf();
                    return Err(ConfigError::UnknownKey { path, key: k });
                };
                from_file.insert(key.file, (v, path.display().to_string()));
            }
        }
        // (value, where it came from) of the first source that sets `key`.
        let get = |file_key: &'static str| -> Option<(Value, String)> {
            let k = KEYS.iter().find(|k| k.file == file_key)?;
            if let Some(v) = flags.values.get(file_key) {
                return Some((Value::Str(v.clone()), format!("--{}", k.flag)));
            }
            if let Some(v) = env(k.env) {
                return Some((Value::Str(v), k.env.to_owned()));
            }
            from_file.get(file_key).cloned()
        };
        let string = |k: &'static str| -> Result<Option<String>, ConfigError> {
            match get(k) {
                None => Ok(None),
                Some((Value::Str(s), _)) => Ok(Some(s)),
                Some((_, origin)) => Err(bad(origin, k, "a string")),
            }
        };
        let path = |k, default: &str| Ok(PathBuf::from(string(k)?.as_deref().unwrap_or(default)));
        let secs = |k: &'static str, default: u64| -> Result<Duration, ConfigError> {
            let n = match get(k) {
                None => default,
                Some((Value::Int(n), origin)) => {
                    u64::try_from(n).map_err(|_| secs_err(origin, k))?
                }
                Some((Value::Str(s), origin)) => s.parse().map_err(|_| secs_err(origin, k))?,
                Some((_, origin)) => return Err(secs_err(origin, k)),
            };
            Ok(Duration::from_secs(n))
        };
        let boolean = |k: &'static str, default: bool| -> Result<bool, ConfigError> {
            match get(k) {
                None => Ok(default),
                Some((Value::Bool(b), _)) => Ok(b),
                Some((Value::Str(s), origin)) => match s.as_str() {
                    "true" | "yes" | "1" => Ok(true),
                    "false" | "no" | "0" => Ok(false),
                    _ => Err(bad(origin, k, "true or false")),
                },
                Some((_, origin)) => Err(bad(origin, k, "true or false")),
            }
        };
        let list = |k: &'static str| -> Result<Option<Vec<String>>, ConfigError> {
            match get(k) {
                None => Ok(None),
                Some((Value::Array(v), _)) => Ok(Some(v)),
                Some((Value::Str(s), _)) => Ok(Some(
                    (s.split(','))
                        .map(str::trim)
                        .filter(|p| !p.is_empty())
                        .map(str::to_owned)
                        .collect(),
                )),
                Some((_, origin)) => Err(bad(origin, k, "a list of strings")),
            }
        };
        let quantity = |k: &'static str, parse: fn(&str) -> Result<u64, _>, what| match get(k) {
            None => Ok(0),
            Some((Value::Str(s), origin)) => parse(&s).map_err(|_| bad(origin, k, what)),
            Some((Value::Int(n), origin)) => {
                parse(&n.to_string()).map_err(|_| bad(origin, k, what))
            }
            Some((_, origin)) => Err(bad(origin, k, what)),
        };
        registries.auth_file = string("registry_auth_file")?.map(PathBuf::from);
        Ok(Settings {
            registries,
            allow_privileged: boolean("allow_privileged", false)?,
            allow_host_namespaces: boolean("allow_host_namespaces", false)?,
            allow_host_path: boolean("allow_host_path", false)?,
            host_path_prefixes: list("host_path_prefixes")?,
            trusted_keys: match (list("trusted_keys"), get("trusted_keys")) {
                (Ok(keys), Some((_, origin))) => TrustedKeys::new(
                    (keys.unwrap_or_default().iter())
                        .map(|k| PublicKey::parse(k))
                        .collect::<Result<_, _>>()
                        .map_err(|e| ConfigError::BadKey {
                            origin,
                            message: e.to_string(),
                        })?,
                ),
                (Ok(_), None) => TrustedKeys::default(),
                (Err(_), Some((_, origin))) => {
                    return Err(bad(origin, "trusted_keys", "a list of public keys"));
                }
                (Err(e), None) => return Err(e),
            },
            signing_key: string("signing_key")?.map(PathBuf::from),
            seccomp_default: boolean("seccomp_default", false)?,
            allowed_unsafe_sysctls: list("allowed_unsafe_sysctls")?.unwrap_or_default(),
            reserved_cpu: quantity(
                "reserved_cpu",
                crate::spec::quantity::parse_cpu,
                "a CPU quantity (e.g. 100m)",
            )?,
            reserved_memory: quantity(
                "reserved_memory",
                crate::spec::quantity::parse_bytes,
                "a memory quantity (e.g. 64Mi)",
            )?,
            broker: string("broker")?.map(|b| Broker::parse(&b)).transpose()?,
            node: string("node")?,
            prefix: string("prefix")?.unwrap_or_else(|| DEFAULT_PREFIX.to_owned()),
            ca_file: string("tls.ca_file")?.map(PathBuf::from),
            cert_file: string("tls.cert_file")?.map(PathBuf::from),
            key_file: string("tls.key_file")?.map(PathBuf::from),
            username: string("username")?,
            password_file: string("password_file")?.map(PathBuf::from),
            keep_alive: secs("keep_alive", 30)?,
            connect_timeout: secs("connect_timeout", 30)?,
            reconnect_max: secs("reconnect_max", 30)?,
            mqtt_version: match get("mqtt_version") {
                None => MqttVersion::V311,
                Some((v, origin)) => MqttVersion::parse(&v)
                    .ok_or_else(|| bad(origin, "mqtt_version", "3 (MQTT 3.1.1) or 5 (MQTT 5)"))?,
            },
            heartbeat: secs("heartbeat", 60)?,
            root: path("root", "/var/lib/pealet")?,
            run_dir: path("run_dir", "/run/pealet")?,
            manifests: path("manifests", "/etc/pealet/manifests")?,
        })
    }

    /// This device's node name: the setting, else the hostname.
    pub fn node_name(&self) -> Result<String, ConfigError> {
        if let Some(n) = &self.node {
            return Ok(n.clone());
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let host = host.trim();
        if host.is_empty() {
            return Err(ConfigError::NoNodeName);
        }
        Ok(host.to_owned())
    }

    /// The node names of an operator command: `--node a,b` (empty parts skipped).
    pub fn node_list(&self) -> Vec<String> {
        (self.node.as_deref().unwrap_or_default().split(','))
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// One `registries."HOST".field` of the file.
fn registry_setting(
    r: &mut RegistryFlags,
    path: &Path,
    key: &str,
    value: Value,
) -> Result<(), ConfigError> {
    let origin = || path.display().to_string();
    let unknown = || ConfigError::UnknownKey {
        path: path.to_path_buf(),
        key: key.to_owned(),
    };
    let (host, field) = key[REGISTRIES.len()..]
        .rsplit_once('.')
        .ok_or_else(unknown)?;
    let host = host.to_owned();
    match (field, value) {
        ("insecure", Value::Bool(b)) => {
            if b {
                r.insecure.push(host);
            }
        }
        ("insecure", _) => return Err(bad(origin(), "registries.*.insecure", "true or false")),
        ("ca_file", Value::Str(f)) => r.ca_files.push((host, PathBuf::from(f))),
        ("ca_file", _) => return Err(bad(origin(), "registries.*.ca_file", "a string")),
        ("mirrors", Value::Array(v)) => {
            r.mirrors.extend(v.into_iter().map(|m| (host.clone(), m)));
        }
        ("mirrors", _) => return Err(bad(origin(), "registries.*.mirrors", "a list of strings")),
        _ => return Err(unknown()),
    }
    Ok(())
}

fn bad(origin: String, key: &'static str, what: &'static str) -> ConfigError {
    ConfigError::BadValue { origin, key, what }
}

fn secs_err(origin: String, key: &'static str) -> ConfigError {
    bad(origin, key, "a whole number of seconds")
}

#[cfg(test)]
#[path = "config/tests.rs"]
mod tests;
