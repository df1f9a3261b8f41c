//! The JSONPath subset CRD `additionalPrinterColumns` use: `.a.b`, `[n]`, `[*]`, `[?(@.k=="v")]`.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(usize),
    All,
    Filter { key: Vec<String>, value: String },
}

fn parse(path: &str) -> Result<Vec<Step>, String> {
    let p = path.trim();
    let p = p
        .strip_prefix('{')
        .and_then(|x| x.strip_suffix('}'))
        .unwrap_or(p);
    let mut steps = vec![];
    let mut rest = p.strip_prefix('$').unwrap_or(p);
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end > 0 {
                steps.push(Step::Field(r[..end].to_string()));
            }
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or_else(|| format!("unclosed [ in {path}"))?;
            let inner = r[..end].trim();
            if inner == "*" {
                steps.push(Step::All);
            } else if let Some(f) = inner.strip_prefix("?(").and_then(|x| x.strip_suffix(')')) {
                let (k, v) = f
                    .split_once("==")
                    .ok_or_else(|| format!("unsupported filter {f}"))?;
                let key = k
                    .trim()
                    .strip_prefix("@.")
                    .ok_or_else(|| format!("unsupported filter {f}"))?
                    .split('.')
                    .map(str::to_string)
                    .collect();
                let value = v.trim().trim_matches(|c| c == '"' || c == '\'').to_string();
                steps.push(Step::Filter { key, value });
            } else if let Ok(n) = inner.parse() {
                steps.push(Step::Index(n));
            } else {
                let name = inner.trim_matches(|c| c == '"' || c == '\'');
                steps.push(Step::Field(name.to_string()));
            }
            rest = &r[end + 1..];
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            steps.push(Step::Field(rest[..end].to_string()));
            rest = &rest[end..];
        }
    }
    Ok(steps)
}

fn scalar_str(v: &Value) -> Option<&str> {
    v.as_str()
}

/// All values the path selects, in document order.
pub fn select<'a>(obj: &'a Value, path: &str) -> Result<Vec<&'a Value>, String> {
    let steps = parse(path)?;
    let mut cur = vec![obj];
    for step in &steps {
        let mut next = vec![];
        for v in cur {
            match step {
                Step::Field(f) => next.extend(v.get(f)),
                Step::Index(i) => next.extend(v.get(*i)),
                Step::All => match v {
                    Value::Array(a) => next.extend(a.iter()),
                    Value::Object(m) => next.extend(m.values()),
                    _ => {}
                },
                Step::Filter { key, value } => {
                    if let Value::Array(a) = v {
                        for item in a {
                            let mut x = Some(item);
                            for k in key {
                                x = x.and_then(|x| x.get(k));
                            }
                            let hit = x.is_some_and(|x| {
                                scalar_str(x)
                                    .map(str::to_string)
                                    .unwrap_or_else(|| x.to_string())
                                    == *value
                            });
                            if hit {
                                next.push(item);
                            }
                        }
                    }
                }
            }
        }
        cur = next;
    }
    Ok(cur)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn printer_column_paths() {
        let o = json!({"spec": {"deviceIndex": 2, "subnets": ["a", "b"]},
            "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Degraded", "status": "False"}]}});
        assert_eq!(
            select(&o, ".spec.deviceIndex").expect("ok"),
            vec![&json!(2)]
        );
        assert_eq!(
            select(&o, ".spec.subnets[1]").expect("ok"),
            vec![&json!("b")]
        );
        assert_eq!(select(&o, ".spec.subnets[*]").expect("ok").len(), 2);
        assert_eq!(
            select(&o, ".status.conditions[?(@.type==\"Degraded\")].status").expect("ok"),
            vec![&json!("False")]
        );
        assert!(select(&o, ".spec.missing").expect("ok").is_empty());
        assert!(select(&o, ".spec[").is_err());
    }
}
