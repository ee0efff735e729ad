//! The probe's URL and the redirect rules of the kubelet's HTTP client: a `Location`
//! resolved against the current URL, followed only on the first request's host name,
//! at most 10 requests in all. Pure string handling.

use std::fmt;

use crate::spec::Scheme;

/// How many requests one probe may make (Go's redirect limit, which the kubelet keeps).
pub const MAX_REQUESTS: u32 = 10;

/// An http(s) URL: host name as written (IPv6 without brackets), port, and the
/// request target (path and query, escaped, always starting with `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub scheme: Scheme,
    pub host: String,
    pub port: u16,
    path: String,
}

impl Url {
    /// The kubelet's `formatURL`: a path without a leading `/` gets one; a fragment is
    /// dropped; spaces, controls and non-ASCII bytes are percent-encoded.
    pub fn new(scheme: Scheme, host: String, port: u16, path: &str) -> Url {
        Url {
            scheme,
            host,
            port,
            path: normalize_target(path),
        }
    }

    /// `host:port` for the Host header, with brackets around an IPv6 address.
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The request target: path and query.
    pub fn target(&self) -> &str {
        &self.path
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        write!(f, "{scheme}://{}{}", self.host_port(), self.path)
    }
}

fn normalize_target(path: &str) -> String {
    let path = path.split('#').next().unwrap_or_default();
    let mut out = String::with_capacity(path.len() + 1);
    if !path.starts_with('/') {
        out.push('/');
    }
    for b in path.bytes() {
        if b <= b' ' || b >= 0x7f {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(char::from(b));
        }
    }
    out
}

/// What to do with a response, as Go's client with the kubelet's redirect check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redirect {
    /// Not a redirect, or one to another host: this response is the answer.
    UseResponse,
    /// Request `url`; `relative` (no scheme in `Location`) keeps a user Host header.
    Follow { url: Url, relative: bool },
    /// The probe fails with this message.
    Fail(String),
}

/// The decision for a response to request number `requests` (1-based) of a probe
/// whose first request went to `first_host`.
pub fn redirect(
    status: u16,
    location: Option<&str>,
    current: &Url,
    first_host: &str,
    requests: u32,
) -> Redirect {
    if !matches!(status, 301 | 302 | 303 | 307 | 308) {
        return Redirect::UseResponse;
    }
    let loc = match location {
        Some(l) if !l.is_empty() => l,
        _ => return Redirect::UseResponse,
    };
    let (target, scheme) = match resolve(current, loc) {
        Ok(t) => t,
        Err(e) => {
            let e = format!("failed to parse Location header {loc:?}: {e}");
            return Redirect::Fail(format!("Get \"{current}\": {e}"));
        }
    };
    if target.host != first_host {
        return Redirect::UseResponse;
    }
    if requests >= MAX_REQUESTS {
        return Redirect::Fail(format!("Get \"{loc}\": stopped after 10 redirects"));
    }
    match scheme {
        Some(s) if s != "http" && s != "https" => Redirect::Fail(format!(
            "Get \"{loc}\": unsupported protocol scheme \"{s}\""
        )),
        _ => Redirect::Follow {
            url: target,
            relative: scheme.is_none(),
        },
    }
}

/// `loc` resolved against `base`, with the scheme `loc` named (lower case), if any.
fn resolve(base: &Url, loc: &str) -> Result<(Url, Option<String>), String> {
    let loc = loc.split('#').next().unwrap_or_default();
    if let Some((scheme, rest)) = split_scheme(loc) {
        let scheme = scheme.to_ascii_lowercase();
        let Some(rest) = rest.strip_prefix("//") else {
            // An opaque URL (`mailto:x`) has no host: never the probe's.
            let url = Url::new(Scheme::Http, String::new(), 0, "/");
            return Ok((url, Some(scheme)));
        };
        let (s, default_port) = match scheme.as_str() {
            "https" => (Scheme::Https, 443),
            "http" => (Scheme::Http, 80),
            _ => (Scheme::Http, 0),
        };
        let url = authority(s, default_port, rest)?;
        return Ok((url, Some(scheme)));
    }
    if let Some(rest) = loc.strip_prefix("//") {
        let default_port = match base.scheme {
            Scheme::Http => 80,
            Scheme::Https => 443,
        };
        return Ok((authority(base.scheme, default_port, rest)?, None));
    }
    let base_path = base.path.split('?').next().unwrap_or("/");
    let path = if loc.starts_with('/') {
        loc.to_string()
    } else if loc.is_empty() {
        base.path.clone()
    } else if loc.starts_with('?') {
        format!("{base_path}{loc}")
    } else {
        let dir = &base_path[..base_path.rfind('/').map_or(0, |i| i + 1)];
        format!("{dir}{loc}")
    };
    let url = Url::new(base.scheme, base.host.clone(), base.port, &clean(&path));
    Ok((url, None))
}

/// `scheme:rest` when `loc` starts with a URL scheme (RFC 3986 syntax).
fn split_scheme(loc: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = loc.split_once(':')?;
    let mut bytes = scheme.bytes();
    let first = bytes.next()?;
    let valid = first.is_ascii_alphabetic()
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    valid.then_some((scheme, rest))
}

/// Parses `[userinfo@]host[:port]` and the path after it.
fn authority(scheme: Scheme, default_port: u16, rest: &str) -> Result<Url, String> {
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (auth, path) = rest.split_at(end);
    let hostport = auth.rsplit_once('@').map_or(auth, |(_, h)| h);
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| "missing ']' in host".to_string())?;
        (host, after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    let port = match port {
        None | Some("") => default_port,
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| format!("invalid port \":{p}\" after host"))?,
    };
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    Ok(Url::new(scheme, host.to_string(), port, &clean(&path)))
}

/// Removes `.` and `..` segments of the path part (RFC 3986 5.2.4); keeps the query.
fn clean(target: &str) -> String {
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let segs: Vec<&str> = path.split('/').collect();
    let mut out: Vec<&str> = Vec::new();
    for (i, seg) in segs.iter().enumerate().skip(1) {
        let last = i + 1 == segs.len();
        match *seg {
            "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
        if last && matches!(*seg, "." | "..") {
            out.push("");
        }
    }
    let mut cleaned = format!("/{}", out.join("/"));
    if let Some(q) = query {
        cleaned.push('?');
        cleaned.push_str(q);
    }
    cleaned
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(path: &str) -> Url {
        Url::new(Scheme::Http, "127.0.0.1".into(), 8080, path)
    }

    #[test]
    fn targets_are_normalised_like_the_kubelet() {
        assert_eq!(url("").to_string(), "http://127.0.0.1:8080/");
        assert_eq!(url("healthz").to_string(), "http://127.0.0.1:8080/healthz");
        assert_eq!(url("/a b?x=1#frag").target(), "/a%20b?x=1");
        assert_eq!(url("/é").target(), "/%C3%A9");
        let v6 = Url::new(Scheme::Http, "::1".into(), 80, "/");
        assert_eq!(v6.host_port(), "[::1]:80");
        assert_eq!(v6.to_string(), "http://[::1]:80/");
    }

    #[test]
    fn locations_resolve_against_the_current_url() {
        let base = url("/a/b/c?q=1");
        let cases = [
            ("/x", "http://127.0.0.1:8080/x"),
            ("d", "http://127.0.0.1:8080/a/b/d"),
            ("../d/./e", "http://127.0.0.1:8080/a/d/e"),
            ("../../../..", "http://127.0.0.1:8080/"),
            ("?z=2", "http://127.0.0.1:8080/a/b/c?z=2"),
            ("//127.0.0.1:9000/p", "http://127.0.0.1:9000/p"),
            ("http://127.0.0.1/p", "http://127.0.0.1:80/p"),
            ("HTTP://user@127.0.0.1:81?q", "http://127.0.0.1:81/?q"),
            ("https://127.0.0.1/s", "https://127.0.0.1:443/s"),
            ("http://[::1]:99/v6", "http://[::1]:99/v6"),
        ];
        for (loc, want) in cases {
            let (got, _) = resolve(&base, loc).unwrap();
            assert_eq!(got.to_string(), want, "{loc}");
        }
        assert!(resolve(&base, "http://h:x/").is_err());
    }

    #[test]
    fn redirects_follow_the_kubelet_rules() {
        let cur = url("/");
        let host = "127.0.0.1";
        let follow = |loc: &str, n| redirect(302, Some(loc), &cur, host, n);
        assert_eq!(
            follow("/ok", 1),
            Redirect::Follow {
                url: url("/ok"),
                relative: true
            }
        );
        let other = Url::new(Scheme::Http, host.into(), 9, "/");
        assert_eq!(
            follow("http://127.0.0.1:9/", 1),
            Redirect::Follow {
                url: other,
                relative: false
            }
        );
        assert_eq!(follow("http://example.com/", 1), Redirect::UseResponse);
        assert_eq!(follow("http://127.0.0.2/", 9), Redirect::UseResponse);
        assert_eq!(follow("mailto:x@y", 1), Redirect::UseResponse);
        assert_eq!(
            follow("/loop", 10),
            Redirect::Fail("Get \"/loop\": stopped after 10 redirects".into())
        );
        assert_eq!(
            follow("ftp://127.0.0.1/f", 1),
            Redirect::Fail("Get \"ftp://127.0.0.1/f\": unsupported protocol scheme \"ftp\"".into())
        );
        assert!(matches!(follow("http://h:x/", 1), Redirect::Fail(_)));
        for status in [200, 300, 304, 404] {
            assert_eq!(
                redirect(status, Some("/x"), &cur, host, 1),
                Redirect::UseResponse
            );
        }
        assert_eq!(redirect(301, None, &cur, host, 1), Redirect::UseResponse);
        assert_eq!(
            redirect(307, Some(""), &cur, host, 1),
            Redirect::UseResponse
        );
    }
}
