//! The document's frame and the gateway's own operations: `GET /` (the seed's welcome),
//! `GET /openapi.json`, the health probes and, when it is on, forward authentication. Their
//! paths are taken before any upstream's: the gateway answers them itself.

use serde_json::{Map, Value, json};
use service_kit::health::{LIVE_PATH, READY_PATH};
use shared::headers::ACCESS_TOKEN;
use shared::openapi::{ACCESS_TOKEN_SCHEME, BEARER_SCHEME, DOCUMENT_PATH};

use super::DocumentSettings;
use super::answers;
use super::responses::{ERROR_BODY, add, error_response, json_response};

/// The document's title.
pub const TITLE: &str = "JWT API platform";

/// Where the schemas of the gateway's own answers are.
const HEALTH_STATUS: &str = "#/components/schemas/HealthStatus";
const FORWARD_AUTH_GRANT: &str = "#/components/schemas/ForwardAuthGrant";

/// What the original URI must be (see `proxy/verify.rs` and `routing::is_safe_path`): visible
/// ASCII, a path from `/` up to any query or fragment, in which no segment is `.` or `..`
/// and no backslash, encoded dot, slash, backslash or NUL is; else 400.
const ORIGINAL_URI_PATTERN: &str =
    r"^(?![^?#]*(?:\\|%2[eEfF]|%5[cC]|%00|/\.{1,2}(?:[/?#]|$)))/[\t\x20-\x7e]*$";

/// The methods forward authentication answers: any, alike.
const FORWARD_AUTH_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The frame: info, the public URL as the only server, the shared components and the
/// gateway's own operations.
pub fn document(settings: &DocumentSettings) -> Value {
    let mut paths = Map::new();
    let welcome = json!({"$ref": ERROR_BODY});
    paths.insert(
        "/".into(),
        own_get(
            "welcome",
            "The seed's welcome message.",
            json_response(
                "`{\"message\": \"Welcome to the Flask JWT API!\"}`.",
                welcome,
            ),
        ),
    );
    let document_schema = json!({"type": "object", "description": "An OpenAPI 3.1 document."});
    paths.insert(
        DOCUMENT_PATH.into(),
        own_get(
            "openapi",
            "This document.",
            json_response("The public API's OpenAPI document.", document_schema),
        ),
    );
    let status = json!({"$ref": HEALTH_STATUS});
    paths.insert(
        LIVE_PATH.into(),
        own_get(
            "live",
            "Liveness: the gateway is up and serving HTTP.",
            json_response("`{\"status\": \"ok\"}`.", status.clone()),
        ),
    );
    let mut ready = own_get(
        "ready",
        "Readiness: tokens can be verified (in JWKS mode, the keys were fetched).",
        json_response("`{\"status\": \"ok\"}`.", status.clone()),
    );
    add(
        &mut ready["get"],
        "503",
        json_response(
            "`{\"status\": \"unavailable\"}`: the keys were never fetched, or the revocation list is stale under `revocations.when_stale = \"closed\"`.",
            status,
        ),
    );
    paths.insert(READY_PATH.into(), ready);
    if let Some(path) = &settings.forward_auth_path {
        paths.insert(path.clone(), forward_auth(settings));
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": TITLE,
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The public API, as the gateway serves it: its own operations and \
                those of the services behind it that its route table reaches. A protected \
                operation takes the access token from `POST /login` in \
                `Authorization: Bearer <JWT>` or in the seed's `x-access-token` header.",
        },
        "servers": [{"url": settings.public_url}],
        "paths": paths,
        "components": {
            "schemas": {
                "ErrorBody": {
                    "type": "object",
                    "description": "Body of every error: `{\"message\": \"...\"}`.",
                    "required": ["message"],
                    "properties": {"message": {"type": "string"}},
                },
                "HealthStatus": {
                    "type": "object",
                    "required": ["status"],
                    "properties": {
                        "status": {"type": "string", "enum": ["ok", "unavailable"]},
                        "revocations": {
                            "type": "object",
                            "description": "Readiness only, where a revocation stream is followed: seconds since it was last heard from, the last revocation applied, entries held, and how often the full list folded entries.",
                            "required": ["lag_seconds", "sequence", "entries", "folds"],
                            "properties": {
                                "lag_seconds": {"type": "integer", "minimum": 0},
                                "sequence": {"type": "integer", "minimum": 0},
                                "entries": {"type": "integer", "minimum": 0},
                                "folds": {"type": "integer", "minimum": 0},
                            },
                        },
                    },
                },
                "ForwardAuthGrant": {
                    "type": "object",
                    "required": ["access"],
                    "properties": {
                        "access": {"type": "string", "enum": ["public", "protected"]},
                        "user": {"type": "string"},
                        "roles": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
            "securitySchemes": {
                BEARER_SCHEME: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                ACCESS_TOKEN_SCHEME: {"type": "apiKey", "in": "header", "name": ACCESS_TOKEN},
            },
        },
        "tags": [{"name": "gateway", "description": "What the gateway answers itself."}],
    })
}

/// A path item with one GET operation of the gateway's, answering `ok` as 200.
fn own_get(id: &str, summary: &str, ok: Value) -> Value {
    let mut operation = json!({
        "operationId": id,
        "summary": summary,
        "tags": ["gateway"],
        "responses": {"200": ok},
    });
    answers::edge(&mut operation);
    json!({"get": operation})
}

/// The forward-authentication endpoint: it answers any method alike. The original request
/// is described the way nginx names it; Traefik's `X-Forwarded-Uri` and
/// `X-Forwarded-Method` are read when `X-Original-URI` is absent.
fn forward_auth(settings: &DocumentSettings) -> Value {
    let header = |name: &str, required: bool, description: &str, pattern: &str, example: &str| {
        json!({"name": name, "in": "header", "required": required, "description": description,
               "schema": {"type": "string", "pattern": pattern}, "example": example})
    };
    let parameters = [
        header(
            "x-original-uri",
            true,
            "The original request's URI; its path picks the route.",
            ORIGINAL_URI_PATTERN,
            "/protected",
        ),
        header(
            "x-original-method",
            false,
            "The original request's method; GET when absent.",
            "^[A-Z]+$",
            "GET",
        ),
    ];
    let granted = json_response(
        "Granted; a protected route's answer carries the identity headers, signed.",
        json!({"$ref": FORWARD_AUTH_GRANT}),
    );
    let mut operation = json!({
        "summary": "Forward authentication: may the original request go through?",
        "description": "For a proxy in front (nginx `auth_request`, Traefik `forwardAuth`): \
            the original request is named by `X-Original-URI` and `X-Original-Method` (or \
            Traefik's `X-Forwarded-Uri` and `X-Forwarded-Method`), the token comes with the \
            request's own headers.",
        "tags": ["gateway"],
        "parameters": parameters,
        // The token is needed only when the original request's route is protected.
        "security": [{}, {BEARER_SCHEME: []}, {ACCESS_TOKEN_SCHEME: []}],
        "responses": {"200": granted},
    });
    add(
        &mut operation,
        "400",
        error_response("No or a malformed original request, or an unsafe path."),
    );
    add(
        &mut operation,
        "404",
        error_response("No route for the original path."),
    );
    answers::refusals(&mut operation, settings.refusal_status, true);
    add(&mut operation, "429", answers::too_many_requests());
    add(
        &mut operation,
        "503",
        error_response(
            "The signing keys were never fetched, the revocation list is stale under `revocations.when_stale = \"closed\"`, or too many connections to the gateway.",
        ),
    );
    answers::edge(&mut operation);
    let mut item = Map::new();
    for method in FORWARD_AUTH_METHODS {
        let mut this = operation.clone();
        this["operationId"] = Value::from(format!("forward_auth_{method}"));
        item.insert(method.into(), this);
    }
    Value::Object(item)
}

/// Says, in the description and in `x-missing-upstreams`, which upstreams' operations are
/// missing because their documents could not be had.
pub fn note_missing(document: &mut Value, missing: &[&str]) {
    if missing.is_empty() {
        return;
    }
    let note = format!(
        "\n\nIncomplete: the operations of {} are left out, their documents could not be \
         fetched; the gateway tries again within seconds.",
        missing.join(", ")
    );
    if let Some(Value::String(description)) = document.pointer_mut("/info/description") {
        description.push_str(&note);
    }
    document["x-missing-upstreams"] = Value::from(missing.to_vec());
}
