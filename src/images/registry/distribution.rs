//! The OCI distribution API for one repository on one endpoint: manifests by tag or
//! digest with the media types pealet reads, blobs (with a byte offset to resume), the
//! authentication challenge answered once per session, and the registry's JSON errors.

use crate::images::digest::Digest;
use crate::images::oci;
use crate::spec::manifest::Value;

use super::auth::{self, AuthError, Challenge, Credentials};
use super::config::Endpoint;
use super::http::{HttpError, Request, Response, Transport, Url};

/// Largest manifest or index accepted.
pub const MAX_MANIFEST: u64 = 4 * 1024 * 1024;
const MAX_ERROR_BODY: u64 = 64 * 1024;

pub const MEDIA_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json";

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{0}")]
    Http(#[from] HttpError),
    #[error("{0}")]
    Auth(#[from] AuthError),
    #[error("{registry}: authentication required: {message}")]
    Unauthorized { registry: String, message: String },
    #[error("{registry}: {what} not found: {message}")]
    NotFound {
        registry: String,
        what: String,
        message: String,
    },
    #[error("{registry}: {what}: status {status}: {message}")]
    Status {
        registry: String,
        what: String,
        status: u16,
        message: String,
    },
    #[error("{registry}: {what}: {reason}")]
    Read {
        registry: String,
        what: String,
        reason: String,
    },
}

/// A manifest or index as the registry sent it.
pub struct Fetched {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: Digest,
}

/// Requests to one repository on one endpoint, with the authorization it earned.
pub struct Session {
    transport: Transport,
    base: Url,
    repository: String,
    credentials: Option<Credentials>,
    authorization: Option<String>,
    /// `host[:port]` of the endpoint, for messages.
    pub registry: String,
}

impl Session {
    pub fn new(endpoint: &Endpoint, repository: &str) -> Session {
        Session {
            transport: endpoint.transport.clone(),
            base: endpoint.base.clone(),
            repository: repository.to_string(),
            credentials: endpoint.credentials.clone(),
            authorization: None,
            registry: endpoint.base.authority(),
        }
    }

    /// A manifest or index by tag or digest (`reference`).
    pub fn manifest(&mut self, reference: &str) -> Result<Fetched, RegistryError> {
        let what = format!("manifest {}:{reference}", self.repository);
        let resp = self.get(
            &format!("manifests/{reference}"),
            &[("Accept", ACCEPT.into())],
            &what,
        )?;
        let header_type = resp
            .header("content-type")
            .map(|t| t.split(';').next().unwrap_or_default().trim().to_string());
        let bytes = resp
            .read_small(MAX_MANIFEST)
            .map_err(|e| self.read_err(&what, e))?;
        let media_type = match header_type {
            Some(t) if !t.is_empty() && t != "application/json" => t,
            _ => sniff_media_type(&bytes),
        };
        Ok(Fetched {
            digest: Digest::of(&bytes),
            bytes,
            media_type,
        })
    }

    /// A blob from byte `offset` on: status 206 when the registry honoured the range,
    /// 200 when it sends the whole blob.
    pub fn blob(&mut self, digest: &Digest, offset: u64) -> Result<Response, RegistryError> {
        let headers = if offset > 0 {
            vec![("Range", format!("bytes={offset}-"))]
        } else {
            Vec::new()
        };
        let what = format!("blob {digest}");
        self.get(&format!("blobs/{digest}"), &headers, &what)
    }

    pub fn read_err(&self, what: &str, e: std::io::Error) -> RegistryError {
        RegistryError::Read {
            registry: self.registry.clone(),
            what: what.to_string(),
            reason: e.to_string(),
        }
    }

    /// GET `/v2/<repository>/<tail>`, answering one authentication challenge.
    fn get(
        &mut self,
        tail: &str,
        headers: &[(&'static str, String)],
        what: &str,
    ) -> Result<Response, RegistryError> {
        let url = self.base.join(&format!("/v2/{}/{tail}", self.repository))?;
        let mut answered = false;
        loop {
            let mut req = Request::get(url.clone());
            req.headers.extend(headers.iter().cloned());
            if let Some(a) = &self.authorization {
                req = req.header("Authorization", a.clone());
            }
            let resp = self.transport.send(req)?;
            if resp.status == 401 && !answered {
                answered = true;
                let challenge = resp
                    .header("www-authenticate")
                    .and_then(auth::parse_challenge);
                if let Some(c) = challenge {
                    self.answer(c)?;
                    continue;
                }
            }
            if resp.status == 416 || (200..300).contains(&resp.status) {
                return Ok(resp);
            }
            return Err(self.failure(resp, what));
        }
    }

    fn answer(&mut self, challenge: Challenge) -> Result<(), RegistryError> {
        match challenge {
            Challenge::Basic => match &self.credentials {
                Some(c) => self.authorization = Some(c.basic()),
                None => {
                    return Err(RegistryError::Unauthorized {
                        registry: self.registry.clone(),
                        message:
                            "the registry asks for a user name and password; none is configured"
                                .into(),
                    });
                }
            },
            Challenge::Bearer {
                realm,
                service,
                scope,
            } => {
                let scope = scope.unwrap_or_else(|| format!("repository:{}:pull", self.repository));
                let token = auth::fetch_token(
                    &self.transport,
                    &realm,
                    service.as_deref(),
                    &scope,
                    self.credentials.as_ref(),
                )?;
                self.authorization = Some(token);
            }
        }
        Ok(())
    }

    /// A typed error with the registry's own message from its JSON error body.
    fn failure(&self, resp: Response, what: &str) -> RegistryError {
        let status = resp.status;
        let message = resp
            .read_small(MAX_ERROR_BODY)
            .ok()
            .and_then(|b| error_message(&b).or_else(|| text_line(&b)))
            .unwrap_or_else(|| "no message".to_string());
        let registry = self.registry.clone();
        let what = what.to_string();
        match status {
            401 | 403 => RegistryError::Unauthorized { registry, message },
            404 => RegistryError::NotFound {
                registry,
                what,
                message,
            },
            _ => RegistryError::Status {
                registry,
                what,
                status,
                message,
            },
        }
    }
}

/// `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}` ->
/// "manifest unknown (MANIFEST_UNKNOWN)"; several errors joined with "; ".
pub fn error_message(body: &[u8]) -> Option<String> {
    let doc = oci::parse(body, "error").ok()?;
    let Value::Seq(errors) = &doc.get("errors")?.value else {
        return None;
    };
    let text = |n: Option<&crate::spec::manifest::Node>| match n.map(|n| &n.value) {
        Some(Value::Str(s)) => Some(s.chars().take(300).collect::<String>()),
        _ => None,
    };
    let parts: Vec<String> = errors
        .iter()
        .take(5)
        .filter_map(|e| match (text(e.get("message")), text(e.get("code"))) {
            (Some(m), Some(c)) => Some(format!("{m} ({c})")),
            (Some(m), None) => Some(m),
            (None, c) => c,
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// The first line of a short plain-text body (a proxy's or a web server's message).
fn text_line(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let line = text.lines().find(|l| !l.trim().is_empty())?.trim();
    let plain = line.len() <= 200 && !line.starts_with('<') && !line.chars().any(char::is_control);
    plain.then(|| line.to_string())
}

/// The media type of a manifest served as plain JSON: its `mediaType`, else by shape.
fn sniff_media_type(bytes: &[u8]) -> String {
    let Ok(doc) = oci::parse(bytes, "manifest") else {
        return String::new();
    };
    if let Some(Value::Str(t)) = doc.get("mediaType").map(|n| &n.value) {
        return t.clone();
    }
    if doc.get("manifests").is_some() {
        oci::MEDIA_OCI_INDEX.into()
    } else if doc.get("config").is_some() {
        oci::MEDIA_OCI_MANIFEST.into()
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_error_messages() {
        let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}"#;
        assert_eq!(
            error_message(body).unwrap(),
            "manifest unknown (MANIFEST_UNKNOWN)"
        );
        let two = br#"{"errors":[{"code":"DENIED"},{"message":"m"}]}"#;
        assert_eq!(error_message(two).unwrap(), "DENIED; m");
        assert_eq!(error_message(b"<html>"), None);
        let go = b"Client sent an HTTP request to an HTTPS server.\n";
        assert_eq!(
            text_line(go).unwrap(),
            "Client sent an HTTP request to an HTTPS server."
        );
        assert_eq!(text_line(b"<html><body>x"), None);
        assert_eq!(error_message(br#"{"errors":[]}"#), None);
    }

    #[test]
    fn media_types_by_shape() {
        assert_eq!(
            sniff_media_type(br#"{"manifests":[]}"#),
            oci::MEDIA_OCI_INDEX
        );
        assert_eq!(
            sniff_media_type(br#"{"config":{}}"#),
            oci::MEDIA_OCI_MANIFEST
        );
        assert_eq!(
            sniff_media_type(
                br#"{"mediaType":"application/vnd.docker.distribution.manifest.v2+json"}"#
            ),
            MEDIA_DOCKER_MANIFEST
        );
    }
}
