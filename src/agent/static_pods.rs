//! Static pods: manifests (YAML or JSON, several documents per file allowed) in the
//! manifests directory, run without any broker. The directory is watched with inotify
//! (files written, moved in or out, deleted) and rescanned when it changes; files are
//! compared by a hash of their content, so nothing is re-read or restarted while they
//! do not change. A directory that does not exist (yet) is looked for again at every
//! heartbeat. Each pod gets the annotation `pealet.io/static: "true"`; the MQTT side
//! can neither change nor delete it.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::inotify::{self, CreateFlags, WatchFlags};

use super::runtime::STATIC_ANNOTATION;
use crate::spec::manifest::read::read_pods;
use crate::spec::{Pod, SpecHash};

/// Largest manifest file read.
const MAX_FILE: u64 = 1 << 20;

/// What changed in the manifests directory since the last scan.
#[derive(Debug, Default)]
pub struct Changes {
    /// Pods new or with a changed spec.
    pub run: Vec<Pod>,
    /// Pods whose manifest is gone.
    pub stop: Vec<String>,
    /// Manifests that could not be read: (file, why).
    pub problems: Vec<(String, String)>,
}

#[derive(Debug)]
pub struct StaticPods {
    dir: PathBuf,
    /// Content hash of every manifest file at the last scan.
    files: BTreeMap<PathBuf, u64>,
    /// The static pods in force, with their spec hashes.
    pods: BTreeMap<String, SpecHash>,
    /// The inotify instance, and whether it watches the directory.
    inotify: Option<OwnedFd>,
    watching: bool,
}

impl StaticPods {
    pub fn new(dir: &Path) -> StaticPods {
        let inotify = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)
            .map_err(|e| {
                log::warn!("inotify_init1: {e}; static pods are rescanned at each heartbeat")
            })
            .ok();
        let mut s = StaticPods {
            dir: dir.to_path_buf(),
            files: BTreeMap::new(),
            pods: BTreeMap::new(),
            inotify,
            watching: false,
        };
        s.watch();
        s
    }

    /// Starts watching the directory if it does not yet; true when it now does and
    /// did not before (the caller then rescans).
    pub fn watch(&mut self) -> bool {
        let Some(fd) = &self.inotify else {
            return false;
        };
        if self.watching {
            return false;
        }
        let flags = WatchFlags::CREATE
            | WatchFlags::CLOSE_WRITE
            | WatchFlags::DELETE
            | WatchFlags::MOVED_FROM
            | WatchFlags::MOVED_TO
            | WatchFlags::DELETE_SELF
            | WatchFlags::MOVE_SELF
            | WatchFlags::ONLYDIR;
        self.watching = inotify::add_watch(fd, &self.dir, flags).is_ok();
        self.watching
    }

    /// The inotify fd while it watches the directory, for the agent's poll.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.inotify
            .as_ref()
            .filter(|_| self.watching)
            .map(|f| f.as_fd())
    }

    /// Whether the directory changes are seen as they happen (else: at heartbeats).
    pub fn watching(&self) -> bool {
        self.watching
    }

    /// Reads away what inotify reported; the caller rescans.
    pub fn drain(&mut self) {
        let Some(fd) = &self.inotify else {
            return;
        };
        let mut buf = [0u8; 4096];
        while rustix::io::read(fd, &mut buf).is_ok_and(|n| n > 0) {}
    }

    pub fn contains(&self, name: &str) -> bool {
        self.pods.contains_key(name)
    }

    /// Rescans the directory; returns nothing when no file changed.
    pub fn scan(&mut self) -> Changes {
        let mut changes = Changes::default();
        let contents = self.read_files(&mut changes);
        if self.watching && !self.dir.is_dir() {
            self.watching = false;
        }
        let hashes: BTreeMap<PathBuf, u64> = (contents.iter())
            .map(|(p, t)| (p.clone(), fnv(t.as_bytes())))
            .collect();
        if hashes == self.files {
            // Unreadable files are reported again only once something changes.
            return Changes::default();
        }
        self.files = hashes;
        let mut wanted: BTreeMap<String, Pod> = BTreeMap::new();
        for (path, text) in &contents {
            match read_pods(text) {
                Ok(pods) => {
                    for read in pods {
                        let pod = mark_static(read.pod);
                        let name = pod.name.to_string();
                        if wanted.contains_key(&name) {
                            let why = format!("pod {name} is defined twice");
                            changes.problems.push((path.display().to_string(), why));
                            continue;
                        }
                        wanted.insert(name, pod);
                    }
                }
                Err(errors) => {
                    let why = (errors.iter()).map(|e| e.to_string()).collect::<Vec<_>>();
                    changes
                        .problems
                        .push((path.display().to_string(), why.join("; ")));
                }
            }
        }
        let gone: Vec<String> = (self.pods.keys())
            .filter(|n| !wanted.contains_key(*n))
            .cloned()
            .collect();
        for name in gone {
            self.pods.remove(&name);
            changes.stop.push(name);
        }
        for (name, pod) in wanted {
            let hash = SpecHash::of_pod(&pod);
            if self.pods.get(&name) != Some(&hash) {
                self.pods.insert(name, hash);
                changes.run.push(pod);
            }
        }
        changes
    }

    /// The text of every `*.yaml`, `*.yml` and `*.json` file in the directory.
    fn read_files(&self, changes: &mut Changes) -> BTreeMap<PathBuf, String> {
        let mut out = BTreeMap::new();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            // Gone (or never there): its watch went with it; looked for at heartbeats.
            return out;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if !matches!(ext, "yaml" | "yml" | "json") || !path.is_file() {
                continue;
            }
            let len = entry.metadata().map_or(0, |m| m.len());
            if len > MAX_FILE {
                let why = format!("larger than {MAX_FILE} bytes");
                changes.problems.push((path.display().to_string(), why));
                continue;
            }
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    out.insert(path, text);
                }
                Err(e) => changes
                    .problems
                    .push((path.display().to_string(), e.to_string())),
            }
        }
        out
    }
}

/// Adds the `pealet.io/static: "true"` annotation (annotations stay sorted by key).
pub fn mark_static(mut pod: Pod) -> Pod {
    let (Ok(key), Ok(value)) = (
        crate::spec::Key::try_from(STATIC_ANNOTATION),
        "true".try_into(),
    ) else {
        return pod;
    };
    let mut list = pod.annotations.into_vec();
    list.retain(|(k, _)| **k != *STATIC_ANNOTATION);
    list.push((key, value));
    list.sort_by(|a, b| a.0.cmp(&b.0));
    let keep = list.clone();
    pod.annotations = list.try_into().unwrap_or_else(|_| {
        let mut v = keep;
        v.retain(|(k, _)| **k != *STATIC_ANNOTATION);
        v.try_into().unwrap_or_default()
    });
    pod
}

/// FNV-1a 64 of a file's content.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: NAME}\nspec:\n  containers:\n  - {name: c, image: busybox:1}\n";

    #[test]
    fn added_changed_removed() {
        let dir = std::env::temp_dir().join(format!("pealet-static-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut s = StaticPods::new(&dir);
        assert!(s.scan().run.is_empty());
        std::fs::write(dir.join("a.yaml"), POD.replace("NAME", "a")).unwrap();
        std::fs::write(dir.join("ignored.txt"), "x").unwrap();
        let c = s.scan();
        assert_eq!(c.run.len(), 1);
        assert!(
            c.run[0]
                .annotations
                .iter()
                .any(|(k, v)| **k == *STATIC_ANNOTATION && v.as_str() == "true")
        );
        assert!(s.scan().run.is_empty(), "unchanged: nothing to do");
        std::fs::write(
            dir.join("a.yaml"),
            POD.replace("NAME", "a").replace("busybox:1", "busybox:2"),
        )
        .unwrap();
        assert_eq!(s.scan().run.len(), 1);
        std::fs::write(dir.join("bad.json"), "{").unwrap();
        let c = s.scan();
        assert_eq!((c.run.len(), c.problems.len()), (0, 1));
        std::fs::remove_file(dir.join("bad.json")).unwrap();
        std::fs::remove_file(dir.join("a.yaml")).unwrap();
        assert_eq!(s.scan().stop, vec!["a".to_string()]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
