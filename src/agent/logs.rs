//! Answers remote-logs requests (`pealet logs --node N`) from the shims' log files.
//!
//! The files are the ones `shim::logs` writes and the local `pealet logs` reads (CRI
//! records, `shim::logs::parse_record`). They are read as a stream, keeping only the
//! newest lines that fit [`MAX_LOG_TEXT`] (and the requested tail): one answer costs at
//! most that much memory plus one record, whatever the size of the files.
//!
//! Requests are rate-limited by a token bucket ([`Limiter`]): a burst of [`BURST`], then
//! [`PER_SECOND`] a second. What waits beyond that stays in the mailbox's bounded queue
//! (which drops the oldest), so a flood neither grows memory nor keeps the agent's loop
//! from its other work.
//!
//! Follows (`pealet logs --node N -f`) are kept in [`Follows`], a bounded table with
//! leases, looks at most once a second and a byte budget per follow; it reads the files
//! through [`LogSource`] ([`Files`] on the node), so its rules are tested without I/O.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read as _, Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::shim::logs::{self, MAX_LINE};
use crate::shim::state::{self, PodState, StateError};
use crate::spec::PodPhase;
use crate::spec::bounded::{self, BoundedVec, Name};
use crate::spec::logs::{
    Cursor, FOLLOW_LEASE, FollowEnd, LogChunk, LogText, LogsError, LogsErrorReason, LogsRequest,
    LogsResponse, LogsResult, MAX_LOG_TEXT,
};
use crate::spec::validate::is_dns_label;

/// Requests answered at once after a quiet time.
pub const BURST: u32 = 4;
/// Requests answered per second when they keep coming.
pub const PER_SECOND: u32 = 2;
/// The longest record read from a log file: a full part of a line, its time and tags.
const MAX_RECORD: usize = MAX_LINE + 128;

/// A token bucket: how many requests may be answered now.
pub struct Limiter {
    tokens: f64,
    last: Instant,
}

impl Default for Limiter {
    fn default() -> Limiter {
        Limiter {
            tokens: f64::from(BURST),
            last: Instant::now(),
        }
    }
}

impl Limiter {
    /// The requests that may be answered now; [`Limiter::spend`] them.
    pub fn available(&mut self, now: Instant) -> usize {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * f64::from(PER_SECOND)).min(f64::from(BURST));
        self.tokens as usize
    }

    pub fn spend(&mut self, n: usize) {
        self.tokens = (self.tokens - n as f64).max(0.0);
    }
}

/// The answer to `request`, from the pods in `run_dir`.
pub fn answer(root: &Path, run_dir: &Path, request: &LogsRequest) -> LogsResponse {
    LogsResponse {
        id: request.id.clone(),
        result: match read(root, run_dir, request) {
            Ok(text) => LogsResult::Text(text),
            Err((reason, message)) => LogsResult::Error(LogsError {
                reason,
                message: text(&message),
            }),
        },
    }
}

type Refusal = (LogsErrorReason, String);

fn read(root: &Path, run_dir: &Path, r: &LogsRequest) -> Result<LogText, Refusal> {
    let (p, container) = resolve(root, run_dir, r)?;
    let pod = r.pod.as_str();
    let [older, newer] = logs::files(&p.dirs.logs(&container), r.previous);
    if r.previous && !newer.exists() {
        let msg = format!("container {container} of pod {pod} has no previous instance");
        return Err((LogsErrorReason::NoPreviousInstance, msg));
    }
    let mut tail = Tail::new(MAX_LOG_TEXT, r.tail, r.timestamps);
    for path in [older, newer] {
        match std::fs::File::open(&path) {
            Ok(f) => {
                tail.read(f);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                let msg = format!("read {}: {e}", path.display());
                return Err((LogsErrorReason::Unreadable, msg));
            }
        }
    }
    Ok(tail.finish(container))
}

/// The pod a request names and the container it reads (the only one when it names
/// none), or why not.
fn resolve(root: &Path, run_dir: &Path, r: &LogsRequest) -> Result<(PodState, Name), Refusal> {
    let pod = r.pod.as_str();
    // The names become paths: only DNS labels, never `..` or `/`.
    if !is_dns_label(pod) {
        let msg = format!("pod name {pod:?} is not a DNS label");
        return Err((LogsErrorReason::Invalid, msg));
    }
    if let Some(c) = r.container.as_deref().filter(|c| !is_dns_label(c)) {
        let msg = format!("container name {c:?} is not a DNS label");
        return Err((LogsErrorReason::Invalid, msg));
    }
    let p = state::read(root, run_dir, pod).map_err(|e| match e {
        StateError::NoSuchPod { .. } => (
            LogsErrorReason::NoSuchPod,
            format!("no pod {pod:?} on this node"),
        ),
        other => (LogsErrorReason::Unreadable, other.to_string()),
    })?;
    let names: Vec<&str> = (p.pod.spec.all_containers())
        .map(|c| c.name.as_str())
        .collect();
    let container: Name = match r.container.as_ref() {
        Some(c) if names.contains(&c.as_str()) => c.clone(),
        Some(c) => {
            let msg = format!(
                "no container {c:?} in pod {pod}; it has: {}",
                names.join(", ")
            );
            return Err((LogsErrorReason::NoSuchContainer, msg));
        }
        None if names.len() == 1 => bounded::name(names[0]).unwrap_or_default(),
        None => {
            let msg = format!(
                "pod {pod} has several containers ({}): choose one with -c",
                names.join(", ")
            );
            return Err((LogsErrorReason::ContainerNeeded, msg));
        }
    };
    Ok((p, container))
}

/// The newest lines of a stream of log records, within a byte and a line budget.
struct Tail {
    /// Pieces of output, each `(bytes, starts a line)`; a line may span several pieces
    /// (a `P` record continues on the next one).
    pieces: VecDeque<(Vec<u8>, bool)>,
    bytes: usize,
    lines: usize,
    max_bytes: usize,
    max_lines: Option<usize>,
    timestamps: bool,
    /// The last piece ended its line: the next one starts a new line.
    at_line_start: bool,
    truncated: bool,
}

impl Tail {
    fn new(max_bytes: usize, tail: Option<u32>, timestamps: bool) -> Tail {
        Tail {
            pieces: VecDeque::new(),
            bytes: 0,
            lines: 0,
            max_bytes,
            max_lines: tail.map(|n| n as usize),
            timestamps,
            at_line_start: true,
            truncated: false,
        }
    }

    /// Reads the records of `file` from where it stands; a record longer than any the
    /// shim writes is skipped. Stops before an unfinished record at the end (the shim is
    /// writing it). Returns the bytes consumed.
    fn read(&mut self, file: std::fs::File) -> u64 {
        let mut reader = BufReader::new(file);
        let mut record = Vec::with_capacity(256);
        let mut consumed = 0u64;
        loop {
            record.clear();
            let limit = MAX_RECORD as u64;
            let n = match (&mut reader).take(limit).read_until(b'\n', &mut record) {
                Ok(0) | Err(_) => return consumed,
                Ok(n) => n as u64,
            };
            if record.last() == Some(&b'\n') {
                record.pop();
            } else if n == limit {
                // Not a record the shim wrote: skip to the end of this line.
                consumed += n + skip_line(&mut reader).unwrap_or(0);
                continue;
            } else {
                return consumed;
            }
            consumed += n;
            if let Some((time, _stream, full, text)) = logs::parse_record(&record) {
                self.push(time, text, full);
            }
        }
    }

    fn push(&mut self, time: &str, text: &[u8], ends_line: bool) {
        let starts = self.at_line_start;
        let mut piece = Vec::with_capacity(text.len() + 40);
        if starts && self.timestamps {
            piece.extend_from_slice(time.as_bytes());
            piece.push(b' ');
        }
        piece.extend_from_slice(text);
        if ends_line {
            piece.push(b'\n');
        }
        self.at_line_start = ends_line;
        self.bytes += piece.len();
        self.lines += usize::from(starts);
        self.pieces.push_back((piece, starts));
        if let Some(max) = self.max_lines {
            while self.lines > max {
                self.drop_line();
            }
        }
        while self.bytes > self.max_bytes {
            self.drop_piece();
            self.truncated = true;
        }
    }

    /// Drops the oldest line, all its pieces.
    fn drop_line(&mut self) {
        self.drop_piece();
        while self.pieces.front().is_some_and(|(_, starts)| !starts) {
            self.drop_piece();
        }
    }

    fn drop_piece(&mut self) {
        if let Some((piece, starts)) = self.pieces.pop_front() {
            self.bytes -= piece.len();
            self.lines -= usize::from(starts);
        }
    }

    fn finish(self, container: Name) -> LogText {
        let mut text = Vec::with_capacity(self.bytes);
        for (piece, _) in &self.pieces {
            text.extend_from_slice(piece);
        }
        LogText {
            container,
            // At most max_bytes (MAX_LOG_TEXT) by `push`.
            text: BoundedVec::try_from(text).unwrap_or_default(),
            truncated: self.truncated,
        }
    }
}

/// Reads up to and including the next newline, keeping nothing; returns the bytes read.
fn skip_line(reader: &mut impl BufRead) -> std::io::Result<u64> {
    let mut skipped = 0u64;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(skipped);
        }
        match buf.iter().position(|b| *b == b'\n') {
            Some(i) => {
                reader.consume(i + 1);
                return Ok(skipped + i as u64 + 1);
            }
            None => {
                let n = buf.len();
                reader.consume(n);
                skipped += n as u64;
            }
        }
    }
}

fn text(s: &str) -> bounded::Text {
    let mut end = s.len().min(bounded::MAX_TEXT);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].try_into().unwrap_or_default()
}

/// Follows kept at once; one more is answered [`FollowEnd::Busy`].
pub const MAX_FOLLOWS: usize = 4;
/// The shortest time between two looks at a follow's files, so between two chunks.
pub const FOLLOW_INTERVAL: Duration = Duration::from_secs(1);
/// Bytes of output a follow sends per second once its first chunk (up to
/// [`MAX_LOG_TEXT`]) has spent the bucket; output beyond that is skipped, newest kept.
pub const FOLLOW_BYTES_PER_SECOND: usize = 4 * 1024;

/// What a look at a follow's files found: the output since its position, or the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    /// The container read (the one chosen when the request named none).
    pub container: Name,
    /// At most the budget given to [`LogSource::read`].
    pub text: Vec<u8>,
    /// Older output was left out (over the budget, or lost to rotation).
    pub skipped: bool,
    /// Where the text ends.
    pub at: Position,
    pub end: Option<FollowEnd>,
}

/// Where a follow stands: the wire's [`Cursor`], and whether the output so far ended
/// its line (a `--timestamps` prefix goes only at the start of a line).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Position {
    pub cursor: Cursor,
    pub mid_line: bool,
}

/// The logs as [`Follows`] reads them: the shims' files on the node ([`Files`]), or a
/// fake in tests.
pub trait LogSource {
    /// The output of `request`'s container after `from`, at most `budget` bytes (the
    /// newest that fit); `from` None: a new follow, the tail of the current instance
    /// as a plain request would get it. `Err` when the request cannot be followed.
    fn read(
        &mut self,
        request: &LogsRequest,
        from: Option<Position>,
        budget: usize,
    ) -> Result<Read, LogsError>;
}

/// One follow: its request (the container filled in after the first read), where it
/// stands, and its clocks.
struct Entry {
    request: LogsRequest,
    at: Option<Position>,
    seq: u32,
    /// The follow ends unless renewed by then.
    expires: Instant,
    /// The next look at the files.
    next: Instant,
    /// A renewal arrived: the next look answers even when nothing new was written, so
    /// the operator knows the node still follows.
    ack: bool,
    /// Bytes that may be sent now (a bucket of [`MAX_LOG_TEXT`] refilled at
    /// [`FOLLOW_BYTES_PER_SECOND`]).
    tokens: f64,
    filled: Instant,
}

impl Entry {
    fn budget(&mut self, now: Instant) -> usize {
        let elapsed = now.saturating_duration_since(self.filled).as_secs_f64();
        self.filled = now;
        let rate = FOLLOW_BYTES_PER_SECOND as f64;
        self.tokens = (self.tokens + elapsed * rate).min(MAX_LOG_TEXT as f64);
        self.tokens as usize
    }
}

/// The remote-logs follows of the agent (`pealet logs --node N -f`): a table of at
/// most [`MAX_FOLLOWS`], each ending [`FOLLOW_LEASE`] after its last request, looked at
/// every [`FOLLOW_INTERVAL`] and sending at most [`FOLLOW_BYTES_PER_SECOND`] after its
/// first chunk. No I/O here: the files are read through a [`LogSource`], time is given.
///
/// The agent's loop hands it the follow requests ([`Follows::request`]), wakes by
/// [`Follows::next_deadline`] and publishes what [`Follows::due`] returns.
#[derive(Default)]
pub struct Follows {
    entries: Vec<Entry>,
}

impl Follows {
    /// A follow request: a new follow, or the renewal of a known one (same id). The
    /// answer to send at once when the table is full (`Busy`); otherwise the first chunk
    /// comes from the next [`Follows::due`].
    pub fn request(&mut self, request: &LogsRequest, now: Instant) -> Option<LogsResponse> {
        let follow = request.follow.unwrap_or_default();
        if let Some(e) = self.entries.iter_mut().find(|e| e.request.id == request.id) {
            e.expires = now + FOLLOW_LEASE;
            e.ack = true;
            return None;
        }
        if self.entries.len() >= MAX_FOLLOWS {
            let at = follow.after.unwrap_or_default();
            let container = request.container.clone().unwrap_or_default();
            return Some(chunk(
                &request.id,
                0,
                container,
                Vec::new(),
                false,
                at,
                Some(FollowEnd::Busy),
            ));
        }
        self.entries.push(Entry {
            request: request.clone(),
            at: follow.after.map(|cursor| Position {
                cursor,
                mid_line: false,
            }),
            seq: 0,
            expires: now + FOLLOW_LEASE,
            next: now,
            // The first look always answers: the operator learns that the node follows.
            ack: true,
            tokens: MAX_LOG_TEXT as f64,
            filled: now,
        });
        None
    }

    /// When [`Follows::due`] has something to do: the next look at a follow's files or
    /// the end of a lease. None without follows.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.entries.iter().map(|e| e.next.min(e.expires)).min()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The answers due at `now`: drops the follows whose lease ran out, and for each
    /// follow whose look is due reads what is new (within its byte budget) and answers
    /// when there is text, an end, or a renewal to acknowledge. A follow that cannot be
    /// read any more is answered with the error and dropped.
    pub fn due(&mut self, now: Instant, source: &mut impl LogSource) -> Vec<LogsResponse> {
        self.entries.retain(|e| {
            let live = e.expires > now;
            if !live {
                log::debug!("logs follow {} expired", e.request.id);
            }
            live
        });
        let mut answers = Vec::new();
        self.entries.retain_mut(|e| {
            if e.next > now {
                return true;
            }
            e.next = now + FOLLOW_INTERVAL;
            let budget = e.budget(now);
            let read = match source.read(&e.request, e.at, budget) {
                Ok(read) => read,
                Err(error) => {
                    answers.push(LogsResponse {
                        id: e.request.id.clone(),
                        result: LogsResult::Error(error),
                    });
                    return false;
                }
            };
            e.request.container = Some(read.container.clone());
            e.at = Some(read.at);
            if read.text.is_empty() && read.end.is_none() && !read.skipped && !e.ack {
                return true;
            }
            e.tokens = (e.tokens - read.text.len() as f64).max(0.0);
            e.ack = false;
            let end = read.end;
            answers.push(chunk(
                &e.request.id,
                e.seq,
                read.container,
                read.text,
                read.skipped,
                read.at.cursor,
                end,
            ));
            e.seq = e.seq.wrapping_add(1);
            end.is_none()
        });
        answers
    }
}

fn chunk(
    id: &bounded::Short,
    seq: u32,
    container: Name,
    text: Vec<u8>,
    skipped: bool,
    cursor: Cursor,
    end: Option<FollowEnd>,
) -> LogsResponse {
    let len = text.len();
    let text = BoundedVec::try_from(text).unwrap_or_default();
    LogsResponse {
        id: id.clone(),
        result: LogsResult::Chunk(LogChunk {
            seq,
            container,
            // A source that overran MAX_LOG_TEXT loses the text, and says so.
            skipped: skipped || text.len() != len,
            text,
            cursor,
            end,
        }),
    }
}

/// The shims' log files of the pods in a run directory, as a follow reads them.
///
/// The files of a container, oldest first: `previous.log.1`, `previous.log` (the
/// instance before the last restart), `current.log.1`, `current.log` (rotation moves
/// `current.log` to `current.log.1`; a restart moves both to `previous`). A position
/// names a file by its inode and its first record's time ([`HEAD`]), which a rename
/// keeps, and an offset in it: a follow goes on in the file where it stopped, wherever
/// it moved, then in the newer ones. After a
/// restart that means the new instance's output follows the old one's. A position whose
/// file is gone (rotated out, or two restarts in one look) goes on at the start of the
/// current instance, and says `skipped`.
pub struct Files<'a> {
    pub root: &'a Path,
    pub run_dir: &'a Path,
}

/// Bytes at the start of a log file that name it, with its inode: the time of its first
/// record (`2026-11-22T02:47:12.123456789Z`). An inode number alone may be reused by a
/// file made after the one it named was deleted.
const HEAD: usize = 30;

/// One log file, opened.
struct LogFile {
    file: std::fs::File,
    inode: u64,
    /// The file's [`Cursor::file`]: FNV-1a 64 of its inode and its first [`HEAD`] bytes;
    /// None while it is shorter (nothing was read from it yet).
    id: Option<u64>,
    size: u64,
    /// Of the current instance (not `previous`).
    current: bool,
}

impl Files<'_> {
    /// The container's files, oldest first, each once. Opened newest first: renames
    /// only move a file to an older name, so a file renamed during the look is seen (at
    /// worst twice, and kept once).
    fn open(dir: &Path) -> Result<Vec<LogFile>, LogsError> {
        let names = [
            ("current.log", true),
            ("current.log.1", true),
            ("previous.log", false),
            ("previous.log.1", false),
        ];
        let mut files: Vec<LogFile> = Vec::with_capacity(names.len());
        for (name, current) in names {
            let path = dir.join(name);
            let file = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(unreadable(&path, &e)),
            };
            let meta = file.metadata().map_err(|e| unreadable(&path, &e))?;
            use std::os::unix::fs::{FileExt, MetadataExt};
            if files.iter().any(|f| f.inode == meta.ino()) {
                continue;
            }
            let mut head = [0u8; HEAD];
            let id = match file.read_exact_at(&mut head, 0) {
                Ok(()) => {
                    let mut named = meta.ino().to_be_bytes().to_vec();
                    named.extend_from_slice(&head);
                    Some(u64::from_be_bytes(crate::spec::SpecHash::of(&named).0))
                }
                Err(_) => None,
            };
            files.push(LogFile {
                file,
                inode: meta.ino(),
                id,
                size: meta.size(),
                current,
            });
        }
        files.reverse();
        Ok(files)
    }
}

fn unreadable(path: &Path, e: &std::io::Error) -> LogsError {
    LogsError {
        reason: LogsErrorReason::Unreadable,
        message: text(&format!("read {}: {e}", path.display())),
    }
}

impl LogSource for Files<'_> {
    fn read(
        &mut self,
        request: &LogsRequest,
        from: Option<Position>,
        budget: usize,
    ) -> Result<Read, LogsError> {
        let refused = |(reason, message): Refusal| LogsError {
            reason,
            message: text(&message),
        };
        let (p, container) = match resolve(self.root, self.run_dir, request) {
            Ok(found) => found,
            Err((LogsErrorReason::NoSuchPod, _)) if from.is_some() => {
                return Ok(ended(request, from, FollowEnd::PodGone));
            }
            Err((LogsErrorReason::NoSuchContainer, _)) if from.is_some() => {
                return Ok(ended(request, from, FollowEnd::ContainerGone));
            }
            Err(refusal) => return Err(refused(refusal)),
        };
        if request.previous {
            let msg = "a follow reads the current instance, not --previous".to_owned();
            return Err(refused((LogsErrorReason::Invalid, msg)));
        }
        let finished = p.shim.is_none()
            && p.status
                .as_ref()
                .is_some_and(|s| matches!(s.phase, PodPhase::Succeeded | PodPhase::Failed));
        let files = Files::open(&p.dirs.logs(&container))?;
        // Where to start: (index in files, offset), and whether output was lost.
        let (start, offset, lost) = match from {
            None => (first_current(&files), 0, false),
            Some(at) if at.cursor.file == 0 => (first_current(&files), 0, false),
            Some(at) => match files
                .iter()
                .position(|f| f.id == Some(at.cursor.file) && at.cursor.offset <= f.size)
            {
                Some(i) => (i, at.cursor.offset, false),
                None => (first_current(&files), 0, true),
            },
        };
        let max_lines = if from.is_none() { request.tail } else { None };
        let mut tail = Tail::new(budget, max_lines, request.timestamps);
        tail.at_line_start = !from.is_some_and(|at| at.mid_line && !lost);
        let mut cursor = from.map(|at| at.cursor).unwrap_or_default();
        for (i, f) in files.into_iter().enumerate().skip(start) {
            let begin = if i == start { offset } else { 0 };
            let mut file = f.file;
            if file.seek(SeekFrom::Start(begin)).is_err() {
                continue;
            }
            let end = begin + tail.read(file);
            // A position names a file only once something was read from it: an empty
            // file has no name yet (see HEAD), and nothing of it was consumed.
            if let (Some(id), true) = (f.id, end > 0) {
                cursor = Cursor {
                    file: id,
                    offset: end,
                };
            }
        }
        let at = Position {
            cursor,
            mid_line: !tail.at_line_start,
        };
        let out = tail.finish(container.clone());
        Ok(Read {
            container,
            text: out.text.to_vec(),
            skipped: out.truncated || lost,
            at,
            end: finished.then_some(FollowEnd::PodFinished),
        })
    }
}

/// The index of the current instance's first file (or the end: none yet).
fn first_current(files: &[LogFile]) -> usize {
    files.iter().position(|f| f.current).unwrap_or(files.len())
}

/// The last read of a follow whose pod or container is gone.
fn ended(request: &LogsRequest, from: Option<Position>, end: FollowEnd) -> Read {
    Read {
        container: request.container.clone().unwrap_or_default(),
        text: Vec::new(),
        skipped: false,
        at: from.unwrap_or_default(),
        end: Some(end),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tail_of(records: &str, max_bytes: usize, lines: Option<u32>, ts: bool) -> (String, bool) {
        let mut t = Tail::new(max_bytes, lines, ts);
        for r in records.lines() {
            let (time, _, full, text) = logs::parse_record(r.as_bytes()).unwrap();
            t.push(time, text, full);
        }
        let out = t.finish(Name::new());
        (String::from_utf8(out.text.to_vec()).unwrap(), out.truncated)
    }

    const RECORDS: &str = "T1 stdout F one\nT2 stderr F two\nT3 stdout P thr\nT4 stdout F ee\n\
                           T5 stdout F four\n";

    #[test]
    fn keeps_the_newest_lines_and_joins_parts() {
        let all = "one\ntwo\nthree\nfour\n";
        assert_eq!(tail_of(RECORDS, 1000, None, false), (all.into(), false));
        assert_eq!(
            tail_of(RECORDS, 1000, Some(2), false),
            ("three\nfour\n".into(), false)
        );
        assert_eq!(tail_of(RECORDS, 1000, Some(0), false), ("".into(), false));
        assert_eq!(
            tail_of(RECORDS, 1000, Some(1), true),
            ("T5 four\n".into(), false)
        );
        assert_eq!(
            tail_of(RECORDS, 1000, Some(2), true),
            ("T3 three\nT5 four\n".into(), false)
        );
    }

    #[test]
    fn the_byte_budget_cuts_the_oldest_and_says_so() {
        assert_eq!(
            tail_of(RECORDS, 9, None, false),
            ("ee\nfour\n".into(), true)
        );
        assert_eq!(tail_of(RECORDS, 5, None, false), ("four\n".into(), true));
        // An unfinished last line counts as a line.
        let open = "T1 stdout F one\nT2 stdout P tw\n";
        assert_eq!(tail_of(open, 100, Some(1), false), ("tw".into(), false));
    }

    #[test]
    fn a_line_longer_than_any_record_is_skipped() {
        let path = std::env::temp_dir().join(format!("pealet-agent-logs-{}", std::process::id()));
        let mut bytes = b"T1 stdout F before\n".to_vec();
        bytes.extend(std::iter::repeat_n(b'x', 3 * MAX_RECORD));
        bytes.extend_from_slice(b"\nT2 stdout F after\n");
        std::fs::write(&path, bytes).unwrap();
        let mut t = Tail::new(1000, None, false);
        t.read(std::fs::File::open(&path).unwrap());
        std::fs::remove_file(&path).unwrap();
        let out = t.finish(Name::new());
        assert_eq!(&*out.text, b"before\nafter\n");
    }

    #[test]
    fn the_limiter_allows_a_burst_then_a_steady_rate() {
        let mut l = Limiter::default();
        let t0 = l.last;
        assert_eq!(l.available(t0), BURST as usize);
        l.spend(BURST as usize);
        assert_eq!(l.available(t0), 0);
        let later = t0 + std::time::Duration::from_millis(1000);
        assert_eq!(l.available(later), PER_SECOND as usize);
        let much_later = later + std::time::Duration::from_secs(60);
        assert_eq!(l.available(much_later), BURST as usize);
    }

    /// A container that writes without end: every look finds `pending` new bytes (the
    /// newest `budget` of them are sent), unless `error` or `end` says otherwise.
    struct Fake {
        pending: usize,
        error: Option<LogsErrorReason>,
        end: Option<FollowEnd>,
        looks: usize,
        offset: u64,
    }

    impl Fake {
        fn writing(pending: usize) -> Fake {
            Fake {
                pending,
                error: None,
                end: None,
                looks: 0,
                offset: 0,
            }
        }
    }

    impl LogSource for Fake {
        fn read(
            &mut self,
            _request: &LogsRequest,
            _from: Option<Position>,
            budget: usize,
        ) -> Result<Read, LogsError> {
            self.looks += 1;
            if let Some(reason) = self.error {
                return Err(LogsError {
                    reason,
                    message: text("gone"),
                });
            }
            self.offset += self.pending as u64;
            Ok(Read {
                container: bounded::name("c").unwrap(),
                text: vec![b'x'; self.pending.min(budget)],
                skipped: self.pending > budget,
                at: Position {
                    cursor: Cursor {
                        file: 7,
                        offset: self.offset,
                    },
                    mid_line: false,
                },
                end: self.end,
            })
        }
    }

    fn follow_request(id: &str) -> LogsRequest {
        LogsRequest {
            id: id.try_into().unwrap(),
            pod: bounded::name("p").unwrap(),
            container: None,
            tail: None,
            previous: false,
            timestamps: false,
            follow: Some(Default::default()),
        }
    }

    fn chunks(answers: &[LogsResponse]) -> Vec<&LogChunk> {
        (answers.iter())
            .map(|a| match &a.result {
                LogsResult::Chunk(c) => c,
                other => panic!("{other:?}"),
            })
            .collect()
    }

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn a_follow_sends_at_most_once_a_second_and_its_byte_rate() {
        let t0 = Instant::now();
        let mut f = Follows::default();
        assert_eq!(f.next_deadline(), None);
        assert!(f.request(&follow_request("a"), t0).is_none());
        assert_eq!(f.next_deadline(), Some(t0));
        let mut src = Fake::writing(100 * 1024);
        let first = f.due(t0, &mut src);
        let c = chunks(&first);
        assert_eq!((c.len(), c[0].seq, c[0].text.len()), (1, 0, MAX_LOG_TEXT));
        assert!(c[0].skipped);
        assert_eq!(f.next_deadline(), Some(t0 + FOLLOW_INTERVAL));
        // Nothing before the interval, whatever was written.
        assert!(f.due(t0 + SEC / 2, &mut src).is_empty());
        assert_eq!(src.looks, 1);
        // Then the bucket's refill per second, at most.
        let mut sent = 0;
        for i in 1..=20u32 {
            let a = f.due(t0 + SEC * i, &mut src);
            let c = chunks(&a);
            assert_eq!(c.len(), 1);
            assert_eq!(c[0].seq, i);
            assert!(c[0].text.len() <= FOLLOW_BYTES_PER_SECOND);
            sent += c[0].text.len();
        }
        assert!(sent <= 20 * FOLLOW_BYTES_PER_SECOND, "{sent}");
        assert!(sent >= 19 * FOLLOW_BYTES_PER_SECOND, "{sent}");
    }

    #[test]
    fn a_quiet_follow_answers_its_start_and_renewals_only() {
        let t0 = Instant::now();
        let mut f = Follows::default();
        f.request(&follow_request("a"), t0);
        let mut src = Fake::writing(0);
        let c0 = f.due(t0, &mut src);
        assert_eq!(chunks(&c0)[0].text.len(), 0);
        assert!(f.due(t0 + SEC, &mut src).is_empty());
        assert!(f.due(t0 + 2 * SEC, &mut src).is_empty());
        f.request(&follow_request("a"), t0 + 2 * SEC);
        assert_eq!(f.len(), 1, "a renewal is not a second follow");
        let ack = f.due(t0 + 3 * SEC, &mut src);
        assert_eq!(chunks(&ack)[0].seq, 1);
        assert!(f.due(t0 + 4 * SEC, &mut src).is_empty());
    }

    #[test]
    fn a_follow_expires_unless_renewed() {
        let t0 = Instant::now();
        let mut f = Follows::default();
        f.request(&follow_request("a"), t0);
        f.request(&follow_request("b"), t0);
        let mut src = Fake::writing(0);
        f.due(t0, &mut src);
        let renewed = t0 + FOLLOW_LEASE - SEC;
        f.request(&follow_request("b"), renewed);
        f.due(renewed, &mut src);
        assert_eq!(f.len(), 2);
        assert!(f.due(t0 + FOLLOW_LEASE, &mut src).is_empty());
        assert_eq!(f.len(), 1, "a expired");
        assert!(f.next_deadline().unwrap() <= renewed + FOLLOW_LEASE);
        f.due(renewed + FOLLOW_LEASE, &mut src);
        assert!(f.is_empty());
        assert_eq!(f.next_deadline(), None);
    }

    #[test]
    fn the_table_is_bounded() {
        let t0 = Instant::now();
        let mut f = Follows::default();
        for i in 0..MAX_FOLLOWS {
            assert!(f.request(&follow_request(&format!("f{i}")), t0).is_none());
        }
        let busy = f.request(&follow_request("one-more"), t0).unwrap();
        let c = chunks(std::slice::from_ref(&busy));
        assert_eq!((c[0].end, c[0].text.len()), (Some(FollowEnd::Busy), 0));
        assert_eq!(f.len(), MAX_FOLLOWS);
        assert!(f.request(&follow_request("f0"), t0).is_none(), "a renewal");
    }

    #[test]
    fn an_end_or_an_error_is_the_last_answer() {
        let t0 = Instant::now();
        let mut f = Follows::default();
        f.request(&follow_request("a"), t0);
        let mut src = Fake::writing(10);
        f.due(t0, &mut src);
        src.end = Some(FollowEnd::PodGone);
        let last = f.due(t0 + SEC, &mut src);
        let c = chunks(&last);
        assert_eq!(
            (c[0].seq, c[0].end, c[0].text.len()),
            (1, Some(FollowEnd::PodGone), 10)
        );
        assert!(f.is_empty());

        f.request(&follow_request("b"), t0);
        src.error = Some(LogsErrorReason::NoSuchPod);
        let refused = f.due(t0 + SEC, &mut src);
        assert!(
            matches!(&refused[0].result, LogsResult::Error(e) if e.reason == LogsErrorReason::NoSuchPod)
        );
        assert!(f.is_empty());
    }

    /// The numbers of lines `<word>-<n>` in `text`, in order.
    fn numbers(text: &[u8], word: &str) -> Vec<u32> {
        (String::from_utf8_lossy(text).lines())
            .map(|l| {
                let n = l.strip_prefix(word).and_then(|r| r.strip_prefix('-'));
                n.unwrap_or_else(|| panic!("{l:?}")).parse().unwrap()
            })
            .collect()
    }

    #[test]
    fn files_are_followed_across_rotation_and_restarts_until_the_pod_is_gone() {
        use crate::shim::logs::{ContainerLog, Stream};
        let run = std::env::temp_dir().join(format!("pealet-follow-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&run);
        let dirs = state::PodDirs::new(&run, &run, "p");
        std::fs::create_dir_all(&dirs.run).unwrap();
        let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n\
                    spec: {containers: [{name: c, image: busybox}]}\n";
        let pod = crate::spec::manifest::read::read_pod(yaml).unwrap().pod;
        std::fs::write(dirs.spec(), crate::spec::encode(&pod)).unwrap();
        let dir = dirs.logs("c");
        let cap = 2 * MAX_LINE as u64; // rotates at 16 KiB
        let mut log = ContainerLog::open(&dir, cap).unwrap();
        let write = |log: &mut ContainerLog, word: &str, range: std::ops::Range<u32>| {
            for i in range {
                log.write(Stream::Stdout, format!("{word}-{i}\n").as_bytes())
                    .unwrap();
            }
        };
        let mut files = Files {
            root: &run,
            run_dir: &run,
        };
        let request = follow_request("f");
        let look = |files: &mut Files, from| files.read(&request, from, MAX_LOG_TEXT).unwrap();

        write(&mut log, "old", 0..10);
        let r = look(&mut files, None);
        assert_eq!(numbers(&r.text, "old"), (0..10).collect::<Vec<_>>());
        assert!(!r.skipped && r.end.is_none());
        assert_eq!(r.container.as_str(), "c");
        // One rotation between two looks: nothing lost, nothing twice.
        write(&mut log, "old", 10..400);
        assert!(dir.join("current.log.1").exists());
        let r = look(&mut files, Some(r.at));
        assert_eq!(numbers(&r.text, "old"), (10..400).collect::<Vec<_>>());
        assert!(!r.skipped);
        // Nothing new.
        let again = look(&mut files, Some(r.at));
        assert!(again.text.is_empty() && again.at == r.at);
        // A restart: the rest of the old instance, then the new one.
        write(&mut log, "old", 400..402);
        let mut log = ContainerLog::open(&dir, cap).unwrap();
        write(&mut log, "new", 0..5);
        let r = look(&mut files, Some(again.at));
        let text = String::from_utf8_lossy(&r.text).into_owned();
        assert_eq!(
            text,
            "old-400\nold-401\nnew-0\nnew-1\nnew-2\nnew-3\nnew-4\n"
        );
        // A renewal's cursor, as after an agent restart, goes on from there.
        write(&mut log, "new", 5..7);
        let wire = Position {
            cursor: r.at.cursor,
            mid_line: false,
        };
        let r = look(&mut files, Some(wire));
        assert_eq!(numbers(&r.text, "new"), vec![5, 6]);
        // Two rotations between looks: the file is gone; the current instance from its
        // start, said to be skipped.
        write(&mut log, "new", 7..1000);
        let r = look(&mut files, Some(r.at));
        assert!(r.skipped);
        let n = numbers(&r.text, "new");
        assert_eq!(n.last(), Some(&999));
        assert!(n.windows(2).all(|w| w[1] == w[0] + 1), "in order, no gap");
        // A line cut by the budget continues in the next look.
        log.write(Stream::Stdout, b"half").unwrap();
        log.close_stream(Stream::Stdout).unwrap();
        write(&mut log, "new", 1000..1001);
        let r = look(&mut files, Some(r.at));
        assert_eq!(String::from_utf8_lossy(&r.text), "halfnew-1000\n");
        // The pod is gone: the end.
        std::fs::remove_dir_all(&run).unwrap();
        let r = look(&mut files, Some(r.at));
        assert_eq!((r.end, r.text.len()), (Some(FollowEnd::PodGone), 0));
        // A new follow of a pod that does not exist is refused.
        let e = files.read(&request, None, MAX_LOG_TEXT).unwrap_err();
        assert_eq!(e.reason, LogsErrorReason::NoSuchPod);
    }
}
