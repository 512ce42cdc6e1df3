//! The caller's identity as the gateway forwarded and signed it, as an extractor.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use service_kit::assertion::{AssertionError, IdentitySigner};
use service_kit::clock::unix_seconds;
use service_kit::json_error;
use shared::identity::IdentityError;

/// The identity the gateway verified and signed. A handler that takes it only runs for
/// requests the gateway forwarded; the rest get 401 (no assertion: not through the
/// gateway) or 403 (an assertion that does not verify: forged) JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayIdentity(pub shared::Identity);

/// A request without a usable, gateway-signed identity.
#[derive(Debug, thiserror::Error)]
pub enum IdentityRejection {
    /// The assertion is missing, stale, malformed or forged.
    #[error(transparent)]
    Assertion(#[from] AssertionError),
    /// The signed headers do not hold a readable identity.
    #[error(transparent)]
    Headers(#[from] IdentityError),
    /// The service was built without a signer (a wiring bug).
    #[error("no identity signer configured")]
    NotConfigured,
}

impl ResponseError for IdentityRejection {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Assertion(AssertionError::Missing) => StatusCode::UNAUTHORIZED,
            Self::NotConfigured => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::FORBIDDEN,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            Self::Assertion(AssertionError::Missing) => {
                "This service only answers requests forwarded by the gateway."
            }
            Self::NotConfigured => service_kit::errors::INTERNAL_ERROR,
            _ => "The forwarded identity could not be verified.",
        };
        tracing::warn!(reason = %self, "request without a valid gateway identity refused");
        json_error(self.status_code(), message)
    }
}

impl FromRequest for GatewayIdentity {
    type Error = IdentityRejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(extract(req))
    }
}

fn extract(req: &HttpRequest) -> Result<GatewayIdentity, IdentityRejection> {
    let signer = req
        .app_data::<web::Data<IdentitySigner>>()
        .ok_or(IdentityRejection::NotConfigured)?;
    let headers = req.headers();
    let get = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    signer.verify(unix_seconds(), req.method().as_str(), req.path(), get)?;
    Ok(GatewayIdentity(shared::Identity::from_headers(get)?))
}
