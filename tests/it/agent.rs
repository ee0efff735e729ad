//! `pealet agent` end to end: a real mosquitto (tests/it/mqtt/broker.rs), real busybox
//! pods (tests/it/pod/fixture.rs), the operator commands and a plain subscriber.
//! Each test has its own node name, root, run directory and manifests directory.
//! `agent/logs.rs`: remote logs; `agent/resilience.rs`: TLS and broker outages;
//! `agent/faults.rs`: an oversized retained message, the agent killed in the middle of
//! a deletion, a stopped pod applied again, a full disk;
//! `agent/events.rs`: what the event-driven loop pushes (pull Events, stable statuses,
//! static pods at once); `agent/shims.rs`: shims killed, with the agent up or down,
//! and shims reaped; `agent/trust.rs`: secure admission defaults and signed desired
//! state (forged, unsigned and replayed specs refused).

mod events;
mod faults;
mod logs;
mod resilience;
mod shims;
mod trust;

use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::Duration;

use crate::mqtt::broker::{Broker, Tls};
use crate::mqtt::support::{eventually, publish, settings};
use crate::pod::fixture::{Env, pod_name, privileged, text};
use pealet::mqtt::{Message, Operator, Topics};
use pealet::shim::proto::{Client, Request, Response};
use pealet::shim::state;
use pealet::spec::manifest::read::read_pod;
use pealet::spec::{self, ContainerState, NodeStatus, Pod, PodPhase, PodStatus, Reason, SpecHash};

const WAIT: Duration = Duration::from_secs(60);

/// A pod of busybox containers that sleep; a short grace period (sleep as PID 1 ignores
/// SIGTERM).
fn manifest(name: &str, containers: &[&str], marker: &str) -> String {
    let mut s = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  \
         terminationGracePeriodSeconds: 1\n  containers:\n"
    );
    for c in containers {
        s.push_str(&format!(
            "  - {{name: {c}, image: busybox:test, command: [sleep, '3600'], \
             env: [{{name: MARK, value: '{marker}'}}]}}\n"
        ));
    }
    s
}

/// One test's world: pods, a broker, and the agent process (killed first on drop).
struct World {
    agent: Option<Child>,
    env: Env,
    broker: Broker,
    node: String,
    manifests: PathBuf,
    /// Broker settings beyond `--broker` (TLS files), for the agent and the operator.
    tls_flags: Vec<(&'static str, String)>,
    /// More arguments for the agent.
    agent_args: Vec<String>,
    /// A command the agent runs under (its words, then pealet's), if any.
    agent_wrapper: Vec<String>,
}

impl World {
    fn new(test: &str) -> World {
        World::with(test, true, Tls::None)
    }

    /// A world whose broker keeps (`persistence`) or forgets its retained messages
    /// across a restart, with a plain, TLS or mutual-TLS listener.
    fn with(test: &str, persistence: bool, tls: Tls) -> World {
        let env = Env::new(test);
        let manifests = env.dir.join("manifests");
        std::fs::create_dir_all(&manifests).unwrap();
        let broker = Broker::start(test, persistence, tls);
        let mut tls_flags = Vec::new();
        if tls != Tls::None {
            tls_flags.push(("ca-file", broker.path("ca.pem")));
        }
        if tls == Tls::Mutual {
            tls_flags.push(("cert-file", broker.path("client.pem")));
            tls_flags.push(("key-file", broker.path("client.key")));
        }
        World {
            agent: None,
            broker,
            node: pod_name(test),
            manifests,
            env,
            tls_flags,
            agent_args: Vec::new(),
            agent_wrapper: Vec::new(),
        }
    }

    /// `--ca-file F ...` as command-line words.
    fn tls_args(&self) -> Vec<String> {
        (self.tls_flags.iter())
            .flat_map(|(k, v)| [format!("--{k}"), v.clone()])
            .collect()
    }

    /// The retained messages under `filters`, as a subscriber sees them.
    fn retained(&self, filters: &[String]) -> Vec<Message> {
        let settings = settings(&self.broker, &self.tls_flags);
        let mut op = Operator::connect(&settings, Duration::from_secs(10)).unwrap();
        let msgs = op.retained(filters).unwrap();
        op.disconnect();
        msgs
    }

    fn topics(&self) -> Topics {
        Topics::new("pealet/v1", &self.node)
    }

    fn start_agent(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.env.dir.join("agent.log"))
            .unwrap();
        let mut cmd = self.env.command_under(
            &self.agent_wrapper,
            &[
                "agent",
                "--node",
                &self.node,
                "--broker",
                &self.broker.url(),
                "--manifests",
                self.manifests.to_str().unwrap(),
                "--heartbeat",
                "2",
            ],
        );
        cmd.args(self.tls_args()).args(&self.agent_args);
        cmd.env("PEALET_CONFIG", "/dev/null")
            .env("PEALET_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log);
        self.agent = Some(cmd.spawn().unwrap());
    }

    fn kill_agent(&mut self) {
        if let Some(mut child) = self.agent.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn file(&self, name: &str, text: &str) -> String {
        let path = self.env.dir.join(format!("{name}.yaml"));
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    fn operator(&self, args: &[&str]) -> String {
        let out = self.operator_output(args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    }

    /// An operator command for this node, successful or not.
    fn operator_output(&self, args: &[&str]) -> Output {
        let url = self.broker.url();
        std::process::Command::new(env!("CARGO_BIN_EXE_pealet"))
            .args(args)
            .args(["--node", &self.node, "--broker", &url])
            .args(self.tls_args())
            .env("PEALET_CONFIG", "/dev/null")
            .output()
            .unwrap()
    }

    /// `pealet apply` of a manifest; the pod is removed when the test ends.
    fn apply(&mut self, name: &str, text: &str) -> Pod {
        let file = self.file(name, text);
        self.operator(&["apply", "-f", &file]);
        if !self.env.pods.iter().any(|p| p == name) {
            self.env.pods.push(name.to_owned());
        }
        read_pod(text).unwrap().pod
    }

    /// The retained status of `pod` as a subscriber sees it (None: none or cleared).
    fn status(&self, pod: &str) -> Option<PodStatus> {
        let msgs = self.retained(&[self.topics().status(pod)]);
        let m = msgs.into_iter().find(|m| !m.payload.is_empty())?;
        Some(spec::decode::<PodStatus>(&m.payload).unwrap())
    }

    fn node_status(&self) -> Option<NodeStatus> {
        let msgs = self.retained(&[self.topics().node()]);
        let m = msgs.into_iter().find(|m| !m.payload.is_empty())?;
        Some(spec::decode::<NodeStatus>(&m.payload).unwrap())
    }

    /// Waits until a subscriber sees `pod` Running with every container running, for
    /// the spec of `want`.
    fn wait_running(&self, want: &Pod) -> PodStatus {
        let hash = SpecHash::of_pod(want);
        let mut last = None;
        eventually(
            WAIT,
            &format!("{} Running with spec {hash}", want.name),
            || {
                last = self.status(&want.name);
                last.as_ref().is_some_and(|s| {
                    s.spec_hash == hash && s.phase == PodPhase::Running && all_running(s)
                })
            },
        );
        last.unwrap()
    }

    fn run_dir(&self) -> PathBuf {
        self.env.dir.join("run")
    }

    /// The host pid of a container's PID 1, from its shim.
    fn container_pid(&self, pod: &str, container: &str) -> u32 {
        let d = state::PodDirs::new(&self.env.dir.join("root"), &self.run_dir(), pod);
        let c = Client::connect(&d.socket()).unwrap();
        let request = Request::ContainerPid {
            container: container.into(),
        };
        match c.call(&request).unwrap() {
            Response::ContainerPid(pid) => pid,
            other => panic!("{other:?}"),
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.kill_agent();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.env.dir.join("agent.log")).unwrap_or_default();
            eprintln!("agent log:\n{log}");
        }
    }
}

fn all_running(s: &PodStatus) -> bool {
    !s.container_statuses.is_empty()
        && (s.container_statuses.iter()).all(|c| matches!(c.state, ContainerState::Running { .. }))
}

fn pod_dir_exists(run_dir: &Path, pod: &str) -> bool {
    run_dir.join("pods").join(pod).exists()
}

#[test]
fn agent_applies_replaces_refuses_and_deletes() {
    if !privileged("agent_applies_replaces_refuses_and_deletes") {
        return;
    }
    let mut w = World::new("agent-apply");
    w.start_agent();
    let (a, b) = (pod_name("a"), pod_name("b"));
    let pod_a = w.apply(&a, &manifest(&a, &["one", "two"], "1"));
    let pod_b = w.apply(&b, &manifest(&b, &["one"], "1"));
    w.wait_running(&pod_a);
    let st_b = w.wait_running(&pod_b);
    let pid_b = w.container_pid(&b, "one");

    // A changed spec replaces the pod.
    let old_pid = w.container_pid(&a, "one");
    let pod_a2 = w.apply(&a, &manifest(&a, &["one", "two"], "2"));
    w.wait_running(&pod_a2);
    assert_ne!(w.container_pid(&a, "one"), old_pid, "the pod was replaced");

    // A payload that does not decode: a Warning, b's status says why, b keeps running.
    publish(&w.broker, &w.topics().pod(&b), b"\x01garbage", true);
    eventually(WAIT, "b's status names the refused spec", || {
        w.status(&b).is_some_and(|s| {
            s.message
                .is_some_and(|m| m.as_str().contains("not applied"))
        })
    });
    let now_b = w.status(&b).unwrap();
    assert_eq!(now_b.spec_hash, st_b.spec_hash);
    assert_eq!(now_b.phase, PodPhase::Running);
    assert_eq!(w.container_pid(&b, "one"), pid_b, "b untouched");
    assert_eq!(w.status(&a).unwrap().spec_hash, SpecHash::of_pod(&pod_a2));

    // A pod that does not fit the node: Failed, OutOfmemory, nothing started.
    let big = pod_name("big");
    let text = manifest(&big, &["one"], "1").replace(
        "value: '1'}]}",
        "value: '1'}], resources: {requests: {memory: 100Ti}}}",
    );
    let pod_big = w.apply(&big, &text);
    w.env.pods.retain(|n| *n != big);
    eventually(WAIT, "the big pod is refused OutOfmemory", || {
        w.status(&big).is_some_and(|s| {
            s.phase == PodPhase::Failed
                && s.reason == Some(Reason::OutOfMemory)
                && s.spec_hash == SpecHash::of_pod(&pod_big)
        })
    });
    assert!(!pod_dir_exists(&w.run_dir(), &big));

    // Delete: the pod goes, its status topic is cleared.
    w.operator(&["delete", "pod", &a]);
    eventually(WAIT, "a removed and its status cleared", || {
        w.status(&a).is_none() && !pod_dir_exists(&w.run_dir(), &a)
    });
    w.env.pods.retain(|n| *n != a);
    assert!(w.status(&b).is_some());
}

#[test]
fn agent_restart_adopts_and_last_will_marks_offline() {
    if !privileged("agent_restart_adopts_and_last_will_marks_offline") {
        return;
    }
    let mut w = World::new("agent-adopt");
    w.start_agent();
    let p = pod_name("keep");
    let pod = w.apply(&p, &manifest(&p, &["one"], "1"));
    let before = w.wait_running(&pod);
    let pid = w.container_pid(&p, "one");
    eventually(WAIT, "node online", || {
        w.node_status().is_some_and(|n| n.online)
    });

    w.kill_agent(); // SIGKILL: the broker publishes the Last Will
    eventually(WAIT, "Last Will: node offline", || {
        w.node_status().is_some_and(|n| !n.online)
    });
    // Clear the retained status, so that a republished one can be told apart.
    publish(&w.broker, &w.topics().status(&p), b"", true);
    assert!(w.status(&p).is_none());

    w.start_agent();
    let after = w.wait_running(&pod);
    eventually(WAIT, "node online again", || {
        w.node_status().is_some_and(|n| n.online)
    });
    assert_eq!(w.container_pid(&p, "one"), pid, "no container restarted");
    assert_eq!(
        after.container_statuses[0].restart_count,
        before.container_statuses[0].restart_count
    );

    // SIGTERM: a clean exit that reports the node offline and leaves the pod running.
    let mut child = w.agent.take().unwrap();
    let agent = rustix::process::Pid::from_child(&child);
    rustix::process::kill_process(agent, rustix::process::Signal::TERM).unwrap();
    assert!(child.wait().unwrap().success());
    assert!(w.node_status().is_some_and(|n| !n.online));
    assert_eq!(
        w.container_pid(&p, "one"),
        pid,
        "the pod outlives the agent"
    );
}

#[test]
fn agent_after_reboot_and_static_pods() {
    if !privileged("agent_after_reboot_and_static_pods") {
        return;
    }
    let mut w = World::new("agent-reboot");
    w.start_agent();
    let p = pod_name("stored");
    let pod = w.apply(&p, &manifest(&p, &["one"], "1"));
    w.wait_running(&pod);

    // Reboot: agent, shims and containers gone, run directory wiped, no broker.
    w.kill_agent();
    let out = w.env.pealet(&["rm", &p]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let _ = std::fs::remove_dir_all(w.run_dir());
    w.broker.stop();
    w.start_agent();
    let running = |w: &World, name: &str| {
        let st = state::read(&w.env.dir.join("root"), &w.run_dir(), name).ok();
        st.and_then(|s| s.status).is_some_and(|s| all_running(&s))
    };
    eventually(WAIT, "the stored pod runs again without a broker", || {
        running(&w, &p)
    });

    // A static pod: added, then removed, all without a broker.
    let s = pod_name("static");
    std::fs::write(
        w.manifests.join(format!("{s}.yaml")),
        manifest(&s, &["one"], "1"),
    )
    .unwrap();
    w.env.pods.push(s.clone());
    eventually(WAIT, "the static pod runs", || running(&w, &s));
    let st = state::read(&w.env.dir.join("root"), &w.run_dir(), &s).unwrap();
    assert!(
        st.pod
            .annotations
            .iter()
            .any(|(k, v)| &**k == "pealet.io/static" && v.as_str() == "true")
    );
    std::fs::remove_file(w.manifests.join(format!("{s}.yaml"))).unwrap();
    eventually(WAIT, "the static pod is gone", || {
        !pod_dir_exists(&w.run_dir(), &s)
    });
    w.env.pods.retain(|n| *n != s);
}
