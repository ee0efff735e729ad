//! Termination messages as the kubelet reads them: the end (at most 4096 bytes) of the
//! file at `terminationMessagePath` inside the container's root, and for
//! FallbackToLogsOnError the end of the log: the last 80 lines, at most 2048 bytes.
//!
//! Reads never leave the root (openat2 `RESOLVE_IN_ROOT`, or [`resolve_in_root`] and
//! `O_NOFOLLOW` on kernels before 5.6) and never block the shim's loop (`O_NONBLOCK`,
//! and anything but a regular file is refused). Whether to fall back to the log is
//! `lifecycle`'s decision ([`crate::lifecycle::Action::ReadTerminationMessage`]).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use crate::runtime::resolve::{ResolveError, resolve_in_root};

/// The kubelet's `MaxContainerTerminationMessageLength`.
pub const MAX_MESSAGE_BYTES: usize = 4096;
/// The kubelet's `MaxContainerTerminationMessageLogLines`.
pub const MAX_LOG_LINES: usize = 80;
/// The kubelet's `MaxContainerTerminationMessageLogLength`.
pub const MAX_LOG_BYTES: usize = 2048;

#[derive(Debug, thiserror::Error)]
pub enum TerminationError {
    #[error("open root {path}: {errno}")]
    OpenRoot { path: PathBuf, errno: Errno },
    #[error("openat2 {path}: {errno}")]
    Open { path: PathBuf, errno: Errno },
    #[error("resolve {path}: {source}")]
    Resolve { path: PathBuf, source: ResolveError },
    #[error("fstat {path}: {errno}")]
    Stat { path: PathBuf, errno: Errno },
    #[error("{path}: not a regular file")]
    NotAFile { path: PathBuf },
    #[error("read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The last [`MAX_MESSAGE_BYTES`] of the file at `path` (as the container sees it)
/// inside `root`; `Ok(None)` when there is no such file.
pub fn read_message_file(root: &Path, path: &Path) -> Result<Option<Vec<u8>>, TerminationError> {
    let shown = root.join(path.strip_prefix("/").unwrap_or(path));
    let fd = match open_in_root(root, path, &shown) {
        Ok(fd) => fd,
        Err(TerminationError::Open {
            errno: Errno::NOENT,
            ..
        }) => return Ok(None),
        Err(e) => return Err(e),
    };
    read_tail(fd, &shown, MAX_MESSAGE_BYTES).map(Some)
}

/// Opens `path` for reading as if `root` were `/`, without blocking on a FIFO.
fn open_in_root(root: &Path, path: &Path, shown: &Path) -> Result<OwnedFd, TerminationError> {
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let dir_flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let root_fd = rustix::fs::open(root, dir_flags, Mode::empty()).map_err(|errno| {
        TerminationError::OpenRoot {
            path: root.to_path_buf(),
            errno,
        }
    })?;
    let open_err = |errno| TerminationError::Open {
        path: shown.to_path_buf(),
        errno,
    };
    let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    match rustix::fs::openat2(&root_fd, path, flags, Mode::empty(), resolve) {
        Err(Errno::NOSYS) => open_walked(root, path, shown, flags),
        other => other.map_err(open_err),
    }
}

/// Before Linux 5.6: walk the path inside the root, then refuse a final symlink.
fn open_walked(
    root: &Path,
    path: &Path,
    shown: &Path,
    flags: OFlags,
) -> Result<OwnedFd, TerminationError> {
    let resolved = resolve_in_root(root, path).map_err(|source| TerminationError::Resolve {
        path: shown.to_path_buf(),
        source,
    })?;
    rustix::fs::open(&resolved, flags | OFlags::NOFOLLOW, Mode::empty()).map_err(|errno| {
        TerminationError::Open {
            path: shown.to_path_buf(),
            errno,
        }
    })
}

/// At most the last `max` bytes of a regular file.
fn read_tail(fd: OwnedFd, shown: &Path, max: usize) -> Result<Vec<u8>, TerminationError> {
    let stat = rustix::fs::fstat(&fd).map_err(|errno| TerminationError::Stat {
        path: shown.to_path_buf(),
        errno,
    })?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Err(TerminationError::NotAFile {
            path: shown.to_path_buf(),
        });
    }
    let read_err = |source| TerminationError::Read {
        path: shown.to_path_buf(),
        source,
    };
    let mut file = File::from(fd);
    let size = u64::try_from(stat.st_size).unwrap_or(0);
    let max64 = max as u64;
    if size > max64 {
        file.seek(SeekFrom::Start(size - max64)).map_err(read_err)?;
    }
    let mut data = Vec::with_capacity(usize::try_from(size).map_or(max, |s| s.min(max)));
    // The file may grow while we read: the bound holds regardless.
    file.take(max64).read_to_end(&mut data).map_err(read_err)?;
    Ok(data)
}

/// The text of a log's end for FallbackToLogsOnError: its last [`MAX_LOG_LINES`]
/// lines, of which at most the last [`MAX_LOG_BYTES`] bytes (the kubelet keeps them
/// in a ring buffer of that size). `log` is the container's output as it wrote it.
pub fn log_tail(log: &[u8]) -> String {
    // A final newline ends the last line; it does not start another one.
    let body = log.strip_suffix(b"\n").unwrap_or(log);
    let mut start = 0;
    let mut lines = 0;
    for (i, &b) in body.iter().enumerate().rev() {
        if b == b'\n' {
            lines += 1;
            if lines == MAX_LOG_LINES {
                start = i + 1;
                break;
            }
        }
    }
    let tail = &log[start..];
    let tail = &tail[tail.len().saturating_sub(MAX_LOG_BYTES)..];
    // Do not start inside a UTF-8 sequence the byte limit cut.
    let skip = tail
        .iter()
        .take(3)
        .take_while(|&&b| b & 0xc0 == 0x80)
        .count();
    String::from_utf8_lossy(&tail[skip..]).into_owned()
}

/// [`log_tail`] of the log file at `path`, reading only its last bytes.
pub fn read_log_tail(path: &Path) -> Result<String, TerminationError> {
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd =
        rustix::fs::open(path, flags, Mode::empty()).map_err(|errno| TerminationError::Open {
            path: path.to_path_buf(),
            errno,
        })?;
    // One byte more than the limit shows whether a line starts right at the cut.
    let data = read_tail(fd, path, MAX_LOG_BYTES + 1)?;
    Ok(log_tail(&data))
}

/// The message the kubelet reports for a terminated container, from the result of
/// [`read_message_file`]; with `fallback_to_logs`, an empty or missing file gives
/// `log()` instead. A file that cannot be read is reported, with no fallback.
pub fn message(
    file: Result<Option<Vec<u8>>, TerminationError>,
    fallback_to_logs: bool,
    log: impl FnOnce() -> Result<String, TerminationError>,
) -> String {
    match file {
        Ok(Some(data)) if !data.is_empty() => String::from_utf8_lossy(&data).into_owned(),
        Ok(_) if fallback_to_logs => match log() {
            Ok(text) => text,
            Err(e) => format!("Error on reading termination message from logs: {e}"),
        },
        Ok(_) => String::new(),
        Err(e) => format!("Error on reading termination log: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("pealet-term-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("root/dev")).unwrap();
        std::fs::create_dir_all(d.join("outside")).unwrap();
        d
    }

    #[test]
    fn the_file_is_read_from_its_end_inside_the_root() {
        let d = tmp("file");
        let root = d.join("root");
        let log = Path::new("/dev/termination-log");
        assert_eq!(read_message_file(&root, log).unwrap(), None);
        std::fs::write(root.join("dev/termination-log"), "bye\n").unwrap();
        assert_eq!(
            read_message_file(&root, log).unwrap(),
            Some(b"bye\n".to_vec())
        );
        let big: Vec<u8> = (0..10_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        std::fs::write(root.join("dev/termination-log"), &big).unwrap();
        let got = read_message_file(&root, log).unwrap().unwrap();
        assert_eq!(got, big[big.len() - MAX_MESSAGE_BYTES..]);
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn symlinks_do_not_leave_the_root() {
        let d = tmp("links");
        let root = d.join("root");
        std::fs::write(d.join("outside/secret"), "host secret").unwrap();
        symlink(d.join("outside/secret"), root.join("abs")).unwrap();
        symlink("../../outside/secret", root.join("dev/rel")).unwrap();
        assert_eq!(read_message_file(&root, Path::new("/abs")).unwrap(), None);
        assert_eq!(
            read_message_file(&root, Path::new("/dev/rel")).unwrap(),
            None
        );
        let escaped = read_message_file(&root, Path::new("/../outside/secret")).unwrap();
        assert_eq!(escaped, None);
        // The walk used on kernels without openat2 stays inside too.
        std::fs::write(root.join("dev/msg"), "inside").unwrap();
        symlink("/dev/msg", root.join("dev/link")).unwrap();
        let flags = OFlags::RDONLY | OFlags::CLOEXEC;
        for p in ["/abs", "/dev/rel", "/../outside/secret"] {
            let r = open_walked(&root, Path::new(p), Path::new(p), flags);
            let errno = match r {
                Err(TerminationError::Open { errno, .. }) => errno,
                other => panic!("{p}: {other:?}"),
            };
            assert_eq!(errno, Errno::NOENT, "{p}");
        }
        let fd = open_walked(&root, Path::new("/dev/link"), Path::new("x"), flags).unwrap();
        assert_eq!(read_tail(fd, Path::new("x"), 100).unwrap(), b"inside");
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let d = tmp("fifo");
        let root = d.join("root");
        let fifo = root.join("dev/termination-log");
        let mode = Mode::from_raw_mode(0o600);
        rustix::fs::mknodat(rustix::fs::CWD, &fifo, FileType::Fifo, mode, 0).unwrap();
        let r = read_message_file(&root, Path::new("/dev/termination-log"));
        assert!(matches!(r, Err(TerminationError::NotAFile { .. })), "{r:?}");
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn log_tails_keep_80_lines_and_2048_bytes() {
        let lines: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let tail = log_tail(lines.as_bytes());
        assert!(
            tail.starts_with("line 20\n") && tail.ends_with("line 99\n"),
            "{tail}"
        );
        assert_eq!(tail.lines().count(), 80);
        assert_eq!(log_tail(b"no newline at the end"), "no newline at the end");
        assert_eq!(log_tail(b"a\nb"), "a\nb");
        let long = "x".repeat(5000) + "\nend\n";
        let tail = log_tail(long.as_bytes());
        assert_eq!(tail.len(), MAX_LOG_BYTES);
        assert!(tail.ends_with("x\nend\n"));
        // 6000 bytes of 3-byte characters: the cut falls inside one, which is dropped.
        let wide = "€".repeat(2000);
        let tail = log_tail(wide.as_bytes());
        assert_eq!(tail, "€".repeat(682));
    }

    #[test]
    fn reading_the_log_file_matches_the_tail_of_its_bytes() {
        let d = tmp("log");
        let path = d.join("c.log");
        let mut text = String::new();
        for i in 0..300 {
            text.push_str(&format!("{i}\n"));
            std::fs::write(&path, &text).unwrap();
            assert_eq!(
                read_log_tail(&path).unwrap(),
                log_tail(text.as_bytes()),
                "{i}"
            );
        }
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn the_message_follows_the_kubelet_choices() {
        let logs = || Ok::<_, TerminationError>("from logs".to_string());
        let none = || -> Result<String, TerminationError> { panic!("logs read") };
        assert_eq!(message(Ok(Some(b"file".to_vec())), true, none), "file");
        assert_eq!(message(Ok(Some(Vec::new())), true, logs), "from logs");
        assert_eq!(message(Ok(None), true, logs), "from logs");
        assert_eq!(message(Ok(None), false, none), "");
        let err = TerminationError::NotAFile {
            path: "/r/dev/termination-log".into(),
        };
        assert_eq!(
            message(Err(err), true, none),
            "Error on reading termination log: /r/dev/termination-log: not a regular file"
        );
        let failing = || {
            Err(TerminationError::Open {
                path: "/l".into(),
                errno: Errno::ACCESS,
            })
        };
        let msg = message(Ok(None), true, failing);
        assert!(msg.starts_with("Error on reading termination message from logs: openat2 /l"));
    }
}
