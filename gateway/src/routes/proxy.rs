//! Every path the gateway does not answer itself goes through the proxy's stages.

use actix_web::{HttpRequest, HttpResponse, web};
use service_kit::RequestId;

use crate::error::GatewayError;
use crate::state::GatewayState;

/// Routes, authenticates, forwards and counts the request (see [`crate::proxy`]).
pub async fn forward(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<GatewayState>,
    request_id: RequestId,
) -> Result<HttpResponse, GatewayError> {
    state.proxy.handle(&req, payload, &request_id).await
}

/// Forward authentication for a proxy in front (see [`crate::proxy::Proxy::verify`]), at
/// `forward_auth.path` when that is set.
pub async fn verify(
    req: HttpRequest,
    state: web::Data<GatewayState>,
    request_id: RequestId,
) -> Result<HttpResponse, GatewayError> {
    state.proxy.verify(&req, &request_id).await
}
