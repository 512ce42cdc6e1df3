//! Fetching an upstream's OpenAPI document: `GET <prefix>/openapi.json` on one healthy
//! instance, with the `Host` the upstream expects, within a deadline and a size cap. Only
//! OpenAPI 3.1 documents are taken: an older version's schemas mean other things.

use std::time::Duration;

use serde_json::Value;
use shared::openapi::DOCUMENT_PATH;

use crate::upstream::Upstream;

/// Time for one fetch, connecting included.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(3);
/// Largest document taken from an upstream.
pub const MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;

/// An upstream's document, and the prefix its paths carry (the instance's configured one).
#[derive(Debug)]
pub struct Fetched {
    /// What the gateway puts before a public path when it forwards to this upstream.
    pub prefix: String,
    /// The document.
    pub document: Value,
}

/// Why an upstream's document could not be had.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Every instance is ejected, or the name resolves to nothing.
    #[error("no healthy instance")]
    NoInstance,
    /// The request failed or took longer than [`FETCH_TIMEOUT`].
    #[error("request failed")]
    Request(#[from] reqwest::Error),
    /// The upstream answered, but not 200.
    #[error("answered {0}")]
    Status(u16),
    /// The document is over [`MAX_DOCUMENT_BYTES`].
    #[error("the document is over {MAX_DOCUMENT_BYTES} bytes")]
    TooLarge,
    /// The answer is not JSON.
    #[error("not JSON")]
    NotJson(#[source] serde_json::Error),
    /// JSON, but not an OpenAPI 3.1 document with paths.
    #[error("not an OpenAPI 3.1 document")]
    NotOpenApi31,
}

/// The client the documents are fetched with.
#[derive(Debug)]
pub struct Fetcher {
    client: reqwest::Client,
}

impl Fetcher {
    /// A client with the deadline, following no redirect and using no proxy (upstreams
    /// are on the private network, whatever the environment says about proxies).
    pub fn new() -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()?;
        Ok(Self { client })
    }

    /// `upstream`'s document, from its next healthy instance.
    pub async fn fetch(&self, upstream: &Upstream) -> Result<Fetched, FetchError> {
        let instance = upstream.pick(&[]).ok_or(FetchError::NoInstance)?;
        let url = format!("{}{DOCUMENT_PATH}", instance.base_url);
        let mut response = self
            .client
            .get(url)
            .header(reqwest::header::HOST, instance.authority.as_str())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(FetchError::Status(response.status().as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|length| length > MAX_DOCUMENT_BYTES as u64)
        {
            return Err(FetchError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(FetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        let document: Value = serde_json::from_slice(&body).map_err(FetchError::NotJson)?;
        let is_31 = document
            .get("openapi")
            .and_then(Value::as_str)
            .is_some_and(|version| version.starts_with("3.1."));
        if !is_31 || !document.get("paths").is_some_and(Value::is_object) {
            return Err(FetchError::NotOpenApi31);
        }
        Ok(Fetched {
            prefix: instance.prefix().to_owned(),
            document,
        })
    }
}
