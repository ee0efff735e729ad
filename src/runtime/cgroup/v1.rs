//! cgroup v1 (legacy or hybrid): one hierarchy per controller, mounted under the root;
//! the same cgroup path is created in the memory, cpu, pids and devices hierarchies.

use std::path::{Path, PathBuf};

use crate::runtime::devices::Rule;

use super::files::{self, keyed_value, make_path, read_optional, write, write_if_present};
use super::{CPU_PERIOD_US, CgroupError, CgroupInfo, CgroupPath, Cgroups, Controllers, Limits};

/// Attempts at creating a cgroup whose parent another pod's removal took away meanwhile.
const CREATE_ATTEMPTS: usize = 3;

/// Where a controller's hierarchy may be mounted, and a file only it has at its root.
const MOUNTS: [(u8, &[&str], &str); 4] = [
    (Controllers::MEMORY, &["memory"], "memory.limit_in_bytes"),
    (
        Controllers::CPU,
        &["cpu", "cpu,cpuacct", "cpuacct,cpu"],
        "cpu.shares",
    ),
    (Controllers::PIDS, &["pids"], "cgroup.procs"),
    (Controllers::DEVICES, &["devices"], "devices.allow"),
];

/// One controller's hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hierarchy {
    controller: u8,
    mount: PathBuf,
}

#[derive(Debug)]
pub struct V1 {
    parent: PathBuf,
    hierarchies: Vec<Hierarchy>,
    /// The directories of `parent` that `open` created, outermost first per hierarchy.
    created: Vec<PathBuf>,
}

/// The hierarchies of the controllers pealet uses that are mounted under `root`.
fn find(root: &Path) -> Vec<Hierarchy> {
    let mut found = Vec::new();
    for (controller, names, marker) in MOUNTS {
        let mount = names
            .iter()
            .map(|name| root.join(name))
            .find(|dir| dir.join(marker).exists());
        if let Some(mount) = mount {
            found.push(Hierarchy { controller, mount });
        }
    }
    found
}

/// The controllers pealet uses that have a v1 hierarchy under `root`.
pub(super) fn available(root: &Path) -> Controllers {
    Controllers(find(root).iter().fold(0, |bits, h| bits | h.controller))
}

/// The kernel's "no limit" is a large number; a missing file counts as no limit.
fn memory_limit(dir: &Path) -> Result<u64, CgroupError> {
    let path = dir.join("memory.limit_in_bytes");
    let text = read_optional(&path)?.unwrap_or_default();
    Ok(text.trim().parse().unwrap_or(u64::MAX))
}

impl V1 {
    /// Create `parent` in each hierarchy under `root`; a hierarchy where that fails is
    /// not used, with a warning. Fails when none is left.
    pub fn open(root: &Path, parent: &Path) -> Result<V1, CgroupError> {
        let mut hierarchies = Vec::new();
        let mut created = Vec::new();
        let mut last_error = None;
        for h in find(root) {
            match make_path(&h.mount, parent) {
                Ok(made) => {
                    created.extend(made);
                    hierarchies.push(h);
                }
                Err(e) => {
                    log::warn!("{} limits are not enforced: {e}", name(h.controller));
                    last_error = Some(e);
                }
            }
        }
        match (hierarchies.is_empty(), last_error) {
            (true, Some(e)) => Err(e),
            _ => Ok(V1 {
                parent: parent.to_path_buf(),
                hierarchies,
                created,
            }),
        }
    }

    /// `cg` in the hierarchy of `controller`, if that is used.
    fn dir(&self, controller: u8, cg: &CgroupPath) -> Option<PathBuf> {
        self.hierarchies
            .iter()
            .find(|h| h.controller == controller)
            .map(|h| h.mount.join(cg.as_path()))
    }

    fn all(&self, cg: &CgroupPath) -> impl Iterator<Item = PathBuf> {
        self.hierarchies.iter().map(|h| h.mount.join(cg.as_path()))
    }

    /// Memory and memory+swap limits: the second may never be below the first, so a
    /// raise writes memory+swap first and a cut writes it last.
    fn apply_memory(dir: &Path, bytes: Option<u64>) -> Result<(), CgroupError> {
        let value = bytes.map_or("-1".to_string(), |b| b.to_string());
        let memory = dir.join("memory.limit_in_bytes");
        let memsw = dir.join("memory.memsw.limit_in_bytes");
        let raise = bytes.unwrap_or(u64::MAX) > memory_limit(dir)?;
        if raise {
            write_if_present(&memsw, &value)?;
        }
        write(&memory, &value)?;
        if !raise {
            write_if_present(&memsw, &value)?;
        }
        Ok(())
    }
}

fn name(controller: u8) -> &'static str {
    Controllers(controller).names().next().unwrap_or("?")
}

impl Cgroups for V1 {
    fn info(&self) -> CgroupInfo {
        let bits = self.hierarchies.iter().fold(0, |b, h| b | h.controller);
        CgroupInfo {
            version: 1,
            enforced: Controllers(bits),
        }
    }

    fn parent(&self) -> &Path {
        &self.parent
    }

    fn create(&self, cg: &CgroupPath) -> Result<(), CgroupError> {
        for h in &self.hierarchies {
            let mut attempt = 1;
            loop {
                match make_path(&h.mount, cg.as_path()) {
                    Err(CgroupError::CreateDir { source, .. })
                        if source.kind() == std::io::ErrorKind::NotFound
                            && attempt < CREATE_ATTEMPTS =>
                    {
                        attempt += 1;
                    }
                    Err(e) => return Err(e),
                    Ok(_) => break,
                }
            }
        }
        Ok(())
    }

    fn apply(&self, cg: &CgroupPath, limits: &Limits) -> Result<(), CgroupError> {
        if let Some(dir) = self.dir(Controllers::MEMORY, cg) {
            V1::apply_memory(&dir, limits.memory)?;
        }
        if let Some(dir) = self.dir(Controllers::CPU, cg) {
            let quota = limits
                .cpu_quota_us()
                .map_or("-1".to_string(), |q| q.to_string());
            // The period first: the kernel checks the quota against it.
            write(&dir.join("cpu.cfs_period_us"), &CPU_PERIOD_US.to_string())?;
            write(&dir.join("cpu.cfs_quota_us"), &quota)?;
            write(&dir.join("cpu.shares"), &limits.cpu_shares().to_string())?;
        }
        if let Some(dir) = self.dir(Controllers::PIDS, cg) {
            let max = limits.pids.map_or("max".to_string(), |n| n.to_string());
            write(&dir.join("pids.max"), &max)?;
        }
        Ok(())
    }

    fn add_pid(&self, cg: &CgroupPath, pid: u32) -> Result<(), CgroupError> {
        self.all(cg)
            .try_for_each(|dir| write(&dir.join("cgroup.procs"), &pid.to_string()))
    }

    fn procs_files(&self, cg: &CgroupPath) -> Vec<PathBuf> {
        self.all(cg).map(|dir| dir.join("cgroup.procs")).collect()
    }

    fn pids(&self, cg: &CgroupPath) -> Result<Vec<u32>, CgroupError> {
        let mut pids = Vec::new();
        for dir in self.all(cg) {
            pids.extend(files::procs_below(&dir)?);
        }
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    fn oom_kills(&self, cg: &CgroupPath) -> Result<u64, CgroupError> {
        let Some(dir) = self.dir(Controllers::MEMORY, cg) else {
            return Ok(0);
        };
        // The oom_kill line exists since Linux 4.13; before, the number of times the
        // limit was hit is the best hint there is.
        let control = read_optional(&dir.join("memory.oom_control"))?;
        if let Some(kills) = control.and_then(|t| keyed_value(&t, "oom_kill")) {
            return Ok(kills);
        }
        let failcnt = read_optional(&dir.join("memory.failcnt"))?;
        Ok(failcnt.and_then(|t| t.trim().parse().ok()).unwrap_or(0))
    }

    fn kill_all(&self, cg: &CgroupPath) -> Result<(), CgroupError> {
        self.all(cg).try_for_each(|dir| files::kill_members(&dir))
    }

    /// Deny everything, then allow the rules (before any process is in `cg`).
    fn restrict_devices(&self, cg: &CgroupPath, rules: &[Rule]) -> Result<(), CgroupError> {
        let Some(dir) = self.dir(Controllers::DEVICES, cg) else {
            return Ok(());
        };
        write(&dir.join("devices.deny"), "a")?;
        for rule in rules {
            write(&dir.join("devices.allow"), &rule.v1_line())?;
        }
        Ok(())
    }

    fn remove(&self, cg: &CgroupPath) -> Result<(), CgroupError> {
        self.all(cg).try_for_each(|dir| files::remove_tree(&dir))?;
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

    /// A hybrid host as the build machines: cpu and cpuacct mounted apart, a
    /// `cpu,cpuacct` elsewhere would do as well; no `cgroup.controllers` at the root.
    fn host(test: &str, mounts: &[&str]) -> fake::Root {
        let root = fake::root(test);
        for mount in mounts {
            let marker = match *mount {
                "memory" => "memory.limit_in_bytes",
                "cpu" | "cpu,cpuacct" => "cpu.shares",
                _ => "cgroup.procs",
            };
            fake::cgroup(&root, mount, &[(marker, ""), ("cgroup.procs", "")]);
        }
        fake::cgroup(&root, "unified", &[("cgroup.controllers", "")]);
        root
    }

    #[test]
    fn detects_hybrid_with_per_controller_mounts() {
        let root = host(
            "v1-detect",
            &["cpu", "cpuacct", "memory", "pids", "freezer"],
        );
        let info = super::super::detect(&root);
        assert_eq!(info.version, 1);
        assert_eq!(
            info.enforced.names().collect::<Vec<_>>(),
            ["cpu", "memory", "pids"]
        );
        let root = host("v1-combined", &["cpu,cpuacct", "pids"]);
        let v1 = V1::open(&root, Path::new("pealet")).unwrap();
        assert_eq!(
            v1.info().enforced.names().collect::<Vec<_>>(),
            ["cpu", "pids"]
        );
        assert!(root.join("cpu,cpuacct/pealet").is_dir());
        assert!(root.join("pids/pealet").is_dir());
        let empty = fake::root("v1-none");
        assert_eq!(super::super::detect(&empty), CgroupInfo::default());
    }

    #[test]
    fn limits_are_written_in_kernel_syntax() {
        let root = host("v1-limits", &["cpu", "memory", "pids"]);
        let v1 = V1::open(&root, Path::new("pealet")).unwrap();
        let pod_limits = Limits {
            memory: Some(64 << 20),
            cpu_limit: Some(250),
            cpu_request: Some(100),
            pids: Some(100),
        };
        let pod = v1.create_pod("uid", &pod_limits).unwrap();
        let c = v1.create_container(&pod, "c", &Limits::default()).unwrap();
        let expect = [
            ("memory/pealet/uid/memory.limit_in_bytes", "67108864"),
            ("cpu/pealet/uid/cpu.cfs_period_us", "100000"),
            ("cpu/pealet/uid/cpu.cfs_quota_us", "25000"),
            ("cpu/pealet/uid/cpu.shares", "102"),
            ("pids/pealet/uid/pids.max", "100"),
            ("memory/pealet/uid/c/memory.limit_in_bytes", "-1"),
            ("cpu/pealet/uid/c/cpu.cfs_quota_us", "-1"),
            ("cpu/pealet/uid/c/cpu.shares", "2"),
            ("pids/pealet/uid/c/pids.max", "max"),
        ];
        for (file, text) in expect {
            assert_eq!(fake::read(&root, file), text, "{file}");
        }
        assert!(
            !root
                .join("memory/pealet/uid/memory.memsw.limit_in_bytes")
                .exists()
        );
        v1.add_pid(&c, 77).unwrap();
        for mount in ["cpu", "memory", "pids"] {
            let procs = format!("{mount}/pealet/uid/c/cgroup.procs");
            assert_eq!(fake::read(&root, &procs), "77");
        }
        assert_eq!(v1.pids(&pod).unwrap(), vec![77]);
    }

    #[test]
    fn memory_and_swap_keep_their_order() {
        let root = host("v1-memsw", &["memory"]);
        let dir = root.join("memory/c");
        let limit = |bytes: &str| {
            fake::cgroup(
                &root,
                "memory/c",
                &[
                    ("memory.limit_in_bytes", bytes),
                    ("memory.memsw.limit_in_bytes", bytes),
                ],
            )
        };
        limit("9223372036854771712\n");
        V1::apply_memory(&dir, Some(1 << 20)).unwrap();
        assert_eq!(
            fake::read(&root, "memory/c/memory.memsw.limit_in_bytes"),
            "1048576"
        );
        assert_eq!(
            fake::read(&root, "memory/c/memory.limit_in_bytes"),
            "1048576"
        );
        // A raise: memsw first. The fake cannot refuse, so only the values are checked.
        V1::apply_memory(&dir, None).unwrap();
        assert_eq!(
            fake::read(&root, "memory/c/memory.memsw.limit_in_bytes"),
            "-1"
        );
        assert_eq!(fake::read(&root, "memory/c/memory.limit_in_bytes"), "-1");
    }

    #[test]
    fn oom_kills_from_oom_control_or_failcnt() {
        let root = host("v1-oom", &["memory"]);
        let v1 = V1::open(&root, Path::new("pealet")).unwrap();
        let c = CgroupPath::pod(Path::new("pealet"), "p")
            .unwrap()
            .container("c")
            .unwrap();
        assert_eq!(v1.oom_kills(&c).unwrap(), 0);
        let control = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n";
        fake::cgroup(
            &root,
            "memory/pealet/p/c",
            &[("memory.oom_control", control)],
        );
        assert_eq!(v1.oom_kills(&c).unwrap(), 2);
        let old_kernel = "oom_kill_disable 0\nunder_oom 0\n";
        fake::cgroup(
            &root,
            "memory/pealet/p/c",
            &[
                ("memory.oom_control", old_kernel),
                ("memory.failcnt", "5\n"),
            ],
        );
        assert_eq!(v1.oom_kills(&c).unwrap(), 5);
    }

    #[test]
    fn removal_in_every_hierarchy_and_of_the_created_parent() {
        let root = host("v1-remove", &["cpu", "memory", "pids"]);
        fake::cgroup(&root, "pids/pealet", &[]);
        let v1 = V1::open(&root, Path::new("pealet")).unwrap();
        let pod = v1.create_pod("p", &Limits::default()).unwrap();
        v1.create_container(&pod, "c", &Limits::default()).unwrap();
        for mount in ["cpu", "memory", "pids"] {
            fake::drop_files(&root.join(mount).join("pealet"));
        }
        v1.remove(&pod).unwrap();
        assert!(!root.join("cpu/pealet").exists());
        assert!(!root.join("memory/pealet").exists());
        assert!(
            root.join("pids/pealet").is_dir(),
            "it existed before: not ours"
        );
        assert!(!root.join("pids/pealet/p").exists());
    }
}
