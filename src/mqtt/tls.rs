//! TLS for `mqtts://`: rustls with the ring provider, trusting the CA file given, or else
//! the system's trust store (found as OpenSSL finds it, `$SSL_CERT_FILE` included, so a
//! public cloud broker works with no extra files), and presenting a device certificate
//! and key for mutual TLS.
//!
//! Only PEM files are read, each at most [`MAX_PEM`] bytes. The key never comes from a
//! command line or the environment, only from `tls.key_file`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

use super::MqttError;

/// Largest PEM file read.
pub const MAX_PEM: u64 = 1024 * 1024;

/// The rustls client configuration for these files.
pub fn client_config(
    ca_file: Option<&Path>,
    cert_file: Option<&Path>,
    key_file: Option<&Path>,
) -> Result<Arc<ClientConfig>, MqttError> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        // The CA file narrows trust to itself: every certificate in it must parse.
        Some(ca) => {
            for cert in certificates(ca)? {
                roots.add(cert).map_err(|e| bad(ca, e.to_string()))?;
            }
        }
        // A system bundle may hold certificates rustls cannot use: skipped, as OpenSSL
        // skips them.
        None => {
            let bundle = crate::images::registry::tls::system_bundle();
            crate::images::registry::tls::add_pem(&mut roots, &bundle)
                .map_err(|e| MqttError::Tls(e.to_string()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| MqttError::Tls(e.to_string()))?
        .with_root_certificates(roots);
    let config = match (cert_file, key_file) {
        (None, None) => builder.with_no_client_auth(),
        (Some(cert), Some(key)) => builder
            .with_client_auth_cert(certificates(cert)?, private_key(key)?)
            .map_err(|e| MqttError::Certificate {
                path: key.to_path_buf(),
                message: e.to_string(),
            })?,
        (Some(_), None) | (None, Some(_)) => return Err(MqttError::CertWithoutKey),
    };
    Ok(Arc::new(config))
}

fn read_pem(path: &Path) -> Result<Vec<u8>, MqttError> {
    let mut buf = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_PEM + 1).read_to_end(&mut buf))
        .map_err(|e| MqttError::ReadFile {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    if buf.len() as u64 > MAX_PEM {
        return Err(bad(path, format!("larger than {MAX_PEM} bytes")));
    }
    Ok(buf)
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, MqttError> {
    let pem = read_pem(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(path, e.to_string()))?;
    if certs.is_empty() {
        return Err(bad(path, "no PEM certificate in it".into()));
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, MqttError> {
    let pem = read_pem(path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| bad(path, e.to_string()))
}

fn bad(path: &Path, message: String) -> MqttError {
    MqttError::Certificate {
        path: PathBuf::from(path),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str, body: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pealet-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p
    }

    #[test]
    fn bad_files_are_named_in_the_error() {
        let empty = temp("empty.pem", b"");
        let e = client_config(Some(&empty), None, None).unwrap_err();
        assert!(
            e.to_string().contains("empty.pem: no PEM certificate"),
            "{e}"
        );
        let missing = Path::new("/nonexistent/ca.pem");
        let e = client_config(Some(missing), None, None).unwrap_err();
        assert!(
            e.to_string().starts_with("read /nonexistent/ca.pem:"),
            "{e}"
        );
        let e = client_config(None, Some(&empty), None).unwrap_err();
        assert!(
            matches!(e, MqttError::CertWithoutKey | MqttError::ReadFile { .. }),
            "{e}"
        );
        let garbage = temp("garbage.pem", b"-----BEGIN CERTIFICATE-----\n!!\n");
        assert!(client_config(Some(&garbage), None, None).is_err());
    }
}
