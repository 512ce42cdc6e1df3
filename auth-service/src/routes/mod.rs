//! HTTP routes of the auth-service, one module per resource.

pub mod body;
pub mod login;
pub mod refresh;
pub mod register;
pub mod requests;
pub mod well_known;

use actix_web::{HttpResponse, web};
use shared::login::TokenResponse;

use crate::error::ApiError;
use crate::refresh::IssuedRefresh;
use crate::startup::AppState;
use crate::users::User;

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    login::configure(cfg);
    register::configure(cfg);
    refresh::configure(cfg);
    well_known::configure(cfg);
    cfg.service(web::resource(service_kit::health::READY_PATH).route(web::get().to(ready)));
}

/// The answer of `/login` and `/refresh`: a new access token beside the refresh token.
fn respond_with_tokens(
    state: &AppState,
    user: &User,
    refresh: IssuedRefresh,
) -> Result<HttpResponse, ApiError> {
    let access = state.tokens.issue(user, Some(&refresh.family))?;
    Ok(HttpResponse::Ok().json(TokenResponse {
        token: access.token,
        token_type: "Bearer".to_owned(),
        expires_in: access.expires_in,
        refresh_token: refresh.token,
        refresh_expires_in: refresh.expires_in,
    }))
}

/// Ready when the database answers.
async fn ready(state: web::Data<AppState>) -> HttpResponse {
    match sqlx::query("SELECT 1").execute(&state.pool).await {
        Ok(_) => service_kit::health::ready(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: database unreachable");
            service_kit::health::unavailable()
        }
    }
}
