//! `GET /openapi.json`: the public API's OpenAPI document (see [`crate::openapi`]).

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use actix_web::{HttpResponse, mime, web};
use shared::openapi::DOCUMENT_PATH;

use crate::error::GatewayError;
use crate::openapi::FRESH_FOR;
use crate::state::GatewayState;

/// Registers the route. The path is the gateway's, whatever the route table says: other
/// methods get 405.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(DOCUMENT_PATH).route(web::get().to(document)));
}

async fn document(state: web::Data<GatewayState>) -> Result<HttpResponse, GatewayError> {
    let body = state.openapi.json(state.proxy.routes()).await?;
    let mut response = HttpResponse::Ok().body(body);
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(mime::APPLICATION_JSON.as_ref()),
    );
    let cache = format!("public, max-age={}", FRESH_FOR.as_secs());
    if let Ok(value) = HeaderValue::from_str(&cache) {
        headers.insert(CACHE_CONTROL, value);
    }
    Ok(response)
}
