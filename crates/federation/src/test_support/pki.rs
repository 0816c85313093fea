//! A throwaway CA and a server certificate for every name the tests use.

use std::{path::PathBuf, sync::Arc};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Names (and IPs) on the test server certificate.
const SERVER_NAMES: &[&str] = &[
    "example.test",
    "delegated.test",
    "target.test",
    "origin.test",
    "notary.test",
    "wk-ip.test",
    "wk-port.test",
    "wk-srv.test",
    "wk-legacy.test",
    "wk-default.test",
    "wk-bad.test",
    "wk-redirect.test",
    "localhost",
    "127.0.0.1",
    "::1",
];

/// A CA (written to a PEM file for the client) and a server config presenting a certificate it issued.
#[derive(Debug)]
pub(crate) struct TestPki {
    ca_file: PathBuf,
    server_config: Arc<rustls::ServerConfig>,
}

impl TestPki {
    /// Generates a fresh CA and server certificate; the server offers HTTP/2 and HTTP/1.1.
    pub(crate) fn new() -> Self {
        Self::with_alpn(&[b"h2", b"http/1.1"])
    }

    /// Like [`TestPki::new`], with a server offering only the given ALPN protocols.
    pub(crate) fn with_alpn(protocols: &[&[u8]]) -> Self {
        crate::transport::tls::install_crypto_provider();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);

        let names: Vec<String> = SERVER_NAMES.iter().map(|s| (*s).to_owned()).collect();
        let server_key = KeyPair::generate().unwrap();
        let server_cert = CertificateParams::new(names).unwrap().signed_by(&server_key, &issuer).unwrap();

        let ca_file = super::temp_path("ca.pem");
        std::fs::write(&ca_file, ca_cert.pem()).unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
        let chain = vec![CertificateDer::from(server_cert.der().to_vec())];
        let mut config =
            rustls::ServerConfig::builder().with_no_client_auth().with_single_cert(chain, key).unwrap();
        config.alpn_protocols = protocols.iter().map(|p| p.to_vec()).collect();
        Self { ca_file, server_config: Arc::new(config) }
    }

    /// The CA certificate as a PEM file.
    pub(crate) fn ca_file(&self) -> PathBuf {
        self.ca_file.clone()
    }

    /// The server side TLS configuration.
    pub(crate) fn server_config(&self) -> Arc<rustls::ServerConfig> {
        self.server_config.clone()
    }
}
