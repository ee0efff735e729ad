//! Where an import reads from: a directory, or a tar archive indexed once and then read
//! entry by entry with seeks (never unpacked to disk first).
//!
//! Names inside the source are checked like layer entries (no absolute path, no `..`);
//! symlinks inside an archive (`docker save` uses them for shared layers) are resolved
//! within the archive only.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use super::paths::components;
use super::tar::{Archive, Kind, TarError};

/// Largest JSON document read from a source.
pub const MAX_JSON: u64 = 1024 * 1024;
/// Most symlinks followed for one name inside an archive.
const MAX_HOPS: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot open {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path}: {source}")]
    Tar { path: PathBuf, source: TarError },
    #[error("{path}: no {name:?} in it")]
    Missing { path: PathBuf, name: String },
    #[error("{path}: refusing the name {name:?} (absolute, '..' or a link loop)")]
    BadName { path: PathBuf, name: String },
    #[error("{path}: {name} is larger than {MAX_JSON} bytes")]
    TooLarge { path: PathBuf, name: String },
}

#[derive(Debug, Clone)]
/// A file of an archive: where its data is, or the name it links to.
pub enum Item {
    File { offset: u64, size: u64 },
    Link(String),
}

pub enum Source {
    Dir(PathBuf),
    Tar {
        path: PathBuf,
        items: HashMap<String, Item>,
    },
}

/// `a/./b//c` -> `a/b/c`; `None` for absolute names and `..`.
fn clean(name: &str) -> Option<String> {
    let comps = components(name.as_bytes()).ok()?;
    let parts: Vec<&str> = comps
        .iter()
        .map(|c| std::str::from_utf8(c).ok())
        .collect::<Option<_>>()?;
    Some(parts.join("/"))
}

impl Source {
    /// Reads the headers of a tar archive and remembers where each file's data is.
    pub fn index_tar(path: &Path) -> Result<Source, SourceError> {
        let file = File::open(path).map_err(|source| SourceError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let mut archive = Archive::new(BufReader::new(file));
        let mut items = HashMap::new();
        let tar_err = |source| SourceError::Tar {
            path: path.to_path_buf(),
            source,
        };
        while let Some(e) = archive.next_entry().map_err(tar_err)? {
            let Some(name) = std::str::from_utf8(&e.path).ok().and_then(clean) else {
                continue; // names we would refuse to open anyway
            };
            let item = match e.kind {
                Kind::File => Item::File {
                    offset: e.data_offset,
                    size: e.size,
                },
                Kind::Symlink | Kind::HardLink => {
                    let target = String::from_utf8_lossy(&e.link).into_owned();
                    let target = if e.kind == Kind::Symlink {
                        // Relative to the link's directory.
                        match name.rfind('/') {
                            Some(i) if !target.starts_with('/') => {
                                format!("{}/{target}", &name[..i])
                            }
                            _ => target,
                        }
                    } else {
                        target
                    };
                    Item::Link(target)
                }
                _ => continue,
            };
            items.insert(name, item);
        }
        Ok(Source::Tar {
            path: path.to_path_buf(),
            items,
        })
    }

    pub fn path(&self) -> &Path {
        match self {
            Source::Dir(p) | Source::Tar { path: p, .. } => p,
        }
    }

    pub fn exists(&self, name: &str) -> bool {
        match self {
            Source::Dir(dir) => clean(name).is_some_and(|n| dir.join(n).is_file()),
            Source::Tar { .. } => self.locate(name).is_ok(),
        }
    }

    /// Resolves links inside an archive to the file's data.
    fn locate(&self, name: &str) -> Result<(u64, u64), SourceError> {
        let Source::Tar { path, items } = self else {
            unreachable!("only archives are indexed")
        };
        let bad = || SourceError::BadName {
            path: path.clone(),
            name: name.to_string(),
        };
        let mut current = clean(name).ok_or_else(bad)?;
        for _ in 0..MAX_HOPS {
            match items.get(&current) {
                Some(Item::File { offset, size }) => return Ok((*offset, *size)),
                Some(Item::Link(target)) => {
                    current = clean(&resolve_dots(target).ok_or_else(bad)?).ok_or_else(bad)?;
                }
                None => {
                    return Err(SourceError::Missing {
                        path: path.clone(),
                        name: name.to_string(),
                    });
                }
            }
        }
        Err(bad())
    }

    /// Opens one file of the source for streaming.
    pub fn open(&self, name: &str) -> Result<Box<dyn Read + '_>, SourceError> {
        match self {
            Source::Dir(dir) => {
                let rel = clean(name).ok_or_else(|| SourceError::BadName {
                    path: dir.clone(),
                    name: name.to_string(),
                })?;
                let full = dir.join(rel);
                let f = File::open(&full).map_err(|source| match source.kind() {
                    io::ErrorKind::NotFound => SourceError::Missing {
                        path: dir.clone(),
                        name: name.to_string(),
                    },
                    _ => SourceError::Open { path: full, source },
                })?;
                Ok(Box::new(BufReader::new(f)))
            }
            Source::Tar { path, .. } => {
                let (offset, size) = self.locate(name)?;
                let open_err = |source| SourceError::Open {
                    path: path.clone(),
                    source,
                };
                let mut f = File::open(path).map_err(open_err)?;
                f.seek(SeekFrom::Start(offset)).map_err(open_err)?;
                Ok(Box::new(BufReader::new(f.take(size))))
            }
        }
    }

    /// Reads a small file whole (JSON documents).
    pub fn read_small(&self, name: &str) -> Result<Vec<u8>, SourceError> {
        let mut buf = Vec::new();
        self.open(name)?
            .take(MAX_JSON + 1)
            .read_to_end(&mut buf)
            .map_err(|source| SourceError::Read {
                path: self.path().join(name),
                source,
            })?;
        if buf.len() as u64 > MAX_JSON {
            return Err(SourceError::TooLarge {
                path: self.path().to_path_buf(),
                name: name.to_string(),
            });
        }
        Ok(buf)
    }
}

/// Whether a gzip'd tar is an image archive rather than a root filesystem: one
/// decompression pass over its headers, nothing written.
pub fn gzip_holds_image(path: &Path) -> Result<bool, SourceError> {
    let file = File::open(path).map_err(|source| SourceError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let mut archive = Archive::new(MultiGzDecoder::new(BufReader::new(file)));
    let tar_err = |source| SourceError::Tar {
        path: path.to_path_buf(),
        source,
    };
    while let Some(e) = archive.next_entry().map_err(tar_err)? {
        let name = e.path.strip_prefix(b"./").unwrap_or(&e.path);
        if name == b"oci-layout" || name == b"manifest.json" {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Decompresses a gzip'd archive so that it can be read with seeks.
pub fn gunzip(from: &Path, to: &Path) -> Result<(), SourceError> {
    let file = File::open(from).map_err(|source| SourceError::Open {
        path: from.to_path_buf(),
        source,
    })?;
    let mut input = MultiGzDecoder::new(BufReader::new(file));
    File::create(to)
        .and_then(|mut out| io::copy(&mut input, &mut out))
        .map(drop)
        .map_err(|source| SourceError::Read {
            path: from.to_path_buf(),
            source,
        })
}

/// Resolves `..` in a link target lexically, refusing to climb above the archive root.
fn resolve_dots(target: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for c in target.trim_start_matches('/').split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            c => out.push(c),
        }
    }
    Some(out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned() {
        assert_eq!(
            clean("./blobs//sha256/ab").as_deref(),
            Some("blobs/sha256/ab")
        );
        assert_eq!(clean("../x"), None);
        assert_eq!(clean("/etc/passwd"), None);
        assert_eq!(
            resolve_dots("abc/../def/layer.tar").as_deref(),
            Some("def/layer.tar")
        );
        assert_eq!(resolve_dots("../../x"), None);
    }
}
