//! Pure checks of archive paths and link targets: what may be created inside a layer.
//!
//! No I/O: `extract` and `source` call these before touching the file system.

/// Why an entry path is refused; see [`components`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathProblem {
    Absolute,
    DotDot,
}

/// The components of an archive path, without `.` and empty ones; the layer root is `[]`.
pub fn components(path: &[u8]) -> Result<Vec<&[u8]>, PathProblem> {
    if path.starts_with(b"/") {
        return Err(PathProblem::Absolute);
    }
    let mut out = Vec::new();
    for c in path.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err(PathProblem::DotDot),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Whether a symlink at `entry` (its components) pointing to `target` would resolve
/// outside the layer root. Absolute targets are taken from the layer root, as they
/// resolve inside the container; `/..` is refused as well, as no image needs it.
pub fn symlink_escapes(entry: &[&[u8]], target: &[u8]) -> bool {
    let mut depth = if target.starts_with(b"/") {
        0
    } else {
        entry.len().saturating_sub(1)
    };
    for c in target.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." if depth == 0 => return true,
            b".." => depth -= 1,
            _ => depth += 1,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_components() {
        assert_eq!(
            components(b"./a//b/./c/").unwrap(),
            vec![&b"a"[..], b"b", b"c"]
        );
        assert!(components(b"./").unwrap().is_empty());
        assert_eq!(components(b"/etc/passwd"), Err(PathProblem::Absolute));
        assert_eq!(components(b"a/../../x"), Err(PathProblem::DotDot));
        assert_eq!(components(b".."), Err(PathProblem::DotDot));
        assert!(components(b"a/..b/c..").is_ok());
    }

    #[test]
    fn symlink_targets() {
        let at = |p: &'static str| components(p.as_bytes()).unwrap();
        assert!(!symlink_escapes(&at("bin/sh"), b"busybox"));
        assert!(!symlink_escapes(&at("bin/sh"), b"/bin/busybox"));
        assert!(!symlink_escapes(&at("usr/bin/x"), b"../../bin/busybox"));
        assert!(!symlink_escapes(&at("a/b"), b"./c/../d"));
        assert!(symlink_escapes(&at("usr/bin/x"), b"../../../etc/shadow"));
        assert!(symlink_escapes(&at("x"), b".."));
        assert!(symlink_escapes(&at("a/b"), b"/../etc"));
        assert!(symlink_escapes(&at("a/b"), b"c/../../../d"));
    }
}
