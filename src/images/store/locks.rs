//! The store's file locks: the store lock (one writer at a time) and the pull lock
//! (shared by running pulls, taken exclusively to clean `images/tmp/`).
//!
//! flock locks belong to an open file description, so two threads of one process that
//! each open the file exclude each other exactly as two processes do.

use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{self as rfs, FlockOperation, Mode, OFlags};

use super::{Store, StoreError};

/// Holds a lock until dropped.
pub struct Lock(#[allow(dead_code)] OwnedFd);

impl Store {
    /// Takes the store's exclusive lock (blocking). Every change happens under it.
    pub fn lock(&self) -> Result<Lock, StoreError> {
        let path = self.root.join("images/lock");
        flock_file(&path, FlockOperation::LockExclusive).map(|l| l.expect("blocking flock"))
    }

    /// Held (shared) by a pull for its whole duration, in any process.
    pub fn pulling(&self) -> Result<Lock, StoreError> {
        let path = self.root.join("images/pulling.lock");
        flock_file(&path, FlockOperation::LockShared).map(|l| l.expect("blocking flock"))
    }

    /// The exclusive pull lock when no pull runs now (non-blocking), else `None`.
    pub fn no_pull_running(&self) -> Result<Option<Lock>, StoreError> {
        let path = self.root.join("images/pulling.lock");
        flock_file(&path, FlockOperation::NonBlockingLockExclusive)
    }
}

/// Opens (creating) `path` and flocks it; `None` when a non-blocking lock is taken.
pub fn flock_file(path: &Path, op: FlockOperation) -> Result<Option<Lock>, StoreError> {
    let flags = OFlags::RDWR | OFlags::CREATE | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    let err = |source| StoreError::Lock {
        path: path.to_path_buf(),
        source,
    };
    let fd = rfs::open(path, flags, Mode::from_raw_mode(0o600)).map_err(err)?;
    match rfs::flock(&fd, op) {
        Ok(()) => Ok(Some(Lock(fd))),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
        Err(source) => Err(err(source)),
    }
}
