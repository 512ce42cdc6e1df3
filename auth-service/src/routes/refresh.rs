//! `POST /refresh` (rotate a refresh token) and `POST /logout` (revoke its family).

use actix_web::{HttpRequest, HttpResponse, web};
use shared::ErrorBody;
use shared::login::TokenResponse;

use super::body::MAX_BODY_BYTES;
use super::requests::RefreshRequest;
use super::respond_with_tokens;
use crate::error::ApiError;
use crate::refresh::RefreshError;
use crate::startup::AppState;

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

/// Trade a refresh token for a new access token and a new refresh token. The old one is
/// spent: presenting it again revokes the whole session.
#[utoipa::path(
    post,
    path = "/refresh",
    tag = "tokens",
    request_body(content = RefreshRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Refreshed.", body = TokenResponse),
        (status = 400, description = "The body is not a JSON object with the field as described.", body = ErrorBody),
        (status = 401, description = "The refresh token is unknown, expired or revoked, or was used before (the session is then revoked).", body = ErrorBody),
        (status = 413, description = "The body is over 16 KiB.", body = ErrorBody),
        (status = 415, description = "A `Content-Type` other than JSON.", body = ErrorBody),
        (status = 429, description = "Too many refreshes of this session or user.", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until a refresh may be tried again."))),
    ),
)]
#[tracing::instrument(name = "refresh", skip_all)]
pub async fn refresh(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let presented = RefreshRequest::read(&req, &body)?.refresh_token;
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

/// Log out: revoke the session the refresh token belongs to. Unknown tokens get the same
/// answer.
#[utoipa::path(
    post,
    path = "/logout",
    tag = "tokens",
    request_body(content = RefreshRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "`{\"message\": \"Logged out.\"}`, for any token.", body = ErrorBody),
        (status = 400, description = "The body is not a JSON object with the field as described.", body = ErrorBody),
        (status = 413, description = "The body is over 16 KiB.", body = ErrorBody),
        (status = 415, description = "A `Content-Type` other than JSON.", body = ErrorBody),
    ),
)]
#[tracing::instrument(name = "logout", skip_all)]
pub async fn logout(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let presented = RefreshRequest::read(&req, &body)?.refresh_token;
    // Unknown tokens get the same answer (RFC 7009 §2.2): logging out is idempotent and
    // says nothing about which tokens exist.
    let revoked = state.refresh.revoke_family(&presented).await?;
    tracing::info!(revoked, "logout");
    Ok(HttpResponse::Ok().json(ErrorBody::new("Logged out.")))
}
