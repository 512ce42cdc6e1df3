//! `GET /protected`: the seed's protected route.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use shared::messages;

use crate::identity::GatewayIdentity;

/// Registers the route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/protected", web::get().to(protected));
}

/// The seed's body plus who asked.
#[derive(Debug, Serialize)]
struct ProtectedBody<'a> {
    message: &'static str,
    user: &'a str,
    roles: &'a [String],
}

async fn protected(GatewayIdentity(identity): GatewayIdentity) -> HttpResponse {
    HttpResponse::Ok().json(ProtectedBody {
        message: messages::PROTECTED,
        user: &identity.user,
        roles: &identity.roles,
    })
}
