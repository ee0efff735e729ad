//! Precedence, defaults, broker URLs and refusals of the settings.

use super::*;

fn flags(pairs: &[(&str, &str)]) -> Flags {
    let mut f = Flags::default();
    for (k, v) in pairs {
        assert!(f.set(k, v.to_string()).unwrap(), "{k}");
    }
    f
}

fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |name| {
        pairs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }
}

const FILE: &str = r#"
broker = "mqtt://from-file"
prefix = "site/v1"
keep_alive = 10
[tls]
ca_file = "/etc/pealet/ca.pem"
"#;

fn resolve(f: &Flags, e: &'static [(&'static str, &'static str)]) -> Settings {
    Settings::resolve(f, env(e), Some((Path::new("config.toml"), FILE))).unwrap()
}

#[test]
fn flags_beat_environment_beats_file() {
    let s = resolve(&Flags::default(), &[]);
    assert_eq!(s.broker.unwrap().host, "from-file");
    assert_eq!(s.prefix, "site/v1");
    assert_eq!(s.keep_alive, Duration::from_secs(10));
    assert_eq!(s.ca_file.as_deref(), Some(Path::new("/etc/pealet/ca.pem")));
    let e = &[
        ("PEALET_BROKER", "mqtt://from-env"),
        ("PEALET_KEEP_ALIVE", "20"),
    ];
    let s = resolve(&Flags::default(), e);
    assert_eq!(s.broker.unwrap().host, "from-env");
    assert_eq!(s.keep_alive, Duration::from_secs(20));
    let f = flags(&[("broker", "mqtts://from-flag"), ("keep-alive", "5")]);
    let s = resolve(&f, e);
    assert_eq!(s.broker.unwrap().host, "from-flag");
    assert_eq!(s.keep_alive, Duration::from_secs(5));
    assert_eq!(s.prefix, "site/v1");
}

#[test]
fn defaults_without_any_source() {
    let s = Settings::resolve(&Flags::default(), env(&[]), None).unwrap();
    assert_eq!(s.broker, None);
    assert_eq!(s.prefix, "pealet/v1");
    assert_eq!(s.keep_alive, Duration::from_secs(30));
    assert_eq!(s.heartbeat, Duration::from_secs(60));
    assert_eq!(s.root, Path::new("/var/lib/pealet"));
    assert_eq!(s.run_dir, Path::new("/run/pealet"));
    assert_eq!(s.manifests, Path::new("/etc/pealet/manifests"));
    assert!(!s.node_name().unwrap().is_empty(), "the hostname");
    assert_eq!(s.connect_timeout, Duration::from_secs(30));
    assert_eq!(s.reconnect_max, Duration::from_secs(30));
    assert_eq!(s.mqtt_version, MqttVersion::V311);
}

#[test]
fn link_settings_and_the_mqtt_version() {
    let file = "connect_timeout = 90\nreconnect_max = 300\nmqtt_version = 5\n";
    let s = Settings::resolve(&Flags::default(), env(&[]), Some((Path::new("c"), file)));
    let s = s.unwrap();
    assert_eq!(s.connect_timeout, Duration::from_secs(90));
    assert_eq!(s.reconnect_max, Duration::from_secs(300));
    assert_eq!(s.mqtt_version, MqttVersion::V5);
    for (v, want) in [
        ("3", MqttVersion::V311),
        ("3.1.1", MqttVersion::V311),
        ("5", MqttVersion::V5),
    ] {
        let s = Settings::resolve(&flags(&[("mqtt-version", v)]), env(&[]), None).unwrap();
        assert_eq!(s.mqtt_version, want, "{v}");
    }
    let e = Settings::resolve(
        &Flags::default(),
        env(&[("PEALET_MQTT_VERSION", "6")]),
        None,
    );
    assert_eq!(
        e.unwrap_err().to_string(),
        "PEALET_MQTT_VERSION: mqtt_version must be 3 (MQTT 3.1.1) or 5 (MQTT 5)"
    );
    let e = Settings::resolve(&flags(&[("connect-timeout", "soon")]), env(&[]), None);
    assert!(e.unwrap_err().to_string().contains("connect_timeout"));
}

#[test]
fn broker_urls() {
    let b = |u: &str| Broker::parse(u).map(|b| (b.tls, b.host, b.port));
    assert_eq!(b("mqtt://pi"), Ok((false, "pi".into(), 1883)));
    assert_eq!(b("mqtts://pi"), Ok((true, "pi".into(), 8883)));
    assert_eq!(
        b("mqtt://10.0.0.1:1884/"),
        Ok((false, "10.0.0.1".into(), 1884))
    );
    assert_eq!(b("mqtts://[::1]:9000"), Ok((true, "::1".into(), 9000)));
    for bad in [
        "pi:1883",
        "http://pi",
        "mqtt://",
        "mqtt://pi:x",
        "mqtt://u@pi",
        "mqtt://[::1",
    ] {
        assert!(b(bad).is_err(), "{bad}");
    }
}

#[test]
fn secrets_never_from_the_command_line() {
    let mut f = Flags::default();
    assert_eq!(
        f.set("password", "hunter2".into()),
        Err(ConfigError::PasswordOnCommandLine)
    );
    assert!(!f.set("output", "json".into()).unwrap(), "not a setting");
    let file = "password = \"hunter2\"\n";
    let e = Settings::resolve(&f, env(&[]), Some((Path::new("c.toml"), file))).unwrap_err();
    assert_eq!(e.to_string(), "c.toml: unknown setting \"password\"");
}

#[test]
fn bad_values_name_their_origin() {
    let e = Settings::resolve(&flags(&[("keep-alive", "soon")]), env(&[]), None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "--keep-alive: keep_alive must be a whole number of seconds"
    );
    let file = "broker = 1883\n";
    let e = Settings::resolve(&Flags::default(), env(&[]), Some((Path::new("c"), file)));
    assert_eq!(e.unwrap_err().to_string(), "c: broker must be a string");
    let file = "[tls]\nca_file = \"x\"\ncafile = \"y\"\n";
    let e = Settings::resolve(&Flags::default(), env(&[]), Some((Path::new("c"), file)));
    assert_eq!(
        e.unwrap_err().to_string(),
        "c: unknown setting \"tls.cafile\""
    );
}

#[test]
fn node_lists() {
    let s = Settings::resolve(&flags(&[("node", "a, b,,c")]), env(&[]), None).unwrap();
    assert_eq!(s.node_list(), ["a", "b", "c"]);
    assert_eq!(s.node_name().unwrap(), "a, b,,c");
}

#[test]
fn agent_admission_and_reserve_settings() {
    let text = r#"
allow_privileged = false
allow_host_namespaces = true
host_path_prefixes = ["/srv", "/dev/i2c-1"]
reserved_cpu = "200m"
reserved_memory = "128Mi"
"#;
    let file = Some((Path::new("config.toml"), text));
    let s = Settings::resolve(&Flags::default(), |_| None, file).unwrap();
    assert!(!s.allow_privileged);
    assert!(s.allow_host_namespaces);
    let prefixes = vec!["/srv".to_string(), "/dev/i2c-1".to_string()];
    assert_eq!(s.host_path_prefixes, Some(prefixes));
    assert_eq!((s.reserved_cpu, s.reserved_memory), (200, 128 << 20));
    let f = flags(&[
        ("allow-privileged", "true"),
        ("host-path-prefixes", "/a, /b"),
    ]);
    let s = Settings::resolve(&f, |_| None, file).unwrap();
    assert!(s.allow_privileged);
    assert_eq!(s.host_path_prefixes.unwrap(), ["/a", "/b"]);
    let d = Settings::resolve(&Flags::default(), |_| None, None).unwrap();
    // Secure by default: nothing that gives a pod the host.
    assert!(!d.allow_privileged && !d.allow_host_namespaces && !d.allow_host_path);
    assert_eq!(
        (d.host_path_prefixes, d.reserved_cpu, d.reserved_memory),
        (None, 0, 0)
    );
    let bad = Some((Path::new("c.toml"), "reserved_memory = \"lots\"\n"));
    assert!(Settings::resolve(&Flags::default(), |_| None, bad).is_err());
}

#[test]
fn registry_sections_and_auth_file() {
    let text = r#"
registry_auth_file = "/etc/pealet/auth.json"
[registries."127.0.0.1:5000"]
insecure = true
ca_file = "/etc/pealet/reg-ca.pem"
[registries."docker.io"]
mirrors = ["http://127.0.0.1:5001", "mirror.local"]
"#;
    let file = Some((Path::new("config.toml"), text));
    let s = Settings::resolve(&Flags::default(), |_| None, file).unwrap();
    let r = &s.registries;
    assert_eq!(r.insecure, ["127.0.0.1:5000"]);
    assert_eq!(
        r.ca_files,
        [(
            "127.0.0.1:5000".to_string(),
            PathBuf::from("/etc/pealet/reg-ca.pem")
        )]
    );
    assert_eq!(r.mirrors.len(), 2);
    assert_eq!(r.mirrors[1], ("docker.io".into(), "mirror.local".into()));
    assert_eq!(r.auth_file, Some(PathBuf::from("/etc/pealet/auth.json")));
    let f = flags(&[("registry-auth-file", "/run/auth.json")]);
    let s = Settings::resolve(&f, |_| None, file).unwrap();
    assert_eq!(
        s.registries.auth_file,
        Some(PathBuf::from("/run/auth.json"))
    );
    for bad in [
        "[registries.\"h\"]\nsecure = true\n",
        "[registries.\"h\"]\ninsecure = \"yes please\"\n",
        "[registries.\"h\"]\nmirrors = \"m\"\n",
    ] {
        let file = Some((Path::new("c.toml"), bad));
        assert!(
            Settings::resolve(&Flags::default(), |_| None, file).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn trusted_keys_and_signing_key() {
    let k1 = "ed25519:D27f19AgFKRUCZF86Od8YNuL/+vYZK3uc+LBA3fKLsE=";
    let k2 = "ed25519:mGUyJy3FTiDroIGVQgHsXBKEW/gpD9bttUhUWX3j9cc=";
    let text = format!("trusted_keys = [\"{k1}\", \"{k2}\"]\nsigning_key = \"/k\"\n");
    let file = Some((Path::new("config.toml"), text.as_str()));
    let s = Settings::resolve(&Flags::default(), |_| None, file).unwrap();
    let keys: Vec<_> = [k1, k2]
        .iter()
        .map(|k| crate::trust::PublicKey::parse(k).unwrap())
        .collect();
    assert_eq!(s.trusted_keys, crate::trust::TrustedKeys::new(keys));
    assert_eq!(s.signing_key.as_deref(), Some(Path::new("/k")));
    let f = flags(&[("trusted-keys", &format!("{k2}, {k1}"))]);
    let s = Settings::resolve(&f, |_| None, None).unwrap();
    assert!(!s.trusted_keys.is_empty());
    let none = Settings::resolve(&Flags::default(), |_| None, None).unwrap();
    assert!(none.trusted_keys.is_empty() && none.signing_key.is_none());
    let bad = Some((Path::new("c.toml"), "trusted_keys = [\"ed25519:short\"]\n"));
    let e = Settings::resolve(&Flags::default(), |_| None, bad).unwrap_err();
    assert!(e.to_string().starts_with("c.toml: trusted_keys: "), "{e}");
}
