use super::*;

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const KEY_NAME_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

/// `n` characters forming a valid subdomain: labels of 63 `a`s joined by dots, then `a`s.
fn subdomain_of_len(n: usize) -> String {
    let mut s = String::new();
    while s.len() < n {
        if s.len() % 64 == 63 {
            s.push('.');
        } else {
            s.push('a');
        }
    }
    s
}

#[test]
fn subdomains_as_kube_apiserver_checks_object_names() {
    let at_limit = subdomain_of_len(253);
    let over = subdomain_of_len(254);
    assert_eq!(at_limit.len(), 253);
    let too_long = "must be no more than 253 characters";
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("a", vec![]),
        ("a.b-c", vec![]),
        ("ip-10-0-0-1.ec2.internal", vec![]),
        ("0", vec![]),
        (&at_limit, vec![]),
        ("a..b", vec![SUBDOMAIN_MSG]),
        ("a.-b", vec![SUBDOMAIN_MSG]),
        ("a-.b", vec![SUBDOMAIN_MSG]),
        (".a", vec![SUBDOMAIN_MSG]),
        ("a.", vec![SUBDOMAIN_MSG]),
        ("-a", vec![SUBDOMAIN_MSG]),
        ("a-", vec![SUBDOMAIN_MSG]),
        ("A", vec![SUBDOMAIN_MSG]),
        ("a_b", vec![SUBDOMAIN_MSG]),
        ("a\n", vec![SUBDOMAIN_MSG]),
        ("", vec![SUBDOMAIN_MSG]),
        (&over, vec![too_long]),
    ];
    for (name, want) in cases {
        assert_eq!(dns1123_subdomain(name), want, "{name:?}");
        assert_eq!(is_dns1123_subdomain(name), want.is_empty(), "{name:?}");
    }
    let long_and_bad = format!("{}_", "a".repeat(253));
    assert_eq!(
        dns1123_subdomain(&long_and_bad),
        vec![too_long, SUBDOMAIN_MSG],
        "both problems, length first, as kube lists them"
    );
}

#[test]
fn labels_as_kube_apiserver_checks_namespace_names() {
    let at_limit = "a".repeat(63);
    let over = "a".repeat(64);
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("a", vec![]),
        ("my-name", vec![]),
        ("123-abc", vec![]),
        (&at_limit, vec![]),
        (&over, vec!["must be no more than 63 characters"]),
        ("a.b", vec!["must not contain dots"]),
        ("a..b", vec![LABEL_MSG]),
        ("-a", vec![LABEL_MSG]),
        ("a-", vec![LABEL_MSG]),
        ("A", vec![LABEL_MSG]),
        ("", vec![LABEL_MSG]),
    ];
    for (name, want) in cases {
        assert_eq!(dns1123_label(name), want, "{name:?}");
    }
}

#[test]
fn label_values() {
    let at_limit = "a".repeat(63);
    let over = "a".repeat(64);
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("", vec![]),
        ("a", vec![]),
        ("A.b_c-d", vec![]),
        ("ip-10-0-0-1.ec2.internal", vec![]),
        (&at_limit, vec![]),
        (&over, vec!["must be no more than 63 bytes"]),
        ("-a", vec![VALUE_MSG]),
        ("a-", vec![VALUE_MSG]),
        ("_a", vec![VALUE_MSG]),
        ("a b", vec![VALUE_MSG]),
        ("a/b", vec![VALUE_MSG]),
    ];
    for (value, want) in cases {
        assert_eq!(label_value(value), want, "{value:?}");
        assert_eq!(is_label_value(value), want.is_empty(), "{value:?}");
    }
}

#[test]
fn label_keys_with_and_without_prefix() {
    let prefix_over = format!("{}/a", subdomain_of_len(254));
    let name_at_limit = "a".repeat(63);
    let name_over = "a".repeat(64);
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("app", vec![]),
        ("My_Name.x-1", vec![]),
        ("networking.k8s.aws/node", vec![]),
        ("kubernetes.io/metadata.name", vec![]),
        (&name_at_limit, vec![]),
        (
            &name_over,
            vec!["name part must be no more than 63 bytes".to_owned()],
        ),
        (
            "",
            vec![
                "name part must be non-empty".to_owned(),
                KEY_NAME_MSG.to_owned(),
            ],
        ),
        ("-app", vec![KEY_NAME_MSG.to_owned()]),
        (
            "/app",
            vec!["prefix part must be non-empty".to_owned()],
        ),
        (
            "Example.com/app",
            vec![format!("prefix part {SUBDOMAIN_MSG}")],
        ),
        ("a..b/app", vec![format!("prefix part {SUBDOMAIN_MSG}")]),
        (
            &prefix_over,
            vec!["prefix part must be no more than 253 bytes".to_owned()],
        ),
        (
            "a/b/c",
            vec!["a valid label key must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')".to_owned()],
        ),
    ];
    for (key, want) in cases {
        assert_eq!(label_key(key), want, "{key:?}");
        assert_eq!(is_label_key(key), want.is_empty(), "{key:?}");
    }
}
