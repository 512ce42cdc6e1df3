//! TLS at the gateway: HTTPS with HTTP/1.1 and HTTP/2 by ALPN, the certificate reloaded
//! from its files without dropping connections ([`reload`]), and the read deadlines on the
//! TLS listener ([`deadlines`]).

mod deadlines;
mod reload;

use std::path::PathBuf;
use std::sync::Arc;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use service_kit::configuration::TlsSettings;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::helpers::{TestApp, spawn_app_with};

/// A private CA made for one test, and the files of the gateway's certificate.
struct Pki {
    ca: Issuer<'static, KeyPair>,
    roots: Arc<rustls::RootCertStore>,
    certificate_file: PathBuf,
    key_file: PathBuf,
}

impl Pki {
    fn new() -> Self {
        let ca_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = params.self_signed(&ca_key).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca_cert.der().clone()).unwrap();
        let dir =
            std::env::temp_dir().join(format!("gateway-tls-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let pki = Self {
            ca: Issuer::new(params, ca_key),
            roots: Arc::new(roots),
            certificate_file: dir.join("cert.pem"),
            key_file: dir.join("key.pem"),
        };
        pki.issue();
        pki
    }

    /// Writes a new certificate for 127.0.0.1 and its key; returns the certificate.
    fn issue(&self) -> CertificateDer<'static> {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&key, &self.ca)
            .unwrap();
        std::fs::write(&self.key_file, key.serialize_pem()).unwrap();
        std::fs::write(&self.certificate_file, cert.pem()).unwrap();
        cert.der().clone()
    }

    fn settings(&self) -> TlsSettings {
        TlsSettings {
            certificate_file: self.certificate_file.clone(),
            key_file: self.key_file.clone(),
            reload_interval_seconds: 1,
            http2: true,
        }
    }

    /// A TLS connection to `address` (host:port) offering `alpn`.
    async fn connect(&self, address: &str, alpn: &[&[u8]]) -> TlsStream<TcpStream> {
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(Arc::clone(&self.roots))
        .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = TcpStream::connect(address).await.unwrap();
        let name = ServerName::try_from("127.0.0.1").unwrap();
        connector.connect(name, tcp).await.unwrap()
    }
}

fn socket(app: &TestApp) -> &str {
    app.address.trim_start_matches("http://")
}

async fn spawn_tls_app(
    pki: &Pki,
    adjust: impl FnOnce(&mut gateway::configuration::Settings),
) -> TestApp {
    let tls = pki.settings();
    spawn_app_with(move |s| {
        s.application.tls = Some(tls);
        adjust(s);
    })
    .await
}

/// The protocol the server chose and the certificate it presented.
fn negotiated(tls: &TlsStream<TcpStream>) -> (Option<Vec<u8>>, CertificateDer<'static>) {
    let session = tls.get_ref().1;
    let cert = session.peer_certificates().unwrap()[0].clone().into_owned();
    (session.alpn_protocol().map(<[u8]>::to_vec), cert)
}

type Body = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;

/// Sends requests on one connection, over HTTP/2 or HTTP/1.1 as negotiated.
enum Client {
    H1(hyper::client::conn::http1::SendRequest<Body>),
    H2(hyper::client::conn::http2::SendRequest<Body>),
}

impl Client {
    async fn over(tls: TlsStream<TcpStream>) -> Self {
        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
        let io = TokioIo::new(tls);
        if h2 {
            let (send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                .await
                .unwrap();
            tokio::spawn(conn);
            Self::H2(send)
        } else {
            let (send, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
            tokio::spawn(conn);
            Self::H1(send)
        }
    }

    async fn send(&mut self, request: http::Request<Body>) -> (u16, hyper::HeaderMap, Bytes) {
        let response = match self {
            Self::H1(send) => send.send_request(request).await,
            Self::H2(send) => send.send_request(request).await,
        }
        .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, headers, body)
    }

    async fn get(&mut self, path: &str, token: Option<&str>) -> (u16, hyper::HeaderMap, Bytes) {
        let uri = if matches!(self, Self::H2(_)) {
            format!("https://127.0.0.1{path}")
        } else {
            path.to_owned()
        };
        let mut request = http::Request::get(uri).header("host", "127.0.0.1");
        if let Some(token) = token {
            request = request.header("x-access-token", token);
        }
        self.send(request.body(Empty::new().boxed()).unwrap()).await
    }
}

#[tokio::test]
async fn https_serves_http2_and_http1_by_alpn_with_the_same_answers() {
    let pki = Pki::new();
    let app = spawn_tls_app(&pki, |_| {}).await;
    let token = app.sign(&app.claims("alice"));
    // What the client offers, and what the gateway must pick.
    type Case = (&'static [&'static [u8]], Option<&'static [u8]>);
    let cases: [Case; 3] = [
        (&[b"h2", b"http/1.1"], Some(b"h2")),
        (&[b"http/1.1"], Some(b"http/1.1")),
        (&[], None),
    ];
    for (offered, chosen) in cases {
        let tls = pki.connect(socket(&app), offered).await;
        assert_eq!(negotiated(&tls).0.as_deref(), chosen, "offered {offered:?}");
        let mut client = Client::over(tls).await;
        let (status, _, body) = client.get("/", None).await;
        assert_eq!(status, 200, "offered {offered:?}");
        assert_eq!(
            body, r#"{"message":"Welcome to the Flask JWT API!"}"#,
            "offered {offered:?}"
        );
        // Several requests on the one connection, each proxied with the client's scheme.
        for _ in 0..3 {
            let (status, _, body) = client.get("/protected", Some(&token)).await;
            assert_eq!(status, 200, "offered {offered:?}");
            let echoed: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(echoed["headers"]["x-forwarded-proto"], "https");
            assert_eq!(echoed["headers"]["x-forwarded-host"], "127.0.0.1");
            assert_eq!(echoed["headers"]["x-auth-user"], "alice");
        }
        let (status, headers, body) = client.get("/protected", None).await;
        assert_eq!(status, 403, "offered {offered:?}");
        assert!(
            headers["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
        assert_eq!(body, r#"{"message":"Token is missing!"}"#);
    }
}

#[tokio::test]
async fn plain_http_is_not_answered_on_the_tls_listener() {
    let pki = Pki::new();
    let app = spawn_tls_app(&pki, |_| {}).await;
    let answer = app.client.get(app.url("/")).send().await;
    assert!(answer.is_err(), "plain HTTP got an answer: {answer:?}");
    let mut client = Client::over(pki.connect(socket(&app), &[b"h2"]).await).await;
    assert_eq!(client.get("/", None).await.0, 200);
}
