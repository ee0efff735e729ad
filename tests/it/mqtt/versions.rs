//! MQTT 5 beside 3.1.1 against the real broker: the operator and the device speak
//! either, each sees what the other published, and with MQTT 5 a broker's refusal
//! (its reason code) reaches the operator as an error. The system trust store is
//! found through `SSL_CERT_FILE`, and a broker name with several addresses connects.

use std::process::Command;
use std::time::{Duration, Instant};

use super::broker::{Broker, Tls};
use super::device::receive_all;
use super::*;
use pealet::config::MqttVersion;
use pealet::desired::Update;
use pealet::mqtt::Device;

fn offline(node: &str) -> NodeStatus {
    let mut n = crate::wire::samples::node_status();
    n.name = node.try_into().unwrap();
    n.online = false;
    n
}

#[test]
fn mqtt5_operator_and_device_work_with_each_other_and_with_311() {
    let b = Broker::start("v5", false, Tls::None);
    let url = b.url();
    let web = write_manifest(&b.dir, "web5", "busybox");
    let out = ok(&[
        "apply",
        "-f",
        &web,
        "--node",
        "n5",
        "--broker",
        &url,
        "--mqtt-version",
        "5",
    ]);
    assert_eq!(out, "n5: pod/web5 created\n");

    // A device speaking MQTT 5 receives the pod and its index.
    let s5 = settings(&b, &[("mqtt-version", "5".into())]);
    assert_eq!(s5.mqtt_version, MqttVersion::V5);
    let got = receive_all(&s5, "n5", 2);
    let names: Vec<&str> = (got.iter())
        .filter_map(|u| match u {
            Update::Pod { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(names, ["web5"], "{got:?}");

    // Its status, published over MQTT 5, is read by operators of either version.
    let device = Device::start(&s5, "n5", &offline("n5")).unwrap();
    let expected = pod("web5", "busybox");
    device.set_status("web5", Some(&running_status(&expected, true)));
    for version in ["5", "3"] {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = ok(&[
                "get",
                "pods",
                "--node",
                "n5",
                "--broker",
                &url,
                "--mqtt-version",
                version,
            ]);
            if out.contains("web5   1/1     Running") {
                break;
            }
            assert!(Instant::now() < deadline, "version {version}: {out}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    device.stop(&offline("n5"), Duration::from_secs(3));
    // Its clean goodbye left the node offline (not by the Last Will).
    let out = ok(&["get", "nodes", "--broker", &url, "--mqtt-version", "5"]);
    assert!(out.contains("n5"), "{out}");
    assert!(out.contains("n5     offline"), "{out}");
}

#[test]
fn mqtt5_shows_the_brokers_reason_code_when_it_refuses_a_publish() {
    // Anonymous clients may read everything but write only under the node `open`.
    let acl = std::env::temp_dir().join(format!("pealet-v5acl-{}.acl", std::process::id()));
    std::fs::write(
        &acl,
        "topic read pealet/v1/#\ntopic readwrite pealet/v1/open/#\n\
         topic readwrite pealet/v1/_operator/#\n",
    )
    .unwrap();
    let conf = format!("acl_file {}\n", acl.display());
    let b = Broker::start_with("v5acl", false, Tls::None, &conf);
    let url = b.url();
    let web = write_manifest(&b.dir, "acl5", "busybox");
    let apply = |node: &str, version: &str| {
        pealet(&[
            "apply",
            "-f",
            &web,
            "--node",
            node,
            "--broker",
            &url,
            "--mqtt-version",
            version,
        ])
    };
    let o = apply("open", "5");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = apply("closed", "5");
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("NotAuthorized"), "{err}");
    // MQTT 3.1.1 has no way to say it: the broker acknowledges and drops the message.
    let o = apply("closed", "3");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let _ = std::fs::remove_file(acl);
}

#[test]
fn mqtts_without_a_ca_file_trusts_the_system_store_named_by_ssl_cert_file() {
    let b = Broker::start("sslcertfile", false, Tls::Server);
    let url = b.url();
    let get = |env: Option<String>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_pealet"));
        c.args(["get", "pods", "--node", "n", "--broker", &url])
            .env("PEALET_CONFIG", "/dev/null")
            .env_remove("SSL_CERT_FILE");
        if let Some(file) = env {
            c.env("SSL_CERT_FILE", file);
        }
        c.output().unwrap()
    };
    // The machine's own bundle does not hold the test CA.
    let o = get(None);
    assert_eq!(o.status.code(), Some(1));
    // Named by SSL_CERT_FILE, as OpenSSL-based tools take it, the test CA is trusted.
    let o = get(Some(b.path("ca.pem")));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // A file that does not exist is named in the error.
    let o = get(Some("/nonexistent/ca.pem".into()));
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("/nonexistent/ca.pem"), "{err}");
}

#[test]
fn a_broker_name_with_several_addresses_is_tried_address_by_address() {
    let b = Broker::start("multiaddr", false, Tls::None);
    // A private /etc/hosts in a mount namespace of its own: the name's first address
    // (::1, where nothing listens) refuses, the second is the broker.
    let hosts = b.dir.join("hosts");
    std::fs::write(&hosts, "::1 broker.test\n127.0.0.1 broker.test\n").unwrap();
    let script = format!(
        "mount --bind {} /etc/hosts && exec {} get nodes --broker mqtt://broker.test:{}",
        hosts.display(),
        env!("CARGO_BIN_EXE_pealet"),
        b.port
    );
    let o = Command::new("unshare")
        .args(["--mount", "sh", "-c", &script])
        .env("PEALET_CONFIG", "/dev/null")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "");
}
