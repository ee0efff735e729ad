//! Authentication and transport: Basic auth on docker-registry, TLS with a private CA,
//! the Bearer challenge and cross-host redirects and corrupt blobs on the test's own server.

use std::path::PathBuf;

use pealet::images::Store;
use pealet::images::registry::pull::PullFailure;
use pealet::images::registry::{Credentials, Registries};

use super::fake::{Fake, FakeOptions, basic};
use super::*;
use super::{Proxy, ProxyRules};

#[test]
fn basic_auth_accepted_and_refused() {
    if !privileged("basic_auth_accepted_and_refused") {
        return;
    }
    let hash = Command::new("htpasswd")
        .args(["-Bbn", "alice", "s3cret"])
        .output()
        .expect("htpasswd is missing: apt-get install -y apache2-utils");
    let reg = Registry::start("basic", Some(&String::from_utf8(hash.stdout).unwrap()));
    let img = busybox_image("private", Comp::Gzip);
    push(
        reg.port,
        "test/private",
        "v1",
        &img,
        Some(&basic("alice:s3cret")),
    );
    let root = reg.dir.0.join("store");
    let r = format!("{}/test/private:v1", reg.host());

    let e = err(&pealet(&root, &["pull", &r]));
    assert!(e.contains("authentication required"), "{e}");
    let auth_file = |user_pass: &str| {
        let path = reg.dir.0.join("config.json");
        let b64 = basic(user_pass).trim_start_matches("Basic ").to_string();
        let json = format!(
            "{{\"auths\":{{\"http://{}\":{{\"auth\":\"{b64}\"}}}}}}",
            reg.host()
        );
        std::fs::write(&path, json).unwrap();
        path.to_str().unwrap().to_string()
    };
    let e = err(&pealet(
        &root,
        &["pull", "--auth-file", &auth_file("alice:wrong"), &r],
    ));
    assert!(e.contains("authentication required"), "{e}");
    assert!(!e.contains("wrong"), "a password in a message: {e}");
    let out = ok(&pealet(
        &root,
        &["pull", "--auth-file", &auth_file("alice:s3cret"), &r],
    ));
    assert!(out.contains(&format!("digest: {}", img.digest())), "{out}");
}

#[test]
fn bearer_token_challenge() {
    if !privileged("bearer_token_challenge") {
        return;
    }
    let img = busybox_image("bearer", Comp::Gzip);
    let creds = FakeOptions {
        credentials: Some("bob:hunter2".into()),
        ..FakeOptions::default()
    };
    let fake = Fake::start("test/app", "v1", &img, creds);
    let d = Dir::new("bearer");
    let r = format!("127.0.0.1:{}/test/app:v1", fake.port);
    let mut regs = Registries::default();

    let e = pull_with(&d.0, &regs, &r, &opts()).unwrap_err();
    assert_eq!(e.failure(), PullFailure::Unauthorized);
    assert!(e.to_string().contains("refused the credentials"), "{e}");

    regs.entry(&format!("127.0.0.1:{}", fake.port)).credentials = Some(Credentials {
        username: "bob".into(),
        password: "hunter2".into(),
    });
    let pulled = pull_with(&d.0, &regs, &r, &opts()).unwrap();
    assert_eq!(pulled.manifest.to_string(), img.digest());
    let log = fake.log.lock().unwrap().clone();
    let token = log.iter().rfind(|l| l.contains("/token?")).unwrap();
    assert!(
        token.contains("service=fake-registry&scope=repository%3Atest%2Fapp%3Apull")
            && token.ends_with("auth=Basic"),
        "{token}"
    );
    // After the challenge, every request carries the token; one token for the pull.
    let last = log.iter().rposition(|l| l.contains("/token?")).unwrap();
    let after = &log[last + 1..];
    assert!(after.iter().all(|l| l.ends_with("auth=Bearer")), "{log:?}");
}

#[test]
fn blob_redirects_to_another_host_drop_the_token() {
    if !privileged("blob_redirects_to_another_host_drop_the_token") {
        return;
    }
    let img = busybox_image("redirect", Comp::Gzip);
    let o = FakeOptions {
        redirect_blobs: true,
        ..FakeOptions::default()
    };
    let fake = Fake::start("test/redir", "v1", &img, o);
    let d = Dir::new("redirect");
    let r = format!("127.0.0.1:{}/test/redir:v1", fake.port);
    pull_with(&d.0, &Registries::default(), &r, &opts()).unwrap();
    assert_eq!(top_file(&d.0, &r, "etc/what"), "redirect");
    let log = fake.log.lock().unwrap().clone();
    let storage: Vec<&String> = log.iter().filter(|l| l.contains("/storage/")).collect();
    assert_eq!(storage.len(), img.blobs.len(), "{log:?}");
    assert!(storage.iter().all(|l| l.ends_with("auth=")), "{storage:?}");
}

#[test]
fn a_corrupt_blob_is_deleted_and_fails_the_pull() {
    if !privileged("a_corrupt_blob_is_deleted_and_fails_the_pull") {
        return;
    }
    let img = busybox_image("corrupt", Comp::Gzip);
    let o = FakeOptions {
        corrupt_layers: true,
        ..FakeOptions::default()
    };
    let fake = Fake::start("test/bad", "v1", &img, o);
    let d = Dir::new("corrupt");
    let r = format!("127.0.0.1:{}/test/bad:v1", fake.port);
    let e = pull_with(&d.0, &Registries::default(), &r, &opts()).unwrap_err();
    assert_eq!(e.failure(), PullFailure::Invalid);
    assert!(
        e.to_string().contains("digest mismatch") && e.to_string().contains("deleted"),
        "{e}"
    );
    let partial = std::fs::read_dir(d.0.join("images/partial"))
        .unwrap()
        .count();
    assert_eq!(partial, 0, "the bad download was kept");
    assert!(layer_dirs(&d.0).is_empty());
    assert!(Store::open(&d.0).unwrap().list().unwrap().is_empty());
}

/// A CA and a certificate for 127.0.0.1 signed by it, made with openssl in `dir`.
fn make_ca(dir: &Path, name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let o = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl is missing: apt-get install -y openssl");
        assert!(
            o.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let (ca, ca_key) = (format!("{name}-ca.pem"), format!("{name}-ca.key"));
    let (cert, key, csr) = (
        format!("{name}.pem"),
        format!("{name}.key"),
        format!("{name}.csr"),
    );
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let subj = format!("/CN=pealet test CA {name}");
    run(&[
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout", &ca_key, "-out", &ca, "-days", "2", "-subj", &subj,
        ],
    ]
    .concat());
    run(&[
        &["req"][..],
        &ec,
        &["-keyout", &key, "-out", &csr, "-subj", "/CN=127.0.0.1"],
    ]
    .concat());
    let ext = dir.join(format!("{name}.ext"));
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let ext = ext.to_str().unwrap().to_string();
    run(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-out",
        &cert,
        "-days",
        "2",
        "-extfile",
        &ext,
    ]);
    (dir.join(ca), dir.join(cert), dir.join(key))
}

#[test]
fn tls_with_a_private_ca() {
    if !privileged("tls_with_a_private_ca") {
        return;
    }
    // A plain registry to push to, and a TLS one serving the same storage.
    let plain = Registry::start("tls-push", None);
    let img = busybox_image("tls", Comp::Gzip);
    push(plain.port, "test/tls", "v1", &img, None);
    let (ca, cert, key) = make_ca(&plain.dir.0, "good");
    let (other_ca, _, _) = make_ca(&plain.dir.0, "other");
    let data = plain.dir.0.join("data");
    let reg = Registry::start_with("tls", None, Some((&cert, &key)), Some(&data));
    let root = reg.dir.0.join("store");
    let r = format!("{}/test/tls:v1", reg.host());
    let ca_arg = |ca: &Path| format!("{}={}", reg.host(), ca.display());

    let out = ok(&pealet(&root, &["pull", "--ca-file", &ca_arg(&ca), &r]));
    assert!(out.contains(&format!("digest: {}", img.digest())), "{out}");
    let e = err(&pealet(
        &root,
        &["pull", "--ca-file", &ca_arg(&other_ca), &r],
    ));
    assert!(
        e.contains("tls handshake with 127.0.0.1 failed") && e.contains("certificate"),
        "{e}"
    );
    // Loopback without a CA file means plain HTTP, which a TLS port does not speak.
    let e = err(&pealet(&root, &["pull", &r]));
    assert!(
        e.contains("status 400: Client sent an HTTP request to an HTTPS server"),
        "{e}"
    );
}

#[test]
fn a_cut_download_from_a_server_without_ranges_still_completes() {
    if !privileged("a_cut_download_from_a_server_without_ranges_still_completes") {
        return;
    }
    let img = busybox_image("norange", Comp::Gzip);
    let fake = Fake::start("test/norange", "v1", &img, FakeOptions::default());
    let cut = ProxyRules {
        cut_first_blob_after: Some(300_000),
        ..ProxyRules::default()
    };
    let proxy = Proxy::start(fake.port, cut);
    let d = Dir::new("norange");
    let r = format!("127.0.0.1:{}/test/norange:v1", proxy.port);
    let pulled = pull_with(&d.0, &Registries::default(), &r, &opts()).unwrap();
    assert_eq!(pulled.layers_fetched, 2);
    let gets = proxy.requests(&format!("/blobs/sha256:{}", sha(&img.blobs[1])));
    // The resumed request asks for a range, gets the whole blob, and skips what it has.
    assert!(
        gets.len() == 2 && gets[1].contains("Range: bytes="),
        "{gets:?}"
    );
    assert_eq!(top_file(&d.0, &r, "etc/what"), "norange");
}
