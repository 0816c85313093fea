//! Serving HTTPS directly (`listen.tls_certificate` + `listen.tls_private_key`).
//!
//! Synapse only federates over HTTPS (`reference/synapse-interop.md` §3.1), so without a reverse proxy the
//! policy server must terminate TLS itself. [`TlsListener`] plugs into `axum::serve`, which keeps graceful
//! shutdown and lets hyper pick HTTP/1.1 or HTTP/2 per connection from what ALPN negotiated.
//!
//! Handshakes run in their own tasks with a deadline: a client that opens a connection and never finishes the
//! handshake must not hold up everyone else's accept.

use std::{io, net::SocketAddr, path::Path, sync::Arc, time::Duration};

use axum::serve::Listener;
use rustls::{
    ServerConfig,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    sync::{Semaphore, mpsc},
};
use tokio_rustls::{TlsAcceptor, server::TlsStream};
use tracing::debug;

/// How long a client has to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; more connections wait in the kernel's backlog.
const MAX_PENDING_HANDSHAKES: usize = 256;
/// Finished handshakes waiting for hyper to take them.
const ACCEPTED_QUEUE: usize = 64;

/// Why the certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    /// The certificate file could not be read or holds no certificate.
    #[error("listen.tls_certificate {path}: {reason}")]
    Certificate {
        /// The configured file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The key file could not be read or holds no private key.
    #[error("listen.tls_private_key {path}: {reason}")]
    PrivateKey {
        /// The configured file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// rustls refused the pair (e.g. the key does not match the certificate).
    #[error("TLS certificate and key: {0}")]
    Pair(String),
}

/// Loads a PEM certificate chain and private key (PKCS#8, PKCS#1 or SEC1) into a server configuration offering
/// HTTP/2 and HTTP/1.1.
pub fn load_server_config(
    certificate: &Path,
    private_key: &Path,
) -> Result<Arc<ServerConfig>, TlsConfigError> {
    let certificate_error =
        |reason: String| TlsConfigError::Certificate { path: certificate.display().to_string(), reason };
    let chain = CertificateDer::pem_file_iter(certificate)
        .map_err(|e| certificate_error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| certificate_error(e.to_string()))?;
    if chain.is_empty() {
        return Err(certificate_error("no PEM certificate found".to_owned()));
    }
    let key = PrivateKeyDer::from_pem_file(private_key).map_err(|e| TlsConfigError::PrivateKey {
        path: private_key.display().to_string(),
        reason: e.to_string(),
    })?;
    // An explicit provider instead of the process-wide default: nothing else in the process has to install one,
    // and the federation client's own choice cannot interfere.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsConfigError::Pair(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsConfigError::Pair(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// An `axum::serve` listener that hands out TLS streams whose handshake has completed, over the connections of
/// an inner listener (a TCP listener, or one that counts its connections).
#[derive(Debug)]
pub struct TlsListener<Io> {
    accepted: mpsc::Receiver<(TlsStream<Io>, SocketAddr)>,
    local_addr: SocketAddr,
}

impl<Io: AsyncRead + AsyncWrite + Unpin + Send + 'static> TlsListener<Io> {
    /// Starts accepting on `inner`; handshakes run in background tasks until the listener is dropped.
    pub fn new<L>(inner: L, config: Arc<ServerConfig>) -> io::Result<Self>
    where
        L: Listener<Io = Io, Addr = SocketAddr>,
    {
        let local_addr = inner.local_addr()?;
        let (sender, accepted) = mpsc::channel(ACCEPTED_QUEUE);
        tokio::spawn(accept_loop(inner, TlsAcceptor::from(config), sender));
        Ok(Self { accepted, local_addr })
    }
}

impl<Io: AsyncRead + AsyncWrite + Unpin + Send + 'static> Listener for TlsListener<Io> {
    type Io = TlsStream<Io>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.accepted.recv().await {
            Some(connection) => connection,
            // The accept loop only ends when this listener is dropped, so this is not reached while serving;
            // waiting forever is the listener contract for "no more connections".
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}

/// Accepts connections and runs each handshake in its own task, until the receiving side is gone. (The inner
/// listener deals with accept errors: a TCP listener pauses after one, so that connections can close instead of
/// the loop spinning while file descriptors run out.)
async fn accept_loop<L: Listener<Addr = SocketAddr>>(
    mut inner: L,
    acceptor: TlsAcceptor,
    sender: mpsc::Sender<(TlsStream<L::Io>, SocketAddr)>,
) where
    L::Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let pending = Arc::new(Semaphore::new(MAX_PENDING_HANDSHAKES));
    loop {
        let Ok(permit) = pending.clone().acquire_owned().await else { return };
        let (stream, peer) = tokio::select! {
            () = sender.closed() => return,
            accepted = inner.accept() => accepted,
        };
        let acceptor = acceptor.clone();
        let sender = sender.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let _ = sender.send((tls, peer)).await;
                }
                Ok(Err(e)) => debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;
    use crate::http::{router, test_support};

    /// A fresh CA and a leaf for `localhost` and 127.0.0.1, written as PEM files: (CA cert, leaf chain, leaf key).
    fn pki(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
        let paths = (dir.join("ca.pem"), dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&paths.0, ca_cert.pem()).unwrap();
        std::fs::write(&paths.1, leaf.pem()).unwrap();
        std::fs::write(&paths.2, leaf_key.serialize_pem()).unwrap();
        paths
    }

    /// The real router behind [`TlsListener`] on loopback answers HTTPS over HTTP/2 and HTTP/1.1, to a client that
    /// trusts only our CA.
    #[tokio::test]
    async fn serves_the_router_over_tls_with_alpn() {
        let dir = tempfile::tempdir().unwrap();
        let (ca, cert, key) = pki(dir.path());
        let config = load_server_config(&cert, &key).unwrap();
        assert_eq!(config.alpn_protocols, [b"h2".to_vec(), b"http/1.1".to_vec()]);
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let listener = TlsListener::new(tcp, config).unwrap();
        let address = axum::serve::Listener::local_addr(&listener).unwrap();
        let app = router(test_support::state().await);
        let server = tokio::spawn(async move { axum::serve(listener, app).await });

        // A client that opens a connection and never speaks TLS must not block others.
        let _silent = TcpStream::connect(address).await.unwrap();

        let _ = rustls::crypto::ring::default_provider().install_default();
        let ca = reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap();
        let url = format!("https://localhost:{}/_matrix/federation/v1/version", address.port());
        for (http1_only, expected) in [(false, reqwest::Version::HTTP_2), (true, reqwest::Version::HTTP_11)] {
            let mut builder = reqwest::Client::builder()
                .tls_certs_only([ca.clone()])
                .resolve("localhost", address)
                .timeout(Duration::from_secs(5));
            if http1_only {
                builder = builder.http1_only();
            }
            let response = builder.build().unwrap().get(&url).send().await.unwrap();
            assert_eq!(response.status(), 200);
            assert_eq!(response.version(), expected);
            let body: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
            assert_eq!(body["server"]["name"], "Palisade");
        }

        // Without the CA the handshake fails: the certificate really is checked.
        let untrusting = reqwest::Client::builder()
            .tls_certs_only(Vec::new())
            .resolve("localhost", address)
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        assert!(untrusting.get(&url).send().await.is_err());
        server.abort();
    }

    #[test]
    fn a_key_that_does_not_match_the_certificate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (_, cert, _) = pki(dir.path());
        let other = dir.path().join("other.pem");
        std::fs::write(&other, KeyPair::generate().unwrap().serialize_pem()).unwrap();
        assert!(load_server_config(&cert, &other).is_err());
    }

    #[test]
    fn missing_or_empty_files_name_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let err = load_server_config(&missing, &missing).unwrap_err().to_string();
        assert!(err.starts_with("listen.tls_certificate"), "{err}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let err = load_server_config(&empty, &empty).unwrap_err().to_string();
        assert!(err.contains("no PEM certificate found"), "{err}");
    }
}
