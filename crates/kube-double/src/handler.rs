//! HTTP requests → cluster operations: routes, query parameters, fault hooks, request bodies,
//! streaming watch bodies. How responses are rendered is [`crate::render`]'s job.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderValue, Method, Request, Response, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use serde_json::{Value, json};

use crate::cluster::{Cluster, DeleteOpts, ListOpts, ListPage, WriteOpts};
use crate::discovery;
use crate::faults::{FaultAction, Faults, RequestFacts, Verb, fault_error};
use crate::openapi;
use crate::patch::PatchKind;
use crate::render::{
    Body, BoxError, Render, error_response, full, render_kind, render_list, render_one,
    render_write, value_response,
};
use crate::resource::ResourceType;
use crate::routing::{ResourcePath, Route, route};
use crate::selector::{FieldSelector, Filter, LabelSelector};
use crate::status::{ApiError, success_status};
use crate::watch::{self, WatchParams};

/// What every request handler shares.
#[derive(Debug, Clone)]
pub struct Shared {
    pub cluster: Arc<Cluster>,
    pub faults: Faults,
}

/// A request header as text (`None` when absent or not visible ASCII).
fn header_str(headers: &http::HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
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
    let accept = header_str(req.headers(), header::ACCEPT)
        .unwrap_or("")
        .to_string();
    let render = render_kind(&accept, &q);
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
        if let FaultAction::Delay(d) | FaultAction::Timeout(d) = &action {
            tokio::time::sleep(*d).await;
        }
        if let Some(e) = fault_error(&action, &facts) {
            return Err(e);
        }
    }
    let name = rp.name.clone().unwrap_or_default();
    let sub = rp.sub.as_deref();
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
        Verb::Watch => watch_response(shared, rt, ns, &q, render),
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
            let content_type = header_str(req.headers(), header::CONTENT_TYPE)
                .unwrap_or("application/json")
                .to_string();
            let kind = PatchKind::from_content_type(&content_type)
                .ok_or_else(|| PatchKind::unsupported(&content_type, true))?;
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
                Ok(value_response(200, &success_status()))
            }
        }
    }
}

/// A watch: the body streams events until the timeout, the client leaves or a fault cuts it.
/// A start the cluster refuses (410 for a compacted resourceVersion) is still HTTP 200, with
/// an `ERROR` event, as from kube-apiserver's watch cache.
fn watch_response(
    shared: &Shared,
    rt: Arc<ResourceType>,
    ns: Option<&str>,
    q: &HashMap<String, String>,
    render: Render,
) -> Result<Response<Body>, ApiError> {
    let cluster = &shared.cluster;
    let opts = list_opts(&rt, q)?;
    let send_initial = flag(q, "sendInitialEvents");
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
        bookmarks: flag(q, "allowWatchBookmarks"),
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
        rt,
        start,
        params,
        shared.faults.watch_token(),
    );
    let stream =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) })
            .map(|item| item.map(Frame::data).map_err(|e| Box::new(e) as BoxError));
    let mut r = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(r)
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
