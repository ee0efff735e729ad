//! TLS client configurations: rustls with the ring provider, trusting the system CA
//! bundle and, per registry, an extra CA file (PEM).
//!
//! No compiled-in roots: a device has `/etc/ssl/certs/ca-certificates.crt` (Debian's
//! ca-certificates), and a private registry comes with its own CA file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};

/// Debian's (and Raspberry Pi OS's) bundle of trusted CAs.
pub const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Where distributions keep their CA bundle, Debian's first (as Go's crypto/x509 and
/// OpenSSL builds of each distribution look).
const BUNDLES: &[&str] = &[
    SYSTEM_BUNDLE,
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
];

/// The system's trust store as OpenSSL-based tools find it: `$SSL_CERT_FILE` when set,
/// else the first bundle of the usual places that exists (else Debian's path, which
/// then fails with its name in the error).
pub fn system_bundle() -> PathBuf {
    system_bundle_in(std::env::var_os("SSL_CERT_FILE"), |p| p.exists())
}

fn system_bundle_in(env: Option<std::ffi::OsString>, exists: impl Fn(&Path) -> bool) -> PathBuf {
    if let Some(file) = env.filter(|f| !f.is_empty()) {
        return PathBuf::from(file);
    }
    (BUNDLES.iter().map(Path::new))
        .find(|p| exists(p))
        .unwrap_or(Path::new(SYSTEM_BUNDLE))
        .to_path_buf()
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the CA file {path}: {reason}")]
    ReadCa { path: PathBuf, reason: String },
    #[error("no trusted CA certificates: {bundle} is missing and no CA file is configured")]
    NoRoots { bundle: PathBuf },
    #[error("cannot build the tls configuration: {0}")]
    Config(rustls::Error),
}

/// A client configuration trusting `bundle` (when it exists) and `extra` (must exist).
pub fn client_config(bundle: &Path, extra: Option<&Path>) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    if bundle.exists() {
        add_pem(&mut roots, bundle)?;
    }
    if let Some(extra) = extra {
        add_pem(&mut roots, extra)?;
    }
    if roots.is_empty() {
        return Err(TlsError::NoRoots {
            bundle: bundle.to_path_buf(),
        });
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Adds every certificate of a PEM file; unparsable certificates in a system bundle are
/// skipped (as OpenSSL does), but a file without any usable one is an error.
pub fn add_pem(roots: &mut RootCertStore, path: &Path) -> Result<(), TlsError> {
    let err = |reason: String| TlsError::ReadCa {
        path: path.to_path_buf(),
        reason,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| err(e.to_string()))?;
    let (added, _ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(err("no certificate in it".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_bundle_is_found_as_openssl_finds_it() {
        let none = |_: &Path| false;
        let env = Some("/tmp/my-ca.pem".into());
        assert_eq!(system_bundle_in(env, none), Path::new("/tmp/my-ca.pem"));
        assert_eq!(
            system_bundle_in(Some("".into()), none),
            Path::new(SYSTEM_BUNDLE)
        );
        let fedora = |p: &Path| p == Path::new("/etc/pki/tls/certs/ca-bundle.crt");
        assert_eq!(
            system_bundle_in(None, fedora),
            Path::new("/etc/pki/tls/certs/ca-bundle.crt")
        );
        let all = |_: &Path| true;
        assert_eq!(system_bundle_in(None, all), Path::new(SYSTEM_BUNDLE));
    }

    #[test]
    fn refuses_missing_and_empty_files() {
        let dir = std::env::temp_dir().join(format!("pealet-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let missing = dir.join("missing.pem");
        assert!(matches!(
            client_config(&missing, None),
            Err(TlsError::NoRoots { .. })
        ));
        assert!(matches!(
            client_config(&missing, Some(&empty)),
            Err(TlsError::ReadCa { .. })
        ));
        assert!(client_config(&missing, Some(&missing)).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
