//! A small streaming tar reader: ustar, GNU long names and PAX headers, nothing more.
//!
//! It only decodes headers and hands out each entry's data as a bounded reader; it never
//! touches the file system. Path safety is `extract`'s job. Sparse files and other
//! exotic types are reported as unsupported rather than guessed at.

use std::io::{self, Read};

/// Largest GNU long name or PAX header accepted.
const MAX_META: u64 = 1024 * 1024;
const BLOCK: u64 = 512;

#[derive(Debug, thiserror::Error)]
pub enum TarError {
    #[error("cannot read the archive at byte {offset}: {source}")]
    Read { offset: u64, source: io::Error },
    #[error("archive ends inside the entry at byte {0}")]
    Truncated(u64),
    #[error("bad header checksum at byte {0}: not a tar archive, or a corrupt one")]
    Checksum(u64),
    #[error("bad number in the {field} field of the header at byte {offset}")]
    Number { field: &'static str, offset: u64 },
    #[error("bad pax header at byte {offset}: {reason}")]
    Pax { offset: u64, reason: &'static str },
    #[error("metadata entry at byte {0} is larger than {MAX_META} bytes")]
    MetaTooLarge(u64),
}

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    HardLink,
    Symlink,
    CharDevice,
    BlockDevice,
    Directory,
    Fifo,
    /// A type we do not handle (sparse files, volume labels, ...), with its flag byte.
    Other(u8),
}

/// One entry's header, with PAX and GNU overrides applied. Paths are raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: Vec<u8>,
    pub kind: Kind,
    pub link: Vec<u8>,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
    pub size: u64,
    pub dev_major: u32,
    pub dev_minor: u32,
    /// `SCHILY.xattr.*` records from a PAX header: name without the prefix, value.
    pub xattrs: Vec<(String, Vec<u8>)>,
    /// Where the entry's data starts in the archive.
    pub data_offset: u64,
}

impl Entry {
    /// The path for messages.
    pub fn display(&self) -> String {
        String::from_utf8_lossy(&self.path).into_owned()
    }
}

/// Reads entries one after the other from any byte stream.
pub struct Archive<R> {
    inner: R,
    offset: u64,
    /// Unread data of the current entry, then its padding to the block size.
    data_left: u64,
    pad: u64,
}

impl<R: Read> Archive<R> {
    pub fn new(inner: R) -> Archive<R> {
        Archive {
            inner,
            offset: 0,
            data_left: 0,
            pad: 0,
        }
    }

    /// The next entry, or `None` at the end-of-archive marker (or a clean end of input).
    pub fn next_entry(&mut self) -> Result<Option<Entry>, TarError> {
        let mut long_path = None;
        let mut long_link = None;
        let mut pax: Vec<(String, Vec<u8>)> = Vec::new();
        loop {
            self.skip_rest()?;
            let start = self.offset;
            let Some(block) = self.read_header()? else {
                return Ok(None);
            };
            let flag = block[156];
            let size = number(&block[124..136]).ok_or(TarError::Number {
                field: "size",
                offset: start,
            })?;
            self.data_left = size;
            self.pad = (BLOCK - size % BLOCK) % BLOCK;
            match flag {
                b'L' => long_path = Some(self.read_meta(start)?),
                b'K' => long_link = Some(self.read_meta(start)?),
                b'x' => pax = parse_pax(&self.read_meta(start)?, start)?,
                b'g' => {
                    self.read_meta(start)?;
                }
                _ => {
                    let mut e = parse_header(&block, start)?;
                    e.data_offset = self.offset;
                    if let Some(p) = long_path.take() {
                        e.path = trim_nul(&p).to_vec();
                    }
                    if let Some(l) = long_link.take() {
                        e.link = trim_nul(&l).to_vec();
                    }
                    apply_pax(&mut e, std::mem::take(&mut pax), start)?;
                    // Old tars mark directories only with a trailing slash.
                    if e.kind == Kind::File && e.path.ends_with(b"/") {
                        e.kind = Kind::Directory;
                    }
                    // Header-only types never have data, whatever the size field says.
                    if !matches!(e.kind, Kind::File | Kind::Other(_)) {
                        e.size = 0;
                    }
                    self.data_left = e.size;
                    self.pad = (BLOCK - e.size % BLOCK) % BLOCK;
                    return Ok(Some(e));
                }
            }
        }
    }

    /// The current entry's data, at most its size.
    pub fn data(&mut self) -> EntryData<'_, R> {
        EntryData { archive: self }
    }

    /// The underlying reader, e.g. to read what follows the archive.
    pub fn into_inner(self) -> R {
        self.inner
    }

    fn skip_rest(&mut self) -> Result<(), TarError> {
        let n = self.data_left + self.pad;
        let offset = self.offset;
        let copied = io::copy(&mut (&mut self.inner).take(n), &mut io::sink())
            .map_err(|source| TarError::Read { offset, source })?;
        self.offset += copied;
        if copied != n {
            return Err(TarError::Truncated(offset));
        }
        self.data_left = 0;
        self.pad = 0;
        Ok(())
    }

    fn read_header(&mut self) -> Result<Option<[u8; 512]>, TarError> {
        let mut block = [0u8; 512];
        let n = read_full(&mut self.inner, &mut block).map_err(|source| TarError::Read {
            offset: self.offset,
            source,
        })?;
        let start = self.offset;
        self.offset += n as u64;
        if n == 0 || block.iter().all(|&b| b == 0) {
            return Ok(None);
        }
        if n < block.len() {
            return Err(TarError::Truncated(start));
        }
        let stored = number(&block[148..156]).ok_or(TarError::Checksum(start))?;
        let sum: u64 = block
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    b as u64
                }
            })
            .sum();
        if stored != sum {
            return Err(TarError::Checksum(start));
        }
        Ok(Some(block))
    }

    fn read_meta(&mut self, start: u64) -> Result<Vec<u8>, TarError> {
        if self.data_left > MAX_META {
            return Err(TarError::MetaTooLarge(start));
        }
        let mut buf = Vec::new();
        self.data()
            .read_to_end(&mut buf)
            .map_err(|source| TarError::Read {
                offset: start,
                source,
            })?;
        if self.data_left != 0 {
            return Err(TarError::Truncated(start));
        }
        Ok(buf)
    }
}

/// The data of one entry; reading past its end gives end-of-file.
pub struct EntryData<'a, R> {
    archive: &'a mut Archive<R>,
}

impl<R: Read> Read for EntryData<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let a = &mut *self.archive;
        let max = buf
            .len()
            .min(usize::try_from(a.data_left).unwrap_or(usize::MAX));
        if max == 0 {
            return Ok(0);
        }
        let n = a.inner.read(&mut buf[..max])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "archive ends inside an entry",
            ));
        }
        a.data_left -= n as u64;
        a.offset += n as u64;
        Ok(n)
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn trim_nul(b: &[u8]) -> &[u8] {
    b.iter().position(|&c| c == 0).map_or(b, |i| &b[..i])
}

/// An octal field (spaces and NULs around it allowed) or GNU base-256 (high bit set).
fn number(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|&b| b & 0x80 != 0) {
        if field[0] & 0x40 != 0 {
            return None; // negative
        }
        let mut v: u64 = (field[0] & 0x3f) as u64;
        for &b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(b as u64)?;
        }
        return Some(v);
    }
    let text = trim_nul(field);
    let text = std::str::from_utf8(text).ok()?.trim_matches(' ');
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(text, 8).ok()
}

/// Decodes a ustar or GNU header block (checksum already verified).
pub fn parse_header(b: &[u8; 512], offset: u64) -> Result<Entry, TarError> {
    let num = |range: std::ops::Range<usize>, field: &'static str| {
        number(&b[range]).ok_or(TarError::Number { field, offset })
    };
    let small = |v: u64, field: &'static str| {
        u32::try_from(v).map_err(|_| TarError::Number { field, offset })
    };
    let ustar = &b[257..263] == b"ustar\0";
    let mut path = Vec::new();
    if ustar && b[345] != 0 {
        path.extend_from_slice(trim_nul(&b[345..500]));
        path.push(b'/');
    }
    path.extend_from_slice(trim_nul(&b[..100]));
    let kind = match b[156] {
        b'0' | 0 | b'7' => Kind::File,
        b'1' => Kind::HardLink,
        b'2' => Kind::Symlink,
        b'3' => Kind::CharDevice,
        b'4' => Kind::BlockDevice,
        b'5' => Kind::Directory,
        b'6' => Kind::Fifo,
        other => Kind::Other(other),
    };
    let has_data = matches!(kind, Kind::File | Kind::Other(_));
    Ok(Entry {
        path,
        kind,
        link: trim_nul(&b[157..257]).to_vec(),
        mode: small(num(100..108, "mode")?, "mode")? & 0o7777,
        uid: small(num(108..116, "uid")?, "uid")?,
        gid: small(num(116..124, "gid")?, "gid")?,
        mtime: i64::try_from(num(136..148, "mtime")?).unwrap_or(i64::MAX),
        size: if has_data { num(124..136, "size")? } else { 0 },
        dev_major: small(num(329..337, "devmajor")?, "devmajor")?,
        dev_minor: small(num(337..345, "devminor")?, "devminor")?,
        xattrs: Vec::new(),
        data_offset: 0,
    })
}

/// `"<len> <key>=<value>\n"` records.
fn parse_pax(data: &[u8], offset: u64) -> Result<Vec<(String, Vec<u8>)>, TarError> {
    let bad = |reason| TarError::Pax { offset, reason };
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let sp = rest
            .iter()
            .position(|&c| c == b' ')
            .ok_or(bad("no length"))?;
        let len: usize = std::str::from_utf8(&rest[..sp])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(bad("bad length"))?;
        if len <= sp + 1 || len > rest.len() || rest[len - 1] != b'\n' {
            return Err(bad("bad record length"));
        }
        let record = &rest[sp + 1..len - 1];
        let eq = record
            .iter()
            .position(|&c| c == b'=')
            .ok_or(bad("no '='"))?;
        let key = String::from_utf8(record[..eq].to_vec()).map_err(|_| bad("key not utf-8"))?;
        out.push((key, record[eq + 1..].to_vec()));
        rest = &rest[len..];
    }
    Ok(out)
}

fn apply_pax(e: &mut Entry, records: Vec<(String, Vec<u8>)>, offset: u64) -> Result<(), TarError> {
    let bad = |reason| TarError::Pax { offset, reason };
    let int = |v: &[u8]| -> Option<u64> {
        let s = std::str::from_utf8(v).ok()?;
        // mtime may have a fraction; whole seconds are enough.
        s.split('.').next()?.parse().ok()
    };
    for (key, value) in records {
        match key.as_str() {
            "path" => e.path = value,
            "linkpath" => e.link = value,
            "size" => e.size = int(&value).ok_or(bad("bad size"))?,
            "uid" => {
                e.uid = int(&value)
                    .and_then(|v| u32::try_from(v).ok())
                    .ok_or(bad("bad uid"))?
            }
            "gid" => {
                e.gid = int(&value)
                    .and_then(|v| u32::try_from(v).ok())
                    .ok_or(bad("bad gid"))?
            }
            "mtime" => e.mtime = int(&value).and_then(|v| i64::try_from(v).ok()).unwrap_or(0),
            k => {
                if let Some(name) = k.strip_prefix("SCHILY.xattr.") {
                    e.xattrs.push((name.to_string(), value));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "tar_tests.rs"]
mod tests;
