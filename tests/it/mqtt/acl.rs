//! The example broker ACL of docs/broker-acl.md (the file docs/broker-acl/acl, as it is)
//! on a real mosquitto with per-device passwords: the real device of n1 gets its own
//! desired state and publishes its status and node status, but n1 can neither read n2's
//! pods nor publish as n2, nor write desired state; anonymous clients are refused.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::broker::{Broker, Tls, temp_dir};
use super::*;
use pealet::config::Settings;
use pealet::mqtt::{Device, Operator};

const ACL: &str = include_str!("../../../docs/broker-acl/acl");
const QUIET: Duration = Duration::from_secs(2);

fn passwd(file: &Path, user: &str, create: bool) {
    let mut cmd = Command::new("mosquitto_passwd");
    if create {
        cmd.arg("-c");
    }
    let out = cmd
        .arg("-b")
        .arg(file)
        .args([user, &format!("{user}-secret")])
        .output()
        .expect("mosquitto_passwd (Debian package mosquitto) must be installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Settings of `user` (`<user>-secret` in a password file).
fn as_user(b: &Broker, creds: &Path, user: &str) -> Settings {
    let file = creds.join(format!("{user}.password"));
    std::fs::write(&file, format!("{user}-secret\n")).unwrap();
    settings(
        b,
        &[
            ("username", user.to_owned()),
            ("password-file", file.display().to_string()),
        ],
    )
}

fn connect(s: &Settings) -> Operator {
    Operator::connect(s, Duration::from_secs(10)).unwrap()
}

/// What arrives on the subscription of `op` within [`QUIET`], by topic.
fn arrivals(op: &mut Operator) -> Vec<String> {
    let mut got = Vec::new();
    let deadline = Instant::now() + QUIET;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if let Some(m) = op.next(left).unwrap() {
            got.push(m.topic);
        }
    }
    got
}

#[test]
fn the_example_acl_keeps_each_device_to_its_own_topics() {
    let creds = temp_dir("acl-creds");
    let pw = creds.join("passwd");
    passwd(&pw, "operator", true);
    passwd(&pw, "n1", false);
    passwd(&pw, "n2", false);
    std::fs::write(creds.join("acl"), ACL).unwrap();
    let extra = format!(
        "allow_anonymous false\npassword_file {}\nacl_file {}\n",
        pw.display(),
        creds.join("acl").display()
    );
    let b = Broker::start_with("acl", false, Tls::None, &extra);
    let (n1, n2) = (
        Topics::new("pealet/v1", "n1"),
        Topics::new("pealet/v1", "n2"),
    );

    // Anonymous clients are refused.
    assert!(Operator::connect(&settings(&b, &[]), Duration::from_secs(5)).is_err());

    // The operator writes desired state for both nodes.
    let mut op = connect(&as_user(&b, &creds, "operator"));
    let (web1, web2) = (pod("web", "busybox:1"), pod("web", "busybox:2"));
    op.publish(&n1.pod("web"), &encode(&web1), true).unwrap();
    op.publish(&n2.pod("web"), &encode(&web2), true).unwrap();

    // The real device of n1 gets its own pod, and its status and node status (the Last
    // Will's topic) reach the operator.
    let n1_settings = as_user(&b, &creds, "n1");
    let mut node = crate::wire::samples::node_status();
    node.name = "n1".try_into().unwrap();
    let device = Device::start(&n1_settings, "n1", &node).unwrap();
    let mut updates = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while updates.is_empty() && Instant::now() < deadline {
        updates.extend(device.wait(Duration::from_millis(200)).updates);
    }
    assert_eq!(
        updates,
        [pealet::desired::Update::Pod {
            name: "web".into(),
            pod: Ok(Box::new(web1.clone()))
        }]
    );
    op.subscribe(&[n1.status_filter(), n1.node(), n2.status_filter()])
        .unwrap();
    device.set_status("web", Some(&running_status(&web1, true)));
    device.set_node(&node);
    let mut got = arrivals(&mut op);
    got.sort();
    got.dedup();
    assert_eq!(got, [n1.node(), n1.status("web")]);
    device.stop(&node, Duration::from_secs(3));

    // n1 cannot read n2's pods: the subscription is refused or delivers nothing, while
    // the same subscription for its own pods delivers.
    let mut spy = connect(&n1_settings);
    match spy.subscribe(&[n2.pods_filter()]) {
        Err(_) => {}
        Ok(()) => assert_eq!(arrivals(&mut spy), Vec::<String>::new(), "n2's pods leaked"),
    }
    let mut spy = connect(&n1_settings);
    spy.subscribe(&["pealet/v1/+/pods/+".to_owned()]).unwrap();
    assert_eq!(arrivals(&mut spy), [n1.pod("web")], "only its own pod");

    // n1 cannot publish as n2 (status, node status, events) nor write desired state;
    // its own status passes.
    let mut watcher = connect(&as_user(&b, &creds, "operator"));
    watcher
        .subscribe(&[
            n2.status_filter(),
            n2.node(),
            n2.events(),
            n1.pods_filter(),
            n2.pods_filter(),
            n1.status_filter(),
        ])
        .unwrap();
    arrivals(&mut watcher); // the retained pods
    let mut forger = connect(&n1_settings);
    let fake = encode(&running_status(&web2, true));
    forger.publish(&n2.status("web"), &fake, true).unwrap();
    forger.publish(&n2.node(), &encode(&node), true).unwrap();
    forger.publish(&n2.events(), b"x", false).unwrap();
    forger
        .publish(&n2.pod("evil"), &encode(&web1), true)
        .unwrap();
    forger
        .publish(&n1.pod("evil"), &encode(&web1), true)
        .unwrap();
    forger.publish(&n1.status("own"), &fake, false).unwrap();
    assert_eq!(arrivals(&mut watcher), [n1.status("own")]);
    let mut check = connect(&as_user(&b, &creds, "operator"));
    let held = check
        .retained(&[
            n2.status_filter(),
            n2.node(),
            n1.pods_filter(),
            n2.pods_filter(),
        ])
        .unwrap();
    let mut topics: Vec<String> = held.into_iter().map(|m| m.topic).collect();
    topics.sort();
    assert_eq!(
        topics,
        [n1.pod("web"), n2.pod("web")],
        "nothing forged was kept"
    );
    let _ = std::fs::remove_dir_all(&creds);
}
