//! Faults the agent recovers from: an oversized retained message on its pods topic
//! (MQTT 3.1.1 and 5), a kill -9 in the middle of a deletion, a pod whose containers
//! were stopped behind its back, and a full disk under the desired state.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{WAIT, World, manifest, pod_dir_exists};
use crate::mqtt::broker::Broker;
use crate::mqtt::support::{eventually, publish};
use crate::pod::fixture::{pod_name, privileged, text};
use pealet::spec::{ConditionStatus, PodPhase, SpecHash};

/// Publishes a retained message of any size (the shared helper caps at 1 MiB).
fn publish_big(broker: &Broker, topic: &str, payload: Vec<u8>) {
    use rumqttc::{Event, Outgoing, Packet, QoS};
    let mut o = rumqttc::MqttOptions::new("test-big-publisher", "127.0.0.1", broker.port);
    o.set_max_packet_size(64 << 20, 64 << 20);
    let (client, mut conn) = rumqttc::Client::new(o, 4);
    client
        .publish(topic, QoS::AtLeastOnce, true, payload)
        .unwrap();
    for event in conn.iter() {
        match event.unwrap() {
            Event::Incoming(Packet::PubAck(_)) => client.disconnect().unwrap(),
            Event::Outgoing(Outgoing::Disconnect) => break,
            _ => {}
        }
    }
}

/// How many times the broker saw the agent's client connect.
fn connects(w: &World) -> usize {
    let log = std::fs::read_to_string(w.broker.dir.join("mosquitto.log")).unwrap_or_default();
    let id = format!(" as pealet-{} ", w.node);
    log.lines()
        .filter(|l| l.contains("New client connected") && l.contains(&id))
        .count()
}

#[test]
fn an_oversized_retained_message_costs_one_warning_not_the_connection() {
    if !privileged("an_oversized_retained_message_costs_one_warning_not_the_connection") {
        return;
    }
    for version in ["3", "5"] {
        let test = format!("fault-big{version}");
        let mut w = World::new(&test);
        w.agent_args = vec!["--mqtt-version".into(), version.into()];
        // 10 MB retained on the node's pods topic, before and while the agent runs.
        let junk = pod_name(&format!("{test}-junk"));
        publish_big(&w.broker, &w.topics().pod(&junk), vec![7u8; 10 << 20]);
        w.start_agent();
        eventually(WAIT, "the agent connected", || connects(&w) == 1);
        let p = pod_name(&test);
        let started = Instant::now();
        let pod = w.apply(&p, &manifest(&p, &["one"], "1"));
        w.wait_running(&pod);
        eprintln!(
            "MQTT {version}: applied and running in {:?}",
            started.elapsed()
        );
        std::thread::sleep(Duration::from_secs(2));
        assert_eq!(connects(&w), 1, "MQTT {version}: the agent reconnected");
        // 3.1.1 reads it and refuses it (once); MQTT 5 announced its limit, so the
        // broker never sent it.
        let junk_status = w.status(&junk);
        match version {
            "3" => {
                let st = junk_status.expect("the oversized message refused");
                assert_eq!(st.phase, PodPhase::Failed);
                let msg = st.message.map(|m| m.to_string()).unwrap_or_default();
                assert!(msg.contains("10485760"), "{msg}");
            }
            _ => assert!(junk_status.is_none(), "{junk_status:?}"),
        }
        // A broker restart sends it again; the agent comes back once and still works.
        w.broker.restart();
        eventually(WAIT, "the agent connected again", || connects(&w) == 2);
        std::thread::sleep(Duration::from_secs(2));
        assert_eq!(
            connects(&w),
            2,
            "MQTT {version}: reconnected more than once"
        );
        // Cleared by whoever published it: its refusal goes too.
        publish(&w.broker, &w.topics().pod(&junk), b"", true);
        eventually(WAIT, "the refusal cleared", || w.status(&junk).is_none());
        w.wait_running(&pod);
    }
}

/// A pod whose container ignores SIGTERM (sleep as PID 1) for a grace period of `grace`
/// seconds: its deletion takes that long.
fn slow_to_stop(name: &str, grace: u32) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  \
         terminationGracePeriodSeconds: {grace}\n  containers:\n  \
         - {{name: c, image: busybox:test, command: [sleep, '3600']}}\n"
    )
}

fn desired_dir(w: &World) -> PathBuf {
    w.env.dir.join("root/desired")
}

#[test]
fn an_agent_killed_in_the_middle_of_a_deletion_finishes_it_when_it_comes_back() {
    if !privileged("an_agent_killed_in_the_middle_of_a_deletion_finishes_it_when_it_comes_back") {
        return;
    }
    let mut w = World::new("fault-mid-delete");
    w.start_agent();
    let p = pod_name("fault-mid-delete");
    let pod = w.apply(&p, &slow_to_stop(&p, 8));
    w.wait_running(&pod);
    w.operator(&["delete", "pod", &p]);
    // The deletion is stored (the pod's file goes) before anything stops, then the
    // grace period runs; the agent dies in the middle of it.
    let stored = desired_dir(&w).join(format!("{p}.pod"));
    let intent = desired_dir(&w).join(format!("{p}.removing"));
    eventually(WAIT, "the deletion stored", || !stored.exists());
    std::thread::sleep(Duration::from_secs(1));
    assert!(pod_dir_exists(&w.run_dir(), &p), "still stopping");
    w.kill_agent();
    w.start_agent();
    eventually(WAIT, "the deletion finished and the status cleared", || {
        !pod_dir_exists(&w.run_dir(), &p) && w.status(&p).is_none()
    });
    assert!(!intent.exists());
    let out = w.operator(&["get", "pods"]);
    assert!(!out.contains(p.as_str()), "{out}");
    w.env.pods.retain(|n| *n != p);
}

#[test]
fn a_pod_applied_again_after_an_interrupted_deletion_runs_again() {
    if !privileged("a_pod_applied_again_after_an_interrupted_deletion_runs_again") {
        return;
    }
    let mut w = World::new("fault-reapply");
    w.start_agent();
    let p = pod_name("fault-reapply");
    let text = slow_to_stop(&p, 8);
    let pod = w.apply(&p, &text);
    w.wait_running(&pod);
    w.operator(&["delete", "pod", &p]);
    let stored = desired_dir(&w).join(format!("{p}.pod"));
    let intent = desired_dir(&w).join(format!("{p}.removing"));
    eventually(WAIT, "the deletion stored", || !stored.exists());
    std::thread::sleep(Duration::from_secs(1));
    // Killed while its shim stops the pod; the same pod is applied again meanwhile:
    // the pod runs again (restartPolicy Always), it is not adopted as it stops.
    w.kill_agent();
    w.apply(&p, &text);
    w.start_agent();
    let st = w.wait_running(&pod);
    assert_eq!(st.spec_hash, SpecHash::of_pod(&pod));
    std::thread::sleep(Duration::from_secs(10));
    let st = w.wait_running(&pod);
    assert_eq!(st.phase, PodPhase::Running, "{st:?}");
    assert!(!intent.exists());
}

#[test]
fn an_agent_killed_in_the_middle_of_a_replacement_finishes_it_when_it_comes_back() {
    if !privileged("an_agent_killed_in_the_middle_of_a_replacement_finishes_it_when_it_comes_back")
    {
        return;
    }
    let mut w = World::new("fault-mid-replace");
    w.start_agent();
    let p = pod_name("fault-mid-replace");
    let old = w.apply(&p, &slow_to_stop(&p, 8));
    w.wait_running(&old);
    // The same pod with a new spec: stored, then the old one stops for 8 s; the agent
    // dies in the middle of that.
    let new = w.apply(&p, &slow_to_stop(&p, 9));
    let stored = desired_dir(&w).join(format!("{p}.pod"));
    let hash = SpecHash::of_pod(&new);
    eventually(WAIT, "the new spec stored", || {
        std::fs::read(&stored)
            .ok()
            .and_then(|b| pealet::spec::decode::<pealet::spec::Pod>(&b).ok())
            .is_some_and(|pod| SpecHash::of_pod(&pod) == hash)
    });
    std::thread::sleep(Duration::from_secs(1));
    w.kill_agent();
    w.start_agent();
    let st = w.wait_running(&new);
    assert_eq!(st.spec_hash, hash);
}

/// The pid of the docker-registry process started with `tag`.
fn registry_pid(tag: &str) -> rustix::process::Pid {
    let want = format!("registry-{tag}");
    for e in std::fs::read_dir("/proc").unwrap().filter_map(|e| e.ok()) {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        if cmdline.contains("serve") && cmdline.contains(&want) {
            return rustix::process::Pid::from_raw(pid).unwrap();
        }
    }
    panic!("no registry {tag}");
}

#[test]
fn an_agent_killed_during_a_pull_adopts_the_pod_that_pulls() {
    if !privileged("an_agent_killed_during_a_pull_adopts_the_pod_that_pulls") {
        return;
    }
    use crate::images::registry::{Comp, Registry, busybox_image, push};
    use rustix::process::{Signal, kill_process};
    let tag = format!("fault-pull-{}", std::process::id());
    let reg = Registry::start(&tag, None);
    push(
        reg.port,
        "slow",
        "1",
        &busybox_image("slow", Comp::Gzip),
        None,
    );
    let mut w = World::new("fault-pull");
    w.start_agent();
    // The registry stops answering: the pod's pull hangs.
    let registry = registry_pid(&tag);
    kill_process(registry, Signal::STOP).unwrap();
    let p = pod_name("fault-pull");
    let text = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {p}}}\nspec:\n  \
         terminationGracePeriodSeconds: 1\n  containers:\n  \
         - {{name: c, image: '{}/slow:1', command: [sh, -c, 'exec busybox sleep 3600']}}\n",
        reg.host()
    );
    let pod = w.apply(&p, &text);
    let dirs = pealet::shim::state::PodDirs::new(&w.env.dir.join("root"), &w.run_dir(), &p);
    let shim = || pealet::shim::state::shim_pid(&dirs);
    eventually(WAIT, "the pod's shim pulling", || shim().is_some());
    std::thread::sleep(Duration::from_secs(1));
    let pulling = shim();
    w.kill_agent();
    w.start_agent();
    std::thread::sleep(Duration::from_secs(2));
    kill_process(registry, Signal::CONT).unwrap();
    w.wait_running(&pod);
    assert_eq!(shim(), pulling, "the shim that pulled runs the pod");
}

/// Runs `cmd` in the agent's mount namespace (where its small disk is mounted).
fn in_agent_ns(w: &World, cmd: &[&str]) -> std::process::Output {
    let pid = w.agent.as_ref().unwrap().id().to_string();
    std::process::Command::new("nsenter")
        .args(["-t", &pid, "-m", "--"])
        .args(cmd)
        .output()
        .unwrap()
}

#[test]
fn a_change_that_cannot_be_stored_is_not_made_until_it_can() {
    if !privileged("a_change_that_cannot_be_stored_is_not_made_until_it_can") {
        return;
    }
    let mut w = World::new("fault-full");
    // The desired state on a tmpfs of 64 KiB, full, mounted in a mount namespace of the
    // agent's own (so that no other test sees the mount come and go).
    let desired = desired_dir(&w);
    std::fs::create_dir_all(&desired).unwrap();
    let d = desired.display().to_string();
    let script = format!(
        "mount -t tmpfs -o size=64k tmpfs {d} && \
         (dd if=/dev/zero of={d}/filler bs=4k 2>/dev/null; true) && exec \"$@\""
    );
    w.agent_wrapper = vec![
        "unshare".into(),
        "--mount".into(),
        "--propagation".into(),
        "slave".into(),
        "--".into(),
        "sh".into(),
        "-c".into(),
        script,
        "sh".into(),
    ];
    w.start_agent();
    let p = pod_name("fault-full");
    let pod = w.apply(&p, &manifest(&p, &["one"], "1"));
    eventually(WAIT, "DiskPressure", || {
        w.node_status().is_some_and(|n| {
            let c = &n.conditions.disk_pressure;
            c.status == ConditionStatus::True
                && c.message
                    .as_ref()
                    .is_some_and(|m| m.contains("cannot be stored"))
        })
    });
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        !pod_dir_exists(&w.run_dir(), &p),
        "started though not stored"
    );
    assert!(w.status(&p).is_none());
    let ls = |w: &World| text(&in_agent_ns(w, &["ls", "-a", &d]).stdout);
    let files = ls(&w);
    assert!(
        files.contains("filler") && !files.contains(".tmp"),
        "{files}"
    );
    // Space comes back: the change is stored, then made.
    let out = in_agent_ns(&w, &["rm", &format!("{d}/filler")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    w.wait_running(&pod);
    let files = ls(&w);
    assert!(
        files.contains(&format!("{p}.pod")) && !files.contains(".tmp"),
        "{files}"
    );
    eventually(WAIT, "no DiskPressure", || {
        w.node_status()
            .is_some_and(|n| n.conditions.disk_pressure.status == ConditionStatus::False)
    });
}

/// Every node status published from now on, decoded, in order of arrival.
fn watch_node(w: &World) -> std::sync::mpsc::Receiver<pealet::spec::NodeStatus> {
    use rumqttc::{Event, Packet, QoS};
    let o = rumqttc::MqttOptions::new(format!("test-watch-{}", w.node), "127.0.0.1", w.broker.port);
    let (client, mut conn) = rumqttc::Client::new(o, 4);
    client
        .subscribe(w.topics().node(), QoS::AtLeastOnce)
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _client = client;
        for event in conn.iter() {
            match event {
                Ok(Event::Incoming(Packet::Publish(p))) if !p.retain => {
                    let Ok(st) = pealet::spec::decode(&p.payload) else {
                        continue;
                    };
                    if tx.send(st).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
    rx
}

#[test]
fn the_node_says_online_once_per_connect() {
    if !privileged("the_node_says_online_once_per_connect") {
        return;
    }
    let mut w = World::new("fault-online");
    w.agent_args = vec!["--heartbeat".into(), "3600".into()];
    w.start_agent();
    eventually(WAIT, "online", || w.node_status().is_some_and(|n| n.online));
    let statuses = watch_node(&w);
    std::thread::sleep(Duration::from_secs(1));
    // Another client takes the agent's session over: the broker drops the agent's
    // connection (and sends its Last Will); the agent connects again.
    let o = rumqttc::MqttOptions::new(format!("pealet-{}", w.node), "127.0.0.1", w.broker.port);
    let (thief, mut conn) = rumqttc::Client::new(o, 4);
    for event in conn.iter() {
        if let Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(_))) = event {
            break;
        }
    }
    thief.disconnect().unwrap();
    for _ in conn.iter().take(2) {}
    std::thread::sleep(Duration::from_secs(8));
    let seen: Vec<bool> = statuses.try_iter().map(|n| n.online).collect();
    assert_eq!(seen.iter().filter(|o| **o).count(), 1, "{seen:?}");
    assert_eq!(seen.last(), Some(&true), "{seen:?}");
}
