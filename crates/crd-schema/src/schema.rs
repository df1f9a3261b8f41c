//! The parts of a structural OpenAPI v3 schema that pruning, defaulting and validation need,
//! parsed once so a write does not re-read JSON or recompile regular expressions.

use std::collections::BTreeMap;

use serde_json::Value;

/// Why a schema could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// A required part of the CRD is absent.
    #[error("the CustomResourceDefinition has no {0}")]
    Missing(&'static str),
    /// The CRD does not define the version asked for.
    #[error("the CustomResourceDefinition has no version {0:?}")]
    NoSuchVersion(String),
    /// A `pattern` is not a valid regular expression.
    #[error("{path}: pattern {pattern:?} does not compile: {source}")]
    Pattern {
        /// Where in the schema.
        path: String,
        /// The pattern.
        pattern: String,
        /// The regex error.
        source: regex::Error,
    },
    /// A `type` is not one of OpenAPI's.
    #[error("{path}: unknown type {ty:?}")]
    UnknownType {
        /// Where in the schema.
        path: String,
        /// The type given.
        ty: String,
    },
    /// A CEL rule does not compile.
    #[error("CEL rule does not compile: {0}")]
    Cel(String),
}

/// OpenAPI value types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Type {
    Object,
    Array,
    String,
    Integer,
    Number,
    Boolean,
}

impl Type {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Type::Object => "object",
            Type::Array => "array",
            Type::String => "string",
            Type::Integer => "integer",
            Type::Number => "number",
            Type::Boolean => "boolean",
        }
    }
}

/// What `additionalProperties` allows.
#[derive(Debug)]
pub(crate) enum Additional {
    /// Not given: unknown keys are pruned (unless unknown fields are preserved).
    None,
    /// `true` or a schema: a map whose values follow the schema (None = anything).
    Schema(Option<Box<Node>>),
}

/// One schema node.
#[derive(Debug)]
pub(crate) struct Node {
    pub ty: Option<Type>,
    pub nullable: bool,
    pub properties: BTreeMap<String, Node>,
    pub additional: Additional,
    pub items: Option<Box<Node>>,
    pub required: Vec<String>,
    pub default: Option<Value>,
    pub enumeration: Option<Vec<Value>>,
    pub pattern: Option<(String, regex::Regex)>,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    pub exclusive_minimum: bool,
    pub exclusive_maximum: bool,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub min_items: Option<u64>,
    pub max_items: Option<u64>,
    pub min_properties: Option<u64>,
    pub max_properties: Option<u64>,
    pub unique_items: bool,
    pub format: Option<String>,
    pub preserve_unknown: bool,
    pub int_or_string: bool,
    pub embedded_resource: bool,
    /// `x-kubernetes-list-type` (`set` and `map` forbid duplicates).
    pub list_type: Option<String>,
    pub list_map_keys: Vec<String>,
}

impl Node {
    pub(crate) fn parse(v: &Value, path: &str) -> Result<Node, super::SchemaError> {
        let ty = match v.get("type").and_then(Value::as_str) {
            None => None,
            Some("object") => Some(Type::Object),
            Some("array") => Some(Type::Array),
            Some("string") => Some(Type::String),
            Some("integer") => Some(Type::Integer),
            Some("number") => Some(Type::Number),
            Some("boolean") => Some(Type::Boolean),
            Some(other) => {
                return Err(SchemaError::UnknownType {
                    path: path.to_owned(),
                    ty: other.to_owned(),
                });
            }
        };
        let mut properties = BTreeMap::new();
        if let Some(props) = v.get("properties").and_then(Value::as_object) {
            for (name, sub) in props {
                properties.insert(name.clone(), Node::parse(sub, &format!("{path}.{name}"))?);
            }
        }
        let additional = match v.get("additionalProperties") {
            None | Some(Value::Bool(false)) => Additional::None,
            Some(Value::Bool(true)) => Additional::Schema(None),
            Some(sub) => {
                Additional::Schema(Some(Box::new(Node::parse(sub, &format!("{path}[*]"))?)))
            }
        };
        let items = match v.get("items") {
            Some(sub) => Some(Box::new(Node::parse(sub, &format!("{path}[*]"))?)),
            None => None,
        };
        let pattern = match v.get("pattern").and_then(Value::as_str) {
            Some(p) => {
                let re = regex::Regex::new(p).map_err(|source| SchemaError::Pattern {
                    path: path.to_owned(),
                    pattern: p.to_owned(),
                    source,
                })?;
                Some((p.to_owned(), re))
            }
            None => None,
        };
        let flag = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
        let uint = |k: &str| v.get(k).and_then(Value::as_u64);
        let strings = |k: &str| -> Vec<String> {
            v.get(k)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        Ok(Node {
            ty,
            nullable: flag("nullable"),
            properties,
            additional,
            items,
            required: strings("required"),
            default: v.get("default").cloned(),
            enumeration: v.get("enum").and_then(Value::as_array).cloned(),
            pattern,
            minimum: v.get("minimum").and_then(Value::as_f64),
            maximum: v.get("maximum").and_then(Value::as_f64),
            exclusive_minimum: flag("exclusiveMinimum"),
            exclusive_maximum: flag("exclusiveMaximum"),
            min_length: uint("minLength"),
            max_length: uint("maxLength"),
            min_items: uint("minItems"),
            max_items: uint("maxItems"),
            min_properties: uint("minProperties"),
            max_properties: uint("maxProperties"),
            unique_items: flag("uniqueItems"),
            format: v.get("format").and_then(Value::as_str).map(str::to_owned),
            preserve_unknown: flag("x-kubernetes-preserve-unknown-fields"),
            int_or_string: flag("x-kubernetes-int-or-string"),
            embedded_resource: flag("x-kubernetes-embedded-resource"),
            list_type: v
                .get("x-kubernetes-list-type")
                .and_then(Value::as_str)
                .map(str::to_owned),
            list_map_keys: strings("x-kubernetes-list-map-keys"),
        })
    }

    /// The type name kube-apiserver prints as the "value" of a CEL failure on this node.
    pub(crate) fn type_name(&self) -> &'static str {
        match self.ty {
            Some(t) => t.as_str(),
            None if self.int_or_string => "integer-or-string",
            None => "object",
        }
    }

    /// The child schema for one step of a field path (`name` or `[i]` / `[key]`).
    pub(crate) fn child(&self, step: &str) -> Option<&Node> {
        if step.starts_with('[') {
            if let Some(items) = &self.items {
                return Some(items);
            }
            if let Additional::Schema(Some(s)) = &self.additional {
                return Some(s);
            }
            return None;
        }
        self.properties.get(step)
    }
}
