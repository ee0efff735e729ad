//! Pods as a user runs them, on the real kernel as root: `pealet image import` of a
//! busybox root file system, then `pealet run --detach`, `ps`, `logs`, `exec`, `stop`,
//! `rm`. Each test has its own --root and --run-dir and its own pod names; traffic stays
//! on the loopback of the pod's own network namespace.

mod faults;
pub(crate) mod fixture;
mod hooks;
mod lifecycle;
mod namespaces;
mod probes;
mod security;
mod volumes;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fixture::{Env, KillOnDrop, all_running, cgroup_dir, pod_name, privileged, text};
use pealet::spec::{ContainerState, Reason};

fn share_pod(name: &str) -> String {
    format!(
        "
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  terminationGracePeriodSeconds: 1
  volumes: [{{name: data, emptyDir: {{}}}}, {{name: mem, emptyDir: {{medium: Memory, sizeLimit: 1Mi}}}}]
  containers:
  - name: server
    image: busybox:test
    volumeMounts: [{{name: data, mountPath: /data}}, {{name: mem, mountPath: /mem}}]
    command: [sh, -c]
    args:
    - echo hello-from-server; echo shared > /dev/shm/note; echo on-disk > /data/file;
      echo in-ram > /mem/file;
      nc -l -p 5000 -e sh -c 'read line; echo $line > /data/got'; exec sleep 100000
  - name: client
    image: busybox:test
    volumeMounts: [{{name: data, mountPath: /shared, readOnly: true}}, {{name: mem, mountPath: /mem}}]
    command: [sh, -c, 'until netstat -ltn | grep -q :5000; do sleep 0.05; done;
                       echo hello-over-lo | nc 127.0.0.1 5000; exec sleep 100000']
"
    )
}

#[test]
fn containers_of_a_pod_share_localhost_shm_hostname_and_volumes() {
    if !privileged("containers_of_a_pod_share_localhost_shm_hostname_and_volumes") {
        return;
    }
    let mut env = Env::new("share");
    let pod = pod_name("share");
    env.start(&pod, &share_pod(&pod));
    env.wait(&pod, "both running", all_running);
    // The message went over the pod's loopback into the server's emptyDir.
    let (code, got) = env.exec(
        &pod,
        "client",
        "until [ -s /shared/got ]; do sleep 0.05; done; cat /shared/got",
    );
    assert_eq!((code, got.as_str()), (0, "hello-over-lo\n"));
    assert_eq!(env.exec(&pod, "client", "cat /dev/shm/note").1, "shared\n");
    assert_eq!(
        env.exec(&pod, "client", "cat /shared/file /mem/file").1,
        "on-disk\nin-ram\n"
    );
    assert_ne!(
        env.exec(&pod, "client", "touch /shared/x").0,
        0,
        "readOnly volume"
    );
    for c in ["server", "client"] {
        assert_eq!(env.exec(&pod, c, "hostname").1, format!("{pod}\n"));
        // PID 1 is the container's own program; the other container's is not visible.
        let (_, ps) = env.exec(&pod, c, "ps -o pid,args");
        let pid1 = ps
            .lines()
            .find(|l| l.trim_start().starts_with("1 "))
            .unwrap_or("");
        assert!(pid1.contains("sleep 100000"), "{c}: {ps}");
        assert_eq!(ps.matches("sleep 100000").count(), 1, "{c}: {ps}");
    }
    assert_eq!(
        env.exec(&pod, "server", "exit 7").0,
        7,
        "exec passes the exit status on"
    );
    assert!(env.logs(&pod, "server").contains("hello-from-server\n"));
    let ps = text(&env.pealet(&["ps"]).stdout);
    let line = ps
        .lines()
        .find(|l| l.starts_with(&pod))
        .unwrap_or_default()
        .to_string();
    assert!(line.contains("2/2") && line.contains("Running"), "{ps}");
}

#[test]
fn killing_the_caller_or_a_client_leaves_the_pod_running() {
    if !privileged("killing_the_caller_or_a_client_leaves_the_pod_running") {
        return;
    }
    let mut env = Env::new("kill");
    let pod = pod_name("kill");
    let file = env.dir.join("pod.yaml");
    let manifest = format!(
        "{{apiVersion: v1, kind: Pod, metadata: {{name: {pod}}}, spec: {{terminationGracePeriodSeconds: 1, \
         containers: [{{name: c, image: busybox:test, command: [sh, -c, 'echo tick; exec sleep 100000']}}]}}}}"
    );
    std::fs::write(&file, manifest).unwrap();
    env.pods.push(pod.clone());
    // `pealet run` in the foreground, and a `logs -f` client: both killed with SIGKILL.
    let mut run = env.command(&["run", file.to_str().unwrap()]);
    let mut run = KillOnDrop(run.stdout(Stdio::null()).spawn().unwrap());
    env.wait(&pod, "running", all_running);
    let follow = env
        .command(&["logs", "-f", &pod])
        .stdout(Stdio::null())
        .spawn();
    let mut follow = KillOnDrop(follow.unwrap());
    std::thread::sleep(Duration::from_millis(200));
    for child in [&mut run.0, &mut follow.0] {
        child.kill().unwrap();
        child.wait().unwrap();
    }
    std::thread::sleep(Duration::from_millis(500));
    let st = env.status(&pod);
    assert!(all_running(&st), "{st:?}");
    assert_eq!(st.container_statuses[0].restart_count, 0);
    let ps = text(&env.pealet(&["ps"]).stdout);
    assert!(
        ps.lines()
            .any(|l| l.starts_with(&pod) && l.contains("1/1") && l.contains("Running")),
        "{ps}"
    );
    assert_eq!(env.exec(&pod, "c", "echo alive").1, "alive\n");
    // A graceful stop ends it; the status and logs stay until rm.
    let out = env.pealet(&["stop", &pod]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let st = env.status(&pod);
    assert!(
        matches!(
            st.container_statuses[0].state,
            ContainerState::Terminated { .. }
        ),
        "{st:?}"
    );
    assert_eq!(env.logs(&pod, "c"), "tick\n");
}

#[test]
fn security_context_user_capabilities_and_read_only_root() {
    if !privileged("security_context_user_capabilities_and_read_only_root") {
        return;
    }
    let mut env = Env::new("sec");
    let pod = pod_name("sec");
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
    command: [sleep, '100000']
    securityContext:
      runAsUser: 1000
      readOnlyRootFilesystem: true
      capabilities: {{drop: [NET_RAW, CHOWN]}}
"
    );
    env.start(&pod, &manifest);
    let (_, id) = env.exec(&pod, "c", "id");
    assert_eq!(
        id.trim(),
        "uid=1000(app) gid=1000(app) groups=1000(app),2000(extra)"
    );
    let (_, caps) = env.exec(&pod, "c", "grep CapBnd /proc/self/status");
    let want = pealet::runtime::caps::resolve(false, &[], &["NET_RAW", "CHOWN"]).unwrap();
    assert_eq!(caps.trim(), format!("CapBnd:\t{:016x}", want.bits()));
    assert_ne!(
        env.exec(&pod, "c", "touch /newfile").0,
        0,
        "the root is read-only"
    );
    assert_eq!(
        env.exec(&pod, "c", "touch /tmp/x 2>/dev/null; echo $?").1,
        "1\n"
    );
}

#[test]
fn limits_are_written_and_an_oom_kill_is_reported() {
    if !privileged("limits_are_written_and_an_oom_kill_is_reported") {
        return;
    }
    let mut env = Env::new("limits");
    let pod = pod_name("limits");
    let manifest = format!(
        "
apiVersion: v1
kind: Pod
metadata: {{name: {pod}}}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: idle
    image: busybox:test
    command: [sleep, '100000']
    resources: {{limits: {{cpu: 250m, memory: 64Mi}}}}
  - name: hog
    image: busybox:test
    command: [sh, -c, 'sleep 0.3; dd if=/dev/zero of=/dev/null bs=64M count=1']
    resources: {{limits: {{memory: 16Mi}}}}
"
    );
    env.start(&pod, &manifest);
    let read =
        |p: PathBuf| std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        assert_eq!(
            read(cgroup_dir(&pod, "").join("idle/cpu.max")).trim(),
            "25000 100000"
        );
        assert_eq!(read(cgroup_dir(&pod, "").join("pids.max")).trim(), "1024");
    } else {
        assert_eq!(
            read(cgroup_dir(&pod, "cpu").join("idle/cpu.cfs_quota_us")).trim(),
            "25000"
        );
        assert_eq!(
            read(cgroup_dir(&pod, "pids").join("pids.max")).trim(),
            "1024"
        );
        let mem = read(cgroup_dir(&pod, "memory").join("hog/memory.limit_in_bytes"));
        assert_eq!(mem.trim(), (16u64 << 20).to_string());
    }
    let st = env.wait(&pod, "hog terminated", |st| {
        matches!(
            st.container_statuses[1].state,
            ContainerState::Terminated { .. }
        )
    });
    match &st.container_statuses[1].state {
        ContainerState::Terminated {
            exit_code, reason, ..
        } => assert_eq!((*exit_code, reason), (137, &Reason::OomKilled)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_missing_image_leaves_the_pod_pending_with_a_clear_reason() {
    if !privileged("a_missing_image_leaves_the_pod_pending_with_a_clear_reason") {
        return;
    }
    let mut env = Env::new("noimage");
    let pod = pod_name("noimage");
    let manifest = format!(
        "{{apiVersion: v1, kind: Pod, metadata: {{name: {pod}}}, spec: {{containers: \
         [{{name: c, image: 'nothere:1', imagePullPolicy: Never}}]}}}}"
    );
    let out = env.run(&pod, &manifest);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("ErrImageNeverPull"),
        "{}",
        text(&out.stderr)
    );
    let st = env.status(&pod);
    assert_eq!(st.phase, pealet::spec::PodPhase::Pending);
}
