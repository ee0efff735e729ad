//! The kubelet's lifecycle rules with real containers under the shim: exit codes under
//! each restartPolicy, restarts counted on an emptyDir, crash-loop back-off growing, init
//! containers in order, a failing one under Never and retried under Always and
//! OnFailure, and sidecar examples.

use std::time::{Duration, Instant};

use std::process::Stdio;

use super::fixture::{Env, KillOnDrop, pod_name, privileged};
use pealet::spec::{ContainerState, ContainerStatus, PodPhase, PodStatus, Reason};

/// A short crash-loop base so that restarts happen within the tests' bounds.
pub(super) const FAST: &[&str] = &["--backoff-base-ms", "300"];

pub(super) fn ctr<'a>(st: &'a PodStatus, name: &str) -> &'a ContainerStatus {
    st.init_container_statuses
        .iter()
        .chain(st.container_statuses.iter())
        .find(|c| &*c.name == name)
        .unwrap_or_else(|| panic!("no container {name}: {st:?}"))
}

/// (exit code, reason, message) of a terminated state.
pub(super) fn ended(state: &ContainerState) -> Option<(i32, Reason, Option<String>)> {
    match state {
        ContainerState::Terminated {
            exit_code,
            reason,
            message,
            ..
        } => Some((
            *exit_code,
            reason.clone(),
            message.as_ref().map(|m| m.to_string()),
        )),
        ContainerState::Waiting { .. } | ContainerState::Running { .. } => None,
    }
}

fn one_shot(name: &str, policy: &str, code: i32) -> String {
    format!(
        "{{apiVersion: v1, kind: Pod, metadata: {{name: {name}}}, spec: {{restartPolicy: {policy}, \
         terminationGracePeriodSeconds: 1, containers: [{{name: c, image: 'busybox:test', \
         command: [sh, -c, 'exit {code}']}}]}}}}"
    )
}

#[test]
fn exit_0_and_3_under_each_restart_policy() {
    if !privileged("exit_0_and_3_under_each_restart_policy") {
        return;
    }
    let mut env = Env::new("policies");
    let mut pods = Vec::new();
    for policy in ["Never", "OnFailure", "Always"] {
        for code in [0, 3] {
            let pod = pod_name(&format!("{}-{code}", policy.to_lowercase()));
            let _ = env.run_with(&pod, &one_shot(&pod, policy, code), FAST);
            pods.push((pod, policy, code));
        }
    }
    for (pod, policy, code) in &pods {
        let reason = if *code == 0 {
            Reason::Completed
        } else {
            Reason::Error
        };
        let restarts = *policy == "Always" || (*policy == "OnFailure" && *code != 0);
        if restarts {
            let st = env.wait(pod, "two restarts", |st| ctr(st, "c").restart_count >= 2);
            assert_eq!(st.phase, PodPhase::Running, "{pod}");
            let last = ctr(&st, "c").last_state.as_ref().and_then(ended);
            assert_eq!(last.map(|l| (l.0, l.1)), Some((*code, reason)), "{pod}");
        } else {
            let st = env.wait(pod, "the end", |st| {
                matches!(st.phase, PodPhase::Succeeded | PodPhase::Failed)
            });
            let want = if *code == 0 {
                PodPhase::Succeeded
            } else {
                PodPhase::Failed
            };
            assert_eq!(st.phase, want, "{pod}");
            let c = ctr(&st, "c");
            assert_eq!(c.restart_count, 0, "{pod}");
            assert_eq!(ended(&c.state).map(|e| (e.0, e.1)), Some((*code, reason)));
        }
    }
}

#[test]
fn a_container_failing_once_then_succeeding_is_restarted_once() {
    if !privileged("a_container_failing_once_then_succeeding_is_restarted_once") {
        return;
    }
    let mut env = Env::new("onceagain");
    let pod = pod_name("onceagain");
    let manifest = format!(
        "
apiVersion: v1
kind: Pod
metadata: {{name: {pod}}}
spec:
  restartPolicy: OnFailure
  volumes: [{{name: data, emptyDir: {{}}}}]
  containers:
  - name: c
    image: busybox:test
    volumeMounts: [{{name: data, mountPath: /data}}]
    command: [sh, -c, 'n=$(cat /data/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /data/n; [ $n -ge 2 ]']
"
    );
    let _ = env.run_with(&pod, &manifest, FAST);
    let st = env.wait(&pod, "success", |st| st.phase == PodPhase::Succeeded);
    let c = ctr(&st, "c");
    assert_eq!(c.restart_count, 1);
    assert_eq!(ended(&c.state).map(|e| e.0), Some(0));
    assert_eq!(c.last_state.as_ref().and_then(ended).map(|e| e.0), Some(1));
    let n = env.dir.join(format!("root/pods/{pod}/volumes/data/n"));
    assert_eq!(std::fs::read_to_string(n).unwrap(), "2\n");
}

#[test]
fn crash_loop_back_off_grows() {
    if !privileged("crash_loop_back_off_grows") {
        return;
    }
    let mut env = Env::new("backoff");
    let pod = pod_name("backoff");
    let manifest = one_shot(&pod, "Always", 1);
    let _ = env.run_with(&pod, &manifest, &["--backoff-base-ms", "400"]);
    // When each restart count was first seen.
    let begin = Instant::now();
    let mut seen: Vec<Duration> = Vec::new();
    let mut backoff_message = None;
    while seen.len() < 5 {
        assert!(begin.elapsed() < Duration::from_secs(20), "{seen:?}");
        let st = env.status(&pod);
        let c = ctr(&st, "c");
        while seen.len() <= c.restart_count as usize {
            seen.push(begin.elapsed());
        }
        if let ContainerState::Waiting {
            reason: Reason::CrashLoopBackOff,
            message,
        } = &c.state
        {
            backoff_message = message.as_ref().map(|m| m.to_string());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let gaps: Vec<Duration> = seen.windows(2).map(|w| w[1] - w[0]).collect();
    // Restarts 2, 3, 4 follow delays of 400, 800 and 1600 ms.
    assert!(gaps[2] >= Duration::from_millis(700), "{gaps:?}");
    assert!(gaps[3] >= Duration::from_millis(1400), "{gaps:?}");
    assert!(gaps[3] > gaps[2] && gaps[2] > gaps[1], "{gaps:?}");
    let message = backoff_message.expect("a CrashLoopBackOff state was seen");
    assert!(message.starts_with("back-off "), "{message}");
    assert!(
        message.contains("restarting failed container=c"),
        "{message}"
    );
}

#[test]
fn init_containers_run_in_order_and_a_failing_one_fails_the_pod_under_never() {
    if !privileged("init_containers_run_in_order_and_a_failing_one_fails_the_pod_under_never") {
        return;
    }
    let mut env = Env::new("inits");
    let ok = pod_name("inits-ok");
    let manifest = format!(
        "
apiVersion: v1
kind: Pod
metadata: {{name: {ok}}}
spec:
  terminationGracePeriodSeconds: 1
  volumes: [{{name: data, emptyDir: {{}}}}]
  initContainers:
  - {{name: a, image: busybox:test, command: [sh, -c, 'sleep 0.3; echo a >> /data/order'],
      volumeMounts: [{{name: data, mountPath: /data}}]}}
  - {{name: b, image: busybox:test, command: [sh, -c, 'echo b >> /data/order'],
      volumeMounts: [{{name: data, mountPath: /data}}]}}
  containers:
  - {{name: c, image: busybox:test, command: [sh, -c, 'echo c >> /data/order; exec sleep 100000'],
      volumeMounts: [{{name: data, mountPath: /data}}]}}
"
    );
    env.start(&ok, &manifest);
    let st = env.wait(&ok, "running", |st| st.phase == PodPhase::Running);
    for name in ["a", "b"] {
        assert_eq!(ended(&ctr(&st, name).state).map(|e| e.0), Some(0));
    }
    let (_, order) = env.exec(&ok, "c", "cat /data/order");
    assert_eq!(order, "a\nb\nc\n");

    let bad = pod_name("inits-bad");
    let manifest = format!(
        "{{apiVersion: v1, kind: Pod, metadata: {{name: {bad}}}, spec: {{restartPolicy: Never, \
         initContainers: [{{name: fail, image: 'busybox:test', command: [sh, -c, 'exit 2']}}, \
         {{name: never, image: 'busybox:test', command: ['true']}}], \
         containers: [{{name: c, image: 'busybox:test', command: ['true']}}]}}}}"
    );
    let _ = env.run(&bad, &manifest);
    let st = env.wait(&bad, "failed", |st| st.phase == PodPhase::Failed);
    assert_eq!(
        ended(&ctr(&st, "fail").state).map(|e| (e.0, e.1)),
        Some((2, Reason::Error))
    );
    for name in ["never", "c"] {
        assert!(
            matches!(
                ctr(&st, name).state,
                ContainerState::Waiting {
                    reason: Reason::PodInitializing,
                    ..
                }
            ),
            "{name}: {st:?}"
        );
    }
}

/// A test copy of an example from tests/data/k8s-examples: the local image, its own name.
pub(super) fn example(file: &str, name: &str, edits: &[(&str, &str)]) -> String {
    let path = format!(
        "{}/tests/data/k8s-examples/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut text = std::fs::read_to_string(path).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "{file}: no {from:?}");
        text = text.replace(from, to);
    }
    // The examples' shells ignore SIGTERM as PID 1: a short grace keeps the test short.
    text.replacen("spec:\n", "spec:\n  terminationGracePeriodSeconds: 1\n", 1)
        .replace("registry.k8s.io/busybox:1.27.2", "busybox:test")
        .replace(
            &format!("name: {}", name_in(file)),
            &format!("name: {name}"),
        )
        .replace(
            &format!("name: \"{}\"", name_in(file)),
            &format!("name: \"{name}\""),
        )
}

fn name_in(file: &str) -> &'static str {
    match file {
        "startup-coordination.yaml" => "startup-coordination-example",
        "localhost.yaml" => "localhost-example",
        "exec-liveness.yaml" => "liveness-exec",
        other => panic!("no name known for {other}"),
    }
}

#[test]
fn startup_coordination_and_localhost_sidecar_examples() {
    if !privileged("startup_coordination_and_localhost_sidecar_examples") {
        return;
    }
    let mut env = Env::new("sidecars");
    let coord = pod_name("coord");
    env.start(
        &coord,
        &example(
            "startup-coordination.yaml",
            &coord,
            &[("periodSeconds: 2", "periodSeconds: 1")],
        ),
    );
    let st = env.wait(&coord, "running", |st| {
        st.phase == PodPhase::Running && ctr(st, "config-sidecar").started == Some(true)
    });
    assert!(matches!(
        ctr(&st, "main-app").state,
        ContainerState::Running { .. }
    ));
    env.wait(&coord, "main-app's output", |_| {
        env.logs(&coord, "main-app").contains("greeting=hello")
    });

    let local = pod_name("local");
    let web = "image: busybox:test\n    command: [sh, -c, 'echo hello-from-web > /tmp/index.html; \
               exec httpd -f -p 80 -h /tmp']";
    let manifest = example("localhost.yaml", &local, &[("image: nginx:1.29", web)])
        .replace("sleep 5", "sleep 0.2");
    env.start(&local, &manifest);
    env.wait(&local, "the sidecar fetched from web", |_| {
        env.logs(&local, "client").contains("hello-from-web")
    });
    let st = env.status(&local);
    assert!(st.conditions.ready.status == pealet::spec::ConditionStatus::True);
}

fn waiting_reason(st: &PodStatus, name: &str) -> Option<Reason> {
    match &ctr(st, name).state {
        ContainerState::Waiting { reason, .. } => Some(reason.clone()),
        ContainerState::Running { .. } | ContainerState::Terminated { .. } => None,
    }
}

#[test]
fn a_failing_init_container_is_retried_under_always_and_on_failure() {
    if !privileged("a_failing_init_container_is_retried_under_always_and_on_failure") {
        return;
    }
    let mut env = Env::new("initretry");
    let mut pods = Vec::new();
    let mut runs = Vec::new();
    let begin = Instant::now();
    for policy in ["Always", "OnFailure"] {
        let pod = pod_name(&format!("initretry-{}", policy.to_lowercase()));
        let manifest = format!(
            "{{apiVersion: v1, kind: Pod, metadata: {{name: {pod}}}, spec: {{restartPolicy: {policy}, \
             terminationGracePeriodSeconds: 1, \
             initContainers: [{{name: fail, image: 'busybox:test', command: [sh, -c, 'exit 4']}}, \
             {{name: next, image: 'busybox:test', command: ['true']}}], \
             containers: [{{name: c, image: 'busybox:test', command: [sleep, '100000']}}]}}}}"
        );
        // `run --detach` waits for app containers that never start here: it runs
        // beside the test and is killed at its end.
        let file = env.dir.join(format!("{pod}.yaml"));
        std::fs::write(&file, manifest).unwrap();
        env.pods.push(pod.clone());
        let mut run = env.command(&["run", file.to_str().unwrap(), "--backoff-base-ms", "400"]);
        runs.push(KillOnDrop(run.stdout(Stdio::null()).spawn().unwrap()));
        pods.push(pod);
    }
    for pod in &pods {
        let st = env.wait(pod, "three retries", |st| {
            ctr(st, "fail").restart_count >= 3
        });
        // Back-off between retries: 0 + 400 + 800 ms at least.
        assert!(begin.elapsed() >= Duration::from_millis(1000), "{pod}");
        assert_eq!(st.phase, PodPhase::Pending, "{pod}: {st:?}");
        let last = ctr(&st, "fail").last_state.as_ref().and_then(ended);
        assert_eq!(last.map(|l| (l.0, l.1)), Some((4, Reason::Error)), "{pod}");
        for name in ["next", "c"] {
            assert_eq!(
                waiting_reason(&st, name),
                Some(Reason::PodInitializing),
                "{pod} {name}: {st:?}"
            );
            assert_eq!(ctr(&st, name).restart_count, 0);
        }
        let initialized = &st.conditions.initialized;
        assert_eq!(initialized.status, pealet::spec::ConditionStatus::False);
        let detail = initialized.detail.as_ref().map(|d| {
            let message = d.message.as_ref().map(|m| m.to_string());
            (d.reason.clone(), message)
        });
        assert_eq!(
            detail,
            Some((
                Reason::ContainersNotInitialized,
                Some("containers with incomplete status: [fail next]".to_string())
            )),
            "{pod}"
        );
        // The count only grows, and a CrashLoopBackOff shows between tries.
        let st = env.wait(pod, "back-off", |st| {
            waiting_reason(st, "fail") == Some(Reason::CrashLoopBackOff)
        });
        assert!(ctr(&st, "fail").restart_count >= 3);
        assert_eq!(st.phase, PodPhase::Pending);
    }
}
