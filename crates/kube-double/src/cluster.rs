//! The cluster state and the write semantics of kube-apiserver's generic registry: create,
//! update, patch, delete (finalizers, preconditions), status subresource, generation,
//! optimistic concurrency, CRD registration, namespace and CRD cleanup. No HTTP here.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use bytes::Bytes;
use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::admission::{admit_schema, check_name, generate_name};
use crate::apply::{ApplyRequest, apply};
use crate::builtin::builtin_resources;
use crate::config::ServerConfig;
use crate::conversion::{from_storage, to_storage};
use crate::crd;
use crate::patch::{json_patch, merge_patch, strategic_merge};
use crate::resource::{Generation, GroupResource, ResourceType};
use crate::selector::Filter;
use crate::status::{ApiError, Cause, Subject};
use crate::store::{ChangeKind, ObjKey, Snapshot, Store, Stored};

/// Options shared by writes.
#[derive(Debug, Clone, Default)]
pub struct WriteOpts {
    pub dry_run: bool,
    pub field_manager: Option<String>,
    /// `fieldValidation=Strict`: unknown fields are an error instead of a warning.
    pub strict: bool,
    /// Server-side apply `force`.
    pub force: bool,
}

/// A write's outcome: the object as stored (or as it would be, for dry runs).
#[derive(Debug)]
pub struct WriteResult {
    pub obj: Arc<Stored>,
    pub created: bool,
    /// `Warning` header texts (`unknown field "spec.foo"`).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    Merge,
    Json,
    Strategic,
    Apply,
}

impl PatchKind {
    pub fn from_content_type(ct: &str) -> Option<PatchKind> {
        let base = ct.split(';').next().unwrap_or("").trim();
        match base {
            "application/merge-patch+json" => Some(PatchKind::Merge),
            "application/json-patch+json" => Some(PatchKind::Json),
            "application/strategic-merge-patch+json" => Some(PatchKind::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => {
                Some(PatchKind::Apply)
            }
            _ => None,
        }
    }
}

/// Delete options (body `DeleteOptions` or query).
#[derive(Debug, Clone, Default)]
pub struct DeleteOpts {
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub dry_run: bool,
}

/// List parameters.
#[derive(Debug, Clone, Default)]
pub struct ListOpts {
    pub filter: Filter,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
}

#[derive(Debug)]
pub struct ListPage {
    pub items: Vec<Arc<Stored>>,
    pub resource_version: u64,
    pub continue_token: Option<String>,
}

/// Where a watch begins: the objects to send as ADDED first (if any) and the position after them.
#[derive(Debug)]
pub struct WatchStart {
    pub initial: Vec<Arc<Stored>>,
    pub cursor: u64,
    pub store: Arc<Mutex<Store>>,
    pub notify: tokio::sync::watch::Receiver<u64>,
}

#[derive(Debug, Default)]
struct Types {
    served: BTreeMap<(String, String, String), Arc<ResourceType>>,
    /// Storage apiVersion per resource: objects are kept in it and presented in the asked version.
    storage: HashMap<GroupResource, String>,
    /// CRDs being deleted: their custom resources refuse creates.
    terminating: HashSet<GroupResource>,
}

/// The whole in-memory cluster.
/// What the garbage collector needs: which objects exist (by uid) and who owns whom.
#[derive(Debug, Default)]
struct Ownership {
    live: HashSet<String>,
    dependents: HashMap<String, HashSet<(GroupResource, ObjKey)>>,
}

fn owner_uids(v: &Value) -> Vec<String> {
    v.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| r["uid"].as_str())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

#[derive(Debug)]
pub struct Cluster {
    rv: AtomicU64,
    ownership: Mutex<Ownership>,
    types: RwLock<Types>,
    stores: RwLock<HashMap<GroupResource, Arc<Mutex<Store>>>>,
    pub config: ServerConfig,
}

fn now_ts() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn lock(m: &Mutex<Store>) -> MutexGuard<'_, Store> {
    // A panic while holding a store lock leaves consistent data (every mutation is a single
    // insert/remove + record), so a poisoned lock is still safe to use.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn meta_str<'a>(v: &'a Value, field: &str) -> Option<&'a str> {
    v.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
}

fn finalizers(v: &Value) -> Vec<String> {
    v.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn subject<'a>(rt: &'a ResourceType, name: &'a str) -> Subject<'a> {
    Subject {
        group: &rt.group,
        plural: &rt.plural,
        name,
    }
}

/// Everything but metadata (and status, with a status subresource): what `generation` tracks.
fn spec_part(rt: &ResourceType, v: &Value) -> Value {
    let mut c = v.clone();
    if let Value::Object(m) = &mut c {
        m.remove("metadata");
        m.remove("apiVersion");
        m.remove("kind");
        if rt.status_subresource {
            m.remove("status");
        }
    }
    c
}

fn encode_continue(rv: u64, key: &ObjKey) -> String {
    format!(
        "{rv}.{}.{}",
        hex::encode(&key.namespace),
        hex::encode(&key.name)
    )
}

fn decode_continue(token: &str) -> Option<(u64, ObjKey)> {
    let mut parts = token.split('.');
    let rv = parts.next()?.parse().ok()?;
    let namespace = String::from_utf8(hex::decode(parts.next()?).ok()?).ok()?;
    let name = String::from_utf8(hex::decode(parts.next()?).ok()?).ok()?;
    Some((rv, ObjKey { namespace, name }))
}

pub fn parse_rv(s: &str) -> Result<u64, ApiError> {
    s.parse()
        .map_err(|_| ApiError::bad_request(format!("invalid resource version \"{s}\"")))
}

impl Cluster {
    pub fn new(config: ServerConfig) -> Arc<Cluster> {
        let c = Arc::new(Cluster {
            rv: AtomicU64::new(1),
            ownership: Mutex::new(Ownership::default()),
            types: RwLock::new(Types::default()),
            stores: RwLock::new(HashMap::new()),
            config,
        });
        for rt in builtin_resources() {
            c.register(rt, None);
        }
        let ns_rt = c
            .resource("", "v1", "namespaces")
            .expect("namespaces are built in");
        for ns in c.config.namespaces.clone() {
            let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            // Fresh state: the only possible failure is a name the config got wrong.
            if let Err(e) = c.create(&ns_rt, None, body, &WriteOpts::default()) {
                tracing::warn!(namespace = %ns, error = %e.message, "initial namespace not created");
            }
        }
        c
    }

    fn register(&self, rt: ResourceType, storage: Option<String>) {
        let mut t = self.types.write().unwrap_or_else(|p| p.into_inner());
        let gr = rt.group_resource();
        let storage = match (&rt.stored_as, storage) {
            (Some(_), _) => "v1".to_string(),
            (None, Some(s)) => s,
            (None, None) => rt.api_version(),
        };
        t.storage.insert(gr, storage);
        t.served.insert(
            (rt.group.clone(), rt.version.clone(), rt.plural.clone()),
            Arc::new(rt),
        );
    }

    fn unregister(&self, gr: &GroupResource) {
        let mut t = self.types.write().unwrap_or_else(|p| p.into_inner());
        t.served
            .retain(|(g, _, p), _| !(g == &gr.group && p == &gr.plural));
        t.storage.remove(gr);
        t.terminating.remove(gr);
    }

    /// The served resource at `/apis/<group>/<version>/<plural>`.
    pub fn resource(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        let t = self.types.read().unwrap_or_else(|p| p.into_inner());
        t.served
            .get(&(group.to_string(), version.to_string(), plural.to_string()))
            .cloned()
    }

    /// Every served resource type, grouped by group then version.
    pub fn all_types(&self) -> Vec<Arc<ResourceType>> {
        let t = self.types.read().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<Arc<ResourceType>> = t.served.values().cloned().collect();
        // Core group first, then the rest by name: the order kube-apiserver's discovery uses
        // matters to nobody, but stable output makes discovery caches stable.
        v.sort_by(|a, b| {
            (!a.group.is_empty(), &a.group, &a.version).cmp(&(
                !b.group.is_empty(),
                &b.group,
                &b.version,
            ))
        });
        v
    }

    pub fn current_rv(&self) -> u64 {
        self.rv.load(Ordering::SeqCst)
    }

    fn next_rv(&self) -> u64 {
        self.rv.fetch_add(1, Ordering::SeqCst) + 1
    }

    pub fn store(&self, gr: &GroupResource) -> Arc<Mutex<Store>> {
        if let Some(s) = self
            .stores
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(gr)
        {
            return s.clone();
        }
        let mut w = self.stores.write().unwrap_or_else(|p| p.into_inner());
        w.entry(gr.clone())
            .or_insert_with(|| Arc::new(Mutex::new(Store::new(self.config.history_size))))
            .clone()
    }

    fn storage_version(&self, rt: &ResourceType) -> String {
        let t = self.types.read().unwrap_or_else(|p| p.into_inner());
        t.storage
            .get(&rt.group_resource())
            .cloned()
            .unwrap_or_else(|| rt.api_version())
    }

    /// The object's JSON as the client asked for it (its apiVersion rewritten for another
    /// served version of a CRD: conversion strategy `None`, as kube-apiserver does).
    pub fn present(&self, rt: &ResourceType, obj: &Stored) -> Bytes {
        if let Some(c) = rt.conversion() {
            let v = from_storage(c, obj.value.clone());
            return Bytes::from(serde_json::to_vec(&v).unwrap_or_default());
        }
        let want = rt.api_version();
        if obj.value.get("apiVersion").and_then(Value::as_str) == Some(want.as_str()) {
            return obj.bytes.clone();
        }
        let mut v = obj.value.clone();
        v["apiVersion"] = json!(want);
        Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
    }

    /// Drops all watch history: every older resourceVersion becomes 410 Gone.
    pub fn compact(&self) {
        let stores: Vec<Arc<Mutex<Store>>> = self
            .stores
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        for s in stores {
            let mut g = lock(&s);
            let now = self.current_rv();
            g.compact(now);
        }
    }

    /// Records a change in the store's history and keeps the ownership index in step (called
    /// with the store lock held; the ownership lock is only ever taken inside it).
    fn record(
        &self,
        g: &mut Store,
        gr: &GroupResource,
        kind: ChangeKind,
        key: ObjKey,
        obj: Arc<Stored>,
        prev: Option<Arc<Stored>>,
    ) {
        {
            let mut o = self.ownership.lock().unwrap_or_else(|p| p.into_inner());
            let entry = (gr.clone(), key.clone());
            if let Some(p) = &prev {
                for u in owner_uids(&p.value) {
                    if let Some(set) = o.dependents.get_mut(&u) {
                        set.remove(&entry);
                        if set.is_empty() {
                            o.dependents.remove(&u);
                        }
                    }
                }
            }
            let uid = meta_str(&obj.value, "uid").unwrap_or("").to_string();
            if kind == ChangeKind::Deleted {
                o.live.remove(&uid);
            } else {
                o.live.insert(uid);
                for u in owner_uids(&obj.value) {
                    o.dependents.entry(u).or_default().insert(entry.clone());
                }
            }
        }
        g.record(kind, key, obj, prev);
    }

    /// The garbage collector's background propagation, run synchronously when an owner goes:
    /// dependents none of whose owners exist any more are deleted (finalizers honoured).
    fn collect_garbage(&self, owner_uid: &str) {
        let candidates: Vec<(GroupResource, ObjKey)> = {
            let o = self.ownership.lock().unwrap_or_else(|p| p.into_inner());
            o.dependents
                .get(owner_uid)
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default()
        };
        for (gr, key) in candidates {
            let Some(rt) = self
                .all_types()
                .into_iter()
                .find(|t| t.store_key() == gr && t.stored_as.is_none())
            else {
                continue;
            };
            let ns = (!key.namespace.is_empty()).then_some(key.namespace.as_str());
            let Ok(obj) = self.get(&rt, ns, &key.name) else {
                continue;
            };
            let orphaned = {
                let o = self.ownership.lock().unwrap_or_else(|p| p.into_inner());
                owner_uids(&obj.value).iter().all(|u| !o.live.contains(u))
            };
            if orphaned && obj.value.pointer("/metadata/deletionTimestamp").is_none() {
                let _ = self.delete(&rt, ns, &key.name, &DeleteOpts::default());
            }
        }
    }

    fn key(rt: &ResourceType, ns: Option<&str>, name: &str) -> ObjKey {
        ObjKey {
            namespace: if rt.namespaced {
                ns.unwrap_or("").to_string()
            } else {
                String::new()
            },
            name: name.to_string(),
        }
    }

    pub fn get(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
    ) -> Result<Arc<Stored>, ApiError> {
        let store = self.store(&rt.store_key());
        let g = lock(&store);
        g.objects
            .get(&Self::key(rt, ns, name))
            .cloned()
            .ok_or_else(|| ApiError::not_found(subject(rt, name)))
    }

    pub fn list(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        opts: &ListOpts,
    ) -> Result<ListPage, ApiError> {
        let store = self.store(&rt.store_key());
        let g = lock(&store);
        let now = self.current_rv();
        let (snapshot, rv, after) = if let Some(token) =
            opts.continue_token.as_deref().filter(|t| !t.is_empty())
        {
            let (rv, after) = decode_continue(token)
                .ok_or_else(|| ApiError::bad_request("continue key is not valid"))?;
            let snap = g.snapshot_at(rv).map_err(|_| {
                ApiError::expired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.")
            })?;
            (snap, rv, Some(after))
        } else if opts.resource_version_match.as_deref() == Some("Exact") {
            let want = parse_rv(opts.resource_version.as_deref().unwrap_or(""))?;
            if want > now {
                return Err(ApiError::new(
                    504,
                    "Timeout",
                    format!("Too large resource version: {want}, current: {now}"),
                ));
            }
            let snap = g.snapshot_at(want).map_err(|_| {
                ApiError::expired(format!(
                    "too old resource version: {want} ({})",
                    g.compacted
                ))
            })?;
            (snap, want, None)
        } else {
            (Snapshot::Current, now, None)
        };
        let limit = opts.limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
        let filter = &opts.filter;
        let keep = |s: &Stored| filter.matches(&s.value);
        let ns = if rt.namespaced { ns } else { None };
        let (items, next) =
            if let (Some(name), Snapshot::Current) = (&filter.fields.exact_name, &snapshot) {
                // One object by name: no scan (kubectl get -w NAME, field-selected informers).
                let mut items = vec![];
                let candidates: Vec<&Arc<Stored>> = match ns {
                    Some(ns) => g
                        .objects
                        .get(&ObjKey {
                            namespace: ns.into(),
                            name: name.clone(),
                        })
                        .into_iter()
                        .collect(),
                    None => g
                        .objects
                        .iter()
                        .filter(|(k, _)| &k.name == name)
                        .map(|(_, v)| v)
                        .collect(),
                };
                for c in candidates {
                    if keep(c) {
                        items.push(c.clone());
                    }
                }
                (items, None)
            } else {
                g.page(&snapshot, after.as_ref(), ns, limit, &keep)
            };
        Ok(ListPage {
            items,
            resource_version: rv,
            continue_token: next.map(|k| encode_continue(rv, &k)),
        })
    }

    /// Positions a new watch. `rv` unset or "0" sends the current objects first (kube-apiserver's
    /// "start at most recent" with synthetic ADDED events); `send_initial` does the same for any rv.
    pub fn watch_start(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        filter: &Filter,
        rv: Option<&str>,
        send_initial: bool,
    ) -> Result<WatchStart, ApiError> {
        let store = self.store(&rt.store_key());
        let g = lock(&store);
        let notify = g.notify.subscribe();
        let now = self.current_rv();
        let rv = rv.filter(|s| !s.is_empty());
        let wants_initial = send_initial || rv.is_none() || rv == Some("0");
        if wants_initial {
            let ns = if rt.namespaced { ns } else { None };
            let keep = |s: &Stored| filter.matches(&s.value);
            let (initial, _) = g.page(&Snapshot::Current, None, ns, usize::MAX, &keep);
            drop(g);
            return Ok(WatchStart {
                initial,
                cursor: now,
                store,
                notify,
            });
        }
        let cursor = parse_rv(rv.unwrap_or("0"))?;
        if cursor < g.compacted {
            return Err(ApiError::expired(format!(
                "too old resource version: {cursor} ({})",
                g.compacted
            )));
        }
        drop(g);
        Ok(WatchStart {
            initial: vec![],
            cursor,
            store,
            notify,
        })
    }

    fn namespace_state(&self, ns: &str) -> Result<(), ApiError> {
        let Some(ns_rt) = self.resource("", "v1", "namespaces") else {
            return Ok(());
        };
        match self.get(&ns_rt, None, ns) {
            Ok(o) if o.value.pointer("/metadata/deletionTimestamp").is_some() => {
                Err(ApiError::forbidden(format!(
                    "unable to create new content in namespace {ns} because it is being terminated"
                )))
            }
            Ok(_) => Ok(()),
            Err(_) => Err(ApiError::not_found(Subject {
                group: "",
                plural: "namespaces",
                name: ns,
            })),
        }
    }

    /// Defaults and checks the identity of an object a client sent (apiVersion/kind/namespace).
    fn normalize_identity(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        obj: &mut Value,
    ) -> Result<(), ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request must be a JSON object",
            ));
        }
        match obj.get("kind").and_then(Value::as_str) {
            None | Some("") => obj["kind"] = json!(rt.kind),
            Some(k) if k != rt.kind => {
                return Err(ApiError::bad_request(format!(
                    "the API version in the data ({}) does not match the expected API version ({})",
                    obj.get("apiVersion").and_then(Value::as_str).unwrap_or(""),
                    rt.api_version()
                )));
            }
            Some(_) => {}
        }
        // Stored in the storage version; presented in whichever version is asked for.
        if let Some(c) = rt.conversion()
            && obj.get("apiVersion").and_then(Value::as_str) != Some("v1")
        {
            *obj = to_storage(c, obj.take());
        }
        obj["apiVersion"] = json!(self.storage_version(rt));
        if !obj.get("metadata").is_some_and(Value::is_object) {
            obj["metadata"] = json!({});
        }
        if rt.namespaced {
            let url_ns = ns.unwrap_or("");
            match meta_str(obj, "namespace") {
                None | Some("") => obj["metadata"]["namespace"] = json!(url_ns),
                Some(n) if n != url_ns => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                Some(_) => {}
            }
        } else if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("namespace");
        }
        Ok(())
    }

    fn check_terminating_crd(&self, rt: &ResourceType) -> Result<(), ApiError> {
        let t = self.types.read().unwrap_or_else(|p| p.into_inner());
        if rt.custom && t.terminating.contains(&rt.group_resource()) {
            return Err(ApiError::method_not_allowed(
                "create not allowed while custom resource definition is terminating",
            ));
        }
        Ok(())
    }

    /// Schema admission plus strict-mode handling; returns warnings.
    fn admit(
        &self,
        rt: &ResourceType,
        obj: &mut Value,
        old: Option<&Value>,
        opts: &WriteOpts,
    ) -> Result<Vec<String>, ApiError> {
        let pruned = admit_schema(rt, obj, old)?;
        let fields: Vec<String> = pruned
            .iter()
            .map(|p| p.trim_start_matches('.').to_string())
            .collect();
        if opts.strict && !fields.is_empty() {
            let unknown: Vec<String> = fields
                .iter()
                .map(|f| format!("unknown field \"{f}\""))
                .collect();
            return Err(ApiError::bad_request(format!(
                "{kind} in version \"{v}\" cannot be handled as a {kind}: strict decoding error: {}",
                unknown.join(", "),
                kind = rt.kind,
                v = rt.version
            )));
        }
        Ok(fields
            .iter()
            .map(|f| format!("unknown field \"{f}\""))
            .collect())
    }

    pub fn create(
        &self,
        rt: &Arc<ResourceType>,
        ns: Option<&str>,
        mut obj: Value,
        opts: &WriteOpts,
    ) -> Result<WriteResult, ApiError> {
        self.normalize_identity(rt, ns, &mut obj)?;
        if rt.namespaced {
            if ns.is_none_or(str::is_empty) {
                return Err(ApiError::method_not_allowed(format!(
                    "{} must be created in a namespace",
                    rt.plural
                )));
            }
            self.namespace_state(ns.unwrap_or(""))?;
        }
        self.check_terminating_crd(rt)?;
        let store = self.store(&rt.store_key());
        let mut g = lock(&store);
        let r = self.create_locked(rt, &mut g, obj, opts)?;
        drop(g);
        if !opts.dry_run {
            self.after_write(rt, &r.obj, false)?;
        }
        Ok(r)
    }

    fn create_locked(
        &self,
        rt: &ResourceType,
        g: &mut Store,
        mut obj: Value,
        opts: &WriteOpts,
    ) -> Result<WriteResult, ApiError> {
        if meta_str(&obj, "resourceVersion").is_some_and(|v| !v.is_empty()) {
            return Err(ApiError::bad_request(
                "resourceVersion should not be set on objects to be created",
            ));
        }
        let name = match meta_str(&obj, "name").filter(|n| !n.is_empty()) {
            Some(n) => n.to_string(),
            None => match meta_str(&obj, "generateName").filter(|n| !n.is_empty()) {
                Some(prefix) => generate_name(prefix),
                None => {
                    return Err(ApiError::invalid(
                        &rt.kind,
                        &rt.group,
                        "",
                        vec![Cause::new(
                            "metadata.name",
                            "FieldValueRequired",
                            "Required value: name or generateName is required",
                        )],
                    ));
                }
            },
        };
        check_name(rt, &name)?;
        let m = &mut obj["metadata"];
        m["name"] = json!(name);
        m["uid"] = json!(uuid::Uuid::new_v4().to_string());
        m["creationTimestamp"] = json!(now_ts());
        if let Some(mm) = m.as_object_mut() {
            mm.remove("deletionTimestamp");
            mm.remove("deletionGracePeriodSeconds");
            mm.remove("generation");
            if mm
                .get("finalizers")
                .is_some_and(|f| f.as_array().is_some_and(Vec::is_empty))
            {
                mm.remove("finalizers");
            }
        }
        if rt.generation == Generation::Tracked {
            obj["metadata"]["generation"] = json!(1);
        }
        if rt.custom
            && rt.status_subresource
            && let Some(o) = obj.as_object_mut()
        {
            // kube drops status on create when the status subresource is on (CRs, not Nodes).
            o.remove("status");
        }
        self.kind_hooks_on_create(rt, &mut obj)?;
        let warnings = self.admit(rt, &mut obj, None, opts)?;
        let key = Self::key(rt, meta_str(&obj, "namespace"), &name);
        if g.objects.contains_key(&key) {
            return Err(ApiError::already_exists(subject(rt, &name)));
        }
        if opts.dry_run {
            return Ok(WriteResult {
                obj: Stored::new(obj, 0),
                created: true,
                warnings,
            });
        }
        let rv = self.next_rv();
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        let stored = Stored::new(obj, rv);
        g.objects.insert(key.clone(), stored.clone());
        self.record(
            g,
            &rt.store_key(),
            ChangeKind::Added,
            key,
            stored.clone(),
            None,
        );
        Ok(WriteResult {
            obj: stored,
            created: true,
            warnings,
        })
    }

    /// Per-kind behaviour kube-apiserver's own strategies and controllers add on create.
    fn kind_hooks_on_create(&self, rt: &ResourceType, obj: &mut Value) -> Result<(), ApiError> {
        match (rt.group.as_str(), rt.plural.as_str()) {
            ("", "namespaces") => {
                obj["spec"] = json!({"finalizers": ["kubernetes"]});
                obj["status"] = json!({"phase": "Active"});
                let name = meta_str(obj, "name").unwrap_or("").to_string();
                let labels = &mut obj["metadata"]["labels"];
                if !labels.is_object() {
                    *labels = json!({});
                }
                labels["kubernetes.io/metadata.name"] = json!(name);
            }
            ("apiextensions.k8s.io", "customresourcedefinitions") => {
                crd::resource_types(obj)?;
                crd::set_established(obj, None);
                let mut f = finalizers(obj);
                if !f.iter().any(|x| x == crd::CLEANUP_FINALIZER) {
                    f.push(crd::CLEANUP_FINALIZER.to_string());
                }
                obj["metadata"]["finalizers"] = json!(f);
            }
            _ => {}
        }
        Ok(())
    }

    /// Keeps served types in step with stored CRDs (registration is synchronous: a CRD is
    /// servable as soon as its create returns).
    fn after_write(&self, rt: &ResourceType, obj: &Stored, removed: bool) -> Result<(), ApiError> {
        if rt.group == "apiextensions.k8s.io" && rt.plural == "customresourcedefinitions" {
            let group = obj
                .value
                .pointer("/spec/group")
                .and_then(Value::as_str)
                .unwrap_or("");
            let plural = obj
                .value
                .pointer("/spec/names/plural")
                .and_then(Value::as_str)
                .unwrap_or("");
            let gr = GroupResource {
                group: group.into(),
                plural: plural.into(),
            };
            if removed {
                self.unregister(&gr);
                self.stores
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&gr);
                return Ok(());
            }
            let types = crd::resource_types(&obj.value)?;
            let storage = crd::storage_api_version(&obj.value);
            {
                let mut t = self.types.write().unwrap_or_else(|p| p.into_inner());
                t.served.retain(|(g, _, p), _| !(g == group && p == plural));
                if obj.value.pointer("/metadata/deletionTimestamp").is_some() {
                    t.terminating.insert(gr.clone());
                }
            }
            for t in types {
                self.register(t, Some(storage.clone()));
            }
        }
        Ok(())
    }

    /// The shared read-modify-write of update and patch: `mutate` turns the current object into
    /// the candidate; the registry's update rules then decide what is stored.
    #[allow(clippy::too_many_arguments)]
    fn modify(
        &self,
        rt: &Arc<ResourceType>,
        ns: Option<&str>,
        name: &str,
        sub: Option<&str>,
        is_put: bool,
        opts: &WriteOpts,
        mutate: &dyn Fn(Option<&Value>) -> Result<Value, ApiError>,
    ) -> Result<WriteResult, ApiError> {
        let store = self.store(&rt.store_key());
        let mut g = lock(&store);
        let key = Self::key(rt, ns, name);
        let Some(current) = g.objects.get(&key).cloned() else {
            // Only server-side apply creates through PATCH.
            let mut cand = mutate(None)?;
            drop(g);
            self.normalize_identity(rt, ns, &mut cand)?;
            if meta_str(&cand, "name") != Some(name) {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({}) does not match the name on the URL ({name})",
                    meta_str(&cand, "name").unwrap_or("")
                )));
            }
            if rt.namespaced {
                self.namespace_state(ns.unwrap_or(""))?;
            }
            self.check_terminating_crd(rt)?;
            let mut g = lock(&store);
            let r = self.create_locked(rt, &mut g, cand, opts)?;
            drop(g);
            if !opts.dry_run {
                self.after_write(rt, &r.obj, false)?;
            }
            return Ok(r);
        };
        // Patches apply to the object as this client sees it.
        let presented = match rt.conversion() {
            Some(c) => from_storage(c, current.value.clone()),
            None => current.value.clone(),
        };
        let mut cand = mutate(Some(&presented))?;
        self.normalize_identity(rt, ns, &mut cand)?;
        let (new, warnings) = self.prepare_update(rt, &current, cand, sub, is_put, opts)?;
        if new == current.value {
            return Ok(WriteResult {
                obj: current,
                created: false,
                warnings,
            });
        }
        if opts.dry_run {
            return Ok(WriteResult {
                obj: Stored::new(new, current.rv),
                created: false,
                warnings,
            });
        }
        let rv = self.next_rv();
        let mut new = new;
        new["metadata"]["resourceVersion"] = json!(rv.to_string());
        let stored = Stored::new(new, rv);
        let deleting = stored
            .value
            .pointer("/metadata/deletionTimestamp")
            .is_some();
        let removed = deleting && finalizers(&stored.value).is_empty();
        if removed {
            g.objects.remove(&key);
            self.record(
                &mut g,
                &rt.store_key(),
                ChangeKind::Deleted,
                key.clone(),
                stored.clone(),
                Some(current),
            );
        } else {
            g.objects.insert(key.clone(), stored.clone());
            self.record(
                &mut g,
                &rt.store_key(),
                ChangeKind::Modified,
                key.clone(),
                stored.clone(),
                Some(current),
            );
        }
        drop(g);
        self.after_write(rt, &stored, removed)?;
        if removed {
            self.after_removal(rt, &key, &stored);
        }
        Ok(WriteResult {
            obj: stored,
            created: false,
            warnings,
        })
    }

    /// kube's update rules: optimistic concurrency, immutable metadata, the status/spec split,
    /// no new finalizers while deleting, generation, schema admission.
    fn prepare_update(
        &self,
        rt: &ResourceType,
        current: &Stored,
        cand: Value,
        sub: Option<&str>,
        is_put: bool,
        opts: &WriteOpts,
    ) -> Result<(Value, Vec<String>), ApiError> {
        let name = meta_str(&current.value, "name").unwrap_or("").to_string();
        let cur_rv = current.rv.to_string();
        match meta_str(&cand, "resourceVersion").filter(|s| !s.is_empty()) {
            Some(rv) if rv != cur_rv => return Err(ApiError::conflict(subject(rt, &name))),
            Some(_) => {}
            None if is_put && !rt.unconditional_update => {
                return Err(ApiError::invalid(
                    &rt.kind,
                    &rt.group,
                    &name,
                    vec![Cause::new(
                        "metadata.resourceVersion",
                        "FieldValueInvalid",
                        "Invalid value: 0x0: must be specified for an update",
                    )],
                ));
            }
            None => {}
        }
        if meta_str(&cand, "name").is_some_and(|n| n != name) {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                meta_str(&cand, "name").unwrap_or("")
            )));
        }
        let old = &current.value;
        let mut new = if rt.status_subresource && sub == Some("status") {
            // Status writes change status only (and managedFields).
            let mut n = old.clone();
            match cand.get("status") {
                Some(s) => n["status"] = s.clone(),
                None => {
                    if let Some(o) = n.as_object_mut() {
                        o.remove("status");
                    }
                }
            }
            if let Some(mf) = cand.pointer("/metadata/managedFields") {
                n["metadata"]["managedFields"] = mf.clone();
            }
            n
        } else {
            let mut n = cand;
            if rt.status_subresource {
                match old.get("status") {
                    Some(s) => n["status"] = s.clone(),
                    None => {
                        if let Some(o) = n.as_object_mut() {
                            o.remove("status");
                        }
                    }
                }
            }
            n
        };
        // Server-owned metadata cannot be changed by clients.
        for f in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "name",
            "namespace",
        ] {
            match old["metadata"].get(f) {
                Some(v) => new["metadata"][f] = v.clone(),
                None => {
                    if let Some(m) = new["metadata"].as_object_mut() {
                        m.remove(f);
                    }
                }
            }
        }
        if new.pointer("/metadata/managedFields").is_none()
            && let Some(mf) = old.pointer("/metadata/managedFields")
        {
            new["metadata"]["managedFields"] = mf.clone();
        }
        new["metadata"]["resourceVersion"] = json!(cur_rv);
        if new
            .pointer("/metadata/finalizers")
            .is_some_and(|f| f.as_array().is_some_and(Vec::is_empty))
            && let Some(m) = new["metadata"].as_object_mut()
        {
            m.remove("finalizers");
        }
        if old.pointer("/metadata/deletionTimestamp").is_some() {
            let before = finalizers(old);
            let added: Vec<String> = finalizers(&new)
                .into_iter()
                .filter(|f| !before.contains(f))
                .collect();
            if !added.is_empty() {
                return Err(ApiError::invalid(
                    &rt.kind,
                    &rt.group,
                    &name,
                    vec![Cause::new(
                        "metadata.finalizers",
                        "FieldValueForbidden",
                        format!(
                            "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers {added:?}"
                        ),
                    )],
                ));
            }
        }
        if rt.group == "apiextensions.k8s.io" && rt.plural == "customresourcedefinitions" {
            crd::resource_types(&new)?;
            let prev_status = old.get("status").cloned();
            crd::set_established(&mut new, prev_status.as_ref());
        }
        let warnings = if rt.schema.is_some() {
            self.admit(rt, &mut new, Some(old), opts)?
        } else {
            vec![]
        };
        if rt.generation == Generation::Tracked && spec_part(rt, &new) != spec_part(rt, old) {
            let g = old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            new["metadata"]["generation"] = json!(g + 1);
        }
        Ok((new, warnings))
    }

    pub fn update(
        &self,
        rt: &Arc<ResourceType>,
        ns: Option<&str>,
        name: &str,
        sub: Option<&str>,
        body: Value,
        opts: &WriteOpts,
    ) -> Result<WriteResult, ApiError> {
        let exists = self.get(rt, ns, name).is_ok();
        if !exists {
            return Err(ApiError::not_found(subject(rt, name)));
        }
        self.modify(rt, ns, name, sub, true, opts, &|_| Ok(body.clone()))
    }

    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &self,
        rt: &Arc<ResourceType>,
        ns: Option<&str>,
        name: &str,
        sub: Option<&str>,
        kind: PatchKind,
        body: &[u8],
        opts: &WriteOpts,
    ) -> Result<WriteResult, ApiError> {
        let patch: Value = match kind {
            PatchKind::Apply => serde_yaml::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?,
            _ => serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?,
        };
        if kind == PatchKind::Strategic && rt.custom {
            return Err(ApiError::unsupported_media_type(
                "application/strategic-merge-patch+json",
                &[
                    "application/json-patch+json",
                    "application/merge-patch+json",
                    "application/apply-patch+yaml",
                ],
            ));
        }
        let manager = opts.field_manager.clone().unwrap_or_default();
        let api_version = rt.api_version();
        let mutate = |cur: Option<&Value>| -> Result<Value, ApiError> {
            match (kind, cur) {
                (PatchKind::Apply, cur) => {
                    let skeleton = json!({"apiVersion": patch.get("apiVersion"), "kind": patch.get("kind"),
                        "metadata": {"name": name, "namespace": ns}});
                    let base = cur.cloned().unwrap_or(skeleton);
                    let req = ApplyRequest {
                        applied: &patch,
                        manager: &manager,
                        force: opts.force,
                        api_version: &api_version,
                        subresource: sub,
                        subject: subject(rt, name),
                    };
                    let mut out = apply(&base, &req)?;
                    if cur.is_some() {
                        // Apply is never a stale write: it merges into whatever is current.
                        out["metadata"]["resourceVersion"] =
                            base["metadata"]["resourceVersion"].clone();
                    }
                    Ok(out)
                }
                (_, None) => Err(ApiError::not_found(subject(rt, name))),
                (PatchKind::Merge, Some(c)) => {
                    let mut v = c.clone();
                    merge_patch(&mut v, &patch);
                    Ok(v)
                }
                (PatchKind::Json, Some(c)) => {
                    let mut v = c.clone();
                    json_patch(&mut v, &patch)?;
                    Ok(v)
                }
                (PatchKind::Strategic, Some(c)) => {
                    let mut v = c.clone();
                    strategic_merge(&mut v, &patch, "", rt.as_ref())?;
                    Ok(v)
                }
            }
        };
        self.modify(rt, ns, name, sub, false, opts, &mutate)
    }

    /// Deletes, honouring preconditions and finalizers: with finalizers the object only gets a
    /// `deletionTimestamp` and goes when the last finalizer is removed.
    pub fn delete(
        &self,
        rt: &Arc<ResourceType>,
        ns: Option<&str>,
        name: &str,
        opts: &DeleteOpts,
    ) -> Result<WriteResult, ApiError> {
        let store = self.store(&rt.store_key());
        let mut g = lock(&store);
        let key = Self::key(rt, ns, name);
        let current = g
            .objects
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(subject(rt, name)))?;
        if let Some(uid) = &opts.uid {
            let have = meta_str(&current.value, "uid").unwrap_or("");
            if uid != have {
                return Err(ApiError::conflict_with(
                    subject(rt, name),
                    format!(
                        "Precondition failed: UID in precondition: {uid}, UID in object meta: {have}"
                    ),
                ));
            }
        }
        if let Some(rv) = &opts.resource_version
            && *rv != current.rv.to_string()
        {
            return Err(ApiError::conflict_with(
                subject(rt, name),
                format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    current.rv
                ),
            ));
        }
        if opts.dry_run {
            return Ok(WriteResult {
                obj: current,
                created: false,
                warnings: vec![],
            });
        }
        let is_ns = rt.group.is_empty() && rt.plural == "namespaces";
        let pending = !finalizers(&current.value).is_empty() || is_ns;
        if pending {
            if current
                .value
                .pointer("/metadata/deletionTimestamp")
                .is_some()
            {
                return Ok(WriteResult {
                    obj: current,
                    created: false,
                    warnings: vec![],
                });
            }
            let mut v = current.value.clone();
            v["metadata"]["deletionTimestamp"] = json!(now_ts());
            v["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            if is_ns {
                v["status"]["phase"] = json!("Terminating");
            }
            let rv = self.next_rv();
            v["metadata"]["resourceVersion"] = json!(rv.to_string());
            let stored = Stored::new(v, rv);
            g.objects.insert(key.clone(), stored.clone());
            self.record(
                &mut g,
                &rt.store_key(),
                ChangeKind::Modified,
                key,
                stored.clone(),
                Some(current),
            );
            drop(g);
            self.after_write(rt, &stored, false)?;
            if is_ns {
                self.empty_namespace(name);
                self.finish_namespace(name);
            } else if rt.group == "apiextensions.k8s.io" && rt.plural == "customresourcedefinitions"
            {
                self.empty_crd(&stored.value);
            }
            return Ok(WriteResult {
                obj: stored,
                created: false,
                warnings: vec![],
            });
        }
        let rv = self.next_rv();
        let mut v = current.value.clone();
        v["metadata"]["resourceVersion"] = json!(rv.to_string());
        let stored = Stored::new(v, rv);
        g.objects.remove(&key);
        self.record(
            &mut g,
            &rt.store_key(),
            ChangeKind::Deleted,
            key.clone(),
            stored.clone(),
            Some(current),
        );
        drop(g);
        self.after_write(rt, &stored, true)?;
        self.after_removal(rt, &key, &stored);
        Ok(WriteResult {
            obj: stored,
            created: false,
            warnings: vec![],
        })
    }

    pub fn delete_collection(
        &self,
        rt: &Arc<ResourceType>,
        ns: Option<&str>,
        opts: &ListOpts,
    ) -> Result<Vec<Arc<Stored>>, ApiError> {
        let page = self.list(
            rt,
            ns,
            &ListOpts {
                limit: None,
                continue_token: None,
                ..opts.clone()
            },
        )?;
        let mut out = vec![];
        for item in page.items {
            let name = meta_str(&item.value, "name").unwrap_or("").to_string();
            let item_ns = meta_str(&item.value, "namespace").map(str::to_string);
            match self.delete(rt, item_ns.as_deref(), &name, &DeleteOpts::default()) {
                Ok(r) => out.push(r.obj),
                Err(e) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Cleanup that follows an object's final removal: a terminating namespace or CRD may now be empty.
    fn after_removal(&self, rt: &ResourceType, key: &ObjKey, removed: &Stored) {
        if let Some(uid) = meta_str(&removed.value, "uid") {
            self.collect_garbage(uid);
        }
        if rt.namespaced && !key.namespace.is_empty() {
            self.finish_namespace(&key.namespace);
        }
        if rt.custom {
            self.finish_crd(&rt.group, &rt.plural);
        }
    }

    /// Asks every object in a terminating namespace to go (the namespace controller's job).
    fn empty_namespace(&self, ns: &str) {
        for rt in self.namespaced_stores() {
            let names: Vec<String> = {
                let store = self.store(&rt.store_key());
                let g = lock(&store);
                let lower = ObjKey {
                    namespace: ns.to_string(),
                    name: String::new(),
                };
                g.objects
                    .range(lower..)
                    .take_while(|(k, _)| k.namespace == ns)
                    .map(|(k, _)| k.name.clone())
                    .collect()
            };
            for n in names {
                let _ = self.delete(&rt, Some(ns), &n, &DeleteOpts::default());
            }
        }
    }

    fn namespaced_stores(&self) -> Vec<Arc<ResourceType>> {
        let mut seen = HashSet::new();
        self.all_types()
            .into_iter()
            .filter(|rt| rt.namespaced && seen.insert(rt.store_key()))
            .collect()
    }

    fn finish_namespace(&self, ns: &str) {
        let Some(ns_rt) = self.resource("", "v1", "namespaces") else {
            return;
        };
        let Ok(obj) = self.get(&ns_rt, None, ns) else {
            return;
        };
        if obj.value.pointer("/metadata/deletionTimestamp").is_none() {
            return;
        }
        for rt in self.namespaced_stores() {
            let store = self.store(&rt.store_key());
            let g = lock(&store);
            let lower = ObjKey {
                namespace: ns.to_string(),
                name: String::new(),
            };
            if g.objects
                .range(lower..)
                .next()
                .is_some_and(|(k, _)| k.namespace == ns)
            {
                return;
            }
        }
        self.remove_now(
            &ns_rt,
            &ObjKey {
                namespace: String::new(),
                name: ns.to_string(),
            },
        );
    }

    fn empty_crd(&self, crd_obj: &Value) {
        let group = crd_obj
            .pointer("/spec/group")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let plural = crd_obj
            .pointer("/spec/names/plural")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let rt = self
            .all_types()
            .into_iter()
            .find(|r| r.group == group && r.plural == plural);
        if let Some(rt) = rt {
            let keys: Vec<ObjKey> = {
                let store = self.store(&rt.store_key());
                let g = lock(&store);
                g.objects.keys().cloned().collect()
            };
            for k in keys {
                let ns = if k.namespace.is_empty() {
                    None
                } else {
                    Some(k.namespace.as_str())
                };
                let _ = self.delete(&rt, ns, &k.name, &DeleteOpts::default());
            }
        }
        self.finish_crd(&group, &plural);
    }

    fn finish_crd(&self, group: &str, plural: &str) {
        let gr = GroupResource {
            group: group.into(),
            plural: plural.into(),
        };
        if !self
            .types
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .terminating
            .contains(&gr)
        {
            return;
        }
        if !lock(&self.store(&gr)).objects.is_empty() {
            return;
        }
        let Some(crd_rt) = self.resource("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        else {
            return;
        };
        let key = ObjKey {
            namespace: String::new(),
            name: format!("{plural}.{group}"),
        };
        if let Some(stored) = self.remove_now(&crd_rt, &key) {
            let _ = self.after_write(&crd_rt, &stored, true);
        }
    }

    /// Removes an object regardless of finalizers (what the cleanup controllers achieve by
    /// removing their own finalizer).
    fn remove_now(&self, rt: &ResourceType, key: &ObjKey) -> Option<Arc<Stored>> {
        let store = self.store(&rt.store_key());
        let mut g = lock(&store);
        let current = g.objects.remove(key)?;
        let rv = self.next_rv();
        let mut v = current.value.clone();
        v["metadata"]["resourceVersion"] = json!(rv.to_string());
        if let Some(m) = v["metadata"].as_object_mut() {
            m.remove("finalizers");
        }
        if let Some(s) = v.get_mut("spec").and_then(Value::as_object_mut) {
            s.remove("finalizers");
        }
        let stored = Stored::new(v, rv);
        self.record(
            &mut g,
            &rt.store_key(),
            ChangeKind::Deleted,
            key.clone(),
            stored.clone(),
            Some(current),
        );
        drop(g);
        if let Some(uid) = meta_str(&stored.value, "uid") {
            self.collect_garbage(uid);
        }
        Some(stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster() -> Arc<Cluster> {
        Cluster::new(ServerConfig::default())
    }

    fn rt(c: &Cluster, g: &str, v: &str, p: &str) -> Arc<ResourceType> {
        c.resource(g, v, p).expect("served")
    }

    #[test]
    fn create_sets_identity_and_rejects_duplicates() {
        let c = cluster();
        let nodes = rt(&c, "", "v1", "nodes");
        let r = c
            .create(
                &nodes,
                None,
                json!({"metadata": {"name": "n1"}, "status": {"capacity": {"cpu": "2"}}}),
                &WriteOpts::default(),
            )
            .expect("create");
        let v = &r.obj.value;
        assert_eq!(v["kind"], "Node");
        assert_eq!(v["apiVersion"], "v1");
        assert!(v["metadata"]["uid"].is_string() && v["metadata"]["creationTimestamp"].is_string());
        assert!(
            v["metadata"].get("generation").is_none(),
            "nodes have no generation"
        );
        assert_eq!(
            v["status"]["capacity"]["cpu"], "2",
            "nodes may set status on create"
        );
        let e = c
            .create(
                &nodes,
                None,
                json!({"metadata": {"name": "n1"}}),
                &WriteOpts::default(),
            )
            .expect_err("dup");
        assert_eq!((e.code, e.reason), (409, "AlreadyExists"));
        assert_eq!(e.message, "nodes \"n1\" already exists");
    }

    #[test]
    fn generate_name_and_missing_name() {
        let c = cluster();
        let leases = rt(&c, "coordination.k8s.io", "v1", "leases");
        let r = c
            .create(
                &leases,
                Some("default"),
                json!({"metadata": {"generateName": "l-"}}),
                &WriteOpts::default(),
            )
            .expect("create");
        assert!(
            r.obj.value["metadata"]["name"]
                .as_str()
                .expect("name")
                .starts_with("l-")
        );
        let e = c
            .create(
                &leases,
                Some("default"),
                json!({"metadata": {}}),
                &WriteOpts::default(),
            )
            .expect_err("no name");
        assert_eq!(e.code, 422);
        let e = c
            .create(
                &leases,
                Some("nope"),
                json!({"metadata": {"name": "x"}}),
                &WriteOpts::default(),
            )
            .expect_err("no ns");
        assert_eq!(e.code, 404);
    }

    #[test]
    fn stale_update_conflicts_and_noop_keeps_resource_version() {
        let c = cluster();
        let leases = rt(&c, "coordination.k8s.io", "v1", "leases");
        let o = c
            .create(
                &leases,
                Some("default"),
                json!({"metadata": {"name": "l"}, "spec": {"holderIdentity": "a"}}),
                &WriteOpts::default(),
            )
            .expect("create");
        let mut v1 = o.obj.value.clone();
        v1["spec"]["holderIdentity"] = json!("b");
        let u = c
            .update(
                &leases,
                Some("default"),
                "l",
                None,
                v1.clone(),
                &WriteOpts::default(),
            )
            .expect("update");
        assert!(u.obj.rv > o.obj.rv);
        let e = c
            .update(
                &leases,
                Some("default"),
                "l",
                None,
                v1,
                &WriteOpts::default(),
            )
            .expect_err("stale");
        assert_eq!((e.code, e.reason), (409, "Conflict"));
        let same = c
            .update(
                &leases,
                Some("default"),
                "l",
                None,
                u.obj.value.clone(),
                &WriteOpts::default(),
            )
            .expect("noop");
        assert_eq!(
            same.obj.rv, u.obj.rv,
            "no-op write must not bump resourceVersion"
        );
    }

    #[test]
    fn finalizers_delay_removal_until_the_last_goes() {
        let c = cluster();
        let nodes = rt(&c, "", "v1", "nodes");
        c.create(
            &nodes,
            None,
            json!({"metadata": {"name": "n", "finalizers": ["a/x"]}}),
            &WriteOpts::default(),
        )
        .expect("create");
        let d = c
            .delete(&nodes, None, "n", &DeleteOpts::default())
            .expect("delete");
        assert!(d.obj.value["metadata"]["deletionTimestamp"].is_string());
        assert!(c.get(&nodes, None, "n").is_ok(), "still there");
        let e = c
            .patch(
                &nodes,
                None,
                "n",
                None,
                PatchKind::Merge,
                br#"{"metadata":{"finalizers":["a/x","b/y"]}}"#,
                &WriteOpts::default(),
            )
            .expect_err("no new finalizers while deleting");
        assert_eq!(e.code, 422);
        c.patch(
            &nodes,
            None,
            "n",
            None,
            PatchKind::Merge,
            br#"{"metadata":{"finalizers":null}}"#,
            &WriteOpts::default(),
        )
        .expect("remove finalizer");
        assert_eq!(c.get(&nodes, None, "n").expect_err("gone").code, 404);
    }

    #[test]
    fn delete_preconditions() {
        let c = cluster();
        let nodes = rt(&c, "", "v1", "nodes");
        c.create(
            &nodes,
            None,
            json!({"metadata": {"name": "n"}}),
            &WriteOpts::default(),
        )
        .expect("create");
        let e = c
            .delete(
                &nodes,
                None,
                "n",
                &DeleteOpts {
                    uid: Some("other".into()),
                    ..Default::default()
                },
            )
            .expect_err("uid");
        assert_eq!(e.code, 409);
        assert!(
            e.message
                .contains("Precondition failed: UID in precondition: other"),
            "{}",
            e.message
        );
        let e = c
            .delete(
                &nodes,
                None,
                "n",
                &DeleteOpts {
                    resource_version: Some("1".into()),
                    ..Default::default()
                },
            )
            .expect_err("rv");
        assert_eq!(e.code, 409);
        c.delete(&nodes, None, "n", &DeleteOpts::default())
            .expect("delete");
    }

    fn widget_crd() -> Value {
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "kind": "Widget"},
                "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                        "spec": {"type": "object", "properties": {"size": {"type": "integer", "minimum": 1, "default": 3}}},
                        "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}}}}}]}})
    }

    #[test]
    fn crd_is_servable_at_once_with_status_split_and_generation() {
        let c = cluster();
        let crds = rt(
            &c,
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
        );
        c.create(&crds, None, widget_crd(), &WriteOpts::default())
            .expect("crd");
        let w = rt(&c, "example.com", "v1", "widgets");
        let o = c
            .create(
                &w,
                Some("default"),
                json!({"metadata": {"name": "a"}, "spec": {"junk": 1}, "status": {"ready": true}}),
                &WriteOpts::default(),
            )
            .expect("create");
        assert_eq!(
            o.obj.value["spec"],
            json!({"size": 3}),
            "defaulted and pruned"
        );
        assert_eq!(o.warnings, vec!["unknown field \"spec.junk\"".to_string()]);
        assert!(
            o.obj.value.get("status").is_none(),
            "status dropped on create"
        );
        assert_eq!(o.obj.value["metadata"]["generation"], 1);
        let s = c
            .patch(
                &w,
                Some("default"),
                "a",
                Some("status"),
                PatchKind::Merge,
                br#"{"status":{"ready":true},"spec":{"size":9}}"#,
                &WriteOpts::default(),
            )
            .expect("status");
        assert_eq!(s.obj.value["status"]["ready"], true);
        assert_eq!(s.obj.value["spec"]["size"], 3, "status writes ignore spec");
        assert_eq!(s.obj.value["metadata"]["generation"], 1);
        let m = c
            .patch(
                &w,
                Some("default"),
                "a",
                None,
                PatchKind::Merge,
                br#"{"status":{"ready":false},"spec":{"size":9}}"#,
                &WriteOpts::default(),
            )
            .expect("main");
        assert_eq!(
            m.obj.value["status"]["ready"], true,
            "main writes ignore status"
        );
        assert_eq!(m.obj.value["metadata"]["generation"], 2);
        let e = c
            .patch(
                &w,
                Some("default"),
                "a",
                None,
                PatchKind::Merge,
                br#"{"spec":{"size":0}}"#,
                &WriteOpts::default(),
            )
            .expect_err("invalid");
        assert_eq!((e.code, e.reason), (422, "Invalid"));
        let e = c
            .patch(
                &w,
                Some("default"),
                "a",
                None,
                PatchKind::Strategic,
                br#"{"spec":{"size":2}}"#,
                &WriteOpts::default(),
            )
            .expect_err("415");
        assert_eq!(e.code, 415);
    }

    #[test]
    fn cel_rules_of_the_crd_are_enforced_including_transition_rules() {
        let c = cluster();
        let crds = rt(
            &c,
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
        );
        let mut crd = widget_crd();
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["x-kubernetes-validations"] = json!([
            {"rule": "self.size <= 10", "message": "size is at most 10"},
            {"rule": "self.size >= oldSelf.size", "message": "size may not shrink"}
        ]);
        c.create(&crds, None, crd, &WriteOpts::default())
            .expect("crd");
        let w = rt(&c, "example.com", "v1", "widgets");
        let e = c
            .create(
                &w,
                Some("default"),
                json!({"metadata": {"name": "big"}, "spec": {"size": 11}}),
                &WriteOpts::default(),
            )
            .expect_err("too big");
        assert_eq!(e.code, 422);
        assert!(e.message.contains("size is at most 10"), "{}", e.message);
        c.create(
            &w,
            Some("default"),
            json!({"metadata": {"name": "a"}, "spec": {"size": 5}}),
            &WriteOpts::default(),
        )
        .expect("ok");
        let e = c
            .patch(
                &w,
                Some("default"),
                "a",
                None,
                PatchKind::Merge,
                br#"{"spec":{"size":4}}"#,
                &WriteOpts::default(),
            )
            .expect_err("shrink");
        assert!(e.message.contains("size may not shrink"), "{}", e.message);
        c.patch(
            &w,
            Some("default"),
            "a",
            None,
            PatchKind::Merge,
            br#"{"spec":{"size":6}}"#,
            &WriteOpts::default(),
        )
        .expect("grow");
    }

    #[test]
    fn deleting_a_crd_removes_its_objects_then_itself() {
        let c = cluster();
        let crds = rt(
            &c,
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
        );
        c.create(&crds, None, widget_crd(), &WriteOpts::default())
            .expect("crd");
        let w = rt(&c, "example.com", "v1", "widgets");
        c.create(
            &w,
            Some("default"),
            json!({"metadata": {"name": "a", "finalizers": ["x/y"]}}),
            &WriteOpts::default(),
        )
        .expect("cr");
        c.delete(&crds, None, "widgets.example.com", &DeleteOpts::default())
            .expect("delete crd");
        assert!(
            c.get(&crds, None, "widgets.example.com").is_ok(),
            "waits for the finalized object"
        );
        let e = c
            .create(
                &w,
                Some("default"),
                json!({"metadata": {"name": "b"}}),
                &WriteOpts::default(),
            )
            .expect_err("terminating");
        assert_eq!(e.code, 405);
        c.patch(
            &w,
            Some("default"),
            "a",
            None,
            PatchKind::Json,
            br#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
            &WriteOpts::default(),
        )
        .expect("finalize");
        assert_eq!(
            c.get(&crds, None, "widgets.example.com")
                .expect_err("gone")
                .code,
            404
        );
        assert!(c.resource("example.com", "v1", "widgets").is_none());
    }

    #[test]
    fn namespace_deletion_empties_it_first() {
        let c = cluster();
        let ns = rt(&c, "", "v1", "namespaces");
        let leases = rt(&c, "coordination.k8s.io", "v1", "leases");
        c.create(
            &ns,
            None,
            json!({"metadata": {"name": "t"}}),
            &WriteOpts::default(),
        )
        .expect("ns");
        c.create(
            &leases,
            Some("t"),
            json!({"metadata": {"name": "l", "finalizers": ["x/y"]}}),
            &WriteOpts::default(),
        )
        .expect("lease");
        let d = c
            .delete(&ns, None, "t", &DeleteOpts::default())
            .expect("delete");
        assert_eq!(d.obj.value["status"]["phase"], "Terminating");
        assert_eq!(
            c.create(
                &leases,
                Some("t"),
                json!({"metadata": {"name": "m"}}),
                &WriteOpts::default()
            )
            .expect_err("terminating")
            .code,
            403
        );
        c.patch(
            &leases,
            Some("t"),
            "l",
            None,
            PatchKind::Merge,
            br#"{"metadata":{"finalizers":[]}}"#,
            &WriteOpts::default(),
        )
        .expect("finalize");
        assert_eq!(c.get(&ns, None, "t").expect_err("gone").code, 404);
    }

    #[test]
    fn garbage_collector_deletes_dependents_once_all_owners_are_gone() {
        let c = cluster();
        let leases = rt(&c, "coordination.k8s.io", "v1", "leases");
        let mk = |name: &str, owners: &[&Arc<Stored>], fin: bool| {
            let refs: Vec<Value> = owners
                .iter()
                .map(|o| json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "name": o.value["metadata"]["name"], "uid": o.value["metadata"]["uid"]}))
                .collect();
            let mut m = json!({"name": name, "ownerReferences": refs});
            if fin {
                m["finalizers"] = json!(["x/y"]);
            }
            c.create(
                &leases,
                Some("default"),
                json!({"metadata": m}),
                &WriteOpts::default(),
            )
            .expect("create")
            .obj
        };
        let a = mk("owner-a", &[], false);
        let b = mk("owner-b", &[], false);
        mk("only-a", &[&a], false);
        mk("a-and-b", &[&a, &b], false);
        mk("a-finalized", &[&a], true);
        c.delete(&leases, Some("default"), "owner-a", &DeleteOpts::default())
            .expect("delete");
        assert_eq!(
            c.get(&leases, Some("default"), "only-a")
                .expect_err("collected")
                .code,
            404
        );
        assert!(
            c.get(&leases, Some("default"), "a-and-b").is_ok(),
            "b still owns it"
        );
        let f = c
            .get(&leases, Some("default"), "a-finalized")
            .expect("finalizer holds it");
        assert!(f.value["metadata"]["deletionTimestamp"].is_string());
        c.delete(&leases, Some("default"), "owner-b", &DeleteOpts::default())
            .expect("delete");
        assert_eq!(
            c.get(&leases, Some("default"), "a-and-b")
                .expect_err("collected")
                .code,
            404
        );
    }

    #[test]
    fn paginated_list_and_exact_resource_version() {
        let c = cluster();
        let nodes = rt(&c, "", "v1", "nodes");
        for i in 0..5 {
            c.create(
                &nodes,
                None,
                json!({"metadata": {"name": format!("n{i}")}}),
                &WriteOpts::default(),
            )
            .expect("create");
        }
        let p1 = c
            .list(
                &nodes,
                None,
                &ListOpts {
                    limit: Some(2),
                    ..Default::default()
                },
            )
            .expect("list");
        assert_eq!(p1.items.len(), 2);
        c.delete(&nodes, None, "n3", &DeleteOpts::default())
            .expect("delete");
        let p2 = c
            .list(
                &nodes,
                None,
                &ListOpts {
                    limit: Some(10),
                    continue_token: p1.continue_token.clone(),
                    ..Default::default()
                },
            )
            .expect("page 2");
        assert_eq!(p2.items.len(), 3, "the snapshot still has n3");
        assert_eq!(p2.resource_version, p1.resource_version);
        assert!(p2.continue_token.is_none());
        c.compact();
        let e = c
            .list(
                &nodes,
                None,
                &ListOpts {
                    limit: Some(10),
                    continue_token: p1.continue_token,
                    ..Default::default()
                },
            )
            .expect_err("compacted");
        assert_eq!(e.code, 410);
    }
}
