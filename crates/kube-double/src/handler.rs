//! HTTP requests → cluster operations → kube-apiserver-shaped responses: content negotiation
//! (JSON, `as=Table`, `as=PartialObjectMetadata`, aggregated discovery), query parameters,
//! fault hooks, streaming watch bodies.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use serde_json::{Value, json};

use crate::cluster::{Cluster, DeleteOpts, ListOpts, ListPage, PatchKind, WriteOpts, WriteResult};
use crate::discovery;
use crate::faults::{FaultAction, Faults, RequestFacts, Verb, fault_error};
use crate::openapi;
use crate::resource::ResourceType;
use crate::routing::{ResourcePath, Route, route};
use crate::selector::{FieldSelector, Filter, LabelSelector};
use crate::status::{ApiError, success_status};
use crate::store::Stored;
use crate::table::{self, IncludeObject};
use crate::watch::{self, WatchParams};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type Body = BoxBody<Bytes, BoxError>;

/// What every request handler shares.
#[derive(Debug, Clone)]
pub struct Shared {
    pub cluster: Arc<Cluster>,
    pub faults: Faults,
}

fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

fn json_response(code: u16, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn value_response(code: u16, v: &Value) -> Response<Body> {
    json_response(code, serde_json::to_vec(v).unwrap_or_default())
}

pub fn error_response(e: &ApiError) -> Response<Body> {
    value_response(e.code, &e.to_status())
}

/// How the client wants objects rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Render {
    Json,
    Table(IncludeObject),
    Metadata,
}

fn render_kind(headers: &http::HeaderMap, q: &HashMap<String, String>) -> Render {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
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

fn query(req_query: Option<&str>) -> HashMap<String, String> {
    form_urlencoded::parse(req_query.unwrap_or("").as_bytes())
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn flag(q: &HashMap<String, String>, k: &str) -> bool {
    matches!(q.get(k).map(String::as_str), Some("true" | "1"))
}

pub async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let resp = match serve(&shared, req).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    };
    tracing::debug!(%method, %path, status = resp.status().as_u16(), "request");
    Ok(resp)
}

async fn serve(shared: &Shared, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let q = query(req.uri().query());
    let path = req.uri().path().to_string();
    let render = render_kind(req.headers(), &q);
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let cluster = &shared.cluster;
    let r = route(&path).ok_or_else(|| ApiError::no_route(&path))?;
    let types = || cluster.all_types();
    match r {
        Route::Version => Ok(value_response(
            200,
            &discovery::version_info(&cluster.config.version),
        )),
        Route::Health => {
            let mut r = Response::new(full("ok"));
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            Ok(r)
        }
        Route::OpenApiV2 => Err(ApiError::no_route(&path)),
        Route::OpenApiIndex => Ok(value_response(200, &openapi::index(&types()))),
        Route::OpenApiGroupVersion(gv) => openapi::group_version(&types(), &gv)
            .map(|v| value_response(200, &v))
            .ok_or_else(|| ApiError::no_route(&path)),
        Route::Root { core } => {
            if accept.contains("as=APIGroupDiscoveryList") && accept.contains("v=v2") {
                let mut r = value_response(200, &discovery::aggregated(&types(), core));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(discovery::AGGREGATED_V2),
                );
                Ok(r)
            } else if core {
                Ok(value_response(200, &discovery::api_versions()))
            } else {
                Ok(value_response(200, &discovery::api_group_list(&types())))
            }
        }
        Route::Group(g) => discovery::api_group(&types(), &g)
            .map(|v| value_response(200, &v))
            .ok_or_else(|| ApiError::no_route(&path)),
        Route::GroupVersion { group, version } => {
            discovery::api_resource_list(&types(), &group, &version)
                .map(|v| value_response(200, &v))
                .ok_or_else(|| ApiError::no_route(&path))
        }
        Route::Resource(rp) => serve_resource(shared, req, rp, q, render).await,
    }
}

fn verb_of(
    method: &Method,
    rp: &ResourcePath,
    q: &HashMap<String, String>,
) -> Result<Verb, ApiError> {
    Ok(match (method, rp.name.is_some()) {
        (&Method::GET, _) if flag(q, "watch") => Verb::Watch,
        (&Method::GET, true) => Verb::Get,
        (&Method::GET, false) => Verb::List,
        (&Method::POST, false) => Verb::Create,
        (&Method::PUT, true) => Verb::Update,
        (&Method::PATCH, true) => Verb::Patch,
        (&Method::DELETE, true) => Verb::Delete,
        (&Method::DELETE, false) => Verb::DeleteCollection,
        (m, _) => {
            return Err(ApiError::method_not_allowed(format!(
                "the server does not allow this method on the requested resource ({m})"
            )));
        }
    })
}

fn list_opts(rt: &ResourceType, q: &HashMap<String, String>) -> Result<ListOpts, ApiError> {
    let labels = LabelSelector::parse(q.get("labelSelector").map(String::as_str).unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?;
    let fields = FieldSelector::parse(q.get("fieldSelector").map(String::as_str).unwrap_or(""), rt)
        .map_err(ApiError::bad_request)?;
    let limit = match q.get("limit") {
        Some(l) if !l.is_empty() => Some(
            l.parse::<usize>()
                .map_err(|_| ApiError::bad_request(format!("invalid limit {l}")))?,
        ),
        _ => None,
    };
    Ok(ListOpts {
        filter: Filter { labels, fields },
        limit,
        continue_token: q.get("continue").cloned(),
        resource_version: q.get("resourceVersion").cloned(),
        resource_version_match: q.get("resourceVersionMatch").cloned(),
    })
}

fn write_opts(q: &HashMap<String, String>) -> WriteOpts {
    WriteOpts {
        dry_run: q.get("dryRun").is_some_and(|v| v == "All"),
        field_manager: q.get("fieldManager").cloned(),
        strict: q.get("fieldValidation").is_some_and(|v| v == "Strict"),
        force: flag(q, "force"),
    }
}

async fn read_body(req: Request<Incoming>) -> Result<Bytes, ApiError> {
    req.into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| ApiError::bad_request(format!("reading request body: {e}")))
}

fn parse_json(b: &[u8]) -> Result<Value, ApiError> {
    if b.is_empty() {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    serde_json::from_slice(b)
        .or_else(|_| serde_yaml::from_slice(b))
        .map_err(|e| {
            ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
        })
}

async fn serve_resource(
    shared: &Shared,
    req: Request<Incoming>,
    rp: ResourcePath,
    q: HashMap<String, String>,
    render: Render,
) -> Result<Response<Body>, ApiError> {
    let cluster = shared.cluster.clone();
    let rt = cluster
        .resource(&rp.group, &rp.version, &rp.plural)
        .ok_or_else(|| ApiError::no_route(req.uri().path()))?;
    if let Some(sub) = rp.sub.as_deref()
        && !(sub == "status" && rt.status_subresource)
    {
        return Err(ApiError::no_route(req.uri().path()));
    }
    let verb = verb_of(req.method(), &rp, &q)?;
    let ns = rp.namespace.as_deref();
    let facts = RequestFacts {
        verb,
        resource: &rt.plural,
        name: rp.name.as_deref(),
        namespace: ns,
        subresource: rp.sub.as_deref(),
    };
    if let Some(action) = shared.faults.take(&facts) {
        match &action {
            FaultAction::Delay(d) => tokio::time::sleep(*d).await,
            FaultAction::Timeout(d) => tokio::time::sleep(*d).await,
            _ => {}
        }
        if let Some(e) = fault_error(&action, &facts) {
            return Err(e);
        }
    }
    let name = rp.name.clone().unwrap_or_default();
    let sub = rp.sub.as_deref();
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    match verb {
        Verb::Get => {
            let obj = cluster.get(&rt, ns, &name)?;
            Ok(render_one(&cluster, &rt, &obj, render, 200, &[]))
        }
        Verb::List => {
            let opts = list_opts(&rt, &q)?;
            let page = cluster.list(&rt, ns, &opts)?;
            Ok(render_list(&cluster, &rt, page, render))
        }
        Verb::Watch => {
            let opts = list_opts(&rt, &q)?;
            let send_initial = flag(&q, "sendInitialEvents");
            let start = cluster.watch_start(
                &rt,
                ns,
                &opts.filter,
                opts.resource_version.as_deref(),
                send_initial,
            );
            let client_timeout = q
                .get("timeoutSeconds")
                .and_then(|t| t.parse::<u64>().ok())
                .map(Duration::from_secs);
            let max = cluster.config.max_watch_timeout;
            let params = WatchParams {
                filter: opts.filter,
                bookmarks: flag(&q, "allowWatchBookmarks"),
                send_initial_events: send_initial,
                timeout: client_timeout.map_or(max, |t| t.min(max)),
                bookmark_interval: cluster.config.bookmark_interval,
                table: match render {
                    Render::Table(i) => Some(i),
                    _ => None,
                },
            };
            let rx = watch::spawn(
                cluster.clone(),
                rt.clone(),
                start,
                params,
                shared.faults.watch_token(),
            );
            let stream =
                futures::stream::unfold(
                    rx,
                    |mut rx| async move { rx.recv().await.map(|x| (x, rx)) },
                )
                .map(|item| item.map(Frame::data).map_err(|e| Box::new(e) as BoxError));
            let mut r = Response::new(BodyExt::boxed(StreamBody::new(stream)));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            Ok(r)
        }
        Verb::Create => {
            let body = parse_json(&read_body(req).await?)?;
            let r = cluster.create(&rt, ns, body, &write_opts(&q))?;
            Ok(render_write(&cluster, &rt, r, render, 201))
        }
        Verb::Update => {
            let body = parse_json(&read_body(req).await?)?;
            let r = cluster.update(&rt, ns, &name, sub, body, &write_opts(&q))?;
            Ok(render_write(&cluster, &rt, r, render, 200))
        }
        Verb::Patch => {
            let kind = PatchKind::from_content_type(&content_type).ok_or_else(|| {
                ApiError::unsupported_media_type(
                    &content_type,
                    &[
                        "application/json-patch+json",
                        "application/merge-patch+json",
                        "application/strategic-merge-patch+json",
                        "application/apply-patch+yaml",
                    ],
                )
            })?;
            let body = read_body(req).await?;
            let r = cluster.patch(&rt, ns, &name, sub, kind, &body, &write_opts(&q))?;
            let code = if r.created { 201 } else { 200 };
            Ok(render_write(&cluster, &rt, r, render, code))
        }
        Verb::Delete => {
            let body = read_body(req).await?;
            let opts = delete_opts(&body, &q)?;
            let r = cluster.delete(&rt, ns, &name, &opts)?;
            Ok(render_write(&cluster, &rt, r, render, 200))
        }
        Verb::DeleteCollection => {
            let opts = list_opts(&rt, &q)?;
            let gone = cluster.delete_collection(&rt, ns, &opts)?;
            let page = ListPage {
                items: gone,
                resource_version: cluster.current_rv(),
                continue_token: None,
            };
            if render == Render::Json {
                Ok(render_list(&cluster, &rt, page, Render::Json))
            } else {
                Ok(value_response(200, &success_status(None)))
            }
        }
    }
}

fn delete_opts(body: &[u8], q: &HashMap<String, String>) -> Result<DeleteOpts, ApiError> {
    let v: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?
    };
    let s = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
    let dry_run = v
        .get("dryRun")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|x| x == "All"))
        || q.get("dryRun").is_some_and(|x| x == "All");
    Ok(DeleteOpts {
        uid: s("/preconditions/uid"),
        resource_version: s("/preconditions/resourceVersion"),
        dry_run,
    })
}

fn render_one(
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
        Render::Table(include) => {
            let mut v = obj.value.clone();
            v["apiVersion"] = json!(rt.api_version());
            let t = table::table(
                rt,
                &[&v],
                include,
                json!({"resourceVersion": obj.rv.to_string()}),
                true,
            );
            value_response(code, &t)
        }
    };
    for w in warnings {
        let text = format!("299 - {}", serde_json::to_string(w).unwrap_or_default());
        if let Ok(h) = HeaderValue::from_str(&text) {
            r.headers_mut().append(header::WARNING, h);
        }
    }
    r
}

fn render_write(
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

fn render_list(
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
                .map(|o| {
                    let mut v = o.value.clone();
                    v["apiVersion"] = json!(rt.api_version());
                    v
                })
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
