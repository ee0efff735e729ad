//! Where a pod's state lives and how it is written: the run directory layout, atomic
//! file replacement, and reading a pod back for any client (`ps`, `inspect`, `logs`).
//!
//! ```text
//! <run-dir>/pods/<pod>/spec          the encoded Pod (spec codec, versioned)
//!                      status        the encoded PodStatus, replaced atomically on change
//!                      shim.pid      the shim's pid, while it runs
//!                      shim.sock     the shim's SOCK_SEQPACKET socket, while it runs
//!                      shim.log      the shim's own diagnostics
//!                      sandbox/      hosts, hostname, resolv.conf, shm (tmpfs, shim's mounts)
//!                      volumes/      emptyDir volumes with medium Memory (tmpfs mounts)
//!                      containers/<c>/{upper,work,rootfs}  this instance's overlay
//!                      logs/<c>/{current,previous}.log
//! <root>/pods/<pod>/volumes/<name>   emptyDir volumes on disk
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::spec::{self, Pod, PodStatus};

/// The default of `--root`: images, emptyDir volumes on disk.
pub const DEFAULT_ROOT: &str = "/var/lib/pealet";
/// The default of `--run-dir`: shim sockets, status, logs (a tmpfs).
pub const DEFAULT_RUN_DIR: &str = "/run/pealet";

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("decode {path}: {source}")]
    Decode {
        path: PathBuf,
        source: spec::DecodeError,
    },
    #[error("no pod {pod:?} in {run_dir}")]
    NoSuchPod { pod: String, run_dir: PathBuf },
}

/// The directories of one pod.
#[derive(Debug, Clone)]
pub struct PodDirs {
    /// `<run-dir>/pods/<pod>`.
    pub run: PathBuf,
    /// `<root>/pods/<pod>`.
    pub root: PathBuf,
}

impl PodDirs {
    pub fn new(root: &Path, run_dir: &Path, pod: &str) -> PodDirs {
        PodDirs {
            run: run_dir.join("pods").join(pod),
            root: root.join("pods").join(pod),
        }
    }

    pub fn spec(&self) -> PathBuf {
        self.run.join("spec")
    }
    pub fn status(&self) -> PathBuf {
        self.run.join("status")
    }
    pub fn pid_file(&self) -> PathBuf {
        self.run.join("shim.pid")
    }
    pub fn socket(&self) -> PathBuf {
        self.run.join("shim.sock")
    }
    pub fn shim_log(&self) -> PathBuf {
        self.run.join("shim.log")
    }
    pub fn sandbox(&self) -> PathBuf {
        self.run.join("sandbox")
    }
    /// A container's termination-log file, on the sandbox's small tmpfs (the shim's
    /// mount namespace only).
    pub fn termination_log(&self, container: &str) -> PathBuf {
        self.sandbox().join("termination").join(container)
    }
    pub fn memory_volume(&self, name: &str) -> PathBuf {
        self.run.join("volumes").join(name)
    }
    pub fn disk_volume(&self, name: &str) -> PathBuf {
        self.root.join("volumes").join(name)
    }
    pub fn instance(&self, container: &str) -> PathBuf {
        self.run.join("containers").join(container)
    }
    pub fn logs(&self, container: &str) -> PathBuf {
        self.run.join("logs").join(container)
    }
}

/// Create (or truncate) a file only root reads: specs, statuses and logs hold env
/// values and program output.
pub fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

/// Create `dir` (and what is missing above it) and make it 0700: no other local user
/// reaches anything below, so a setuid file a container leaves in a volume or a writable
/// layer is of no use to them. Containers are not affected: they reach their volumes and
/// layers through mounts that root made, never through these paths.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Replace `path` with `bytes` at once: write a temporary file beside it, then rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let tmp = path.with_extension("tmp");
    let err = |source| StateError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut file = create_private(&tmp).map_err(err)?;
    file.write_all(bytes).map_err(err)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(err)
}

/// A pod as a client sees it from the run directory.
#[derive(Debug, Clone)]
pub struct PodState {
    pub pod: Pod,
    pub status: Option<PodStatus>,
    /// The shim's pid, when it is running.
    pub shim: Option<u32>,
    pub dirs: PodDirs,
}

/// Every pod in the run directory, by name.
pub fn list(root: &Path, run_dir: &Path) -> Result<Vec<PodState>, StateError> {
    let dir = run_dir.join("pods");
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(StateError::Read { path: dir, source }),
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    let pods = names.iter().map(|n| read(root, run_dir, n));
    // A pod whose spec is not written yet (or any more) is skipped.
    Ok(pods.filter_map(Result::ok).collect())
}

/// One pod's spec, status and shim from the run directory.
pub fn read(root: &Path, run_dir: &Path, name: &str) -> Result<PodState, StateError> {
    let dirs = PodDirs::new(root, run_dir, name);
    let spec_path = dirs.spec();
    let bytes = std::fs::read(&spec_path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => StateError::NoSuchPod {
            pod: name.to_string(),
            run_dir: run_dir.to_path_buf(),
        },
        _ => StateError::Read {
            path: spec_path.clone(),
            source,
        },
    })?;
    let pod = spec::decode::<Pod>(&bytes).map_err(|source| StateError::Decode {
        path: spec_path,
        source,
    })?;
    let status = std::fs::read(dirs.status())
        .ok()
        .and_then(|b| spec::decode::<PodStatus>(&b).ok());
    let shim = shim_pid(&dirs);
    Ok(PodState {
        pod,
        status,
        shim,
        dirs,
    })
}

/// The pid in `shim.pid` when that process is still a pealet shim.
pub fn shim_pid(dirs: &PodDirs) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(dirs.pid_file())
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let is_shim = cmdline.split(|b| *b == 0).any(|arg| arg == b"shim");
    is_shim.then_some(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("pealet-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("status");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn layout_and_missing_pods() {
        let d = PodDirs::new(Path::new("/r"), Path::new("/run/p"), "web");
        assert_eq!(d.status(), Path::new("/run/p/pods/web/status"));
        assert_eq!(d.logs("c"), Path::new("/run/p/pods/web/logs/c"));
        assert_eq!(d.disk_volume("v"), Path::new("/r/pods/web/volumes/v"));
        let empty = std::env::temp_dir().join("pealet-state-none");
        assert!(list(&empty, &empty).unwrap().is_empty());
        assert!(matches!(
            read(&empty, &empty, "x"),
            Err(StateError::NoSuchPod { .. })
        ));
    }
}
