//! Structural pruning and defaulting, in one walk: unknown fields go, `null`s in non-nullable
//! fields go, missing fields with a `default` get it — as kube-apiserver does before validating.

use serde_json::Value;

use crate::schema::{Additional, Node};

/// Fields at an object root that belong to the API machinery, not the schema.
const ROOT_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

pub(crate) fn prune_and_default(
    node: &Node,
    v: &mut Value,
    path: &str,
    is_root: bool,
    pruned: &mut Vec<String>,
) {
    match v {
        Value::Object(map) => {
            let keep_meta = is_root || node.embedded_resource;
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                if keep_meta && ROOT_FIELDS.contains(&key.as_str()) {
                    continue;
                }
                let child_path = join(path, &key);
                let schema = match node.properties.get(&key) {
                    Some(s) => Some(s),
                    None => match &node.additional {
                        Additional::Schema(s) => s.as_deref(),
                        Additional::None if node.preserve_unknown => None,
                        Additional::None => {
                            map.remove(&key);
                            pruned.push(child_path);
                            continue;
                        }
                    },
                };
                let Some(schema) = schema else { continue };
                if map.get(&key).is_some_and(Value::is_null) && !schema.nullable {
                    map.remove(&key);
                    continue;
                }
                if let Some(child) = map.get_mut(&key) {
                    prune_and_default(schema, child, &child_path, false, pruned);
                }
            }
            for (key, schema) in &node.properties {
                if map.contains_key(key) {
                    continue;
                }
                if let Some(default) = &schema.default {
                    let mut value = default.clone();
                    prune_and_default(schema, &mut value, &join(path, key), false, pruned);
                    map.insert(key.clone(), value);
                }
            }
        }
        Value::Array(items) => {
            if let Some(schema) = &node.items {
                for (i, item) in items.iter_mut().enumerate() {
                    prune_and_default(schema, item, &format!("{path}[{i}]"), false, pruned);
                }
            }
        }
        _ => {}
    }
}

/// `spec` + `foo` → `spec.foo`; the root has no prefix.
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}
