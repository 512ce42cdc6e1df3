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
