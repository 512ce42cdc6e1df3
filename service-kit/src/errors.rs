//! JSON error answers: every 4xx and 5xx leaves a service as `{"message": ...}`, whichever
//! layer produced it (a handler, an extractor, the router), never as HTML or an empty body.

use actix_web::body::MessageBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{HttpResponse, Result};
use shared::ErrorBody;

/// The body of every 5xx the service itself produces: the cause goes to the logs, not here.
pub const INTERNAL_ERROR: &str = "Internal server error.";

/// A response with the given status and `{"message": message}`.
pub fn json_error(status: StatusCode, message: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status).json(ErrorBody::new(message))
}

/// Middleware that rewrites every error response that is not already JSON into the JSON
/// error body. 4xx keep the framework's reason (it names what the client got wrong);
/// 5xx get an opaque message.
pub fn json_errors<B: MessageBody + 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(to_json_error)
}

fn to_json_error<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> Result<ErrorHandlerResponse<B>> {
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let message = if status.is_server_error() {
        if let Some(err) = res.response().error() {
            tracing::error!(error = %err, status = status.as_u16(), "request failed");
        }
        INTERNAL_ERROR.to_owned()
    } else {
        match res.response().error() {
            Some(err) => sentence(&err.to_string()),
            None => sentence(status.canonical_reason().unwrap_or("Request failed")),
        }
    };
    let (req, old) = res.into_parts();
    let mut new = json_error(status, message);
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            new.headers_mut().append(name.clone(), value.clone());
        }
    }
    new.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, new).map_into_right_body::<B>(),
    ))
}

/// Ends a framework message with a full stop, as every message of ours does.
fn sentence(text: &str) -> String {
    let text = text.trim();
    if text.ends_with(['.', '!', '?']) {
        text.to_owned()
    } else {
        format!("{text}.")
    }
}

/// The default service: unknown paths answer 404 JSON.
pub async fn not_found() -> HttpResponse {
    json_error(StatusCode::NOT_FOUND, "Not found.")
}
