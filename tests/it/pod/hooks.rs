//! postStart and preStop hooks with real containers under the shim: an exec postStart
//! the container sees and that holds the container out of Running until it is done, a
//! failing postStart that kills the container, and httpGet and sleep handlers against
//! busybox httpd serving in the pod.

use std::process::Stdio;
use std::time::{Duration, Instant};

use super::fixture::{Env, KillOnDrop, pod_name, privileged, text};
use super::lifecycle::{ctr, ended};
use pealet::spec::{ContainerState, PodPhase, PodStatus, Reason};

fn is_running(st: &PodStatus, c: &str) -> bool {
    matches!(ctr(st, c).state, ContainerState::Running { .. })
}

#[test]
fn post_start_exec_runs_before_the_container_is_running() {
    if !privileged("post_start_exec_runs_before_the_container_is_running") {
        return;
    }
    let mut env = Env::new("poststart");
    let pod = pod_name("poststart");
    let manifest = format!(
        "
apiVersion: v1
kind: Pod
metadata: {{name: {pod}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox:test
    command: [sh, -c, 'exec sleep 100000']
    lifecycle:
      postStart: {{exec: {{command: [sh, -c, 'sleep 1; echo hooked > /tmp/poststart']}}}}
"
    );
    let file = env.dir.join("poststart.yaml");
    std::fs::write(&file, manifest).unwrap();
    env.pods.push(pod.clone());
    let begin = Instant::now();
    let mut run = env.command(&["run", "--detach", file.to_str().unwrap()]);
    let mut run = KillOnDrop(run.stdout(Stdio::null()).spawn().unwrap());
    // While the hook runs the container waits, not ready and not started.
    let st = env.wait(&pod, "the hook running", |st| {
        !st.container_statuses.is_empty() && ctr(st, "c").restart_count == 0
    });
    if begin.elapsed() < Duration::from_millis(700) {
        assert!(
            matches!(
                ctr(&st, "c").state,
                ContainerState::Waiting {
                    reason: Reason::ContainerCreating,
                    ..
                }
            ),
            "{st:?}"
        );
        assert!(!ctr(&st, "c").ready);
        assert_eq!(st.phase, PodPhase::Pending);
    }
    let st = env.wait(&pod, "running", |st| is_running(st, "c"));
    assert!(begin.elapsed() >= Duration::from_millis(900), "{st:?}");
    // The hook's file is there the moment the container counts as Running.
    assert_eq!(env.exec(&pod, "c", "cat /tmp/poststart").1, "hooked\n");
    assert!(run.0.wait().unwrap().success());
    let st = env.status(&pod);
    assert_eq!(st.phase, PodPhase::Running);
    assert_eq!(ctr(&st, "c").restart_count, 0);
    assert_eq!(ctr(&st, "c").started, Some(true));
}

fn failing_post_start(name: &str, policy: &str) -> String {
    // sleep as PID 1 ignores SIGTERM: the kill takes the 2 s minimum grace, long
    // enough to see the container waiting with the hook's error.
    format!(
        "
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  restartPolicy: {policy}
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox:test
    command: [sleep, '100000']
    lifecycle:
      postStart: {{exec: {{command: [sh, -c, 'echo broken; exit 3']}}}}
"
    )
}

#[test]
fn a_failing_post_start_kills_the_container() {
    if !privileged("a_failing_post_start_kills_the_container") {
        return;
    }
    let mut env = Env::new("failpoststart");
    let always = pod_name("poststart-always");
    let _ = env.run_with(
        &always,
        &failing_post_start(&always, "Always"),
        super::lifecycle::FAST,
    );
    let never = pod_name("poststart-never");
    let _ = env.run(&never, &failing_post_start(&never, "Never"));

    let st = env.wait(&always, "PostStartHookError", |st| {
        matches!(
            ctr(st, "c").state,
            ContainerState::Waiting {
                reason: Reason::PostStartHookError,
                ..
            }
        )
    });
    let ContainerState::Waiting { message, .. } = &ctr(&st, "c").state else {
        unreachable!()
    };
    let message = message.as_ref().map(|m| m.to_string()).unwrap_or_default();
    // The kubelet's wording: the handler, the container, the pod, the error, the output.
    assert!(
        message.starts_with(
            "Exec lifecycle hook ([sh -c echo broken; exit 3]) for Container \"c\" in Pod \""
        ),
        "{message}"
    );
    assert!(
        message.contains("failed - error: command 'sh -c echo broken; exit 3' exited with 3"),
        "{message}"
    );
    assert!(message.ends_with("message: \"broken\\n\""), "{message}");
    assert!(!ctr(&st, "c").ready);
    let st = env.wait(&always, "a restart", |st| ctr(st, "c").restart_count >= 1);
    let last = ctr(&st, "c").last_state.as_ref().and_then(ended);
    assert_eq!(
        last.map(|l| (l.0, l.1)),
        Some((137, Reason::Error)),
        "{st:?}"
    );

    let st = env.wait(&never, "failed", |st| st.phase == PodPhase::Failed);
    let c = ctr(&st, "c");
    assert_eq!(c.restart_count, 0);
    assert_eq!(
        ended(&c.state).map(|e| (e.0, e.1)),
        Some((137, Reason::Error)),
        "{st:?}"
    );
}

#[test]
fn http_get_and_sleep_handlers_for_post_start_and_pre_stop() {
    if !privileged("http_get_and_sleep_handlers_for_post_start_and_pre_stop") {
        return;
    }
    let mut env = Env::new("httphooks");
    let pod = pod_name("httphooks");
    // A sidecar serves a CGI that records each request; the app container starts only
    // once the sidecar listens (its startup probe), so its hooks find the server.
    let manifest = format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: {pod}}}
spec:
  terminationGracePeriodSeconds: 10
  volumes: [{{name: data, emptyDir: {{}}}}]
  initContainers:
  - name: web
    image: busybox:test
    restartPolicy: Always
    volumeMounts: [{{name: data, mountPath: /data}}]
    command: [sh, -c]
    args:
    - |
      mkdir -p /www/cgi-bin;
      printf '#!/bin/sh\necho "$QUERY_STRING $HTTP_USER_AGENT" >> /data/events\necho Content-Type: text/plain\necho\necho ok\n' > /www/cgi-bin/hook;
      chmod +x /www/cgi-bin/hook;
      httpd -p 8080 -h /www;
      trap 'exit 0' TERM; while true; do sleep 0.1; done
    startupProbe: {{tcpSocket: {{port: 8080}}, periodSeconds: 1}}
  - name: napper
    image: busybox:test
    restartPolicy: Always
    volumeMounts: [{{name: data, mountPath: /data}}]
    command: [sh, -c, "trap 'echo napper-term >> /data/events; exit 0' TERM; while true; do sleep 0.1; done"]
    lifecycle:
      postStart: {{sleep: {{seconds: 1}}}}
      preStop: {{sleep: {{seconds: 1}}}}
  containers:
  - name: c
    image: busybox:test
    volumeMounts: [{{name: data, mountPath: /data}}]
    command: [sh, -c, "trap 'echo c-term >> /data/events; exit 0' TERM; while true; do sleep 0.1; done"]
    lifecycle:
      postStart: {{httpGet: {{path: '/cgi-bin/hook?poststart', port: 8080}}}}
      preStop: {{httpGet: {{path: '/cgi-bin/hook?prestop', port: 8080}}}}
"#
    );
    let begin = Instant::now();
    env.start(&pod, &manifest);
    let st = env.wait(&pod, "running", |st| {
        st.phase == PodPhase::Running && is_running(st, "c")
    });
    // napper's postStart sleep held the app container back by a second.
    assert!(begin.elapsed() >= Duration::from_millis(900), "{st:?}");
    let events = env.dir.join(format!("root/pods/{pod}/volumes/data/events"));
    let read = || std::fs::read_to_string(&events).unwrap_or_default();
    assert_eq!(read(), format!("poststart kube-lifecycle/{}\n", kube()));

    let begin = Instant::now();
    let out = env.pealet(&["stop", &pod]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // c's preStop request, then its SIGTERM; then the sidecars in reverse order:
    // napper sleeps a second in its preStop before its SIGTERM; web ends last.
    assert_eq!(
        read(),
        format!(
            "poststart kube-lifecycle/{v}\nprestop kube-lifecycle/{v}\nc-term\nnapper-term\n",
            v = kube()
        )
    );
    assert!(begin.elapsed() >= Duration::from_millis(900));
    let st = env.status(&pod);
    for c in ["c", "napper"] {
        assert_eq!(
            ended(&ctr(&st, c).state).map(|e| e.0),
            Some(0),
            "{c}: {st:?}"
        );
    }
}

fn kube() -> &'static str {
    pealet::runtime::probe::KUBE_VERSION
}
