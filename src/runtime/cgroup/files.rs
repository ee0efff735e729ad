//! File operations on a cgroup filesystem shared by v1 and v2: read, write, list members,
//! signal them, and remove a subtree leaf-first. Knows no controller file names.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

use super::CgroupError;

/// How long `remove_tree` waits for the kernel to let the last members go.
const REMOVE_PATIENCE: Duration = Duration::from_secs(2);
/// Rounds of SIGKILL for cgroups without `cgroup.kill`: members may fork meanwhile.
const KILL_ROUNDS: usize = 20;

/// Write one value to a control file that the kernel provides (the file is never created
/// on a real cgroupfs; on a test hierarchy in a temp directory it is).
pub(super) fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    fs::write(path, value).map_err(|source| CgroupError::Write {
        path: path.to_path_buf(),
        value: value.to_string(),
        source,
    })
}

/// Write when the kernel offers the file; returns whether it did.
pub(super) fn write_if_present(path: &Path, value: &str) -> Result<bool, CgroupError> {
    if !path.exists() {
        return Ok(false);
    }
    write(path, value).map(|()| true)
}

/// Read a control file; `None` when it does not exist.
pub(super) fn read_optional(path: &Path) -> Result<Option<String>, CgroupError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CgroupError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The value of `key` in a flat keyed file (`memory.events`, `memory.oom_control`):
/// lines of `key value`.
pub(super) fn keyed_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some(k), Some(v)) if k == key => v.parse().ok(),
            _ => None,
        }
    })
}

/// Create one cgroup directory; an existing one is fine.
pub(super) fn make_dir(path: &Path) -> Result<(), CgroupError> {
    match fs::create_dir(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(CgroupError::CreateDir {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Create every directory of `rel` under `base`, outermost first; returns those that
/// did not exist.
pub(super) fn make_path(base: &Path, rel: &Path) -> Result<Vec<PathBuf>, CgroupError> {
    let mut made = Vec::new();
    let mut dir = base.to_path_buf();
    for part in rel.iter() {
        dir.push(part);
        if !dir.exists() {
            make_dir(&dir)?;
            made.push(dir.clone());
        }
    }
    Ok(made)
}

/// Child cgroups of `dir`, none when it does not exist.
fn children(dir: &Path) -> Result<Vec<PathBuf>, CgroupError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(CgroupError::ListDir {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut dirs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| CgroupError::ListDir {
            path: dir.to_path_buf(),
            source,
        })?;
        // file_type does not follow symlinks: a cgroup is a real directory.
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            dirs.push(entry.path());
        }
    }
    dirs.sort();
    Ok(dirs)
}

/// Process ids in `dir` and every cgroup below it, from their `cgroup.procs`.
pub(super) fn procs_below(dir: &Path) -> Result<Vec<u32>, CgroupError> {
    let mut pids = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let path = dir.join("cgroup.procs");
        if let Some(text) = read_optional(&path)? {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let pid = line.trim().parse().map_err(|_| CgroupError::Parse {
                    path: path.clone(),
                    text: line.to_string(),
                })?;
                pids.push(pid);
            }
        }
        pending.extend(children(&dir)?);
    }
    pids.sort_unstable();
    pids.dedup();
    Ok(pids)
}

/// SIGKILL every member of `dir` and below, again while members remain (they may fork
/// between our read and our kill), for a bounded number of rounds.
pub(super) fn kill_members(dir: &Path) -> Result<(), CgroupError> {
    for _ in 0..KILL_ROUNDS {
        let pids = procs_below(dir)?;
        if pids.is_empty() {
            return Ok(());
        }
        for pid in pids {
            kill_pid(dir, pid)?;
        }
        sleep(Duration::from_millis(1));
    }
    Ok(())
}

fn kill_pid(dir: &Path, pid: u32) -> Result<(), CgroupError> {
    let Some(target) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return Ok(());
    };
    match kill_process(target, Signal::KILL) {
        // Gone already, or exited and became a zombie that the kernel still lists.
        Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
        Err(e) => Err(CgroupError::Kill {
            path: dir.to_path_buf(),
            pid,
            source: e.into(),
        }),
    }
}

/// Remove `dir` and every cgroup below it, leaf-first. The kernel refuses (EBUSY) while a
/// cgroup still has members, which it does for a moment after they were killed: retry
/// briefly. A missing `dir` is already removed.
pub(super) fn remove_tree(dir: &Path) -> Result<(), CgroupError> {
    for child in children(dir)? {
        remove_tree(&child)?;
    }
    let deadline = Instant::now() + REMOVE_PATIENCE;
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if is_busy(&e) && Instant::now() < deadline => {
                sleep(Duration::from_millis(5));
            }
            Err(source) => {
                return Err(CgroupError::Remove {
                    path: dir.to_path_buf(),
                    source,
                });
            }
        }
    }
}

/// Remove `dir` if nothing is in it any more; a cgroup in use by others stays.
pub(super) fn remove_if_unused(dir: &Path) -> Result<(), CgroupError> {
    match fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound || is_busy(&e) => Ok(()),
        // A test hierarchy in a temp directory says "not empty" where the kernel says busy.
        Err(e) if e.kind() == io::ErrorKind::DirectoryNotEmpty => Ok(()),
        Err(source) => Err(CgroupError::Remove {
            path: dir.to_path_buf(),
            source,
        }),
    }
}

fn is_busy(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::ResourceBusy
}

#[cfg(test)]
pub(super) mod fake {
    //! Temp-dir hierarchies laid out like the kernel's, for unit tests.

    use std::fs;
    use std::ops::Deref;
    use std::path::{Path, PathBuf};

    /// A temp directory that is removed again when the test is done with it.
    pub struct Root(PathBuf);

    impl Deref for Root {
        type Target = Path;
        fn deref(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Root {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// A fresh empty directory for one test.
    pub fn root(test: &str) -> Root {
        let dir = std::env::temp_dir().join(format!("pealet-cg-{}-{test}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Root(dir)
    }

    /// Create `path` (below `root`) with the given files and contents, as the kernel would.
    pub fn cgroup(root: &Path, path: &str, files: &[(&str, &str)]) {
        let dir = root.join(path);
        fs::create_dir_all(&dir).unwrap();
        for (name, text) in files {
            fs::write(dir.join(name), text).unwrap();
        }
    }

    pub fn read(root: &Path, path: &str) -> String {
        fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// Delete the regular files below `dir`: the kernel's rmdir ignores control files,
    /// a temp directory's does not.
    pub fn drop_files(dir: &Path) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                drop_files(&path);
            } else {
                fs::remove_file(path).unwrap();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_values() {
        let events = "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n";
        assert_eq!(keyed_value(events, "oom_kill"), Some(2));
        assert_eq!(keyed_value(events, "oom"), Some(3));
        assert_eq!(keyed_value(events, "missing"), None);
        let oom_control = "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n";
        assert_eq!(keyed_value(oom_control, "oom_kill"), Some(1));
        assert_eq!(
            keyed_value("oom_kill_disable 0\nunder_oom 0\n", "oom_kill"),
            None
        );
    }

    #[test]
    fn members_of_a_subtree() {
        let root = fake::root("procs");
        fake::cgroup(&root, "p", &[("cgroup.procs", "")]);
        fake::cgroup(&root, "p/a", &[("cgroup.procs", "12\n7\n")]);
        fake::cgroup(&root, "p/b", &[("cgroup.procs", "7\n30\n")]);
        assert_eq!(procs_below(&root.join("p")).unwrap(), vec![7, 12, 30]);
        assert_eq!(procs_below(&root.join("gone")).unwrap(), Vec::<u32>::new());
        fake::cgroup(&root, "bad", &[("cgroup.procs", "12\nx\n")]);
        assert!(matches!(
            procs_below(&root.join("bad")),
            Err(CgroupError::Parse { .. })
        ));
    }

    #[test]
    fn removes_leaf_first_and_only_the_subtree() {
        let root = fake::root("remove");
        fake::cgroup(&root, "pealet/pod/a/nested", &[]);
        fake::cgroup(&root, "pealet/pod/b", &[]);
        fake::cgroup(&root, "pealet/other", &[]);
        remove_tree(&root.join("pealet/pod")).unwrap();
        assert!(!root.join("pealet/pod").exists());
        assert!(root.join("pealet/other").exists());
        // Removing again is fine.
        remove_tree(&root.join("pealet/pod")).unwrap();
        // A parent still in use stays.
        remove_if_unused(&root.join("pealet")).unwrap();
        assert!(root.join("pealet").exists());
    }
}
