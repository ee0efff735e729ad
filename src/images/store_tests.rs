//! Unit tests of the store on a temporary root: index, blobs, layers, removal, recovery.

use super::*;

struct Root(PathBuf);

impl Root {
    fn new(tag: &str) -> Root {
        let p = std::env::temp_dir().join(format!("pealet-store-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        Root(p)
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A layer directory made by hand, committed like an unpacked one.
fn layer(store: &Store, content: &str) -> Digest {
    let d = Digest::of(content.as_bytes());
    let tmp = store.tmp_path("layer");
    fs::create_dir(&tmp).unwrap();
    fs::write(tmp.join("file"), content).unwrap();
    assert!(store.commit_layer(&tmp, &d).unwrap());
    d
}

fn record(reference: &str, layers: &[Digest]) -> ImageRecord {
    ImageRecord {
        reference: reference.into(),
        digest: Digest::of(reference.as_bytes()),
        manifest: Digest::of(reference.as_bytes()),
        config_digest: Digest::of(b"config"),
        config: ImageConfig {
            cmd: vec!["sh".into()],
            ..ImageConfig::default()
        },
        layers: layers.iter().map(|d| (*d, 100)).collect(),
        imported: 1,
        last_used: 0,
    }
}

#[test]
fn open_clears_interrupted_work() {
    let root = Root::new("recover");
    let store = Store::open(&root.0).unwrap();
    fs::create_dir_all(store.tmp_path("layer").join("half/written")).unwrap();
    fs::write(store.tmp_path("write"), "partial").unwrap();
    drop(store);
    Store::open(&root.0).unwrap();
    assert_eq!(fs::read_dir(root.0.join("images/tmp")).unwrap().count(), 0);
}

#[test]
fn blobs_are_verified() {
    let root = Root::new("blobs");
    let store = Store::open(&root.0).unwrap();
    let d = store.write_blob(b"{}", None).unwrap();
    assert_eq!(store.read_blob(&d).unwrap(), b"{}");
    let wrong = Digest::of(b"other");
    let e = store.write_blob(b"{}x", Some(&wrong)).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("blob digest mismatch: expected sha256:")
    );
    assert!(!store.blob_path(&Digest::of(b"{}x")).exists());
}

#[test]
fn layers_are_committed_once() {
    let root = Root::new("commit");
    let store = Store::open(&root.0).unwrap();
    let d = layer(&store, "a");
    let tmp = store.tmp_path("layer");
    fs::create_dir(&tmp).unwrap();
    assert!(!store.commit_layer(&tmp, &d).unwrap(), "already there");
    assert!(!tmp.exists());
    assert!(store.has_layer(&d));
}

#[test]
fn resolve_and_remove_share_layers() {
    let root = Root::new("index");
    let store = Store::open(&root.0).unwrap();
    let (base, top) = (layer(&store, "base"), layer(&store, "top"));
    let lock = store.lock().unwrap();
    store
        .put(&lock, record("docker.io/library/a:1", &[base]))
        .unwrap();
    store
        .put(&lock, record("docker.io/library/b:1", &[base, top]))
        .unwrap();
    store
        .put(&lock, record("docker.io/library/b:1", &[base, top]))
        .unwrap();
    drop(lock);
    let list = store.list().unwrap();
    assert_eq!(list.len(), 2, "same reference replaces");
    assert_eq!(list[1].size(), 200);
    assert_eq!(store.layer_size(&top).unwrap(), Some(100));

    let r = store.resolve("b:1").unwrap();
    assert_eq!(
        r.layers,
        vec![store.layer_dir(&base), store.layer_dir(&top)]
    );
    assert_eq!(r.config.cmd, ["sh"]);
    assert!(store.list().unwrap()[1].last_used > 0);
    let by_digest = Digest::of(b"docker.io/library/a:1").to_string();
    assert_eq!(
        store.resolve(&by_digest).unwrap().reference,
        "docker.io/library/a:1"
    );
    assert!(matches!(store.resolve("c"), Err(StoreError::NotFound(_))));
    assert!(matches!(store.resolve("C"), Err(StoreError::Reference(_))));

    let removed = store.remove("docker.io/library/b:1").unwrap();
    assert_eq!((removed.layers_removed, removed.layers_kept), (1, 1));
    assert!(store.has_layer(&base) && !store.has_layer(&top));
    fs::remove_dir_all(store.layer_dir(&base)).unwrap();
    let e = store.resolve("a:1").unwrap_err();
    assert!(e.to_string().ends_with("is missing from the store"), "{e}");
}

#[test]
fn corrupt_index_is_reported() {
    let root = Root::new("corrupt");
    let store = Store::open(&root.0).unwrap();
    fs::write(root.0.join("images/index"), [9, 9, 9]).unwrap();
    let e = store.list().unwrap_err();
    assert!(
        e.to_string()
            .contains("is corrupt or of an unknown version"),
        "{e}"
    );
}
