//! Label and field selectors, parsed the way kube-apiserver parses them
//! (k8s.io/apimachinery/pkg/labels and pkg/fields), and matched against stored JSON.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::resource::{ResourceType, field_value};

#[derive(Debug, Clone, PartialEq)]
enum LabelOp {
    Exists,
    NotExists,
    Eq(String),
    NotEq(String),
    In(BTreeSet<String>),
    NotIn(BTreeSet<String>),
    Gt(i64),
    Lt(i64),
}

/// A parsed `labelSelector`; empty matches everything.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LabelSelector {
    reqs: Vec<(String, LabelOp)>,
}

/// Splits on commas that are not inside `( )`.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut out = vec![];
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// labels' `validateLabelKey` as the parser calls it, on the identifier it just read: the field
/// error has no path (`<nil>: Invalid value: "-a": name part must …`).
fn check_label_key(k: &str) -> Result<(), String> {
    let problems = multi_eni_k8s_names::label_key(k);
    if problems.is_empty() {
        return Ok(());
    }
    Err(format!(
        "<nil>: Invalid value: {k:?}: {}",
        problems.join("; ")
    ))
}

/// labels' `NewRequirement` check of the values: each bad one is a field error at
/// `values[i][key]`, where `i` is its place in the sorted set kube builds from them; several
/// errors are one aggregate (`[e1, e2]`).
fn check_label_values<'a>(key: &str, values: impl Iterator<Item = &'a str>) -> Result<(), String> {
    let errors: Vec<String> = values
        .enumerate()
        .filter_map(|(i, v)| {
            let problems = multi_eni_k8s_names::label_value(v);
            (!problems.is_empty()).then(|| {
                format!(
                    "values[{i}][{key}]: Invalid value: {v:?}: {}",
                    problems.join("; ")
                )
            })
        })
        .collect();
    match errors.as_slice() {
        [] => Ok(()),
        [one] => Err(one.clone()),
        many => Err(format!("[{}]", many.join(", "))),
    }
}

fn parse_set(key: &str, rest: &str) -> Result<BTreeSet<String>, String> {
    // kube reads (and checks) the key before the values.
    check_label_key(key)?;
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("found '{rest}', expected: '(' ... ')'"))?;
    let set: BTreeSet<String> = inner.split(',').map(|v| v.trim().to_string()).collect();
    check_label_values(key, set.iter().map(String::as_str))?;
    Ok(set)
}

impl LabelSelector {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut reqs = vec![];
        if s.trim().is_empty() {
            return Ok(LabelSelector { reqs });
        }
        for part in split_top_level(s) {
            let part = part.trim();
            if part.is_empty() {
                return Err(format!("found '', expected: identifier in \"{s}\""));
            }
            let (key, op) = if let Some(k) = part.strip_prefix('!') {
                (k.trim().to_string(), LabelOp::NotExists)
            } else if let Some((k, v)) = part.split_once("!=") {
                (k.trim().to_string(), LabelOp::NotEq(v.trim().to_string()))
            } else if let Some((k, v)) = part.split_once("==") {
                (k.trim().to_string(), LabelOp::Eq(v.trim().to_string()))
            } else if let Some((k, v)) = part.split_once('=') {
                (k.trim().to_string(), LabelOp::Eq(v.trim().to_string()))
            } else if let Some((k, v)) = part.split_once('>') {
                let n = v
                    .trim()
                    .parse()
                    .map_err(|_| format!("invalid integer value: {v}"))?;
                (k.trim().to_string(), LabelOp::Gt(n))
            } else if let Some((k, v)) = part.split_once('<') {
                let n = v
                    .trim()
                    .parse()
                    .map_err(|_| format!("invalid integer value: {v}"))?;
                (k.trim().to_string(), LabelOp::Lt(n))
            } else if let Some(idx) = part.find(" notin ").or_else(|| part.find(" notin(")) {
                let key = part[..idx].trim();
                (
                    key.to_string(),
                    LabelOp::NotIn(parse_set(key, &part[idx + 6..])?),
                )
            } else if let Some(idx) = part.find(" in ").or_else(|| part.find(" in(")) {
                let key = part[..idx].trim();
                (
                    key.to_string(),
                    LabelOp::In(parse_set(key, &part[idx + 3..])?),
                )
            } else {
                (part.to_string(), LabelOp::Exists)
            };
            check_label_key(&key)?;
            if let LabelOp::Eq(v) | LabelOp::NotEq(v) = &op {
                check_label_values(&key, std::iter::once(v.as_str()))?;
            }
            reqs.push((key, op));
        }
        Ok(LabelSelector { reqs })
    }

    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    /// Matches an object's `metadata.labels`.
    pub fn matches(&self, obj: &Value) -> bool {
        let labels = obj.pointer("/metadata/labels");
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.reqs.iter().all(|(k, op)| match op {
            LabelOp::Exists => get(k).is_some(),
            LabelOp::NotExists => get(k).is_none(),
            LabelOp::Eq(v) => get(k) == Some(v.as_str()),
            LabelOp::NotEq(v) => get(k) != Some(v.as_str()),
            LabelOp::In(set) => get(k).is_some_and(|x| set.contains(x)),
            LabelOp::NotIn(set) => get(k).is_none_or(|x| !set.contains(x)),
            LabelOp::Gt(n) => get(k)
                .and_then(|x| x.parse::<i64>().ok())
                .is_some_and(|x| x > *n),
            LabelOp::Lt(n) => get(k)
                .and_then(|x| x.parse::<i64>().ok())
                .is_some_and(|x| x < *n),
        })
    }
}

/// One field requirement: the JSON path it reads, whether it is `!=`, and the value.
type FieldReq = (Vec<String>, bool, String);

/// A parsed `fieldSelector`, bound to the fields the resource supports.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FieldSelector {
    reqs: Vec<FieldReq>,
}

/// Splits on unescaped `sep` (kube escapes `\,` `\=` `\\` in field selector values).
fn split_escaped(s: &str, sep: char) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let (Some(n), Some(l)) = (chars.next(), out.last_mut()) {
                l.push('\\');
                l.push(n);
            }
        } else if c == sep {
            out.push(String::new());
        } else if let Some(l) = out.last_mut() {
            l.push(c);
        }
    }
    out
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl FieldSelector {
    pub fn parse(s: &str, rt: &ResourceType) -> Result<Self, String> {
        let mut sel = FieldSelector::default();
        if s.trim().is_empty() {
            return Ok(sel);
        }
        for part in split_escaped(s, ',') {
            let (field, neg, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, true, v)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, false, v)
            } else {
                return Err(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                ));
            };
            let field = field.trim();
            let path = rt
                .field_path(field)
                .ok_or_else(|| format!("field label not supported: {field}"))?;
            let value = unescape(value.trim());
            sel.reqs.push((path.to_vec(), neg, value));
        }
        Ok(sel)
    }

    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    /// `metadata.name=x`: lets a list of one object skip the scan.
    pub fn exact_name(&self) -> Option<&str> {
        self.reqs
            .iter()
            .rev()
            .find(|(path, neg, _)| !neg && path.as_slice() == ["metadata", "name"])
            .map(|(_, _, v)| v.as_str())
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.reqs
            .iter()
            .all(|(path, neg, want)| (field_value(obj, path) == *want) != *neg)
    }
}

/// Both selectors together: what a list or watch filters by.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Filter {
    pub fn matches(&self, obj: &Value) -> bool {
        self.labels.matches(obj) && self.fields.matches(obj)
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::builtin_resources;
    use serde_json::json;

    fn obj(labels: Value) -> Value {
        json!({"metadata": {"name": "a", "namespace": "ns", "labels": labels}})
    }

    #[test]
    fn equality_and_set_based_label_expressions() {
        let o = obj(json!({"app": "web", "tier": "front", "n": "7"}));
        let cases = [
            ("", true),
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app=db", false),
            ("app", true),
            ("!app", false),
            ("!missing", true),
            ("app in (web, db)", true),
            ("app in (db)", false),
            ("app notin (db)", true),
            ("missing notin (db)", true),
            ("missing in (db)", false),
            ("app=web,tier in (front,back)", true),
            ("app=web,tier notin (front,back)", false),
            ("n>5", true),
            ("n<5", false),
            ("networking.k8s.aws/node", false),
        ];
        for (s, want) in cases {
            let sel = LabelSelector::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(sel.matches(&o), want, "{s}");
        }
    }

    #[test]
    fn malformed_label_selectors_are_rejected() {
        for s in [
            "app=web,",
            "app in web",
            "-bad=x",
            "a=b c",
            "app in (a b)",
            "a..b/app=x",
            "-a.b/app",
        ] {
            assert!(LabelSelector::parse(s).is_err(), "{s} should fail");
        }
    }

    #[test]
    fn bad_keys_and_values_are_named_as_kubes_parser_names_them() {
        let key = LabelSelector::parse("a..b/app=x").expect_err("prefix is no subdomain");
        assert!(
            key.starts_with(
                "<nil>: Invalid value: \"a..b/app\": prefix part a lowercase RFC 1123 subdomain"
            ),
            "{key}"
        );
        let value = LabelSelector::parse("app in (web, -db)").expect_err("bad value");
        assert!(
            value.starts_with("values[0][app]: Invalid value: \"-db\": a valid label must be"),
            "sorted, -db comes first: {value}"
        );
        let two = LabelSelector::parse("app in (web, -db, x-)").expect_err("two bad values");
        assert!(
            two.starts_with("[values[0][app]: Invalid value: \"-db\"")
                && two.contains(", values[2][app]: Invalid value: \"x-\""),
            "{two}"
        );
    }

    #[test]
    fn field_selector_on_name_namespace_and_unsupported_field() {
        let all = builtin_resources();
        let ev = all
            .iter()
            .find(|r| r.plural == "events" && r.group.is_empty())
            .expect("events");
        let o = json!({"metadata": {"name": "e1", "namespace": "default"}, "involvedObject": {"name": "n1", "kind": "Node", "namespace": ""}});
        let s = FieldSelector::parse(
            "involvedObject.name=n1,involvedObject.namespace=,involvedObject.kind=Node",
            ev,
        )
        .expect("parse");
        assert!(s.matches(&o));
        let s = FieldSelector::parse("metadata.name!=e1", ev).expect("parse");
        assert!(!s.matches(&o));
        assert_eq!(s.exact_name(), None, "!= names no object");
        let s = FieldSelector::parse("metadata.name=e1,reason=x", ev).expect("parse");
        assert_eq!(s.exact_name(), Some("e1"));
        let s = FieldSelector::parse("metadata.namespace==default", ev).expect("parse");
        assert!(s.matches(&o));
        let e = FieldSelector::parse("spec.nodeName=x", ev).expect_err("unsupported");
        assert_eq!(e, "field label not supported: spec.nodeName");
    }

    #[test]
    fn field_selector_values_may_escape_commas() {
        let all = builtin_resources();
        let ev = all
            .iter()
            .find(|r| r.plural == "events" && r.group.is_empty())
            .expect("events");
        let s = FieldSelector::parse(r"reason=a\,b", ev).expect("parse");
        assert!(s.matches(&json!({"reason": "a,b"})));
    }
}
