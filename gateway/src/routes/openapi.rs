//! `GET /openapi.json`: the public API's OpenAPI document (see [`crate::openapi`]).

use actix_web::{HttpResponse, web};
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
    Ok(service_kit::openapi::serve(body, FRESH_FOR.as_secs()))
}
