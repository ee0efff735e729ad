//! cgroup v2 (unified): one hierarchy, controllers enabled for children through each
//! ancestor's `cgroup.subtree_control`, processes only in leaves.

use std::path::{Path, PathBuf};

use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{Mode, OFlags};

use crate::runtime::devices::Rule;

use super::files::{self, keyed_value, make_dir, read_optional, write, write_if_present};
use super::{CPU_PERIOD_US, CgroupError, CgroupInfo, CgroupPath, Cgroups, Controllers, Limits};

/// Attempts at creating a cgroup whose parent another pod's removal took away meanwhile.
const CREATE_ATTEMPTS: usize = 3;

#[derive(Debug)]
pub struct V2 {
    root: PathBuf,
    parent: PathBuf,
    enforced: Controllers,
    /// Whether the kernel loads device programs (`CONFIG_CGROUP_BPF`).
    devices: bool,
    /// The directories of `parent` that `open` created, outermost first.
    created: Vec<PathBuf>,
}

/// Whether the kernel loads device programs (`CONFIG_CGROUP_BPF`, and the caller may
/// use bpf(2)): what decides [`Controllers::DEVICES`] on v2. Changes nothing.
pub(super) fn device_programs_load() -> bool {
    load_device_program(crate::runtime::devices::DEFAULT).is_ok()
}

/// Load the device program of `rules`.
fn load_device_program(rules: &[Rule]) -> rustix::io::Result<OwnedFd> {
    let insns: Vec<[u8; 8]> = crate::runtime::devices::program(rules)
        .into_iter()
        .map(|i| i.to_bytes())
        .collect();
    crate::sys::bpf::load_device_program(&insns)
}

/// The controllers pealet uses that `root` offers (`cgroup.controllers`).
pub(super) fn available(root: &Path) -> Controllers {
    match read_optional(&root.join("cgroup.controllers")) {
        Ok(Some(text)) => parse_names(&text),
        Ok(None) | Err(_) => Controllers(0),
    }
}

/// Controller names separated by white space, as a set of the ones pealet uses.
fn parse_names(text: &str) -> Controllers {
    let bits = text.split_whitespace().fold(0, |bits, word| {
        let bit = Controllers::NAMES
            .iter()
            .find(|(_, name)| *name == word)
            .map_or(0, |(bit, _)| *bit);
        bits | bit
    });
    Controllers(bits & super::USED)
}

/// `+cpu +memory`: the text that enables `set` in a `cgroup.subtree_control`.
fn enabling(set: Controllers) -> String {
    let words: Vec<String> = set.names().map(|n| format!("+{n}")).collect();
    words.join(" ")
}

/// Make sure `dir` passes the controllers of `want` on to its children. With `strict`
/// unset a controller the kernel refuses (for instance because `dir` holds processes)
/// is left out with a warning; the result is what children of `dir` get.
fn enable(dir: &Path, want: Controllers, strict: bool) -> Result<Controllers, CgroupError> {
    let path = dir.join("cgroup.subtree_control");
    let present = parse_names(&read_optional(&path)?.unwrap_or_default());
    let missing = Controllers(want.0 & !present.0);
    if missing.0 == 0 {
        return Ok(want);
    }
    let all = write(&path, &enabling(missing));
    if all.is_ok() {
        return Ok(want);
    }
    if strict {
        return all.map(|()| want);
    }
    let mut got = Controllers(want.0 & present.0);
    for (bit, name) in Controllers::NAMES {
        if missing.0 & bit == 0 {
            continue;
        }
        match write(&path, &format!("+{name}")) {
            Ok(()) => got.0 |= bit,
            Err(e) => log::warn!("{name} limits are not enforced: {e}"),
        }
    }
    Ok(got)
}

impl V2 {
    /// Create `parent` under `root` and enable the controllers pealet uses on the way
    /// down; those that cannot be enabled are not enforced.
    pub fn open(root: &Path, parent: &Path) -> Result<V2, CgroupError> {
        let mut enforced = enable(root, available(root), false)?;
        let mut created = Vec::new();
        let mut dir = root.to_path_buf();
        for part in parent.iter() {
            dir.push(part);
            if !dir.exists() {
                make_dir(&dir)?;
                created.push(dir.clone());
            }
            enforced = enable(&dir, enforced, false)?;
        }
        let devices = device_programs_load();
        if !devices {
            log::warn!("device access is not controlled: the kernel loads no device program");
        }
        Ok(V2 {
            root: root.to_path_buf(),
            parent: parent.to_path_buf(),
            enforced,
            devices,
            created,
        })
    }

    fn dir(&self, cg: &CgroupPath) -> PathBuf {
        self.root.join(cg.as_path())
    }

    fn has(&self, bit: u8) -> bool {
        self.enforced.0 & bit != 0
    }

    /// Every ancestor of `cg` exists and passes the enforced controllers on; then `cg`.
    fn try_create(&self, cg: &CgroupPath) -> Result<(), CgroupError> {
        let mut dir = self.root.clone();
        enable(&dir, self.enforced, true)?;
        let parts: Vec<_> = cg.as_path().iter().collect();
        let (leaf, above) = parts.split_last().expect("a cgroup path is never empty");
        for part in above {
            dir.push(part);
            make_dir(&dir)?;
            enable(&dir, self.enforced, true)?;
        }
        make_dir(&dir.join(leaf))
    }
}

impl Cgroups for V2 {
    fn info(&self) -> CgroupInfo {
        let devices = if self.devices {
            Controllers::DEVICES
        } else {
            0
        };
        CgroupInfo {
            version: 2,
            enforced: Controllers(self.enforced.0 | devices),
        }
    }

    fn parent(&self) -> &Path {
        &self.parent
    }

    fn create(&self, cg: &CgroupPath) -> Result<(), CgroupError> {
        let mut attempt = 1;
        loop {
            match self.try_create(cg) {
                Err(CgroupError::CreateDir { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound
                        && attempt < CREATE_ATTEMPTS =>
                {
                    attempt += 1;
                }
                done => return done,
            }
        }
    }

    fn apply(&self, cg: &CgroupPath, limits: &Limits) -> Result<(), CgroupError> {
        let dir = self.dir(cg);
        if self.has(Controllers::MEMORY) {
            let max = limits.memory.map_or("max".to_string(), |b| b.to_string());
            write(&dir.join("memory.max"), &max)?;
            if limits.memory.is_some() {
                // No swap on top of the limit, as the kubelet's NoSwap.
                write_if_present(&dir.join("memory.swap.max"), "0")?;
            }
        }
        if self.has(Controllers::CPU) {
            let quota = limits
                .cpu_quota_us()
                .map_or("max".to_string(), |q| q.to_string());
            write(&dir.join("cpu.max"), &format!("{quota} {CPU_PERIOD_US}"))?;
            write(&dir.join("cpu.weight"), &limits.cpu_weight().to_string())?;
        }
        if self.has(Controllers::PIDS) {
            let max = limits.pids.map_or("max".to_string(), |n| n.to_string());
            write(&dir.join("pids.max"), &max)?;
        }
        Ok(())
    }

    fn add_pid(&self, cg: &CgroupPath, pid: u32) -> Result<(), CgroupError> {
        write(&self.dir(cg).join("cgroup.procs"), &pid.to_string())
    }

    fn procs_files(&self, cg: &CgroupPath) -> Vec<PathBuf> {
        vec![self.dir(cg).join("cgroup.procs")]
    }

    fn pids(&self, cg: &CgroupPath) -> Result<Vec<u32>, CgroupError> {
        files::procs_below(&self.dir(cg))
    }

    fn oom_kills(&self, cg: &CgroupPath) -> Result<u64, CgroupError> {
        if !self.has(Controllers::MEMORY) {
            return Ok(0);
        }
        let events = read_optional(&self.dir(cg).join("memory.events"))?;
        Ok(events
            .and_then(|t| keyed_value(&t, "oom_kill"))
            .unwrap_or(0))
    }

    fn kill_all(&self, cg: &CgroupPath) -> Result<(), CgroupError> {
        let dir = self.dir(cg);
        // cgroup.kill (Linux 5.14) kills the whole subtree at once, forks included.
        if write_if_present(&dir.join("cgroup.kill"), "1")? {
            return Ok(());
        }
        files::kill_members(&dir)
    }

    /// Attach the rules' device program to `cg` (before any process is in it).
    fn restrict_devices(&self, cg: &CgroupPath, rules: &[Rule]) -> Result<(), CgroupError> {
        if !self.devices {
            return Ok(());
        }
        let path = self.dir(cg);
        let err = |errno| CgroupError::DeviceProgram {
            path: path.clone(),
            errno,
        };
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let dir = rustix::fs::open(&path, flags, Mode::empty()).map_err(err)?;
        let program = load_device_program(rules).map_err(err)?;
        crate::sys::bpf::attach_device_program(dir.as_fd(), program.as_fd()).map_err(err)
    }

    fn remove(&self, cg: &CgroupPath) -> Result<(), CgroupError> {
        files::remove_tree(&self.dir(cg))?;
        if cg.as_path().parent() == Some(self.parent.as_path()) {
            for dir in self.created.iter().rev() {
                files::remove_if_unused(dir)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::cgroup::files::fake;

    const ALL: &str = "cpuset cpu io memory hugetlb pids rdma misc";

    fn host(test: &str, controllers: &str) -> fake::Root {
        let root = fake::root(test);
        fake::cgroup(
            &root,
            "",
            &[
                ("cgroup.controllers", controllers),
                ("cgroup.subtree_control", ""),
                ("cgroup.procs", "1\n"),
            ],
        );
        root
    }

    #[test]
    fn detects_unified_and_enables_the_used_controllers_down_to_the_parent() {
        let root = host("v2-open", ALL);
        let info = super::super::detect(&root);
        assert_eq!(info.version, 2);
        // Device control depends on the kernel and on running as root, not on the files.
        let devices = if device_programs_load() {
            Controllers::DEVICES
        } else {
            0
        };
        assert_eq!(info.enforced.0, super::super::USED | devices);
        let v2 = V2::open(&root, Path::new("pealet")).unwrap();
        assert_eq!(v2.info(), info);
        assert_eq!(
            fake::read(&root, "cgroup.subtree_control"),
            "+cpu +memory +pids"
        );
        assert_eq!(
            fake::read(&root, "pealet/cgroup.subtree_control"),
            "+cpu +memory +pids"
        );
    }

    #[test]
    fn a_missing_memory_controller_is_reported_not_enforced() {
        // Raspberry Pi OS: cgroup_disable=memory on the kernel command line.
        let root = host("v2-nomem", "cpuset cpu io pids");
        let v2 = V2::open(&root, Path::new("pealet")).unwrap();
        let enforced: Vec<_> = v2.info().enforced.names().collect();
        let want: &[&str] = if device_programs_load() {
            &["cpu", "pids", "devices"]
        } else {
            &["cpu", "pids"]
        };
        assert_eq!(enforced, want);
        let pod = v2
            .create_pod(
                "p",
                &Limits {
                    memory: Some(1 << 20),
                    ..Limits::default()
                },
            )
            .unwrap();
        assert!(!root.join("pealet/p/memory.max").exists());
        assert_eq!(v2.oom_kills(&pod).unwrap(), 0);
    }

    #[test]
    fn limits_are_written_in_kernel_syntax() {
        let root = host("v2-limits", ALL);
        let v2 = V2::open(&root, Path::new("pealet")).unwrap();
        let pod_limits = Limits {
            memory: Some(256 << 20),
            cpu_limit: Some(1500),
            cpu_request: Some(1000),
            pids: Some(1024),
        };
        let pod = v2.create_pod("uid-1", &pod_limits).unwrap();
        fake::cgroup(&root, "pealet/uid-1/app", &[("memory.swap.max", "max")]);
        let app = v2
            .create_container(
                &pod,
                "app",
                &Limits {
                    cpu_limit: Some(5),
                    ..Limits::default()
                },
            )
            .unwrap();
        assert_eq!(app.to_string(), "pealet/uid-1/app");
        let expect = [
            ("pealet/uid-1/cgroup.subtree_control", "+cpu +memory +pids"),
            ("pealet/uid-1/memory.max", "268435456"),
            ("pealet/uid-1/cpu.max", "150000 100000"),
            ("pealet/uid-1/cpu.weight", "39"),
            ("pealet/uid-1/pids.max", "1024"),
            ("pealet/uid-1/app/memory.max", "max"),
            ("pealet/uid-1/app/memory.swap.max", "max"),
            ("pealet/uid-1/app/cpu.max", "1000 100000"),
            ("pealet/uid-1/app/cpu.weight", "1"),
            ("pealet/uid-1/app/pids.max", "max"),
        ];
        for (file, text) in expect {
            assert_eq!(fake::read(&root, file), text, "{file}");
        }
        assert!(!root.join("pealet/uid-1/memory.swap.max").exists());
        v2.apply(
            &app,
            &Limits {
                memory: Some(4096),
                ..Limits::default()
            },
        )
        .unwrap();
        assert_eq!(fake::read(&root, "pealet/uid-1/app/memory.swap.max"), "0");
    }

    #[test]
    fn oom_kills_come_from_memory_events() {
        let root = host("v2-oom", ALL);
        let v2 = V2::open(&root, Path::new("pealet")).unwrap();
        let pod = CgroupPath::pod(Path::new("pealet"), "p").unwrap();
        let c = pod.container("c").unwrap();
        assert_eq!(v2.oom_kills(&c).unwrap(), 0);
        let events = "low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\noom_group_kill 0\n";
        fake::cgroup(&root, "pealet/p/c", &[("memory.events", events)]);
        assert_eq!(v2.oom_kills(&c).unwrap(), 1);
    }

    #[test]
    fn members_are_added_listed_and_killed_through_cgroup_kill() {
        let root = host("v2-procs", ALL);
        let v2 = V2::open(&root, Path::new("pealet")).unwrap();
        let pod = v2.create_pod("p", &Limits::default()).unwrap();
        let c = v2.create_container(&pod, "c", &Limits::default()).unwrap();
        v2.add_pid(&c, 4242).unwrap();
        assert_eq!(fake::read(&root, "pealet/p/c/cgroup.procs"), "4242");
        assert_eq!(v2.pids(&pod).unwrap(), vec![4242]);
        fake::cgroup(&root, "pealet/p", &[("cgroup.kill", "")]);
        v2.kill_all(&pod).unwrap();
        assert_eq!(fake::read(&root, "pealet/p/cgroup.kill"), "1");
    }

    #[test]
    fn removal_takes_the_pod_and_the_parent_it_created() {
        let root = host("v2-remove", ALL);
        let v2 = V2::open(&root, Path::new("pealet")).unwrap();
        let a = v2.create_pod("a", &Limits::default()).unwrap();
        let b = v2.create_pod("b", &Limits::default()).unwrap();
        v2.create_container(&a, "c", &Limits::default()).unwrap();
        fake::drop_files(&root.join("pealet"));
        v2.remove(&a).unwrap();
        assert!(!root.join("pealet/a").exists());
        assert!(root.join("pealet/b").exists(), "another pod's cgroup stays");
        v2.remove(&b).unwrap();
        assert!(!root.join("pealet").exists());
        // A pod created after that brings the parent back.
        v2.create_pod("c", &Limits::default()).unwrap();
        assert!(root.join("pealet/c").is_dir());
    }
}
