//! The client that fetches providers' keys and discovery documents, over `http` or `https`
//! (rustls on the ring provider; roots from the system store, `SSL_CERT_FILE` and
//! `SSL_CERT_DIR` included, plus a provider's own CA file). No redirects, a deadline per
//! fetch, and a cap on the bytes read.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Time for one fetch, connection and TLS handshake included.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(3);

/// Fetches small JSON documents from one provider.
#[derive(Clone)]
pub struct KeysClient {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
}

impl std::fmt::Debug for KeysClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeysClient").finish_non_exhaustive()
    }
}

/// A client trusting, when given, the CAs in `ca_file` (PEM) and, with `system_roots`, the
/// system's roots. A provider fetched over plain `http` (our auth-service on the private
/// network) passes `false`: the system's few hundred roots cost about 2 MiB to hold.
pub fn keys_client(ca_file: Option<&Path>, system_roots: bool) -> anyhow::Result<KeysClient> {
    let mut roots = RootCertStore::empty();
    if system_roots {
        // Unreadable system certificates are skipped, not fatal: a private CA may be all a
        // deployment needs, and a minimal image may have no store at all.
        let system = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(system.certs);
    }
    if let Some(file) = ca_file {
        let mut added = 0;
        for cert in CertificateDer::pem_file_iter(file)
            .with_context(|| format!("reading the CA file {}", file.display()))?
        {
            let cert = cert.with_context(|| format!("parsing the CA file {}", file.display()))?;
            roots
                .add(cert)
                .with_context(|| format!("a certificate of {}", file.display()))?;
            added += 1;
        }
        if added == 0 {
            anyhow::bail!("the CA file {} holds no certificate", file.display());
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(FETCH_TIMEOUT));
    http.set_nodelay(true);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(KeysClient {
        client: Client::builder(TokioExecutor::new()).build(connector),
    })
}

impl KeysClient {
    /// The body of `GET url` when it answers 2xx within [`FETCH_TIMEOUT`] and
    /// `max_bytes`.
    pub async fn get(&self, url: &str, max_bytes: usize) -> anyhow::Result<Bytes> {
        Ok(self.get_dated(url, max_bytes).await?.0)
    }

    /// [`Self::get`], with the answer's `Date` header when it has a valid one.
    pub async fn get_dated(
        &self,
        url: &str,
        max_bytes: usize,
    ) -> anyhow::Result<(Bytes, Option<std::time::SystemTime>)> {
        let request = get_request(url, "application/json")?;
        let fetch = async {
            let response = self.client.request(request).await.context("connecting")?;
            let status = response.status();
            if !status.is_success() {
                anyhow::bail!("answered {status}");
            }
            let date = response
                .headers()
                .get(http::header::DATE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| httpdate::parse_http_date(v).ok());
            let body = Limited::new(response.into_body(), max_bytes)
                .collect()
                .await
                .map_err(|e| anyhow::anyhow!("reading the body (limit {max_bytes} bytes): {e}"))?;
            Ok((body.to_bytes(), date))
        };
        tokio::time::timeout(FETCH_TIMEOUT, fetch)
            .await
            .map_err(|_| anyhow::anyhow!("no answer within {FETCH_TIMEOUT:?}"))?
            .with_context(|| format!("fetching {url}"))
    }

    /// Opens a long-lived answer of `url` (a Server-Sent Events stream): the status is
    /// checked and the headers read within [`FETCH_TIMEOUT`]; the body is the caller's to
    /// read, with its own deadlines.
    pub async fn open_stream(
        &self,
        url: &str,
    ) -> anyhow::Result<http::Response<hyper::body::Incoming>> {
        let request = get_request(url, "text/event-stream")?;
        let response = tokio::time::timeout(FETCH_TIMEOUT, self.client.request(request))
            .await
            .map_err(|_| anyhow::anyhow!("no answer within {FETCH_TIMEOUT:?}"))?
            .with_context(|| format!("connecting to {url}"))?;
        if !response.status().is_success() {
            anyhow::bail!("{url} answered {}", response.status());
        }
        Ok(response)
    }
}

/// `GET url` accepting `accept`.
fn get_request(url: &str, accept: &str) -> anyhow::Result<http::Request<Empty<Bytes>>> {
    let uri: http::Uri = url
        .parse()
        .with_context(|| format!("{url:?} is not a URL"))?;
    http::Request::get(uri)
        .header(http::header::ACCEPT, accept)
        .body(Empty::new())
        .context("building the request")
}
