//! Unit tests of path checks and of extraction into a temporary directory (no root needed).

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use super::*;
use crate::images::tar_write::{Writer, empty_entry};

pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("pealet-unit-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn entry(path: &str, kind: Kind, link: &str) -> Entry {
    Entry {
        path: path.into(),
        kind,
        link: link.into(),
        mode: 0o755,
        mtime: 1_600_000_000,
        ..empty_entry()
    }
}

fn file(path: &str, data: &str, mode: u32) -> (Entry, Vec<u8>) {
    let mut e = entry(path, Kind::File, "");
    e.size = data.len() as u64;
    e.mode = mode;
    (e, data.into())
}

fn tar(entries: &[(Entry, Vec<u8>)]) -> Vec<u8> {
    let mut w = Writer::new(Vec::new());
    for (e, d) in entries {
        w.append(e, &mut &d[..]).unwrap();
    }
    w.finish().unwrap()
}

fn unpack(entries: &[(Entry, Vec<u8>)], opts: Options) -> (TempDir, Result<Stats, ExtractError>) {
    let dir = TempDir::new("extract");
    let layer = dir.0.join("layer");
    std::fs::create_dir(&layer).unwrap();
    let bytes = tar(entries);
    let r = extract(&mut Archive::new(&bytes[..]), &layer, &opts);
    (dir, r)
}

fn unprivileged() -> Options {
    Options {
        preserve_owner: false,
        ..Options::default()
    }
}

#[test]
fn unpacks_files_links_and_modes() {
    let entries = vec![
        (entry("bin", Kind::Directory, ""), vec![]),
        file("bin/busybox", "#!", 0o4755),
        (entry("bin/sh", Kind::Symlink, "busybox"), vec![]),
        (entry("bin/ls", Kind::HardLink, "bin/busybox"), vec![]),
        file("etc/deep/conf", "x=1", 0o600),
        (entry("tmp", Kind::Fifo, ""), vec![]),
    ];
    let (dir, r) = unpack(&entries, unprivileged());
    let stats = r.unwrap();
    assert_eq!(stats.entries, 6);
    let l = dir.0.join("layer");
    let md = std::fs::metadata(l.join("bin/busybox")).unwrap();
    assert_eq!(md.permissions().mode() & 0o7777, 0o4755);
    assert_eq!(md.mtime(), 1_600_000_000);
    assert_eq!(md.nlink(), 2);
    assert_eq!(
        std::fs::read_link(l.join("bin/sh")).unwrap(),
        Path::new("busybox")
    );
    assert_eq!(
        std::fs::read_to_string(l.join("etc/deep/conf")).unwrap(),
        "x=1"
    );
    assert_eq!(
        std::fs::metadata(l.join("bin")).unwrap().mtime(),
        1_600_000_000
    );

    let strip = Options {
        strip_setuid: true,
        ..unprivileged()
    };
    let (dir, r) = unpack(&entries, strip);
    r.unwrap();
    let md = std::fs::metadata(dir.0.join("layer/bin/busybox")).unwrap();
    assert_eq!(md.permissions().mode() & 0o7777, 0o755);
}

#[test]
fn later_entries_replace_earlier_ones() {
    let entries = vec![
        file("a", "old", 0o644),
        file("a", "new", 0o644),
        file("d/x", "x", 0o644),
        file("d", "now a file", 0o644),
    ];
    let (dir, r) = unpack(&entries, unprivileged());
    r.unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.0.join("layer/a")).unwrap(),
        "new"
    );
    assert_eq!(
        std::fs::read_to_string(dir.0.join("layer/d")).unwrap(),
        "now a file"
    );
}

fn refused(entries: Vec<(Entry, Vec<u8>)>) -> (TempDir, String) {
    let (dir, r) = unpack(&entries, unprivileged());
    let e = r.expect_err("must be refused");
    (dir, e.to_string())
}

#[test]
fn refuses_escapes_with_a_clear_error() {
    let (_d, msg) = refused(vec![file("../evil", "x", 0o644)]);
    assert_eq!(msg, "entry \"../evil\": '..' components are refused");
    let (_d, msg) = refused(vec![file("/etc/evil", "x", 0o644)]);
    assert_eq!(msg, "entry \"/etc/evil\": absolute paths are refused");
    let (_d, msg) = refused(vec![(entry("x", Kind::Symlink, "../../etc"), vec![])]);
    assert_eq!(
        msg,
        "entry \"x\": symlink target \"../../etc\" escapes the layer"
    );
    let (_d, msg) = refused(vec![(entry("x", Kind::HardLink, "../outside"), vec![])]);
    assert_eq!(
        msg,
        "entry \"x\": hard link target \"../outside\" escapes the layer"
    );
    let (_d, msg) = refused(vec![(entry("x", Kind::HardLink, "/etc/passwd"), vec![])]);
    assert!(msg.contains("escapes the layer"), "{msg}");
    let mut dev = entry("dev/sda", Kind::BlockDevice, "");
    dev.dev_major = 8;
    let (_d, msg) = refused(vec![(dev, vec![])]);
    assert_eq!(
        msg,
        "entry \"dev/sda\": device nodes are refused (allow_devices is not set)"
    );
}

#[test]
fn never_writes_through_a_symlink_in_the_layer() {
    let dir = TempDir::new("outside");
    let outside = dir.0.join("outside");
    std::fs::create_dir(&outside).unwrap();
    // An allowed absolute symlink, then a file "through" it: must not land on the host.
    let target = outside.to_str().unwrap().to_string();
    let entries = vec![
        (entry("link", Kind::Symlink, &target), vec![]),
        file("link/pwned", "x", 0o644),
    ];
    let (_l, r) = unpack(&entries, unprivileged());
    let msg = r.unwrap_err().to_string();
    assert_eq!(
        msg,
        "entry \"link/pwned\": parent \"link\" is a symlink or not a directory"
    );
    assert!(!outside.join("pwned").exists());
    // A file written over an existing symlink replaces the link, not its target.
    let victim = outside.join("victim");
    std::fs::write(&victim, "safe").unwrap();
    let entries = vec![
        (entry("v", Kind::Symlink, victim.to_str().unwrap()), vec![]),
        file("v", "overwritten", 0o644),
    ];
    let (l, r) = unpack(&entries, unprivileged());
    r.unwrap();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "safe");
    assert_eq!(
        std::fs::read_to_string(l.0.join("layer/v")).unwrap(),
        "overwritten"
    );
}

#[test]
fn large_files_arrive_whole() {
    // Several copy buffers and writeback steps, the last one partial.
    let size = 3 * WRITEBACK_STEP as usize + COPY_BUF + 17;
    let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let mut e = entry("big", Kind::File, "");
    e.size = size as u64;
    e.mode = 0o644;
    let (dir, r) = unpack(&[(e, data.clone())], unprivileged());
    assert_eq!(r.unwrap().bytes, size as u64);
    assert!(std::fs::read(dir.0.join("layer/big")).unwrap() == data);
}
