//! The MQTT side against a real mosquitto (Debian package `mosquitto`), started by each
//! test on a free loopback port: the operator commands, the device's receive path,
//! broker restarts with and without persistence, TLS, mutual TLS and the Last Will.

mod acl;
pub(crate) mod broker;
mod device;
pub(crate) mod support;
mod versions;

use std::process::Command;
use std::time::{Duration, Instant};

use broker::{Broker, Tls};
use pealet::mqtt::Topics;
use pealet::spec::*;
pub use support::*;

#[test]
fn apply_get_describe_delete_through_the_broker() {
    let b = Broker::start("cli", false, Tls::None);
    let url = b.url();
    let web = write_manifest(&b.dir, "web", "nginx:1.27");
    let out = ok(&["apply", "-f", &web, "--node", "pi-01", "--broker", &url]);
    assert_eq!(out, "pi-01: pod/web created\n");
    // A subscriber sees the retained pod and the index that lists it.
    let t = Topics::new("pealet/v1", "pi-01");
    let msgs = retained(&b, &[t.pods_filter(), t.index()]);
    let expected = pod("web", "nginx:1.27");
    let find = |topic: &str| msgs.iter().find(|m| m.topic == topic).unwrap();
    assert!(find(&t.pod("web")).retained);
    assert_eq!(
        decode::<Pod>(&find(&t.pod("web")).payload).unwrap(),
        expected
    );
    let index: Index = decode(&find(&t.index()).payload).unwrap();
    assert_eq!(index.get("web"), Some(SpecHash::of_pod(&expected)));

    // Broker settings before the command work as well as after it.
    let out = ok(&["--broker", &url, "apply", "-f", &web, "--node", "pi-01"]);
    assert_eq!(out, "pi-01: pod/web unchanged\n");
    let out = ok(&["get", "pods", "--node", "pi-01", "--broker", &url]);
    assert!(
        out.starts_with("NAME   READY   STATUS    RESTARTS   AGE\n"),
        "{out}"
    );
    assert!(
        out.contains("web    0/1     Pending   0          <unknown>\n"),
        "{out}"
    );

    // The device reports the pod running.
    let status = running_status(&expected, true);
    publish(&b, &t.status("web"), &encode(&status), true);
    let out = ok(&[
        "get", "pods", "--node", "pi-01", "--broker", &url, "-o", "wide",
    ]);
    let row = out.lines().nth(1).unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[..4], ["web", "1/1", "Running", "0"], "{out}");
    assert_eq!(cells[5..], ["10.88.0.5", "pi-01"], "{out}");
    let json = ok(&[
        "get", "pods", "--node", "pi-01", "--broker", &url, "-o", "json",
    ]);
    assert!(json.contains("\"phase\": \"Running\""), "{json}");
    assert!(json.contains("\"nodeName\": \"pi-01\""), "{json}");

    // A changed spec is "configured"; describe says the status is of the older spec.
    let web2 = write_manifest(&b.dir, "web", "nginx:1.28");
    let out = ok(&[
        "apply",
        "-f",
        &web2,
        "--node",
        "pi-01,pi-02",
        "--broker",
        &url,
    ]);
    assert_eq!(out, "pi-01: pod/web configured\npi-02: pod/web created\n");
    let out = ok(&[
        "describe", "pod", "web", "--node", "pi-01", "--broker", &url,
    ]);
    assert!(out.contains("Status:         Running\n"), "{out}");
    assert!(out.contains("Image:          nginx:1.28\n"), "{out}");
    assert!(out.contains("an update is pending"), "{out}");

    // Delete: the retained pod is cleared and the index no longer lists it.
    let out = ok(&["delete", "pod", "web", "--node", "pi-01", "--broker", &url]);
    assert_eq!(out, "pi-01: pod/web deleted\n");
    let msgs = retained(&b, &[t.pods_filter(), t.index()]);
    assert!(msgs.iter().all(|m| m.topic != t.pod("web")));
    let index: Index =
        decode(&msgs.iter().find(|m| m.topic == t.index()).unwrap().payload).unwrap();
    assert_eq!(index, Index::default());
    // The status is still there until the device clears it: shown as Terminating.
    let out = ok(&["get", "pods", "--node", "pi-01", "--broker", &url]);
    assert!(out.contains("web    1/1     Terminating"), "{out}");
    let o = pealet(&["delete", "pod", "nope", "--node", "pi-01", "--broker", &url]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("pi-01: pod/nope not found"));
}

#[test]
fn get_nodes_lists_online_and_offline_nodes() {
    let b = Broker::start("nodes", false, Tls::None);
    for (name, online) in [("pi-01", true), ("pi-02", false)] {
        let mut n = crate::wire::samples::node_status();
        n.name = name.try_into().unwrap();
        n.online = online;
        n.heartbeat = Time::now();
        publish(
            &b,
            &Topics::new("pealet/v1", name).node(),
            &encode(&n),
            true,
        );
    }
    let out = ok(&["get", "nodes", "--broker", &b.url()]);
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        [
            "NAME",
            "STATUS",
            "VERSION",
            "ARCH",
            "PODS",
            "LAST",
            "HEARTBEAT"
        ]
    );
    assert_eq!(
        rows[1][..5],
        ["pi-01", "online", "0.1.0", "arm64", "<unknown>"],
        "{out}"
    );
    assert_eq!(rows[2][..2], ["pi-02", "offline"], "{out}");
}

#[test]
fn invalid_manifest_publishes_nothing_and_bad_settings_are_refused() {
    let b = Broker::start("invalid", false, Tls::None);
    let bad = b.dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {}\n",
    )
    .unwrap();
    let o = pealet(&[
        "apply",
        "-f",
        bad.to_str().unwrap(),
        "--node",
        "n",
        "--broker",
        &b.url(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let t = Topics::new("pealet/v1", "n");
    assert!(retained(&b, &[t.pods_filter(), t.index()]).is_empty());
    let web = write_manifest(&b.dir, "web", "busybox");
    let o = pealet(&[
        "apply",
        "-f",
        &web,
        "--node",
        "n",
        "--broker",
        &b.url(),
        "--password",
        "x",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--password-file"));
    let o = pealet(&["apply", "-f", &web, "--broker", &b.url()]);
    assert_eq!(o.status.code(), Some(2), "no --node");
}

#[test]
#[cfg(feature = "tls")]
fn tls_and_mutual_tls() {
    let b = Broker::start("tls", false, Tls::Server);
    let web = write_manifest(&b.dir, "web", "busybox");
    let (url, ca) = (b.url(), b.path("ca.pem"));
    let out = ok(&[
        "apply",
        "-f",
        &web,
        "--node",
        "n",
        "--broker",
        &url,
        "--ca-file",
        &ca,
    ]);
    assert_eq!(out, "n: pod/web created\n");
    // Without the test CA the broker's certificate is not trusted.
    let o = pealet(&["get", "pods", "--node", "n", "--broker", &url]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(err.contains("connect to mqtts://127.0.0.1"), "{err}");
    drop(b);

    let b = Broker::start("mtls", false, Tls::Mutual);
    let (url, ca) = (b.url(), b.path("ca.pem"));
    let (cert, key) = (b.path("client.pem"), b.path("client.key"));
    let web = write_manifest(&b.dir, "web", "busybox");
    let o = pealet(&[
        "apply",
        "-f",
        &web,
        "--node",
        "n",
        "--broker",
        &url,
        "--ca-file",
        &ca,
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "a client without a certificate is refused"
    );
    let args = [
        "apply",
        "-f",
        &web,
        "--node",
        "n",
        "--broker",
        &url,
        "--ca-file",
        &ca,
        "--cert-file",
        &cert,
        "--key-file",
        &key,
    ];
    assert_eq!(ok(&args), "n: pod/web created\n");
    // The device connects with its certificate and receives the pod.
    let s = settings(
        &b,
        &[("ca-file", ca), ("cert-file", cert), ("key-file", key)],
    );
    let got = device::receive_all(&s, "n", 2);
    assert!(
        got.iter()
            .any(|u| matches!(u, pealet::desired::Update::Pod { pod: Ok(_), .. }))
    );
}

#[test]
#[cfg(not(feature = "tls"))]
fn mqtts_is_refused_without_the_tls_feature() {
    let b = Broker::start("notls", false, Tls::Server);
    let web = write_manifest(&b.dir, "web", "busybox");
    let ca = b.path("ca.pem");
    let o = pealet(&[
        "apply",
        "-f",
        &web,
        "--node",
        "n",
        "--broker",
        &b.url(),
        "--ca-file",
        &ca,
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(err.contains("built without TLS"), "{err}");
}

#[test]
fn get_pods_watch_prints_a_row_per_status_change() {
    use std::io::{BufRead, BufReader};
    let b = Broker::start("watch", false, Tls::None);
    let web = pod("web", "busybox");
    let t = Topics::new("pealet/v1", "n");
    publish(
        &b,
        &t.status("web"),
        &encode(&running_status(&web, false)),
        true,
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_pealet"))
        .args([
            "get",
            "pods",
            "--watch",
            "--node",
            "n",
            "--broker",
            &b.url(),
        ])
        .env("PEALET_CONFIG", "/dev/null")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A watchdog: if the rows never come, the child is killed and the test fails.
    let pid = rustix::process::Pid::from_child(&child);
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watched = done.clone();
    let watchdog = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if watched.load(std::sync::atomic::Ordering::SeqCst) {
                return; // the child is still ours: the test kills and reaps it
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = || lines.next().expect("a row within 30 s").unwrap();
    assert!(next().starts_with("NAME"));
    assert!(next().starts_with("web    0/1     Running"));
    publish(
        &b,
        &t.status("web"),
        &encode(&running_status(&web, true)),
        true,
    );
    assert!(next().starts_with("web   1/1   Running   0"));
    publish(&b, &t.status("web"), b"", true);
    assert_eq!(next(), "web   -   Deleted");
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    watchdog.join().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
}
