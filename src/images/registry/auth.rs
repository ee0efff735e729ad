//! Registry authentication: Basic, and the Bearer token challenge (`WWW-Authenticate:
//! Bearer realm=..,service=..,scope=..`, then a token from the realm); credentials from
//! Docker's `config.json` "auths".
//!
//! Credentials and tokens never appear in a log line, an error or a `Debug` output.

use std::fmt;

use crate::images::oci;
use crate::spec::manifest::{Node, Value};

use super::http::{Request, Transport, Url};
use super::url::encode_query;

/// Largest token response read.
const MAX_TOKEN_RESPONSE: u64 = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("token request to {realm} failed: {reason}")]
    Token { realm: String, reason: String },
    #[error("token server {realm} refused the credentials (status {status})")]
    TokenRefused { realm: String, status: u16 },
    #[error("credentials file: {0}")]
    Config(String),
}

/// A user name and password (or token). `Debug` shows the user name only.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials({:?}, <redacted>)", self.username)
    }
}

impl Credentials {
    /// The `Authorization` header value for Basic authentication.
    pub fn basic(&self) -> String {
        let plain = format!("{}:{}", self.username, self.password);
        format!("Basic {}", base64_encode(plain.as_bytes()))
    }
}

/// What a registry asked for in `WWW-Authenticate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` header (one challenge; quoted values may hold commas).
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params = Vec::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let after = after.trim_start();
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"')?;
            (q[..end].to_string(), &q[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        params.push((key.trim().to_ascii_lowercase(), value));
        rest = next.trim_start().trim_start_matches(',').trim_start();
    }
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => Some(Challenge::Bearer {
            realm: get("realm")?,
            service: get("service"),
            scope: get("scope"),
        }),
        _ => None,
    }
}

/// Asks the realm for a token for `scope` (the challenge's, else `default_scope`),
/// with Basic credentials when there are some. Returns the `Authorization` value.
pub fn fetch_token(
    transport: &Transport,
    realm: &str,
    service: Option<&str>,
    scope: &str,
    creds: Option<&Credentials>,
) -> Result<String, AuthError> {
    let fail = |reason: String| AuthError::Token {
        realm: realm.to_string(),
        reason,
    };
    let mut query = Vec::new();
    if let Some(s) = service {
        query.push(format!("service={}", encode_query(s)));
    }
    for s in scope.split(' ').filter(|s| !s.is_empty()) {
        query.push(format!("scope={}", encode_query(s)));
    }
    let sep = if realm.contains('?') { '&' } else { '?' };
    let url =
        Url::parse(&format!("{realm}{sep}{}", query.join("&"))).map_err(|e| fail(e.to_string()))?;
    let mut req = Request::get(url);
    if let Some(c) = creds {
        req = req.header("Authorization", c.basic());
    }
    let resp = transport.send(req).map_err(|e| fail(e.to_string()))?;
    if resp.status == 401 || resp.status == 403 {
        return Err(AuthError::TokenRefused {
            realm: realm.to_string(),
            status: resp.status,
        });
    }
    if resp.status != 200 {
        return Err(fail(format!("status {}", resp.status)));
    }
    let body = resp
        .read_small(MAX_TOKEN_RESPONSE)
        .map_err(|e| fail(e.to_string()))?;
    let doc = oci::parse(&body, "token response").map_err(|e| fail(e.to_string()))?;
    let token = ["token", "access_token"]
        .iter()
        .find_map(|k| match doc.get(k).map(|n| &n.value) {
            Some(Value::Str(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        })
        .ok_or_else(|| fail("no token in the response".into()))?;
    // Sent later as `Authorization: Bearer <token>`: a CR or LF in it would inject
    // headers. (The token itself stays out of the message.)
    if !crate::http1::valid_header_value(&token) {
        return Err(fail(
            "the token contains CR, LF or another control character: refusing to send it".into(),
        ));
    }
    Ok(format!("Bearer {token}"))
}

/// The credentials of a Docker `config.json`, keyed by registry as references name it
/// (`https://index.docker.io/v1/` is `docker.io`). Entries without credentials are skipped.
pub fn parse_docker_auths(json: &[u8]) -> Result<Vec<(String, Credentials)>, AuthError> {
    let doc = oci::parse(json, "config.json").map_err(|e| AuthError::Config(e.to_string()))?;
    let Some(Node {
        value: Value::Map(auths),
        ..
    }) = doc.get("auths")
    else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (key, entry) in auths {
        let text = |k: &str| match entry.get(k).map(|n| &n.value) {
            Some(Value::Str(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        };
        let creds = if let Some(auth) = text("auth") {
            let bad =
                || AuthError::Config(format!("auths.{key}.auth is not base64 of user:password"));
            let plain = base64_decode(&auth).ok_or_else(bad)?;
            let plain = String::from_utf8(plain).map_err(|_| bad())?;
            let (u, p) = plain.split_once(':').ok_or_else(bad)?;
            Credentials {
                username: u.to_string(),
                password: p.to_string(),
            }
        } else if let (Some(username), Some(password)) = (text("username"), text("password")) {
            Credentials { username, password }
        } else {
            continue;
        };
        out.push((registry_key(key), creds));
    }
    Ok(out)
}

/// `https://index.docker.io/v1/` -> `docker.io`; `https://host:5000/x` -> `host:5000`.
pub fn registry_key(key: &str) -> String {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = k.split('/').next().unwrap_or(k);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".into()
        }
        h => h.to_string(),
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim().trim_end_matches('=');
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let v = B64.iter().position(|&x| x == c)? as u32;
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A token server on 127.0.0.1 that answers one request with `body` (JSON).
    fn token_server(body: &'static str) -> (String, std::thread::JoinHandle<String>) {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let realm = format!("http://{}/token", listener.local_addr().unwrap());
        let thread = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            while reader.read_line(&mut request).unwrap() > 2 {}
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
            stream.write_all(head.as_bytes()).unwrap();
            stream.write_all(body.as_bytes()).unwrap();
            request
        });
        (realm, thread)
    }

    #[test]
    fn a_token_with_a_line_break_is_refused() {
        let transport = Transport {
            timeout: std::time::Duration::from_secs(10),
            tls: None,
        };
        let (realm, server) = token_server(r#"{"token":"abc\r\nX-Injected: 1"}"#);
        let err = fetch_token(&transport, &realm, None, "repository:a/b:pull", None).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "token request to {realm} failed: the token contains CR, LF or another control character: refusing to send it"
            )
        );
        server.join().unwrap();
        let (realm, server) = token_server(r#"{"token":"abc.def"}"#);
        let ok = fetch_token(&transport, &realm, None, "repository:a/b:pull", None).unwrap();
        assert_eq!(ok, "Bearer abc.def");
        assert!(
            server
                .join()
                .unwrap()
                .starts_with("GET /token?scope=repository%3Aa%2Fb%3Apull ")
        );
    }

    #[test]
    fn challenges() {
        let h = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#;
        assert_eq!(
            parse_challenge(h),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/busybox:pull,push".into()),
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Bearer service=x"), None, "no realm");
        assert_eq!(parse_challenge("Negotiate"), None);
        let unquoted = parse_challenge("bearer realm=http://h/t, service=s").unwrap();
        assert!(matches!(unquoted, Challenge::Bearer { realm, .. } if realm == "http://h/t"));
    }

    #[test]
    fn base64_round_trip() {
        for s in ["", "a", "ab", "abc", "user:pässword"] {
            assert_eq!(
                base64_decode(&base64_encode(s.as_bytes())).unwrap(),
                s.as_bytes()
            );
        }
        assert_eq!(base64_encode(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64_decode("!!"), None);
    }

    #[test]
    fn docker_config_auths() {
        let json = br#"{"auths": {
            "https://index.docker.io/v1/": {"auth": "dXNlcjpwYXNz"},
            "127.0.0.1:5000": {"username": "u", "password": "p:w"},
            "ghcr.io": {}
        }, "credsStore": "desktop"}"#;
        let auths = parse_docker_auths(json).unwrap();
        assert_eq!(auths.len(), 2);
        assert_eq!(auths[0].0, "docker.io");
        assert_eq!(auths[0].1.password, "pass");
        assert_eq!(auths[1].1.password, "p:w");
        assert!(!format!("{:?}", auths[0].1).contains("pass"));
        assert!(parse_docker_auths(br#"{"auths":{"h":{"auth":"%%%"}}}"#).is_err());
        assert!(parse_docker_auths(b"{}").unwrap().is_empty());
    }
}
