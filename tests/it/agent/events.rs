//! What the agent's event-driven loop hands upstream: a pull too short for any interval
//! still gives `Pulling` and `Pulled` Events (typed, from the shim's lifecycle); a
//! refused pod's status is published once and not again; a static pod's manifest
//! dropped into or removed from the manifests directory acts at once (inotify); a shim
//! killed under its running pod leaves the status Unknown, not Running.

use std::time::{Duration, Instant};

use super::{WAIT, World, manifest, pod_dir_exists};
use crate::images::registry::{Comp, Registry, busybox_image, push};
use crate::mqtt::support::{eventually, settings};
use crate::pod::fixture::{pod_name, privileged};
use pealet::mqtt::Operator;
use pealet::shim::state;
use pealet::spec::{self, Event, PodPhase, PodStatus, Reason};

impl World {
    /// A subscriber to `topics`, past their retained messages.
    fn subscriber(&self, topics: &[String]) -> Operator {
        let mut op = Operator::connect(&settings(&self.broker, &self.tls_flags), WAIT).unwrap();
        op.retained(topics).unwrap();
        op
    }
}

#[test]
fn a_fast_pull_still_gives_pulling_and_pulled() {
    if !privileged("a_fast_pull_still_gives_pulling_and_pulled") {
        return;
    }
    let reg = Registry::start("fastpull", None);
    let img = busybox_image("fast", Comp::Gzip);
    push(reg.port, "fast", "1", &img, None);
    let mut w = World::new("agent-fastpull");
    w.start_agent();
    let mut op = w.subscriber(&[w.topics().events()]);
    let p = pod_name("fastpull");
    let image = format!("{}/fast:1", reg.host());
    let text = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {p}}}\nspec:\n  \
         terminationGracePeriodSeconds: 1\n  containers:\n  \
         - {{name: c, image: '{image}', imagePullPolicy: Always, command: [sh, -c, 'exec busybox sleep 3600']}}\n"
    );
    let pod = w.apply(&p, &text);
    w.wait_running(&pod);
    // The Events of the pod, in order, until Started.
    let mut got: Vec<String> = Vec::new();
    let deadline = Instant::now() + WAIT;
    while !got.iter().any(|e| e.starts_with("Started")) {
        assert!(Instant::now() < deadline, "{got:?}");
        let Some(m) = op.next(Duration::from_millis(500)).unwrap() else {
            continue;
        };
        let e = spec::decode::<Event>(&m.payload).unwrap();
        if e.pod.as_deref() == Some(p.as_str()) {
            assert_eq!(e.container.as_deref(), Some("c"), "{e:?}");
            got.push(format!("{}: {}", e.reason.as_str(), e.message.as_str()));
        }
    }
    op.disconnect();
    let reasons: Vec<&str> = got.iter().map(|e| e.split(':').next().unwrap()).collect();
    assert_eq!(
        reasons,
        ["Pulling", "Pulled", "Created", "Started"],
        "{got:?}"
    );
    assert_eq!(got[0], format!("Pulling: Pulling image \"{image}\""));
    let pulled = format!("Pulled: Successfully pulled image \"{image}\" in ");
    assert!(got[1].starts_with(&pulled), "{got:?}");
}

#[test]
fn a_refused_pods_status_is_published_once() {
    if !privileged("a_refused_pods_status_is_published_once") {
        return;
    }
    let mut w = World::new("agent-refusedonce");
    w.start_agent();
    let big = pod_name("refusedonce");
    let text = manifest(&big, &["one"], "1").replace(
        "value: '1'}]}",
        "value: '1'}], resources: {requests: {memory: 100Ti}}}",
    );
    let mut op = w.subscriber(&[w.topics().status(&big)]);
    w.apply(&big, &text);
    w.env.pods.retain(|n| *n != big);
    // Every status message for 5 s after the apply (heartbeats every 2 s meanwhile).
    let mut statuses: Vec<PodStatus> = Vec::new();
    let until = Instant::now() + Duration::from_secs(5);
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        if let Some(m) = op.next(left).unwrap() {
            statuses.push(spec::decode(&m.payload).unwrap());
        }
    }
    op.disconnect();
    assert_eq!(statuses.len(), 1, "{statuses:?}");
    let st = &statuses[0];
    assert_eq!(
        (st.phase, &st.reason),
        (PodPhase::Failed, &Some(Reason::OutOfMemory))
    );
    assert!(!pod_dir_exists(&w.run_dir(), &big));
}

#[test]
fn static_pods_come_and_go_at_once() {
    if !privileged("static_pods_come_and_go_at_once") {
        return;
    }
    let mut w = World::new("agent-staticnow");
    w.start_agent();
    // The agent is up (node online) and idle.
    eventually(WAIT, "node online", || {
        w.node_status().is_some_and(|n| n.online)
    });
    let s = pod_name("staticnow");
    let file = w.manifests.join(format!("{s}.yaml"));
    let written = Instant::now();
    std::fs::write(&file, manifest(&s, &["one"], "1")).unwrap();
    w.env.pods.push(s.clone());
    let root = w.env.dir.join("root");
    eventually(WAIT, "the static pod's spec in the run directory", || {
        state::read(&root, &w.run_dir(), &s).is_ok()
    });
    let seen = written.elapsed();
    let running = |w: &World| {
        let st = state::read(&root, &w.run_dir(), &s).ok();
        st.and_then(|st| st.status)
            .is_some_and(|st| st.phase == PodPhase::Running)
    };
    eventually(WAIT, "the static pod runs", || running(&w));
    let removed = Instant::now();
    std::fs::remove_file(&file).unwrap();
    eventually(WAIT, "the static pod is gone", || {
        !pod_dir_exists(&w.run_dir(), &s)
    });
    w.env.pods.retain(|n| *n != s);
    let gone = removed.elapsed();
    // Seen as soon as written: well under a heartbeat (2 s here), with no rescans.
    eprintln!("static pod: started {seen:?} after its manifest, gone {gone:?} after its removal");
    assert!(seen < Duration::from_secs(1), "{seen:?}");
    assert!(gone < Duration::from_secs(3), "{gone:?} (grace period 1 s)");
}
