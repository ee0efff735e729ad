//! The do-nothing cgroup manager, for hosts without a usable hierarchy: every operation
//! succeeds without touching anything, and [`Cgroups::info`] says nothing is enforced.
//!
//! Pods still run; the caller keeps track of its processes itself (it can list and kill
//! nothing here) and reports that limits are not enforced.

use std::path::{Path, PathBuf};

use crate::runtime::devices::Rule;

use super::{CgroupError, CgroupInfo, CgroupPath, Cgroups, Limits};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disabled {
    parent: PathBuf,
}

impl Disabled {
    pub fn new(parent: &Path) -> Disabled {
        Disabled {
            parent: parent.to_path_buf(),
        }
    }
}

impl Cgroups for Disabled {
    fn info(&self) -> CgroupInfo {
        CgroupInfo::default()
    }

    fn parent(&self) -> &Path {
        &self.parent
    }

    fn create(&self, _cg: &CgroupPath) -> Result<(), CgroupError> {
        Ok(())
    }

    fn apply(&self, _cg: &CgroupPath, _limits: &Limits) -> Result<(), CgroupError> {
        Ok(())
    }

    fn add_pid(&self, _cg: &CgroupPath, _pid: u32) -> Result<(), CgroupError> {
        Ok(())
    }

    fn procs_files(&self, _cg: &CgroupPath) -> Vec<PathBuf> {
        Vec::new()
    }

    fn pids(&self, _cg: &CgroupPath) -> Result<Vec<u32>, CgroupError> {
        Ok(Vec::new())
    }

    fn oom_kills(&self, _cg: &CgroupPath) -> Result<u64, CgroupError> {
        Ok(0)
    }

    fn kill_all(&self, _cg: &CgroupPath) -> Result<(), CgroupError> {
        Ok(())
    }

    fn restrict_devices(&self, _cg: &CgroupPath, _rules: &[Rule]) -> Result<(), CgroupError> {
        Ok(())
    }

    fn remove(&self, _cg: &CgroupPath) -> Result<(), CgroupError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::cgroup::files::fake;
    use crate::runtime::cgroup::{Controllers, detect, open};

    #[test]
    fn chosen_when_no_hierarchy_is_mounted() {
        // A cgroup root with nothing mounted on it: an empty tmpfs, or no cgroupfs at all.
        let root = fake::root("disabled");
        fake::cgroup(&root, "freezer", &[("cgroup.procs", "")]);
        assert_eq!(detect(&root), CgroupInfo::default());
        let cg = open(&root, Path::new("pealet")).unwrap();
        assert_eq!(cg.info().version, 0);
        assert_eq!(cg.info().enforced, Controllers(0));
        assert_eq!(cg.parent(), Path::new("pealet"));
    }

    #[test]
    fn every_operation_succeeds_and_touches_nothing() {
        let root = fake::root("disabled-ops");
        let cg = open(&root, Path::new("pealet")).unwrap();
        let limits = Limits {
            memory: Some(1 << 20),
            cpu_limit: Some(100),
            cpu_request: Some(100),
            pids: Some(10),
        };
        let pod = cg.create_pod("p", &limits).unwrap();
        let c = cg.create_container(&pod, "c", &limits).unwrap();
        assert_eq!(c.to_string(), "pealet/p/c");
        cg.add_pid(&c, 1).unwrap();
        assert_eq!(cg.pids(&pod).unwrap(), Vec::<u32>::new());
        assert_eq!(cg.oom_kills(&c).unwrap(), 0);
        cg.kill_all(&pod).unwrap();
        cg.remove(&pod).unwrap();
        assert_eq!(std::fs::read_dir(&*root).unwrap().count(), 0);
    }

    #[test]
    fn names_are_still_checked() {
        let cg = Disabled::new(Path::new("pealet"));
        for bad in ["", ".", "..", "a/b"] {
            assert!(matches!(
                cg.create_pod(bad, &Limits::default()),
                Err(CgroupError::BadName { .. })
            ));
        }
    }
}
