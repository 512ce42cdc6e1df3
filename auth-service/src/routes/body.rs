//! Reading the small JSON bodies the auth-service takes, with messages that name the field
//! that is wrong and never echo a value back.

use actix_web::HttpRequest;
use actix_web::http::header;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// Largest body any auth endpoint accepts. The longest fields allowed fit even when every
/// character is escaped as a JSON surrogate pair (12 bytes): 12 × (256 + 1,024) < 16 KiB.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// A body without a Content-Type is read as JSON (curl's `-d` with `-H` forgotten is
/// common); any other declared type is refused.
fn require_json(req: &HttpRequest) -> Result<(), ApiError> {
    let Some(value) = req.headers().get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = value.to_str().unwrap_or("").split(';').next().unwrap_or("");
    let essence = essence.trim().to_ascii_lowercase();
    if essence == "application/json" || essence.ends_with("+json") {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType)
    }
}

/// The body's fields, if it is a JSON object.
pub fn json_object(req: &HttpRequest, body: &[u8]) -> Result<JsonFields, ApiError> {
    require_json(req)?;
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| ApiError::BadRequest("Request body is not valid JSON.".to_owned()))?;
    match value {
        Value::Object(fields) => Ok(JsonFields(fields)),
        _ => Err(ApiError::BadRequest(
            "Request body must be a JSON object.".to_owned(),
        )),
    }
}

/// The fields of a JSON object body.
#[derive(Debug)]
pub struct JsonFields(Map<String, Value>);

impl JsonFields {
    /// The string field `name`, at most `max` characters long. Characters, not bytes: the
    /// unit a JSON Schema `maxLength` counts, so the OpenAPI document states the limit
    /// exactly. The body limit still bounds the bytes.
    pub fn string(&mut self, name: &str, max: usize) -> Result<String, ApiError> {
        match self.0.remove(name) {
            // Never more characters than bytes: the count is only needed past `max` bytes.
            Some(Value::String(s)) if s.len() <= max || s.chars().count() <= max => Ok(s),
            Some(Value::String(_)) => Err(ApiError::BadRequest(format!(
                "Field \"{name}\" is too long (at most {max} characters)."
            ))),
            Some(_) => Err(ApiError::BadRequest(format!(
                "Field \"{name}\" must be a string."
            ))),
            None => Err(ApiError::BadRequest(format!(
                "Field \"{name}\" is required."
            ))),
        }
    }
}
