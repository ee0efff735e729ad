//! Safe layer extraction: a tar stream unpacked into an empty directory, never outside it.
//!
//! Every entry path is checked (no absolute path, no `..`), every parent directory is
//! opened component by component with `O_NOFOLLOW` (a symlink already in the layer is
//! never followed), links whose target would leave the layer are refused, and device
//! nodes only pass with `allow_devices`. OCI whiteouts become overlayfs whiteouts (char
//! device 0/0) and opaque directories the `trusted.overlay.opaque` xattr. This module
//! does not know about digests or the store; the caller unpacks into a temporary
//! directory and renames it into place.

use std::fs::File;
use std::io::{self, Read, Write};
use std::num::NonZeroU64;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, Advice, AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::paths::{PathProblem, components, symlink_escapes};
use super::tar::{Archive, Entry, Kind};
use meta::{set_xattr, times};

/// File data is copied through one buffer of this size: a quarter of the write calls of
/// `io::copy`'s 8 KiB, for layers of large files.
const COPY_BUF: usize = 64 * 1024;

/// Large files are handed to writeback every this many bytes (see [`copy`]).
const WRITEBACK_STEP: u64 = 1024 * 1024;

/// The prefix of an OCI whiteout file name, and the name that makes a directory opaque.
const WHITEOUT: &[u8] = b".wh.";
const OPAQUE: &[u8] = b".wh..wh..opq";

#[derive(Debug, Clone)]
pub struct Options {
    /// Create character and block devices from the layer (whiteouts are always made).
    pub allow_devices: bool,
    /// Clear setuid and setgid bits on files.
    pub strip_setuid: bool,
    /// Give entries their recorded owner (needs root).
    pub preserve_owner: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            allow_devices: false,
            strip_setuid: false,
            preserve_owner: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("{0}")]
    Archive(#[from] super::tar::TarError),
    #[error("cannot open the layer directory {path}: {source}")]
    OpenRoot { path: PathBuf, source: Errno },
    #[error("entry {entry:?}: absolute paths are refused")]
    AbsolutePath { entry: String },
    #[error("entry {entry:?}: names the layer root but is not a directory")]
    RootNotDir { entry: String },
    #[error("entry {entry:?}: '..' components are refused")]
    DotDot { entry: String },
    #[error("entry {entry:?}: {what} target {target:?} escapes the layer")]
    LinkEscape {
        entry: String,
        what: &'static str,
        target: String,
    },
    #[error("entry {entry:?}: device nodes are refused (allow_devices is not set)")]
    Device { entry: String },
    #[error("entry {entry:?}: unsupported tar entry type {flag:?}")]
    Unsupported { entry: String, flag: char },
    #[error("entry {entry:?}: parent {parent:?} is a symlink or not a directory")]
    ParentNotDir { entry: String, parent: String },
    #[error("entry {entry:?}: {step} failed: {source}")]
    Create {
        entry: String,
        step: &'static str,
        source: Errno,
    },
    #[error("entry {entry:?}: cannot write the data: {source}")]
    Write { entry: String, source: io::Error },
    #[error("entry {entry:?}: cannot replace the existing entry: {source}")]
    Replace { entry: String, source: io::Error },
}

/// What an extraction did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub entries: u64,
    pub bytes: u64,
}

/// Unpacks every entry of `archive` into `dest`, an existing directory.
pub fn extract<R: Read>(
    archive: &mut Archive<R>,
    dest: &Path,
    opts: &Options,
) -> Result<Stats, ExtractError> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let root = rfs::open(dest, flags, Mode::empty()).map_err(|source| ExtractError::OpenRoot {
        path: dest.to_path_buf(),
        source,
    })?;
    let x = Extractor { root, dest, opts };
    let mut buf = vec![0; COPY_BUF];
    let mut stats = Stats::default();
    let mut dir_times = Vec::new();
    while let Some(e) = archive.next_entry()? {
        stats.entries += 1;
        stats.bytes += e.size;
        if let Some(t) = x.entry(&e, &mut archive.data(), &mut buf)? {
            dir_times.push(t);
        }
    }
    // Directory times last, deepest first: creating entries inside changes them.
    for (entry, path, mtime) in dir_times.into_iter().rev() {
        x.set_dir_time(&entry, &path, mtime)?;
    }
    Ok(stats)
}

struct Extractor<'a> {
    root: OwnedFd,
    dest: &'a Path,
    opts: &'a Options,
}

type DirTime = (String, Vec<u8>, i64);

impl Extractor<'_> {
    fn entry(
        &self,
        e: &Entry,
        data: &mut dyn Read,
        buf: &mut [u8],
    ) -> Result<Option<DirTime>, ExtractError> {
        let name = e.display();
        let comps = components(&e.path).map_err(|p| problem(p, &name))?;
        let Some((last, parents)) = comps.split_last() else {
            // The layer root itself: only its metadata.
            if e.kind == Kind::Directory {
                let fd = self.reopen_root(&name)?;
                self.set_meta(&fd, e, &name)?;
                return Ok(Some((name, Vec::new(), e.mtime)));
            }
            return Err(ExtractError::RootNotDir { entry: name });
        };
        let parent = self.open_dir(parents, &name, true)?;
        if *last == OPAQUE {
            return set_xattr(&parent, "trusted.overlay.opaque", b"y", &name).map(|()| None);
        }
        if last.starts_with(b".wh..wh.") {
            return Ok(None); // aufs bookkeeping, meaningless for overlayfs
        }
        if let Some(hidden) = last.strip_prefix(WHITEOUT) {
            if hidden.is_empty() || hidden == b"." || hidden == b".." {
                return Err(ExtractError::DotDot { entry: name });
            }
            self.remove_existing(&parent, parents, hidden, &name)?;
            let dev = rfs::makedev(0, 0);
            rfs::mknodat(
                &parent,
                hidden,
                FileType::CharacterDevice,
                Mode::empty(),
                dev,
            )
            .map_err(step(&name, "mknodat (whiteout)"))?;
            return Ok(None);
        }
        match e.kind {
            Kind::Directory => {
                match rfs::mkdirat(&parent, *last, Mode::from_raw_mode(0o700)) {
                    Ok(()) => {}
                    Err(Errno::EXIST) if self.is_dir(&parent, last) => {}
                    Err(Errno::EXIST) => {
                        self.remove_existing(&parent, parents, last, &name)?;
                        rfs::mkdirat(&parent, *last, Mode::from_raw_mode(0o700))
                            .map_err(step(&name, "mkdirat"))?;
                    }
                    Err(source) => return Err(step(&name, "mkdirat")(source)),
                }
                let fd = open_nofollow(&parent, last, OFlags::DIRECTORY)
                    .map_err(step(&name, "open directory"))?;
                self.set_meta(&fd, e, &name)?;
                return Ok(Some((name, e.path.clone(), e.mtime)));
            }
            Kind::File => {
                self.remove_existing(&parent, parents, last, &name)?;
                let fd = rfs::openat(
                    &parent,
                    *last,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(step(&name, "openat"))?;
                let mut file = File::from(fd);
                copy(data, &mut file, buf).map_err(|source| ExtractError::Write {
                    entry: name.clone(),
                    source,
                })?;
                self.set_meta(&file, e, &name)?;
                for (key, value) in &e.xattrs {
                    if key == "security.capability" || key.starts_with("user.") {
                        set_xattr(&file, key, value, &name)?;
                    } else {
                        log::debug!("{name}: xattr {key} ignored");
                    }
                }
                let t = times(e.mtime);
                rfs::futimens(&file, &t).map_err(step(&name, "futimens"))?;
            }
            Kind::Symlink => {
                if symlink_escapes(&comps, &e.link) {
                    return Err(escape(&name, "symlink", &e.link));
                }
                self.remove_existing(&parent, parents, last, &name)?;
                rfs::symlinkat(e.link.as_slice(), &parent, *last)
                    .map_err(step(&name, "symlinkat"))?;
                self.set_meta_at(&parent, last, e, &name, false)?;
            }
            Kind::HardLink => {
                let target = components(&e.link)
                    .ok()
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| escape(&name, "hard link", &e.link))?;
                let (tlast, tparents) = target.split_last().expect("not empty");
                let tparent = self.open_dir(tparents, &name, false)?;
                self.remove_existing(&parent, parents, last, &name)?;
                rfs::linkat(&tparent, *tlast, &parent, *last, AtFlags::empty())
                    .map_err(step(&name, "linkat"))?;
            }
            Kind::CharDevice | Kind::BlockDevice | Kind::Fifo => {
                let ft = match e.kind {
                    Kind::CharDevice => FileType::CharacterDevice,
                    Kind::BlockDevice => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                if ft != FileType::Fifo && !self.opts.allow_devices {
                    return Err(ExtractError::Device { entry: name });
                }
                self.remove_existing(&parent, parents, last, &name)?;
                let dev = rfs::makedev(e.dev_major, e.dev_minor);
                rfs::mknodat(&parent, *last, ft, Mode::empty(), dev)
                    .map_err(step(&name, "mknodat"))?;
                self.set_meta_at(&parent, last, e, &name, true)?;
            }
            Kind::Other(flag) => {
                return Err(ExtractError::Unsupported {
                    entry: name,
                    flag: flag as char,
                });
            }
        }
        Ok(None)
    }

    /// Opens the directory at `comps` below the root, one component at a time and never
    /// through a symlink; missing directories are created (mode 0755) when `create`.
    fn open_dir(
        &self,
        comps: &[&[u8]],
        entry: &str,
        create: bool,
    ) -> Result<OwnedFd, ExtractError> {
        let mut cur = self.reopen_root(entry)?;
        for (i, c) in comps.iter().enumerate() {
            let parent_name = || String::from_utf8_lossy(&comps[..=i].join(&b'/')).into_owned();
            let next = match open_nofollow(&cur, c, OFlags::DIRECTORY) {
                Err(Errno::NOENT) if create => {
                    rfs::mkdirat(&cur, *c, Mode::from_raw_mode(0o755))
                        .map_err(step(entry, "mkdirat (parent)"))?;
                    open_nofollow(&cur, c, OFlags::DIRECTORY)
                }
                other => other,
            };
            cur = match next {
                Ok(fd) => fd,
                Err(Errno::LOOP | Errno::NOTDIR) => {
                    return Err(ExtractError::ParentNotDir {
                        entry: entry.to_string(),
                        parent: parent_name(),
                    });
                }
                Err(source) => return Err(step(entry, "open parent directory")(source)),
            };
        }
        Ok(cur)
    }

    fn reopen_root(&self, entry: &str) -> Result<OwnedFd, ExtractError> {
        open_nofollow(&self.root, b".", OFlags::DIRECTORY).map_err(step(entry, "open layer root"))
    }

    fn is_dir(&self, parent: &OwnedFd, name: &[u8]) -> bool {
        rfs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW)
            .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory)
    }

    /// Removes what a later entry replaces: a file or link, or a whole directory.
    fn remove_existing(
        &self,
        parent: &OwnedFd,
        parents: &[&[u8]],
        name: &[u8],
        entry: &str,
    ) -> Result<(), ExtractError> {
        match rfs::unlinkat(parent, name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(Errno::ISDIR | Errno::PERM) if self.is_dir(parent, name) => {
                // Parents were just opened without following symlinks, and nobody else
                // writes in this temporary directory: the joined path is the same tree.
                let mut path = self.dest.to_path_buf();
                for c in parents.iter().chain(std::iter::once(&name)) {
                    path.push(std::ffi::OsStr::from_bytes(c));
                }
                std::fs::remove_dir_all(&path).map_err(|source| ExtractError::Replace {
                    entry: entry.to_string(),
                    source,
                })
            }
            Err(source) => Err(step(entry, "unlinkat")(source)),
        }
    }
}

/// Copies `src` to its end into `dst` through `buf`.
///
/// Every [`WRITEBACK_STEP`] bytes, the step just written is handed to the kernel's
/// writeback (`POSIX_FADV_DONTNEED` starts it without waiting, and drops only pages that
/// are already clean, which these are not yet): the disk then writes a large file while
/// the rest of the layer downloads and unpacks, and the store's `syncfs` before the
/// layer is renamed into place has little left to wait for. Durability does not depend
/// on it; a failing hint is ignored.
fn copy(src: &mut dyn Read, dst: &mut File, buf: &mut [u8]) -> io::Result<()> {
    let (mut written, mut flushed) = (0u64, 0u64);
    loop {
        let n = match src.read(buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        dst.write_all(&buf[..n])?;
        written += n as u64;
        if written - flushed >= WRITEBACK_STEP {
            let _ = rfs::fadvise(
                &*dst,
                flushed,
                NonZeroU64::new(written - flushed),
                Advice::DontNeed,
            );
            flushed = written;
        }
    }
}

fn open_nofollow(dir: &impl AsFd, name: &[u8], extra: OFlags) -> Result<OwnedFd, Errno> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | extra;
    rfs::openat(dir, name, flags, Mode::empty())
}

fn step<'a>(entry: &'a str, step: &'static str) -> impl Fn(Errno) -> ExtractError + 'a {
    move |source| ExtractError::Create {
        entry: entry.to_string(),
        step,
        source,
    }
}

fn problem(p: PathProblem, entry: &str) -> ExtractError {
    let entry = entry.to_string();
    match p {
        PathProblem::Absolute => ExtractError::AbsolutePath { entry },
        PathProblem::DotDot => ExtractError::DotDot { entry },
    }
}

fn escape(entry: &str, what: &'static str, target: &[u8]) -> ExtractError {
    ExtractError::LinkEscape {
        entry: entry.to_string(),
        what,
        target: String::from_utf8_lossy(target).into_owned(),
    }
}

mod meta;

/// Clear the setuid and setgid bits of every file below `dir` (directories keep
/// setgid, as extraction does); symbolic links are never followed. Returns how many
/// files changed.
pub fn strip_setuid_tree(dir: &Path) -> std::io::Result<usize> {
    use std::os::unix::fs::PermissionsExt;
    let mut changed = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let meta = std::fs::symlink_metadata(entry.path())?;
            let t = meta.file_type();
            if t.is_dir() {
                stack.push(entry.path());
                continue;
            }
            let mode = meta.permissions().mode();
            if t.is_file() && mode & 0o6000 != 0 {
                let perms = std::fs::Permissions::from_mode(mode & 0o1777);
                std::fs::set_permissions(entry.path(), perms)?;
                changed += 1;
            }
        }
    }
    Ok(changed)
}

#[cfg(test)]
#[path = "extract_tests.rs"]
mod tests;
