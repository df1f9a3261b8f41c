//! CustomResourceDefinition → served resource types, and the status kube-apiserver's CRD
//! controllers would write (names accepted, Established at once: no "not yet served" window).

use multi_eni_crd_schema::CrdSchema;
use serde_json::{Value, json};

use crate::builtin::default_columns;
use crate::meta::{now_ts, str_at as s, strings_at};
use crate::resource::{
    ColumnSource, Generation, GroupResource, PrinterColumn, ResourceType, metadata_field_labels,
};
use crate::status::{ApiError, Cause};

/// Finalizer kube-apiserver puts on every CRD so its objects are removed before it goes.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// The resource a CRD defines: `(spec.group, spec.names.plural)`.
pub fn served_resource(crd: &Value) -> GroupResource {
    GroupResource {
        group: s(crd, "/spec/group").to_string(),
        plural: s(crd, "/spec/names/plural").to_string(),
    }
}

fn invalid(name: &str, field: &str, reason: &str, msg: String) -> ApiError {
    ApiError::invalid(
        "CustomResourceDefinition",
        "apiextensions.k8s.io",
        name,
        vec![Cause::new(field, reason, msg)],
    )
}

/// `spec.names.singular`, defaulted as kube-apiserver does: the kind in lower case.
fn singular(crd: &Value) -> String {
    match s(crd, "/spec/names/singular") {
        "" => s(crd, "/spec/names/kind").to_lowercase(),
        x => x.to_string(),
    }
}

/// `spec.names.listKind`, defaulted to `<kind>List`.
fn list_kind(crd: &Value) -> String {
    match s(crd, "/spec/names/listKind") {
        "" => format!("{}List", s(crd, "/spec/names/kind")),
        x => x.to_string(),
    }
}

/// The resource types a CRD serves (one per served version), or the 422 kube-apiserver would send.
pub fn resource_types(crd: &Value) -> Result<Vec<ResourceType>, ApiError> {
    let name = s(crd, "/metadata/name");
    let group = s(crd, "/spec/group");
    let plural = s(crd, "/spec/names/plural");
    let kind = s(crd, "/spec/names/kind");
    if group.is_empty() {
        return Err(invalid(
            name,
            "spec.group",
            "FieldValueRequired",
            "Required value".into(),
        ));
    }
    if plural.is_empty() || kind.is_empty() {
        return Err(invalid(
            name,
            "spec.names.plural",
            "FieldValueRequired",
            "Required value".into(),
        ));
    }
    if name != format!("{plural}.{group}") {
        return Err(invalid(
            name,
            "metadata.name",
            "FieldValueInvalid",
            format!("Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    let scope = s(crd, "/spec/scope");
    if scope != "Namespaced" && scope != "Cluster" {
        return Err(invalid(
            name,
            "spec.scope",
            "FieldValueNotSupported",
            format!(
                "Unsupported value: \"{scope}\": supported values: \"Cluster\", \"Namespaced\""
            ),
        ));
    }
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let storage = versions.iter().filter(|v| v["storage"] == true).count();
    if storage != 1 {
        return Err(invalid(
            name,
            "spec.versions",
            "FieldValueInvalid",
            format!(
                "Invalid value: {:?}: must have exactly one version marked as storage version",
                versions.len()
            ),
        ));
    }
    let namespaced = scope == "Namespaced";
    let mut out = vec![];
    for v in versions.iter().filter(|v| v["served"] == true) {
        let version = s(v, "/name");
        let schema = if v.pointer("/schema/openAPIV3Schema").is_some() {
            Some(CrdSchema::from_crd(crd, version).map_err(|e| {
                invalid(
                    name,
                    &format!("spec.versions[{version}].schema.openAPIV3Schema"),
                    "FieldValueInvalid",
                    format!("Invalid value: \"\": {e}"),
                )
            })?)
        } else {
            None
        };
        let cols: Vec<PrinterColumn> = v
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .map(|cols| {
                cols.iter()
                    .map(|c| PrinterColumn {
                        name: s(c, "/name").to_string(),
                        type_: s(c, "/type").to_string(),
                        format: s(c, "/format").to_string(),
                        description: s(c, "/description").to_string(),
                        priority: c["priority"].as_i64().unwrap_or(0),
                        source: ColumnSource::JsonPath(s(c, "/jsonPath").to_string()),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let columns = if cols.is_empty() {
            default_columns()
        } else {
            let mut c = vec![default_columns().remove(0)];
            c.extend(cols);
            c
        };
        let mut field_labels = metadata_field_labels(namespaced);
        if let Some(Value::Array(sel)) = v.get("selectableFields") {
            for f in sel {
                let p = s(f, "/jsonPath").trim_start_matches('.');
                field_labels.push((p.to_string(), p.split('.').map(str::to_string).collect()));
            }
        }
        out.push(ResourceType {
            group: group.to_string(),
            version: version.to_string(),
            kind: kind.to_string(),
            list_kind: list_kind(crd),
            plural: plural.to_string(),
            singular: singular(crd),
            short_names: strings_at(crd, "/spec/names/shortNames"),
            categories: strings_at(crd, "/spec/names/categories"),
            namespaced,
            status_subresource: v.pointer("/subresources/status").is_some(),
            generation: Generation::Tracked,
            custom: true,
            columns,
            field_labels,
            merge_keys: vec![],
            schema,
            stored_as: None,
        });
    }
    Ok(out)
}

/// The storage version's apiVersion (`group/version`): how objects are kept.
pub fn storage_api_version(crd: &Value) -> String {
    let group = s(crd, "/spec/group");
    let versions = crd.pointer("/spec/versions").and_then(Value::as_array);
    let v = versions
        .and_then(|vs| vs.iter().find(|v| v["storage"] == true))
        .map(|v| s(v, "/name"))
        .unwrap_or("");
    format!("{group}/{v}")
}

/// Fills `status` as the CRD controllers do once names are accepted.
pub fn set_established(crd: &mut Value, previous_status: Option<&Value>) {
    let now = now_ts();
    let mut names = crd.pointer("/spec/names").cloned().unwrap_or(json!({}));
    if names.get("singular").is_none_or(|x| x == "") {
        names["singular"] = json!(singular(crd));
    }
    if names.get("listKind").is_none_or(|x| x == "") {
        names["listKind"] = json!(list_kind(crd));
    }
    let mut stored: Vec<Value> = previous_status
        .and_then(|p| p.get("storedVersions"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(Value::Array(vs)) = crd.pointer("/spec/versions") {
        for v in vs.iter().filter(|v| v["storage"] == true) {
            if !stored.contains(&v["name"]) {
                stored.push(v["name"].clone());
            }
        }
    }
    let since = previous_status
        .and_then(|p| p.pointer("/conditions/0/lastTransitionTime"))
        .cloned()
        .unwrap_or(json!(now));
    crd["status"] = json!({
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": since},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": since},
        ],
        "acceptedNames": names,
        "storedVersions": stored,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd() -> Value {
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"]},
                "versions": [
                    {"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                     "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"}],
                     "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer", "minimum": 1}}}}}}},
                    {"name": "v0", "served": false, "storage": false}]}})
    }

    #[test]
    fn served_versions_become_resource_types_with_columns() {
        let rts = resource_types(&crd()).expect("valid");
        assert_eq!(rts.len(), 1, "v0 is not served");
        let rt = &rts[0];
        assert_eq!(
            (
                rt.kind.as_str(),
                rt.list_kind.as_str(),
                rt.singular.as_str()
            ),
            ("Widget", "WidgetList", "widget")
        );
        assert!(rt.namespaced && rt.status_subresource && rt.custom && rt.schema.is_some());
        let names: Vec<&str> = rt.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, vec!["Name", "Size"]);
    }

    #[test]
    fn crd_name_must_be_plural_dot_group() {
        let mut c = crd();
        c["metadata"]["name"] = json!("widget.example.com");
        let e = resource_types(&c).expect_err("bad name");
        assert_eq!(e.code, 422);
        assert!(
            e.message
                .contains("must be spec.names.plural+\".\"+spec.group"),
            "{}",
            e.message
        );
    }

    #[test]
    fn established_status_is_set_at_once() {
        let mut c = crd();
        set_established(&mut c, None);
        assert_eq!(c["status"]["conditions"][1]["type"], "Established");
        assert_eq!(c["status"]["acceptedNames"]["listKind"], "WidgetList");
        assert_eq!(c["status"]["storedVersions"], json!(["v1"]));
    }
}
