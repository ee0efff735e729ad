//! Invariants of ARCHITECTURE.md, checked on the source tree.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            (rel, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

#[test]
fn every_module_says_what_it_does() {
    for (path, text) in sources() {
        assert!(
            text.starts_with("//! "),
            "{path} must start with a //! line saying what it does"
        );
    }
}

#[test]
fn unsafe_code_only_in_sys() {
    for (path, text) in sources() {
        if path.starts_with("src/sys/") {
            continue;
        }
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            assert!(
                !code.contains("unsafe ") && !code.contains("unsafe{"),
                "{path}:{}: unsafe code outside src/sys/",
                n + 1
            );
        }
    }
}

#[test]
fn only_mqtt_names_the_mqtt_client() {
    for (path, text) in sources() {
        if path == "src/mqtt.rs" || path.starts_with("src/mqtt/") {
            continue;
        }
        assert!(
            !text.contains("rumqttc"),
            "{path} names rumqttc; only src/mqtt.rs and src/mqtt/ may"
        );
    }
}

/// One TLS stack, named in two places only: the broker connection and registry pulls.
#[test]
fn tls_stays_in_its_two_modules() {
    for (path, text) in sources() {
        if path.starts_with("src/mqtt") || path.starts_with("src/images/registry/") {
            continue;
        }
        assert!(
            !text.contains("rustls"),
            "{path} names rustls; only src/mqtt* and src/images/registry/ may"
        );
    }
}

#[test]
fn crate_root_denies_unsafe_code() {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    assert!(lib.contains("#![deny(unsafe_code)]"));
}

#[test]
fn lifecycle_is_pure() {
    let forbidden = [
        "Time::now",
        "SystemTime",
        "Instant",
        "std::time",
        "std::fs",
        "std::net",
        "std::thread",
        "std::process",
        "sleep(",
    ];
    for (path, text) in sources() {
        if !path.starts_with("src/lifecycle/") {
            continue;
        }
        for bad in forbidden {
            assert!(
                !text.contains(bad),
                "{path} names {bad}: the lifecycle takes its time from events and does no I/O"
            );
        }
    }
}
