//! Optional TLS (rustls, ring provider), for deployments without a terminating proxy:
//! the certificate chain and private key are read from PEM files once, at start.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file that does not read.
    #[error("reading {what} {path}: {source}")]
    Pem {
        /// `certificate` or `key`.
        what: &'static str,
        /// The file's path.
        path: String,
        /// What the PEM reader said.
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// A certificate file with no certificate in it (its path).
    #[error("{0} holds no certificate")]
    NoCertificate(String),
    /// rustls refused the certificate and key (a mismatch, an unsupported key).
    #[error("the certificate and key do not make a TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// A server configuration from a PEM certificate chain (leaf first) and its PEM private key
/// (PKCS#8, PKCS#1 or SEC1), speaking HTTP/1.1 by ALPN.
pub fn config(certificates: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    fn pem(what: &'static str, path: &Path) -> impl Fn(rustls::pki_types::pem::Error) -> TlsError {
        let path = path.display().to_string();
        move |source| TlsError::Pem {
            what,
            path: path.clone(),
            source,
        }
    }
    let chain = CertificateDer::pem_file_iter(certificates)
        .map_err(pem("the certificates", certificates))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem("the certificates", certificates))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(certificates.display().to_string()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(pem("the private key", key))?;
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
