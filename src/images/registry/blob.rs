//! Layer blobs as a stream that is written to `images/partial/<hex>` as it is read, so
//! that an interrupted download resumes with a Range request (within this pull, or in
//! the next one after a restart) while the layer unpacks from the same single pass.
//!
//! The reader never checks the digest itself: its consumer (`layer::unpack`) hashes
//! every byte, from the partial file's first byte to the last one from the network,
//! and the caller deletes the partial file when the digest is wrong. A download holds
//! an flock on its partial file, so two pulls needing one blob fetch it once. The data
//! goes through the caller's fixed buffers; nothing is held whole in memory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::fs::{FlockOperation, flock};

use crate::images::digest::{Digest, HashReader};
use crate::images::store::Store;

use super::distribution::{RegistryError, Session};
use super::http::Response;

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("cannot write the download {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("blob {digest}: digest mismatch: got {actual}; the download was deleted")]
    DigestMismatch { digest: Digest, actual: Digest },
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

pub fn partial_path(store: &Store, digest: &Digest) -> PathBuf {
    store.root().join("images/partial").join(digest.hex())
}

/// A locked partial download and what it already holds.
pub struct Partial {
    file: File,
    pub path: PathBuf,
    /// Bytes already on disk (from an interrupted download).
    pub have: u64,
}

/// Opens and locks the partial file of `digest` (waiting for another download of it),
/// unless `already_done` then says it is not needed any more (`Ok(None)`).
pub fn open(
    store: &Store,
    digest: &Digest,
    size: u64,
    already_done: &dyn Fn() -> bool,
) -> Result<Option<Partial>, BlobError> {
    let path = partial_path(store, digest);
    let io_err = |source| BlobError::Io {
        path: path.clone(),
        source,
    };
    let file = open_locked(&path).map_err(io_err)?;
    if already_done() {
        let _ = fs::remove_file(&path);
        return Ok(None);
    }
    let mut have = file.metadata().map_err(io_err)?.len();
    if have > size {
        file.set_len(0).map_err(io_err)?;
        have = 0;
    }
    Ok(Some(Partial { file, path, have }))
}

impl Partial {
    /// Deletes the download (done, or its digest was wrong).
    pub fn remove(path: &Path) {
        let _ = fs::remove_file(path);
    }

    /// The whole blob as a stream: what is on disk, then the registry's bytes, which
    /// are appended to the file. Up to `retries` broken transfers are resumed.
    pub fn reader<'a>(
        self,
        session: &'a mut Session,
        digest: Digest,
        size: u64,
        retries: u32,
        progress: &'a mut dyn FnMut(u64),
    ) -> BlobReader<'a> {
        BlobReader {
            prefix_left: self.have,
            have: self.have,
            partial: self,
            session,
            digest,
            size,
            retries,
            attempts: 0,
            resp: None,
            progress,
            failure: None,
        }
    }
}

pub struct BlobReader<'a> {
    partial: Partial,
    session: &'a mut Session,
    digest: Digest,
    size: u64,
    retries: u32,
    attempts: u32,
    /// Bytes of the file still to be read before the network.
    prefix_left: u64,
    /// Bytes in the file.
    have: u64,
    resp: Option<Response>,
    progress: &'a mut dyn FnMut(u64),
    /// Why the stream failed, when it did: the reader's io errors only carry text.
    pub failure: Option<BlobError>,
}

impl BlobReader<'_> {
    /// Takes the typed reason of a failed read, if the failure was the download's.
    pub fn take_failure(&mut self) -> Option<BlobError> {
        self.failure.take()
    }

    fn fail(&mut self, e: BlobError) -> io::Error {
        let err = io::Error::other(e.to_string());
        self.failure = Some(e);
        err
    }

    /// Counts one broken transfer; fails once the retries are used up.
    fn retry(&mut self, reason: String) -> io::Result<()> {
        self.resp = None;
        if self.attempts >= self.retries {
            return Err(self.fail(BlobError::Interrupted {
                digest: self.digest,
                done: self.have,
                size: self.size,
                reason,
            }));
        }
        self.attempts += 1;
        log::warn!(
            "blob {}: {reason}; resuming at byte {} (retry {})",
            self.digest,
            self.have,
            self.attempts
        );
        std::thread::sleep(Duration::from_millis(200 * u64::from(self.attempts)));
        Ok(())
    }

    /// A response positioned at byte `have`: a ranged one, or a whole one whose first
    /// `have` bytes are skipped (registries and storage may ignore the range).
    fn connect(&mut self) -> Result<Response, Option<BlobError>> {
        let retryable = |e: RegistryError| match e {
            RegistryError::Http(_) | RegistryError::Read { .. } => None,
            RegistryError::Status { status, .. } if status >= 500 => None,
            e => Some(BlobError::Registry(e)),
        };
        let mut resp = self
            .session
            .blob(&self.digest, self.have)
            .map_err(retryable)?;
        let wanted = format!("bytes {}-", self.have);
        let ranged = resp.status == 206
            && resp
                .header("content-range")
                .is_some_and(|r| r.trim().starts_with(&wanted));
        if ranged || (resp.status == 200 && self.have == 0) {
            return Ok(resp);
        }
        if resp.status == 416 || resp.status == 206 {
            resp = self.session.blob(&self.digest, 0).map_err(retryable)?;
        }
        if resp.status != 200 {
            let status = resp.status;
            return Err(Some(BlobError::Status {
                digest: self.digest,
                status,
            }));
        }
        log::info!(
            "blob {}: range not honoured; skipping {} bytes",
            self.digest,
            self.have
        );
        let skipped =
            io::copy(&mut (&mut resp).take(self.have), &mut io::sink()).map_err(|_| None)?;
        if skipped != self.have {
            return Err(None);
        }
        Ok(resp)
    }
}

impl Read for BlobReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.prefix_left > 0 {
            let max = buf
                .len()
                .min(usize::try_from(self.prefix_left).unwrap_or(usize::MAX));
            let n = (&self.partial.file).read(&mut buf[..max])?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "partial download shrank",
                ));
            }
            self.prefix_left -= n as u64;
            return Ok(n);
        }
        loop {
            if self.have >= self.size {
                return Ok(0);
            }
            let Some(resp) = self.resp.as_mut() else {
                match self.connect() {
                    Ok(r) => self.resp = Some(r),
                    Err(Some(e)) => return Err(self.fail(e)),
                    Err(None) => self.retry("cannot reach the registry".into())?,
                }
                continue;
            };
            let max = buf
                .len()
                .min(usize::try_from(self.size - self.have).unwrap_or(usize::MAX));
            match resp.read(&mut buf[..max]) {
                Ok(0) => self.retry("connection closed early".into())?,
                Ok(n) => {
                    if let Err(source) = (&self.partial.file).write_all(&buf[..n]) {
                        let path = self.partial.path.clone();
                        return Err(self.fail(BlobError::Io { path, source }));
                    }
                    self.have += n as u64;
                    (self.progress)(self.have);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => self.retry(e.to_string())?,
            }
        }
    }
}

/// Checks a complete download against its digest; deletes it when wrong.
pub fn verify_file(path: &Path, digest: &Digest) -> Result<(), BlobError> {
    let file = File::open(path).map_err(|source| BlobError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let (actual, _) = HashReader::new(file)
        .finish()
        .map_err(|source| BlobError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if actual != *digest {
        Partial::remove(path);
        return Err(BlobError::DigestMismatch {
            digest: *digest,
            actual,
        });
    }
    Ok(())
}

/// Opens (creating) the partial file and locks it; retries when the file that was
/// locked had meanwhile been removed (its download finished) and replaced.
fn open_locked(path: &Path) -> io::Result<File> {
    loop {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)?;
        flock(&file, FlockOperation::LockExclusive)?;
        let ino = file.metadata()?.ino();
        if fs::metadata(path).is_ok_and(|m| m.ino() == ino) {
            return Ok(file);
        }
    }
}
