//! `POST /login`: username and password in, access and refresh tokens out.

use std::net::IpAddr;

use actix_web::{HttpRequest, HttpResponse, web};
use ipnet::IpNet;
use shared::ErrorBody;
use shared::login::TokenResponse;

use super::body::MAX_BODY_BYTES;
use super::requests::Credentials;
use super::respond_with_tokens;
use crate::error::ApiError;
use crate::startup::AppState;

/// Registers the route with its body limit.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/login")
            .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
            .route(web::post().to(login)),
    );
}

/// Log in: an access token (the seed's `token`) and a refresh token.
#[utoipa::path(
    post,
    path = "/login",
    tag = "tokens",
    request_body(content = Credentials, content_type = "application/json"),
    responses(
        (status = 200, description = "Logged in.", body = TokenResponse),
        (status = 400, description = "The body is not a JSON object with the fields as described; the message names the field.", body = ErrorBody),
        (status = 401, description = "Unknown user or wrong password: `{\"message\": \"Invalid credentials!\"}`.", body = ErrorBody),
        (status = 413, description = "The body is over 16 KiB.", body = ErrorBody),
        (status = 415, description = "A `Content-Type` other than JSON.", body = ErrorBody),
        (status = 429, description = "Too many failed logins for this username or address.", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until a login may be tried again."))),
        (status = 503, description = "The password hashing queue is full.", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying."))),
    ),
)]
#[tracing::instrument(name = "login", skip_all, fields(username = tracing::field::Empty))]
pub async fn login(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Credentials { username, password } = Credentials::read(&req, &body)?;
    tracing::Span::current().record("username", username.as_str());

    let address = client_address(&req, &state.trusted_proxies);
    // Counted before the hash runs; given back on success or when the password was never
    // checked (see `limiter`).
    let attempt = match state.limiter.reserve(&username, address).await? {
        Ok(attempt) => attempt,
        Err(wait) => {
            tracing::warn!(%address, "login refused: too many failures");
            return Err(ApiError::TooManyAttempts(wait));
        }
    };
    let checked = match state.users.authenticate(&username, password).await {
        Ok(checked) => checked,
        Err(e) => {
            // The password was never checked (a full hashing queue, a store failure):
            // nothing was guessed, so nothing is counted.
            attempt.not_checked().await;
            tracing::warn!(%address, error = %e, "login not checked");
            return Err(ApiError::from(e));
        }
    };
    let Some(user) = checked else {
        drop(attempt);
        tracing::info!(%address, "login failed");
        return Err(ApiError::InvalidCredentials);
    };
    attempt.succeeded().await;
    let refresh = state.refresh.start_family(&user.id).await?;
    tracing::info!("tokens issued");
    respond_with_tokens(&state, &user, refresh)
}

/// The client's address: the connection's peer, or, when the peer is a trusted proxy (the
/// gateway), the nearest untrusted address in `X-Forwarded-For`.
pub fn client_address(req: &HttpRequest, trusted: &[IpNet]) -> IpAddr {
    let peer = req
        .peer_addr()
        .map_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), |a| a.ip());
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|ip| ip.trim().parse::<IpAddr>().ok())
        .collect::<Vec<_>>();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !is_trusted(ip))
        .unwrap_or(peer)
}
