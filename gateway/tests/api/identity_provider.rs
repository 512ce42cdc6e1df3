//! A stand-in OpenID provider for the gateway's tests: discovery documents and JWKS served
//! over HTTPS with a certificate from a private CA made at test time, and tokens signed
//! with the RSA and P-256 keys in `fixtures/provider-keys.json` (throwaway test keys).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KEYS: &str = include_str!("fixtures/provider-keys.json");

/// A signing key of the fixtures and its public JWK parameters.
pub struct TestKey {
    pub encoding: EncodingKey,
    pub public: Value,
}

fn fixture(name: &str) -> Value {
    let all: Value = serde_json::from_str(KEYS).unwrap();
    all[name].clone()
}

/// The fixtures' RSA key (`other`: a second one, for signatures that must not verify).
pub fn rsa_key(other: bool) -> TestKey {
    let key = fixture(if other { "rsa_other" } else { "rsa" });
    let der = STANDARD.decode(key["pkcs1_der"].as_str().unwrap()).unwrap();
    TestKey {
        encoding: EncodingKey::from_rsa_der(&der),
        public: json!({"kty": "RSA", "n": key["n"], "e": key["e"]}),
    }
}

/// The fixtures' P-256 key.
pub fn ec_key() -> TestKey {
    let key = fixture("ec");
    let der = STANDARD.decode(key["pkcs8_der"].as_str().unwrap()).unwrap();
    TestKey {
        encoding: EncodingKey::from_ec_der(&der),
        public: json!({"kty": "EC", "crv": "P-256", "x": key["x"], "y": key["y"]}),
    }
}

/// `key`'s public JWK with `kid` and, when given, `alg`.
pub fn jwk(key: &TestKey, kid: &str, alg: Option<&str>) -> Value {
    let mut jwk = key.public.clone();
    jwk["kid"] = kid.into();
    jwk["use"] = "sig".into();
    if let Some(alg) = alg {
        jwk["alg"] = alg.into();
    }
    jwk
}

/// `claims` signed by `key` with `alg`, naming key `kid`.
pub fn sign(key: &TestKey, alg: Algorithm, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, claims, &key.encoding).unwrap()
}

/// An HTTPS server answering `GET <path>` with the JSON document put there.
pub struct IdentityProvider {
    /// `https://127.0.0.1:<port>`.
    pub base: String,
    /// The private CA's certificate, PEM, for the gateway's `ca_file`.
    pub ca_file: PathBuf,
    documents: Arc<RwLock<HashMap<String, Value>>>,
}

impl IdentityProvider {
    pub async fn start() -> Self {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "gateway tests CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let ca = Issuer::new(ca_params, ca_key);
        let server_key = KeyPair::generate().unwrap();
        let server_cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&server_key, &ca)
            .unwrap();
        let ca_file = std::env::temp_dir().join(format!(
            "gateway-test-ca-{}.pem",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::write(&ca_file, ca_cert.pem()).unwrap();

        let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![server_cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
        )
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("https://{}", listener.local_addr().unwrap());
        let documents: Arc<RwLock<HashMap<String, Value>>> = Arc::default();
        let served = Arc::clone(&documents);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (acceptor, served) = (acceptor.clone(), Arc::clone(&served));
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let mut request = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 65536 {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let line = String::from_utf8_lossy(&request);
                    let path = line.split(' ').nth(1).unwrap_or("").to_owned();
                    let document = served.read().unwrap().get(&path).cloned();
                    let (status, body) = match document {
                        Some(doc) => ("200 OK", doc.to_string()),
                        None => ("404 Not Found", "{}".to_owned()),
                    };
                    let answer = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tls.write_all(answer.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        Self {
            base,
            ca_file,
            documents,
        }
    }

    /// Serves `document` at `path`.
    pub fn put(&self, path: &str, document: Value) {
        self.documents
            .write()
            .unwrap()
            .insert(path.to_owned(), document);
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}
