//! A TLS front for an HTTP server: `https://localhost:PORT` with a certificate from a fresh CA
//! (as behind a TLS-inspecting corporate proxy), forwarding each connection to `upstream` and
//! counting TLS handshakes, so tests and benchmarks can tell connections reused from new ones.
//!
//! Self-contained (rcgen, rustls, tokio-rustls and tokio only): `examples/tls_front.rs`
//! includes this file as it is.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct TlsFront {
    /// The CA that signed the front's certificate, for clients to trust.
    pub ca_pem: String,
    pub port: u16,
    handshakes: Arc<AtomicU64>,
    _runtime: tokio::runtime::Runtime,
}

impl TlsFront {
    /// `https://localhost:PORT`: the certificate is for `localhost`.
    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    /// TLS handshakes completed so far: one per connection a client opened.
    pub fn handshakes(&self) -> u64 {
        self.handshakes.load(Ordering::SeqCst)
    }
}

/// A fresh CA and a `localhost` certificate it signed: the CA's PEM and the server's config.
fn certificates() -> (String, rustls::ServerConfig) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "hsm test corporate CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(leaf_key.serialize_der());
    // Its own provider, not the process default: the file must work in any process.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], key.into())
        .unwrap();
    (ca.pem(), config)
}

/// Listens on 127.0.0.1 (a port of its own) on a runtime of its own, until dropped.
pub fn tls_front(upstream: SocketAddr) -> TlsFront {
    let (ca_pem, config) = certificates();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let handshakes = Arc::new(AtomicU64::new(0));
    let counted = handshakes.clone();
    runtime.spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, counted) = (acceptor.clone(), counted.clone());
            tokio::spawn(async move {
                // No Nagle delays on either leg: a benchmark measures the server, not them.
                let _ = tcp.set_nodelay(true);
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                counted.fetch_add(1, Ordering::SeqCst);
                if let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await {
                    let _ = up.set_nodelay(true);
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                }
            });
        }
    });
    TlsFront {
        ca_pem,
        port,
        handshakes,
        _runtime: runtime,
    }
}
