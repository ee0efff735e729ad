//! A registry written here, for what docker-registry cannot do on demand: the Bearer
//! challenge with a token endpoint that checks Basic credentials, and a corrupt blob.
//! It serves one repository from memory, one request per connection.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::{Image, MEDIA_MANIFEST, sha};

const TOKEN: &str = "t0k3n-for-tests";

#[derive(Clone, Default)]
pub struct FakeOptions {
    /// `user:password` the token endpoint wants; `None`: anonymous tokens.
    pub credentials: Option<String>,
    /// Flip one byte in the middle of every layer blob.
    pub corrupt_layers: bool,
    /// Redirect blob GETs to `localhost:<port>/storage/`, another host to the client.
    pub redirect_blobs: bool,
}

pub struct Fake {
    pub port: u16,
    pub log: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

struct State {
    repo: String,
    port: u16,
    opts: FakeOptions,
    manifests: HashMap<String, Vec<u8>>,
    blobs: HashMap<String, Vec<u8>>,
    layers: Vec<String>,
}

impl Fake {
    pub fn start(repo: &str, tag: &str, img: &Image, opts: FakeOptions) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut manifests = HashMap::new();
        manifests.insert(tag.to_string(), img.manifest.clone());
        manifests.insert(img.digest(), img.manifest.clone());
        let blobs: HashMap<String, Vec<u8>> = img
            .blobs
            .iter()
            .map(|b| (format!("sha256:{}", sha(b)), b.clone()))
            .collect();
        let layers = img.blobs[1..]
            .iter()
            .map(|b| format!("sha256:{}", sha(b)))
            .collect();
        let state = Arc::new(State {
            repo: repo.to_string(),
            port,
            opts,
            manifests,
            blobs,
            layers,
        });
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log2, stop2) = (log.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(conn) = conn {
                    serve(conn, &state, &log2);
                }
            }
        });
        Fake { port, log, stop }
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn respond(s: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]) {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = s.write_all(head.as_bytes());
    let _ = s.write_all(body);
}

fn serve(mut s: TcpStream, st: &State, log: &Mutex<Vec<String>>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).unwrap_or(0) == 0 {
            return;
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let line = text.lines().next().unwrap_or_default().to_string();
    let auth = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("Authorization: ")
                .or_else(|| l.strip_prefix("authorization: "))
        })
        .unwrap_or_default()
        .to_string();
    log.lock().unwrap().push(format!(
        "{line} auth={}",
        auth.split(' ').next().unwrap_or("")
    ));
    let path = line.split(' ').nth(1).unwrap_or_default().to_string();
    let errors = |code: &str, msg: &str| {
        format!("{{\"errors\":[{{\"code\":\"{code}\",\"message\":\"{msg}\"}}]}}").into_bytes()
    };
    if path.starts_with("/token?") {
        let wanted = st.opts.credentials.as_ref().map(|c| basic(c));
        if wanted.is_some_and(|w| w != auth) {
            return respond(
                &mut s,
                "401 Unauthorized",
                &[],
                &errors("UNAUTHORIZED", "bad credentials"),
            );
        }
        let body = format!("{{\"token\":\"{TOKEN}\",\"expires_in\":300}}");
        return respond(
            &mut s,
            "200 OK",
            &[("Content-Type", "application/json".into())],
            body.as_bytes(),
        );
    }
    let storage = path.strip_prefix("/storage/").map(str::to_string);
    if storage.is_none() && auth != format!("Bearer {TOKEN}") {
        let challenge = format!(
            "Bearer realm=\"http://127.0.0.1:{}/token\",service=\"fake-registry\",scope=\"repository:{}:pull\"",
            st.port, st.repo
        );
        let h = [
            ("WWW-Authenticate", challenge),
            ("Content-Type", "application/json".into()),
        ];
        return respond(
            &mut s,
            "401 Unauthorized",
            &h,
            &errors("UNAUTHORIZED", "authentication required"),
        );
    }
    let prefix = format!("/v2/{}/", st.repo);
    let tail = path.strip_prefix(&prefix).unwrap_or_default();
    if let Some(r) = tail.strip_prefix("manifests/") {
        if let Some(m) = st.manifests.get(r) {
            let h = [
                ("Content-Type", MEDIA_MANIFEST.to_string()),
                ("Docker-Content-Digest", format!("sha256:{}", sha(m))),
            ];
            return respond(&mut s, "200 OK", &h, m);
        }
        return respond(
            &mut s,
            "404 Not Found",
            &[],
            &errors("MANIFEST_UNKNOWN", "manifest unknown"),
        );
    }
    let blob = tail
        .strip_prefix("blobs/")
        .map(str::to_string)
        .or(storage.clone());
    if st.opts.redirect_blobs && storage.is_none() && blob.is_some() {
        let to = format!(
            "http://localhost:{}/storage/{}",
            st.port,
            blob.unwrap_or_default()
        );
        return respond(&mut s, "307 Temporary Redirect", &[("Location", to)], b"");
    }
    if let Some(d) = blob.as_deref() {
        if let Some(b) = st.blobs.get(d) {
            let mut b = b.clone();
            if st.opts.corrupt_layers && st.layers.iter().any(|l| l == d) {
                let mid = b.len() / 2;
                b[mid] ^= 0xff;
            }
            return respond(&mut s, "200 OK", &[], &b);
        }
    }
    respond(
        &mut s,
        "404 Not Found",
        &[],
        &errors("BLOB_UNKNOWN", "blob unknown to registry"),
    )
}

pub fn basic(user_pass: &str) -> String {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in user_pass.as_bytes().chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            out.push(if i <= c.len() {
                B64[(n >> (18 - 6 * i) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    format!("Basic {out}")
}
