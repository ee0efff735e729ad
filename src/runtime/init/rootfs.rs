//! The container's root file system, one mount per step: overlayfs over the image
//! layers, /proc, /dev, /dev/shm, /sys, the volumes, pivot_root, then masked and
//! read-only paths. Runs in PID 1 of the container, in its own mount namespace.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::mount::{MountFlags, UnmountFlags};

use super::{StepResult, failed};
use crate::runtime::config::{ContainerConfig, Mount, MountKind, Step};
use crate::runtime::resolve::{resolve_beneath, resolve_in_root};

/// Device nodes bound from the host into the container's /dev (runc's default set).
const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

/// The recipe; the order matters only where a comment says so.
pub fn assemble(config: &ContainerConfig) -> StepResult {
    let root = Path::new(&config.rootfs);
    mount_overlay(config)?;
    mount_proc(root)?;
    mount_dev(root, config.dev_nodev)?;
    for dev in DEVICES {
        bind_device(root, dev)?;
    }
    mount_devpts(root)?;
    mount_shm(root, config.shm.as_deref())?;
    mount_sys(root)?;
    // Volumes after the defaults, so a volume may cover one of them.
    for mount in &config.mounts {
        mount_volume(root, mount)?;
    }
    pivot_root(root)?;
    // Masked and read-only paths name the container's /proc and /sys: after pivot_root.
    for path in &config.masked_paths {
        mask_path(path)?;
    }
    for path in &config.readonly_paths {
        readonly_path(path)?;
    }
    if config.readonly_rootfs {
        readonly_root()?;
    }
    Ok(())
}

fn mount_overlay(config: &ContainerConfig) -> StepResult {
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        config.layers.join(":"),
        config.upper,
        config.work
    );
    let data = c_string(&data, Step::MountOverlay)?;
    let target = config.rootfs.as_str();
    rustix::mount::mount(
        "overlay",
        target,
        "overlay",
        MountFlags::empty(),
        data.as_c_str(),
    )
    .map_err(failed(Step::MountOverlay, target))
}

fn mount_proc(root: &Path) -> StepResult {
    let target = dir_in_root(root, "/proc")?;
    let flags = MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
    rustix::mount::mount("proc", &target, "proc", flags, None)
        .map_err(failed(Step::MountProc, target.display()))
}

/// `nodev` when no cgroup controls device access: then only the bound default nodes
/// (mounts of their own, from the host's /dev) can be opened.
fn mount_dev(root: &Path, nodev: bool) -> StepResult {
    let target = dir_in_root(root, "/dev")?;
    let mut flags = MountFlags::NOSUID | MountFlags::STRICTATIME;
    if nodev {
        flags |= MountFlags::NODEV;
    }
    rustix::mount::mount("tmpfs", &target, "tmpfs", flags, c"mode=755,size=65536k")
        .map_err(failed(Step::MountDev, target.display()))?;
    for (link, to) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
    ] {
        std::os::unix::fs::symlink(to, target.join(link))
            .map_err(|e| failed(Step::MountDev, target.join(link).display())(errno(&e)))?;
    }
    Ok(())
}

/// Bind rather than mknod: it also works where mknod is not allowed.
fn bind_device(root: &Path, name: &str) -> StepResult {
    let host = Path::new("/dev").join(name);
    let target = root.join("dev").join(name);
    touch(&target, Step::MountDevice)?;
    rustix::mount::mount_bind(&host, &target).map_err(failed(Step::MountDevice, host.display()))
}

fn mount_devpts(root: &Path) -> StepResult {
    let target = dir_in_root(root, "/dev/pts")?;
    let flags = MountFlags::NOSUID | MountFlags::NOEXEC;
    let data = c"newinstance,ptmxmode=0666,mode=0620";
    rustix::mount::mount("devpts", &target, "devpts", flags, data)
        .map_err(failed(Step::MountDev, target.display()))
}

/// The pod's shm tmpfs when there is one (shared IPC), else a private one.
fn mount_shm(root: &Path, pod_shm: Option<&str>) -> StepResult {
    let target = dir_in_root(root, "/dev/shm")?;
    let result = match pod_shm {
        Some(shm) => rustix::mount::mount_bind(shm, &target),
        None => {
            let flags = MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
            rustix::mount::mount("shm", &target, "tmpfs", flags, c"mode=1777,size=65536k")
        }
    };
    result.map_err(failed(Step::MountShm, target.display()))
}

fn mount_sys(root: &Path) -> StepResult {
    let target = dir_in_root(root, "/sys")?;
    let flags = MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
    rustix::mount::mount("sysfs", &target, "sysfs", flags, None)
        .map_err(failed(Step::MountSys, target.display()))
}

/// A bind mount (source and subPath resolved inside the volume) or a tmpfs.
fn mount_volume(root: &Path, mount: &Mount) -> StepResult {
    match mount.kind {
        MountKind::Tmpfs { size } => {
            let target = dir_in_root(root, &mount.destination)?;
            let data = match size {
                Some(size) => format!("mode=1777,size={size}"),
                None => "mode=1777".to_string(),
            };
            let data = c_string(&data, Step::MountVolume)?;
            let flags = MountFlags::NOSUID | MountFlags::NODEV;
            rustix::mount::mount("tmpfs", &target, "tmpfs", flags, data.as_c_str())
                .map_err(failed(Step::MountVolume, target.display()))?;
        }
        MountKind::Bind => {
            let source = volume_source(mount)?;
            // A subPath is bound through an fd opened beneath its volume, so that a
            // symlink swapped in by a running container after the check cannot
            // redirect the mount (the kernel binds the very file the fd names).
            let pinned = match &mount.sub_path {
                Some(sub) => pin_beneath(Path::new(&mount.source), sub)?,
                None => None,
            };
            let from = match &pinned {
                Some(fd) => PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd())),
                None => source,
            };
            let target = if from.is_dir() {
                dir_in_root(root, &mount.destination)?
            } else {
                file_in_root(root, &mount.destination)?
            };
            rustix::mount::mount_bind_recursive(&from, &target)
                .map_err(failed(Step::MountVolume, target.display()))?;
        }
    }
    if mount.readonly {
        let target = resolve(root, &mount.destination)?;
        rustix::mount::mount_remount(&target, MountFlags::BIND | MountFlags::RDONLY, "")
            .map_err(failed(Step::MountVolume, target.display()))?;
    }
    Ok(())
}

/// The volume's directory, or its subPath resolved inside it (created when missing).
fn volume_source(mount: &Mount) -> StepResult<PathBuf> {
    let base = Path::new(&mount.source);
    match &mount.sub_path {
        None => Ok(base.to_path_buf()),
        Some(sub) => {
            let path = resolve_beneath(base, Path::new(sub))
                .map_err(|e| failed(Step::ResolvePath, format_args!("{sub}: {e}"))(e.errno()))?;
            if !path.exists() {
                mkdirs(&path)?;
            }
            Ok(path)
        }
    }
}

/// `sub` opened as an `O_PATH` fd strictly beneath `base` (openat2 RESOLVE_BENEATH: no
/// `..`, absolute or symlink escape, no magic links). `None` on kernels before 5.6,
/// where the path checked by [`volume_source`] is used as it is.
fn pin_beneath(base: &Path, sub: &str) -> StepResult<Option<OwnedFd>> {
    let dir_flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let dir = rustix::fs::open(base, dir_flags, Mode::empty())
        .map_err(failed(Step::ResolvePath, base.display()))?;
    let how = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
    let flags = OFlags::PATH | OFlags::CLOEXEC;
    match rustix::fs::openat2(&dir, sub, flags, Mode::empty(), how) {
        Ok(fd) => Ok(Some(fd)),
        Err(rustix::io::Errno::NOSYS) => Ok(None),
        Err(errno) => Err(failed(
            Step::ResolvePath,
            format_args!("{sub}: leaves its volume {} or changed", base.display()),
        )(errno)),
    }
}

/// pivot_root(".", "."): the old root ends up on top of the new one and is detached,
/// so no directory for it is needed (as in runc).
fn pivot_root(root: &Path) -> StepResult {
    rustix::process::chdir(root).map_err(failed(Step::PivotRoot, root.display()))?;
    rustix::process::pivot_root(".", ".").map_err(failed(Step::PivotRoot, root.display()))?;
    rustix::mount::unmount(".", UnmountFlags::DETACH).map_err(failed(Step::PivotRoot, "old /"))?;
    rustix::process::chdir("/").map_err(failed(Step::PivotRoot, "/"))
}

/// A directory becomes an empty read-only tmpfs, a file /dev/null; missing is fine.
fn mask_path(path: &str) -> StepResult {
    let result = match std::fs::metadata(path) {
        Err(_) => return Ok(()),
        Ok(meta) if meta.is_dir() => {
            rustix::mount::mount("tmpfs", path, "tmpfs", MountFlags::RDONLY, None)
        }
        Ok(_) => rustix::mount::mount_bind("/dev/null", path),
    };
    result.map_err(failed(Step::MaskPath, path))
}

/// Bind a path onto itself and remount that read-only; missing is fine.
fn readonly_path(path: &str) -> StepResult {
    match rustix::mount::mount_bind_recursive(path, path) {
        Err(rustix::io::Errno::NOENT) => return Ok(()),
        other => other.map_err(failed(Step::ReadonlyPath, path))?,
    }
    rustix::mount::mount_remount(path, MountFlags::BIND | MountFlags::RDONLY, "")
        .map_err(failed(Step::ReadonlyPath, path))
}

fn readonly_root() -> StepResult {
    rustix::mount::mount_remount("/", MountFlags::BIND | MountFlags::RDONLY, "")
        .map_err(failed(Step::ReadonlyRoot, "/"))
}

fn resolve(root: &Path, path: &str) -> StepResult<PathBuf> {
    resolve_in_root(root, Path::new(path))
        .map_err(|e| failed(Step::ResolvePath, format_args!("{path}: {e}"))(e.errno()))
}

/// `path` resolved inside `root`, created as a directory when missing.
fn dir_in_root(root: &Path, path: &str) -> StepResult<PathBuf> {
    let target = resolve(root, path)?;
    mkdirs(&target)?;
    Ok(target)
}

/// `path` resolved inside `root`, created as an empty file when missing.
fn file_in_root(root: &Path, path: &str) -> StepResult<PathBuf> {
    let target = resolve(root, path)?;
    if let Some(parent) = target.parent() {
        mkdirs(parent)?;
    }
    touch(&target, Step::MountVolume)?;
    Ok(target)
}

fn mkdirs(path: &Path) -> StepResult {
    std::fs::create_dir_all(path).map_err(|e| failed(Step::ResolvePath, path.display())(errno(&e)))
}

fn touch(path: &Path, step: Step) -> StepResult {
    let flags = OFlags::CREATE | OFlags::WRONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    rustix::fs::open(path, flags, Mode::from_raw_mode(0o644))
        .map(drop)
        .map_err(failed(step, path.display()))
}

fn c_string(s: &str, step: Step) -> StepResult<CString> {
    CString::new(s).map_err(|_| failed(step, s)(rustix::io::Errno::INVAL))
}

fn errno(e: &std::io::Error) -> rustix::io::Errno {
    rustix::io::Errno::from_io_error(e).unwrap_or(rustix::io::Errno::IO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_paths_are_pinned_beneath_their_volume_only() {
        let d = std::env::temp_dir().join(format!("pealet-pin-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("vol/sub")).unwrap();
        std::fs::write(d.join("vol/sub/file"), "x").unwrap();
        std::os::unix::fs::symlink("file", d.join("vol/sub/link")).unwrap();
        std::os::unix::fs::symlink("/etc", d.join("vol/abs")).unwrap();
        std::os::unix::fs::symlink("../..", d.join("vol/sub/up")).unwrap();
        let vol = d.join("vol");
        for inside in ["sub", "sub/file", "sub/link"] {
            let pinned = pin_beneath(&vol, inside).unwrap();
            // Kernels before 5.6 have no openat2; then nothing is pinned.
            if let Some(fd) = pinned {
                let stat = rustix::fs::fstat(&fd).unwrap();
                assert_ne!(stat.st_ino, 0, "{inside}");
            }
        }
        for escape in ["abs/passwd", "sub/up/etc", "../x", "/etc"] {
            match pin_beneath(&vol, escape) {
                Err(f) => assert_eq!(f.step, Step::ResolvePath, "{escape}"),
                Ok(None) => {}
                Ok(Some(_)) => panic!("{escape} was pinned"),
            }
        }
        std::fs::remove_dir_all(&d).unwrap();
    }
}
