//! The caller's identity as the gateway forwarded it, as an extractor.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError};
use service_kit::json_error;
use shared::identity::IdentityError;

/// The identity the gateway verified. A handler that takes it only runs for requests that
/// carry one; the rest get 401 JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayIdentity(pub shared::Identity);

/// A request without a usable forwarded identity.
#[derive(Debug, thiserror::Error)]
#[error("no gateway identity: {0}")]
pub struct MissingIdentity(#[from] IdentityError);

impl ResponseError for MissingIdentity {
    fn status_code(&self) -> StatusCode {
        StatusCode::UNAUTHORIZED
    }

    fn error_response(&self) -> HttpResponse {
        tracing::warn!(reason = %self.0, "request without gateway identity refused");
        json_error(
            self.status_code(),
            "This service only answers requests forwarded by the gateway.",
        )
    }
}

impl FromRequest for GatewayIdentity {
    type Error = MissingIdentity;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let headers = req.headers();
        let identity = shared::Identity::from_headers(|name| {
            headers.get(name).and_then(|value| value.to_str().ok())
        });
        ready(identity.map(Self).map_err(MissingIdentity::from))
    }
}
