//! Containers on the real kernel, as root: `pealet init` started the way the shim
//! starts it, in pod sandboxes held by `pealet sandbox`, on a busybox root file system.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};

use pealet::runtime::caps;
use pealet::runtime::config::{ContainerConfig, Mount, MountKind, SetupFailed, Step};
use pealet::runtime::config::{MASKED_PATHS, READONLY_PATHS};
use pealet::runtime::init::{self, SpawnError};

/// Whether privileged tests run: as root, or loudly skipped on request, else a failure.
fn privileged(test: &str) -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    if std::env::var_os("PEALET_SKIP_PRIVILEGED").is_some_and(|v| v == "1") {
        eprintln!("SKIPPED {test}: needs root (PEALET_SKIP_PRIVILEGED=1)");
        return false;
    }
    panic!("{test} needs root; set PEALET_SKIP_PRIVILEGED=1 to skip privileged tests");
}

fn mount_count() -> usize {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .count()
}

/// A test's scratch directory with a one-layer busybox image.
struct Fixture {
    dir: PathBuf,
    layer: PathBuf,
    instances: usize,
    mounts_before: usize,
}

impl Fixture {
    fn new(name: &str) -> Fixture {
        let dir = std::env::temp_dir().join(format!("pealet-rt-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let layer = dir.join("layer");
        for d in ["bin", "etc", "tmp", "proc", "sys", "dev"] {
            std::fs::create_dir_all(layer.join(d)).unwrap();
        }
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("busybox missing: apt-get install -y busybox-static");
        std::fs::copy(busybox, layer.join("bin/busybox")).unwrap();
        let list = Command::new(busybox).arg("--list").output().unwrap();
        for applet in String::from_utf8(list.stdout).unwrap().lines() {
            let _ = std::os::unix::fs::symlink("busybox", layer.join("bin").join(applet));
        }
        std::fs::write(layer.join("etc/passwd"), "root:x:0:0:root:/:/bin/sh\n").unwrap();
        Fixture {
            dir,
            layer,
            instances: 0,
            mounts_before: mount_count(),
        }
    }

    /// A config for a fresh container instance running `sh -c script`.
    fn config(&mut self, script: &str) -> ContainerConfig {
        self.instances += 1;
        let inst = self.dir.join(format!("c{}", self.instances));
        for d in ["upper", "work", "rootfs"] {
            std::fs::create_dir_all(inst.join(d)).unwrap();
        }
        let s = |p: PathBuf| p.to_string_lossy().into_owned();
        ContainerConfig {
            layers: vec![s(self.layer.clone())],
            upper: s(inst.join("upper")),
            work: s(inst.join("work")),
            rootfs: s(inst.join("rootfs")),
            hostname: Some("solo".into()),
            argv: vec!["sh".into(), "-c".into(), script.into()],
            env: vec!["PATH=/bin".into()],
            cwd: "/".into(),
            capabilities: caps::DEFAULT.bits(),
            no_new_privs: true,
            masked_paths: MASKED_PATHS.iter().map(|p| p.to_string()).collect(),
            readonly_paths: READONLY_PATHS.iter().map(|p| p.to_string()).collect(),
            ..ContainerConfig::default()
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            assert_eq!(
                mount_count(),
                self.mounts_before,
                "mounts leaked on the host"
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn pealet() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pealet"));
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn start(config: &ContainerConfig) -> Result<init::Started, SpawnError> {
    init::spawn(pealet(), config)
}

/// Run a container to its end; its output, with stderr shown when it failed.
fn run(config: &ContainerConfig) -> Output {
    let started = start(config).unwrap_or_else(|e| panic!("{e}"));
    let out = started.child.wait_with_output().unwrap();
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn setup_failure(config: &ContainerConfig) -> SetupFailed {
    match start(config) {
        Err(SpawnError::Setup(f)) => f,
        other => panic!("expected a set-up failure, got {other:?}"),
    }
}

/// A pod sandbox held by `pealet sandbox` until dropped.
struct Pod {
    holder: Child,
    stdin: Option<ChildStdin>,
    dir: PathBuf,
}

impl Pod {
    fn new(fixture: &Fixture, name: &str) -> Pod {
        let dir = fixture.dir.join("pod");
        std::fs::create_dir_all(&dir).unwrap();
        let mut holder = pealet()
            .args(["sandbox".as_ref(), dir.as_os_str(), name.as_ref()])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(holder.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "ready\n", "pealet sandbox did not start");
        let stdin = holder.stdin.take();
        Pod { holder, stdin, dir }
    }

    /// `config` joined to this pod: its namespaces, shm and /etc files.
    fn join(&self, mut config: ContainerConfig) -> ContainerConfig {
        let sandbox = pealet::runtime::sandbox::Sandbox {
            dir: self.dir.clone(),
            holder: self.holder.id(),
        };
        config.join = sandbox.joins();
        config.shm = Some(sandbox.shm());
        config.mounts.extend(sandbox.etc_mounts());
        config.hostname = None;
        config
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.flush();
        }
        let status = self.holder.wait().unwrap();
        assert!(status.success() || std::thread::panicking(), "{status}");
    }
}

#[test]
fn container_is_pid_1_and_sees_only_its_processes() {
    if !privileged("container_is_pid_1_and_sees_only_its_processes") {
        return;
    }
    let mut fx = Fixture::new("pid1");
    let out = run(&fx.config("hostname; echo $$; ps -o pid,comm"));
    assert!(out.status.success());
    let text = stdout(&out);
    let mut lines = text.lines();
    assert_eq!((lines.next(), lines.next()), (Some("solo"), Some("1")));
    // sh execs its last command, so ps is PID 1 and the only process there is.
    let procs: Vec<(u32, String)> = lines
        .skip(1)
        .map(|l| {
            let (pid, comm) = l.trim().split_once(' ').unwrap();
            (pid.parse().unwrap(), comm.trim().to_string())
        })
        .collect();
    assert_eq!(procs, [(1, "ps".to_string())], "{text}");
}

#[test]
fn pod_containers_share_localhost_shm_ipc_and_hostname() {
    if !privileged("pod_containers_share_localhost_shm_ipc_and_hostname") {
        return;
    }
    let mut fx = Fixture::new("pod");
    let pod = Pod::new(&fx, "web-pod");
    let server = pod.join(fx.config(
        "echo shared > /dev/shm/note; readlink /proc/self/ns/ipc > /dev/shm/ipc; \
         hostname; nc -l -p 5000 -e sh -c 'read line; echo $line > /dev/shm/got'; \
         cat /dev/shm/got",
    ));
    let client = pod.join(fx.config(
        "until netstat -ltn | grep -q ':5000 '; do sleep 0.05; done; \
         cat /dev/shm/note; readlink /proc/self/ns/ipc | cmp - /dev/shm/ipc && echo same-ipc; \
         cat /etc/hostname; echo hello-over-lo | nc 127.0.0.1 5000",
    ));
    let server = start(&server).unwrap();
    let client = run(&client);
    let server = server.child.wait_with_output().unwrap();
    assert!(client.status.success() && server.status.success());
    assert_eq!(stdout(&server), "web-pod\nhello-over-lo\n");
    assert_eq!(stdout(&client), "shared\nsame-ipc\nweb-pod\n");
}

#[test]
fn readonly_root_refuses_writes() {
    if !privileged("readonly_root_refuses_writes") {
        return;
    }
    let mut fx = Fixture::new("ro");
    let mut config = fx.config("touch /tmp/x 2>&1; echo tmpfs > /dev/shm/ok && echo shm-ok");
    config.readonly_rootfs = true;
    let out = run(&config);
    assert!(stdout(&out).contains("Read-only file system"), "{out:?}");
    assert!(stdout(&out).ends_with("shm-ok\n"));
}

#[test]
fn dropped_capabilities_show_in_proc_status() {
    if !privileged("dropped_capabilities_show_in_proc_status") {
        return;
    }
    let mut fx = Fixture::new("caps");
    let mut config = fx.config("grep -E '^Cap(Eff|Bnd)|^NoNewPrivs' /proc/self/status");
    let set = caps::resolve(false, &["NET_ADMIN"], &["CHOWN", "NET_RAW", "SETPCAP"]).unwrap();
    config.capabilities = set.bits();
    let out = run(&config);
    let want = format!("{:016x}", set.bits());
    assert_eq!(
        stdout(&out),
        format!("CapEff:\t{want}\nCapBnd:\t{want}\nNoNewPrivs:\t1\n")
    );
}

#[test]
fn masked_and_readonly_paths() {
    if !privileged("masked_and_readonly_paths") {
        return;
    }
    let mut fx = Fixture::new("mask");
    let out = run(&fx.config(
        "cat /proc/timer_list | wc -c; ls /sys/firmware | wc -l; \
         echo 1 > /proc/sys/kernel/domainname 2>/dev/null || echo proc-sys-ro",
    ));
    assert_eq!(stdout(&out), "0\n0\nproc-sys-ro\n");
}

#[test]
fn setup_failures_name_their_step() {
    if !privileged("setup_failures_name_their_step") {
        return;
    }
    let mut fx = Fixture::new("fail");
    let mut config = fx.config("true");
    config.argv = vec!["no-such-program".into()];
    let f = setup_failure(&config);
    assert_eq!((f.step, f.errno), (Step::Exec, libc::ENOENT), "{f}");
    assert_eq!(
        f.to_string(),
        "execve no-such-program: No such file or directory (os error 2)"
    );

    let mut config = fx.config("true");
    config.mounts.push(Mount {
        kind: MountKind::Bind,
        source: "/nonexistent/volume".into(),
        sub_path: None,
        destination: "/data".into(),
        readonly: false,
    });
    let f = setup_failure(&config);
    assert_eq!((f.step, f.errno), (Step::MountVolume, libc::ENOENT), "{f}");
}

#[test]
fn overlay_upper_layer_is_fresh_per_instance() {
    if !privileged("overlay_upper_layer_is_fresh_per_instance") {
        return;
    }
    let mut fx = Fixture::new("upper");
    let first = fx.config("echo one > /written; cat /written");
    assert_eq!(stdout(&run(&first)), "one\n");
    assert!(Path::new(&first.upper).join("written").exists());
    let second = fx.config("cat /written 2>/dev/null || echo absent");
    assert_eq!(stdout(&run(&second)), "absent\n");
    assert!(
        !fx.layer.join("written").exists(),
        "the image layer was written"
    );
}

#[test]
fn subpath_escapes_are_refused() {
    if !privileged("subpath_escapes_are_refused") {
        return;
    }
    let mut fx = Fixture::new("subpath");
    let volume = fx.dir.join("volume");
    std::fs::create_dir_all(volume.join("inner")).unwrap();
    std::os::unix::fs::symlink("/etc", volume.join("to-host")).unwrap();
    std::os::unix::fs::symlink("../..", volume.join("inner/up")).unwrap();
    for sub in ["../", "inner/../../x", "to-host", "inner/up/etc"] {
        let mut config = fx.config("true");
        config.mounts.push(Mount {
            kind: MountKind::Bind,
            source: volume.to_string_lossy().into_owned(),
            sub_path: Some(sub.into()),
            destination: "/data".into(),
            readonly: false,
        });
        let f = setup_failure(&config);
        assert_eq!(
            (f.step, f.errno),
            (Step::ResolvePath, libc::EXDEV),
            "{sub}: {f}"
        );
    }
    // A subPath inside the volume works, and a read-only one is read-only.
    let mut config = fx.config("echo in > /data/f && echo > /ro/g 2>/dev/null || echo ro");
    for (dest, readonly) in [("/data", false), ("/ro", true)] {
        config.mounts.push(Mount {
            kind: MountKind::Bind,
            source: volume.to_string_lossy().into_owned(),
            sub_path: Some("inner/new".into()),
            destination: dest.into(),
            readonly,
        });
    }
    assert_eq!(stdout(&run(&config)), "ro\n");
    assert_eq!(
        std::fs::read_to_string(volume.join("inner/new/f")).unwrap(),
        "in\n"
    );
}
