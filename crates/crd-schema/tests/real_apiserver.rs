//! crd-schema checked against the source of truth: the schemas of the local tests become real
//! CRDs on kube-apiserver (`multi-eni-kube-env`), and every case must be stored with the same
//! spec (pruned, defaulted) or refused with the same lines, in the same order, as crd-schema
//! says. Where they differ the real server is right.

mod support;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, PostParams};
use multi_eni_crd_schema::CrdSchema;
use multi_eni_kube_env::{KubeEnv, apply_crds};
use serde_json::{Value, json};

const GROUP: &str = "crd-schema.multi-eni.test";

/// A cluster-scoped CRD `kind` (version v1) with this schema.
fn crd(kind: &str, schema: Value) -> CustomResourceDefinition {
    let singular = kind.to_lowercase();
    let plural = format!("{singular}s");
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.{GROUP}")},
        "spec": {
            "group": GROUP,
            "scope": "Cluster",
            "names": {"plural": plural, "singular": singular, "kind": kind, "listKind": format!("{kind}List")},
            "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": schema}}]
        }
    }))
    .expect("a CustomResourceDefinition")
}

/// A kind on both sides: the compiled schema and the real server's API for it.
struct Kind {
    kind: &'static str,
    schema: CrdSchema,
    api: Api<DynamicObject>,
}

async fn install(client: &Client, kind: &'static str, schema: Value) -> Kind {
    let crd = crd(kind, schema);
    apply_crds(client, std::slice::from_ref(&crd))
        .await
        .expect("the CRD applies on kube-apiserver");
    let json = serde_json::to_value(&crd).expect("CRD serializes");
    let resource = ApiResource {
        group: GROUP.to_owned(),
        version: "v1".to_owned(),
        api_version: format!("{GROUP}/v1"),
        kind: kind.to_owned(),
        plural: format!("{}s", kind.to_lowercase()),
    };
    Kind {
        kind,
        schema: CrdSchema::from_crd(&json, "v1").expect("compiles"),
        api: Api::all_with(client.clone(), &resource),
    }
}

/// The stored spec, or the refusal's whole message and its lines.
#[derive(Debug, PartialEq)]
enum Answer {
    Stored(Value),
    Refused { message: String, lines: Vec<String> },
}

impl Kind {
    fn object(&self, name: &str, spec: &Value) -> Value {
        json!({"apiVersion": format!("{GROUP}/v1"), "kind": self.kind, "metadata": {"name": name}, "spec": spec})
    }

    /// What crd-schema says to a create.
    fn local(&self, name: &str, spec: &Value) -> Answer {
        let mut obj = self.object(name, spec);
        match self.schema.admit(&mut obj, None) {
            Ok(_) => Answer::Stored(obj["spec"].clone()),
            Err(invalid) => Answer::Refused {
                message: invalid.message(self.kind, GROUP, name),
                lines: invalid.causes.iter().map(|c| c.message.clone()).collect(),
            },
        }
    }

    /// What kube-apiserver says to a create (a stored object is deleted again at once).
    async fn real(&self, name: &str, spec: &Value) -> Answer {
        let obj: DynamicObject =
            serde_json::from_value(self.object(name, spec)).expect("an object");
        match self.api.create(&PostParams::default(), &obj).await {
            Ok(created) => {
                self.api
                    .delete(name, &DeleteParams::default())
                    .await
                    .unwrap_or_else(|e| panic!("deleting {name}: {e}"));
                Answer::Stored(created.data["spec"].clone())
            }
            Err(kube::Error::Api(status)) => {
                assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
                Answer::Refused {
                    message: status.message.clone(),
                    lines: status
                        .details
                        .iter()
                        .flat_map(|d| d.causes.iter())
                        .map(|c| format!("{}: {}", c.field, c.message))
                        .collect(),
                }
            }
            Err(other) => panic!("create {name}: {other}"),
        }
    }
}

#[tokio::test]
async fn every_constraint_is_judged_by_kube_apiserver_as_crd_schema_judges_it() {
    let client = KubeEnv::shared().client().await;
    let things = install(&client, "Thing", support::thing_schema()).await;
    let mut cases: Vec<(Value, Option<Vec<String>>)> = support::constraint_cases()
        .into_iter()
        .map(|(spec, lines)| (spec, Some(lines)))
        .collect();
    // Accepted ones: defaults, pruning, nulls, everything within bounds.
    for spec in [
        json!({"name": "ab"}),
        json!({"name": "ab", "min": 3, "nested": {"flag": false}}),
        json!({"name": "ab", "bogus": 1, "free": {"anything": {"goes": true}}}),
        json!({"name": "ab", "min": null, "maybe": null}),
        json!({"name": "abc", "min": 0, "max": 100, "ratio": 0.6, "mode": "b", "tags": ["x", "y"],
            "labels": {"k": "abc"}, "when": "2026-12-01T00:00:00Z", "items": [{"k": "a"}, {"k": "b"}]}),
    ] {
        cases.push((spec, None));
    }
    // Several errors on one object: properties first, `required` after them.
    cases.push((json!({"min": -1}), None));
    let mut differences = Vec::new();
    for (i, (spec, expected)) in cases.iter().enumerate() {
        let name = format!("case-{i}");
        let local = things.local(&name, spec);
        if let (Some(lines), Answer::Refused { lines: got, .. }) = (expected, &local) {
            assert_eq!(got, lines, "crd-schema on {spec}");
        }
        let real = things.real(&name, spec).await;
        if real != local {
            differences.push(format!(
                "{spec}:\n  kube-apiserver {real:?}\n  crd-schema     {local:?}"
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "{} differences:\n{}",
        differences.len(),
        differences.join("\n")
    );
}

/// kube-openapi walks an object's declared properties in Go map order, so a real server lists
/// the errors of sibling properties in no fixed order: the same lines, in any order.
#[tokio::test]
async fn errors_of_sibling_properties_are_the_same_lines_in_some_order() {
    let client = KubeEnv::shared().client().await;
    let things = install(&client, "Thing", support::thing_schema()).await;
    let spec = json!({"name": "A", "mode": "z", "min": -1});
    let sorted = |answer: Answer| match answer {
        Answer::Refused { mut lines, .. } => {
            lines.sort();
            lines
        }
        stored => panic!("{spec} must be refused: {stored:?}"),
    };
    let local = sorted(things.local("siblings", &spec));
    assert_eq!(local.len(), 4, "{local:#?}");
    assert_eq!(sorted(things.real("siblings", &spec).await), local);
}

#[tokio::test]
async fn cel_rules_with_reasons_are_reported_as_kube_apiserver_reports_them() {
    let client = KubeEnv::shared().client().await;
    let reasons = install(&client, "Reason", support::reasons_schema()).await;
    for (i, spec) in [
        json!({"size": 4, "tags": ["a"]}),
        json!({"locked": false}),
        json!({"locked": true}),
        json!({"size": 3}),
        json!({"tags": ["a", "b"]}),
    ]
    .iter()
    .enumerate()
    {
        let name = format!("reason-{i}");
        let real = reasons.real(&name, spec).await;
        assert_eq!(real, reasons.local(&name, spec), "{spec}");
    }
    // All three at once: the object's own rule first, then its properties' rules in Go map order.
    let spec = json!({"size": 3, "tags": ["a", "b"], "locked": true});
    let split = |answer: Answer| match answer {
        Answer::Refused { lines, .. } => {
            let (first, rest) = lines.split_first().expect("at least one line");
            let mut rest = rest.to_vec();
            rest.sort();
            (first.clone(), rest)
        }
        stored => panic!("{spec} must be refused: {stored:?}"),
    };
    let local = split(reasons.local("reason-all", &spec));
    assert_eq!(local.0, "spec: Forbidden: locked may not be set");
    assert_eq!(split(reasons.real("reason-all", &spec).await), local);
}
