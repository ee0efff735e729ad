//! Image references normalised as Docker and Kubernetes do: `busybox` means
//! `docker.io/library/busybox:latest`.
//!
//! The grammar is the one of the distribution project's `reference` package (without
//! IPv6 registry addresses). This module only parses names; it never contacts a registry.

use std::fmt;

use super::digest::Digest;

/// Longest repository name (registry and path together), as the distribution spec says.
const MAX_NAME: usize = 255;
/// Longest tag.
const MAX_TAG: usize = 128;

pub const DEFAULT_DOMAIN: &str = "docker.io";
pub const DEFAULT_TAG: &str = "latest";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("image reference is empty")]
    Empty,
    #[error("image reference {0:?}: repository name must be lower case")]
    UpperCase(String),
    #[error("image reference {0:?}: invalid repository name")]
    Name(String),
    #[error("image reference {0:?}: invalid registry host")]
    Domain(String),
    #[error("image reference {0:?}: invalid tag")]
    Tag(String),
    #[error("image reference {0:?}: invalid digest")]
    Digest(String),
    #[error("image reference {0:?}: name longer than {MAX_NAME} characters")]
    TooLong(String),
}

/// A fully qualified image reference: registry, repository path, and a tag, a digest or both.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reference {
    pub domain: String,
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl Reference {
    /// Parses and normalises a reference: the default registry and `library/` for Docker
    /// Hub, and the tag `latest` when neither tag nor digest is given.
    pub fn parse(input: &str) -> Result<Reference, ReferenceError> {
        if input.is_empty() {
            return Err(ReferenceError::Empty);
        }
        let err = |f: fn(String) -> ReferenceError| f(input.to_string());
        let (rest, digest) = match input.split_once('@') {
            Some((rest, d)) => (
                rest,
                Some(Digest::parse(d).map_err(|_| err(ReferenceError::Digest))?),
            ),
            None => (input, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(t) = tag {
            if !valid_tag(t) {
                return Err(err(ReferenceError::Tag));
            }
        }
        let (domain, path) = split_domain(name);
        if !valid_domain(domain) {
            return Err(err(ReferenceError::Domain));
        }
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(err(ReferenceError::UpperCase));
        }
        if path.is_empty() || !path.split('/').all(valid_component) {
            return Err(err(ReferenceError::Name));
        }
        let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_string()
        };
        if domain.len() + 1 + path.len() > MAX_NAME {
            return Err(err(ReferenceError::TooLong));
        }
        let tag = match (tag, digest) {
            (None, None) => Some(DEFAULT_TAG.to_string()),
            (t, _) => t.map(str::to_string),
        };
        Ok(Reference {
            domain: domain.to_string(),
            path,
            tag,
            digest,
        })
    }

    /// `registry/path`, without tag or digest.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.path)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Splits off the registry: the first component is one when it has a `.` or a `:`, is
/// `localhost`, or has upper-case letters; otherwise the name is on Docker Hub.
fn split_domain(name: &str) -> (&str, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            let domain = if first == "index.docker.io" {
                DEFAULT_DOMAIN
            } else {
                first
            };
            (domain, rest)
        }
        _ => (DEFAULT_DOMAIN, name),
    }
}

/// `[a-z0-9]+` joined by `.`, `_`, `__` or runs of `-`.
fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

/// Host name labels separated by dots, then an optional numeric port.
fn valid_domain(d: &str) -> bool {
    let (host, port) = match d.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (d, None),
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|x| x.is_ascii_alphanumeric() || x == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|x| x.is_ascii_digit()));
    host.split('.').all(label_ok) && port_ok
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    !b.is_empty()
        && b.len() <= MAX_TAG
        && word(b[0])
        && b.iter().all(|&x| word(x) || x == b'.' || x == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn normalisation_table() {
        let dig = format!("docker.io/library/busybox@{D}");
        let both = format!("ghcr.io/org/app:v1@{D}");
        let table: &[(&str, &str)] = &[
            ("busybox", "docker.io/library/busybox:latest"),
            ("busybox:1.36", "docker.io/library/busybox:1.36"),
            ("library/busybox", "docker.io/library/busybox:latest"),
            ("docker.io/busybox", "docker.io/library/busybox:latest"),
            (
                "index.docker.io/busybox",
                "docker.io/library/busybox:latest",
            ),
            ("user/app", "docker.io/user/app:latest"),
            ("ghcr.io/org/app", "ghcr.io/org/app:latest"),
            ("localhost/app:dev", "localhost/app:dev"),
            ("localhost:5000/a/b/c:1.0", "localhost:5000/a/b/c:1.0"),
            (
                "registry.example.com:443/x_y.z--w:tag-1.2_3",
                "registry.example.com:443/x_y.z--w:tag-1.2_3",
            ),
            (&dig[..], &dig[..]),
            (&both[..], &both[..]),
        ];
        for (input, want) in table {
            let got = Reference::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(&got.to_string(), want, "{input}");
        }
        let with_digest = format!("busybox@{D}");
        let r = Reference::parse(&with_digest).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.to_string(), dig);
        assert_eq!(r.repository(), "docker.io/library/busybox");
    }

    #[test]
    fn rejects_invalid_references() {
        let bad: &[&str] = &[
            "",
            "BusyBox",
            "docker.io/Library/busybox",
            "busybox:",
            "busybox:-tag",
            "busybox:a/b",
            "-busybox",
            "busy..box",
            "busy/",
            "/busybox",
            "a//b",
            "busybox@sha256:123",
            "busybox@md5:abc",
            "ho$t.io/app",
            "host.io:port/app",
        ];
        for input in bad {
            assert!(
                Reference::parse(input).is_err(),
                "{input:?} must be refused"
            );
        }
        let long = format!("{}:1", "a".repeat(300));
        assert!(matches!(
            Reference::parse(&long),
            Err(ReferenceError::TooLong(_))
        ));
        let long_tag = format!("busybox:{}", "t".repeat(129));
        assert!(matches!(
            Reference::parse(&long_tag),
            Err(ReferenceError::Tag(_))
        ));
    }
}
