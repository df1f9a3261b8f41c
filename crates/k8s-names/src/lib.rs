//! Kubernetes' rules for names, label keys and label values, with kube-apiserver's own words.
//!
//! The one implementation of these facts in the workspace: the API types use it to build names
//! that a cluster accepts, the API double to refuse what a cluster refuses (object names on
//! write, label selectors on list and watch). Each check returns kube-apiserver's messages —
//! empty when the value is valid, otherwise one message per problem, in kube's order, so a caller
//! can turn each into a field error exactly as kube does (`metadata.name: Invalid value: "a..b":
//! <message>`).
//!
//! The regular expressions and messages are copied from `k8s.io/apimachinery` v0.37
//! (`pkg/util/validation` and `pkg/api/validate/content`). Note the two length wordings there:
//! object names (`IsDNS1123Subdomain`, `IsDNS1123Label` in `util/validation`) say "characters",
//! label keys and values (`content`) say "bytes"; both count bytes.

use std::sync::LazyLock;

use regex::Regex;

/// Longest DNS-1123 label (a Namespace name, a part of a subdomain).
pub const DNS1123_LABEL_MAX_LEN: usize = 63;
/// Longest DNS-1123 subdomain (most object names, a label key's prefix).
pub const DNS1123_SUBDOMAIN_MAX_LEN: usize = 253;
/// Longest label value, and longest name part of a label key.
pub const LABEL_VALUE_MAX_LEN: usize = 63;

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL_ERR: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_ERR: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const LABEL_KEY_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const LABEL_KEY_ERR: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_ERR: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

fn anchored(fmt: &str) -> Regex {
    Regex::new(&format!("^{fmt}$")).expect("kube's validation regexes compile")
}

static DNS1123_LABEL: LazyLock<Regex> = LazyLock::new(|| anchored(DNS1123_LABEL_FMT));
static DNS1123_SUBDOMAIN: LazyLock<Regex> = LazyLock::new(|| anchored(DNS1123_SUBDOMAIN_FMT));
static LABEL_KEY: LazyLock<Regex> = LazyLock::new(|| anchored(LABEL_KEY_FMT));
static LABEL_VALUE: LazyLock<Regex> = LazyLock::new(|| anchored(LABEL_VALUE_FMT));

/// Which of apimachinery's two `MaxLenError`s a check uses.
#[derive(Clone, Copy)]
enum Unit {
    Characters,
    Bytes,
}

fn max_len_error(max: usize, unit: Unit) -> String {
    let unit = match unit {
        Unit::Characters => "characters",
        Unit::Bytes => "bytes",
    };
    format!("must be no more than {max} {unit}")
}

/// apimachinery's `RegexError`; the double space in "'a',  or 'b'" is kube's.
fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    let mut out = msg.to_owned();
    if examples.is_empty() {
        return format!("{out} (regex used for validation is '{fmt}')");
    }
    out.push_str(" (e.g. ");
    for (i, e) in examples.iter().enumerate() {
        if i > 0 {
            out.push_str(" or ");
        }
        out.push_str(&format!("'{e}', "));
    }
    out.push_str(&format!("regex used for validation is '{fmt}')"));
    out
}

/// `IsDNS1123Label`: what a Namespace name must be.
pub fn dns1123_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_LABEL_MAX_LEN {
        errs.push(max_len_error(DNS1123_LABEL_MAX_LEN, Unit::Characters));
    }
    if !DNS1123_LABEL.is_match(value) {
        if DNS1123_SUBDOMAIN.is_match(value) {
            // A valid subdomain but no label: the length is checked above, so it is the dots.
            errs.push("must not contain dots".to_owned());
        } else {
            errs.push(regex_error(
                DNS1123_LABEL_ERR,
                DNS1123_LABEL_FMT,
                &["my-name", "123-abc"],
            ));
        }
    }
    errs
}

/// `IsDNS1123Subdomain`: what most object names (custom objects, Nodes, CRDs) must be.
pub fn dns1123_subdomain(value: &str) -> Vec<String> {
    subdomain(value, Unit::Characters)
}

fn subdomain(value: &str, unit: Unit) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX_LEN {
        errs.push(max_len_error(DNS1123_SUBDOMAIN_MAX_LEN, unit));
    }
    if !DNS1123_SUBDOMAIN.is_match(value) {
        errs.push(regex_error(
            DNS1123_SUBDOMAIN_ERR,
            DNS1123_SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errs
}

/// `IsLabelKey` (kube's "qualified name"): an optional DNS-1123 subdomain prefix and `/`, then a
/// name of at most 63 alphanumerics, `-`, `_` or `.`, starting and ending alphanumeric.
pub fn label_key(value: &str) -> Vec<String> {
    let name_examples = ["MyName", "my.name", "123-abc"];
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_owned());
            } else {
                errs.extend(
                    subdomain(prefix, Unit::Bytes)
                        .into_iter()
                        .map(|m| format!("prefix part {m}")),
                );
            }
            *name
        }
        _ => {
            let shape = regex_error(LABEL_KEY_ERR, LABEL_KEY_FMT, &name_examples);
            errs.push(format!(
                "a valid label key {shape} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_owned());
    } else if name.len() > LABEL_VALUE_MAX_LEN {
        errs.push(format!(
            "name part {}",
            max_len_error(LABEL_VALUE_MAX_LEN, Unit::Bytes)
        ));
    }
    if !LABEL_KEY.is_match(name) {
        let shape = regex_error(LABEL_KEY_ERR, LABEL_KEY_FMT, &name_examples);
        errs.push(format!("name part {shape}"));
    }
    errs
}

/// `IsLabelValue`: empty, or at most 63 alphanumerics, `-`, `_` or `.`, starting and ending
/// alphanumeric.
pub fn label_value(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > LABEL_VALUE_MAX_LEN {
        errs.push(max_len_error(LABEL_VALUE_MAX_LEN, Unit::Bytes));
    }
    if !LABEL_VALUE.is_match(value) {
        errs.push(regex_error(
            LABEL_VALUE_ERR,
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

/// Whether `value` is a valid object name (DNS-1123 subdomain).
pub fn is_dns1123_subdomain(value: &str) -> bool {
    dns1123_subdomain(value).is_empty()
}

/// Whether `value` is a valid label value.
pub fn is_label_value(value: &str) -> bool {
    label_value(value).is_empty()
}

/// Whether `value` is a valid label key.
pub fn is_label_key(value: &str) -> bool {
    label_key(value).is_empty()
}

#[cfg(test)]
mod tests;
