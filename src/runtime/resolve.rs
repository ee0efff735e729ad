//! Resolve a path from a spec inside a root directory, as if that directory were `/`:
//! `..` stops at the root and symlinks (absolute or relative) are followed inside it.
//!
//! [`resolve_beneath`] is the strict form for a volume's subPath: instead of clamping,
//! it refuses any `..` or symlink that would leave the root (openat2's RESOLVE_BENEATH).
//!
//! Each component is opened with `openat(O_PATH | O_NOFOLLOW)` relative to the
//! directory before it, so the walk never leaves the root through the host's view of a
//! link. Components that do not exist are appended as they are (they cannot be links);
//! the caller creates them. This does not guard against a concurrent rename inside the
//! root after the walk; the runtime resolves before the container starts.

use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;

/// Symlinks followed per resolution before giving up (Linux's own limit).
const MAX_LINKS: usize = 40;

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("open root {path}: {errno}")]
    OpenRoot { path: PathBuf, errno: Errno },
    #[error("openat {path}: {errno}")]
    Openat { path: PathBuf, errno: Errno },
    #[error("readlinkat {path}: {errno}")]
    Readlink { path: PathBuf, errno: Errno },
    #[error("resolve {path}: too many levels of symbolic links")]
    TooManyLinks { path: PathBuf },
    #[error("resolve {path}: not a directory")]
    NotADirectory { path: PathBuf },
    #[error("resolve {path}: leaves its root through `..` or a symlink")]
    Escape { path: PathBuf },
}

impl ResolveError {
    /// The errno to report across the process boundary.
    pub fn errno(&self) -> Errno {
        match self {
            ResolveError::OpenRoot { errno, .. }
            | ResolveError::Openat { errno, .. }
            | ResolveError::Readlink { errno, .. } => *errno,
            ResolveError::TooManyLinks { .. } => Errno::LOOP,
            ResolveError::NotADirectory { .. } => Errno::NOTDIR,
            ResolveError::Escape { .. } => Errno::XDEV,
        }
    }
}

/// `root` joined with `path` resolved inside `root`; the result always starts with
/// `root` and names no symlink except possibly a missing tail.
pub fn resolve_in_root(root: &Path, path: &Path) -> Result<PathBuf, ResolveError> {
    walk(root, path, false)
}

/// Like [`resolve_in_root`], but a `..` above the root or an absolute symlink is an
/// [`ResolveError::Escape`] instead of being clamped to the root.
pub fn resolve_beneath(root: &Path, path: &Path) -> Result<PathBuf, ResolveError> {
    walk(root, path, true)
}

fn walk(root: &Path, path: &Path, strict: bool) -> Result<PathBuf, ResolveError> {
    let escape = || ResolveError::Escape {
        path: root.join(path),
    };
    if strict && path.is_absolute() {
        return Err(escape());
    }
    let open = |p: &Path| {
        rustix::fs::open(
            p,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
    };
    let root_fd = open(root).map_err(|errno| ResolveError::OpenRoot {
        path: root.to_path_buf(),
        errno,
    })?;
    // Components still to walk, in reverse so that pop() gives the next one.
    let mut todo: Vec<PathBuf> = rev_components(path);
    // Components resolved so far, and the fd of the directory they name.
    let mut done: Vec<PathBuf> = Vec::new();
    let mut dirs: Vec<OwnedFd> = Vec::new();
    let mut links = 0;
    while let Some(name) = todo.pop() {
        if name.as_os_str() == ".." {
            if strict && done.is_empty() {
                return Err(escape());
            }
            done.pop();
            dirs.pop();
            continue;
        }
        let dir = dirs.last().unwrap_or(&root_fd);
        let here = root.join(done.iter().collect::<PathBuf>()).join(&name);
        let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(dir, &name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => {
                // Missing: this and every later component are plain names.
                done.push(name);
                while let Some(rest) = todo.pop() {
                    if rest.as_os_str() == ".." {
                        if strict && done.is_empty() {
                            return Err(escape());
                        }
                        done.pop();
                    } else {
                        done.push(rest);
                    }
                }
                break;
            }
            Err(errno) => return Err(ResolveError::Openat { path: here, errno }),
        };
        let stat = rustix::fs::fstat(&fd).map_err(|errno| ResolveError::Openat {
            path: here.clone(),
            errno,
        })?;
        match FileType::from_raw_mode(stat.st_mode) {
            FileType::Symlink => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(ResolveError::TooManyLinks { path: here });
                }
                let target = rustix::fs::readlinkat(dir, &name, Vec::new()).map_err(|errno| {
                    ResolveError::Readlink {
                        path: here.clone(),
                        errno,
                    }
                })?;
                let target: std::ffi::OsString =
                    std::os::unix::ffi::OsStringExt::from_vec(target.into_bytes());
                let target = PathBuf::from(target);
                if target.is_absolute() {
                    if strict {
                        return Err(escape());
                    }
                    done.clear();
                    dirs.clear();
                }
                todo.extend(rev_components(&target));
            }
            FileType::Directory => {
                done.push(name);
                dirs.push(fd);
            }
            _ => {
                // A file is only fine as the last component.
                if !todo.is_empty() {
                    return Err(ResolveError::NotADirectory { path: here });
                }
                done.push(name);
            }
        }
    }
    Ok(root.join(done.iter().collect::<PathBuf>()))
}

/// Normal components and `..` of `path`, last first; `/` and `.` are dropped.
fn rev_components(path: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(PathBuf::from(n)),
            Component::ParentDir => Some(PathBuf::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect();
    v.reverse();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("pealet-resolve-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("root/a/b")).unwrap();
        std::fs::create_dir_all(d.join("outside")).unwrap();
        d
    }

    #[test]
    fn plain_paths_and_dotdot_stay_inside() {
        let d = tmp("plain");
        let root = d.join("root");
        assert_eq!(
            resolve_in_root(&root, Path::new("/a/b")).unwrap(),
            root.join("a/b")
        );
        assert_eq!(
            resolve_in_root(&root, Path::new("a/./b/..")).unwrap(),
            root.join("a")
        );
        assert_eq!(resolve_in_root(&root, Path::new("../../..")).unwrap(), root);
        assert_eq!(
            resolve_in_root(&root, Path::new("../../outside/x")).unwrap(),
            root.join("outside/x")
        );
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let d = tmp("links");
        let root = d.join("root");
        symlink("/", root.join("abs")).unwrap();
        symlink("../../../..", root.join("a/up")).unwrap();
        symlink(d.join("outside"), root.join("host")).unwrap();
        symlink("b", root.join("a/rel")).unwrap();
        symlink("loop", root.join("loop")).unwrap();
        assert_eq!(
            resolve_in_root(&root, Path::new("abs/a")).unwrap(),
            root.join("a")
        );
        assert_eq!(
            resolve_in_root(&root, Path::new("a/up/etc")).unwrap(),
            root.join("etc")
        );
        let host = resolve_in_root(&root, Path::new("host/secret")).unwrap();
        assert!(host.starts_with(&root), "{host:?} escaped");
        assert_eq!(
            resolve_in_root(&root, Path::new("a/rel")).unwrap(),
            root.join("a/b")
        );
        assert!(matches!(
            resolve_in_root(&root, Path::new("loop")),
            Err(ResolveError::TooManyLinks { .. })
        ));
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn beneath_refuses_what_in_root_clamps() {
        let d = tmp("beneath");
        let root = d.join("root");
        symlink("/etc", root.join("abs")).unwrap();
        symlink("../..", root.join("a/up")).unwrap();
        symlink("../b", root.join("a/b/sib")).unwrap();
        let escapes = ["../x", "a/../../x", "abs/passwd", "a/up/x", "/a"];
        for p in escapes {
            let r = resolve_beneath(&root, Path::new(p));
            assert!(matches!(r, Err(ResolveError::Escape { .. })), "{p}: {r:?}");
        }
        let ok = resolve_beneath(&root, Path::new("a/b/sib/new")).unwrap();
        assert_eq!(ok, root.join("a/b/new"));
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn a_file_in_the_middle_is_not_a_directory() {
        let d = tmp("file");
        let root = d.join("root");
        std::fs::write(root.join("f"), "").unwrap();
        assert_eq!(
            resolve_in_root(&root, Path::new("f")).unwrap(),
            root.join("f")
        );
        assert!(matches!(
            resolve_in_root(&root, Path::new("f/x")),
            Err(ResolveError::NotADirectory { .. })
        ));
        std::fs::remove_dir_all(d).unwrap();
    }
}
