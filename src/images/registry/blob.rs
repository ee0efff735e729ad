//! Blob downloads into `images/partial/<hex>`, verified as they stream, resumed with a
//! Range request from what an interrupted download left (in this pull or after a
//! restart), and deleted when their digest is wrong.
//!
//! A download holds an flock on its partial file, so two pulls needing one blob fetch
//! it once: the second waits, then finds the layer stored. The data goes through one
//! fixed 64 KiB buffer; nothing is held whole in memory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::Duration;

use rustix::fs::{FlockOperation, flock};
use sha2::{Digest as _, Sha256};

use crate::images::digest::Digest;
use crate::images::store::Store;

use super::distribution::{RegistryError, Session};

const BUF: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("cannot write the download {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("blob {digest}: digest mismatch: got {actual}; the download was deleted")]
    DigestMismatch { digest: Digest, actual: Digest },
    #[error("blob {digest}: the registry sent more than the {size} bytes its manifest says")]
    TooLarge { digest: Digest, size: u64 },
    #[error("blob {digest}: unexpected status {status}")]
    Status { digest: Digest, status: u16 },
    #[error(
        "blob {digest}: download interrupted at {done} of {size} bytes ({reason}); the next pull resumes it"
    )]
    Interrupted {
        digest: Digest,
        done: u64,
        size: u64,
        reason: String,
    },
}

/// A complete, verified download. The file stays locked until this is dropped; the
/// caller unpacks it, then calls [`Downloaded::remove`].
pub struct Downloaded {
    pub file: File,
    pub path: PathBuf,
    /// Bytes that were already on disk when this pull started (a resumed download).
    pub resumed_from: u64,
}

impl Downloaded {
    pub fn remove(self) {
        let _ = fs::remove_file(&self.path);
    }
}

pub fn partial_path(store: &Store, digest: &Digest) -> PathBuf {
    store.root().join("images/partial").join(digest.hex())
}

/// Downloads `digest` (`size` bytes) unless `already_done` says, once the download lock
/// is held, that it is not needed any more (`Ok(None)`). `progress` gets the bytes on
/// disk after each buffer. Up to `retries` interrupted transfers are resumed at once.
pub fn fetch(
    session: &mut Session,
    store: &Store,
    digest: &Digest,
    size: u64,
    retries: u32,
    already_done: &dyn Fn() -> bool,
    progress: &mut dyn FnMut(u64),
) -> Result<Option<Downloaded>, BlobError> {
    let path = partial_path(store, digest);
    let io_err = |source| BlobError::Io {
        path: path.clone(),
        source,
    };
    let mut file = open_locked(&path).map_err(io_err)?;
    if already_done() {
        let _ = fs::remove_file(&path);
        return Ok(None);
    }
    // What an earlier attempt left is hashed again: the digest covers the whole blob.
    let mut hasher = Sha256::new();
    let mut have = file.metadata().map_err(io_err)?.len();
    if have > size {
        file.set_len(0).map_err(io_err)?;
        have = 0;
    }
    let resumed_from = have;
    hash_prefix(&mut file, have, &mut hasher).map_err(io_err)?;
    let mut attempt = 0;
    while have < size {
        match transfer(
            session,
            &mut file,
            digest,
            size,
            &mut have,
            &mut hasher,
            progress,
        ) {
            Ok(()) => {}
            Err(Transfer::Fatal(e)) => return Err(e),
            Err(Transfer::Retry(reason)) if attempt < retries => {
                attempt += 1;
                log::warn!("blob {digest}: {reason}; resuming at byte {have} (retry {attempt})");
                std::thread::sleep(Duration::from_millis(200 * u64::from(attempt)));
            }
            Err(Transfer::Retry(reason)) => {
                return Err(BlobError::Interrupted {
                    digest: *digest,
                    done: have,
                    size,
                    reason,
                });
            }
        }
    }
    file.sync_data().map_err(io_err)?;
    let actual = Digest::parse(&format!("sha256:{:x}", hasher.finalize())).expect("sha256 hex");
    if actual != *digest {
        let _ = fs::remove_file(&path);
        return Err(BlobError::DigestMismatch {
            digest: *digest,
            actual,
        });
    }
    file.seek(SeekFrom::Start(0)).map_err(io_err)?;
    Ok(Some(Downloaded {
        file,
        path,
        resumed_from,
    }))
}

enum Transfer {
    Fatal(BlobError),
    /// The connection failed or was cut: worth resuming.
    Retry(String),
}

/// One GET from `have` on, appended to the file and the hash.
fn transfer(
    session: &mut Session,
    file: &mut File,
    digest: &Digest,
    size: u64,
    have: &mut u64,
    hasher: &mut Sha256,
    progress: &mut dyn FnMut(u64),
) -> Result<(), Transfer> {
    let mut resp = match session.blob(digest, *have) {
        Ok(r) => r,
        Err(e @ RegistryError::Http(_)) | Err(e @ RegistryError::Read { .. }) => {
            return Err(Transfer::Retry(e.to_string()));
        }
        Err(RegistryError::Status { status, .. }) if status >= 500 => {
            return Err(Transfer::Retry(format!("status {status}")));
        }
        Err(e) => return Err(Transfer::Fatal(e.into())),
    };
    let fatal_io = |source| {
        Transfer::Fatal(BlobError::Io {
            path: PathBuf::from(format!("partial blob {digest}")),
            source,
        })
    };
    let ranged = resp.status == 206
        && resp
            .header("content-range")
            .is_some_and(|r| r.trim().starts_with(&format!("bytes {}-", *have)));
    if !ranged {
        if resp.status == 416 || (resp.status == 206 && *have > 0) {
            // The registry refused or misread the range: start over.
            restart(file, have, hasher).map_err(fatal_io)?;
            return Err(Transfer::Retry(format!(
                "range refused (status {})",
                resp.status
            )));
        }
        if resp.status != 200 {
            return Err(Transfer::Fatal(BlobError::Status {
                digest: *digest,
                status: resp.status,
            }));
        }
        if *have > 0 {
            log::info!("blob {digest}: the registry ignored the range; downloading it whole");
            restart(file, have, hasher).map_err(fatal_io)?;
        }
    }
    file.seek(SeekFrom::Start(*have)).map_err(fatal_io)?;
    let mut buf = vec![0u8; BUF];
    loop {
        let n = match resp.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Transfer::Retry(e.to_string())),
        };
        if *have + n as u64 > size {
            let _ = restart(file, have, hasher);
            return Err(Transfer::Fatal(BlobError::TooLarge {
                digest: *digest,
                size,
            }));
        }
        file.write_all(&buf[..n]).map_err(fatal_io)?;
        hasher.update(&buf[..n]);
        *have += n as u64;
        progress(*have);
    }
}

fn restart(file: &mut File, have: &mut u64, hasher: &mut Sha256) -> io::Result<()> {
    file.set_len(0)?;
    *have = 0;
    *hasher = Sha256::new();
    Ok(())
}

fn hash_prefix(file: &mut File, len: u64, hasher: &mut Sha256) -> io::Result<()> {
    file.seek(SeekFrom::Start(0))?;
    let mut buf = vec![0u8; BUF];
    let mut r = file.take(len);
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        hasher.update(&buf[..n]);
    }
}

/// Opens (creating) the partial file and locks it; retries when the file that was
/// locked had meanwhile been removed (its download finished) and replaced.
fn open_locked(path: &PathBuf) -> io::Result<File> {
    loop {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        flock(&file, FlockOperation::LockExclusive)?;
        let same =
            fs::metadata(path).is_ok_and(|m| m.ino() == file.metadata().map_or(0, |f| f.ino()));
        if same {
            return Ok(file);
        }
    }
}
