//! What the gateway itself answers on a route, as OpenAPI responses added to the route's
//! operations: the token's security requirement and refusals on protected routes, 429 on
//! rate-limited ones, and on every route the failures of the request filter, the body, the
//! upstream and the listener (see `error.rs` and `service-kit`'s middleware and server).
//! An answer the upstream already declares keeps its text, and gets the gateway's beside it.

use serde_json::{Map, Value, json};
use service_kit::middleware::MAX_HEADER_BYTES;
use shared::openapi::{ACCESS_TOKEN_SCHEME, BEARER_SCHEME};

use super::DocumentSettings;
use super::responses::{add, error_response, with_headers};
use crate::configuration::Access;
use crate::routing::Route;

/// The answers every request may get at the gateway's edge, whatever its path: headers over
/// the limit (431) and a connection over the cap (503).
pub fn edge(operation: &mut Value) {
    add(
        operation,
        "431",
        error_response(&format!(
            "Request headers over {MAX_HEADER_BYTES} bytes in all."
        )),
    );
    if operation["responses"].get("503").is_none() {
        add(operation, "503", too_many_connections());
    }
}

fn too_many_connections() -> Value {
    with_headers(
        error_response("Too many connections to the gateway; the connection is closed."),
        &[("Retry-After", "Seconds to wait.", "integer", false)],
    )
}

/// The 429 of a route's rate limit.
pub fn too_many_requests() -> Value {
    with_headers(
        error_response(
            "Over the route's rate limit (per client address, or per token subject): `{\"message\": \"Too many requests.\"}`.",
        ),
        &[
            (
                "Retry-After",
                "Seconds until a request is let through again.",
                "integer",
                true,
            ),
            (
                "RateLimit-Limit",
                "Requests the route's bucket holds.",
                "integer",
                false,
            ),
            (
                "RateLimit-Remaining",
                "Requests left in it (0).",
                "integer",
                false,
            ),
            (
                "RateLimit-Reset",
                "Seconds until it is full again.",
                "integer",
                false,
            ),
        ],
    )
}

/// The refusals of a protected route: `refusal_status` (401 or 403) for a missing or invalid
/// token and, where `roles` may be required, 403 for a token without one.
pub fn refusals(operation: &mut Value, refusal_status: u16, roles: bool) {
    let challenge = [(
        "WWW-Authenticate",
        "The RFC 6750 challenge: `Bearer realm=\"api\"`, with `error=\"invalid_token\"` or \
         `error=\"insufficient_scope\"` when a token came.",
        "string",
        false,
    )];
    let token = "No token (`{\"message\": \"Token is missing!\"}`), or one that is malformed, \
                 expired, tampered with or signed with another key \
                 (`{\"message\": \"Token is invalid!\"}`).";
    let role = "The token carries none of the roles the route requires.";
    if refusal_status == 403 && roles {
        add(
            operation,
            "403",
            with_headers(error_response(&format!("{token} Or: {role}")), &challenge),
        );
        return;
    }
    add(
        operation,
        &refusal_status.to_string(),
        with_headers(error_response(token), &challenge),
    );
    if roles {
        add(
            operation,
            "403",
            with_headers(error_response(role), &challenge),
        );
    }
}

/// Completes an upstream's `operation`, reached through `route`, with the gateway's part.
pub fn decorate(operation: &mut Value, route: &Route, settings: &DocumentSettings) {
    let Some(fields) = operation.as_object_mut() else {
        return;
    };
    // The upstream's servers are its private addresses; the document's server is ours.
    fields.remove("servers");
    if route.access == Access::Protected {
        fields.insert(
            "security".into(),
            json!([{BEARER_SCHEME: []}, {ACCESS_TOKEN_SCHEME: []}]),
        );
    } else {
        fields.remove("security");
    }
    let limited = route.limits.per_address.is_some() || route.limits.per_subject.is_some();
    if limited {
        rate_limit_headers(operation);
        add(operation, "429", too_many_requests());
    }
    if route.access == Access::Protected {
        refusals(operation, settings.refusal_status, !route.roles.is_empty());
    }
    add(
        operation,
        "400",
        error_response(
            "A path with dot segments or encoded separators, or a body that could not be read.",
        ),
    );
    add(
        operation,
        "404",
        error_response("The upstream has nothing at this path."),
    );
    add(
        operation,
        "405",
        with_headers(
            error_response("The path does not take this method."),
            &[("Allow", "The methods it takes.", "string", false)],
        ),
    );
    add(
        operation,
        "414",
        error_response("The path and query are too long to forward."),
    );
    if operation.get("requestBody").is_some() {
        add(
            operation,
            "408",
            error_response(
                "The request body stalled, or took too long in all; the connection is closed.",
            ),
        );
        let limit = settings.max_body_bytes;
        add(
            operation,
            "413",
            error_response(&format!(
                "The request body is over the gateway's limit ({limit} bytes)."
            )),
        );
    }
    add(
        operation,
        "502",
        error_response("The upstream could not be reached, or broke the exchange."),
    );
    add(
        operation,
        "503",
        with_headers(
            error_response(
                "No healthy instance of the upstream, the signing keys were never fetched or the revocation list is stale under `revocations.when_stale = \"closed\"` (protected routes), or too many connections to the gateway.",
            ),
            &[(
                "Retry-After",
                "Seconds to wait (too many connections).",
                "integer",
                false,
            )],
        ),
    );
    add(
        operation,
        "504",
        error_response("The upstream did not answer within the request timeout."),
    );
    edge(operation);
}

/// Declares the `RateLimit-*` headers the gateway adds to every upstream answer on a
/// rate-limited route.
fn rate_limit_headers(operation: &mut Value) {
    let Some(Value::Object(responses)) = operation.get_mut("responses") else {
        return;
    };
    for response in responses.values_mut() {
        if response.get("$ref").is_some() || !response.is_object() {
            continue;
        }
        if !response["headers"].is_object() {
            response["headers"] = Value::Object(Map::new());
        }
        for (name, description) in [
            ("RateLimit-Limit", "Requests the route's bucket holds."),
            ("RateLimit-Remaining", "Requests left in it."),
            ("RateLimit-Reset", "Seconds until it is full again."),
        ] {
            response["headers"][name] =
                json!({"description": description, "schema": {"type": "integer", "minimum": 0}});
        }
    }
}
