//! cgroups on the real kernel, as root: limits read back from the kernel's files, a
//! process moved in, killed and removed, and an OOM kill counted. Each test works under a
//! parent of its own (`pealet-test-<pid>-<test>`) and leaves nothing behind.

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use pealet::runtime::cgroup::{self, CgroupPath, Cgroups, Controllers, Limits};

const ROOT: &str = "/sys/fs/cgroup";

/// Root runs the test; anyone else fails it, unless PEALET_SKIP_PRIVILEGED=1 asks to skip.
fn privileged(test: &str) -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    if std::env::var("PEALET_SKIP_PRIVILEGED").as_deref() == Ok("1") {
        eprintln!("SKIPPED {test}: needs root (PEALET_SKIP_PRIVILEGED=1)");
        return false;
    }
    panic!("{test} needs root to create cgroups; set PEALET_SKIP_PRIVILEGED=1 to skip it");
}

fn parent(test: &str) -> PathBuf {
    PathBuf::from(format!("pealet-test-{}-{test}", std::process::id()))
}

/// Where `parent` would be in every hierarchy under the root (v1: one per controller).
fn places(parent: &Path) -> Vec<PathBuf> {
    let root = Path::new(ROOT);
    if root.join("cgroup.controllers").exists() {
        return vec![root.join(parent)];
    }
    let mounts = std::fs::read_dir(root).unwrap();
    mounts.map(|m| m.unwrap().path().join(parent)).collect()
}

fn assert_gone(parent: &Path) {
    for place in places(parent) {
        assert!(!place.exists(), "{} is left behind", place.display());
    }
}

/// A kernel file of `cg` for `controller`, wherever this host mounts it.
fn kernel_file(cg: &CgroupPath, controller: u8, file: &str) -> String {
    let root = Path::new(ROOT);
    let base = if root.join("cgroup.controllers").exists() {
        root.to_path_buf()
    } else {
        let names: &[&str] = match controller {
            Controllers::MEMORY => &["memory"],
            Controllers::CPU => &["cpu", "cpu,cpuacct"],
            _ => &["pids"],
        };
        let found = names.iter().map(|n| root.join(n)).find(|d| d.is_dir());
        found.expect("the controller is mounted")
    };
    let path = base.join(cg.as_path()).join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    text.trim().to_string()
}

fn open(test: &str) -> Box<dyn Cgroups> {
    let parent = parent(test);
    assert_gone(&parent);
    let cg = cgroup::open(Path::new(ROOT), &parent).unwrap();
    let info = cg.info();
    assert_ne!(
        info.version, 0,
        "this host has a cgroup hierarchy at {ROOT}"
    );
    assert_eq!(
        info,
        cgroup::detect(Path::new(ROOT)),
        "every controller found is usable"
    );
    cg
}

/// A child that waits for a line on its stdin before it runs `script`, so that it is in
/// its cgroup before it does anything.
fn held(script: &str) -> Child {
    Command::new("sh")
        .args(["-c", &format!("read go; {script}")])
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn sh")
}

fn release(child: &mut Child) {
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
}

#[test]
fn limits_members_kill_and_removal_on_the_kernel() {
    if !privileged("limits_members_kill_and_removal_on_the_kernel") {
        return;
    }
    let cg = open("limits");
    let enforced = cg.info().enforced;
    let limits = Limits {
        memory: Some(64 << 20),
        cpu_limit: Some(500),
        cpu_request: Some(250),
        pids: Some(64),
    };
    let pod = cg.create_pod("pod-a", &limits).unwrap();
    let has = |c: u8| enforced.0 & c != 0;
    let v2 = cg.info().version == 2;
    if has(Controllers::MEMORY) {
        let file = if v2 {
            "memory.max"
        } else {
            "memory.limit_in_bytes"
        };
        let read = kernel_file(&pod, Controllers::MEMORY, file);
        assert_eq!(read, "67108864");
    }
    if has(Controllers::CPU) && v2 {
        assert_eq!(
            kernel_file(&pod, Controllers::CPU, "cpu.max"),
            "50000 100000"
        );
        assert_eq!(kernel_file(&pod, Controllers::CPU, "cpu.weight"), "10");
    } else if has(Controllers::CPU) {
        assert_eq!(
            kernel_file(&pod, Controllers::CPU, "cpu.cfs_period_us"),
            "100000"
        );
        assert_eq!(
            kernel_file(&pod, Controllers::CPU, "cpu.cfs_quota_us"),
            "50000"
        );
        assert_eq!(kernel_file(&pod, Controllers::CPU, "cpu.shares"), "256");
    }
    if has(Controllers::PIDS) {
        assert_eq!(kernel_file(&pod, Controllers::PIDS, "pids.max"), "64");
    }

    let c = cg
        .create_container(&pod, "sleeper", &Limits::default())
        .unwrap();
    let mut child = held("exec sleep 1000");
    cg.add_pid(&c, child.id()).unwrap();
    release(&mut child);
    assert_eq!(cg.pids(&pod).unwrap(), vec![child.id()]);
    let own = std::fs::read_to_string(format!("/proc/{}/cgroup", child.id())).unwrap();
    assert!(own.contains(&format!("/{c}\n")), "{own}");

    assert_eq!(cg.oom_kills(&c).unwrap(), 0);

    // Removal right after the kill, while the kernel may still count the dying child:
    // remove waits for it. The child is reaped only afterwards.
    cg.kill_all(&pod).unwrap();
    cg.remove(&pod).unwrap();
    assert_gone(&parent("limits"));
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "{status:?}");
}

#[test]
fn a_process_over_its_memory_limit_is_oom_killed_and_counted() {
    if !privileged("a_process_over_its_memory_limit_is_oom_killed_and_counted") {
        return;
    }
    let cg = open("oom");
    assert!(
        cg.info().enforced.0 & Controllers::MEMORY != 0,
        "the memory controller is enforced on this host"
    );
    let pod = cg.create_pod("pod-oom", &Limits::default()).unwrap();
    let memory = Limits {
        memory: Some(32 << 20),
        ..Limits::default()
    };
    let c = cg.create_container(&pod, "hog", &memory).unwrap();
    // Touch up to 256 MiB in 1 MiB steps, then stop: bounded even if the limit failed.
    let hog = if Command::new("python3").arg("-V").output().is_ok() {
        "exec python3 -c 'l = [b\"x\" * (1 << 20) for _ in range(256)]'"
    } else {
        "i=0; x=a; while [ $i -lt 28 ]; do x=$x$x; i=$((i+1)); done"
    };
    let mut child = held(hog);
    cg.add_pid(&c, child.id()).unwrap();
    release(&mut child);
    let status = child.wait().unwrap();

    assert_eq!(
        status.signal(),
        Some(9),
        "killed by the OOM killer: {status:?}"
    );
    assert!(cg.oom_kills(&c).unwrap() >= 1, "the OOM kill is counted");
    cg.remove(&pod).unwrap();
    assert_gone(&parent("oom"));
}

/// The v2 code on a real cgroup2 filesystem: a hybrid host mounts one, without
/// controllers, at `<root>/unified`. Grouping, cgroup.kill and removal work there.
#[test]
fn v2_on_the_unified_mount_of_a_hybrid_host() {
    if !privileged("v2_on_the_unified_mount_of_a_hybrid_host") {
        return;
    }
    let root = Path::new(ROOT).join("unified");
    if !root.join("cgroup.controllers").exists()
        || Path::new(ROOT).join("cgroup.controllers").exists()
    {
        eprintln!("NOT APPLICABLE v2_on_the_unified_mount_of_a_hybrid_host: not a hybrid host");
        return;
    }
    let parent = parent("unified");
    assert!(!root.join(&parent).exists());
    let cg = cgroup::open(&root, &parent).unwrap();
    assert_eq!(cg.info(), cgroup::detect(&root));
    assert_eq!(cg.info().version, 2);
    let pod = cg.create_pod("pod-u", &Limits::default()).unwrap();
    let c = cg.create_container(&pod, "c", &Limits::default()).unwrap();
    let mut child = held("exec sleep 1000");
    cg.add_pid(&c, child.id()).unwrap();
    release(&mut child);
    assert_eq!(cg.pids(&pod).unwrap(), vec![child.id()]);
    cg.kill_all(&pod).unwrap();
    cg.remove(&pod).unwrap();
    assert!(
        !root.join(&parent).exists(),
        "nothing left under {}",
        root.display()
    );
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "{status:?}");
}

/// The device rules on the kernel: v1's devices controller under /sys/fs/cgroup, and the
/// v2 device program in the unified hierarchy (a hybrid host's /sys/fs/cgroup/unified, or
/// the root of a v2 host): a process in the container's cgroup writes to /dev/null but
/// cannot open /dev/kmsg; one outside can.
#[test]
fn device_rules_on_v1_and_as_a_v2_device_program() {
    if !privileged("device_rules_on_v1_and_as_a_v2_device_program") {
        return;
    }
    let script = "echo x > /dev/null && echo null; head -c0 /dev/kmsg && echo kmsg";
    let unified = [ROOT, "/sys/fs/cgroup/unified"].into_iter().find(|r| {
        Path::new(r).join("cgroup.procs").exists()
            && Path::new(r).join("cgroup.controllers").exists()
    });
    let mut roots: Vec<(&str, u8)> = Vec::new();
    if Path::new(ROOT).join("devices/devices.allow").exists() {
        roots.push((ROOT, 1));
    }
    if let Some(u) = unified {
        roots.push((u, 2));
    }
    assert!(
        !roots.is_empty(),
        "no devices controller and no cgroup2 mount"
    );
    for (root, version) in roots {
        let parent = parent(&format!("devices-v{version}"));
        let cg = if version == 2 {
            Box::new(cgroup::V2::open(Path::new(root), &parent).unwrap()) as Box<dyn Cgroups>
        } else {
            cgroup::open(Path::new(root), &parent).unwrap()
        };
        assert!(
            cg.info().enforced.0 & Controllers::DEVICES != 0,
            "v{version}: devices enforced"
        );
        let pod = cg.create_pod("pod", &Limits::default()).unwrap();
        let c = cg.create_container(&pod, "c", &Limits::default()).unwrap();
        cg.restrict_devices(&c, pealet::runtime::devices::DEFAULT)
            .unwrap();
        let mut child = Command::new("sh")
            .args(["-c", &format!("read go; {script}")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        if version == 2 {
            let procs = Path::new(root).join(c.as_path()).join("cgroup.procs");
            std::fs::write(procs, pid.to_string()).unwrap();
        } else {
            cg.add_pid(&c, pid).unwrap();
        }
        release(&mut child);
        let out = child.wait_with_output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "null\n", "v{version}");
        cg.remove(&pod).unwrap();
        let outside = Command::new("sh").args(["-c", script]).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&outside.stdout), "null\nkmsg\n");
        if version == 2 {
            let _ = std::fs::remove_dir(Path::new(root).join(&parent));
        }
        assert!(!Path::new(root).join(&parent).join("pod").exists());
    }
}
