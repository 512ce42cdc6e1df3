//! Every path the gateway does not answer itself: route, authenticate, forward.

use actix_web::{HttpRequest, HttpResponse, web};
use service_kit::RequestId;

use crate::auth;
use crate::configuration::Access;
use crate::error::GatewayError;
use crate::routing::is_safe_path;
use crate::startup::GatewayState;

/// Finds the route for the path, checks the token when the route is protected, and
/// forwards the request with the verified identity.
pub async fn forward(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<GatewayState>,
    request_id: RequestId,
) -> Result<HttpResponse, GatewayError> {
    let path = req.path();
    if !is_safe_path(path) {
        return Err(GatewayError::UnsafePath);
    }
    let route = state.routes.find(path).ok_or(GatewayError::NotFound)?;
    let identity = match route.access {
        Access::Public => None,
        Access::Protected => {
            let token = auth::token_from(req.headers()).ok_or(GatewayError::TokenMissing)?;
            let identity = state.verifier.verify(token).await?;
            if !route.admits(&identity.roles) {
                return Err(GatewayError::MissingRole);
            }
            Some(identity)
        }
    };
    state
        .proxy
        .forward(
            &req,
            payload,
            &route.upstream,
            identity.as_ref(),
            &request_id,
        )
        .await
}
