//! Unit tests of the tar reader, with archives from our writer and hand-made headers.

use super::*;
use crate::images::tar_write::{Writer, empty_entry};

fn file(path: &str, data: &[u8]) -> (Entry, Vec<u8>) {
    let e = Entry {
        path: path.as_bytes().to_vec(),
        size: data.len() as u64,
        mode: 0o4755,
        uid: 1000,
        gid: 100,
        mtime: 1_700_000_000,
        ..empty_entry()
    };
    (e, data.to_vec())
}

fn archive(entries: &[(Entry, Vec<u8>)]) -> Vec<u8> {
    let mut w = Writer::new(Vec::new());
    for (e, data) in entries {
        w.append(e, &mut &data[..]).unwrap();
    }
    w.finish().unwrap()
}

fn read_all(bytes: &[u8]) -> Result<Vec<(Entry, Vec<u8>)>, TarError> {
    let mut a = Archive::new(bytes);
    let mut out = Vec::new();
    while let Some(e) = a.next_entry()? {
        let mut data = Vec::new();
        a.data().read_to_end(&mut data).unwrap();
        out.push((e, data));
    }
    Ok(out)
}

#[test]
fn round_trip_of_every_kind() {
    let long = format!("{}/file", "d".repeat(150));
    let link = Entry {
        path: b"bin/sh".to_vec(),
        kind: Kind::Symlink,
        link: b"busybox".to_vec(),
        mode: 0o777,
        ..empty_entry()
    };
    let dev = Entry {
        path: b"dev/null".to_vec(),
        kind: Kind::CharDevice,
        dev_major: 1,
        dev_minor: 3,
        ..empty_entry()
    };
    let mut xattr = file("ping", b"x");
    xattr.0.xattrs = vec![("security.capability".into(), vec![1, 0, 0, 2])];
    let input = vec![
        file("a.txt", b"hello"),
        (link, Vec::new()),
        file(&long, &[7u8; 1000]),
        (dev, Vec::new()),
        xattr,
        file("empty", b""),
    ];
    let bytes = archive(&input);
    let got = read_all(&bytes).unwrap();
    assert_eq!(got.len(), input.len());
    for ((want, wdata), (have, hdata)) in input.iter().zip(&got) {
        let mut have = have.clone();
        have.data_offset = 0;
        assert_eq!(&have, want);
        assert_eq!(hdata, wdata);
    }
    // The offset points at the data.
    let e = &got[0].0;
    assert_eq!(&bytes[e.data_offset as usize..][..5], b"hello");
}

#[test]
fn skips_unread_data() {
    let bytes = archive(&[file("a", &[1u8; 700]), file("b", b"bee")]);
    let mut a = Archive::new(&bytes[..]);
    assert_eq!(a.next_entry().unwrap().unwrap().path, b"a");
    let b = a.next_entry().unwrap().unwrap();
    assert_eq!(b.path, b"b");
    let mut data = String::new();
    a.data().read_to_string(&mut data).unwrap();
    assert_eq!(data, "bee");
    assert!(a.next_entry().unwrap().is_none());
}

#[test]
fn numbers_octal_and_base256() {
    assert_eq!(number(b"0000644\0"), Some(0o644));
    assert_eq!(number(b"  644 \0"), Some(0o644));
    assert_eq!(number(b"\0\0\0\0"), Some(0));
    assert_eq!(number(&[0x80, 0, 0, 0, 0, 0, 1, 0]), Some(256));
    assert_eq!(number(&[0xff, 0xff]), None);
    assert_eq!(number(b"0009"), None);
}

#[test]
fn ustar_prefix_and_gnu_long_names() {
    let mut bytes = archive(&[file("x", b"")]);
    // Move the name into the ustar prefix field and fix the checksum.
    bytes[345..348].copy_from_slice(b"pre");
    fix_checksum(&mut bytes[..512]);
    assert_eq!(read_all(&bytes).unwrap()[0].0.path, b"pre/x");

    // A GNU 'L' entry names the next one.
    let long = "n".repeat(300);
    let mut gnu = Entry {
        path: b"././@LongLink".to_vec(),
        kind: Kind::Other(b'L'),
        size: long.len() as u64 + 1,
        ..empty_entry()
    };
    gnu.mode = 0o644;
    let mut w = Writer::new(Vec::new());
    let mut name = long.clone().into_bytes();
    name.push(0);
    w.append(
        &Entry {
            kind: Kind::File,
            ..gnu.clone()
        },
        &mut &name[..],
    )
    .unwrap();
    let mut bytes = w.finish().unwrap();
    bytes[156] = b'L';
    fix_checksum(&mut bytes[..512]);
    let mut tail = archive(&[file("short", b"ok")]);
    bytes.truncate(1024);
    bytes.append(&mut tail);
    let got = read_all(&bytes).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0.path, long.as_bytes());
    assert_eq!(got[0].1, b"ok");
}

fn fix_checksum(b: &mut [u8]) {
    b[148..156].copy_from_slice(b"        ");
    let sum: u64 = b.iter().map(|&x| x as u64).sum();
    let s = format!("{sum:06o}\0 ");
    b[148..156].copy_from_slice(s.as_bytes());
}

#[test]
fn corrupt_archives_fail_clearly() {
    let mut bytes = archive(&[file("a", b"data")]);
    bytes[0] = b'b';
    assert!(matches!(read_all(&bytes), Err(TarError::Checksum(0))));

    let bytes = archive(&[file("a", &[0u8; 2000])]);
    let mut a = Archive::new(&bytes[..1000]);
    a.next_entry().unwrap();
    assert!(matches!(a.next_entry(), Err(TarError::Truncated(_))));

    assert!(matches!(
        read_all(&bytes[..300]),
        Err(TarError::Truncated(0))
    ));
    assert!(read_all(b"").unwrap().is_empty());
}

#[test]
fn pax_records() {
    let recs = parse_pax(b"30 mtime=1700000000.123456789\n12 uid=1000\n", 0).unwrap();
    assert_eq!(recs[0], ("mtime".into(), b"1700000000.123456789".to_vec()));
    assert_eq!(recs[1], ("uid".into(), b"1000".to_vec()));
    assert!(parse_pax(b"99 path=x\n", 0).is_err());
    assert!(parse_pax(b"7 path\n", 0).is_err());
    let mut e = empty_entry();
    apply_pax(&mut e, recs, 0).unwrap();
    assert_eq!((e.mtime, e.uid), (1_700_000_000, 1000));
}
