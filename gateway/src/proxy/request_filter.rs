//! Stage 1, the request filter: which route serves the path, and whether the caller may
//! use it (token, roles). Whatever fails here is the client's fault and never reaches an
//! upstream.

use actix_web::HttpRequest;

use crate::auth::{self, TokenVerifier};
use crate::configuration::Access;
use crate::error::GatewayError;
use crate::proxy::context::RequestContext;
use crate::routing::{Route, RouteTable, is_safe_path};

/// Matches the route for the request's path and, on a protected route, verifies the token
/// and the roles; the route and the identity go into `ctx`.
pub async fn request_filter<'a>(
    routes: &'a RouteTable,
    verifier: &TokenVerifier,
    req: &HttpRequest,
    ctx: &mut RequestContext<'a>,
) -> Result<&'a Route, GatewayError> {
    let path = req.path();
    if !is_safe_path(path) {
        return Err(GatewayError::UnsafePath);
    }
    let route = routes.find(path).ok_or(GatewayError::NotFound)?;
    ctx.route = Some(route);
    if route.access == Access::Protected {
        let token = auth::token_from(req.headers()).ok_or(GatewayError::TokenMissing)?;
        let identity = verifier.verify(token).await?;
        if !route.admits(&identity.identity.roles) {
            return Err(GatewayError::MissingRole);
        }
        ctx.identity = Some(identity);
    }
    Ok(route)
}
