//! `GET /openapi.json`: a service's OpenAPI document, rendered once at start-up and served
//! as it is. Open to every caller, as the health probes are: it describes the API, it holds
//! nothing about a caller, and the gateway fetches it to merge the public API's document.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use actix_web::web::{self, Bytes};
use actix_web::{HttpResponse, mime};

pub use shared::openapi::DOCUMENT_PATH;

/// Seconds a client may cache a service's document: it changes only with the service.
pub const MAX_AGE_SECONDS: u32 = 60;

/// A rendered OpenAPI document.
#[derive(Debug, Clone)]
pub struct Document(Bytes);

impl Document {
    /// The document as JSON text.
    pub fn new(json: String) -> Self {
        Self(Bytes::from(json))
    }

    /// Registers `GET /openapi.json`, answering with this document.
    pub fn configure(self, cfg: &mut web::ServiceConfig) {
        cfg.service(web::resource(DOCUMENT_PATH).route(web::get().to(move || {
            let body = self.0.clone();
            async move { serve(body, MAX_AGE_SECONDS.into()) }
        })));
    }
}

/// A document as JSON, cacheable by anyone for `max_age_seconds` (the services' own, and
/// the gateway's merged one).
pub fn serve(body: impl Into<Bytes>, max_age_seconds: u64) -> HttpResponse {
    let mut response = HttpResponse::Ok().body(body.into());
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(mime::APPLICATION_JSON.as_ref()),
    );
    let cache = format!("public, max-age={max_age_seconds}");
    if let Ok(value) = HeaderValue::from_str(&cache) {
        headers.insert(CACHE_CONTROL, value);
    }
    response
}
