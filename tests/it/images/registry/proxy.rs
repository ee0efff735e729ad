//! A TCP proxy in front of the test registry: logs each request line (with its Range),
//! cuts the first long blob response after some bytes, or slows every response down.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A TCP proxy in front of a registry: logs each request line (with its Range), can
/// cut the first blob response after some bytes, and can slow every response down.
pub struct Proxy {
    pub port: u16,
    pub log: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

#[derive(Clone, Copy, Default)]
pub struct ProxyRules {
    pub cut_first_blob_after: Option<usize>,
    pub delay_per_chunk: Option<Duration>,
}

impl Proxy {
    pub fn start(upstream: u16, rules: ProxyRules) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let cut_done = Arc::new(AtomicBool::new(false));
        let (log2, stop2) = (log.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let (log, cut_done) = (log2.clone(), cut_done.clone());
                std::thread::spawn(move || proxy_one(client, upstream, rules, &log, &cut_done));
            }
        });
        Proxy { port, log, stop }
    }

    pub fn requests(&self, containing: &str) -> Vec<String> {
        let log = self.log.lock().unwrap();
        log.iter()
            .filter(|l| l.contains(containing))
            .cloned()
            .collect()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn proxy_one(
    mut client: TcpStream,
    upstream: u16,
    rules: ProxyRules,
    log: &Mutex<Vec<String>>,
    cut_done: &AtomicBool,
) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte).unwrap_or(0) == 0 {
            return;
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let line = text.lines().next().unwrap_or_default().to_string();
    let range = text
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("range:"))
        .map_or(String::new(), |l| format!(" {}", l.trim()));
    log.lock().unwrap().push(format!("{line}{range}"));
    let is_blob = line.starts_with("GET ") && line.contains("/blobs/");
    // The first blob response that gets that long is cut (small blobs pass).
    let cut = match rules.cut_first_blob_after {
        Some(n) if is_blob && !cut_done.load(Ordering::SeqCst) => Some(n),
        _ => None,
    };
    let Ok(mut up) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return;
    };
    if up.write_all(&head).is_err() {
        return;
    }
    let mut buf = [0u8; 16 * 1024];
    let mut sent = 0;
    loop {
        let n = match up.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let n = match cut {
            Some(limit) if sent + n >= limit && !cut_done.swap(true, Ordering::SeqCst) => {
                let _ = client.write_all(&buf[..limit - sent]);
                let _ = client.shutdown(std::net::Shutdown::Both);
                return;
            }
            _ => n,
        };
        if client.write_all(&buf[..n]).is_err() {
            return;
        }
        sent += n;
        if let Some(d) = rules.delay_per_chunk {
            std::thread::sleep(d);
        }
    }
}
