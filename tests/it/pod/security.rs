//! Container security on the real kernel, as an attacker inside a default container
//! would try it: device nodes it makes itself (a host loop device standing in for the
//! SD card, /dev/kmsg), user namespaces and keyrings under seccomp, sysctls; and what a
//! privileged container may still do.

use std::process::Command;

use super::fixture::{Env, all_running, pod_name, privileged, text};

/// A loop device on a small file of the test's own; detached on drop.
struct Loop {
    dev: String,
}

impl Loop {
    fn new(env: &Env) -> Loop {
        let file = env.dir.join("disk.img");
        std::fs::write(&file, vec![0x5au8; 1 << 20]).unwrap();
        let out = Command::new("losetup")
            .args(["--find", "--show"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success(), "losetup: {}", text(&out.stderr));
        Loop {
            dev: text(&out.stdout).trim().to_string(),
        }
    }

    /// (major, minor)
    fn numbers(&self) -> (u64, u64) {
        use std::os::unix::fs::MetadataExt;
        let rdev = std::fs::metadata(&self.dev).unwrap().rdev();
        (
            rustix::fs::major(rdev).into(),
            rustix::fs::minor(rdev).into(),
        )
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.dev]).status();
    }
}

#[test]
fn default_containers_open_only_the_default_devices_privileged_ones_any() {
    if !privileged("default_containers_open_only_the_default_devices_privileged_ones_any") {
        return;
    }
    let mut env = Env::new("sec-devices");
    let disk = Loop::new(&env);
    let (major, minor) = disk.numbers();
    let pod = pod_name("sec-dev");
    env.start(
        &pod,
        &format!(
            "
apiVersion: v1
kind: Pod
metadata: {{name: {pod}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {{name: plain, image: busybox:test, command: [sleep, '3600']}}
  - name: root
    image: busybox:test
    command: [sleep, '3600']
    securityContext: {{privileged: true}}
"
        ),
    );
    env.wait(&pod, "both running", |st| {
        st.container_statuses.len() == 2 && all_running(st)
    });
    let script = format!(
        "mknod /tmp/disk b {major} {minor} && echo made; \
         dd if=/tmp/disk bs=1 count=1 2>/dev/null | od -An -tx1; \
         mknod /tmp/kmsg c 1 11 && echo made; \
         echo hello > /tmp/kmsg && echo wrote; \
         echo x > /dev/null && head -c1 /dev/urandom >/dev/null && echo defaults"
    );
    // The default container may make the nodes but open neither.
    let (_, out) = env.exec(&pod, "plain", &script);
    assert_eq!(out, "made\nmade\ndefaults\n", "default container");
    // The privileged one reads the disk and writes to the kernel log.
    let (_, out) = env.exec(&pod, "root", &script);
    assert_eq!(
        out, "made\n 5a\nmade\nwrote\ndefaults\n",
        "privileged container"
    );
}

/// Python from the host (/usr, /lib, /lib64 bound read-only), to make the system calls
/// busybox has no applet for.
const HOST_PYTHON: &str = "
  - {name: usr, hostPath: {path: /usr}}
  - {name: lib, hostPath: {path: /lib}}
  - {name: lib64, hostPath: {path: /lib64}}";

const PYTHON_MOUNTS: &str = "[{name: usr, mountPath: /usr, readOnly: true}, {name: lib, mountPath: /lib, readOnly: true}, {name: lib64, mountPath: /lib64, readOnly: true}]";

/// add_key("user", "k", "v", 1, KEY_SPEC_PROCESS_KEYRING) and keyctl(KEYCTL_GET_KEYRING_ID,
/// KEY_SPEC_SESSION_KEYRING, 1): prints "add_key=<errno> keyctl=<errno>" (0: it worked).
const KEYRING_PROBE: &str = "/usr/bin/python3 -c 'import ctypes, platform\nlibc = ctypes.CDLL(None, use_errno=True)\nnr = {\"x86_64\": (248, 250), \"aarch64\": (217, 219)}[platform.machine()]\nr = libc.syscall(nr[0], b\"user\", b\"k\", b\"v\", 1, -2)\na = 0 if r >= 0 else ctypes.get_errno()\nr = libc.syscall(nr[1], 0, -3, 1)\nk = 0 if r >= 0 else ctypes.get_errno()\nprint(f\"add_key={a} keyctl={k}\")'";

const DENY_MKDIR: &str = r#"{
  "defaultAction": "SCMP_ACT_ALLOW",
  "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]
}"#;

#[test]
fn seccomp_runtime_default_localhost_and_the_node_default() {
    if !privileged("seccomp_runtime_default_localhost_and_the_node_default") {
        return;
    }
    assert!(
        std::path::Path::new("/usr/bin/python3").exists(),
        "python3 missing: apt-get install -y python3"
    );
    let mut env = Env::new("sec-seccomp");
    let profiles = env.dir.join("root/seccomp/profiles");
    std::fs::create_dir_all(&profiles).unwrap();
    std::fs::write(profiles.join("deny-mkdir.json"), DENY_MKDIR).unwrap();
    let config = env.dir.join("config.toml");
    std::fs::write(&config, "seccomp_default = true\n").unwrap();
    let pod = pod_name("sec-sc");
    let script =
        "unshare -U true 2>/dev/null; echo unshare=$?; mkdir /tmp/d 2>/dev/null; echo mkdir=$?";
    let manifest = format!(
        "
apiVersion: v1
kind: Pod
metadata: {{name: {pod}}}
spec:
  terminationGracePeriodSeconds: 1
  volumes:{HOST_PYTHON}
  containers:
  - name: node-default
    image: busybox:test
    command: [sh, -c, '{script}; exec sleep 3600']
    volumeMounts: {PYTHON_MOUNTS}
  - name: escalating
    image: busybox:test
    command: [sh, -c, '{script}; exec sleep 3600']
    securityContext: {{allowPrivilegeEscalation: true, seccompProfile: {{type: RuntimeDefault}}}}
  - name: unconfined
    image: busybox:test
    command: [sh, -c, '{script}; exec sleep 3600']
    volumeMounts: {PYTHON_MOUNTS}
    securityContext: {{seccompProfile: {{type: Unconfined}}}}
  - name: local
    image: busybox:test
    command: [sh, -c, '{script}; exec sleep 3600']
    securityContext: {{seccompProfile: {{type: Localhost, localhostProfile: profiles/deny-mkdir.json}}}}
"
    );
    let out = env.run_with(&pod, &manifest, &["--config", config.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    env.wait(&pod, "all running", |st| {
        st.container_statuses.len() == 4 && all_running(st)
    });
    // (container, what its PID 1 printed)
    let want = [
        ("node-default", "unshare=1\nmkdir=0\n"),
        ("escalating", "unshare=1\nmkdir=0\n"),
        ("unconfined", "unshare=0\nmkdir=0\n"),
        ("local", "unshare=0\nmkdir=1\n"),
    ];
    for (c, logs) in want {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while env.logs(&pod, c).is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(env.logs(&pod, c), logs, "{c}");
    }
    // Processes started with exec get the container's filter too.
    let (_, out) = env.exec(&pod, "node-default", "unshare -U true 2>&1; echo rc=$?");
    assert!(
        out.ends_with("rc=1\n") && out.contains("Operation not permitted"),
        "{out}"
    );
    let (_, out) = env.exec(&pod, "local", "mkdir /tmp/e 2>&1; echo rc=$?");
    assert!(out.contains("Permission denied"), "{out}");
    // Keyrings: EPERM (1) under RuntimeDefault, allowed unconfined.
    let (_, out) = env.exec(&pod, "node-default", KEYRING_PROBE);
    assert_eq!(out, "add_key=1 keyctl=1\n");
    let (_, out) = env.exec(&pod, "unconfined", KEYRING_PROBE);
    assert_eq!(out, "add_key=0 keyctl=0\n");
}

#[test]
fn localhost_profiles_pealet_cannot_honour_fail_the_container() {
    if !privileged("localhost_profiles_pealet_cannot_honour_fail_the_container") {
        return;
    }
    let mut env = Env::new("sec-badprofile");
    let dir = env.dir.join("root/seccomp");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("gt.json"),
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 9, "op": "SCMP_CMP_GT"}]}]}"#,
    )
    .unwrap();
    let pod = pod_name("sec-bad");
    // `run` reports the refusals and fails; the pod stays, waiting.
    env.run(
        &pod,
        &format!(
            "
apiVersion: v1
kind: Pod
metadata: {{name: {pod}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: gt
    image: busybox:test
    command: [sleep, '3600']
    securityContext: {{seccompProfile: {{type: Localhost, localhostProfile: gt.json}}}}
  - name: missing
    image: busybox:test
    command: [sleep, '3600']
    securityContext: {{seccompProfile: {{type: Localhost, localhostProfile: none.json}}}}
  - name: apparmor
    image: busybox:test
    command: [sleep, '3600']
    securityContext: {{appArmorProfile: {{type: RuntimeDefault}}}}
"
        ),
    );
    let st = env.wait(&pod, "three refusals", |st| {
        st.container_statuses
            .iter()
            .filter(|c| waiting_reason(c).is_some())
            .count()
            == 3
    });
    let message = |name: &str| {
        let c = st
            .container_statuses
            .iter()
            .find(|c| c.name == name)
            .unwrap();
        let (reason, message) = waiting_reason(c).unwrap();
        assert_eq!(reason, "CreateContainerConfigError", "{name}");
        message
    };
    assert!(
        message("gt").contains("SCMP_CMP_GT is not supported"),
        "{}",
        message("gt")
    );
    assert!(
        message("missing").contains("none.json"),
        "{}",
        message("missing")
    );
    let apparmor = message("apparmor");
    if std::path::Path::new("/sys/module/apparmor").exists() {
        assert!(
            apparmor.contains("pealet loads no default AppArmor profile"),
            "{apparmor}"
        );
    } else {
        assert!(
            apparmor.contains("AppArmor is not enabled on the host"),
            "{apparmor}"
        );
    }
}

fn waiting_reason(c: &pealet::spec::ContainerStatus) -> Option<(String, String)> {
    match &c.state {
        pealet::spec::ContainerState::Waiting { reason, message } => {
            let reason = reason.to_string();
            (reason != "ContainerCreating").then(|| {
                (
                    reason,
                    message.as_ref().map(|m| m.to_string()).unwrap_or_default(),
                )
            })
        }
        _ => None,
    }
}

#[test]
fn safe_sysctls_are_set_in_the_pod_unsafe_ones_refused_unless_allowed() {
    if !privileged("safe_sysctls_are_set_in_the_pod_unsafe_ones_refused_unless_allowed") {
        return;
    }
    let mut env = Env::new("sec-sysctl");
    let manifest = |pod: &str, extra: &str| {
        format!(
            "
apiVersion: v1
kind: Pod
metadata: {{name: {pod}}}
spec:
  terminationGracePeriodSeconds: 1
  securityContext:
    sysctls:
    - {{name: net.ipv4.ping_group_range, value: '0 2000'}}
    - {{name: kernel/shm_rmid_forced, value: '1'}}{extra}
  containers:
  - {{name: c, image: busybox:test, command: [sleep, '3600']}}
"
        )
    };
    let host_range = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range").unwrap();
    let safe = pod_name("sec-safe");
    env.start(&safe, &manifest(&safe, ""));
    env.wait(&safe, "running", all_running);
    let (_, out) = env.exec(
        &safe,
        "c",
        "cat /proc/sys/net/ipv4/ping_group_range /proc/sys/kernel/shm_rmid_forced",
    );
    assert_eq!(out, "0\t2000\n1\n");
    // The host's stay as they were.
    let after = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range").unwrap();
    assert_eq!(after, host_range);
    // kernel.msgmax is namespaced but not safe: refused unless the config allows it.
    let unsafe_extra = "\n    - {name: kernel.msgmax, value: '4096'}";
    let refused = pod_name("sec-unsafe");
    let out = env.run(&refused, &manifest(&refused, unsafe_extra));
    env.pods.retain(|p| p != &refused);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("SysctlForbidden") && err.contains("\"kernel.msgmax\" not allowlisted"),
        "{err}"
    );
    let config = env.dir.join("config.toml");
    std::fs::write(&config, "allowed_unsafe_sysctls = [\"kernel.msg*\"]\n").unwrap();
    let allowed = pod_name("sec-allowed");
    let out = env.run_with(
        &allowed,
        &manifest(&allowed, unsafe_extra),
        &["--config", config.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    env.wait(&allowed, "running", all_running);
    let (_, out) = env.exec(&allowed, "c", "cat /proc/sys/kernel/msgmax");
    assert_eq!(out, "4096\n");
}

/// A setuid-root copy of busybox that a container leaves in its emptyDir (and in its
/// writable layer) does nothing for a local user of the host: the pod's directories are
/// root's alone.
#[test]
fn setuid_files_from_containers_are_useless_to_local_users() {
    if !privileged("setuid_files_from_containers_are_useless_to_local_users") {
        return;
    }
    let mut env = Env::new("sec-setuid");
    let pod = pod_name("sec-suid");
    env.start(
        &pod,
        &format!(
            "
apiVersion: v1
kind: Pod
metadata: {{name: {pod}}}
spec:
  terminationGracePeriodSeconds: 1
  volumes: [{{name: data, emptyDir: {{}}}}]
  containers:
  - name: c
    image: busybox:test
    command: [sh, -c, 'cp /bin/busybox /data/sh && chmod 4755 /data/sh && cp /bin/busybox /rootsh && chmod 4755 /rootsh && exec sleep 3600']
    volumeMounts: [{{name: data, mountPath: /data}}]
"
        ),
    );
    env.wait(&pod, "running", all_running);
    let root = env.dir.join("root");
    let run = env.dir.join("run");
    let volume = root.join(format!("pods/{pod}/volumes/data/sh"));
    let layer = run.join(format!("pods/{pod}/containers/c/upper/rootsh"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !(volume.exists() && layer.exists()) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    use std::os::unix::fs::PermissionsExt;
    for file in [&volume, &layer] {
        let mode = std::fs::metadata(file).unwrap().permissions().mode();
        assert_eq!(mode & 0o4000, 0o4000, "{} is setuid", file.display());
        // As nobody, logged in as a local user is (su; setpriv keeps capabilities
        // across its own execve): the file cannot even be reached.
        let out = Command::new("su")
            .args(["nobody", "-s", "/bin/sh", "-c"])
            .arg(format!("{} -c 'id -u'", file.display()))
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "{}: {}",
            file.display(),
            text(&out.stdout)
        );
        assert!(
            text(&out.stderr).contains("Permission denied"),
            "{}",
            text(&out.stderr)
        );
    }
    // Specs, statuses and logs: root's only.
    for dir in [root.join("pods"), run.join("pods")] {
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "{}", dir.display());
    }
    for file in ["spec", "status"] {
        let path = run.join(format!("pods/{pod}/{file}"));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{}", path.display());
    }
    // The container itself still runs as any user: its volume works for uid 1000.
    let (_, out) = env.exec(
        &pod,
        "c",
        "su app -c 'echo hi > /data/app && cat /data/app'",
    );
    assert_eq!(out, "hi\n");
}

/// An on-disk emptyDir over its sizeLimit: the pod is killed and fails as the kubelet
/// evicts it.
#[test]
fn an_empty_dir_over_its_size_limit_evicts_the_pod() {
    if !privileged("an_empty_dir_over_its_size_limit_evicts_the_pod") {
        return;
    }
    let mut env = Env::new("sec-evict");
    let pod = pod_name("sec-evict");
    env.start(
        &pod,
        &format!(
            "
apiVersion: v1
kind: Pod
metadata: {{name: {pod}}}
spec:
  terminationGracePeriodSeconds: 30
  volumes: [{{name: scratch, emptyDir: {{sizeLimit: 10Mi}}}}]
  containers:
  - name: c
    image: busybox:test
    command: [sh, -c, 'dd if=/dev/zero of=/scratch/big bs=1M count=12 && exec sleep 3600']
    volumeMounts: [{{name: scratch, mountPath: /scratch}}]
"
        ),
    );
    let st = env.wait(&pod, "evicted", |st| {
        st.phase == pealet::spec::PodPhase::Failed
            && st
                .container_statuses
                .iter()
                .all(|c| matches!(c.state, pealet::spec::ContainerState::Terminated { .. }))
    });
    assert_eq!(st.reason, Some(pealet::spec::Reason::Evicted));
    assert_eq!(
        st.message.as_deref().map(|m| m.to_string()),
        Some("Usage of EmptyDir volume \"scratch\" exceeds the limit \"10Mi\".".to_string())
    );
}

/// `image import --strip-setuid` of a root file system whose layer the store already
/// has (imported before without the option) clears the bits in the stored layer too.
#[test]
fn strip_setuid_applies_to_layers_already_stored() {
    if !privileged("strip_setuid_applies_to_layers_already_stored") {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new("sec-strip");
    let rootfs = env.dir.join("suid-rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::write(rootfs.join("bin/tool"), b"#!/bin/sh\n").unwrap();
    std::fs::set_permissions(
        rootfs.join("bin/tool"),
        std::fs::Permissions::from_mode(0o6755),
    )
    .unwrap();
    let import = |name: &str, strip: bool| {
        let mut args = vec!["image", "import", rootfs.to_str().unwrap(), "--name", name];
        if strip {
            args.push("--strip-setuid");
        }
        let out = env.pealet(&args);
        assert!(out.status.success(), "{}", text(&out.stderr));
    };
    let layer_modes = || -> Vec<u32> {
        std::fs::read_dir(env.dir.join("root/layers/sha256"))
            .unwrap()
            .filter_map(|l| {
                let tool = l.unwrap().path().join("bin/tool");
                std::fs::symlink_metadata(tool).ok()
            })
            .map(|m| m.permissions().mode() & 0o7777)
            .collect()
    };
    import("suid:plain", false);
    assert_eq!(layer_modes(), [0o6755]);
    import("suid:stripped", true);
    assert_eq!(layer_modes(), [0o755]);
}

/// /etc/hosts and the termination log are writable (as with the kubelet) but live on the
/// pod's small tmpfs: a container cannot fill the host's /run through them.
#[test]
fn files_a_container_may_write_are_bounded() {
    if !privileged("files_a_container_may_write_are_bounded") {
        return;
    }
    let mut env = Env::new("sec-files");
    let pod = pod_name("sec-files");
    env.start(
        &pod,
        &format!(
            "
apiVersion: v1
kind: Pod
metadata: {{name: {pod}}}
spec:
  terminationGracePeriodSeconds: 1
  restartPolicy: Never
  containers:
  - name: c
    image: busybox:test
    command: [sh, -c, 'grep -q localhost /etc/hosts && echo hosts-ok; dd if=/dev/zero of=/etc/hosts bs=1M count=64 2>&1 | grep -o \"No space left\"; : > /etc/hosts; dd if=/dev/zero of=/dev/termination-log bs=1M count=64 2>&1 | grep -o \"No space left\"; echo done > /dev/termination-log']
"
        ),
    );
    let st = env.wait(&pod, "finished", |st| {
        matches!(
            st.phase,
            pealet::spec::PodPhase::Succeeded | pealet::spec::PodPhase::Failed
        )
    });
    assert_eq!(
        env.logs(&pod, "c"),
        "hosts-ok\nNo space left\nNo space left\n"
    );
    assert_eq!(st.phase, pealet::spec::PodPhase::Succeeded);
    match &st.container_statuses[0].state {
        pealet::spec::ContainerState::Terminated { message, .. } => {
            assert_eq!(
                message.as_deref().map(|m| m.to_string()),
                Some("done\n".into())
            );
        }
        other => panic!("{other:?}"),
    }
}
