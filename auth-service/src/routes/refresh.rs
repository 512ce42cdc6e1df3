//! `POST /refresh` (rotate a refresh token) and `POST /logout` (revoke its family).

use actix_web::{HttpRequest, HttpResponse, web};
use shared::ErrorBody;

use super::body::{MAX_BODY_BYTES, json_object};
use super::respond_with_tokens;
use crate::error::ApiError;
use crate::refresh::RefreshError;
use crate::startup::AppState;

/// Longest refresh token accepted; ours are 43 characters.
pub const MAX_REFRESH_TOKEN_BYTES: usize = 256;

/// Registers both routes with their body limit.
pub fn configure(cfg: &mut web::ServiceConfig) {
    for (path, handler) in [
        ("/refresh", web::post().to(refresh)),
        ("/logout", web::post().to(logout)),
    ] {
        cfg.service(
            web::resource(path)
                .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
                .route(handler),
        );
    }
}

fn presented_token(req: &HttpRequest, body: &[u8]) -> Result<String, ApiError> {
    json_object(req, body)?.string("refresh_token", MAX_REFRESH_TOKEN_BYTES)
}

#[tracing::instrument(name = "refresh", skip_all)]
async fn refresh(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let presented = presented_token(&req, &body)?;
    let (successor, user_id) = state
        .refresh
        .rotate(&presented)
        .await
        .map_err(|e| match e {
            RefreshError::Invalid => ApiError::RefreshInvalid,
            RefreshError::Reused => ApiError::RefreshReused,
            RefreshError::Limited(wait) => ApiError::TooManyRefreshes(wait),
            RefreshError::Unexpected(e) => ApiError::Unexpected(e),
        })?;
    let user = state
        .users
        .find_by_id(&user_id)
        .await?
        .ok_or(ApiError::RefreshInvalid)?;
    respond_with_tokens(&state, &user, successor)
}

#[tracing::instrument(name = "logout", skip_all)]
async fn logout(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let presented = presented_token(&req, &body)?;
    // Unknown tokens get the same answer (RFC 7009 §2.2): logging out is idempotent and
    // says nothing about which tokens exist.
    let revoked = state.refresh.revoke_family(&presented).await?;
    tracing::info!(revoked, "logout");
    Ok(HttpResponse::Ok().json(ErrorBody::new("Logged out.")))
}
