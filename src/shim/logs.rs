//! Container logs: what a container writes to stdout and stderr, kept in size-capped
//! files in the run directory (tmpfs by default: SD cards wear out).
//!
//! Format, one line per record, as the CRI log format of containerd:
//! `2026-11-22T02:47:12.123456789Z stdout F hello`: an RFC 3339 time with nanoseconds,
//! the stream, `F` for a full line or `P` for a part of a line longer than
//! [`MAX_LINE`] (or cut by the end of the stream), then the bytes as written.
//!
//! Files: `<run-dir>/pods/<pod>/logs/<container>/current.log` for the running instance;
//! when it exceeds half the cap it moves to `current.log.1` (replacing the one before),
//! so an instance never keeps more than the cap. A restart moves both to `previous.log`
//! and `previous.log.1` (`pealet logs --previous`).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::spec::Time;

/// Default cap of one container instance's logs.
pub const DEFAULT_CAP: u64 = 1024 * 1024;
/// A longer line is written in parts.
pub const MAX_LINE: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("create log directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("rotate {path}: {source}")]
    Rotate {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// The log of one container instance.
pub struct ContainerLog {
    dir: PathBuf,
    cap: u64,
    file: File,
    size: u64,
    /// Unfinished line per stream.
    partial: [Vec<u8>; 2],
}

impl ContainerLog {
    /// Start the log of a new instance: the last instance's files become `previous`.
    pub fn open(dir: &Path, cap: u64) -> Result<ContainerLog, LogError> {
        std::fs::create_dir_all(dir).map_err(|source| LogError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        for (from, to) in [
            ("current.log", "previous.log"),
            ("current.log.1", "previous.log.1"),
        ] {
            let (from, to) = (dir.join(from), dir.join(to));
            let _ = std::fs::remove_file(&to);
            match std::fs::rename(&from, &to) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(LogError::Rotate {
                        path: from,
                        source: e,
                    });
                }
                _ => {}
            }
        }
        let path = dir.join("current.log");
        let file = super::state::create_private(&path)
            .map_err(|source| LogError::Write { path, source })?;
        Ok(ContainerLog {
            dir: dir.to_path_buf(),
            cap: cap.max(2 * MAX_LINE as u64),
            file,
            size: 0,
            partial: [Vec::new(), Vec::new()],
        })
    }

    /// Record bytes the container wrote; complete lines are written at once.
    pub fn write(&mut self, stream: Stream, data: &[u8]) -> Result<(), LogError> {
        let mut out = Vec::new();
        let partial = &mut self.partial[stream as usize];
        format_records(
            &timestamp(SystemTime::now()),
            stream,
            partial,
            data,
            &mut out,
        );
        self.append(&out)
    }

    /// The stream ended: write what is left of its last line.
    pub fn close_stream(&mut self, stream: Stream) -> Result<(), LogError> {
        let rest = std::mem::take(&mut self.partial[stream as usize]);
        if rest.is_empty() {
            return Ok(());
        }
        let mut out = Vec::new();
        record(&timestamp(SystemTime::now()), stream, b'P', &rest, &mut out);
        self.append(&out)
    }

    fn append(&mut self, bytes: &[u8]) -> Result<(), LogError> {
        if bytes.is_empty() {
            return Ok(());
        }
        let current = self.dir.join("current.log");
        if self.size + bytes.len() as u64 > self.cap / 2 {
            let old = self.dir.join("current.log.1");
            std::fs::rename(&current, &old).map_err(|source| LogError::Rotate {
                path: current.clone(),
                source,
            })?;
            self.file =
                super::state::create_private(&current).map_err(|source| LogError::Write {
                    path: current.clone(),
                    source,
                })?;
            self.size = 0;
        }
        self.file
            .write_all(bytes)
            .map_err(|source| LogError::Write {
                path: current,
                source,
            })?;
        self.size += bytes.len() as u64;
        Ok(())
    }
}

/// Split `data` (after what `partial` holds) into records; keeps an unfinished line.
pub fn format_records(
    time: &str,
    stream: Stream,
    partial: &mut Vec<u8>,
    data: &[u8],
    out: &mut Vec<u8>,
) {
    partial.extend_from_slice(data);
    let mut start = 0;
    while let Some(nl) = partial[start..].iter().position(|b| *b == b'\n') {
        let line = &partial[start..start + nl];
        for (i, chunk) in line.chunks(MAX_LINE).enumerate() {
            let last = (i + 1) * MAX_LINE >= line.len();
            record(time, stream, if last { b'F' } else { b'P' }, chunk, out);
        }
        if line.is_empty() {
            record(time, stream, b'F', b"", out);
        }
        start += nl + 1;
    }
    while partial.len() - start >= MAX_LINE {
        record(time, stream, b'P', &partial[start..start + MAX_LINE], out);
        start += MAX_LINE;
    }
    partial.drain(..start);
}

fn record(time: &str, stream: Stream, tag: u8, line: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(time.as_bytes());
    out.push(b' ');
    out.extend_from_slice(stream.as_str().as_bytes());
    out.push(b' ');
    out.push(tag);
    out.push(b' ');
    out.extend_from_slice(line);
    out.push(b'\n');
}

/// RFC 3339 in UTC with nanoseconds.
pub fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = Time(d.as_secs()).to_string();
    format!("{}.{:09}Z", secs.trim_end_matches('Z'), d.subsec_nanos())
}

/// The bytes a container wrote, from its log records: `(time, stream, content)`; a
/// `P` record continues on the next one.
pub fn parse_record(line: &[u8]) -> Option<(&str, Stream, bool, &[u8])> {
    let mut parts = line.splitn(4, |b| *b == b' ');
    let time = std::str::from_utf8(parts.next()?).ok()?;
    let stream = match parts.next()? {
        b"stdout" => Stream::Stdout,
        b"stderr" => Stream::Stderr,
        _ => return None,
    };
    let full = parts.next()? == b"F";
    Some((time, stream, full, parts.next().unwrap_or_default()))
}

/// The files of an instance's log, oldest first.
pub fn files(dir: &Path, previous: bool) -> [PathBuf; 2] {
    let name = if previous {
        "previous.log"
    } else {
        "current.log"
    };
    [dir.join(format!("{name}.1")), dir.join(name)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_records_and_partial_lines_wait() {
        let mut partial = Vec::new();
        let mut out = Vec::new();
        format_records("T", Stream::Stdout, &mut partial, b"one\ntw", &mut out);
        assert_eq!(out, b"T stdout F one\n");
        assert_eq!(partial, b"tw");
        out.clear();
        format_records("T", Stream::Stderr, &mut partial, b"o\n\n", &mut out);
        assert_eq!(out, b"T stderr F two\nT stderr F \n");
        assert!(partial.is_empty());
        let long = vec![b'x'; MAX_LINE + 3];
        out.clear();
        format_records("T", Stream::Stdout, &mut partial, &long, &mut out);
        assert_eq!(out.len(), MAX_LINE + "T stdout P \n".len());
        assert_eq!(partial.len(), 3);
        let (time, stream, full, text) = parse_record(b"T stderr F a b").unwrap();
        assert_eq!(
            (time, stream, full, text),
            ("T", Stream::Stderr, true, &b"a b"[..])
        );
    }

    #[test]
    fn timestamps_are_rfc3339_with_nanoseconds() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::new(1_700_000_000, 5);
        assert_eq!(timestamp(t), "2023-11-14T22:13:20.000000005Z");
    }

    #[test]
    fn size_stays_under_the_cap_and_restarts_keep_the_previous_instance() {
        let dir = std::env::temp_dir().join(format!("pealet-logs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let cap = 4 * MAX_LINE as u64;
        let mut log = ContainerLog::open(&dir, cap).unwrap();
        let line = [vec![b'y'; 1000], vec![b'\n']].concat();
        for _ in 0..500 {
            log.write(Stream::Stdout, &line).unwrap();
        }
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let total: u64 = files(&dir, false).iter().map(|p| size(p)).sum();
        assert!(total <= cap && total > cap / 4, "{total}");
        drop(log);
        let _log = ContainerLog::open(&dir, cap).unwrap();
        assert_eq!(size(&dir.join("current.log")), 0);
        assert!(size(&dir.join("previous.log")) > 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
