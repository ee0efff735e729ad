//! `pealet image import | ls | rm` as root, with images built here from the host's
//! busybox-static: OCI layout and archive, `docker save`, plain root filesystems, and
//! malicious layers. Archives are written by hand (tar, gzip, sha256, JSON) so that the
//! fixtures do not depend on the code under test.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest as _, Sha256};

const BUSYBOX: &str = "/bin/busybox";

/// True when the test may run; panics when it needs root and was not asked to skip.
fn privileged(test: &str) -> bool {
    let euid = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX);
    if euid == 0 {
        assert!(
            Path::new(BUSYBOX).exists(),
            "{test}: {BUSYBOX} is missing: apt-get install -y busybox-static"
        );
        return true;
    }
    if std::env::var("PEALET_SKIP_PRIVILEGED").as_deref() == Ok("1") {
        // Straight to the stream, not eprintln!: the harness would swallow it.
        let msg = format!("SKIPPED {test}: needs root (PEALET_SKIP_PRIVILEGED=1)\n");
        let _ = std::io::stderr().write_all(msg.as_bytes());
        return false;
    }
    panic!("{test} needs root; run as root or set PEALET_SKIP_PRIVILEGED=1 to skip it");
}

pub(crate) struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("pealet-it-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A minimal ustar writer for fixtures.
#[derive(Default)]
struct Tar(Vec<u8>);

impl Tar {
    fn entry(&mut self, path: &str, flag: u8, mode: u32, link: &str, data: &[u8], dev: (u32, u32)) {
        let mut h = [0u8; 512];
        h[..path.len()].copy_from_slice(path.as_bytes());
        let oct = |h: &mut [u8; 512], at: usize, len: usize, v: u64| {
            let s = format!("{v:0w$o}\0", w = len - 1);
            h[at..at + len].copy_from_slice(s.as_bytes());
        };
        oct(&mut h, 100, 8, mode as u64);
        oct(&mut h, 108, 8, 0);
        oct(&mut h, 116, 8, 0);
        oct(&mut h, 124, 12, data.len() as u64);
        oct(&mut h, 136, 12, 1_700_000_000);
        h[156] = flag;
        h[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h[257..265].copy_from_slice(b"ustar\x0000");
        oct(&mut h, 329, 8, dev.0 as u64);
        oct(&mut h, 337, 8, dev.1 as u64);
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| b as u32).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        self.0.extend_from_slice(&h);
        self.0.extend_from_slice(data);
        self.0.resize(self.0.len().div_ceil(512) * 512, 0);
    }
    fn dir(&mut self, p: &str) -> &mut Tar {
        self.entry(p, b'5', 0o755, "", b"", (0, 0));
        self
    }
    fn file(&mut self, p: &str, data: &[u8], mode: u32) -> &mut Tar {
        self.entry(p, b'0', mode, "", data, (0, 0));
        self
    }
    fn symlink(&mut self, p: &str, target: &str) -> &mut Tar {
        self.entry(p, b'2', 0o777, target, b"", (0, 0));
        self
    }
    fn hardlink(&mut self, p: &str, target: &str) -> &mut Tar {
        self.entry(p, b'1', 0o644, target, b"", (0, 0));
        self
    }
    fn finish(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.0);
        out.extend_from_slice(&[0u8; 1024]);
        out
    }
}

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// The base layer: busybox and a few applet links, as in a real busybox image.
fn busybox_layer() -> Vec<u8> {
    let busybox = std::fs::read(BUSYBOX).unwrap();
    let mut t = Tar::default();
    t.dir("bin/").file("bin/busybox", &busybox, 0o755);
    for applet in ["sh", "ls", "cat", "echo", "nc"] {
        t.symlink(&format!("bin/{applet}"), "busybox");
    }
    t.dir("etc/")
        .file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", 0o644)
        .file("etc/motd", b"hello\n", 0o644)
        .dir("var/")
        .dir("var/cache/")
        .file("var/cache/old", b"stale", 0o644);
    t.finish()
}

/// A second layer: a whiteout, an opaque directory and a hard link.
fn top_layer() -> Vec<u8> {
    let mut t = Tar::default();
    t.dir("etc/")
        .file("etc/.wh.motd", b"", 0o644)
        .file("etc/hostname", b"pod\n", 0o644)
        .hardlink("etc/hostname.bak", "etc/hostname")
        .dir("var/cache/")
        .file("var/cache/.wh..wh..opq", b"", 0o644);
    t.finish()
}

fn config_json(diff_ids: &[String]) -> Vec<u8> {
    let ids: Vec<String> = diff_ids.iter().map(|d| format!("\"sha256:{d}\"")).collect();
    format!(
        "{{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{{\"Env\":[\"PATH=/bin\"],\
         \"Entrypoint\":[\"/bin/sh\"],\"Cmd\":[\"-c\",\"echo hi\"],\"WorkingDir\":\"/etc\",\
         \"User\":\"0:0\"}},\"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[{}]}}}}",
        ids.join(",")
    )
    .into_bytes()
}

/// Writes an OCI layout of the two layers (the base one gzip'd) and returns the layer
/// blobs' digests.
fn write_oci_layout(dir: &Path, name: &str) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let d = sha(bytes);
        std::fs::write(blobs.join(&d), bytes).unwrap();
        (d, bytes.len())
    };
    let (base, top) = (busybox_layer(), top_layer());
    let (l1, s1) = put(&gzip(&base));
    let (l2, s2) = put(&top);
    let (c, cs) = put(&config_json(&[sha(&base), sha(&top)]));
    let manifest = format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\
         \"config\":{{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:{c}\",\"size\":{cs}}},\
         \"layers\":[{{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:{l1}\",\"size\":{s1}}},\
         {{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"sha256:{l2}\",\"size\":{s2}}}]}}"
    );
    let (m, ms) = put(manifest.as_bytes());
    let index = format!(
        "{{\"schemaVersion\":2,\"manifests\":[{{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\
         \"digest\":\"sha256:{m}\",\"size\":{ms},\"annotations\":{{\"org.opencontainers.image.ref.name\":\"{name}\"}}}}]}}"
    );
    std::fs::write(dir.join("index.json"), index).unwrap();
    std::fs::write(dir.join("oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}").unwrap();
}

/// A `docker save` archive holding one image per (tag, layers) pair.
fn docker_save(images: &[(&str, Vec<Vec<u8>>)]) -> Vec<u8> {
    let mut t = Tar::default();
    let mut entries = Vec::new();
    for (tag, layers) in images {
        let ids: Vec<String> = layers.iter().map(|l| sha(l)).collect();
        let config = config_json(&ids);
        let cname = format!("{}.json", sha(&config));
        t.file(&cname, &config, 0o644);
        let mut names = Vec::new();
        for (l, id) in layers.iter().zip(&ids) {
            let n = format!("{}/layer.tar", &id[..16]);
            t.dir(&format!("{}/", &id[..16])).file(&n, l, 0o644);
            names.push(format!("\"{n}\""));
        }
        entries.push(format!(
            "{{\"Config\":\"{cname}\",\"RepoTags\":[\"{tag}\"],\"Layers\":[{}]}}",
            names.join(",")
        ));
    }
    t.file(
        "manifest.json",
        format!("[{}]", entries.join(",")).as_bytes(),
        0o644,
    );
    t.finish()
}

fn pealet(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pealet"))
        .arg("image")
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .unwrap()
}

fn ok(o: &Output) -> String {
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "pealet failed: {}\n{out}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

fn layer_dirs(root: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root.join("layers/sha256"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn tmp_is_empty(root: &Path) -> bool {
    std::fs::read_dir(root.join("images/tmp"))
        .unwrap()
        .next()
        .is_none()
}

mod cases;
mod pods;
pub(crate) mod registry;
