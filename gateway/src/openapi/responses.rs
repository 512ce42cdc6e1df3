//! OpenAPI response objects as JSON, and adding one to an operation that may already
//! declare the same status (an upstream's answer and the gateway's side by side).

use serde_json::{Map, Value, json};

/// Where the JSON error body's schema is (the frame in `own.rs` defines it).
pub const ERROR_BODY: &str = "#/components/schemas/ErrorBody";

/// A response with a JSON body of `schema`.
pub fn json_response(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

/// A response with the JSON error body.
pub fn error_response(description: &str) -> Value {
    json_response(description, json!({"$ref": ERROR_BODY}))
}

/// `response` with these headers (name, description, schema type, required).
pub fn with_headers(mut response: Value, headers: &[(&str, &str, &str, bool)]) -> Value {
    let mut map = Map::new();
    for (name, description, kind, required) in headers {
        let mut header = json!({"description": description, "schema": {"type": kind}});
        if *kind == "integer" {
            header["schema"]["minimum"] = Value::from(0);
        }
        if *required {
            header["required"] = Value::Bool(true);
        }
        map.insert((*name).to_owned(), header);
    }
    response["headers"] = Value::Object(map);
    response
}

/// Adds `response` for `status` to `operation`. A status the operation already declares
/// keeps its description, followed by the gateway's, and gains the headers and the body it
/// lacks; a reference to a shared response is left as it is.
pub fn add(operation: &mut Value, status: &str, response: Value) {
    if !operation.is_object() {
        return;
    }
    if !operation["responses"].is_object() {
        operation["responses"] = Value::Object(Map::new());
    }
    let responses = &mut operation["responses"];
    let Some(existing) = responses.get_mut(status) else {
        responses[status] = response;
        return;
    };
    if existing.get("$ref").is_some() || !existing.is_object() {
        return;
    }
    if let (Some(Value::String(text)), Some(ours)) = (
        existing.get_mut("description"),
        response["description"].as_str(),
    ) {
        text.push_str("\n\nFrom the gateway: ");
        text.push_str(ours);
    }
    if existing.get("content").is_none() {
        existing["content"] = response["content"].clone();
    }
    if let Some(Value::Object(headers)) = response.get("headers") {
        if !existing["headers"].is_object() {
            existing["headers"] = Value::Object(Map::new());
        }
        for (name, header) in headers {
            // Another layer may answer the same status without the header.
            let mut header = header.clone();
            if let Some(fields) = header.as_object_mut() {
                fields.remove("required");
            }
            if existing["headers"].get(name).is_none() {
                existing["headers"][name] = header;
            }
        }
    }
}
