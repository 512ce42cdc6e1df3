//! Stage 1, the request filter: which route serves the path, and whether the caller may
//! use it (rate limits, token, roles). Whatever fails here is the client's fault and never reaches an
//! upstream.

use actix_web::http::StatusCode;
use actix_web::http::header::HeaderMap;

use crate::auth::{self, Rejection, TokenVerifier};
use crate::configuration::Access;
use crate::error::{GatewayError, Refusal};
use crate::proxy::context::RequestContext;
use crate::rate_limit::address_key;
use crate::routing::{Route, RouteTable, is_safe_path};

/// Matches the route for `path` (the request's, or the one a proxy in front asks about), takes a request from the client address's
/// bucket (before any signature is checked) and, on a protected route, verifies the token,
/// the roles and the subject's bucket; the route, the identity and the allowance go into
/// `ctx`.
/// `refusal_status` answers a missing or invalid token (403 or 401); a missing role is
/// always 403 (RFC 6750 §3.1, `insufficient_scope`).
pub async fn request_filter<'a>(
    routes: &'a RouteTable,
    verifier: &TokenVerifier,
    refusal_status: StatusCode,
    path: &str,
    headers: &HeaderMap,
    ctx: &mut RequestContext<'a>,
) -> Result<&'a Route, GatewayError> {
    if !is_safe_path(path) {
        return Err(GatewayError::UnsafePath);
    }
    let route = routes.find(path).ok_or(GatewayError::NotFound)?;
    ctx.route = Some(route);
    if let Some(limiter) = &route.limits.per_address {
        let allowance = limiter
            .check(&address_key(ctx.client.ip))
            .map_err(|limited| GatewayError::TooManyRequests(limited, ctx.client.ip))?;
        ctx.allowance = Some(allowance);
    }
    if route.access == Access::Protected {
        let refused = |refusal| GatewayError::Refused {
            refusal,
            status: refusal_status,
        };
        let token = auth::token_from(headers).ok_or(refused(Refusal::TokenMissing))?;
        let identity = match verifier.verify(token).await {
            Ok(identity) => identity,
            Err(reason @ (Rejection::KeysUnavailable | Rejection::RevocationsStale)) => {
                return Err(GatewayError::Unverifiable(reason));
            }
            Err(reason) => return Err(refused(Refusal::TokenInvalid(reason))),
        };
        if !route.admits(&identity.identity.roles) {
            return Err(GatewayError::Refused {
                refusal: Refusal::MissingRole,
                status: StatusCode::FORBIDDEN,
            });
        }
        if let Some(limiter) = &route.limits.per_subject {
            let allowance = limiter
                .check(&identity.identity.subject)
                .map_err(|limited| GatewayError::TooManyRequests(limited, ctx.client.ip))?;
            ctx.allowance = Some(allowance.tighter(ctx.allowance));
        }
        ctx.identity = Some(identity);
    }
    Ok(route)
}
