//! Reads: get, list (label/field filtered, paginated over a consistent snapshot rebuilt from the
//! change history), where a watch starts, and objects presented in the version asked for.

use parking_lot::Mutex;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Value, json};

use super::{Cluster, subject};
use crate::conversion::from_storage;
use crate::resource::ResourceType;
use crate::selector::Filter;
use crate::status::ApiError;
use crate::store::{ObjKey, Snapshot, Store, Stored, json_bytes};

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

const CONTINUE_TOO_OLD: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

/// `<rv>.<hex namespace>.<hex name>`: the snapshot a page belongs to and the last key it held.
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

fn parse_rv(s: &str) -> Result<u64, ApiError> {
    s.parse()
        .map_err(|_| ApiError::bad_request(format!("invalid resource version \"{s}\"")))
}

fn too_old(rv: u64, compacted: u64) -> ApiError {
    ApiError::expired(format!("too old resource version: {rv} ({compacted})"))
}

impl Cluster {
    pub fn get(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
    ) -> Result<Arc<Stored>, ApiError> {
        let store = self.store(&rt.store_key());
        let g = store.lock();
        g.objects
            .get(&ObjKey::of(rt, ns, name))
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
        let g = store.lock();
        let now = self.current_rv();
        let (snapshot, rv, after) =
            if let Some(token) = opts.continue_token.as_deref().filter(|t| !t.is_empty()) {
                let (rv, after) = decode_continue(token)
                    .ok_or_else(|| ApiError::bad_request("continue key is not valid"))?;
                let snap = g
                    .snapshot_at(rv)
                    .map_err(|_| ApiError::expired(CONTINUE_TOO_OLD))?;
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
                let snap = g
                    .snapshot_at(want)
                    .map_err(|_| too_old(want, g.compacted))?;
                (snap, want, None)
            } else {
                (Snapshot::Current, now, None)
            };
        let limit = opts.limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
        let filter = &opts.filter;
        let keep = |s: &Stored| filter.matches(&s.value);
        let ns = if rt.namespaced { ns } else { None };
        // One object by key: no scan (kubectl get -w NAME, field-selected informers). Across
        // the namespaces of a namespaced resource a name is no key: the scan pages those.
        let by_key = match (filter.fields.exact_name(), &snapshot) {
            (Some(name), Snapshot::Current) if ns.is_some() || !rt.namespaced => Some(ObjKey {
                namespace: ns.unwrap_or("").into(),
                name: name.into(),
            }),
            _ => None,
        };
        let (items, next) = match by_key {
            Some(key) => {
                let found = g
                    .objects
                    .get(&key)
                    .filter(|o| keep(o) && after.as_ref().is_none_or(|a| key > *a));
                (found.cloned().into_iter().collect(), None)
            }
            None => g.page(&snapshot, after.as_ref(), ns, limit, &keep),
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
        let g = store.lock();
        let notify = g.notify.subscribe();
        let now = self.current_rv();
        let rv = rv.filter(|s| !s.is_empty());
        let (initial, cursor) = match rv {
            Some(rv) if !send_initial && rv != "0" => {
                let cursor = parse_rv(rv)?;
                if cursor < g.compacted {
                    return Err(too_old(cursor, g.compacted));
                }
                (vec![], cursor)
            }
            _ => {
                let ns = if rt.namespaced { ns } else { None };
                let keep = |s: &Stored| filter.matches(&s.value);
                let (initial, _) = g.page(&Snapshot::Current, None, ns, usize::MAX, &keep);
                (initial, now)
            }
        };
        drop(g);
        Ok(WatchStart {
            initial,
            cursor,
            store,
            notify,
        })
    }

    /// The object's JSON as the client asked for it (its apiVersion rewritten for another
    /// served version of a CRD: conversion strategy `None`, as kube-apiserver does).
    pub fn present(&self, rt: &ResourceType, obj: &Stored) -> Bytes {
        if let Some(c) = rt.conversion() {
            return json_bytes(&from_storage(c, obj.value.clone()));
        }
        if obj
            .value
            .get("apiVersion")
            .and_then(Value::as_str)
            .is_some_and(|v| rt.api_version_is(v))
        {
            return obj.bytes.clone();
        }
        let mut v = obj.value.clone();
        v["apiVersion"] = json!(rt.api_version());
        json_bytes(&v)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::cluster::fixture::{cluster, create, delete, rt};
    use crate::selector::FieldSelector;

    #[test]
    fn continue_tokens_round_trip_any_key() {
        let key = ObjKey {
            namespace: "kube-system".into(),
            name: "a.b-c".into(),
        };
        assert_eq!(decode_continue(&encode_continue(42, &key)), Some((42, key)));
        for bad in ["", "x.00.00", "1.zz.00", "1.00"] {
            assert_eq!(decode_continue(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn paginated_list_and_exact_resource_version() {
        let c = cluster();
        let nodes = rt(&c, "", "v1", "nodes");
        for i in 0..5 {
            create(
                &c,
                &nodes,
                None,
                json!({"metadata": {"name": format!("n{i}")}}),
            )
            .expect("create");
        }
        let page = |limit: usize, continue_token: Option<String>| {
            c.list(
                &nodes,
                None,
                &ListOpts {
                    limit: Some(limit),
                    continue_token,
                    ..Default::default()
                },
            )
        };
        let p1 = page(2, None).expect("list");
        assert_eq!(p1.items.len(), 2);
        delete(&c, &nodes, None, "n3").expect("delete");
        let p2 = page(10, p1.continue_token.clone()).expect("page 2");
        assert_eq!(p2.items.len(), 3, "the snapshot still has n3");
        assert_eq!(p2.resource_version, p1.resource_version);
        assert!(p2.continue_token.is_none());
        c.compact();
        let e = page(10, p1.continue_token).expect_err("compacted");
        assert_eq!(e.code, 410);
    }

    #[test]
    fn a_name_selected_list_across_namespaces_honours_the_limit() {
        let c = cluster();
        let leases = rt(&c, "coordination.k8s.io", "v1", "leases");
        for ns in ["default", "kube-system"] {
            create(&c, &leases, Some(ns), json!({"metadata": {"name": "x"}})).expect("lease");
        }
        let fields = FieldSelector::parse("metadata.name=x", &leases).expect("selector");
        let opts = |continue_token: Option<String>| ListOpts {
            filter: Filter {
                fields: fields.clone(),
                ..Default::default()
            },
            limit: Some(1),
            continue_token,
            ..Default::default()
        };
        let p1 = c.list(&leases, None, &opts(None)).expect("page 1");
        assert_eq!(p1.items.len(), 1, "limit=1");
        assert!(
            p1.continue_token.is_some(),
            "the other namespace's x follows"
        );
        let p2 = c
            .list(&leases, None, &opts(p1.continue_token.clone()))
            .expect("page 2");
        let ns = |p: &ListPage| p.items[0].value["metadata"]["namespace"].clone();
        assert_eq!((ns(&p1), ns(&p2)), (json!("default"), json!("kube-system")));
        let one = c
            .list(&leases, Some("kube-system"), &opts(None))
            .expect("in one namespace");
        assert_eq!(one.items.len(), 1);
        assert!(one.continue_token.is_none());
    }
}
