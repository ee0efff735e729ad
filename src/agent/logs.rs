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

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::time::Instant;

use crate::shim::logs::{self, MAX_LINE};
use crate::shim::state::{self, StateError};
use crate::spec::bounded::{self, BoundedVec, Name};
use crate::spec::logs::{
    LogText, LogsError, LogsErrorReason, LogsRequest, LogsResponse, LogsResult, MAX_LOG_TEXT,
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
    let [older, newer] = logs::files(&p.dirs.logs(&container), r.previous);
    if r.previous && !newer.exists() {
        let msg = format!("container {container} of pod {pod} has no previous instance");
        return Err((LogsErrorReason::NoPreviousInstance, msg));
    }
    let mut tail = Tail::new(MAX_LOG_TEXT, r.tail, r.timestamps);
    for path in [older, newer] {
        match std::fs::File::open(&path) {
            Ok(f) => tail.read(f),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                let msg = format!("read {}: {e}", path.display());
                return Err((LogsErrorReason::Unreadable, msg));
            }
        }
    }
    Ok(tail.finish(container))
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

    /// Reads every record of `file`; a record longer than any the shim writes is cut.
    fn read(&mut self, file: std::fs::File) {
        let mut reader = BufReader::new(file);
        let mut record = Vec::with_capacity(256);
        loop {
            record.clear();
            let limit = MAX_RECORD as u64;
            match (&mut reader).take(limit).read_until(b'\n', &mut record) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if record.last() == Some(&b'\n') {
                record.pop();
            } else if record.len() as u64 == limit {
                // Not a record the shim wrote: skip to the end of this line.
                let _ = skip_line(&mut reader);
            }
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

/// Reads up to and including the next newline, keeping nothing.
fn skip_line(reader: &mut impl BufRead) -> std::io::Result<()> {
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(());
        }
        match buf.iter().position(|b| *b == b'\n') {
            Some(i) => {
                reader.consume(i + 1);
                return Ok(());
            }
            None => {
                let n = buf.len();
                reader.consume(n);
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
}
