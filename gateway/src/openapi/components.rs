//! An upstream's components merged into the document's: a component whose name is taken by
//! a different one is renamed `<upstream>.<name>` and the references to it follow; one of
//! the same shape (descriptions aside) is shared. Security schemes are not taken: an
//! operation's security is what the gateway checks on its route.

use std::collections::HashMap;

use serde_json::{Map, Value};

/// The component sections whose entries are referenced by `$ref`.
const SECTIONS: [&str; 9] = [
    "schemas",
    "responses",
    "parameters",
    "examples",
    "requestBodies",
    "headers",
    "links",
    "callbacks",
    "pathItems",
];

/// Keywords that describe a schema without changing what it accepts.
const ANNOTATIONS: [&str; 4] = ["description", "title", "example", "examples"];

/// Adds `theirs`' components to `document`'s; returns the references renamed.
pub fn merge_components(
    document: &mut Value,
    theirs: &mut Value,
    upstream: &str,
) -> HashMap<String, String> {
    let mut renames = HashMap::new();
    let Some(Value::Object(mut components)) = theirs.get_mut("components").map(Value::take) else {
        return renames;
    };
    // A component is the same as ours only if it is once its own references are renamed,
    // and each rename can make another differ: repeated until nothing changes.
    loop {
        let mut changed = false;
        for (section, name, value) in entries(&components) {
            let reference = format!("#/components/{section}/{name}");
            let Some(ours) = document["components"][section].get(name) else {
                continue;
            };
            if renames.contains_key(&reference) {
                continue;
            }
            let mut candidate = value.clone();
            rewrite_refs(&mut candidate, &renames);
            if !same_shape(ours, &candidate) {
                let fresh = fresh_name(document, section, upstream, name);
                renames.insert(reference, format!("#/components/{section}/{fresh}"));
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    for section in SECTIONS {
        let Some(Value::Object(entries)) = components.get_mut(section).map(Value::take) else {
            continue;
        };
        for (name, mut value) in entries {
            let reference = format!("#/components/{section}/{name}");
            let target = match renames.get(&reference) {
                Some(renamed) => renamed.rsplit('/').next().unwrap_or(&name).to_owned(),
                // Same as ours, or new.
                None if document["components"][section].get(&name).is_some() => continue,
                None => name,
            };
            rewrite_refs(&mut value, &renames);
            if !document["components"][section].is_object() {
                document["components"][section] = Value::Object(Map::new());
            }
            document["components"][section][target.as_str()] = value;
        }
    }
    renames
}

/// Every (section, name, component) of `components`.
fn entries(components: &Map<String, Value>) -> Vec<(&'static str, &str, &Value)> {
    SECTIONS
        .iter()
        .filter_map(|section| Some((*section, components.get(*section)?.as_object()?)))
        .flat_map(|(section, map)| map.iter().map(move |(n, v)| (section, n.as_str(), v)))
        .collect()
}

/// `<upstream>.<name>`, made a valid component name, and unused in `document`.
fn fresh_name(document: &Value, section: &str, upstream: &str, name: &str) -> String {
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
    let base: String = format!("{upstream}.{name}")
        .chars()
        .map(|c| if valid(c) { c } else { '_' })
        .collect();
    let mut candidate = base.clone();
    let mut n = 2;
    while document["components"][section].get(&candidate).is_some() {
        candidate = format!("{base}_{n}");
        n += 1;
    }
    candidate
}

/// Whether two components accept the same, whatever their descriptions say.
fn same_shape(a: &Value, b: &Value) -> bool {
    fn strip(value: &Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .filter(|(k, _)| !ANNOTATIONS.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), strip(v)))
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(strip).collect()),
            other => other.clone(),
        }
    }
    strip(a) == strip(b)
}

/// Points every `$ref` in `value` that was renamed at the new name.
pub fn rewrite_refs(value: &mut Value, renames: &HashMap<String, String>) {
    if renames.is_empty() {
        return;
    }
    match value {
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                match item {
                    Value::String(reference) if key == "$ref" => {
                        if let Some(renamed) = renames.get(reference.as_str()) {
                            *reference = renamed.clone();
                        }
                    }
                    _ => rewrite_refs(item, renames),
                }
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| rewrite_refs(item, renames)),
        _ => {}
    }
}
