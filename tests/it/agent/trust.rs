//! Who may run what on a device. Pods from the broker do not get the host (privileged,
//! host namespaces, hostPath) unless the node's config allows it, while static pods
//! do; a running pod that the config no longer allows is stopped at the agent's start. With trusted keys, only signed desired state is accepted: a spec signed by an
//! untrusted key, an unsigned spec and a replayed older spec are refused with Warning
//! Events while the running pod keeps running, across agent restarts; signed apply and
//! delete work with either of two trusted keys (rotation), and a signed apply re-signs
//! an unchanged spec the broker holds unsigned.

use std::time::{Duration, Instant};

use super::{WAIT, World, manifest, pod_dir_exists};
use crate::mqtt::support::{eventually, publish, settings};
use crate::pod::fixture::{pod_name, privileged, text};
use pealet::mqtt::Operator;
use pealet::shim::state;
use pealet::spec::{self, Event, PodPhase, SpecHash};

impl World {
    /// A subscriber to this node's Events, past the retained messages.
    fn events(&self) -> Operator {
        let mut op = Operator::connect(&settings(&self.broker, &self.tls_flags), WAIT).unwrap();
        op.retained(&[self.topics().events()]).unwrap();
        op
    }

    /// `pealet keygen --out <dir>/<name>`: (private key file, public key).
    fn keygen(&self, name: &str) -> (String, String) {
        let path = self.env.dir.join(name);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_pealet"))
            .args(["keygen", "--out", path.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let public = text(&out.stdout).trim().to_owned();
        let file = std::fs::read_to_string(format!("{}.pub", path.display())).unwrap();
        assert_eq!(file.trim(), public);
        (path.display().to_string(), public)
    }
}

/// Waits for a Warning Event of `pod` with `reason`; returns its message.
fn wait_event(op: &mut Operator, pod: &str, reason: &str) -> String {
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    loop {
        assert!(
            Instant::now() < deadline,
            "no {reason} Event for {pod}: {seen:?}"
        );
        let Some(m) = op.next(Duration::from_millis(500)).unwrap() else {
            continue;
        };
        let e = spec::decode::<Event>(&m.payload).unwrap();
        if e.pod.as_deref() == Some(pod) && e.reason.as_str() == reason {
            return e.message.to_string();
        }
        seen.push(format!("{}: {}", e.reason.as_str(), e.message.as_str()));
    }
}

#[test]
fn pods_from_the_broker_do_not_get_the_host_but_static_pods_do() {
    if !privileged("pods_from_the_broker_do_not_get_the_host_but_static_pods_do") {
        return;
    }
    let mut w = World::new("trust-admit");
    w.start_agent();
    let plain = |name: &str| manifest(name, &["one"], "1");
    let cases = [
        (
            pod_name("tr-priv"),
            "securityContext: {privileged: true}, ",
            "",
            "allow_privileged = true",
        ),
        (
            pod_name("tr-hostnet"),
            "",
            "  hostNetwork: true\n",
            "allow_host_namespaces = true",
        ),
        (
            pod_name("tr-hostpath"),
            "volumeMounts: [{name: h, mountPath: /h}], ",
            "  volumes: [{name: h, hostPath: {path: /etc}}]\n",
            "allow_host_path = true",
        ),
    ];
    for (name, container, spec, key) in &cases {
        let text = plain(name)
            .replace("- {name: one, ", &format!("- {{name: one, {container}"))
            .replace("spec:\n", &format!("spec:\n{spec}"));
        let pod = w.apply(name, &text);
        w.env.pods.retain(|n| n != name);
        eventually(WAIT, &format!("{name} refused naming {key}"), || {
            w.status(name).is_some_and(|s| {
                s.phase == PodPhase::Failed
                    && s.spec_hash == SpecHash::of_pod(&pod)
                    && s.message.is_some_and(|m| m.as_str().contains(key))
            })
        });
        assert!(!pod_dir_exists(&w.run_dir(), name), "{name} did not start");
    }

    // A static pod written by root on the device keeps the host.
    let s = pod_name("tr-static");
    let text = plain(&s).replace("spec:\n", "spec:\n  hostNetwork: true\n");
    std::fs::write(w.manifests.join(format!("{s}.yaml")), text).unwrap();
    w.env.pods.push(s.clone());
    eventually(WAIT, "the static hostNetwork pod runs", || {
        let st = state::read(&w.env.dir.join("root"), &w.run_dir(), &s).ok();
        st.and_then(|s| s.status)
            .is_some_and(|s| s.phase == PodPhase::Running)
    });
    std::fs::remove_file(w.manifests.join(format!("{s}.yaml"))).unwrap();
    eventually(WAIT, "the static pod is gone", || {
        !pod_dir_exists(&w.run_dir(), &s)
    });
    w.env.pods.retain(|n| *n != s);

    // A node whose config allows host namespaces admits the same pod.
    w.kill_agent();
    w.agent_args = vec!["--allow-host-namespaces".into(), "true".into()];
    w.start_agent();
    let (name, _, spec, _) = &cases[1];
    let text = plain(name).replace("spec:\n", &format!("spec:\n{spec}"));
    let pod = w.apply(name, &text.replace("value: '1'", "value: '2'"));
    w.wait_running(&pod);

    // Back to the defaults: at the agent's start the pod, admitted before, no longer
    // passes admission; as the kubelet does, it is stopped, and its status says why.
    w.kill_agent();
    w.agent_args.clear();
    w.start_agent();
    eventually(WAIT, "the pod stopped, refused", || {
        !pod_dir_exists(&w.run_dir(), name)
            && w.status(name).is_some_and(|s| {
                s.phase == PodPhase::Failed
                    && s.message
                        .is_some_and(|m| m.as_str().contains("allow_host_namespaces"))
            })
    });
    w.env.pods.retain(|n| n != name);
}

#[test]
fn only_signed_fresh_desired_state_runs() {
    if !privileged("only_signed_fresh_desired_state_runs") {
        return;
    }
    let mut w = World::new("trust-signed");
    let (k1, pub1) = w.keygen("k1");
    let (k2, pub2) = w.keygen("k2");
    let (rogue, _) = w.keygen("rogue");
    w.agent_args = vec!["--trusted-keys".into(), format!("{pub1},{pub2}")];
    w.start_agent();
    let mut events = w.events();
    let p = pod_name("tr-signed");
    let file = |w: &World, marker: &str| w.file(&p, &manifest(&p, &["one"], marker));
    let apply = |w: &World, marker: &str, key: Option<&str>| {
        let f = file(w, marker);
        let mut args = vec!["apply", "-f", &f];
        if let Some(k) = key {
            args.extend(["--signing-key", k]);
        }
        w.operator(&args);
        pealet::spec::manifest::read::read_pod(&manifest(&p, &["one"], marker))
            .unwrap()
            .pod
    };

    // Signed by the first key: runs. Its retained bytes are kept for a replay.
    let v1 = apply(&w, "1", Some(&k1));
    w.env.pods.push(p.clone());
    w.wait_running(&v1);
    let old = w.retained(&[w.topics().pod(&p)]).remove(0).payload;
    assert_eq!(old[0], 3, "format version 3: signed");

    // Signed by the second key (rotation): replaces it.
    let v2 = apply(&w, "2", Some(&k2));
    w.wait_running(&v2);
    let pid = w.container_pid(&p, "one");
    let unchanged = |w: &World| {
        let st = w.status(&p).unwrap();
        assert_eq!(st.spec_hash, SpecHash::of_pod(&v2));
        assert_eq!(st.phase, PodPhase::Running);
        assert_eq!(w.container_pid(&p, "one"), pid, "the pod keeps running");
    };

    // Forged (an untrusted key), unsigned, replayed: refused with Events, nothing changes.
    apply(&w, "3", Some(&rogue));
    let why = wait_event(&mut events, &p, "Untrusted");
    assert!(why.contains("does not trust"), "{why}");
    unchanged(&w);
    apply(&w, "4", None);
    let why = wait_event(&mut events, &p, "Untrusted");
    assert!(why.starts_with("unsigned pod spec"), "{why}");
    unchanged(&w);
    publish(&w.broker, &w.topics().pod(&p), &old, true);
    let why = wait_event(&mut events, &p, "Replayed");
    assert!(why.contains("is not newer than"), "{why}");
    unchanged(&w);
    // An unsigned deletion and an unsigned index: refused too.
    publish(&w.broker, &w.topics().pod(&p), b"", true);
    wait_event(&mut events, &p, "Untrusted");
    unchanged(&w);

    // The broker holds the unsigned spec 4: a signed apply of that same spec says
    // unchanged but signs it again, and the device runs it.
    let v4 = apply(&w, "4", Some(&k1));
    w.wait_running(&v4);

    // Signed delete: the pod goes.
    w.operator(&["delete", "pod", &p, "--signing-key", &k1]);
    eventually(WAIT, "deleted and its status cleared", || {
        w.status(&p).is_none() && !pod_dir_exists(&w.run_dir(), &p)
    });
    w.env.pods.retain(|n| *n != p);
    let tombstone = w.retained(&[w.topics().pod(&p)]).remove(0).payload;
    assert_eq!(
        &tombstone[..2],
        &[3, 10],
        "a signed deletion stays retained"
    );

    // After a restart the generations are still known: the old spec cannot come back.
    w.kill_agent();
    w.start_agent();
    publish(&w.broker, &w.topics().pod(&p), &old, true);
    let why = wait_event(&mut events, &p, "Replayed");
    assert!(why.contains("is not newer than"), "{why}");
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !pod_dir_exists(&w.run_dir(), &p),
        "the replayed pod did not start"
    );
    events.disconnect();
}
