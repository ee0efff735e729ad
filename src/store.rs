//! Desired state and node identity on disk, under `--root` (default /var/lib/pealet):
//! `desired/<pod>.pod` (the encoded Pod), `desired/index` (the last Index received),
//! `desired/<pod>.removing` (a removal begun and not yet finished: the pod's file renamed,
//! so that the next agent finishes it after a crash), `generations` (the last accepted
//! generation of each signed message: replays are refused across restarts) and
//! `node-name`.
//!
//! Every write is atomic (write a temporary file, fsync it, rename it over the old one,
//! fsync the directory) and happens only when the bytes change: SD cards wear out.
//! Loading never fails on a bad file: corrupt, oversized or misnamed files are reported
//! and skipped. A write that fails leaves no temporary file behind, and those of a
//! crash are removed at the next open. This module does not decide what is desired
//! (that is `desired`).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::spec::bounded::MAX_PAYLOAD;
use crate::spec::{self, DecodeError, Index, Pod};
use crate::trust::Generations;

const POD_SUFFIX: &str = ".pod";
const REMOVING_SUFFIX: &str = ".removing";
const TMP_SUFFIX: &str = ".tmp";
const INDEX_FILE: &str = "index";
const NODE_NAME_FILE: &str = "node-name";
/// The last accepted generation of each signed pod and index (`trust::Generations`).
const GENERATIONS_FILE: &str = "generations";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("mkdir {path}: {source}")]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("fsync {path}: {source}")]
    Sync { path: PathBuf, source: io::Error },
    #[error("rename {path}: {source}")]
    Rename { path: PathBuf, source: io::Error },
    #[error("unlink {path}: {source}")]
    Remove { path: PathBuf, source: io::Error },
    #[error("{path}: {source}")]
    Decode { path: PathBuf, source: DecodeError },
    #[error("{path}: larger than {MAX_PAYLOAD} bytes")]
    TooLarge { path: PathBuf },
    #[error(
        "{path}: not a generations file; it is ignored, so signed messages are checked \
         against newer ones only from now on"
    )]
    BadGenerations { path: PathBuf },
    #[error("{path}: holds pod {inside:?}, not the pod its name says")]
    Misnamed { path: PathBuf, inside: String },
    #[error(
        "{root} holds the pods of node {stored:?}: started as {wanted:?} it would run them \
         under a name whose topics can never delete them. Start with --node {stored} to \
         keep the name, or with --node {wanted} --rename-from {stored} to move this \
         device's pods over to the new name (then apply them to {wanted})"
    )]
    NodeRenamed {
        root: PathBuf,
        stored: String,
        wanted: String,
    },
}

/// What was on disk at start, and what could not be read.
#[derive(Debug, Default)]
pub struct Loaded {
    pub pods: BTreeMap<String, Pod>,
    pub index: Option<Index>,
    /// Pods whose removal was begun by an earlier run and not finished.
    pub removing: Vec<String>,
    /// Files that were skipped; the caller reports them.
    pub problems: Vec<StoreError>,
}

/// The desired-state directory of one node.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    desired: PathBuf,
}

impl Store {
    /// Opens (creating if need be) `<root>/desired`; removes the temporary files a
    /// crash in the middle of a write left (the old file is still whole).
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        let desired = root.join("desired");
        // Specs hold env values: root only.
        crate::shim::state::private_dir(&desired).map_err(|source| StoreError::CreateDir {
            path: desired.clone(),
            source,
        })?;
        for dir in [root, desired.as_path()] {
            let Ok(entries) = fs::read_dir(dir) else {
                continue;
            };
            for e in entries.filter_map(|e| e.ok()) {
                if e.file_name().to_string_lossy().ends_with(TMP_SUFFIX) {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        Ok(Store {
            root: root.to_path_buf(),
            desired,
        })
    }

    /// Reads every stored pod and the index; skips (and reports) what does not decode.
    pub fn load(&self) -> Loaded {
        let mut out = Loaded::default();
        let entries = match fs::read_dir(&self.desired) {
            Ok(entries) => entries,
            Err(source) => {
                out.problems.push(StoreError::Read {
                    path: self.desired.clone(),
                    source,
                });
                return out;
            }
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        for file in names {
            let path = self.desired.join(&file);
            if file.ends_with(TMP_SUFFIX) {
                // Left by a crash between write and rename: the old file is still whole.
                let _ = fs::remove_file(&path);
            } else if let Some(stem) = file.strip_suffix(REMOVING_SUFFIX) {
                if self.desired.join(format!("{stem}{POD_SUFFIX}")).exists() {
                    // Applied again after the removal began: the pod's file wins.
                    let _ = fs::remove_file(&path);
                } else {
                    out.removing.push(stem.to_owned());
                }
            } else if file == INDEX_FILE {
                match read_message::<Index>(&path) {
                    Ok(ix) => out.index = Some(ix),
                    Err(e) => out.problems.push(e),
                }
            } else if let Some(stem) = file.strip_suffix(POD_SUFFIX) {
                match read_message::<Pod>(&path) {
                    Ok(pod) if pod.name == stem => {
                        out.pods.insert(stem.to_owned(), pod);
                    }
                    Ok(pod) => out.problems.push(StoreError::Misnamed {
                        path,
                        inside: pod.name.to_string(),
                    }),
                    Err(e) => out.problems.push(e),
                }
            }
        }
        out
    }

    /// Stores `pod`; returns whether the file changed. A removal of it that was begun
    /// is over: the pod is wanted again.
    pub fn put_pod(&self, pod: &Pod) -> Result<bool, StoreError> {
        let path = self.desired.join(format!("{}{POD_SUFFIX}", pod.name));
        let changed = write_if_changed(&path, &spec::encode(pod))?;
        self.end_removal(&pod.name)?;
        Ok(changed)
    }

    /// Records that pod `name` is being removed, before anything of it is stopped: its
    /// file is renamed `<name>.removing` (a rename needs no free space), or an empty one
    /// is written when none was stored. The next agent finishes what a crash
    /// interrupted; [`Store::end_removal`] forgets it once the pod is gone.
    pub fn begin_removal(&self, name: &str) -> Result<(), StoreError> {
        let pod = self.desired.join(format!("{name}{POD_SUFFIX}"));
        let intent = self.desired.join(format!("{name}{REMOVING_SUFFIX}"));
        match fs::rename(&pod, &intent) {
            Ok(()) => sync_dir(&self.desired),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                write_if_changed(&intent, b"").map(|_| ())
            }
            Err(source) => Err(StoreError::Rename { path: pod, source }),
        }
    }

    /// Forgets the removal of pod `name`: it is done (or the pod is wanted again).
    pub fn end_removal(&self, name: &str) -> Result<(), StoreError> {
        let path = self.desired.join(format!("{name}{REMOVING_SUFFIX}"));
        match fs::remove_file(&path) {
            Ok(()) => sync_dir(&self.desired),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StoreError::Remove { path, source }),
        }
    }

    /// Forgets pod `name`; returns whether it was stored.
    pub fn remove_pod(&self, name: &str) -> Result<bool, StoreError> {
        let path = self.desired.join(format!("{name}{POD_SUFFIX}"));
        match fs::remove_file(&path) {
            Ok(()) => sync_dir(&self.desired).map(|()| true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(StoreError::Remove { path, source }),
        }
    }

    /// Stores the last index received; returns whether the file changed.
    pub fn put_index(&self, index: &Index) -> Result<bool, StoreError> {
        write_if_changed(&self.desired.join(INDEX_FILE), &spec::encode(index))
    }

    /// The generations stored by `put_generations`; None when none were.
    pub fn generations(&self) -> Result<Option<Generations>, StoreError> {
        let path = self.root.join(GENERATIONS_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let bytes = read_limited(&path)?;
        Generations::decode(&bytes)
            .map(Some)
            .ok_or(StoreError::BadGenerations { path })
    }

    /// Stores the last accepted generations; returns whether the file changed.
    pub fn put_generations(&self, generations: &Generations) -> Result<bool, StoreError> {
        write_if_changed(&self.root.join(GENERATIONS_FILE), &generations.encode())
    }

    /// The node name stored by an earlier start, if any.
    pub fn node_name(&self) -> Option<String> {
        let text = fs::read_to_string(self.root.join(NODE_NAME_FILE)).ok()?;
        let name = text.trim();
        (!name.is_empty()).then(|| name.to_owned())
    }

    /// The name this device runs as: `wanted` (from the settings, or the hostname when
    /// `explicit` is false), checked against the name stored by earlier starts, and
    /// stored. A changed hostname does not rename the node (the stored name stays); a
    /// different name given explicitly is refused unless `rename_from` names the stored
    /// one, which moves the pods stored here over to the new name.
    pub fn claim_node(
        &self,
        wanted: &str,
        explicit: bool,
        rename_from: Option<&str>,
    ) -> Result<String, StoreError> {
        let name = match self.node_name() {
            None => wanted.to_owned(),
            Some(stored) if stored == wanted => stored,
            Some(stored) if !explicit => {
                log::info!("node {stored}: the hostname is now {wanted}; the node keeps its name");
                stored
            }
            Some(stored) if rename_from == Some(stored.as_str()) => {
                log::warn!("node {stored} is renamed {wanted}; its stored pods move over");
                wanted.to_owned()
            }
            Some(stored) => {
                return Err(StoreError::NodeRenamed {
                    root: self.root.clone(),
                    stored,
                    wanted: wanted.to_owned(),
                });
            }
        };
        self.put_node_name(&name)?;
        Ok(name)
    }

    /// Remembers the node name, so that a changed hostname does not rename the node.
    pub fn put_node_name(&self, name: &str) -> Result<bool, StoreError> {
        write_if_changed(
            &self.root.join(NODE_NAME_FILE),
            format!("{name}\n").as_bytes(),
        )
    }
}

fn read_message<M: spec::codec::Message>(path: &Path) -> Result<M, StoreError> {
    let bytes = read_limited(path)?;
    spec::decode(&bytes).map_err(|source| StoreError::Decode {
        path: path.to_path_buf(),
        source,
    })
}

fn read_limited(path: &Path) -> Result<Vec<u8>, StoreError> {
    let mut buf = Vec::new();
    File::open(path)
        .and_then(|f| f.take(MAX_PAYLOAD as u64 + 1).read_to_end(&mut buf))
        .map_err(|source| StoreError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    if buf.len() > MAX_PAYLOAD {
        return Err(StoreError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    Ok(buf)
}

/// Replaces `path` with `bytes` atomically, unless it already holds exactly them.
fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<bool, StoreError> {
    if fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(false);
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(TMP_SUFFIX);
    let tmp = PathBuf::from(tmp);
    let written = write_synced(&tmp, bytes).and_then(|()| {
        fs::rename(&tmp, path).map_err(|source| StoreError::Rename {
            path: path.to_path_buf(),
            source,
        })
    });
    if written.is_err() {
        // A full disk fails the write or the fsync: no half-written file stays behind.
        let _ = fs::remove_file(&tmp);
    }
    written?;
    // The rename itself is durable only once the directory is synced.
    sync_dir(path.parent().unwrap_or(Path::new(".")))?;
    Ok(true)
}

/// Writes `bytes` to a new file `tmp` and syncs it: the data must be on disk before a
/// rename makes it visible under the real name.
fn write_synced(tmp: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let write_err = |source| StoreError::Write {
        path: tmp.to_path_buf(),
        source,
    };
    let mut file = crate::shim::state::create_private(tmp).map_err(write_err)?;
    file.write_all(bytes).map_err(write_err)?;
    file.sync_all().map_err(|source| StoreError::Sync {
        path: tmp.to_path_buf(),
        source,
    })
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| StoreError::Sync {
            path: dir.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::SpecHash;
    use crate::spec::bounded::name;
    use crate::spec::manifest::read::read_pod;

    fn temp_root(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pealet-store-{}-{test}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn pod(name: &str, image: &str) -> Pod {
        let yaml = format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\n\
             spec: {{containers: [{{name: c, image: {image}}}]}}\n"
        );
        read_pod(&yaml).unwrap().pod
    }

    fn mtime(path: &Path) -> std::time::SystemTime {
        fs::metadata(path).unwrap().modified().unwrap()
    }

    #[test]
    fn pods_and_index_round_trip() {
        let root = temp_root("round");
        let store = Store::open(&root).unwrap();
        assert!(store.put_pod(&pod("web", "nginx:1")).unwrap());
        assert!(store.put_pod(&pod("db", "postgres:16")).unwrap());
        let mut ix = Index::default();
        ix.insert(name("web").unwrap(), SpecHash([1; 8])).unwrap();
        assert!(store.put_index(&ix).unwrap());
        let loaded = Store::open(&root).unwrap().load();
        assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
        assert_eq!(loaded.pods.keys().collect::<Vec<_>>(), ["db", "web"]);
        assert_eq!(loaded.pods["web"], pod("web", "nginx:1"));
        assert_eq!(loaded.index, Some(ix));
        assert!(store.remove_pod("db").unwrap());
        assert!(!store.remove_pod("db").unwrap());
        assert_eq!(store.load().pods.len(), 1);
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn unchanged_content_is_not_rewritten() {
        let root = temp_root("unchanged");
        let store = Store::open(&root).unwrap();
        let file = root.join("desired/web.pod");
        assert!(store.put_pod(&pod("web", "nginx:1")).unwrap());
        let first = mtime(&file);
        let ino = std::os::unix::fs::MetadataExt::ino(&fs::metadata(&file).unwrap());
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(!store.put_pod(&pod("web", "nginx:1")).unwrap());
        assert_eq!(mtime(&file), first);
        let same = std::os::unix::fs::MetadataExt::ino(&fs::metadata(&file).unwrap());
        assert_eq!(ino, same, "the file was not replaced");
        assert!(store.put_pod(&pod("web", "nginx:2")).unwrap());
        assert!(!root.join("desired/web.pod.tmp").exists());
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn corrupt_and_misnamed_files_are_reported_and_skipped() {
        let root = temp_root("corrupt");
        let store = Store::open(&root).unwrap();
        store.put_pod(&pod("good", "busybox")).unwrap();
        let d = root.join("desired");
        fs::write(d.join("garbage.pod"), b"\x01\x01\xff\xff").unwrap();
        fs::write(d.join("empty.pod"), b"").unwrap();
        fs::write(d.join("huge.pod"), vec![1u8; MAX_PAYLOAD + 1]).unwrap();
        fs::copy(d.join("good.pod"), d.join("other.pod")).unwrap();
        fs::write(d.join("index"), spec::encode(&pod("x", "y"))).unwrap();
        fs::write(d.join("left.pod.tmp"), b"half").unwrap();
        fs::write(d.join("README"), b"not ours").unwrap();
        let loaded = store.load();
        assert_eq!(loaded.pods.keys().collect::<Vec<_>>(), ["good"]);
        assert_eq!(loaded.index, None);
        let problems: Vec<String> = loaded.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(problems.len(), 5, "{problems:#?}");
        assert!(
            problems
                .iter()
                .any(|p| p.contains("empty.pod: empty payload"))
        );
        assert!(problems.iter().any(|p| p.contains("huge.pod: larger than")));
        assert!(problems.iter().any(|p| p.contains("holds pod \"good\"")));
        assert!(problems.iter().any(|p| p.contains("expected a Index")));
        assert!(!d.join("left.pod.tmp").exists());
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_node_is_renamed_only_on_purpose() {
        let root = temp_root("rename");
        let store = Store::open(&root).unwrap();
        assert_eq!(store.claim_node("pi-01", true, None).unwrap(), "pi-01");
        assert_eq!(store.claim_node("pi-01", true, None).unwrap(), "pi-01");
        // A new hostname (no name given) keeps the node's name.
        assert_eq!(
            store.claim_node("raspberrypi", false, None).unwrap(),
            "pi-01"
        );
        // A new name given explicitly is refused, naming both and the ways out.
        let e = store
            .claim_node("pi-02", true, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("holds the pods of node \"pi-01\""), "{e}");
        assert!(e.contains("--node pi-01"), "{e}");
        assert!(e.contains("--node pi-02 --rename-from pi-01"), "{e}");
        assert_eq!(store.node_name().as_deref(), Some("pi-01"));
        // Naming the old name moves the node over; a wrong old name does not.
        assert!(store.claim_node("pi-02", true, Some("pi-09")).is_err());
        assert_eq!(
            store.claim_node("pi-02", true, Some("pi-01")).unwrap(),
            "pi-02"
        );
        assert_eq!(store.node_name().as_deref(), Some("pi-02"));
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn a_removal_is_recorded_until_it_is_finished_or_undone() {
        let root = temp_root("removal");
        let store = Store::open(&root).unwrap();
        store.put_pod(&pod("web", "nginx:1")).unwrap();
        store.begin_removal("web").unwrap();
        store.begin_removal("ghost").unwrap();
        fs::write(root.join("node-name.tmp"), b"half").unwrap();
        let store = Store::open(&root).unwrap();
        assert!(!root.join("node-name.tmp").exists());
        let loaded = store.load();
        assert!(loaded.pods.is_empty());
        assert_eq!(loaded.removing, ["ghost", "web"]);
        store.end_removal("ghost").unwrap();
        // Applied again: the removal is over.
        store.put_pod(&pod("web", "nginx:2")).unwrap();
        let loaded = store.load();
        assert_eq!(loaded.pods.keys().collect::<Vec<_>>(), ["web"]);
        assert!(loaded.removing.is_empty());
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn node_name_is_remembered() {
        let root = temp_root("node");
        let store = Store::open(&root).unwrap();
        assert_eq!(store.node_name(), None);
        assert!(store.put_node_name("pi-01").unwrap());
        assert!(!store.put_node_name("pi-01").unwrap());
        assert_eq!(store.node_name().as_deref(), Some("pi-01"));
        fs::remove_dir_all(&root).unwrap();
    }
}
