//! pealet's own processes in a pod, and their faults: a pod costs one pealet process
//! (the shim is the parent of every container's PID 1, with no process per container
//! that could die on its own), and a killed `pealet reap` of a shared PID namespace is
//! replaced, its containers started again in a new namespace.

use pealet::shim::state;

use super::fixture::{Env, all_running, pod_name, privileged, text, zombie_children};
use super::lifecycle::{FAST, ctr};

fn shim_pid(env: &Env, pod: &str) -> u32 {
    let d = state::PodDirs::new(&env.dir.join("root"), &env.dir.join("run"), pod);
    state::shim_pid(&d).expect("the pod's shim runs")
}

/// The parent of `pid`, from /proc.
fn parent(pid: u32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = stat.rsplit_once(')').unwrap().1;
    rest.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The host pids of `parent`'s children.
fn children(parent: u32) -> Vec<u32> {
    let path = format!("/proc/{parent}/task/{parent}/children");
    let text = std::fs::read_to_string(path).unwrap();
    text.split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect()
}

fn container_pid(env: &Env, pod: &str, c: &str) -> u32 {
    // Through the shim's socket, as `pealet exec` finds it.
    let d = state::PodDirs::new(&env.dir.join("root"), &env.dir.join("run"), pod);
    let client = pealet::shim::proto::Client::connect(&d.socket()).unwrap();
    let request = pealet::shim::proto::Request::ContainerPid {
        container: c.into(),
    };
    match client.call(&request).unwrap() {
        pealet::shim::proto::Response::ContainerPid(pid) => pid,
        other => panic!("{other:?}"),
    }
}

const TWO: &str = "
apiVersion: v1
kind: Pod
metadata: {name: NAME}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: a, image: busybox:test, command: [sleep, '100011']}
  - {name: b, image: busybox:test, command: [sleep, '100012']}
";

#[test]
fn containers_are_children_of_the_shim_with_no_pealet_process_of_their_own() {
    if !privileged("containers_are_children_of_the_shim_with_no_pealet_process_of_their_own") {
        return;
    }
    let mut env = Env::new("fs-direct");
    let pod = pod_name("fs-direct");
    let out = env.run(&pod, &TWO.replace("NAME", &pod));
    assert!(out.status.success(), "{}", text(&out.stderr));
    env.wait(&pod, "both running", all_running);
    let shim = shim_pid(&env, &pod);
    let mains = [
        container_pid(&env, &pod, "a"),
        container_pid(&env, &pod, "b"),
    ];
    for pid in mains {
        assert_eq!(parent(pid), shim, "the shim is the parent of PID 1 {pid}");
    }
    let mut kids = children(shim);
    kids.sort_unstable();
    let mut want = mains.to_vec();
    want.sort_unstable();
    assert_eq!(kids, want, "the shim's only children are the containers");
    // The shim reaps a container killed from outside itself, and restarts it.
    let pid = rustix::process::Pid::from_raw(mains[1] as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::KILL).unwrap();
    env.wait(&pod, "b restarted", |st| {
        ctr(st, "b").restart_count == 1 && all_running(st)
    });
    assert!(zombie_children(shim).is_empty());
}

#[test]
fn a_killed_reaper_is_replaced_with_a_new_pid_namespace() {
    if !privileged("a_killed_reaper_is_replaced_with_a_new_pid_namespace") {
        return;
    }
    let mut env = Env::new("fs-reaper");
    let pod = pod_name("fs-reaper");
    let manifest = TWO.replace("NAME", &pod).replace(
        "  containers:",
        "  shareProcessNamespace: true\n  containers:",
    );
    let out = env.run_with(&pod, &manifest, FAST);
    assert!(out.status.success(), "{}", text(&out.stderr));
    env.wait(&pod, "both running", all_running);
    let shim = shim_pid(&env, &pod);
    let ns = |env: &Env| env.exec(&pod, "a", "readlink /proc/self/ns/pid").1;
    let before = ns(&env);
    let reaper = children(shim)
        .into_iter()
        .find(|p| {
            let cmdline = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
            cmdline.split(|b| *b == 0).any(|w| w == b"reap")
        })
        .expect("pealet reap is a child of the shim");
    let pid = rustix::process::Pid::from_raw(reaper as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::KILL).unwrap();
    // The kernel ended the namespace with its PID 1: both containers start again, in
    // a new one, instead of failing to join the old one for good.
    env.wait(&pod, "both restarted in a new namespace", |st| {
        ctr(st, "a").restart_count == 1 && ctr(st, "b").restart_count == 1 && all_running(st)
    });
    let after = ns(&env);
    assert_ne!(after, before);
    let (_, pid1) = env.exec(&pod, "b", "tr '\\0' ' ' < /proc/1/cmdline");
    assert_eq!(pid1, "pealet reap ", "PID 1 of the new namespace");
    assert!(zombie_children(shim).is_empty());
}

#[test]
fn exec_probes_killed_at_their_deadline_leave_no_zombie() {
    if !privileged("exec_probes_killed_at_their_deadline_leave_no_zombie") {
        return;
    }
    let mut env = Env::new("fs-probezombie");
    let pod = pod_name("fs-probezombie");
    let manifest = format!(
        "{{apiVersion: v1, kind: Pod, metadata: {{name: {pod}}}, spec: {{\
         terminationGracePeriodSeconds: 1, containers: [{{name: c, image: busybox:test, \
         command: [sleep, '100000'], readinessProbe: {{exec: {{command: [sleep, '5']}}, \
         periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 2}}}}]}}}}"
    );
    let out = env.run(&pod, &manifest);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Two runs timed out and were killed (`pealet enter` and its `sleep`).
    env.wait(&pod, "two timed-out probes", |st| {
        (ctr(st, "c").probes.iter()).any(|p| p.consecutive_failures >= 2)
    });
    let shim = shim_pid(&env, &pod);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while !zombie_children(shim).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "zombies of the shim: {:?}",
            zombie_children(shim)
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
