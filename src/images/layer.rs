//! One layer stream into a directory: decompress (gzip, zstd or none, told by the magic
//! bytes), hash the blob and the uncompressed tar (diffid), extract safely.
//!
//! The caller supplies a fresh directory under the store's `tmp/` and moves it into
//! place only when this returns Ok: both digests were checked. Memory stays bounded: the
//! data flows through fixed-size buffers (gzip's 32 KiB window, zstd's frame window).

use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;
use ruzstd::{FrameDecoder, StreamingDecoder};

use super::digest::{Digest, HashReader};
use super::extract::{self, ExtractError};
use super::tar::Archive;

pub const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
pub const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("layer {layer}: {source}")]
    Unpack { layer: String, source: ExtractError },
    #[error("layer {layer}: cannot read: {source}")]
    Read { layer: String, source: io::Error },
    #[error(
        "{what} {name}: digest mismatch: expected {expected}, got {actual}; the data was deleted"
    )]
    DigestMismatch {
        what: &'static str,
        name: String,
        expected: Digest,
        actual: Digest,
    },
}

/// Extracts the layer read from `src` into `dir`, checking the blob digest and the
/// diffid when given. Returns the diffid and the uncompressed size.
pub fn unpack(
    src: impl Read,
    name: &str,
    blob: Option<&Digest>,
    diff_id: Option<&Digest>,
    dir: &Path,
    opts: &extract::Options,
) -> Result<(Digest, u64), LayerError> {
    let read_err = |source| LayerError::Read {
        layer: name.to_string(),
        source,
    };
    let mut blob_hash = HashReader::new(src);
    let (actual_diff, size) = {
        let mut buffered = BufReader::with_capacity(64 * 1024, &mut blob_hash);
        let head = buffered.fill_buf().map_err(read_err)?;
        let stream: Box<dyn Read> = if head.starts_with(GZIP_MAGIC) {
            Box::new(MultiGzDecoder::new(buffered))
        } else if head.starts_with(ZSTD_MAGIC) {
            Box::new(Zstd::new(buffered))
        } else {
            Box::new(buffered)
        };
        let mut diff_hash = HashReader::new(stream);
        extract::extract(&mut Archive::new(&mut diff_hash), dir, opts).map_err(|source| {
            LayerError::Unpack {
                layer: name.to_string(),
                source,
            }
        })?;
        diff_hash.finish().map_err(read_err)?
    };
    let (actual_blob, _) = blob_hash.finish().map_err(read_err)?;
    let checks = [
        ("layer blob", blob, actual_blob),
        ("layer diffid", diff_id, actual_diff),
    ];
    for (what, expected, actual) in checks {
        if let Some(expected) = expected {
            if *expected != actual {
                return Err(LayerError::DigestMismatch {
                    what,
                    name: name.to_string(),
                    expected: *expected,
                    actual,
                });
            }
        }
    }
    Ok((actual_diff, size))
}

/// A zstd stream of one or more frames, decoded one frame at a time.
struct Zstd<R: BufRead> {
    state: ZstdState<R>,
}

enum ZstdState<R: BufRead> {
    /// Between frames: the source and a decoder to reuse.
    Idle(R, Box<FrameDecoder>),
    Frame(StreamingDecoder<R, Box<FrameDecoder>>),
    Done,
}

impl<R: BufRead> Zstd<R> {
    fn new(src: R) -> Zstd<R> {
        Zstd {
            state: ZstdState::Idle(src, Box::new(FrameDecoder::new())),
        }
    }
}

fn zstd_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("zstd: {e}"))
}

impl<R: BufRead> Read for Zstd<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match std::mem::replace(&mut self.state, ZstdState::Done) {
                ZstdState::Done => return Ok(0),
                ZstdState::Idle(mut src, dec) => {
                    if src.fill_buf()?.is_empty() {
                        return Ok(0);
                    }
                    let frame = StreamingDecoder::new_with_decoder(src, dec).map_err(zstd_err)?;
                    self.state = ZstdState::Frame(frame);
                }
                ZstdState::Frame(mut frame) => {
                    let n = frame.read(buf)?;
                    if n > 0 || buf.is_empty() {
                        self.state = ZstdState::Frame(frame);
                        return Ok(n);
                    }
                    let (src, dec) = frame.into_parts();
                    self.state = ZstdState::Idle(src, dec);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two frames of "hello " and "world", each a single raw block, as `zstd` writes
    /// them for tiny inputs (frame header: single segment, content size in one byte).
    fn frame(data: &[u8]) -> Vec<u8> {
        let mut f = ZSTD_MAGIC.to_vec();
        f.push(0x20); // single segment, 1-byte content size, no checksum
        f.push(data.len() as u8);
        let header = ((data.len() as u32) << 3) | 1; // last block, raw
        f.extend_from_slice(&header.to_le_bytes()[..3]);
        f.extend_from_slice(data);
        f
    }

    #[test]
    fn zstd_reads_every_frame() {
        let mut bytes = frame(b"hello ");
        bytes.extend(frame(b"world"));
        let mut out = String::new();
        Zstd::new(&bytes[..]).read_to_string(&mut out).unwrap();
        assert_eq!(out, "hello world");
    }

    #[test]
    fn zstd_refuses_garbage() {
        let mut bytes = ZSTD_MAGIC.to_vec();
        bytes.extend([0xff; 16]);
        let mut out = Vec::new();
        assert!(Zstd::new(&bytes[..]).read_to_end(&mut out).is_err());
    }
}
