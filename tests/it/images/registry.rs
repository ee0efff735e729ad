//! Pulls from a real registry: Debian's docker-registry on a free loopback port, with
//! images built here from the host's busybox and pushed by plain HTTP (the distribution
//! API's monolithic upload), so the fixtures do not depend on the code under test.
//! `fake.rs` serves what a real registry cannot do on demand (a Bearer token flow,
//! corrupt blobs); `Proxy` cuts, throttles and counts requests to the real one.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pealet::images::Store;
use pealet::images::registry::{self, PullError, PullOptions, Pulled, Registries};

use super::*;

pub const DOCKER_REGISTRY: &str = "/usr/bin/docker-registry";
pub const MEDIA_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_INDEX: &str = "application/vnd.oci.image.index.v1+json";

pub fn opts() -> PullOptions {
    PullOptions {
        reserve_bytes: 0,
        ..PullOptions::default()
    }
}

pub fn pull_with(
    root: &Path,
    regs: &Registries,
    reference: &str,
    o: &PullOptions,
) -> Result<Pulled, PullError> {
    let store = Store::open(root).unwrap();
    registry::pull(&store, regs, reference, o, &mut |_| {})
}

/// The content of `file` in the image's top layer.
pub fn top_file(root: &Path, reference: &str, file: &str) -> String {
    let store = Store::open(root).unwrap();
    let resolved = store.resolve(reference).unwrap();
    let top = resolved.layers.last().unwrap();
    std::fs::read_to_string(top.join(file)).unwrap()
}

pub fn err(o: &std::process::Output) -> String {
    assert!(
        !o.status.success(),
        "pealet succeeded: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A running docker-registry, killed on drop.
pub struct Registry {
    child: Child,
    pub port: u16,
    pub dir: Dir,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Registry {
    /// Starts a registry; with `htpasswd` (file contents) it asks for Basic auth.
    pub fn start(tag: &str, htpasswd: Option<&str>) -> Registry {
        Registry::start_with(tag, htpasswd, None, None)
    }

    /// With `tls` (certificate and key files) it serves HTTPS; with `data` it serves the
    /// storage of another registry.
    pub fn start_with(
        tag: &str,
        htpasswd: Option<&str>,
        tls: Option<(&Path, &Path)>,
        data: Option<&Path>,
    ) -> Registry {
        assert!(
            Path::new(DOCKER_REGISTRY).exists(),
            "{DOCKER_REGISTRY} is missing: apt-get install -y docker-registry"
        );
        let dir = Dir::new(&format!("registry-{tag}"));
        let port = free_port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: test\n",
            data.map_or(dir.0.join("data"), Path::to_path_buf).display()
        );
        if let Some((cert, key)) = tls {
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            ));
        }
        if let Some(h) = htpasswd {
            let path = dir.0.join("htpasswd");
            std::fs::write(&path, h).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
                path.display()
            ));
        }
        let config_path = dir.0.join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let child = Command::new(DOCKER_REGISTRY)
            .arg("serve")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let r = Registry { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "docker-registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        r
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 exchange with `Connection: close`: status, headers, body.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let text = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, raw[end + 4..].to_vec())
}

/// An image ready to push: its blobs (config and layers) and its manifest.
#[derive(Clone)]
pub struct Image {
    pub blobs: Vec<Vec<u8>>,
    pub manifest: Vec<u8>,
    /// Uncompressed layer tars, to compare with what was unpacked.
    pub diff_ids: Vec<String>,
}

impl Image {
    pub fn digest(&self) -> String {
        format!("sha256:{}", sha(&self.manifest))
    }
}

#[derive(Clone, Copy)]
pub enum Comp {
    Gzip,
    Zstd,
    Plain,
}

fn compress(tar: &[u8], comp: Comp) -> (Vec<u8>, &'static str) {
    match comp {
        Comp::Gzip => (gzip(tar), "application/vnd.oci.image.layer.v1.tar+gzip"),
        Comp::Plain => (tar.to_vec(), "application/vnd.oci.image.layer.v1.tar"),
        Comp::Zstd => {
            let mut child = Command::new("zstd")
                .args(["-q", "-3", "-c"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("zstd is missing: apt-get install -y zstd");
            let mut stdin = child.stdin.take().unwrap();
            let input = tar.to_vec();
            let writer = std::thread::spawn(move || stdin.write_all(&input).unwrap());
            let out = child.wait_with_output().unwrap();
            writer.join().unwrap();
            (out.stdout, "application/vnd.oci.image.layer.v1.tar+zstd")
        }
    }
}

/// An image of these layer tars, compressed as asked.
pub fn image(layers: &[(Vec<u8>, Comp)]) -> Image {
    let diff_ids: Vec<String> = layers.iter().map(|(t, _)| sha(t)).collect();
    let config = config_json(&diff_ids);
    let mut descs = Vec::new();
    let mut blobs = vec![config.clone()];
    for (tar, comp) in layers {
        let (blob, media) = compress(tar, *comp);
        descs.push(format!(
            "{{\"mediaType\":\"{media}\",\"digest\":\"sha256:{}\",\"size\":{}}}",
            sha(&blob),
            blob.len()
        ));
        blobs.push(blob);
    }
    let manifest = format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"{MEDIA_MANIFEST}\",\"config\":{{\"mediaType\":\
         \"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:{}\",\"size\":{}}},\
         \"layers\":[{}]}}",
        sha(&config),
        config.len(),
        descs.join(",")
    );
    Image {
        blobs,
        manifest: manifest.into_bytes(),
        diff_ids,
    }
}

/// An index of (image, "os/arch[/variant]").
pub fn index(images: &[(&Image, &str)]) -> Vec<u8> {
    let entries: Vec<String> = images
        .iter()
        .map(|(img, platform)| {
            let p: Vec<&str> = platform.split('/').collect();
            let variant = p
                .get(2)
                .map_or(String::new(), |v| format!(",\"variant\":\"{v}\""));
            format!(
                "{{\"mediaType\":\"{MEDIA_MANIFEST}\",\"digest\":\"{}\",\"size\":{},\
                 \"platform\":{{\"os\":\"{}\",\"architecture\":\"{}\"{variant}}}}}",
                img.digest(),
                img.manifest.len(),
                p[0],
                p[1]
            )
        })
        .collect();
    format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"{MEDIA_INDEX}\",\"manifests\":[{}]}}",
        entries.join(",")
    )
    .into_bytes()
}

/// The busybox base layer and a small layer naming `what`.
pub fn busybox_image(what: &str, comp: Comp) -> Image {
    let mut t = Tar::default();
    t.dir("etc/").file("etc/what", what.as_bytes(), 0o644);
    image(&[(busybox_layer(), comp), (t.finish(), Comp::Plain)])
}

/// Pushes the blobs and the manifest (under `reference`: a tag or a digest).
pub fn push(port: u16, repo: &str, reference: &str, img: &Image, auth: Option<&str>) {
    let auth: Vec<(&str, &str)> = auth.map(|a| ("Authorization", a)).into_iter().collect();
    for blob in &img.blobs {
        let (status, headers, body) = http(
            port,
            "POST",
            &format!("/v2/{repo}/blobs/uploads/"),
            &auth,
            b"",
        );
        assert_eq!(
            status,
            202,
            "upload start: {}",
            String::from_utf8_lossy(&body)
        );
        let location = &headers.iter().find(|(k, _)| k == "location").unwrap().1;
        let path = match location.find("/v2/") {
            Some(i) => &location[i..],
            None => location,
        };
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = format!("{path}{sep}digest=sha256:{}", sha(blob));
        let mut h = auth.clone();
        h.push(("Content-Type", "application/octet-stream"));
        let (status, _, body) = http(port, "PUT", &url, &h, blob);
        assert_eq!(status, 201, "upload: {}", String::from_utf8_lossy(&body));
    }
    put_manifest(
        port,
        repo,
        reference,
        &img.manifest,
        MEDIA_MANIFEST,
        auth.first().map(|a| a.1),
    );
}

pub fn put_manifest(
    port: u16,
    repo: &str,
    reference: &str,
    bytes: &[u8],
    media: &str,
    auth: Option<&str>,
) {
    let mut h = vec![("Content-Type", media)];
    if let Some(a) = auth {
        h.push(("Authorization", a));
    }
    let (status, _, body) = http(
        port,
        "PUT",
        &format!("/v2/{repo}/manifests/{reference}"),
        &h,
        bytes,
    );
    assert_eq!(status, 201, "manifest: {}", String::from_utf8_lossy(&body));
}

mod auth_cases;
mod cases;
mod fake;
mod proxy;
pub use proxy::{Proxy, ProxyRules};
