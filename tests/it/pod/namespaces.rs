//! Which namespaces a pod's containers share, on the real kernel: shareProcessNamespace
//! (one PID namespace whose PID 1 is `pealet reap`), hostNetwork/hostIPC/hostPID against
//! the test's own namespaces (inodes only, no traffic), and System V shared memory
//! between the containers of a pod but not with the host.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::fixture::{Env, all_running, cgroup_exists, pod_name, privileged, text};
use super::lifecycle::{FAST, ctr};

/// `pid,args` lines of the processes a container sees, from its own /proc.
const PS: &str = "for p in /proc/[0-9]*; do \
     echo \"${p#/proc/} $(tr '\\0' ' ' < $p/cmdline 2>/dev/null)\"; done";

/// The pid (in the container's view) of the process whose command line is exactly `cmd`.
fn find(cmd: &str) -> String {
    format!(
        "for p in /proc/[0-9]*; do [ \"$(tr '\\0' ' ' < $p/cmdline 2>/dev/null)\" = '{cmd} ' ] \
         && echo ${{p#/proc/}}; done"
    )
}

fn shared_pod(name: &str) -> String {
    format!(
        "
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  terminationGracePeriodSeconds: 1
  shareProcessNamespace: true
  containers:
  - name: a
    image: busybox:test
    command: [sleep, '100001']
  - name: b
    image: busybox:test
    command: [sh, -c, 'echo from-b > /marker-b; sleep 100003 & exec sleep 100002']
"
    )
}

/// The test's own namespace of `kind`, as `readlink /proc/self/ns/KIND` prints it.
fn host_ns(kind: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{kind}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn share_process_namespace_reaps_and_keeps_containers_apart_in_cgroups() {
    if !privileged("share_process_namespace_reaps_and_keeps_containers_apart_in_cgroups") {
        return;
    }
    let mut env = Env::new("sharepid");
    let pod = pod_name("sharepid");
    let out = env.run_with(&pod, &shared_pod(&pod), FAST);
    assert!(out.status.success(), "{}", text(&out.stderr));
    env.wait(&pod, "both running", all_running);
    // Every container sees every process of the pod, and PID 1 is pealet's reaper.
    for c in ["a", "b"] {
        let (_, ps) = env.exec(&pod, c, PS);
        let line = |pid: &str| ps.lines().find(|l| l.split(' ').next() == Some(pid));
        assert_eq!(line("1"), Some("1 pealet reap "), "{c}: {ps}");
        for cmd in ["sleep 100001 ", "sleep 100002 ", "sleep 100003 "] {
            assert!(
                ps.lines().any(|l| l.ends_with(cmd)),
                "{c} misses {cmd}: {ps}"
            );
        }
    }
    // Another container's root is reachable through /proc.
    let script = format!("cat /proc/$({})/root/marker-b", find("sleep 100002"));
    assert_eq!(env.exec(&pod, "a", &script), (0, "from-b\n".into()));
    // An orphan is reparented to PID 1 and reaped there once it exits.
    let (code, out) = env.exec(
        &pod,
        "a",
        "(sleep 2 & echo $! > /tmp/orphan); sleep 0.2; p=$(cat /tmp/orphan); \
         cut -d' ' -f4 /proc/$p/stat; i=0; \
         while [ -e /proc/$p ] && [ $i -lt 150 ]; do sleep 0.1; i=$((i + 1)); done; \
         if [ -e /proc/$p ]; then echo left; else echo reaped; fi; \
         for s in /proc/[0-9]*/stat; do cut -d' ' -f3 $s; done | grep -c Z",
    );
    assert_eq!(out, "1\nreaped\n0\n", "exit {code}");
    // A signal from one container to another: b's main process ends, and with it every
    // process of b's cgroup (its background sleep), but nothing of a.
    let (code, _) = env.exec(&pod, "a", &format!("kill $({})", find("sleep 100002")));
    assert_eq!(code, 0);
    env.wait(&pod, "b restarted", |st| {
        ctr(st, "b").restart_count == 1 && all_running(st)
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, ps) = env.exec(&pod, "a", PS);
        let count = |cmd: &str| ps.lines().filter(|l| l.ends_with(cmd)).count();
        if count("sleep 100003 ") == 1 && count("sleep 100002 ") == 1 {
            assert_eq!(count("sleep 100001 "), 1, "{ps}");
            break;
        }
        assert!(Instant::now() < deadline, "b's old processes stay: {ps}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(ctr(&env.status(&pod), "a").restart_count, 0);
    // The reaper goes with the pod.
    let ns = env.exec(&pod, "a", "readlink /proc/self/ns/pid").1;
    let reaper = host_pid_1_of(ns.trim()).expect("the reaper on the host");
    let out = env.pealet(&["rm", &pod]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    env.pods.retain(|p| *p != pod);
    assert!(
        !Path::new(&format!("/proc/{reaper}")).exists(),
        "reaper left"
    );
    assert!(!cgroup_exists(&pod));
}

/// The host pid of the process that is PID 1 of the PID namespace `ns` (`pid:[N]`).
fn host_pid_1_of(ns: &str) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let link = std::fs::read_link(e.path().join("ns/pid")).ok()?;
        let status = std::fs::read_to_string(e.path().join("status")).ok()?;
        let nspid = status.lines().find_map(|l| l.strip_prefix("NSpid:"))?;
        let inner = nspid.split_whitespace().last()?;
        (link.to_string_lossy() == ns && inner == "1").then_some(pid)
    })
}

#[test]
fn host_namespaces_are_the_hosts_and_only_when_asked() {
    if !privileged("host_namespaces_are_the_hosts_and_only_when_asked") {
        return;
    }
    let mut env = Env::new("hostns");
    let script = "for n in net ipc pid uts; do readlink /proc/self/ns/$n; done";
    let host = ["net", "ipc", "pid", "uts"].map(host_ns);
    for shared in [true, false] {
        let pod = pod_name(if shared { "hostns" } else { "ownns" });
        let manifest = format!(
            "{{apiVersion: v1, kind: Pod, metadata: {{name: {pod}}}, spec: {{\
             hostNetwork: {shared}, hostIPC: {shared}, hostPID: {shared}, \
             terminationGracePeriodSeconds: 1, containers: [{{name: c, image: busybox:test, \
             command: [sleep, '100000']}}]}}}}"
        );
        // `pealet run` admits host namespaces (admission is the agent's).
        env.start(&pod, &manifest);
        env.wait(&pod, "running", all_running);
        let (code, out) = env.exec(&pod, "c", script);
        assert_eq!(code, 0);
        let inside: Vec<&str> = out.lines().collect();
        assert_eq!(inside.len(), 4, "{out}");
        for (kind, (inside, host)) in ["net", "ipc", "pid", "uts"]
            .iter()
            .zip(inside.iter().zip(&host))
        {
            // hostNetwork brings the host's UTS namespace along, as in Kubernetes.
            assert_eq!(inside == host, shared, "{pod} {kind}: {inside} vs {host}");
        }
        // The shim, which runs the probes, is where the containers are (and hostname
        // changes stay out of the host's UTS namespace).
        let shim = std::fs::read_to_string(env.dir.join(format!("run/pods/{pod}/shim.pid")));
        let shim = shim.unwrap();
        for kind in ["net", "ipc", "uts"] {
            let link = std::fs::read_link(format!("/proc/{}/ns/{kind}", shim.trim()));
            let same = link.unwrap().to_string_lossy() == host_ns(kind);
            assert_eq!(same, shared, "{pod}: the shim's {kind}");
        }
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        let inside = env.exec(&pod, "c", "hostname").1;
        assert_eq!(inside == hostname, shared, "{pod}: {inside}");
    }
}

/// A static C program: `ipc put KEY TEXT` creates a System V segment and writes TEXT,
/// `ipc get KEY` prints it.
const IPC_C: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
int main(int argc, char **argv) {
    if (argc < 3) return 2;
    key_t key = (key_t)atoi(argv[2]);
    if (strcmp(argv[1], "put") == 0 && argc == 4) {
        int id = shmget(key, 4096, IPC_CREAT | 0600);
        if (id < 0) { perror("shmget"); return 1; }
        char *p = shmat(id, NULL, 0);
        if (p == (void *)-1) { perror("shmat"); return 1; }
        strncpy(p, argv[3], 4095);
        return 0;
    }
    if (strcmp(argv[1], "get") == 0) {
        int id = shmget(key, 0, 0);
        if (id < 0) { perror("shmget"); return 1; }
        char *p = shmat(id, NULL, SHM_RDONLY);
        if (p == (void *)-1) { perror("shmat"); return 1; }
        printf("%s\n", p);
        return 0;
    }
    return 2;
}
"#;

#[test]
fn system_v_shared_memory_is_shared_in_the_pod_only() {
    if !privileged("system_v_shared_memory_is_shared_in_the_pod_only") {
        return;
    }
    let mut env = Env::new("sysv");
    let bin = env.dir.join("ipc-bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("ipc.c"), IPC_C).unwrap();
    let gcc = Command::new("gcc")
        .args(["-static", "-O2", "-o"])
        .arg(bin.join("ipc"))
        .arg(bin.join("ipc.c"))
        .output();
    match gcc {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!("gcc -static failed: {}", text(&out.stderr)),
        Err(e) => {
            eprintln!("SKIPPED system_v_shared_memory_is_shared_in_the_pod_only: gcc: {e}");
            return;
        }
    }
    let pod = pod_name("sysv");
    let manifest = format!(
        "
apiVersion: v1
kind: Pod
metadata: {{name: {pod}}}
spec:
  terminationGracePeriodSeconds: 1
  volumes: [{{name: bin, hostPath: {{path: {}, type: Directory}}}}]
  containers:
  - name: writer
    image: busybox:test
    command: [sleep, '100000']
    volumeMounts: [{{name: bin, mountPath: /ipc-bin, readOnly: true}}]
  - name: reader
    image: busybox:test
    command: [sleep, '100000']
    volumeMounts: [{{name: bin, mountPath: /ipc-bin, readOnly: true}}]
",
        bin.display()
    );
    env.start(&pod, &manifest);
    env.wait(&pod, "running", all_running);
    // A key of this test run only, so that the host check means something.
    let key = 0x5000_0000 | (std::process::id() & 0xff_ffff);
    let put = format!("/ipc-bin/ipc put {key} hello-sysv");
    assert_eq!(env.exec(&pod, "writer", &put).0, 0);
    let get = format!("/ipc-bin/ipc get {key}");
    assert_eq!(env.exec(&pod, "reader", &get), (0, "hello-sysv\n".into()));
    let keys = |text: &str| -> Vec<String> {
        text.lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect()
    };
    let (_, pod_view) = env.exec(&pod, "reader", "cat /proc/sysvipc/shm");
    assert!(keys(&pod_view).contains(&key.to_string()), "{pod_view}");
    let host_view = std::fs::read_to_string("/proc/sysvipc/shm").unwrap();
    assert!(
        !keys(&host_view).contains(&key.to_string()),
        "the host sees the pod's segment: {host_view}"
    );
}
