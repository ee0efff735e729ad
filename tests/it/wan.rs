//! pealet over WAN links: the real agent and the operator commands through a shaping
//! proxy (`examples/wan-proxy/shaper.rs`, whose own tests run here too) in front of a
//! real mosquitto, with real busybox pods. `wan/links.rs`: round trips of 100 ms, 300 ms
//! (also over mutual TLS and over MQTT 5) and 1 s with jitter, and 64 kbit/s;
//! `wan/outages.rs`: a two-minute black hole, a broker restart, resets (also in the
//! middle of TLS handshakes), refusals and half-closed links.
//! The operator commands go through a link of the same shape but their own proxy (so
//! the device's proxy counts the agent's connections only); the test's own checks
//! (retained statuses, publishes made "elsewhere") go straight to the broker.

mod links;
mod outages;
#[allow(dead_code)]
#[path = "../../examples/wan-proxy/shaper.rs"]
pub(crate) mod shaper;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use crate::mqtt::broker::{Broker, Tls};
use crate::mqtt::support::{eventually, settings};
use crate::pod::fixture::{Env, pod_name, text};
use pealet::mqtt::{Message, Operator, Topics};
use pealet::shim::state;
use pealet::spec::manifest::read::read_pod;
use pealet::spec::{self, ContainerState, NodeStatus, Pod, PodPhase, PodStatus, SpecHash};
use shaper::{Link, Proxy};

/// Bytes a remote-logs answer holds at most (the agent keeps the newest 60 KiB).
const LOGS_BOUND: usize = 60 * 1024;

/// A pod whose containers sleep, each with `MARK` set (a changed marker is a new spec);
/// `big` containers first write 120 KB of base64 lines from /dev/urandom (more than a
/// logs answer holds, and as dense as text gets: the wire format compresses), then
/// `end-of-big`; `a` containers five lines.
fn manifest(name: &str, containers: &[&str], marker: &str) -> String {
    let mut s = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  \
         terminationGracePeriodSeconds: 1\n  containers:\n"
    );
    for c in containers {
        let script: &str = match *c {
            "big" => "head -c 90000 /dev/urandom | base64; echo end-of-big; exec sleep 3600",
            "a" => "for i in 1 2 3 4 5; do echo a-line-$i; done; exec sleep 3600",
            _ => "exec sleep 3600",
        };
        s.push_str(&format!(
            "  - {{name: {c}, image: busybox:test, command: [sh, -c, '{script}'], \
             env: [{{name: MARK, value: '{marker}'}}]}}\n"
        ));
    }
    s
}

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

/// One test's world: pods, a broker, the proxies in front of it, and the agent, which
/// reaches the broker only through its proxy (killed first on drop).
struct Wan {
    agent: Option<Child>,
    /// The device's link.
    proxy: Proxy,
    /// The operator commands' link.
    operators: Proxy,
    env: Env,
    broker: Broker,
    node: String,
    /// Round trip of the link (without jitter), for timeouts proportional to it.
    rtt: Duration,
    /// Bytes per second of the link, if capped.
    rate: Option<u64>,
    /// Client settings of the agent, the operator commands and the test's own reads
    /// (TLS files, the MQTT version).
    flags: Vec<(&'static str, String)>,
}

impl Wan {
    fn new(test: &str, link: Link, tls: Tls, persistence: bool) -> Wan {
        let env = Env::new(test);
        let broker = Broker::start(test, persistence, tls);
        let upstream = SocketAddr::from(([127, 0, 0, 1], broker.port));
        let proxy = Proxy::start(upstream, link).unwrap();
        let operators = Proxy::start(upstream, link).unwrap();
        let mut flags = Vec::new();
        if tls != Tls::None {
            flags.push(("ca-file", broker.path("ca.pem")));
        }
        if tls == Tls::Mutual {
            flags.push(("cert-file", broker.path("client.pem")));
            flags.push(("key-file", broker.path("client.key")));
        }
        Wan {
            agent: None,
            proxy,
            operators,
            env,
            broker,
            node: pod_name(test),
            rtt: link.up.delay + link.down.delay,
            rate: link.up.rate,
            flags,
        }
    }

    /// The broker as the device sees it, through its link.
    fn url(&self) -> String {
        self.url_through(&self.proxy)
    }

    fn url_through(&self, proxy: &Proxy) -> String {
        let scheme = self.broker.url().split_once(':').unwrap().0.to_owned();
        format!("{scheme}://127.0.0.1:{}", proxy.port())
    }

    fn flag_args(&self) -> Vec<String> {
        (self.flags.iter())
            .flat_map(|(k, v)| [format!("--{k}"), v.clone()])
            .collect()
    }

    fn topics(&self) -> Topics {
        Topics::new("pealet/v1", &self.node)
    }

    /// A wait that grows with the link: `base` plus 30 round trips plus the time to
    /// move `bytes` at the capped rate.
    fn patience(&self, base: Duration, bytes: usize) -> Duration {
        let transfer = self.rate.map_or(Duration::ZERO, |r| {
            Duration::from_secs_f64(bytes as f64 / r as f64)
        });
        base + self.rtt * 30 + transfer
    }

    /// Starts the agent through the link, with `extra` flags.
    fn start_agent(&mut self, extra: &[&str]) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.env.dir.join("agent.log"))
            .unwrap();
        let manifests = self.env.dir.join("manifests");
        std::fs::create_dir_all(&manifests).unwrap();
        let mut cmd = self.env.command(&[
            "agent",
            "--node",
            &self.node,
            "--broker",
            &self.url(),
            "--manifests",
            manifests.to_str().unwrap(),
            "--heartbeat",
            "2",
        ]);
        cmd.args(self.flag_args()).args(extra);
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

    /// An operator command for this node through a link like the device's: its output
    /// and how long it took.
    fn operator(&self, args: &[&str]) -> (Output, Duration) {
        self.command(args, &self.url_through(&self.operators))
    }

    /// The same straight to the broker: an operator elsewhere, on a good link.
    fn operator_direct(&self, args: &[&str]) -> Output {
        self.command(args, &self.broker.url()).0
    }

    fn command(&self, args: &[&str], url: &str) -> (Output, Duration) {
        let started = Instant::now();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_pealet"))
            .args(args)
            .args(["--node", &self.node, "--broker", url])
            .args(self.flag_args())
            .env("PEALET_CONFIG", "/dev/null")
            .output()
            .unwrap();
        (out, started.elapsed())
    }

    /// An operator command through the link that must succeed within `within`.
    fn operator_ok(&self, args: &[&str], within: Duration) -> String {
        let (out, took) = self.operator(args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        assert!(took < within, "{args:?} took {took:?} (at most {within:?})");
        text(&out.stdout)
    }

    fn file(&self, name: &str, text: &str) -> String {
        let path = self.env.dir.join(format!("{name}.yaml"));
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    /// `pealet apply` through the link; the pod is removed when the test ends.
    fn apply(&mut self, name: &str, text: &str) -> Pod {
        let file = self.file(name, text);
        let within = self.patience(Duration::from_secs(10), 0);
        let out = self.operator_ok(&["apply", "-f", &file], within);
        let said = format!("{}: pod/{name} ", self.node);
        assert!(
            [format!("{said}created\n"), format!("{said}configured\n")].contains(&out),
            "{out}"
        );
        self.remember(name);
        read_pod(text).unwrap().pod
    }

    fn remember(&mut self, name: &str) {
        if !self.env.pods.iter().any(|p| p == name) {
            self.env.pods.push(name.to_owned());
        }
    }

    fn forget(&mut self, name: &str) {
        self.env.pods.retain(|p| p != name);
    }

    /// The retained messages under `filters`, read straight from the broker.
    fn retained(&self, filters: &[String]) -> Vec<Message> {
        let settings = settings(&self.broker, &self.flags);
        let mut op = Operator::connect(&settings, Duration::from_secs(10)).unwrap();
        let msgs = op.retained(filters).unwrap();
        op.disconnect();
        msgs
    }

    /// Every retained status of this node, by pod name.
    fn statuses(&self) -> Vec<(String, PodStatus)> {
        let t = self.topics();
        let msgs = self.retained(&[t.status_filter()]);
        (msgs.into_iter())
            .filter(|m| !m.payload.is_empty())
            .map(|m| {
                let pod = t.pod_of(&m.topic, "status").unwrap().to_owned();
                (pod, spec::decode::<PodStatus>(&m.payload).unwrap())
            })
            .collect()
    }

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

    /// Waits until the node says it is online; returns how long that took.
    fn wait_online(&self) -> Duration {
        let started = Instant::now();
        let within = self.patience(Duration::from_secs(20), 0);
        eventually(within, "the node online through the link", || {
            self.node_status().is_some_and(|n| n.online)
        });
        started.elapsed()
    }

    /// Waits until the broker holds `pod` Running with every container running, for
    /// the spec of `want`.
    fn wait_running(&self, want: &Pod) -> PodStatus {
        let hash = SpecHash::of_pod(want);
        let mut last = None;
        let within = self.patience(Duration::from_secs(60), 0);
        eventually(
            within,
            &format!("{} Running, spec {hash}", want.name),
            || {
                last = self.status(&want.name);
                last.as_ref().is_some_and(|s| {
                    s.spec_hash == hash && s.phase == PodPhase::Running && all_running(s)
                })
            },
        );
        last.unwrap()
    }

    /// `pealet delete` through the link, then waits until the pod is gone from the
    /// device and its status from the broker.
    fn delete(&mut self, name: &str) {
        let within = self.patience(Duration::from_secs(10), 0);
        let out = self.operator_ok(&["delete", "pod", name], within);
        assert_eq!(out, format!("{}: pod/{name} deleted\n", self.node));
        self.wait_gone(name);
    }

    fn wait_gone(&mut self, name: &str) {
        let within = self.patience(Duration::from_secs(60), 0);
        eventually(within, &format!("{name} removed, status cleared"), || {
            self.status(name).is_none() && !self.run_dir().join("pods").join(name).exists()
        });
        self.forget(name);
    }

    /// None lost, none invented: the pods `get pods` lists through the link, the
    /// broker's retained statuses of the node and the pods on the device are `want`.
    fn assert_pods(&self, want: &[&str]) {
        let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
        let within = self.patience(Duration::from_secs(10), 0);
        let out = self.operator_ok(&["get", "pods"], within);
        let listed: BTreeSet<String> = (out.lines().skip(1))
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_owned)
            .collect();
        assert_eq!(listed, want, "get pods:\n{out}");
        let statuses: BTreeSet<String> = self.statuses().into_iter().map(|(p, _)| p).collect();
        assert_eq!(statuses, want, "retained statuses");
        let on_device: BTreeSet<String> = std::fs::read_dir(self.run_dir().join("pods"))
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(on_device, want, "pods on the device");
    }

    /// `pealet logs --node` through the link: (success, stdout, stderr, time taken).
    fn logs(&self, pod: &str, args: &[&str], timeout: Duration) -> (bool, String, String) {
        let secs = timeout.as_secs().max(1).to_string();
        let mut all = vec!["logs", pod, "--timeout", &secs];
        all.extend_from_slice(args);
        let (out, _) = self.operator(&all);
        (out.status.success(), text(&out.stdout), text(&out.stderr))
    }

    fn run_dir(&self) -> std::path::PathBuf {
        self.env.dir.join("run")
    }

    /// The host pid of a container's PID 1, from its shim.
    fn container_pid(&self, pod: &str, container: &str) -> u32 {
        use pealet::shim::proto::{Client, Request, Response};
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

    /// Tells the pod of [`until_told`] to finish, through `pealet exec` on the device.
    fn tell_to_stop(&self, pod: &str) {
        let out = self.env.pealet(&["exec", pod, "--", "touch", "/tmp/stop"]);
        assert!(out.status.success(), "exec: {}", text(&out.stderr));
    }
}

impl Drop for Wan {
    fn drop(&mut self) {
        self.kill_agent();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.env.dir.join("agent.log")).unwrap_or_default();
            eprintln!("proxy: {:?}\nagent log:\n{log}", self.proxy.stats());
        }
    }
}

fn all_running(s: &PodStatus) -> bool {
    !s.container_statuses.is_empty()
        && (s.container_statuses.iter()).all(|c| matches!(c.state, ContainerState::Running { .. }))
}

/// The round of every shaped-link test: the agent connects through the link; two pods
/// (one of two containers) are applied, run, and their statuses arrive; remote logs
/// arrive, the big ones cut to the bound; one pod is deleted; `get pods`, the retained
/// statuses and the device agree at every step. `tag` keeps pod names unique.
fn round(w: &mut Wan, tag: &str) {
    w.start_agent(&[]);
    let online = w.wait_online();
    eprintln!("{tag}: node online after {online:?}");

    let (p1, p2) = (
        pod_name(&format!("{tag}-two")),
        pod_name(&format!("{tag}-one")),
    );
    let pod1 = w.apply(&p1, &manifest(&p1, &["a", "big"], "1"));
    let pod2 = w.apply(&p2, &manifest(&p2, &["one"], "1"));
    let started = Instant::now();
    w.wait_running(&pod1);
    w.wait_running(&pod2);
    eprintln!("{tag}: both pods Running after {:?}", started.elapsed());
    w.assert_pods(&[&p1, &p2]);

    // Remote logs: small ones whole, big ones cut to the bound, whole lines, the
    // newest kept, within a time that grows with the link.
    let timeout = w.patience(Duration::from_secs(10), 2 * LOGS_BOUND);
    let started = Instant::now();
    let mut big = (false, String::new(), String::new());
    eventually(
        timeout * 3,
        "the big container's logs, to the last line",
        || {
            big = w.logs(&p1, &["-c", "big"], timeout);
            big.0 && big.1.ends_with("\nend-of-big\n")
        },
    );
    let (_, out, err) = big;
    eprintln!(
        "{tag}: {} bytes of logs in {:?}",
        out.len(),
        started.elapsed()
    );
    assert!(
        out.len() <= LOGS_BOUND && out.len() > LOGS_BOUND - 10 * 1024,
        "{}",
        out.len()
    );
    let base64 = |l: &str| (l.bytes()).all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b));
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[..lines.len() - 1]
            .iter()
            .all(|l| base64(l) && l.len() <= 76)
    );
    assert_eq!(lines[0].len(), 76, "whole lines: {:?}", lines[0]);
    assert!(err.contains("older lines were left out"), "{err}");
    let started = Instant::now();
    let (ok, out, err) = w.logs(&p1, &["-c", "a"], timeout);
    assert!(ok, "{err}");
    assert_eq!(out, "a-line-1\na-line-2\na-line-3\na-line-4\na-line-5\n");
    eprintln!("{tag}: logs of 5 lines in {:?}", started.elapsed());

    w.delete(&p2);
    w.assert_pods(&[&p1]);
    let st = w.wait_running(&pod1);
    assert!(st.container_statuses.iter().all(|c| c.restart_count == 0));
    assert_eq!(
        w.proxy.stats().accepted,
        1,
        "the agent kept its one connection"
    );
}
