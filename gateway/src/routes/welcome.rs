//! `GET /`: the seed's welcome message.

use actix_web::{HttpResponse, web};
use shared::ErrorBody;

use crate::state::GatewayState;

/// Registers the route. The path is the gateway's, whatever the route table says: other
/// methods get 405.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/").route(web::get().to(welcome)));
}

async fn welcome(state: web::Data<GatewayState>) -> HttpResponse {
    // Same `{"message": ...}` shape as the error body, which is exactly the seed's answer.
    HttpResponse::Ok().json(ErrorBody::new(state.welcome_message.as_str()))
}
