//! Helpers of the MQTT tests: running pealet, sample pods and statuses, and a plain
//! subscriber and publisher that check what is on the broker.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use super::broker::Broker;
use pealet::config::{Flags, Settings};
use pealet::mqtt::{Message, Operator};
use pealet::spec::manifest::read::read_pod;
use pealet::spec::*;

pub fn pealet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pealet"))
        .args(args)
        // An empty settings file: nothing from /etc/pealet/config.toml of this machine.
        .env("PEALET_CONFIG", "/dev/null")
        .output()
        .expect("run pealet")
}

/// Runs pealet, which must succeed; returns its standard output.
pub fn ok(args: &[&str]) -> String {
    let o = pealet(args);
    assert!(
        o.status.success(),
        "pealet {args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

pub fn pod(name: &str, image: &str) -> Pod {
    read_pod(&pod_yaml(name, image)).unwrap().pod
}

fn pod_yaml(name: &str, image: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\n\
         spec: {{containers: [{{name: app, image: '{image}'}}]}}\n"
    )
}

pub fn write_manifest(dir: &Path, name: &str, image: &str) -> String {
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, pod_yaml(name, image)).unwrap();
    path.display().to_string()
}

/// Settings for `broker` (and extra flags such as TLS files).
pub fn settings(broker: &Broker, extra: &[(&str, String)]) -> Settings {
    let mut flags = Flags::default();
    flags.set("broker", broker.url()).unwrap();
    for (k, v) in extra {
        assert!(flags.set(k, v.clone()).unwrap(), "{k}");
    }
    Settings::resolve(&flags, |_| None, None).unwrap()
}

/// The retained messages under `filters`, as a subscriber sees them.
pub fn retained(broker: &Broker, filters: &[String]) -> Vec<Message> {
    let mut op = Operator::connect(&settings(broker, &[]), Duration::from_secs(10)).unwrap();
    let msgs = op.retained(filters).unwrap();
    op.disconnect();
    msgs
}

/// Publishes as any other client would (QoS 1, waiting for the acknowledgement), with no
/// size limit of its own, so that oversized messages can be sent.
pub fn publish(broker: &Broker, topic: &str, payload: &[u8], retain: bool) {
    use rumqttc::{Event, Outgoing, Packet, QoS};
    let mut o = rumqttc::MqttOptions::new("test-publisher", "127.0.0.1", broker.port);
    o.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut conn) = rumqttc::Client::new(o, 4);
    client
        .publish(topic, QoS::AtLeastOnce, retain, payload.to_vec())
        .unwrap();
    for event in conn.iter() {
        match event.unwrap() {
            Event::Incoming(Packet::PubAck(_)) => client.disconnect().unwrap(),
            Event::Outgoing(Outgoing::Disconnect) => break,
            _ => {}
        }
    }
}

/// A status as a device reports a running one-container pod.
pub fn running_status(pod: &Pod, ready: bool) -> PodStatus {
    let true_ = Condition {
        status: ConditionStatus::True,
        last_transition: Since(0),
        detail: None,
    };
    PodStatus {
        spec_hash: SpecHash::of_pod(pod),
        phase: PodPhase::Running,
        conditions: PodConditions {
            pod_scheduled: true_.clone(),
            initialized: true_.clone(),
            containers_ready: true_.clone(),
            ready: true_,
        },
        reason: None,
        message: None,
        pod_ip: Some("10.88.0.5".parse().unwrap()),
        host_ip: None,
        start_time: Time::now(),
        init_container_statuses: Default::default(),
        container_statuses: vec![ContainerStatus {
            name: bounded::name("app").unwrap(),
            state: ContainerState::Running {
                started_at: Since(0),
            },
            last_state: None,
            ready,
            started: Some(true),
            restart_count: 0,
            image_id: None,
            probes: Default::default(),
        }]
        .try_into()
        .unwrap(),
    }
}

/// Polls `f` until it returns true or `timeout` passes.
pub fn eventually(timeout: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
