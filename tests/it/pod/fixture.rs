//! The pod tests' fixture: a temp --root and --run-dir with `busybox:test` imported,
//! `pealet` commands in them, status reads and waits, and cleanup checks on drop.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use pealet::shim::state;
use pealet::spec::{ContainerState, PodStatus};

/// Whether privileged tests run: as root, or loudly skipped on request, else a failure.
pub(crate) fn privileged(test: &str) -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    if std::env::var_os("PEALET_SKIP_PRIVILEGED").is_some_and(|v| v == "1") {
        eprintln!("SKIPPED {test}: needs root (PEALET_SKIP_PRIVILEGED=1)");
        return false;
    }
    panic!("{test} needs root; set PEALET_SKIP_PRIVILEGED=1 to skip privileged tests");
}

pub(crate) fn mount_count() -> usize {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .count()
}

/// A test's own root and run directory with the image `busybox:test` imported.
pub(crate) struct Env {
    pub(crate) dir: PathBuf,
    pub(crate) pods: Vec<String>,
    mounts_before: usize,
}

impl Env {
    pub(crate) fn new(test: &str) -> Env {
        let dir = std::env::temp_dir().join(format!("pealet-pod-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let rootfs = dir.join("rootfs");
        for d in ["bin", "etc", "tmp", "proc", "sys", "dev", "data"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("busybox missing: apt-get install -y busybox-static");
        std::fs::copy(busybox, rootfs.join("bin/busybox")).unwrap();
        let list = Command::new(busybox).arg("--list").output().unwrap();
        for applet in String::from_utf8(list.stdout).unwrap().lines() {
            let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet));
        }
        std::fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/:/bin/sh\napp:x:1000:1000::/:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            rootfs.join("etc/group"),
            "root:x:0:\napp:x:1000:\nextra:x:2000:app\n",
        )
        .unwrap();
        let env = Env {
            dir,
            pods: Vec::new(),
            mounts_before: mount_count(),
        };
        let out = env.pealet(&[
            "image",
            "import",
            rootfs.to_str().unwrap(),
            "--name",
            "busybox:test",
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        env
    }

    pub(crate) fn command(&self, args: &[&str]) -> Command {
        self.command_under(&[], args)
    }

    /// As [`Env::command`], run by `wrapper` (its words, then pealet's) if not empty.
    pub(crate) fn command_under(&self, wrapper: &[String], args: &[&str]) -> Command {
        let pealet = env!("CARGO_BIN_EXE_pealet");
        let mut cmd = match wrapper.split_first() {
            None => Command::new(pealet),
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(pealet);
                c
            }
        };
        cmd.arg("--root").arg(self.dir.join("root"));
        cmd.arg("--run-dir").arg(self.dir.join("run")).args(args);
        cmd.stdin(Stdio::null());
        cmd
    }

    pub(crate) fn pealet(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// `pealet run --detach` of a manifest; the pod is removed when the test ends.
    pub(crate) fn run(&mut self, name: &str, manifest: &str) -> Output {
        self.run_with(name, manifest, &[])
    }

    /// [`Env::run`] with more options of `pealet run`.
    pub(crate) fn run_with(&mut self, name: &str, manifest: &str, options: &[&str]) -> Output {
        let file = self.dir.join(format!("{name}.yaml"));
        std::fs::write(&file, manifest).unwrap();
        self.pods.push(name.to_string());
        let mut args = vec!["run", "--detach", file.to_str().unwrap()];
        args.extend_from_slice(options);
        self.pealet(&args)
    }

    pub(crate) fn start(&mut self, name: &str, manifest: &str) {
        let out = self.run(name, manifest);
        assert!(
            out.status.success(),
            "run {name}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }

    pub(crate) fn status(&self, pod: &str) -> PodStatus {
        let st = state::read(&self.dir.join("root"), &self.dir.join("run"), pod).unwrap();
        st.status.expect("a status file")
    }

    /// Wait (generously) until `cond` holds for the pod's status.
    pub(crate) fn wait(
        &self,
        pod: &str,
        what: &str,
        cond: impl Fn(&PodStatus) -> bool,
    ) -> PodStatus {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let root = self.dir.join("root");
            let st = state::read(&root, &self.dir.join("run"), pod)
                .ok()
                .and_then(|s| s.status);
            if let Some(st) = st.as_ref().filter(|st| cond(st)) {
                return st.clone();
            }
            assert!(
                Instant::now() < deadline,
                "pod {pod}: {what} never happened: {st:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `pealet exec` in a container: (exit code, stdout).
    pub(crate) fn exec(&self, pod: &str, container: &str, script: &str) -> (i32, String) {
        let out = self.pealet(&["exec", pod, "-c", container, "--", "sh", "-c", script]);
        eprint!("{}", text(&out.stderr));
        (out.status.code().unwrap_or(-1), text(&out.stdout))
    }

    pub(crate) fn logs(&self, pod: &str, container: &str) -> String {
        text(&self.pealet(&["logs", pod, "-c", container]).stdout)
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for pod in &self.pods {
            let out = self.pealet(&["rm", pod]);
            if !std::thread::panicking() {
                assert!(out.status.success(), "rm {pod}: {}", text(&out.stderr));
                assert!(!cgroup_exists(pod), "cgroup of {pod} left behind");
            }
        }
        if !std::thread::panicking() {
            assert_eq!(
                mount_count(),
                self.mounts_before,
                "mounts leaked on the host"
            );
            assert!(
                !self
                    .dir
                    .join("run/pods")
                    .read_dir()
                    .is_ok_and(|mut d| d.next().is_some()),
                "run directory state left behind"
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A client process that must not outlive a failed test.
pub(crate) struct KillOnDrop(pub(crate) std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The pod's cgroup directory in any hierarchy (v2, or the v1 pids/memory/cpu ones).
pub(crate) fn cgroup_dir(pod: &str, controller: &str) -> PathBuf {
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let base = if v2 {
        PathBuf::from("/sys/fs/cgroup")
    } else {
        Path::new("/sys/fs/cgroup").join(controller)
    };
    // `pealet-<id of the test's root>`: the pod's name is the test's own.
    let parents = std::fs::read_dir(&base).into_iter().flatten().flatten();
    parents
        .map(|e| e.path().join(pod))
        .find(|p| {
            p.parent()
                .is_some_and(|d| d.to_string_lossy().contains("/pealet-"))
                && p.exists()
        })
        .unwrap_or_else(|| base.join("pealet-none").join(pod))
}

pub(crate) fn cgroup_exists(pod: &str) -> bool {
    ["pids", "memory", "cpu"]
        .iter()
        .any(|c| cgroup_dir(pod, c).exists())
}

pub(crate) fn pod_name(base: &str) -> String {
    format!("{base}-{}", std::process::id())
}

pub(crate) fn all_running(st: &PodStatus) -> bool {
    st.container_statuses
        .iter()
        .all(|c| matches!(c.state, ContainerState::Running { .. }))
}

/// Children of `parent` that are zombies, from /proc.
pub(crate) fn zombie_children(parent: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) S ppid ...": the command may hold spaces and parentheses.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let (state, ppid) = (fields.next(), fields.next());
        if state == Some("Z") && ppid.and_then(|p| p.parse().ok()) == Some(parent) {
            out.push(pid);
        }
    }
    out
}
