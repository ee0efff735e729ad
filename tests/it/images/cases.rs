//! The image store tests themselves; fixtures are in `images.rs`.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use pealet::images::Store;

use super::*;

#[test]
fn oci_layout_archive_and_docker_save_share_layers() {
    if !privileged("oci_layout_archive_and_docker_save_share_layers") {
        return;
    }
    let d = Dir::new("share");
    let root = d.0.join("root");
    let layout = d.0.join("layout");
    write_oci_layout(&layout, "test/busybox:oci");

    let out = ok(&pealet(&root, &["import", layout.to_str().unwrap()]));
    assert!(out.contains("imported docker.io/test/busybox:oci"), "{out}");
    assert!(
        out.contains("2 layers, 2 unpacked, 0 already stored"),
        "{out}"
    );
    let layers = layer_dirs(&root);
    assert_eq!(layers.len(), 2);
    let inodes: Vec<u64> = layers
        .iter()
        .map(|l| std::fs::metadata(l).unwrap().ino())
        .collect();

    // The same layers in a docker-save archive: nothing is unpacked again.
    let save = d.0.join("save.tar");
    std::fs::write(
        &save,
        docker_save(&[("test/busybox:docker", vec![busybox_layer(), top_layer()])]),
    )
    .unwrap();
    let out = ok(&pealet(&root, &["import", save.to_str().unwrap()]));
    assert!(
        out.contains("imported docker.io/test/busybox:docker"),
        "{out}"
    );
    assert!(out.contains("0 unpacked, 2 already stored"), "{out}");
    // `docker save | gzip` is recognised as an image archive, not taken for a rootfs.
    let gz = d.0.join("save.tar.gz");
    let images = [("test/busybox:gz", vec![busybox_layer(), top_layer()])];
    std::fs::write(&gz, gzip(&docker_save(&images))).unwrap();
    let out = ok(&pealet(&root, &["import", gz.to_str().unwrap()]));
    assert!(
        out.contains("imported docker.io/test/busybox:gz ("),
        "{out}"
    );
    assert!(out.contains("0 unpacked, 2 already stored"), "{out}");

    // The OCI layout as a tar archive, renamed with --name.
    let mut t = Tar::default();
    for rel in ["oci-layout", "index.json"] {
        t.file(rel, &std::fs::read(layout.join(rel)).unwrap(), 0o644);
    }
    t.dir("blobs/").dir("blobs/sha256/");
    for e in std::fs::read_dir(layout.join("blobs/sha256")).unwrap() {
        let e = e.unwrap();
        let name = format!("blobs/sha256/{}", e.file_name().to_str().unwrap());
        t.file(&name, &std::fs::read(e.path()).unwrap(), 0o644);
    }
    let archive = d.0.join("oci.tar");
    std::fs::write(&archive, t.finish()).unwrap();
    let out = ok(&pealet(
        &root,
        &["import", archive.to_str().unwrap(), "--name", "renamed"],
    ));
    assert!(
        out.contains("imported docker.io/library/renamed:latest"),
        "{out}"
    );
    assert!(out.contains("0 unpacked, 2 already stored"), "{out}");

    let now: Vec<u64> = layer_dirs(&root)
        .iter()
        .map(|l| std::fs::metadata(l).unwrap().ino())
        .collect();
    assert_eq!(now, inodes, "layers are unpacked once and shared");
    assert!(tmp_is_empty(&root));

    let ls = ok(&pealet(&root, &["ls"]));
    let lines: Vec<&str> = ls.lines().collect();
    assert_eq!(lines.len(), 5, "{ls}");
    assert!(
        lines[0].starts_with("REF") && lines[0].contains("LAST USED"),
        "{ls}"
    );
    assert!(
        ls.contains("docker.io/test/busybox:oci") && ls.contains("never"),
        "{ls}"
    );

    // What the runtime gets: layers base first, the config, and the time of use.
    let store = Store::open(&root).unwrap();
    let r = store.resolve("test/busybox:oci").unwrap();
    assert_eq!(r.config.entrypoint, ["/bin/sh"]);
    assert_eq!(r.config.cmd, ["-c", "echo hi"]);
    assert_eq!(r.config.env, ["PATH=/bin"]);
    assert_eq!(
        (r.config.working_dir.as_str(), r.config.user.as_str()),
        ("/etc", "0:0")
    );
    assert_eq!(r.layers.len(), 2);
    let (base, top) = (&r.layers[0], &r.layers[1]);
    let hi = Command::new(base.join("bin/busybox"))
        .args(["echo", "hi"])
        .output()
        .unwrap();
    assert_eq!(hi.stdout, b"hi\n");
    assert_eq!(
        std::fs::read_link(base.join("bin/sh")).unwrap(),
        Path::new("busybox")
    );
    assert_eq!(
        std::fs::metadata(base.join("etc/passwd")).unwrap().mtime(),
        1_700_000_000
    );
    // Whiteout: char device 0/0; opaque directory: the overlay xattr; a hard link.
    let wh = std::fs::symlink_metadata(top.join("etc/motd")).unwrap();
    assert!(wh.file_type().is_char_device() && wh.rdev() == 0);
    assert!(!top.join("etc/.wh.motd").exists());
    let opq = xattr(&top.join("var/cache"), "trusted.overlay.opaque");
    assert_eq!(opq.as_deref(), Some(&b"y"[..]));
    assert!(!top.join("var/cache/.wh..wh..opq").exists());
    assert_eq!(
        std::fs::metadata(top.join("etc/hostname.bak"))
            .unwrap()
            .nlink(),
        2
    );
    let ls = ok(&pealet(&root, &["ls"]));
    let line = ls.lines().find(|l| l.contains(":oci")).unwrap();
    assert!(line.ends_with("just now"), "{ls}");
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 64];
    let n = rustix::fs::getxattr(path, name, &mut buf[..]).ok()?;
    buf.truncate(n);
    Some(buf)
}

#[test]
fn rm_keeps_layers_other_images_use() {
    if !privileged("rm_keeps_layers_other_images_use") {
        return;
    }
    let d = Dir::new("rm");
    let root = d.0.join("root");
    let save = d.0.join("two.tar");
    let images = [
        ("base:1", vec![busybox_layer()]),
        ("app:1", vec![busybox_layer(), top_layer()]),
    ];
    std::fs::write(&save, docker_save(&images)).unwrap();
    // --name is refused for an archive with two images, before anything is written.
    let o = pealet(&root, &["import", save.to_str().unwrap(), "--name", "x"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--name needs an archive with exactly one image"),
        "{err}"
    );
    assert!(layer_dirs(&root).is_empty());

    let out = ok(&pealet(&root, &["import", save.to_str().unwrap()]));
    assert!(
        out.contains("docker.io/library/base:1") && out.contains("docker.io/library/app:1"),
        "{out}"
    );
    assert_eq!(layer_dirs(&root).len(), 2);

    let out = ok(&pealet(&root, &["rm", "base:1"]));
    assert!(out.contains("0 layers deleted, 1 still used"), "{out}");
    assert_eq!(layer_dirs(&root).len(), 2);
    assert!(Store::open(&root).unwrap().resolve("app:1").is_ok());

    let out = ok(&pealet(&root, &["rm", "docker.io/library/app:1"]));
    assert!(out.contains("2 layers deleted"), "{out}");
    assert!(layer_dirs(&root).is_empty());
    let o = pealet(&root, &["rm", "app:1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no image app:1"));
    assert_eq!(ok(&pealet(&root, &["ls"])).lines().count(), 1);
}

#[test]
fn plain_rootfs_tar_and_directory_import() {
    if !privileged("plain_rootfs_tar_and_directory_import") {
        return;
    }
    let d = Dir::new("rootfs");
    let root = d.0.join("root");
    let tgz = d.0.join("rootfs.tar.gz");
    std::fs::write(&tgz, gzip(&busybox_layer())).unwrap();
    let o = pealet(&root, &["import", tgz.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("give one with --name"));
    ok(&pealet(
        &root,
        &["import", tgz.to_str().unwrap(), "--name", "rootfs:tgz"],
    ));

    let dir = d.0.join("rootfs-dir");
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::fs::copy(BUSYBOX, dir.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", dir.join("bin/sh")).unwrap();
    ok(&pealet(
        &root,
        &["import", dir.to_str().unwrap(), "--name", "rootfs:dir"],
    ));

    let store = Store::open(&root).unwrap();
    for name in ["rootfs:tgz", "rootfs:dir"] {
        let r = store.resolve(name).unwrap();
        assert_eq!(r.layers.len(), 1);
        assert!(r.config.entrypoint.is_empty() && r.config.cmd.is_empty());
        let o = Command::new(r.layers[0].join("bin/sh"))
            .args(["-c", "echo ok"])
            .output()
            .unwrap();
        assert_eq!(o.stdout, b"ok\n", "{name}");
    }
    assert!(tmp_is_empty(&root));
}

/// Appends the malicious part of a layer.
type AddEntries = Box<dyn Fn(&mut Tar)>;

/// Each malicious layer: the import fails naming the entry, and nothing is left.
#[test]
fn malicious_layers_are_refused() {
    if !privileged("malicious_layers_are_refused") {
        return;
    }
    let d = Dir::new("evil");
    let root = d.0.join("root");
    let abs = d.0.join("absolute-target");
    let abs_name = abs.to_str().unwrap().to_string();
    let cases: Vec<(&str, AddEntries, String)> = vec![
        (
            "traversal",
            Box::new(|t: &mut Tar| {
                t.file("../../../../escaped", b"x", 0o644);
            }),
            "entry \"../../../../escaped\": '..' components are refused".into(),
        ),
        (
            "absolute",
            Box::new(move |t: &mut Tar| {
                t.file(&abs_name, b"x", 0o644);
            }),
            "absolute paths are refused".into(),
        ),
        (
            "symlink",
            Box::new(|t: &mut Tar| {
                t.symlink("etc/evil", "../../../../../etc");
            }),
            "entry \"etc/evil\": symlink target \"../../../../../etc\" escapes the layer".into(),
        ),
        (
            "hardlink",
            Box::new(|t: &mut Tar| {
                t.hardlink("etc/shadow", "../../../../etc/shadow");
            }),
            "entry \"etc/shadow\": hard link target \"../../../../etc/shadow\" escapes the layer"
                .into(),
        ),
        (
            "device",
            Box::new(|t: &mut Tar| {
                t.entry("dev/sda", b'4', 0o600, "", b"", (8, 0));
            }),
            "entry \"dev/sda\": device nodes are refused".into(),
        ),
        (
            "through-symlink",
            Box::new(|t: &mut Tar| {
                t.symlink("tmp", "/");
                t.file("tmp/pealet-it-through-symlink", b"x", 0o644);
            }),
            "parent \"tmp\" is a symlink or not a directory".into(),
        ),
    ];
    for (name, build, want) in cases {
        let mut t = Tar::default();
        t.dir("etc/").file("etc/ok", b"fine", 0o644);
        build(&mut t);
        let path = d.0.join(format!("{name}.tar"));
        std::fs::write(&path, t.finish()).unwrap();
        let o = pealet(&root, &["import", path.to_str().unwrap(), "--name", name]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{name}: {err}");
        assert!(err.contains(&want), "{name}: {err}");
        assert!(layer_dirs(&root).is_empty(), "{name}: a layer was kept");
        assert!(tmp_is_empty(&root), "{name}: work files were left");
        assert!(!root.join("escaped").exists() && !d.0.join("escaped").exists());
        assert!(!abs.exists());
        assert!(!Path::new("/tmp/pealet-it-through-symlink").exists());
    }
    assert_eq!(
        ok(&pealet(&root, &["ls"])).lines().count(),
        1,
        "no image was recorded"
    );
}

#[test]
fn digest_mismatch_fails_and_keeps_nothing() {
    if !privileged("digest_mismatch_fails_and_keeps_nothing") {
        return;
    }
    let d = Dir::new("mismatch");
    let root = d.0.join("root");
    let layout = d.0.join("layout");
    write_oci_layout(&layout, "test/bad:1");
    // Corrupt the uncompressed top layer in place: its blob no longer matches its name.
    let top = sha(&top_layer());
    let blob = layout.join("blobs/sha256").join(&top);
    let mut bytes = std::fs::read(&blob).unwrap();
    let at = bytes.windows(4).position(|w| w == b"pod\n").unwrap();
    bytes[at] = b'P';
    std::fs::write(&blob, bytes).unwrap();
    let o = pealet(&root, &["import", layout.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("expected sha256:{top}")), "{err}");
    assert!(
        err.contains("digest mismatch") && err.contains("the data was deleted"),
        "{err}"
    );
    // The good base layer stays (content-addressed, verified); the bad one is gone.
    assert_eq!(layer_dirs(&root).len(), 1);
    assert!(tmp_is_empty(&root));
    assert_eq!(ok(&pealet(&root, &["ls"])).lines().count(), 1);
}

/// Usage errors need no root: exit 2 and a message naming the problem.
#[test]
fn usage_errors_and_an_empty_store() {
    let d = Dir::new("usage");
    let root = d.0.join("root");
    let code = |args: &[&str]| {
        let o = pealet(&root, args);
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (c, err) = code(&[]);
    assert_eq!(c, Some(2));
    assert!(err.contains("image needs a subcommand"), "{err}");
    let (c, err) = code(&["frob"]);
    assert_eq!(c, Some(2));
    assert!(err.contains("unknown image subcommand \"frob\""), "{err}");
    assert_eq!(code(&["ls", "--name", "x"]).0, Some(2));
    assert_eq!(code(&["import"]).0, Some(2));
    assert_eq!(code(&["rm"]).0, Some(2));
    let (c, err) = code(&["rm", "Bad:Name!"]);
    assert_eq!(c, Some(1));
    assert!(
        err.contains("invalid tag") || err.contains("lower case"),
        "{err}"
    );
    let ls = ok(&pealet(&root, &["ls"]));
    assert_eq!(ls.trim(), "REF  DIGEST  SIZE  LAYERS  LAST USED");
    let help = Command::new(env!("CARGO_BIN_EXE_pealet"))
        .args(["help", "image"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).starts_with("Usage: pealet image"));
}
