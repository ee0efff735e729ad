//! Small file-system steps of the store: removal of a file or tree, directory and file
//! system syncs, and the clock for index times.

use std::fs::{self, File};
use std::io;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use rustix::fs as rfs;

use super::StoreError;

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub fn remove_any(path: &Path) -> Result<(), StoreError> {
    let r = match fs::symlink_metadata(path) {
        Ok(md) if md.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    r.map_err(|source| StoreError::Remove {
        path: path.to_path_buf(),
        source,
    })
}

pub fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|source| StoreError::Write {
            path: dir.to_path_buf(),
            source,
        })
}

/// One `syncfs` flushes a whole unpacked layer instead of an fsync per file.
pub fn sync_fs(dir: &Path) -> Result<(), StoreError> {
    let f = File::open(dir).map_err(|source| StoreError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    rfs::syncfs(&f).map_err(|e| StoreError::Write {
        path: dir.to_path_buf(),
        source: e.into(),
    })
}
