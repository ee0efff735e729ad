//! Pulls from docker-registry: by tag and digest, indexes, compressions, the disk
//! reserve, cut downloads, concurrent pulls. Authentication is in `auth_cases.rs`.

use std::sync::Arc;

use pealet::images::Store;
use pealet::images::registry::pull::PullFailure;
use pealet::images::registry::{Platform, PullOptions, Pulled, Registries};

use super::*;

#[test]
fn pull_by_tag_then_by_digest_then_prune() {
    if !privileged("pull_by_tag_then_by_digest_then_prune") {
        return;
    }
    let reg = Registry::start("tag", None);
    let img = busybox_image("v1", Comp::Gzip);
    push(reg.port, "test/busybox", "v1", &img, None);
    let root = reg.dir.0.join("store");
    let r = format!("{}/test/busybox:v1", reg.host());

    let out = ok(&pealet(&root, &["pull", &r]));
    assert!(
        out.contains(&format!("pulled {r} (2 of 2 layers downloaded")),
        "{out}"
    );
    assert!(out.contains(&format!("digest: {}", img.digest())), "{out}");
    assert_eq!(top_file(&root, &r, "etc/what"), "v1");
    let store = Store::open(&root).unwrap();
    let base = &store.resolve(&r).unwrap().layers[0];
    assert!(base.join("bin/busybox").is_file());

    // By digest: verified, and nothing is downloaded again.
    let by_digest = format!("{}/test/busybox@{}", reg.host(), img.digest());
    let out = ok(&pealet(&root, &["pull", &by_digest]));
    assert!(out.contains("(0 of 2 layers downloaded"), "{out}");
    let ls = ok(&pealet(&root, &["ls"]));
    assert_eq!(ls.lines().count(), 3, "{ls}");

    // A missing image: the registry's own message reaches the user.
    let missing = format!("{}/test/nothere:v1", reg.host());
    let e = err(&pealet(&root, &["pull", &missing]));
    assert!(
        e.contains("not found") && e.contains("manifest unknown"),
        "{e}"
    );
    let zero = format!("{}/test/busybox@sha256:{}", reg.host(), "0".repeat(64));
    let e = err(&pealet(&root, &["pull", &zero]));
    assert!(e.contains("not found"), "{e}");

    // Prune keeps what is named (by digest: every name of that image) and the layers
    // it shares with what it removes.
    let out = ok(&pealet(&root, &["prune", "--keep", &by_digest]));
    assert!(out.contains("0 images removed"), "{out}");
    let out = ok(&pealet(&root, &["prune", "--keep", &r]));
    assert!(out.contains(&format!("removed {by_digest}")), "{out}");
    assert!(out.contains("1 images removed"), "{out}");
    assert_eq!(layer_dirs(&root).len(), 2);
    let out = ok(&pealet(&root, &["prune"]));
    assert!(out.contains("1 images removed"), "{out}");
    assert!(layer_dirs(&root).is_empty());
}

#[test]
fn zstd_and_uncompressed_layers_and_the_disk_reserve() {
    if !privileged("zstd_and_uncompressed_layers_and_the_disk_reserve") {
        return;
    }
    let reg = Registry::start("zstd", None);
    let img = busybox_image("zstd", Comp::Zstd);
    push(reg.port, "test/zstd", "v1", &img, None);
    let root = reg.dir.0.join("store");
    let r = format!("{}/test/zstd:v1", reg.host());
    let regs = Registries::default();

    let huge = PullOptions {
        reserve_bytes: u64::MAX / 4,
        ..opts()
    };
    let e = pull_with(&root, &regs, &r, &huge).unwrap_err();
    assert_eq!(e.failure(), PullFailure::NoSpace);
    assert!(e.to_string().starts_with("not enough disk space"), "{e}");

    let pulled = pull_with(&root, &regs, &r, &opts()).unwrap();
    assert_eq!(pulled.layers_fetched, 2);
    assert_eq!(top_file(&root, &r, "etc/what"), "zstd");
    let dirs = layer_dirs(&root);
    for id in &img.diff_ids {
        assert!(dirs.iter().any(|d| d.ends_with(id)), "layer {id} missing");
    }
}

#[test]
fn an_index_gives_this_platforms_manifest() {
    if !privileged("an_index_gives_this_platforms_manifest") {
        return;
    }
    let reg = Registry::start("index", None);
    let platforms = [
        "linux/amd64",
        "linux/arm64/v8",
        "linux/arm/v7",
        "linux/arm/v6",
    ];
    let images: Vec<Image> = platforms
        .iter()
        .map(|p| busybox_image(p, Comp::Gzip))
        .collect();
    for img in &images {
        push(reg.port, "test/multi", &img.digest(), img, None);
    }
    let entries: Vec<(&Image, &str)> = images.iter().zip(platforms).collect();
    let idx = index(&entries);
    put_manifest(reg.port, "test/multi", "v1", &idx, MEDIA_INDEX, None);
    let root = reg.dir.0.join("store");
    let r = format!("{}/test/multi:v1", reg.host());
    let regs = Registries::default();
    let on = |platform: Option<&str>| {
        let o = PullOptions {
            platform: platform.map(|p| Platform::parse(p).unwrap()),
            ..opts()
        };
        pull_with(&root, &regs, &r, &o)
    };
    let cases = [
        ("linux/arm/v7", 2),
        ("linux/arm/v8", 2),
        ("linux/arm/v6", 3),
        ("linux/arm64", 1),
    ];
    for (platform, want) in cases {
        let pulled = on(Some(platform)).unwrap();
        assert_eq!(
            pulled.digest.to_string(),
            format!("sha256:{}", sha(&idx)),
            "{platform}"
        );
        assert_eq!(
            pulled.manifest.to_string(),
            images[want].digest(),
            "{platform}"
        );
        assert_eq!(top_file(&root, &r, "etc/what"), platforms[want]);
    }
    let here = on(None).unwrap();
    let want = match std::env::consts::ARCH {
        "aarch64" => 1,
        _ => 0,
    };
    assert_eq!(here.manifest.to_string(), images[want].digest());
    let e = on(Some("linux/riscv64")).unwrap_err().to_string();
    assert!(
        e.contains("no image for linux/riscv64") && e.contains("linux/arm/v6"),
        "{e}"
    );
    // The CLI takes --platform too, and the store finds the image by the index digest.
    let out = ok(&pealet(&root, &["pull", "--platform", "linux/arm/v6", &r]));
    assert!(
        out.contains(&format!("digest: sha256:{}", sha(&idx))),
        "{out}"
    );
    let by_index = format!("{}/test/multi@sha256:{}", reg.host(), sha(&idx));
    assert_eq!(top_file(&root, &by_index, "etc/what"), "linux/arm/v6");
}

#[test]
fn a_cut_download_resumes_with_a_range_request() {
    if !privileged("a_cut_download_resumes_with_a_range_request") {
        return;
    }
    let reg = Registry::start("resume", None);
    let img = busybox_image("resume", Comp::Gzip);
    push(reg.port, "test/resume", "v1", &img, None);
    let cut = ProxyRules {
        cut_first_blob_after: Some(300_000),
        ..ProxyRules::default()
    };
    let layer = format!("/blobs/sha256:{}", sha(&img.blobs[1]));

    // Within one pull: the transfer is resumed at once.
    let proxy = Proxy::start(reg.port, cut);
    let root = reg.dir.0.join("store");
    let r = format!("127.0.0.1:{}/test/resume:v1", proxy.port);
    let pulled = pull_with(&root, &Registries::default(), &r, &opts()).unwrap();
    assert_eq!(pulled.layers_fetched, 2);
    let gets = proxy.requests(&layer);
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert!(
        !gets[0].contains("Range") && gets[1].contains("Range: bytes="),
        "{gets:?}"
    );

    // Across a restart: the partial download stays and the next pull resumes it.
    let proxy = Proxy::start(reg.port, cut);
    let root = reg.dir.0.join("store2");
    let r = format!("127.0.0.1:{}/test/resume:v1", proxy.port);
    let once = PullOptions {
        retries: 0,
        ..opts()
    };
    let e = pull_with(&root, &Registries::default(), &r, &once).unwrap_err();
    assert_eq!(e.failure(), PullFailure::Unavailable);
    assert!(e.to_string().contains("the next pull resumes it"), "{e}");
    let partial = root.join("images/partial").join(sha(&img.blobs[1]));
    let kept = std::fs::metadata(&partial).unwrap().len();
    assert!(kept > 100_000, "{kept} bytes kept");
    pull_with(&root, &Registries::default(), &r, &once).unwrap();
    let gets = proxy.requests(&layer);
    assert!(
        gets[1].contains(&format!("Range: bytes={kept}-")),
        "{gets:?}"
    );
    assert!(!partial.exists());
    assert_eq!(top_file(&root, &r, "etc/what"), "resume");
}

#[test]
fn two_concurrent_pulls_of_one_image_download_it_once() {
    if !privileged("two_concurrent_pulls_of_one_image_download_it_once") {
        return;
    }
    let reg = Registry::start("once", None);
    let img = busybox_image("once", Comp::Gzip);
    push(reg.port, "test/once", "v1", &img, None);
    let slow = ProxyRules {
        delay_per_chunk: Some(std::time::Duration::from_millis(10)),
        ..ProxyRules::default()
    };
    let proxy = Proxy::start(reg.port, slow);
    let root = Arc::new(reg.dir.0.join("store"));
    let r = Arc::new(format!("127.0.0.1:{}/test/once:v1", proxy.port));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (root, r) = (root.clone(), r.clone());
            std::thread::spawn(move || {
                pull_with(&root, &Registries::default(), &r, &opts()).unwrap()
            })
        })
        .collect();
    let results: Vec<Pulled> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(results[0].digest, results[1].digest);
    assert_eq!(results.iter().filter(|p| p.shared).count(), 1);
    for blob in &img.blobs[1..] {
        let gets = proxy.requests(&format!("/blobs/sha256:{}", sha(blob)));
        assert_eq!(gets.len(), 1, "{gets:?}");
    }
    assert_eq!(proxy.requests("/manifests/").len(), 1);
}

#[test]
fn a_pull_killed_midway_leaves_a_usable_store_and_resumes() {
    if !privileged("a_pull_killed_midway_leaves_a_usable_store_and_resumes") {
        return;
    }
    let reg = Registry::start("kill", None);
    let img = busybox_image("kill", Comp::Gzip);
    push(reg.port, "test/kill", "v1", &img, None);
    let slow = ProxyRules {
        delay_per_chunk: Some(std::time::Duration::from_millis(20)),
        ..ProxyRules::default()
    };
    let proxy = Proxy::start(reg.port, slow);
    let root = reg.dir.0.join("store");
    let r = format!("127.0.0.1:{}/test/kill:v1", proxy.port);
    let partial = root.join("images/partial").join(sha(&img.blobs[1]));

    let mut child = Command::new(env!("CARGO_BIN_EXE_pealet"))
        .args(["image", "--root", root.to_str().unwrap(), "pull", &r])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::fs::metadata(&partial).map_or(0, |m| m.len()) < 100_000 {
        assert!(
            std::time::Instant::now() < deadline,
            "the download did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL: no clean-up code runs
    child.wait().unwrap();
    let kept = std::fs::metadata(&partial).unwrap().len();

    // The store opens clean: no image, no half layer, the work directory emptied.
    let ls = ok(&pealet(&root, &["ls"]));
    assert_eq!(ls.lines().count(), 1, "{ls}");
    assert!(layer_dirs(&root).is_empty());
    assert!(tmp_is_empty(&root));
    let out = ok(&pealet(&root, &["pull", &r]));
    assert!(out.contains(&format!("digest: {}", img.digest())), "{out}");
    let gets = proxy.requests(&format!("/blobs/sha256:{}", sha(&img.blobs[1])));
    let resumed = gets[1]
        .split("bytes=")
        .nth(1)
        .unwrap()
        .trim_end_matches('-');
    assert!(
        resumed.parse::<u64>().unwrap() >= kept,
        "{gets:?} after {kept} bytes"
    );
    assert_eq!(top_file(&root, &r, "etc/what"), "kill");
}
