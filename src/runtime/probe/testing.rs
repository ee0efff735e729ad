//! Test helpers: a small poll loop that drives one run, and one-shot HTTP servers on
//! 127.0.0.1 port 0, each served from its own thread.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};

use super::{Interest, ProbeOutcome, ProbeRun};

/// Monotonic milliseconds since the first call (never 0, so deadlines stay apart).
pub(crate) fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = START.get_or_init(Instant::now);
    1 + u64::try_from(start.elapsed().as_millis()).unwrap()
}

/// What the shim's loop does for one run: poll its fd until ready or the deadline,
/// then advance.
pub(crate) fn drive(mut run: ProbeRun) -> ProbeOutcome {
    loop {
        let wait = run.deadline().saturating_sub(now_ms());
        let ts = Timespec {
            tv_sec: i64::try_from(wait / 1000).unwrap(),
            tv_nsec: i64::try_from((wait % 1000) * 1_000_000).unwrap(),
        };
        match run.fd() {
            Some(fd) => {
                let flags = match run.interest() {
                    Interest::Readable => PollFlags::IN,
                    Interest::Writable => PollFlags::OUT,
                };
                let mut fds = [PollFd::new(&fd, flags)];
                poll(&mut fds, Some(&ts)).unwrap();
            }
            None => std::thread::sleep(Duration::from_millis(wait)),
        }
        if let Some(outcome) = run.advance(now_ms()) {
            assert_eq!(run.advance(now_ms()), None, "an outcome comes once");
            return outcome;
        }
    }
}

/// Reads one request head (up to the blank line) from `stream`.
pub(crate) fn read_request(stream: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// A server that answers `responses.len()` connections in order, each with its bytes
/// (then closes), and sends back every request head it read.
pub(crate) struct Server {
    pub addr: SocketAddr,
    pub requests: mpsc::Receiver<String>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    pub(crate) fn new(responses: Vec<Vec<u8>>) -> Server {
        Server::with(responses, Duration::ZERO)
    }

    /// Like `new`, but waits `pause` after the request before answering.
    pub(crate) fn with(responses: Vec<Vec<u8>>, pause: Duration) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, requests) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            for response in responses {
                let Ok((mut stream, _)) = listener.accept() else {
                    return;
                };
                if stopped.load(Ordering::SeqCst) {
                    return;
                }
                let _ = tx.send(read_request(&mut stream));
                std::thread::sleep(pause);
                // The client may close early (a bounded read): errors are fine.
                let _ = stream.write_all(&response);
                let _ = stream.shutdown(std::net::Shutdown::Write);
                // Hold the connection until the client closes it.
                let mut sink = [0u8; 256];
                while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
            }
        });
        Server {
            addr,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// The request heads received so far, in order.
    pub(crate) fn take_requests(&self) -> Vec<String> {
        self.requests.try_iter().collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Unblock a thread still waiting in accept by connecting once.
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(100));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
