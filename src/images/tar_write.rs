//! Writing tar streams: one entry at a time, and a whole directory tree as a layer.
//!
//! Used to import a plain root filesystem directory: it is packed into a tar so that it
//! gets a diffid and goes through the same safe extraction as every other layer. Long
//! names and large numbers use PAX headers. Writes exactly what it is given: the
//! safety checks are on the reading side.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use super::tar::{Entry, Kind};

/// Writes entries as ustar headers, with a PAX header before any that does not fit.
pub struct Writer<W> {
    out: W,
}

impl<W: Write> Writer<W> {
    pub fn new(out: W) -> Writer<W> {
        Writer { out }
    }

    /// Writes one entry; `data` must hold exactly `e.size` bytes for files.
    pub fn append(&mut self, e: &Entry, data: &mut dyn Read) -> io::Result<()> {
        let mut pax = Vec::new();
        if e.path.len() > 100 {
            pax_record(&mut pax, "path", &e.path);
        }
        if e.link.len() > 100 {
            pax_record(&mut pax, "linkpath", &e.link);
        }
        if e.size > 0o77777777777 {
            pax_record(&mut pax, "size", e.size.to_string().as_bytes());
        }
        for (name, value) in &e.xattrs {
            pax_record(&mut pax, &format!("SCHILY.xattr.{name}"), value);
        }
        if !pax.is_empty() {
            let meta = Entry {
                path: b"././@PaxHeader".to_vec(),
                kind: Kind::Other(b'x'),
                size: pax.len() as u64,
                ..empty_entry()
            };
            self.block(&meta)?;
            self.data(&mut &pax[..], pax.len() as u64)?;
        }
        self.block(e)?;
        if e.kind == Kind::File {
            self.data(data, e.size)?;
        }
        Ok(())
    }

    /// Writes the end-of-archive marker and returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&[0u8; 1024])?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn block(&mut self, e: &Entry) -> io::Result<()> {
        let mut b = [0u8; 512];
        let cut = |s: &[u8], n: usize| s[..s.len().min(n)].to_vec();
        b[..e.path.len().min(100)].copy_from_slice(&cut(&e.path, 100));
        octal(&mut b[100..108], e.mode as u64);
        octal(&mut b[108..116], (e.uid as u64).min(0o7777777));
        octal(&mut b[116..124], (e.gid as u64).min(0o7777777));
        octal(&mut b[124..136], e.size.min(0o77777777777));
        octal(&mut b[136..148], e.mtime.max(0) as u64);
        b[156] = match e.kind {
            Kind::File => b'0',
            Kind::HardLink => b'1',
            Kind::Symlink => b'2',
            Kind::CharDevice => b'3',
            Kind::BlockDevice => b'4',
            Kind::Directory => b'5',
            Kind::Fifo => b'6',
            Kind::Other(f) => f,
        };
        b[157..157 + e.link.len().min(100)].copy_from_slice(&cut(&e.link, 100));
        b[257..263].copy_from_slice(b"ustar\0");
        b[263..265].copy_from_slice(b"00");
        octal(&mut b[329..337], e.dev_major as u64);
        octal(&mut b[337..345], e.dev_minor as u64);
        b[148..156].copy_from_slice(b"        ");
        let sum: u64 = b.iter().map(|&x| x as u64).sum();
        octal(&mut b[148..155], sum);
        self.out.write_all(&b)
    }

    fn data(&mut self, data: &mut dyn Read, size: u64) -> io::Result<()> {
        let n = io::copy(&mut data.take(size), &mut self.out)?;
        if n != size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank while it was packed",
            ));
        }
        let pad = ((512 - size % 512) % 512) as usize;
        self.out.write_all(&[0u8; 512][..pad])
    }
}

/// An entry with every field zero, to fill in with `..empty_entry()`.
pub fn empty_entry() -> Entry {
    Entry {
        path: Vec::new(),
        kind: Kind::File,
        link: Vec::new(),
        mode: 0,
        uid: 0,
        gid: 0,
        mtime: 0,
        size: 0,
        dev_major: 0,
        dev_minor: 0,
        xattrs: Vec::new(),
        data_offset: 0,
    }
}

fn octal(field: &mut [u8], v: u64) {
    let w = field.len() - 1;
    let s = format!("{v:0w$o}");
    let s = s.as_bytes();
    field[..w].copy_from_slice(&s[s.len() - w..]);
    field[w] = 0;
}

fn pax_record(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    // The length counts itself: grow it until it is stable.
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    out.extend_from_slice(format!("{len} {key}=").as_bytes());
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// Packs the tree under `root` (not following symlinks; sockets left out) in sorted order,
/// with paths relative to it. Files with several links become hard links to the first.
pub fn pack_dir<W: Write>(root: &Path, w: &mut Writer<W>) -> io::Result<()> {
    let mut seen: HashMap<(u64, u64), Vec<u8>> = HashMap::new();
    let mut stack = vec![Vec::<u8>::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(std::ffi::OsStr::from_bytes(&rel));
        let mut names: Vec<_> = fs::read_dir(&dir)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()?;
        names.sort();
        // Reverse so that popping visits sub-directories in order.
        let mut subdirs = Vec::new();
        for name in names {
            let mut path = rel.clone();
            if !path.is_empty() {
                path.push(b'/');
            }
            path.extend_from_slice(name.as_bytes());
            let full = dir.join(&name);
            let md = fs::symlink_metadata(&full)?;
            let ft = md.file_type();
            let mut e = Entry {
                mode: md.mode() & 0o7777,
                uid: md.uid(),
                gid: md.gid(),
                mtime: md.mtime(),
                ..empty_entry()
            };
            let dev = md.rdev();
            if ft.is_dir() {
                e.kind = Kind::Directory;
                subdirs.push(path.clone());
            } else if ft.is_symlink() {
                e.kind = Kind::Symlink;
                e.link = fs::read_link(&full)?.as_os_str().as_bytes().to_vec();
            } else if ft.is_char_device() || ft.is_block_device() {
                e.kind = if ft.is_char_device() {
                    Kind::CharDevice
                } else {
                    Kind::BlockDevice
                };
                e.dev_major = rustix::fs::major(dev);
                e.dev_minor = rustix::fs::minor(dev);
            } else if ft.is_fifo() {
                e.kind = Kind::Fifo;
            } else if ft.is_socket() {
                continue;
            } else if md.nlink() > 1 && seen.contains_key(&(md.dev(), md.ino())) {
                e.kind = Kind::HardLink;
                e.link = seen[&(md.dev(), md.ino())].clone();
            } else {
                if md.nlink() > 1 {
                    seen.insert((md.dev(), md.ino()), path.clone());
                }
                e.size = md.len();
            }
            e.path = path;
            if e.kind == Kind::File {
                w.append(&e, &mut fs::File::open(&full)?)?;
            } else {
                w.append(&e, &mut io::empty())?;
            }
        }
        stack.extend(subdirs.into_iter().rev());
    }
    Ok(())
}
