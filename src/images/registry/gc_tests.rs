//! GC on a temp-dir store with made-up disk usage: thresholds, LRU order, in-use images,
//! shared layers, and the sweep of leftovers.

use super::*;
use crate::images::store::{ImageConfig, ImageRecord};

struct Root(PathBuf);

impl Drop for Root {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn store(tag: &str) -> (Root, Store) {
    let p = std::env::temp_dir().join(format!("pealet-gc-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&p);
    let s = Store::open(&p).unwrap();
    (Root(p), s)
}

/// An image with its own layer (60 bytes) and optionally a shared one, on disk.
fn add(store: &Store, name: &str, last_used: u64, shared: bool) -> ImageRecord {
    let own = Digest::of(name.as_bytes());
    let mut layers = vec![(own, 60)];
    if shared {
        layers.push((Digest::of(b"shared"), 1000));
    }
    for (d, _) in &layers {
        fs::create_dir_all(store.layer_dir(d)).unwrap();
    }
    let manifest = store
        .write_blob(format!("m-{name}").as_bytes(), None)
        .unwrap();
    let config_digest = store
        .write_blob(format!("c-{name}").as_bytes(), None)
        .unwrap();
    let rec = ImageRecord {
        reference: format!("docker.io/library/{name}:latest"),
        digest: manifest,
        manifest,
        config_digest,
        config: ImageConfig::default(),
        layers,
        imported: 150,
        last_used,
    };
    store.put(&store.lock().unwrap(), rec.clone()).unwrap();
    rec
}

fn names(report: &GcReport) -> Vec<&str> {
    report
        .removed
        .iter()
        .map(|r| {
            r.trim_start_matches("docker.io/library/")
                .trim_end_matches(":latest")
        })
        .collect()
}

const FULL: DiskUsage = DiskUsage {
    total: 1000,
    available: 100,
};

#[test]
fn removes_unused_least_recently_used_first_down_to_the_low_mark() {
    let (_root, s) = store("lru");
    add(&s, "a", 100, false);
    add(&s, "b", 200, false);
    add(&s, "c", 50, false);
    let d = add(&s, "d", 300, false);
    add(&s, "e", 0, false); // never used: counts from its import (150)
    let policy = GcPolicy::default();
    let in_use = ["c".to_string(), d.manifest.to_string()];

    let calm = DiskUsage {
        total: 1000,
        available: 200,
    };
    assert_eq!(
        collect_with(&s, &in_use, &policy, calm).unwrap(),
        GcReport::default()
    );

    // 90% used, low mark 80%: 100 bytes to free, 60 per image.
    let report = collect_with(&s, &in_use, &policy, FULL).unwrap();
    assert_eq!(names(&report), ["a", "e"]);
    assert_eq!(report.bytes_freed, 120);
    let left: Vec<String> = s.list().unwrap().into_iter().map(|r| r.reference).collect();
    assert_eq!(left.len(), 3);
    assert!(!s.has_layer(&Digest::of(b"a")) && s.has_layer(&Digest::of(b"b")));

    let report = prune(&s, &in_use).unwrap();
    assert_eq!(names(&report), ["b"]);
    assert_eq!(s.list().unwrap().len(), 2, "in-use images stay");
}

#[test]
fn shared_layers_free_nothing_until_their_last_image_goes() {
    let (_root, s) = store("shared");
    add(&s, "old", 1, true);
    add(&s, "new", 2, true);
    let report = collect_with(&s, &[], &GcPolicy::default(), FULL).unwrap();
    // "old" frees only its own 60 bytes; "new" then frees 60 + the shared 1000.
    assert_eq!(names(&report), ["old", "new"]);
    assert_eq!(report.bytes_freed, 1120);
    assert!(!s.has_layer(&Digest::of(b"shared")));
}

#[test]
fn leftovers_are_swept_only_when_no_pull_runs() {
    let (root, s) = store("sweep");
    let kept = add(&s, "kept", 1, false);
    let orphan = s.layer_dir(&Digest::of(b"orphan"));
    fs::create_dir_all(orphan.join("bin")).unwrap();
    let blob = s.write_blob(b"orphan blob", None).unwrap();
    let partial = root.0.join("images/partial").join(Digest::of(b"p").hex());
    fs::write(&partial, b"half").unwrap();
    let in_use = [kept.reference.clone()];

    let pulling = s.pulling().unwrap();
    let report = prune(&s, &in_use).unwrap();
    assert_eq!(
        report.leftovers_removed, 0,
        "a pull's files are not leftovers"
    );
    assert!(orphan.exists() && partial.exists());
    drop(pulling);

    let report = collect_with(&s, &in_use, &GcPolicy::default(), FULL).unwrap();
    assert_eq!(report.leftovers_removed, 2, "{report:?}");
    assert!(!orphan.exists() && !s.blob_path(&blob).exists());
    assert!(
        partial.exists(),
        "GC keeps downloads to resume; prune removes them"
    );
    assert!(prune(&s, &in_use).unwrap().leftovers_removed == 1 && !partial.exists());
    assert!(s.resolve(&kept.reference).is_ok());
    assert!(s.blob_path(&kept.manifest).exists());
}

#[test]
fn measures_the_disk() {
    let u = disk_usage(Path::new("/")).unwrap();
    assert!(u.total > 0 && u.available <= u.total);
    assert!(disk_usage(Path::new("/nonexistent/x")).is_err());
}
