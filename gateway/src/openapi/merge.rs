//! One upstream's document merged into the gateway's: the paths that the route table sends
//! to that upstream (found with the gateway's own routing, [`RouteTable::find`]), each
//! operation completed by [`answers::decorate`], the components they use (see
//! `components.rs`) and the tags.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::Value;

use super::DocumentSettings;
use super::answers;
use super::components::{merge_components, rewrite_refs};
use super::fetch::Fetched;
use crate::routing::{RouteTable, is_safe_path};
use crate::upstream::Upstream;

/// The operations of a path item.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Merges `fetched`, `upstream`'s document, into `document`.
pub fn merge(
    document: &mut Value,
    routes: &RouteTable,
    upstream: &Arc<Upstream>,
    fetched: Fetched,
    settings: &DocumentSettings,
) {
    let Fetched {
        prefix,
        document: mut theirs,
    } = fetched;
    let renames = merge_components(document, &mut theirs, &upstream.name);
    rewrite_refs(&mut theirs, &renames);
    merge_tags(document, &theirs);
    let Some(Value::Object(paths)) = theirs.get_mut("paths").map(Value::take) else {
        return;
    };
    let mut ids = operation_ids(document);
    for (path, mut item) in paths {
        let Some(public) = public_path(&path, &prefix) else {
            continue;
        };
        // The gateway's own paths, and any taken already, stay as they are.
        if document["paths"].get(&public).is_some() || !is_safe_path(&public) {
            continue;
        }
        let Some(route) = routes.find(&public) else {
            continue;
        };
        if !Arc::ptr_eq(&route.upstream, upstream) {
            continue;
        }
        let Some(fields) = item.as_object_mut() else {
            continue;
        };
        fields.remove("servers");
        for method in METHODS {
            if let Some(operation) = fields.get_mut(method) {
                unique_operation_id(operation, &mut ids, &upstream.name);
                answers::decorate(operation, route, settings);
            }
        }
        document["paths"][public.as_str()] = item;
    }
}

/// The public path of an upstream's `path`: without the prefix the gateway puts before
/// every path it forwards there; `None` for a path outside the prefix.
fn public_path(path: &str, prefix: &str) -> Option<String> {
    if prefix.is_empty() {
        return path.starts_with('/').then(|| path.to_owned());
    }
    match path.strip_prefix(prefix)? {
        "" => Some("/".to_owned()),
        rest if rest.starts_with('/') => Some(rest.to_owned()),
        _ => None,
    }
}

/// Adds `theirs`' tags that `document` lacks.
fn merge_tags(document: &mut Value, theirs: &Value) {
    let Some(Value::Array(tags)) = theirs.get("tags") else {
        return;
    };
    if !document["tags"].is_array() {
        document["tags"] = Value::Array(Vec::new());
    }
    for tag in tags {
        let known = document["tags"]
            .as_array()
            .is_some_and(|ours| ours.iter().any(|t| t.get("name") == tag.get("name")));
        if !known && let Some(ours) = document["tags"].as_array_mut() {
            ours.push(tag.clone());
        }
    }
}

/// Every `operationId` in `document`.
fn operation_ids(document: &Value) -> HashSet<String> {
    let Some(paths) = document["paths"].as_object() else {
        return HashSet::new();
    };
    paths
        .values()
        .filter_map(Value::as_object)
        .flat_map(|item| METHODS.iter().filter_map(|m| item.get(*m)))
        .filter_map(|operation| operation["operationId"].as_str().map(str::to_owned))
        .collect()
}

/// Makes `operation`'s id unique in the document: `<upstream>_<id>` if it is taken.
fn unique_operation_id(operation: &mut Value, ids: &mut HashSet<String>, upstream: &str) {
    let Some(id) = operation.get("operationId").and_then(Value::as_str) else {
        return;
    };
    let mut unique = id.to_owned();
    let mut n = 2;
    while ids.contains(&unique) {
        unique = format!("{upstream}_{id}");
        if n > 2 {
            unique.push_str(&format!("_{n}"));
        }
        n += 1;
    }
    ids.insert(unique.clone());
    operation["operationId"] = Value::String(unique);
}
