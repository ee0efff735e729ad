//! Owner, mode, times and xattrs of extracted entries, in the order the kernel needs.
//!
//! Part of `extract`: these run right after an entry is created, on its descriptor or
//! relative to its parent directory, never through a path that could hold a symlink.

use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{self as rfs, AtFlags, Gid, Mode, Timespec, Timestamps, Uid};

use super::{ExtractError, Extractor, components, problem, step};
use crate::images::tar::{Entry, Kind};

impl Extractor<'_> {
    pub(super) fn mode(&self, e: &Entry) -> Mode {
        let mut mode = e.mode & 0o7777;
        if self.opts.strip_setuid && e.kind != Kind::Directory {
            mode &= !0o6000;
        }
        Mode::from_raw_mode(mode)
    }

    /// Owner first, then mode: changing the owner clears the setuid bit.
    pub(super) fn set_meta(
        &self,
        fd: &impl AsFd,
        e: &Entry,
        name: &str,
    ) -> Result<(), ExtractError> {
        if self.opts.preserve_owner {
            let (uid, gid) = (Uid::from_raw(e.uid), Gid::from_raw(e.gid));
            rfs::fchown(fd, Some(uid), Some(gid)).map_err(step(name, "fchown"))?;
        }
        rfs::fchmod(fd, self.mode(e)).map_err(step(name, "fchmod"))
    }

    /// For entries that cannot be opened (symlinks, devices, fifos); `chmod` only for the
    /// latter, as symlinks have no mode of their own.
    pub(super) fn set_meta_at(
        &self,
        parent: &OwnedFd,
        last: &[u8],
        e: &Entry,
        name: &str,
        chmod: bool,
    ) -> Result<(), ExtractError> {
        if self.opts.preserve_owner {
            let (uid, gid) = (Uid::from_raw(e.uid), Gid::from_raw(e.gid));
            rfs::chownat(
                parent,
                last,
                Some(uid),
                Some(gid),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(step(name, "fchownat"))?;
        }
        if chmod {
            // Just created by mknodat in our own directory: not a symlink.
            rfs::chmodat(parent, last, self.mode(e), AtFlags::empty())
                .map_err(step(name, "fchmodat"))?;
        }
        rfs::utimensat(parent, last, &times(e.mtime), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(step(name, "utimensat"))
    }

    pub(super) fn set_dir_time(
        &self,
        entry: &str,
        path: &[u8],
        mtime: i64,
    ) -> Result<(), ExtractError> {
        let comps = components(path).map_err(|p| problem(p, entry))?;
        let fd = self.open_dir(&comps, entry, false)?;
        rfs::futimens(&fd, &times(mtime)).map_err(step(entry, "futimens"))
    }
}

pub(super) fn set_xattr(
    fd: &impl AsFd,
    key: &str,
    value: &[u8],
    name: &str,
) -> Result<(), ExtractError> {
    rfs::fsetxattr(fd, key, value, rfs::XattrFlags::empty()).map_err(step(name, "fsetxattr"))
}

pub(super) fn times(mtime: i64) -> Timestamps {
    let t = Timespec {
        tv_sec: mtime,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}
