//! The one endpoint Synapse needs from us to accept our requests and join: our signed key document at
//! `https://localhost:<port>/_matrix/key/v2/server`, over TLS with the test bed's certificate.

use std::{path::Path, sync::Arc};

use axum::{Json, Router, routing::get};
use palisade_matrix::{SigningKey, server_keys::signed_document};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, server::TlsStream};

/// Serves our key document on 127.0.0.1:`port` until the test ends.
pub(crate) async fn start(port: u16, server_name: &str, key: &SigningKey, cert: &Path, private_key: &Path) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(cert).expect("cert file").map(|c| c.expect("cert")).collect();
    let private_key = PrivateKeyDer::from_pem_file(private_key).expect("key file");
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .expect("tls");
    let document = signed_document(server_name, key, &[], 4_000_000_000_000);
    let router = Router::new().route("/_matrix/key/v2/server", get(move || async move { Json(document) }));
    let tcp = TcpListener::bind(("127.0.0.1", port)).await.expect("reserved port is free");
    let listener = TlsListener { tcp, acceptor: TlsAcceptor::from(Arc::new(config)) };
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
}

/// Accepts TCP connections and completes TLS; failed handshakes are skipped.
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, peer)) = self.tcp.accept().await else { continue };
            if let Ok(tls) = self.acceptor.accept(stream).await {
                return (tls, peer);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}
