//! TLS at the gateway: HTTPS with HTTP/1.1 and HTTP/2 by ALPN, the certificate reloaded
//! from its files without dropping connections, and the read deadlines on the TLS listener.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gateway::startup::Application;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Bytes, Frame};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use service_kit::configuration::TlsSettings;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
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

#[tokio::test]
async fn a_changed_certificate_reaches_new_connections_while_open_ones_go_on() {
    let pki = Pki::new();
    let app = spawn_tls_app(&pki, |_| {}).await;
    let first = pki.connect(socket(&app), &[b"h2"]).await;
    let (_, original) = negotiated(&first);
    let mut open_h2 = Client::over(first).await;
    let mut open_h1 = Client::over(pki.connect(socket(&app), &[b"http/1.1"]).await).await;
    assert_eq!(open_h2.get("/", None).await.0, 200);
    assert_eq!(open_h1.get("/", None).await.0, 200);

    // A half-written certificate is not taken: the one in use stays.
    std::fs::write(
        &pki.certificate_file,
        "-----BEGIN CERTIFICATE-----\nnot one",
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_, presented) = negotiated(&pki.connect(socket(&app), &[b"h2"]).await);
    assert_eq!(
        presented, original,
        "a broken file replaced the certificate"
    );

    let renewed = pki.issue();
    assert_ne!(renewed, original);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, presented) = negotiated(&pki.connect(socket(&app), &[b"h2"]).await);
        if presented == renewed {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was never presented"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The connections opened before the reload are served on.
    assert_eq!(open_h2.get("/", None).await.0, 200);
    assert_eq!(open_h1.get("/", None).await.0, 200);
}

#[tokio::test]
async fn certificate_files_that_cannot_be_used_stop_start_up_naming_the_key() {
    let pki = Pki::new();
    let other = Pki::new();
    let missing = Path::new("/nonexistent/cert.pem").to_path_buf();
    let cases = [
        (
            "application.tls.certificate_file",
            missing.clone(),
            pki.key_file.clone(),
        ),
        (
            "application.tls.key_file",
            pki.certificate_file.clone(),
            missing,
        ),
        // Another certificate's key.
        (
            "application.tls.key_file",
            pki.certificate_file.clone(),
            other.key_file.clone(),
        ),
    ];
    for (key, certificate_file, key_file) in cases {
        let mut settings = crate::helpers::spawn_settings();
        settings.application.tls = Some(TlsSettings {
            certificate_file,
            key_file,
            ..pki.settings()
        });
        // What `check-config` runs, and start-up.
        let error = format!("{:#}", settings.validate().unwrap_err());
        assert!(error.contains(key), "{key}: {error}");
        let error = format!("{:#}", Application::build(settings).unwrap_err());
        assert!(error.contains(key), "{key}: {error}");
    }
}

#[tokio::test]
async fn sighup_reloads_the_certificate_of_a_running_gateway() {
    let pki = Pki::new();
    let (certificate, key) = (
        pki.certificate_file.to_str().unwrap(),
        pki.key_file.to_str().unwrap(),
    );
    let (mut child, lines) = crate::helpers::start_gateway_process(&[
        ("GATEWAY__APPLICATION__TLS__CERTIFICATE_FILE", certificate),
        ("GATEWAY__APPLICATION__TLS__KEY_FILE", key),
        // SIGHUP only: a changed file alone is not reloaded.
        ("GATEWAY__APPLICATION__TLS__RELOAD_INTERVAL_SECONDS", "0"),
    ]);
    let address = format!("127.0.0.1:{}", crate::helpers::listening_port(&lines));
    let (_, original) = negotiated(&pki.connect(&address, &[b"h2"]).await);
    let mut open = Client::over(pki.connect(&address, &[b"h2"]).await).await;
    let renewed = pki.issue();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        negotiated(&pki.connect(&address, &[b"h2"]).await).1,
        original
    );

    let hup = std::process::Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    while negotiated(&pki.connect(&address, &[b"h2"]).await).1 != renewed {
        assert!(
            Instant::now() < deadline,
            "SIGHUP did not reload the certificate"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(open.get("/", None).await.0, 200);
    assert!(
        child.try_wait().unwrap().is_none(),
        "SIGHUP stopped the gateway"
    );
    child.kill().unwrap();
    let reloaded = lines
        .try_iter()
        .any(|line| line.contains("TLS certificate reloaded"));
    assert!(reloaded, "the reload was not logged");
}

/// Reads until the server closes the connection; how long that took.
async fn time_to_close(mut io: impl tokio::io::AsyncRead + Unpin) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    let read = async {
        loop {
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("the connection was not closed");
    started.elapsed()
}

#[tokio::test]
async fn read_deadlines_hold_on_the_tls_listener_while_others_are_served() {
    let pki = Pki::new();
    let app = spawn_tls_app(&pki, |s| {
        s.application.header_timeout_ms = 500;
        s.application.keep_alive_timeout_ms = 800;
    })
    .await;
    let mut normal = Client::over(pki.connect(socket(&app), &[b"h2"]).await).await;

    // No ClientHello at all.
    let silent = TcpStream::connect(socket(&app)).await.unwrap();
    // A handshake, then half a request's headers.
    let mut partial = pki.connect(socket(&app), &[b"http/1.1"]).await;
    partial
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // HTTP/2 agreed, then not a single request.
    let mut idle_h2 = pki.connect(socket(&app), &[b"h2"]).await;
    idle_h2
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    let closes = tokio::spawn(async move {
        let (a, b, c) = tokio::join!(
            time_to_close(silent),
            time_to_close(partial),
            time_to_close(idle_h2)
        );
        [a, b, c]
    });
    for _ in 0..10 {
        assert_eq!(normal.get("/", None).await.0, 200);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (what, took) in ["silent", "partial headers", "idle HTTP/2"]
        .iter()
        .zip(closes.await.unwrap())
    {
        assert!(took < Duration::from_secs(3), "{what} held on {took:?}");
    }
    assert_eq!(normal.get("/", None).await.0, 200);
}

#[tokio::test]
async fn an_http2_connection_idle_past_its_keep_alive_is_closed() {
    let pki = Pki::new();
    let app = spawn_tls_app(&pki, |s| s.application.keep_alive_timeout_ms = 500).await;
    let mut client = Client::over(pki.connect(socket(&app), &[b"h2"]).await).await;
    let started = Instant::now();
    // Busy past the keep-alive: a connection in use is not closed.
    while started.elapsed() < Duration::from_millis(1200) {
        assert_eq!(client.get("/", None).await.0, 200);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let Client::H2(send) = &client else {
        panic!("HTTP/2 was not agreed")
    };
    let idle = Instant::now();
    while !send.is_closed() {
        assert!(
            idle.elapsed() < Duration::from_secs(3),
            "an idle HTTP/2 connection was kept open"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_http2_body_too_slow_gets_408_and_the_connection_serves_on() {
    let pki = Pki::new();
    let app = spawn_tls_app(&pki, |s| s.application.body_idle_timeout_ms = 500).await;
    let mut client = Client::over(pki.connect(socket(&app), &[b"h2"]).await).await;
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, _>>(1);
    sender
        .send(Ok(Frame::data(Bytes::from_static(b"{\"a\":"))))
        .await
        .unwrap();
    let stalled = StreamBody::new(tokio_stream_of(receiver)).boxed();
    let request = http::Request::post("https://127.0.0.1/public")
        .header("content-type", "application/json")
        .body(stalled)
        .unwrap();
    let (status, _, body) = client.send(request).await;
    assert_eq!(status, 408);
    assert_eq!(
        body,
        r#"{"message":"The request body did not arrive in time."}"#
    );
    drop(sender);
    let posted = http::Request::post("https://127.0.0.1/public")
        .body(Full::new(Bytes::from_static(b"{}")).boxed())
        .unwrap();
    assert_eq!(client.send(posted).await.0, 200);
}

/// The receiving end of a channel as a stream of body frames.
fn tokio_stream_of<T: Send + 'static>(
    mut receiver: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send + Sync + 'static {
    futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}
