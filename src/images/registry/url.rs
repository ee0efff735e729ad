//! URLs as registries use them: `http` or `https`, a host (name, IPv4 or `[IPv6]`), an
//! optional port, and a path with its query; relative `Location`s resolved against one.
//!
//! No user info, no fragments, no percent-decoding: paths are sent as given.

use std::fmt;

use super::http::HttpError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl Url {
    pub fn parse(s: &str) -> Result<Url, HttpError> {
        let bad = |reason| HttpError::Url {
            url: s.to_string(),
            reason,
        };
        let (tls, rest) = if let Some(r) = s.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = s.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(bad("only http and https are supported"));
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'?' => (&rest[..i], format!("/{}", &rest[i..])),
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        let path = path.split('#').next().unwrap_or("/").to_string();
        if authority.contains('@') {
            return Err(bad("user info in urls is not supported"));
        }
        let (host, port) = split_port(authority).ok_or_else(|| bad("invalid port"))?;
        if host.is_empty() || host.bytes().any(|b| b.is_ascii_whitespace() || b < 0x20) {
            return Err(bad("invalid host"));
        }
        if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(bad("invalid characters in the path"));
        }
        Ok(Url {
            tls,
            host: host.to_string(),
            port: port.unwrap_or(if tls { 443 } else { 80 }),
            path,
        })
    }

    /// `host` or `host:port` when the port is not the scheme's default.
    pub fn authority(&self) -> String {
        if self.port == if self.tls { 443 } else { 80 } {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// A `Location` header: absolute, or a path on the same host.
    pub fn join(&self, location: &str) -> Result<Url, HttpError> {
        if location.starts_with("http://") || location.starts_with("https://") {
            return Url::parse(location);
        }
        if let Some(rest) = location.strip_prefix("//") {
            let scheme = if self.tls { "https" } else { "http" };
            return Url::parse(&format!("{scheme}://{rest}"));
        }
        let path = if location.starts_with('/') {
            location.to_string()
        } else {
            let dir = &self.path[..self.path.rfind('/').map_or(0, |i| i + 1)];
            format!("{dir}{location}")
        };
        let scheme = if self.tls { "https" } else { "http" };
        Url::parse(&format!("{scheme}://{}{path}", self.authority()))
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.authority(), self.path)
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn split_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']')?;
        let rest = &authority[end + 1..];
        match rest.strip_prefix(':') {
            Some(p) => (&authority[..=end], Some(p)),
            None if rest.is_empty() => (&authority[..=end], None),
            None => return None,
        }
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    match port {
        None => Some((host, None)),
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .map(|p| (host, Some(p))),
    }
}

/// Percent-encodes a query value (RFC 3986 unreserved characters stay).
pub fn encode_query(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_join() {
        let u = Url::parse("https://registry-1.docker.io/v2/").unwrap();
        assert_eq!((u.tls, u.port, u.path.as_str()), (true, 443, "/v2/"));
        assert_eq!(u.authority(), "registry-1.docker.io");
        let u = Url::parse("http://127.0.0.1:5000?x=1#frag").unwrap();
        assert_eq!((u.port, u.path.as_str()), (5000, "/?x=1"));
        assert_eq!(u.to_string(), "http://127.0.0.1:5000/?x=1");
        let v6 = Url::parse("http://[::1]:8080/a").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("[::1]", 8080));
        let j = u.join("/v2/x/blobs/sha256:1").unwrap();
        assert_eq!(j.to_string(), "http://127.0.0.1:5000/v2/x/blobs/sha256:1");
        let s3 = u.join("https://storage.example/b?sig=1").unwrap();
        assert_eq!(
            (s3.authority().as_str(), s3.path.as_str()),
            ("storage.example", "/b?sig=1")
        );
        let rel = Url::parse("http://h/a/b").unwrap().join("c").unwrap();
        assert_eq!(rel.path, "/a/c");
        for bad in [
            "ftp://h/",
            "http://",
            "http://h:99999/",
            "http://u:p@h/",
            "http://h/a b",
            "http://h:x/",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn query_encoding() {
        assert_eq!(
            encode_query("repository:a/b:pull,push"),
            "repository%3Aa%2Fb%3Apull%2Cpush"
        );
        assert_eq!(encode_query("registry.docker.io"), "registry.docker.io");
    }
}
