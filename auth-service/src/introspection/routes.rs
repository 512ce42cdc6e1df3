//! `POST /revoke` (RFC 7009) and `POST /introspect` (RFC 7662). Errors are RFC 6749 §5.2
//! bodies (`error`, `error_description`) with the house's `message` beside them.

use std::sync::Arc;

use actix_web::http::header::{self, ContentType};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::clients::form_decoded;
use super::{Found, TokenEndpoints};

/// Largest body read: a token and a hint.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// Registers both endpoints with `endpoints` as their state.
pub fn configure(
    endpoints: Arc<TokenEndpoints>,
) -> impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static {
    move |cfg| {
        let data = web::Data::from(Arc::clone(&endpoints));
        for (path, handler) in [
            ("/revoke", web::post().to(revoke)),
            ("/introspect", web::post().to(introspect)),
        ] {
            cfg.service(
                web::resource(path)
                    .app_data(data.clone())
                    .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
                    .route(handler),
            );
        }
    }
}

fn error(status: actix_web::http::StatusCode, code: &str, description: &str) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    if code == "invalid_client" {
        response.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"auth-service\""));
    }
    response
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({
            "error": code, "error_description": description, "message": description,
        }))
}

/// 503 `temporarily_unavailable` for a store that failed; the cause goes to the log.
fn unavailable(cause: &anyhow::Error, client: &str, description: &str) -> HttpResponse {
    tracing::error!(error = ?cause, client, "token endpoint failed");
    error(
        actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        description,
    )
}

/// Why a request was refused before its token was looked at.
#[derive(Debug)]
enum Refused {
    /// No client, an unknown one, or the wrong secret.
    Client,
    /// The body, as this says.
    Request(&'static str),
}

impl Refused {
    fn answer(self) -> HttpResponse {
        match self {
            Self::Client => error(
                actix_web::http::StatusCode::UNAUTHORIZED,
                "invalid_client",
                "Client authentication failed.",
            ),
            Self::Request(description) => error(
                actix_web::http::StatusCode::BAD_REQUEST,
                "invalid_request",
                description,
            ),
        }
    }
}

/// The client's check and the `token` field, or why they are refused.
fn read<'a>(
    req: &HttpRequest,
    body: &web::Bytes,
    endpoints: &'a TokenEndpoints,
) -> Result<(&'a str, String), Refused> {
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let Some(client) = endpoints.clients.authenticate(authorization) else {
        return Err(Refused::Client);
    };
    let form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';').next().is_some_and(|t| {
                t.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
    let bad = Refused::Request;
    if !form {
        return Err(bad("The body must be application/x-www-form-urlencoded."));
    }
    let text = std::str::from_utf8(body).map_err(|_| bad("The body is not UTF-8."))?;
    let mut token = None;
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (Some(name), Some(value)) = (form_decoded(name), form_decoded(value)) else {
            return Err(bad("The body is not valid form encoding."));
        };
        if name == "token" {
            if token.is_some() {
                return Err(bad("The token parameter is repeated."));
            }
            token = Some(value);
        }
    }
    match token.filter(|t| !t.is_empty()) {
        Some(token) => Ok((client.id.as_str(), token)),
        None => Err(bad("The token parameter is required.")),
    }
}

/// RFC 7009: revokes a refresh token's session or an access token; 200 whatever the token
/// was, so the answer says nothing about which tokens exist.
async fn revoke(
    req: HttpRequest,
    body: web::Bytes,
    endpoints: web::Data<TokenEndpoints>,
) -> HttpResponse {
    let (client, token) = match read(&req, &body, &endpoints) {
        Ok(read) => read,
        Err(refused) => return refused.answer(),
    };
    if let Err(e) = endpoints.revoke(&token).await {
        return unavailable(&e, client, "The token could not be revoked; try again.");
    }
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type(ContentType::json())
        .body("{}")
}

/// RFC 7662: whether a token is active, and what it says when it is.
async fn introspect(
    req: HttpRequest,
    body: web::Bytes,
    endpoints: web::Data<TokenEndpoints>,
) -> HttpResponse {
    let (client, token) = match read(&req, &body, &endpoints) {
        Ok(read) => read,
        Err(refused) => return refused.answer(),
    };
    let found = match endpoints.find(&token).await {
        Ok(found) => found,
        Err(e) => return unavailable(&e, client, "The token could not be checked; try again."),
    };
    let answer: Value = match found {
        Found::Access {
            claims,
            revoked: false,
        } => json!({
            "active": true, "token_type": "access_token", "client_id": client,
            "sub": claims.sub, "username": claims.user, "roles": claims.roles,
            "iss": claims.iss, "aud": claims.aud, "exp": claims.exp, "iat": claims.iat,
            "nbf": claims.nbf, "jti": claims.jti, "sid": claims.sid,
        }),
        Found::Refresh {
            user_id,
            sid,
            created_at,
            expires_at,
            live: true,
        } => json!({
            "active": true, "token_type": "refresh_token", "client_id": client,
            "sub": user_id, "sid": sid, "iat": created_at, "exp": expires_at,
        }),
        _ => json!({"active": false}),
    };
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(answer)
}
