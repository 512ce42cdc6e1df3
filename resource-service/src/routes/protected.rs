//! `GET /protected`: the seed's protected route.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use shared::{ErrorBody, messages};

use crate::identity::GatewayIdentity;

/// Registers the route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/protected").route(web::get().to(protected)));
}

/// The seed's body plus who asked.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProtectedBody<'a> {
    /// `This is a protected route!`, word for word the seed's.
    message: &'static str,
    /// The caller's username (the token's `user`).
    #[schema(value_type = String)]
    user: &'a str,
    /// The caller's roles.
    #[schema(value_type = Vec<String>)]
    roles: &'a [String],
}

/// The seed's protected route, for the caller the gateway verified. The token goes to the
/// gateway; this service answers only requests the gateway forwarded with the identity it
/// signed.
#[utoipa::path(
    get,
    path = "/protected",
    tag = "resources",
    security(("bearer" = []), ("access_token" = [])),
    responses(
        (status = 200, description = "`{\"message\": \"This is a protected route!\", \"user\": ..., \"roles\": [...]}`.", body = ProtectedBody),
        (status = 401, description = "Not forwarded by the gateway (no identity assertion).", body = ErrorBody),
        (status = 403, description = "The forwarded identity could not be verified.", body = ErrorBody),
    ),
)]
pub async fn protected(GatewayIdentity(identity): GatewayIdentity) -> HttpResponse {
    HttpResponse::Ok().json(ProtectedBody {
        message: messages::PROTECTED,
        user: &identity.user,
        roles: &identity.roles,
    })
}
