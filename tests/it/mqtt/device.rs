//! The device side against the real broker: typed updates and refusals, statuses
//! republished after a reconnect, desired state through broker restarts with and without
//! persistence (no deletion lost or invented), and the Last Will of a killed device.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::broker::{Broker, Tls};
use super::*;
use pealet::config::{Flags, Settings};
use pealet::desired::Update;
use pealet::mqtt::Device;
use pealet::reconcile::{PodRuntime, Reconciler};
use pealet::store::Store;

/// Pods "run" as map entries: the reconcile logic end to end, without containers.
#[derive(Default)]
struct MemRuntime {
    pods: BTreeMap<String, SpecHash>,
}

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

impl PodRuntime for MemRuntime {
    type Error = Never;
    fn apply(&mut self, pod: &Pod) -> Result<(), Never> {
        self.pods
            .insert(pod.name.to_string(), SpecHash::of_pod(pod));
        Ok(())
    }
    fn remove(&mut self, name: &str) -> Result<(), Never> {
        self.pods.remove(name);
        Ok(())
    }
    fn refuse(&mut self, _name: &str, _why: &str) {}
}

fn offline(node: &str) -> NodeStatus {
    let mut n = crate::wire::samples::node_status();
    n.name = node.try_into().unwrap();
    n.online = false;
    n
}

/// Starts a device for `node` and collects updates until `n` arrived (or 10 s).
pub fn receive_all(s: &Settings, node: &str, n: usize) -> Vec<Update> {
    let device = Device::start(s, node, &offline(node)).unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.len() < n && Instant::now() < deadline {
        got.extend(device.wait(Duration::from_millis(200)).updates);
    }
    got
}

/// A minimal agent loop: updates from the device into the reconciler, until `done`.
fn pump(
    device: &Device,
    r: &mut Reconciler<MemRuntime>,
    what: &str,
    mut done: impl FnMut(&Reconciler<MemRuntime>, &[bool]) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut connections = Vec::new();
    while !done(r, &connections) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        let inbound = device.wait(Duration::from_millis(100));
        connections.extend(inbound.connected);
        for u in inbound.updates {
            r.handle(u, Time::now());
        }
    }
}

fn running(r: &Reconciler<MemRuntime>) -> Vec<&str> {
    r.runtime().pods.keys().map(String::as_str).collect()
}

#[test]
fn bad_payloads_are_refused_one_by_one_and_good_ones_still_arrive() {
    let b = Broker::start("bad", false, Tls::None);
    let t = Topics::new("pealet/v1", "n");
    let good = pod("good", "busybox");
    let garbage = [pealet::spec::codec::FORMAT_VERSION, 1, 0xff, 0xff, 0xff];
    publish(&b, &t.pod("garbage"), &garbage, true);
    publish(&b, &t.pod("huge"), &vec![1u8; 70 * 1024], true);
    publish(
        &b,
        &t.pod("kind"),
        &encode(&running_status(&good, true)),
        true,
    );
    publish(&b, &t.pod("good"), &encode(&good), true);
    publish(&b, &t.index(), b"not an index", true);
    let got = receive_all(&settings(&b, &[]), "n", 5);
    let by_name = |n: &str| {
        got.iter()
            .find(|u| matches!(u, Update::Pod { name, .. } if name == n))
            .unwrap_or_else(|| panic!("no update for {n}: {got:?}"))
    };
    let err = |n: &str| match by_name(n) {
        Update::Pod { pod: Err(e), .. } => e.to_string(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        err("garbage"),
        "payload ends in the middle of a Pod message"
    );
    assert_eq!(
        err("huge"),
        "payload of 71680 bytes exceeds the limit of 65536 bytes"
    );
    assert_eq!(err("kind"), "expected a Pod message, got a PodStatus");
    assert_eq!(
        by_name("good"),
        &Update::Pod {
            name: "good".into(),
            pod: Ok(Box::new(good))
        }
    );
    let index = got.iter().find(|u| matches!(u, Update::Index(_))).unwrap();
    assert_eq!(
        index,
        &Update::Index(Err(DecodeError::UnsupportedVersion(b'n')))
    );
}

#[test]
fn broker_restart_without_persistence_deletes_nothing_and_gets_current_statuses() {
    broker_restart_without_persistence("3");
}

#[test]
fn broker_restart_without_persistence_with_mqtt5() {
    broker_restart_without_persistence("5");
}

fn broker_restart_without_persistence(version: &str) {
    let mut b = Broker::start(&format!("nopersist{version}"), false, Tls::None);
    let url = b.url();
    for p in ["a", "b"] {
        let file = write_manifest(&b.dir, p, "busybox");
        ok(&["apply", "-f", &file, "--node", "n", "--broker", &url]);
    }
    let root = broker::temp_dir(&format!("nopersist{version}-root"));
    let (mut r, _) = Reconciler::start(
        Store::open(&root).unwrap(),
        MemRuntime::default(),
        Time::now(),
    );
    let s = settings(&b, &[("mqtt-version", version.into())]);
    let device = Device::start(&s, "n", &offline("n")).unwrap();
    pump(&device, &mut r, "a and b", |r, _| running(r) == ["a", "b"]);
    for p in ["a", "b"] {
        device.set_status(p, Some(&running_status(&pod(p, "busybox"), true)));
    }
    let t = Topics::new("pealet/v1", "n");
    eventually(Duration::from_secs(10), "statuses", || {
        retained(&b, &[t.status_filter()]).len() == 2
    });

    b.restart(); // every retained message is gone
    // A status changes while the broker is away: only the newest is sent.
    device.set_status("a", Some(&running_status(&pod("a", "busybox"), false)));
    pump(&device, &mut r, "the reconnect", |_, c| {
        c.ends_with(&[true])
    });
    assert_eq!(running(&r), ["a", "b"], "nothing deleted");
    assert_eq!(Store::open(&root).unwrap().load().pods.len(), 2);
    eventually(Duration::from_secs(10), "statuses again", || {
        let msgs = retained(&b, &[t.status_filter()]);
        let a = msgs.iter().find(|m| m.topic == t.status("a"));
        msgs.len() == 2
            && a.is_some_and(|m| {
                !decode::<PodStatus>(&m.payload).unwrap().container_statuses[0].ready
            })
    });

    // The next apply rebuilds the lost index from the statuses: a and b stay.
    let c = write_manifest(&b.dir, "c", "busybox");
    let o = pealet(&["apply", "-f", &c, "--node", "n", "--broker", &url]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("rebuilt it from 2 retained pods and statuses")
    );
    pump(&device, &mut r, "c", |r, _| running(r) == ["a", "b", "c"]);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn deletion_while_offline_survives_a_lost_session_and_a_broker_restart() {
    deletion_while_offline("3");
}

#[test]
fn deletion_while_offline_with_mqtt5() {
    deletion_while_offline("5");
}

fn deletion_while_offline(version: &str) {
    let mut b = Broker::start(&format!("persist{version}"), true, Tls::None);
    let url = b.url();
    for p in ["a", "b"] {
        let file = write_manifest(&b.dir, p, "busybox");
        ok(&["apply", "-f", &file, "--node", "n", "--broker", &url]);
    }
    let root = broker::temp_dir(&format!("persist{version}-root"));
    let store = Store::open(&root).unwrap();
    let (mut r, _) = Reconciler::start(store.clone(), MemRuntime::default(), Time::now());
    let s = settings(&b, &[("mqtt-version", version.into())]);
    let device = Device::start(&s, "n", &offline("n")).unwrap();
    pump(&device, &mut r, "a and b", |r, _| running(r) == ["a", "b"]);
    device.stop(&offline("n"), Duration::from_secs(5));
    drop(r); // the agent is gone; its pods would keep running
    let t = Topics::new("pealet/v1", "n");
    let node = retained(&b, &[t.node()]);
    assert!(
        !decode::<NodeStatus>(&node[0].payload).unwrap().online,
        "said goodbye"
    );

    ok(&["delete", "pod", "b", "--node", "n", "--broker", &url]);
    wipe_session(&b, "pealet-n"); // the queued empty message is lost with the session
    b.restart(); // persistence keeps the retained messages

    let (mut r, _) = Reconciler::start(store, MemRuntime::default(), Time::now());
    assert_eq!(
        running(&r),
        ["a", "b"],
        "started from the store, broker not needed"
    );
    let device = Device::start(&s, "n", &offline("n")).unwrap();
    pump(&device, &mut r, "b deleted", |r, _| running(r) == ["a"]);
    assert_eq!(r.desired().index().map(|ix| ix.pods.len()), Some(1));
    std::fs::remove_dir_all(&root).unwrap();
}

/// Connects with `client_id` and a clean session, which discards the broker's session.
fn wipe_session(b: &Broker, client_id: &str) {
    let mut o = rumqttc::MqttOptions::new(client_id, "127.0.0.1", b.port);
    o.set_clean_session(true);
    let (client, mut conn) = rumqttc::Client::new(o, 4);
    for event in conn.iter() {
        match event.unwrap() {
            rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(_)) => client.disconnect().unwrap(),
            rumqttc::Event::Outgoing(rumqttc::Outgoing::Disconnect) => break,
            _ => {}
        }
    }
}

const CHILD_BROKER: &str = "PEALET_TEST_LAST_WILL_BROKER";

#[test]
fn last_will_is_published_when_the_device_is_killed() {
    let b = Broker::start("will", false, Tls::None);
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "mqtt::device::last_will_child",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_BROKER, b.url())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t = Topics::new("pealet/v1", "willing");
    let node = || {
        let msgs = retained(&b, &[t.node()]);
        msgs.first()
            .map(|m| decode::<NodeStatus>(&m.payload).unwrap().online)
    };
    eventually(Duration::from_secs(10), "the node online", || {
        node() == Some(true)
    });
    child.kill().unwrap(); // SIGKILL: no goodbye, the broker sends the will
    child.wait().unwrap();
    eventually(Duration::from_secs(10), "the Last Will", || {
        node() == Some(false)
    });
}

/// The device process of `last_will_is_published_when_the_device_is_killed`.
#[test]
#[ignore = "run as a child process by last_will_is_published_when_the_device_is_killed"]
fn last_will_child() {
    let url = std::env::var(CHILD_BROKER).expect("only run by the Last Will test");
    let mut flags = Flags::default();
    flags.set("broker", url).unwrap();
    let s = Settings::resolve(&flags, |_| None, None).unwrap();
    let device = Device::start(&s, "willing", &offline("willing")).unwrap();
    let mut online = offline("willing");
    online.online = true;
    device.set_node(&online);
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn junk_topic_names_are_never_taken_for_pods() {
    let b = Broker::start("junknames", false, Tls::None);
    let url = b.url();
    let good = pod("fine", "busybox");
    let prefix = "pealet/v1/n";
    for junk in ["..", "", "Bad_Name", "a/b"] {
        publish(&b, &format!("{prefix}/pods/{junk}"), &encode(&good), true);
        let status = encode(&running_status(&good, true));
        publish(&b, &format!("{prefix}/status/{junk}"), &status, true);
    }
    publish(&b, &format!("{prefix}/pods/fine"), &encode(&good), true);
    let got = receive_all(&settings(&b, &[]), "n", 2);
    assert_eq!(
        got,
        [Update::Pod {
            name: "fine".into(),
            pod: Ok(Box::new(good))
        }],
        "only the pod with a real name arrives"
    );
    // An index rebuilt from what is retained lists none of the junk either.
    let c = write_manifest(&b.dir, "c", "busybox");
    let o = pealet(&["apply", "-f", &c, "--node", "n", "--broker", &url]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("rebuilt it from 1 retained pods"), "{err}");
    let t = Topics::new("pealet/v1", "n");
    let msgs = retained(&b, &[t.index()]);
    let index: Index = decode(&msgs[0].payload).unwrap();
    let names: Vec<&str> = index.pods.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["c", "fine"]);
}
