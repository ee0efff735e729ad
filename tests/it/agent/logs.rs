//! `pealet logs --node N` through a real mosquitto and a real agent: the logs of a
//! running container, `--tail`, `-c`, `--timestamps`, `--previous` after a restart, the
//! typed errors, a flood of requests, and the timeout when no agent answers.

use std::time::{Duration, Instant};

use super::{WAIT, World};
use crate::mqtt::broker::{Broker, Tls};
use crate::mqtt::support::{eventually, pealet, publish};
use crate::pod::fixture::{pod_name, privileged, text};
use pealet::mqtt::Topics;
use pealet::spec::{self, LogsRequest, bounded};

/// A pod whose container `a` writes five lines to stdout, `b` one to stderr and `big`
/// 2000 lines (about 100 KB, more than one answer holds).
fn talkative(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  \
         terminationGracePeriodSeconds: 1\n  containers:\n  \
         - {{name: a, image: busybox:test, command: [sh, -c, \
             'for i in 1 2 3 4 5; do echo a-line-$i; done; exec sleep 3600']}}\n  \
         - {{name: b, image: busybox:test, command: [sh, -c, \
             'echo b-err >&2; exec sleep 3600']}}\n  \
         - {{name: big, image: busybox:test, command: [sh, -c, \
             'i=0; while [ $i -lt 2000 ]; do echo line-$i-{pad}; i=$((i+1)); done; \
              exec sleep 3600']}}\n",
        pad = "x".repeat(40)
    )
}

/// A pod whose container counts its instances in an emptyDir: the first exits after a
/// few seconds, the second stays.
fn restarting(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  \
         terminationGracePeriodSeconds: 1\n  volumes: [{{name: data, emptyDir: {{}}}}]\n  \
         containers:\n  \
         - name: c\n    image: busybox:test\n    \
           volumeMounts: [{{name: data, mountPath: /data}}]\n    \
           command: [sh, -c, 'n=$(( $(cat /data/n 2>/dev/null || echo 0) + 1 )); \
             echo $n > /data/n; echo instance-$n; \
             if [ $n -ge 2 ]; then exec sleep 3600; fi; sleep 3; exit 1']\n"
    )
}

impl World {
    /// `pealet logs --node ... POD ARGS`: (success, stdout, stderr).
    pub(super) fn logs(&self, pod: &str, args: &[&str]) -> (bool, String, String) {
        let mut all = vec!["logs", pod];
        all.extend_from_slice(args);
        let out = self.operator_output(&all);
        (out.status.success(), text(&out.stdout), text(&out.stderr))
    }

    /// Waits until the logs of `pod` (with `args`) end with `want`; returns them.
    fn logs_ending(&self, pod: &str, args: &[&str], want: &str) -> String {
        let mut last = (false, String::new(), String::new());
        eventually(
            WAIT,
            &format!("logs of {pod} {args:?} ending {want:?}"),
            || {
                last = self.logs(pod, args);
                last.0 && last.1.ends_with(want)
            },
        );
        last.1
    }
}

#[test]
fn remote_logs_tail_container_and_errors() {
    if !privileged("remote_logs_tail_container_and_errors") {
        return;
    }
    let mut w = World::new("agent-logs");
    w.start_agent();
    let p = pod_name("talk");
    let pod = w.apply(&p, &talkative(&p));
    w.wait_running(&pod);

    let all = w.logs_ending(&p, &["-c", "a"], "a-line-5\n");
    assert_eq!(all, "a-line-1\na-line-2\na-line-3\na-line-4\na-line-5\n");
    assert_eq!(w.logs_ending(&p, &["-c", "b"], "b-err\n"), "b-err\n");
    // Over the size of one answer: the newest lines, and a note that says so.
    let big = w.logs_ending(
        &p,
        &["-c", "big"],
        &format!("line-1999-{}\n", "x".repeat(40)),
    );
    assert!(
        big.len() <= 60 * 1024 && big.len() > 50 * 1024,
        "{}",
        big.len()
    );
    assert!(
        big.lines().all(|l| l.starts_with("line-") && l.len() >= 46),
        "whole lines"
    );
    let (ok, _, err) = w.logs(&p, &["-c", "big"]);
    assert!(ok && err.contains("older lines were left out"), "{err}");
    let (ok, out, _) = w.logs(&p, &["-c", "a", "--tail", "2"]);
    assert!(ok);
    assert_eq!(out, "a-line-4\na-line-5\n");
    let (ok, out, _) = w.logs(&p, &["-c", "a", "--tail", "1", "--timestamps"]);
    assert!(ok);
    let (time, line) = out.trim_end().split_once(' ').unwrap();
    assert!(time.starts_with("20") && time.ends_with('Z'), "{out}");
    assert_eq!(line, "a-line-5");

    // Typed errors, on standard error, with a non-zero exit.
    let (ok, out, err) = w.logs(&p, &[]);
    assert!(!ok && out.is_empty());
    assert!(
        err.contains("choose one with -c") && err.contains("ContainerNeeded"),
        "{err}"
    );
    let (ok, _, err) = w.logs(&p, &["-c", "nope"]);
    assert!(!ok && err.contains("no container \"nope\""), "{err}");
    let (ok, _, err) = w.logs(&p, &["-c", "a", "--previous"]);
    assert!(!ok && err.contains("no previous instance"), "{err}");
    let (ok, _, err) = w.logs("ghost", &[]);
    assert!(
        !ok && err.contains("no pod \"ghost\"") && err.contains("NoSuchPod"),
        "{err}"
    );
    let (ok, _, err) = w.logs("Bad_Name", &[]);
    assert!(!ok && err.contains("not a DNS label"), "{err}");

    // A flood of requests: the queue keeps the newest few, the agent stays responsive
    // and answers the request that comes after.
    let request = LogsRequest {
        id: "flood".try_into().unwrap(),
        pod: bounded::name(&p).unwrap(),
        container: Some(bounded::name("a").unwrap()),
        tail: None,
        previous: false,
        timestamps: false,
        follow: None,
    };
    let topic = w.topics().logs_request();
    for _ in 0..200 {
        publish(&w.broker, &topic, &spec::encode(&request), false);
    }
    let started = Instant::now();
    let (ok, out, err) = w.logs(&p, &["-c", "a", "--tail", "1"]);
    assert!(ok, "{err}");
    assert_eq!(out, "a-line-5\n");
    assert!(started.elapsed() < Duration::from_secs(10));
    let log = std::fs::read_to_string(w.env.dir.join("agent.log")).unwrap();
    assert!(log.contains("remote-logs requests dropped"), "{log}");
}

#[test]
fn remote_logs_of_the_previous_instance() {
    if !privileged("remote_logs_of_the_previous_instance") {
        return;
    }
    let mut w = World::new("agent-logs-prev");
    w.start_agent();
    let p = pod_name("again");
    w.apply(&p, &restarting(&p));
    eventually(WAIT, "the container restarted and runs", || {
        w.status(&p).is_some_and(|s| {
            s.container_statuses
                .first()
                .is_some_and(|c| c.restart_count >= 1 && c.started == Some(true))
        })
    });
    assert_eq!(w.logs_ending(&p, &[], "instance-2\n"), "instance-2\n");
    let (ok, out, err) = w.logs(&p, &["--previous"]);
    assert!(ok, "{err}");
    assert_eq!(out, "instance-1\n");
}

#[test]
fn remote_logs_time_out_when_no_agent_answers() {
    let broker = Broker::start("agent-logs-timeout", false, Tls::None);
    let url = broker.url();
    let started = Instant::now();
    let node = "nobody-home";
    let out = pealet(&[
        "logs",
        "--node",
        node,
        "--broker",
        &url,
        "web",
        "--timeout",
        "2",
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("no answer from node nobody-home within 2s"),
        "{err}"
    );
    assert!(err.contains("holds no status of this node"), "{err}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(30),
        "{took:?}"
    );
    // The request was published to the node's request topic, not retained.
    let retained =
        crate::mqtt::support::retained(&broker, &[Topics::new("pealet/v1", node).logs_request()]);
    assert!(retained.is_empty());

    // A node that is known but offline (its Last Will) is named as such.
    let mut offline = crate::wire::samples::node_status();
    offline.name = node.try_into().unwrap();
    offline.online = false;
    let topic = Topics::new("pealet/v1", node).node();
    publish(&broker, &topic, &spec::encode(&offline), true);
    let out = pealet(&[
        "logs",
        "--node",
        node,
        "--broker",
        &url,
        "web",
        "--timeout",
        "1",
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("the node is offline"), "{err}");
}

/// A pod whose container says which signals it ignores, then prints a numbered line
/// every 200 ms.
fn ticking(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  \
         terminationGracePeriodSeconds: 1\n  containers:\n  \
         - {{name: c, image: busybox:test, command: [sh, -c, \
             'grep SigIgn /proc/self/status; i=0; \
              while true; do echo tick-$i; i=$((i+1)); sleep 0.2; done']}}\n"
    )
}

/// Whether the `SigIgn:` line of a /proc status names SIGPIPE.
fn ignores_sigpipe(status: &str) -> bool {
    let mask = status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .map(|m| u64::from_str_radix(m.trim(), 16).unwrap())
        .expect("a SigIgn line");
    mask & (1 << (libc::SIGPIPE - 1)) != 0
}

#[test]
fn remote_logs_follow_until_the_pod_is_deleted() {
    use std::io::BufRead;
    use std::os::unix::process::ExitStatusExt;
    if !privileged("remote_logs_follow_until_the_pod_is_deleted") {
        return;
    }
    let mut w = World::new("agent-logs-follow");
    w.start_agent();
    let p = pod_name("tick");
    let pod = w.apply(&p, &ticking(&p));
    w.wait_running(&pod);

    let url = w.broker.url();
    let mut follow = std::process::Command::new(env!("CARGO_BIN_EXE_pealet"))
        .args(["logs", &p, "-f", "--node", &w.node, "--broker", &url])
        .env("PEALET_CONFIG", "/dev/null")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = follow.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });
    let next = |within: Duration| rx.recv_timeout(within).ok();

    // The container's own first line: runc's disposition, SIGPIPE not ignored; the
    // agent, a daemon, ignores it.
    let (_, first) = next(WAIT).expect("the first chunk");
    assert!(first.starts_with("SigIgn:"), "{first}");
    assert!(!ignores_sigpipe(&first), "{first}");
    let agent = w.agent.as_ref().unwrap().id();
    let agent_status = std::fs::read_to_string(format!("/proc/{agent}/status")).unwrap();
    assert!(ignores_sigpipe(&agent_status));

    // New lines keep coming, within a couple of seconds each time, in order.
    let mut ticks: Vec<u32> = Vec::new();
    let mut arrivals: Vec<Instant> = Vec::new();
    let watch = Instant::now();
    while watch.elapsed() < Duration::from_secs(8) {
        let (at, line) = next(Duration::from_secs(3)).expect("new lines within 3 s");
        let n = line
            .strip_prefix("tick-")
            .unwrap_or_else(|| panic!("{line}"));
        ticks.push(n.parse().unwrap());
        if arrivals
            .last()
            .is_none_or(|t| at.duration_since(*t) > Duration::from_millis(300))
        {
            arrivals.push(at);
        }
    }
    assert!(ticks.len() >= 25, "{ticks:?}");
    let from = ticks[0];
    assert_eq!(
        ticks,
        (from..from + ticks.len() as u32).collect::<Vec<_>>(),
        "no line twice, none skipped"
    );
    assert!(
        arrivals.len() >= 4,
        "several chunks, not one: {}",
        arrivals.len()
    );

    // The agent restarts: the next renewal carries the last cursor, and the new agent
    // goes on from there (nothing twice, nothing left out).
    w.kill_agent();
    w.start_agent();
    let before = ticks.len();
    let restarted = Instant::now();
    while ticks.len() < before + 10 {
        let (_, line) = next(Duration::from_secs(40)).expect("lines after the agent restarted");
        ticks.push(line.strip_prefix("tick-").unwrap().parse().unwrap());
    }
    assert!(restarted.elapsed() < Duration::from_secs(40));
    assert_eq!(
        ticks,
        (from..from + ticks.len() as u32).collect::<Vec<_>>(),
        "no line twice, none skipped across the agent's restart"
    );

    // Deleting the pod ends the follow, with everything in order up to its end.
    w.operator(&["delete", "pod", &p]);
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = follow.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the follow did not end");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut follow.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "{status:?}: {err}");
    assert!(err.contains("stopped following"), "{err}");
    assert!(err.contains("started following"), "{err}");
    while let Some((_, line)) = next(Duration::from_secs(1)) {
        ticks.push(line.strip_prefix("tick-").unwrap().parse().unwrap());
    }
    assert_eq!(ticks, (from..from + ticks.len() as u32).collect::<Vec<_>>());
    assert_eq!(status.signal(), None);
    eventually(WAIT, "the pod removed", || {
        w.status(&p).is_none() && !super::pod_dir_exists(&w.run_dir(), &p)
    });
    w.env.pods.retain(|n| *n != p);
}

#[test]
fn remote_output_into_a_closed_pipe_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    if !privileged("remote_output_into_a_closed_pipe_ends_quietly") {
        return;
    }
    let mut w = World::new("agent-logs-pipe");
    w.start_agent();
    let p = pod_name("pipe");
    let pod = w.apply(&p, &ticking(&p));
    w.wait_running(&pod);
    let url = w.broker.url();
    for args in [
        vec!["get", "pods", "--watch"],
        vec!["get", "pods"],
        vec!["logs", &p],
        vec!["logs", &p, "-f"],
    ] {
        let (reader, writer) = rustix::pipe::pipe().unwrap();
        drop(reader);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_pealet"))
            .args(&args)
            .args(["--node", &w.node, "--broker", &url])
            .env("PEALET_CONFIG", "/dev/null")
            .stdout(std::process::Stdio::from(writer))
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert_eq!(err, "", "{args:?} says nothing");
        assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{args:?}");
    }
}
