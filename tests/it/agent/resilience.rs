//! The real agent through TLS, mutual TLS and broker outages: a pod applied over a TLS
//! listener runs and its logs can be read; while the broker is down the pods keep running and a status change is
//! kept for the upstream; after the broker comes back (with or without its persistence)
//! the status topics hold the current statuses, a deletion published before the
//! restart is honoured, and a broker that lost everything makes nothing be deleted.
//! (`tests/it/mqtt/device.rs` tests the same rules at the device layer, without
//! containers.)

use std::time::Duration;

use super::{WAIT, World, manifest, pod_dir_exists};
use crate::mqtt::broker::Tls;
use crate::mqtt::support::eventually;
use crate::pod::fixture::{pod_name, privileged, text};
use pealet::spec::{Pod, PodPhase, PodStatus};

/// A pod whose container runs until the file /tmp/stop appears in it, then exits 0
/// (restartPolicy Never: the pod becomes Succeeded): a change made at a chosen moment.
fn until_told(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  \
         restartPolicy: Never\n  terminationGracePeriodSeconds: 1\n  containers:\n  \
         - {{name: c, image: busybox:test, command: [sh, -c, \
             'while [ ! -e /tmp/stop ]; do sleep 0.2; done']}}\n"
    )
}

impl World {
    /// Tells the pod of [`until_told`] to finish, through `pealet exec`.
    fn tell_to_stop(&self, pod: &str) {
        let out = self.env.pealet(&["exec", pod, "--", "touch", "/tmp/stop"]);
        assert!(out.status.success(), "exec: {}", text(&out.stderr));
    }
}

/// The restart count of each container.
fn restarts(status: &PodStatus) -> Vec<u32> {
    (status.container_statuses.iter())
        .map(|c| c.restart_count)
        .collect()
}

/// Running pods `<test>-keep` (two containers) and `<test>-flip`; returns them. (Pod
/// names are unique across the test binary: their cgroups are shared by name.)
fn two_pods(w: &mut World, test: &str) -> (Pod, Pod) {
    let k = pod_name(&format!("{test}-keep"));
    let f = pod_name(&format!("{test}-flip"));
    let keep = w.apply(&k, &manifest(&k, &["one", "two"], "1"));
    let flip = w.apply(&f, &until_told(&f));
    w.wait_running(&keep);
    w.wait_running(&flip);
    (keep, flip)
}

/// Stops the broker for a few seconds, during which `flip` finishes; restarts it and
/// waits until the upstream holds the new status of `flip` and the Running status of
/// `keep`, whose containers were never restarted.
fn outage(w: &mut World, keep: &Pod, flip: &Pod) {
    let pids = [
        w.container_pid(&keep.name, "one"),
        w.container_pid(&keep.name, "two"),
    ];
    w.broker.stop();
    w.tell_to_stop(&flip.name);
    eventually(WAIT, "flip Succeeded on the device", || {
        let st = pealet::shim::state::read(&w.env.dir.join("root"), &w.run_dir(), &flip.name);
        st.ok()
            .and_then(|s| s.status)
            .is_some_and(|s| s.phase == PodPhase::Succeeded)
    });
    std::thread::sleep(Duration::from_secs(3));
    w.broker.restart();
    eventually(WAIT, "the status of flip after the outage", || {
        w.status(&flip.name)
            .is_some_and(|s| s.phase == PodPhase::Succeeded)
    });
    let st = w.wait_running(keep);
    assert_eq!(restarts(&st), [0, 0], "no container restarted");
    let now = [
        w.container_pid(&keep.name, "one"),
        w.container_pid(&keep.name, "two"),
    ];
    assert_eq!(now, pids, "the same containers run");
}

#[test]
#[cfg(feature = "tls")]
fn agent_over_tls_and_mutual_tls() {
    if !privileged("agent_over_tls_and_mutual_tls") {
        return;
    }
    for (test, tls) in [("agent-tls", Tls::Server), ("agent-mtls", Tls::Mutual)] {
        let mut w = World::with(test, true, tls);
        assert!(w.broker.url().starts_with("mqtts://"));
        w.start_agent();
        let p = pod_name(test);
        let pod = w.apply(&p, &manifest(&p, &["one"], "1"));
        w.wait_running(&pod);
        eventually(WAIT, "node online over TLS", || {
            w.node_status().is_some_and(|n| n.online)
        });
        // Remote logs through the same listener: the container wrote nothing.
        let (ok, out, err) = w.logs(&p, &[]);
        assert!(ok && out.is_empty(), "{err}");
    }
}

#[test]
fn broker_restart_with_persistence_keeps_pods_and_honours_a_deletion() {
    if !privileged("broker_restart_with_persistence_keeps_pods_and_honours_a_deletion") {
        return;
    }
    let mut w = World::with("agent-outage", true, Tls::None);
    w.start_agent();
    let (keep, flip) = two_pods(&mut w, "outage");
    outage(&mut w, &keep, &flip);

    // A deletion published while the agent is away, then a broker restart: the
    // persisted index still says it, and the agent honours it when it comes back.
    let pid = w.container_pid(&keep.name, "one");
    w.kill_agent();
    w.operator(&["delete", "pod", &flip.name]);
    w.broker.restart();
    w.start_agent();
    eventually(WAIT, "flip removed and its status cleared", || {
        w.status(&flip.name).is_none() && !pod_dir_exists(&w.run_dir(), &flip.name)
    });
    w.env.pods.retain(|n| *n != flip.name.as_str());
    let st = w.wait_running(&keep);
    assert_eq!(restarts(&st), [0, 0]);
    assert_eq!(w.container_pid(&keep.name, "one"), pid);
}

#[test]
fn broker_restart_without_persistence_deletes_nothing() {
    if !privileged("broker_restart_without_persistence_deletes_nothing") {
        return;
    }
    let mut w = World::with("agent-amnesia", false, Tls::None);
    w.start_agent();
    let (keep, flip) = two_pods(&mut w, "amnesia");
    // The broker forgets every retained message (no index, no pods, no statuses): the
    // statuses seen afterwards were all republished by the agent.
    outage(&mut w, &keep, &flip);
    let pid = w.container_pid(&keep.name, "one");

    // Nothing is deleted, not now and not after an agent restart against that broker.
    std::thread::sleep(Duration::from_secs(3));
    w.kill_agent();
    w.start_agent();
    std::thread::sleep(Duration::from_secs(3));
    assert!(pod_dir_exists(&w.run_dir(), &keep.name));
    assert!(pod_dir_exists(&w.run_dir(), &flip.name));
    let st = w.wait_running(&keep);
    assert_eq!(restarts(&st), [0, 0]);
    assert_eq!(w.container_pid(&keep.name, "one"), pid);
    assert!(
        w.status(&flip.name)
            .is_some_and(|s| s.phase == PodPhase::Succeeded)
    );
}
