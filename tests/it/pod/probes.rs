//! Probes, hooks and termination with real containers under the shim: exec liveness that
//! starts failing, readiness on a closed port, httpGet against busybox httpd, an exec
//! probe past its timeout, the kubelet's headers and a redirect for httpGet, SIGKILL
//! after the grace period, preStop before SIGTERM, activeDeadlineSeconds, and
//! termination messages from a file and from the log.

use std::time::{Duration, Instant};

use super::fixture::{Env, pod_name, privileged, text};
use super::lifecycle::{FAST, ctr, ended, example};
use pealet::spec::{ConditionStatus, PodPhase, PodStatus, ProbeKind, ProbeStatus, Reason};

fn probe<'a>(st: &'a PodStatus, c: &str, kind: ProbeKind) -> Option<&'a ProbeStatus> {
    ctr(st, c).probes.iter().find(|p| p.kind == kind)
}

fn failures(st: &PodStatus, c: &str, kind: ProbeKind) -> u32 {
    probe(st, c, kind).map_or(0, |p| p.consecutive_failures)
}

fn sleeper(name: &str, extra: &str) -> String {
    format!(
        "
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox:test
    command: [sh, -c, 'echo ok > /tmp/index.html; httpd -p 8080 -h /tmp; exec sleep 100000']
{extra}"
    )
}

#[test]
fn exec_liveness_that_starts_failing_restarts_the_container() {
    if !privileged("exec_liveness_that_starts_failing_restarts_the_container") {
        return;
    }
    let mut env = Env::new("liveness");
    let pod = pod_name("liveness");
    let manifest = example(
        "exec-liveness.yaml",
        &pod,
        &[
            ("spec: {", "spec: { terminationGracePeriodSeconds: 1,"),
            ("sleep 30;", "sleep 2;"),
            ("initialDelaySeconds: 5", "initialDelaySeconds: 1"),
            ("periodSeconds: 5", "periodSeconds: 1"),
        ],
    );
    env.start(&pod, &manifest);
    let st = env.wait(&pod, "a restart", |st| {
        ctr(st, "liveness").restart_count >= 1
    });
    let last = ctr(&st, "liveness").last_state.as_ref().and_then(ended);
    // sh as PID 1 ignores SIGTERM: SIGKILL after the (at least 2 s) grace period.
    assert_eq!(last.map(|l| l.0), Some(137), "{st:?}");
    let p = probe(&st, "liveness", ProbeKind::Liveness);
    assert!(p.is_some(), "{st:?}");
}

#[test]
fn readiness_by_tcp_http_and_exec() {
    if !privileged("readiness_by_tcp_http_and_exec") {
        return;
    }
    let mut env = Env::new("readiness");
    let closed = pod_name("closed");
    let probe_on = |handler: &str| {
        format!("    readinessProbe: {{{handler}, periodSeconds: 1, timeoutSeconds: 1}}\n")
    };
    env.start(
        &closed,
        &sleeper(&closed, &probe_on("tcpSocket: {port: 9999}")),
    );
    let http = pod_name("http");
    env.start(
        &http,
        &sleeper(&http, &probe_on("httpGet: {port: 8080, path: /index.html}")),
    );
    let slow = pod_name("slow");
    env.start(
        &slow,
        &sleeper(&slow, &probe_on("exec: {command: [sleep, '5']}")),
    );

    let st = env.wait(&http, "ready", |st| ctr(st, "c").ready);
    assert_eq!(st.conditions.ready.status, ConditionStatus::True);

    let st = env.wait(&closed, "3 failures", |st| {
        failures(st, "c", ProbeKind::Readiness) >= 3
    });
    assert!(!ctr(&st, "c").ready);
    assert_eq!(st.conditions.ready.status, ConditionStatus::False);
    assert_eq!(st.phase, PodPhase::Running);
    let why = probe(&st, "c", ProbeKind::Readiness)
        .and_then(|p| p.last_failure.as_ref())
        .map(|m| m.to_string())
        .unwrap_or_default();
    assert!(why.contains("connection refused"), "{why}");

    let begin = Instant::now();
    let st = env.wait(&slow, "a timed-out probe", |st| {
        failures(st, "c", ProbeKind::Readiness) >= 1
    });
    assert!(begin.elapsed() < Duration::from_secs(5));
    assert!(!ctr(&st, "c").ready);
    let why = probe(&st, "c", ProbeKind::Readiness)
        .and_then(|p| p.last_failure.as_ref())
        .map(|m| m.to_string())
        .unwrap_or_default();
    assert!(why.contains("timed out"), "{why}");
}

#[test]
fn a_container_that_ignores_sigterm_is_killed_after_the_grace_period() {
    if !privileged("a_container_that_ignores_sigterm_is_killed_after_the_grace_period") {
        return;
    }
    let mut env = Env::new("sigkill");
    let pod = pod_name("sigkill");
    env.start(&pod, &sleeper(&pod, ""));
    let begin = Instant::now();
    let out = env.pealet(&["stop", &pod]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The grace period of 1 s is raised to the kubelet's minimum of 2 s.
    assert!(begin.elapsed() >= Duration::from_millis(1800));
    let st = env.status(&pod);
    assert_eq!(ended(&ctr(&st, "c").state).map(|e| e.0), Some(137));
}

#[test]
fn pre_stop_runs_before_sigterm() {
    if !privileged("pre_stop_runs_before_sigterm") {
        return;
    }
    let mut env = Env::new("prestop");
    let pod = pod_name("prestop");
    let manifest = format!(
        "
apiVersion: v1
kind: Pod
metadata: {{name: {pod}}}
spec:
  terminationGracePeriodSeconds: 5
  volumes: [{{name: data, emptyDir: {{}}}}]
  containers:
  - name: c
    image: busybox:test
    volumeMounts: [{{name: data, mountPath: /data}}]
    command: [sh, -c, \"trap 'echo term >> /data/events; exit 0' TERM; while true; do sleep 0.1; done\"]
    lifecycle:
      preStop: {{exec: {{command: [sh, -c, 'sleep 0.3; echo prestop >> /data/events']}}}}
"
    );
    env.start(&pod, &manifest);
    let out = env.pealet(&["stop", &pod]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let events = env.dir.join(format!("root/pods/{pod}/volumes/data/events"));
    // The hook ran to its end, then the container's PID 1 got SIGTERM and exited by
    // its trap (exit 0), well before the grace period's SIGKILL.
    let events = std::fs::read_to_string(events).unwrap();
    assert_eq!(events, "prestop\nterm\n");
    let st = env.status(&pod);
    match ended(&ctr(&st, "c").state) {
        Some((code, _, _)) => assert_eq!(code, 0, "{st:?}"),
        None => panic!("not terminated: {st:?}"),
    }
}

#[test]
fn termination_messages_from_a_file_and_from_the_log() {
    if !privileged("termination_messages_from_a_file_and_from_the_log") {
        return;
    }
    let mut env = Env::new("message");
    let pod = pod_name("message");
    let manifest = format!(
        "
apiVersion: v1
kind: Pod
metadata: {{name: {pod}}}
spec:
  restartPolicy: Never
  containers:
  - name: file
    image: busybox:test
    command: [sh, -c, 'echo -n bye > /dev/termination-log; exit 1']
  - name: logs
    image: busybox:test
    terminationMessagePolicy: FallbackToLogsOnError
    command: [sh, -c, 'echo first; echo last-words; exit 2']
"
    );
    let _ = env.run_with(&pod, &manifest, FAST);
    let st = env.wait(&pod, "failed", |st| st.phase == PodPhase::Failed);
    let file = ended(&ctr(&st, "file").state).unwrap();
    assert_eq!(
        (file.0, file.1, file.2.as_deref()),
        (1, Reason::Error, Some("bye"))
    );
    let logs = ended(&ctr(&st, "logs").state).unwrap();
    assert_eq!(logs.0, 2);
    assert_eq!(logs.2.as_deref(), Some("first\nlast-words\n"), "{st:?}");
}

#[test]
fn http_get_probes_send_kubelet_headers_and_follow_a_redirect() {
    if !privileged("http_get_probes_send_kubelet_headers_and_follow_a_redirect") {
        return;
    }
    let mut env = Env::new("httpheaders");
    let pod = pod_name("httpheaders");
    // A CGI records each request's query and headers; `?redirect` answers 302 to
    // `?there` on the same host.
    let manifest = format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: {pod}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox:test
    command: [sh, -c]
    args:
    - |
      mkdir -p /www/cgi-bin;
      printf '#!/bin/sh\necho "$QUERY_STRING|$HTTP_USER_AGENT|$HTTP_ACCEPT" >> /tmp/requests\nif [ "$QUERY_STRING" = redirect ]; then echo "Status: 302 Found"; echo "Location: /cgi-bin/h?there"; echo; exit; fi\necho Content-Type: text/plain\necho\necho ok\n' > /www/cgi-bin/h;
      chmod +x /www/cgi-bin/h;
      httpd -p 8080 -h /www; exec sleep 100000
    readinessProbe:
      httpGet: {{path: '/cgi-bin/h?redirect', port: 8080}}
      periodSeconds: 1
    livenessProbe:
      httpGet:
        path: '/cgi-bin/h?custom'
        port: 8080
        httpHeaders: [{{name: User-Agent, value: mine}}, {{name: Accept, value: text/plain}}]
      periodSeconds: 1
      failureThreshold: 5
"#
    );
    env.start(&pod, &manifest);
    let st = env.wait(&pod, "ready", |st| ctr(st, "c").ready);
    assert_eq!(ctr(&st, "c").restart_count, 0);
    let v = pealet::runtime::probe::KUBE_VERSION;
    env.wait(&pod, "both probes seen", |_| {
        let (_, r) = env.exec(&pod, "c", "cat /tmp/requests");
        r.contains("|mine|") && r.contains("there|")
    });
    let (_, requests) = env.exec(&pod, "c", "cat /tmp/requests");
    let lines: Vec<&str> = requests.lines().collect();
    assert!(
        lines.contains(&format!("redirect|kube-probe/{v}|*/*").as_str()),
        "{requests}"
    );
    assert!(
        lines.contains(&format!("there|kube-probe/{v}|*/*").as_str()),
        "{requests}"
    );
    assert!(lines.contains(&"custom|mine|text/plain"), "{requests}");
    let st = env.status(&pod);
    let p = probe(&st, "c", ProbeKind::Readiness).unwrap();
    assert_eq!(p.consecutive_failures, 0, "{st:?}");
}

#[test]
fn active_deadline_fails_the_pod_and_kills_its_containers() {
    if !privileged("active_deadline_fails_the_pod_and_kills_its_containers") {
        return;
    }
    let mut env = Env::new("deadline");
    let pod = pod_name("deadline");
    let manifest = format!(
        "
apiVersion: v1
kind: Pod
metadata: {{name: {pod}}}
spec:
  activeDeadlineSeconds: 2
  terminationGracePeriodSeconds: 1
  containers:
  - {{name: polite, image: busybox:test, command: [sh, -c, \"trap 'exit 0' TERM; while true; do sleep 0.1; done\"]}}
  - {{name: stubborn, image: busybox:test, command: [sleep, '100000']}}
"
    );
    let begin = Instant::now();
    env.start(&pod, &manifest);
    let st = env.wait(&pod, "failed", |st| st.phase == PodPhase::Failed);
    assert!(begin.elapsed() >= Duration::from_millis(1900), "{st:?}");
    assert_eq!(st.reason, Some(Reason::DeadlineExceeded), "{st:?}");
    assert_eq!(
        st.message.as_ref().map(|m| m.to_string()).as_deref(),
        Some("Pod was active on the node longer than the specified deadline")
    );
    // Both end, and stay ended: the pod is not restarted under Always.
    let st = env.wait(&pod, "containers ended", |st| {
        ["polite", "stubborn"]
            .iter()
            .all(|c| ended(&ctr(st, c).state).is_some())
    });
    assert_eq!(ended(&ctr(&st, "polite").state).map(|e| e.0), Some(0));
    assert_eq!(ended(&ctr(&st, "stubborn").state).map(|e| e.0), Some(137));
    assert!(!ctr(&st, "polite").ready);
    std::thread::sleep(Duration::from_millis(500));
    let st = env.status(&pod);
    assert_eq!(st.phase, PodPhase::Failed);
    assert_eq!(ctr(&st, "polite").restart_count, 0);
}
