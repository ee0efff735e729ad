//! A WAN link in userspace, for tests and benchmarks: a TCP proxy between clients and
//! one upstream server that delays (with jitter, order kept), rate-caps, stalls (black
//! hole), resets and half-closes the traffic, per direction, with controls that change
//! while it runs, and counts connections and bytes. Test tooling, not part of pealet:
//! `main.rs` beside it is its command line, `tests/it/wan.rs` uses it as a library.
//!
//! The model, per connection and direction: a chunk read at `t` is released at
//! `t + delay + j` (`j` uniform in `[0, jitter]` from a generator seeded per proxy,
//! connection and direction, so a run is repeatable), never before the chunk read
//! before it, then written no faster than the rate cap (in slices of 10 ms of it).
//! During a black hole nothing is written either way, and new connections are accepted
//! but not yet opened upstream; what is read meanwhile is held (at most [`MAX_HELD`]
//! bytes per direction, then reading stops and TCP flow control holds the sender) and
//! delivered after the heal, as retransmission would, though at once: a real stack
//! retransmits on its back-off schedule (SYNs after 1, 3, 7, 15, 31 s; data up to the
//! 120 s maximum RTO), so a real heal can take that much longer to be noticed. A
//! connection accepted during a black hole that its client closes before the heal never
//! reaches the upstream (a real SYN would not have either). The TCP handshake with the client is the kernel's and
//! is not delayed; every byte after it is. Settings apply to chunks read after the
//! change; a refused connection is accepted, then reset.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};

/// Bytes held per connection and direction before the proxy stops reading.
pub const MAX_HELD: usize = 256 * 1024;
/// Connections open at once; more are refused (reset).
pub const MAX_CONNECTIONS: usize = 128;
/// Accept times kept for [`Proxy::first_accept_since`] (the oldest go first).
const MAX_ACCEPT_TIMES: usize = 1024;
/// Largest single read, and so largest chunk.
const READ_SIZE: usize = 16 * 1024;

/// One direction of the link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shape {
    pub delay: Duration,
    /// Each chunk waits up to this much more than `delay` (uniformly), order kept.
    pub jitter: Duration,
    /// Bytes per second; `None`: as fast as the other side reads.
    pub rate: Option<u64>,
}

/// Both directions: `up` from the client to the upstream, `down` back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Link {
    pub up: Shape,
    pub down: Shape,
}

impl Link {
    /// A symmetric link whose round trip is `rtt` plus up to `jitter` (half of each
    /// in each direction).
    pub fn rtt(rtt: Duration, jitter: Duration) -> Link {
        let way = Shape {
            delay: rtt / 2,
            jitter: jitter / 2,
            rate: None,
        };
        Link { up: way, down: way }
    }

    /// The same link capped at `bytes_per_second` in each direction.
    pub fn with_rate(mut self, bytes_per_second: u64) -> Link {
        self.up.rate = Some(bytes_per_second);
        self.down.rate = Some(bytes_per_second);
        self
    }
}

/// A direction of traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// From the client to the upstream server.
    Up,
    /// From the upstream server to the client.
    Down,
}

impl Dir {
    fn index(self) -> usize {
        match self {
            Dir::Up => 0,
            Dir::Down => 1,
        }
    }
}

/// Counters since the proxy started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Connections accepted and served (refused ones not included).
    pub accepted: u64,
    /// Connections reset at once (refusing, or over [`MAX_CONNECTIONS`]).
    pub refused: u64,
    /// Connections open now.
    pub open: usize,
    /// Bytes delivered to the upstream.
    pub up_bytes: u64,
    /// Bytes delivered to clients.
    pub down_bytes: u64,
}

struct Controls {
    link: Link,
    black_hole: bool,
    refuse: bool,
    /// Incremented by [`Proxy::reset_all`]: a connection that sees a newer one resets.
    resets: u64,
    /// Incremented by [`Proxy::close`], per direction.
    closes: [u64; 2],
    seed: u64,
}

struct Shared {
    upstream: SocketAddr,
    controls: Mutex<Controls>,
    /// The write end of each open connection's wake-up socket, by connection id.
    wakers: Mutex<Vec<(u64, UnixStream)>>,
    accept_times: Mutex<VecDeque<Instant>>,
    accepted: AtomicU64,
    refused: AtomicU64,
    bytes: [AtomicU64; 2],
    stop: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// Makes every connection look at the controls again.
    fn wake_all(&self) {
        for (_, w) in lock(&self.wakers).iter() {
            // A full socket already holds a wake-up.
            let _ = (&*w).write(&[1]);
        }
    }
}

/// A running proxy; dropping it closes the listener and every connection.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    listener: Option<JoinHandle<()>>,
}

impl Proxy {
    /// A proxy on a free loopback port in front of `upstream`.
    pub fn start(upstream: SocketAddr, link: Link) -> io::Result<Proxy> {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        Proxy::bind(any, upstream, link, 1)
    }

    /// A proxy listening on `listen`, jitter drawn from `seed`.
    pub fn bind(
        listen: SocketAddr,
        upstream: SocketAddr,
        link: Link,
        seed: u64,
    ) -> io::Result<Proxy> {
        let listener = TcpListener::bind(listen)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            controls: Mutex::new(Controls {
                link,
                black_hole: false,
                refuse: false,
                resets: 0,
                closes: [0, 0],
                seed,
            }),
            wakers: Mutex::new(Vec::new()),
            accept_times: Mutex::new(VecDeque::new()),
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            bytes: [AtomicU64::new(0), AtomicU64::new(0)],
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("wan-accept".into())
            .spawn(move || accept_loop(listener, s))?;
        Ok(Proxy {
            addr,
            shared,
            listener: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn link(&self) -> Link {
        lock(&self.shared.controls).link
    }

    pub fn set_link(&self, link: Link) {
        self.change(|c| c.link = link);
    }

    pub fn set_shape(&self, dir: Dir, shape: Shape) {
        self.change(|c| match dir {
            Dir::Up => c.link.up = shape,
            Dir::Down => c.link.down = shape,
        });
    }

    /// Starts (`true`) or heals (`false`) a black hole.
    pub fn black_hole(&self, on: bool) {
        self.change(|c| c.black_hole = on);
    }

    /// Resets (`true`) new connections at once, or serves them again (`false`).
    pub fn refuse(&self, on: bool) {
        self.change(|c| c.refuse = on);
    }

    /// Resets every open connection, both sides (SO_LINGER 0, then close: an RST).
    pub fn reset_all(&self) {
        self.change(|c| c.resets += 1);
    }

    /// Shuts down one direction of every open connection: its receiver gets a FIN and
    /// nothing more in that direction (what its sender writes is read and dropped).
    pub fn close(&self, dir: Dir) {
        self.change(|c| c.closes[dir.index()] += 1);
    }

    pub fn stats(&self) -> Stats {
        let s = &self.shared;
        Stats {
            accepted: s.accepted.load(Ordering::SeqCst),
            refused: s.refused.load(Ordering::SeqCst),
            open: lock(&s.wakers).len(),
            up_bytes: s.bytes[0].load(Ordering::SeqCst),
            down_bytes: s.bytes[1].load(Ordering::SeqCst),
        }
    }

    /// When the first connection accepted at or after `t` was accepted.
    pub fn first_accept_since(&self, t: Instant) -> Option<Instant> {
        lock(&self.shared.accept_times)
            .iter()
            .find(|a| **a >= t)
            .copied()
    }

    fn change(&self, f: impl FnOnce(&mut Controls)) {
        f(&mut lock(&self.shared.controls));
        self.shared.wake_all();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake_all();
        // Wakes the accepting thread, which then sees `stop`.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.listener.take() {
            let _ = t.join();
        }
    }
}

/// Resets a connection: SO_LINGER 0 makes close send an RST.
fn reset(s: &TcpStream) {
    let _ = rustix::net::sockopt::set_socket_linger(s, Some(Duration::ZERO));
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut next_id = 0u64;
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let client = match stream {
            Ok(s) => s,
            Err(_) => {
                // Out of descriptors and the like: try again shortly.
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let (refuse, seed) = {
            let c = lock(&shared.controls);
            (c.refuse, c.seed)
        };
        if refuse || lock(&shared.wakers).len() >= MAX_CONNECTIONS {
            shared.refused.fetch_add(1, Ordering::SeqCst);
            reset(&client);
            continue;
        }
        {
            // The time first: whoever sees the count grow finds its time.
            let mut times = lock(&shared.accept_times);
            if times.len() == MAX_ACCEPT_TIMES {
                times.pop_front();
            }
            times.push_back(Instant::now());
        }
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        next_id += 1;
        match Conn::new(next_id, client, shared.clone(), seed) {
            Ok(conn) => {
                let spawned = std::thread::Builder::new()
                    .name("wan-conn".into())
                    .spawn(move || conn.run());
                if spawned.is_err() {
                    shared.refused.fetch_add(1, Ordering::SeqCst);
                }
            }
            Err(_) => {
                shared.refused.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

struct Chunk {
    release: Instant,
    data: Vec<u8>,
    sent: usize,
}

/// One direction of one connection.
struct Pipe {
    queue: VecDeque<Chunk>,
    /// Bytes in `queue` not yet written.
    held: usize,
    last_release: Instant,
    /// The rate cap allows the next write from then on.
    next_send: Instant,
    /// The source closed its side (or it was closed by the controls).
    eof: bool,
    /// The destination got its FIN: nothing more goes this way.
    shut: bool,
    /// The last write would have blocked: wait until the destination is writable.
    blocked: bool,
    rng: u64,
}

impl Pipe {
    fn new(seed: u64) -> Pipe {
        let now = Instant::now();
        Pipe {
            queue: VecDeque::new(),
            held: 0,
            last_release: now,
            next_send: now,
            eof: false,
            shut: false,
            blocked: false,
            rng: seed | 1,
        }
    }

    fn can_read(&self) -> bool {
        !self.eof && self.held < MAX_HELD
    }

    /// Queues `data` read at `now` under `shape`.
    fn push(&mut self, data: &[u8], now: Instant, shape: &Shape) {
        if self.shut {
            return; // closed by the controls: read and dropped
        }
        let mut release = now + shape.delay;
        let jitter = u64::try_from(shape.jitter.as_micros()).unwrap_or(u64::MAX);
        if jitter > 0 {
            release += Duration::from_micros(self.random() % (jitter + 1));
        }
        let release = release.max(self.last_release);
        self.last_release = release;
        self.held += data.len();
        self.queue.push_back(Chunk {
            release,
            data: data.to_vec(),
            sent: 0,
        });
    }

    /// When the head chunk may be written, if there is one.
    fn due(&self) -> Option<Instant> {
        let head = self.queue.front()?;
        Some(head.release.max(self.next_send))
    }

    fn random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }
}

enum End {
    /// Close both sides normally (FIN).
    Close,
    /// Reset both sides (RST).
    Reset,
}

struct Conn {
    id: u64,
    shared: Arc<Shared>,
    client: TcpStream,
    /// Opened at once, or at the heal for a connection accepted during a black hole.
    upstream: Option<TcpStream>,
    wake: UnixStream,
    pipes: [Pipe; 2],
    resets: u64,
    closes: [u64; 2],
}

impl Conn {
    fn new(id: u64, client: TcpStream, shared: Arc<Shared>, seed: u64) -> io::Result<Conn> {
        client.set_nonblocking(true)?;
        client.set_nodelay(true)?;
        let (wake, waker) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        waker.set_nonblocking(true)?;
        let (resets, closes) = {
            let c = lock(&shared.controls);
            (c.resets, c.closes)
        };
        lock(&shared.wakers).push((id, waker));
        let mix = seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Ok(Conn {
            id,
            shared,
            client,
            upstream: None,
            wake,
            pipes: [Pipe::new(mix), Pipe::new(mix.rotate_left(32) ^ 0xA5A5)],
            resets,
            closes,
        })
    }

    fn run(mut self) {
        let end = self.serve();
        if let End::Reset = end {
            reset(&self.client);
            if let Some(u) = &self.upstream {
                reset(u);
            }
        }
        lock(&self.shared.wakers).retain(|(id, _)| *id != self.id);
    }

    fn serve(&mut self) -> End {
        let mut buf = vec![0u8; READ_SIZE];
        loop {
            if self.shared.stop.load(Ordering::SeqCst) {
                return End::Close;
            }
            let (link, black_hole, resets, closes) = {
                let c = lock(&self.shared.controls);
                (c.link, c.black_hole, c.resets, c.closes)
            };
            if resets != self.resets {
                return End::Reset;
            }
            for dir in [Dir::Up, Dir::Down] {
                let i = dir.index();
                if closes[i] != self.closes[i] {
                    self.closes[i] = closes[i];
                    self.close(dir);
                }
            }
            if self.upstream.is_none() {
                if self.pipes[0].eof {
                    return End::Close; // the client gave up before the link healed
                }
                if !black_hole {
                    match self.open_upstream() {
                        Ok(u) => self.upstream = Some(u),
                        Err(_) => return End::Reset, // as a refused connect would
                    }
                }
            }
            let now = Instant::now();
            if !black_hole && self.upstream.is_some() {
                for (dir, shape) in [(Dir::Up, &link.up), (Dir::Down, &link.down)] {
                    if self.write_due(dir, now, shape.rate).is_err() {
                        return End::Reset;
                    }
                }
            }
            if self.pipes.iter().all(|p| p.shut) {
                return End::Close;
            }
            let timeout = if black_hole {
                None
            } else {
                (self.pipes.iter())
                    .filter(|p| !p.blocked)
                    .filter_map(Pipe::due)
                    .min()
                    .map(|due| due.saturating_duration_since(now))
            };
            match self.wait(timeout, &link, &mut buf) {
                Ok(()) => {}
                Err(_) => return End::Reset,
            }
        }
    }

    fn open_upstream(&self) -> io::Result<TcpStream> {
        let u = TcpStream::connect(self.shared.upstream)?;
        u.set_nonblocking(true)?;
        u.set_nodelay(true)?;
        Ok(u)
    }

    /// The controls closed `dir`: its receiver gets a FIN, what waits is dropped.
    fn close(&mut self, dir: Dir) {
        let dst = match dir {
            Dir::Up => self.upstream.as_ref(),
            Dir::Down => Some(&self.client),
        };
        if let Some(dst) = dst {
            let _ = dst.shutdown(Shutdown::Write);
        }
        let p = &mut self.pipes[dir.index()];
        p.queue.clear();
        p.held = 0;
        p.shut = true;
    }

    /// Writes what is due in `dir`, within the rate cap; an error resets the connection.
    fn write_due(&mut self, dir: Dir, now: Instant, rate: Option<u64>) -> io::Result<()> {
        let i = dir.index();
        let (dst, pipe) = match dir {
            Dir::Up => match &self.upstream {
                Some(u) => (u, &mut self.pipes[0]),
                None => return Ok(()),
            },
            Dir::Down => (&self.client, &mut self.pipes[1]),
        };
        pipe.blocked = false;
        loop {
            if pipe.shut {
                return Ok(());
            }
            let Some(head) = pipe.queue.front_mut() else {
                if pipe.eof {
                    let _ = dst.shutdown(Shutdown::Write);
                    pipe.shut = true;
                }
                return Ok(());
            };
            if head.release > now || pipe.next_send > now {
                return Ok(());
            }
            let left = head.data.len() - head.sent;
            // With a cap, 10 ms of it at a time, so that the rate holds over short spans.
            let n = rate.map_or(left, |r| {
                left.min(usize::try_from(r / 100).unwrap_or(1).max(1))
            });
            match (&*dst).write(&head.data[head.sent..head.sent + n]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(k) => {
                    head.sent += k;
                    pipe.held -= k;
                    self.shared.bytes[i].fetch_add(k as u64, Ordering::SeqCst);
                    if head.sent == head.data.len() {
                        pipe.queue.pop_front();
                    }
                    if let Some(r) = rate {
                        let nanos = (k as u64).saturating_mul(1_000_000_000) / r.max(1);
                        pipe.next_send = pipe.next_send.max(now) + Duration::from_nanos(nanos);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    pipe.blocked = true;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Waits up to `timeout` (`None`: until something happens) for readable sources,
    /// writable blocked destinations or a wake-up, and reads what came.
    fn wait(&mut self, timeout: Option<Duration>, link: &Link, buf: &mut [u8]) -> io::Result<()> {
        let (up, down) = (&self.pipes[0], &self.pipes[1]);
        let flags = |read: bool, write: bool| {
            let mut f = PollFlags::empty();
            if read {
                f |= PollFlags::IN;
            }
            if write {
                f |= PollFlags::OUT;
            }
            f
        };
        let client_flags = flags(up.can_read(), down.blocked);
        let upstream_flags = flags(down.can_read(), up.blocked);
        let mut fds = vec![PollFd::new(&self.wake, PollFlags::IN)];
        // A socket with no interest stays out: poll would report its hang-up forever.
        let client_at = (!client_flags.is_empty()).then(|| {
            fds.push(PollFd::new(&self.client, client_flags));
            fds.len() - 1
        });
        let upstream_at = match &self.upstream {
            Some(u) if !upstream_flags.is_empty() => {
                fds.push(PollFd::new(u, upstream_flags));
                Some(fds.len() - 1)
            }
            _ => None,
        };
        let ts = timeout.map(|t| {
            Timespec::try_from(t).unwrap_or(Timespec {
                tv_sec: 3600,
                tv_nsec: 0,
            })
        });
        match poll(&mut fds, ts.as_ref()) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        let ready = |at: Option<usize>| at.is_some_and(|i| !fds[i].revents().is_empty());
        let (woken, client_ready, upstream_ready) =
            (ready(Some(0)), ready(client_at), ready(upstream_at));
        drop(fds);
        if woken {
            let mut sink = [0u8; 64];
            while matches!((&self.wake).read(&mut sink), Ok(n) if n > 0) {}
        }
        let now = Instant::now();
        if client_ready && self.pipes[0].can_read() {
            read_into(&self.client, &mut self.pipes[0], buf, now, &link.up)?;
        }
        if upstream_ready && self.pipes[1].can_read() {
            if let Some(u) = &self.upstream {
                read_into(u, &mut self.pipes[1], buf, now, &link.down)?;
            }
        }
        Ok(())
    }
}

/// One read from `src` into `pipe` (as much as it may still hold).
fn read_into(
    src: &TcpStream,
    pipe: &mut Pipe,
    buf: &mut [u8],
    now: Instant,
    shape: &Shape,
) -> io::Result<()> {
    let room = (MAX_HELD - pipe.held).min(buf.len());
    match (&*src).read(&mut buf[..room]) {
        Ok(0) => pipe.eof = true,
        Ok(n) => pipe.push(&buf[..n], now, shape),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ) => {}
        Err(e) => return Err(e),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on a free loopback port; each connection on its own thread.
    fn echo() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { return };
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = s.read(&mut buf) {
                        if n == 0 || s.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    fn connect(p: &Proxy) -> TcpStream {
        let s = TcpStream::connect(p.addr()).unwrap();
        s.set_nodelay(true).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s
    }

    fn round_trip(s: &mut TcpStream, data: &[u8]) -> Duration {
        let t = Instant::now();
        s.write_all(data).unwrap();
        let mut back = vec![0u8; data.len()];
        s.read_exact(&mut back).unwrap();
        assert_eq!(back, data);
        t.elapsed()
    }

    fn until(f: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !f() {
            assert!(Instant::now() < deadline, "timed out");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_delay_is_applied_each_way_and_can_change() {
        let p = Proxy::start(echo(), Link::rtt(ms(200), Duration::ZERO)).unwrap();
        let mut s = connect(&p);
        let rtt = round_trip(&mut s, b"ping");
        assert!(rtt >= ms(200) && rtt < ms(400), "{rtt:?}");
        p.set_link(Link::default());
        let rtt = round_trip(&mut s, b"ping");
        assert!(rtt < ms(150), "{rtt:?}");
        p.set_shape(
            Dir::Down,
            Shape {
                delay: ms(120),
                ..Shape::default()
            },
        );
        let rtt = round_trip(&mut s, b"ping");
        assert!(rtt >= ms(120) && rtt < ms(300), "{rtt:?}");
        // The counters move just after the write that the client may already have read.
        until(|| p.stats().down_bytes == 12);
        let st = p.stats();
        assert_eq!((st.accepted, st.up_bytes, st.down_bytes), (1, 12, 12));
    }

    #[test]
    fn the_rate_is_held() {
        // 40 KB at 100 KB/s each way: at least 0.4 s, and not much more (the two
        // directions overlap).
        let p = Proxy::start(echo(), Link::default().with_rate(100_000)).unwrap();
        let mut s = connect(&p);
        let data: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
        let mut reader = s.try_clone().unwrap();
        let expect = data.clone();
        let t = Instant::now();
        let got = std::thread::spawn(move || {
            let mut back = vec![0u8; expect.len()];
            reader.read_exact(&mut back).unwrap();
            assert_eq!(back, expect);
            t.elapsed()
        });
        s.write_all(&data).unwrap();
        let took = got.join().unwrap();
        assert!(took >= ms(390) && took < ms(1500), "{took:?}");
    }

    #[test]
    fn jitter_keeps_the_order() {
        let link = Link::rtt(ms(20), ms(40));
        let p = Proxy::start(echo(), link).unwrap();
        let mut s = connect(&p);
        let mut reader = s.try_clone().unwrap();
        let n = 300u32;
        let got = std::thread::spawn(move || {
            let mut back = vec![0u8; n as usize * 4];
            reader.read_exact(&mut back).unwrap();
            back
        });
        let mut sent = Vec::new();
        for i in 0..n {
            let b = i.to_be_bytes();
            s.write_all(&b).unwrap();
            sent.extend_from_slice(&b);
            if i % 10 == 0 {
                std::thread::sleep(ms(1));
            }
        }
        assert_eq!(got.join().unwrap(), sent);
    }

    #[test]
    fn a_black_hole_holds_then_delivers() {
        let p = Proxy::start(echo(), Link::rtt(ms(20), Duration::ZERO)).unwrap();
        let mut old = connect(&p);
        round_trip(&mut old, b"before");
        p.black_hole(true);
        old.write_all(b"held").unwrap();
        // New connections are accepted, and nothing goes either way.
        let mut new = connect(&p);
        new.write_all(b"new").unwrap();
        let gave_up = connect(&p);
        drop(gave_up);
        old.set_read_timeout(Some(ms(400))).unwrap();
        let mut buf = [0u8; 16];
        let err = old.read(&mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        until(|| p.stats().accepted == 3);
        assert_eq!(p.stats().up_bytes, 6);
        p.black_hole(false);
        old.set_read_timeout(Some(ms(5000))).unwrap();
        old.read_exact(&mut buf[..4]).unwrap();
        assert_eq!(&buf[..4], b"held");
        new.read_exact(&mut buf[..3]).unwrap();
        assert_eq!(&buf[..3], b"new");
        // The connection its client closed during the black hole never reached the
        // upstream: only `old` and `new` carried bytes.
        until(|| p.stats().open == 2);
        assert_eq!(p.stats().up_bytes, 6 + 4 + 3);
    }

    #[test]
    fn resets_refusals_and_a_closed_direction() {
        let p = Proxy::start(echo(), Link::default()).unwrap();
        let mut s = connect(&p);
        round_trip(&mut s, b"x");
        p.reset_all();
        let mut buf = [0u8; 4];
        let err = s.read(&mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);

        p.refuse(true);
        let mut r = connect(&p);
        assert!(matches!(r.read(&mut buf), Err(_) | Ok(0)));
        p.refuse(false);
        assert_eq!((p.stats().accepted, p.stats().refused), (1, 1));

        // Down closed: the client reads end of stream; up still carries bytes.
        let mut c = connect(&p);
        round_trip(&mut c, b"y");
        p.close(Dir::Down);
        assert_eq!(c.read(&mut buf).unwrap(), 0);
        until(|| p.stats().up_bytes == 2);
        c.write_all(b"more").unwrap();
        until(|| p.stats().up_bytes == 6);
    }
}
