//! Content negotiation and response bodies: JSON (objects as stored, lists concatenated from
//! stored bytes), `meta.k8s.io` Tables for kubectl, `PartialObjectMetadata`, Status errors.

use std::collections::HashMap;
use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use serde_json::{Value, json};

use crate::cluster::{Cluster, ListPage, WriteResult};
use crate::resource::ResourceType;
use crate::status::ApiError;
use crate::store::{Stored, json_bytes};
use crate::table::{self, IncludeObject};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type Body = BoxBody<Bytes, BoxError>;

pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

pub fn json_response(code: u16, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

pub fn value_response(code: u16, v: &Value) -> Response<Body> {
    json_response(code, json_bytes(v))
}

pub fn error_response(e: &ApiError) -> Response<Body> {
    value_response(e.code, &e.to_status())
}

/// How the client wants objects rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Render {
    Json,
    Table(IncludeObject),
    Metadata,
}

pub fn render_kind(accept: &str, q: &HashMap<String, String>) -> Render {
    // The first acceptable option wins, as in kube-apiserver's negotiation.
    for option in accept.split(',') {
        let o = option.replace(' ', "");
        if o.contains("as=Table") && o.contains("g=meta.k8s.io") {
            return Render::Table(IncludeObject::parse(
                q.get("includeObject").map(String::as_str),
            ));
        }
        if o.contains("as=PartialObjectMetadata") {
            return Render::Metadata;
        }
        if o.starts_with("application/json") || o.starts_with("*/*") || o.is_empty() {
            return Render::Json;
        }
    }
    Render::Json
}

pub fn render_one(
    cluster: &Cluster,
    rt: &ResourceType,
    obj: &Stored,
    render: Render,
    code: u16,
    warnings: &[String],
) -> Response<Body> {
    let mut r = match render {
        Render::Json => json_response(code, cluster.present(rt, obj)),
        Render::Metadata => value_response(code, &table::partial_metadata(&obj.value)),
        Render::Table(include) => value_response(code, &table::single(rt, obj, include, true)),
    };
    for w in warnings {
        let text = format!("299 - {}", serde_json::to_string(w).unwrap_or_default());
        if let Ok(h) = HeaderValue::from_str(&text) {
            r.headers_mut().append(header::WARNING, h);
        }
    }
    r
}

pub fn render_write(
    cluster: &Cluster,
    rt: &ResourceType,
    w: WriteResult,
    render: Render,
    code: u16,
) -> Response<Body> {
    render_one(cluster, rt, &w.obj, render, code, &w.warnings)
}

fn list_metadata(page: &ListPage) -> Value {
    let mut m = json!({"resourceVersion": page.resource_version.to_string()});
    if let Some(c) = &page.continue_token {
        m["continue"] = json!(c);
    }
    m
}

pub fn render_list(
    cluster: &Cluster,
    rt: &ResourceType,
    page: ListPage,
    render: Render,
) -> Response<Body> {
    match render {
        Render::Table(include) => {
            let values: Vec<Value> = page
                .items
                .iter()
                .map(|o| table::served_copy(rt, &o.value))
                .collect();
            let refs: Vec<&Value> = values.iter().collect();
            value_response(
                200,
                &table::table(rt, &refs, include, list_metadata(&page), true),
            )
        }
        Render::Metadata => {
            let items: Vec<Value> = page
                .items
                .iter()
                .map(|o| table::partial_metadata(&o.value))
                .collect();
            value_response(
                200,
                &json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": list_metadata(&page), "items": items}),
            )
        }
        Render::Json => {
            // Concatenate the stored bytes: a list never re-serialises objects.
            let head = json!({"kind": rt.list_kind, "apiVersion": rt.api_version(), "metadata": list_metadata(&page)});
            let mut head = serde_json::to_vec(&head).unwrap_or_default();
            head.pop(); // the closing brace
            let total: usize = page.items.iter().map(|o| o.bytes.len() + 1).sum();
            let mut out = Vec::with_capacity(head.len() + total + 16);
            out.extend_from_slice(&head);
            out.extend_from_slice(b",\"items\":[");
            for (i, o) in page.items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(&cluster.present(rt, o));
            }
            out.extend_from_slice(b"]}");
            json_response(200, out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{ListOpts, WriteOpts};
    use crate::config::ServerConfig;

    #[test]
    fn the_first_acceptable_option_of_accept_wins() {
        let q = |include: Option<&str>| -> HashMap<String, String> {
            include
                .map(|i| [("includeObject".to_string(), i.to_string())].into())
                .unwrap_or_default()
        };
        let cases = [
            (
                "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
                None,
                Render::Table(IncludeObject::Metadata),
            ),
            (
                "application/json; as=Table; v=v1; g=meta.k8s.io",
                Some("Object"),
                Render::Table(IncludeObject::Object),
            ),
            (
                "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
                None,
                Render::Metadata,
            ),
            (
                "application/vnd.kubernetes.protobuf, */*",
                None,
                Render::Json,
            ),
            (
                "application/json, application/json;as=Table;g=meta.k8s.io",
                None,
                Render::Json,
            ),
            ("", None, Render::Json),
        ];
        for (accept, include, want) in cases {
            assert_eq!(render_kind(accept, &q(include)), want, "{accept}");
        }
    }

    #[tokio::test]
    async fn a_json_list_is_the_stored_objects_in_one_valid_document() {
        let c = crate::cluster::Cluster::new(ServerConfig::default());
        let nodes = c.resource("", "v1", "nodes").expect("nodes");
        for n in ["a", "b"] {
            c.create(
                &nodes,
                None,
                json!({"metadata": {"name": n}}),
                &WriteOpts::default(),
            )
            .expect("create");
        }
        let page = c.list(&nodes, None, &ListOpts::default()).expect("list");
        let rv = page.resource_version;
        let r = render_list(&c, &nodes, page, Render::Json);
        let body = r.into_body().collect().await.expect("body").to_bytes();
        let v: Value = serde_json::from_slice(&body).expect("one JSON document");
        assert_eq!(
            (v["kind"].as_str(), v["apiVersion"].as_str()),
            (Some("NodeList"), Some("v1"))
        );
        assert_eq!(v["metadata"]["resourceVersion"], rv.to_string());
        let names: Vec<&str> = v["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i["metadata"]["name"].as_str().expect("name"))
            .collect();
        assert_eq!(names, ["a", "b"]);
    }
}
