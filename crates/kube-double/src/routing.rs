//! URL paths → what is asked for. Pure; the resource part follows kube-apiserver's layout:
//! `/api/v1/…` (core) or `/apis/<group>/<version>/…`, then `[namespaces/<ns>/]<plural>[/<name>[/<sub>]]`.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Version,
    Health,
    /// `/api` (core) or `/apis`.
    Root {
        core: bool,
    },
    Group(String),
    GroupVersion {
        group: String,
        version: String,
    },
    /// `/openapi/v3`.
    OpenApiIndex,
    /// `/openapi/v3/api/v1`, `/openapi/v3/apis/<g>/<v>`.
    OpenApiGroupVersion(String),
    /// `/openapi/v2` (not served: kubectl falls back from it).
    OpenApiV2,
    Resource(ResourcePath),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePath {
    pub group: String,
    pub version: String,
    pub plural: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub sub: Option<String>,
}

pub fn route(path: &str) -> Option<Route> {
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let (group, version, rest) = match segs.as_slice() {
        ["version"] => return Some(Route::Version),
        ["healthz" | "readyz" | "livez", ..] => return Some(Route::Health),
        ["openapi", "v3"] => return Some(Route::OpenApiIndex),
        ["openapi", "v3", rest @ ..] => return Some(Route::OpenApiGroupVersion(rest.join("/"))),
        ["openapi", ..] => return Some(Route::OpenApiV2),
        ["api"] => return Some(Route::Root { core: true }),
        ["apis"] => return Some(Route::Root { core: false }),
        ["api", v] => {
            return Some(Route::GroupVersion {
                group: String::new(),
                version: v.to_string(),
            });
        }
        ["apis", g] => return Some(Route::Group(g.to_string())),
        ["apis", g, v] => {
            return Some(Route::GroupVersion {
                group: g.to_string(),
                version: v.to_string(),
            });
        }
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return None,
    };
    let s = |x: &str| Some(x.to_string());
    let (plural, namespace, name, sub) = match rest {
        // `namespaces/<ns>` is the Namespace itself; `namespaces/<ns>/status|finalize` its subresources.
        ["namespaces", ns] if group.is_empty() => ("namespaces", None, s(ns), None),
        ["namespaces", ns, sub @ ("status" | "finalize")] if group.is_empty() => {
            ("namespaces", None, s(ns), s(sub))
        }
        ["namespaces", ns, plural] => (*plural, s(ns), None, None),
        ["namespaces", ns, plural, name] => (*plural, s(ns), s(name), None),
        ["namespaces", ns, plural, name, sub] => (*plural, s(ns), s(name), s(sub)),
        [plural] => (*plural, None, None, None),
        [plural, name] => (*plural, None, s(name), None),
        [plural, name, sub] => (*plural, None, s(name), s(sub)),
        _ => return None,
    };
    Some(Route::Resource(ResourcePath {
        group: group.to_string(),
        version: version.to_string(),
        plural: plural.to_string(),
        namespace,
        name,
        sub,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(
        g: &str,
        v: &str,
        p: &str,
        ns: Option<&str>,
        n: Option<&str>,
        sub: Option<&str>,
    ) -> Option<Route> {
        Some(Route::Resource(ResourcePath {
            group: g.into(),
            version: v.into(),
            plural: p.into(),
            namespace: ns.map(Into::into),
            name: n.map(Into::into),
            sub: sub.map(Into::into),
        }))
    }

    #[test]
    fn paths_route_like_kube_apiserver() {
        assert_eq!(
            route("/api/v1/nodes"),
            res("", "v1", "nodes", None, None, None)
        );
        assert_eq!(
            route("/api/v1/nodes/n1/status"),
            res("", "v1", "nodes", None, Some("n1"), Some("status"))
        );
        assert_eq!(
            route("/api/v1/namespaces"),
            res("", "v1", "namespaces", None, None, None)
        );
        assert_eq!(
            route("/api/v1/namespaces/default"),
            res("", "v1", "namespaces", None, Some("default"), None)
        );
        assert_eq!(
            route("/api/v1/namespaces/default/status"),
            res(
                "",
                "v1",
                "namespaces",
                None,
                Some("default"),
                Some("status")
            )
        );
        assert_eq!(
            route("/api/v1/namespaces/default/events"),
            res("", "v1", "events", Some("default"), None, None)
        );
        assert_eq!(
            route("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/l"),
            res(
                "coordination.k8s.io",
                "v1",
                "leases",
                Some("kube-system"),
                Some("l"),
                None
            )
        );
        assert_eq!(
            route("/apis/x.io/v1"),
            Some(Route::GroupVersion {
                group: "x.io".into(),
                version: "v1".into()
            })
        );
        assert_eq!(route("/apis"), Some(Route::Root { core: false }));
        assert_eq!(route("/version"), Some(Route::Version));
        assert_eq!(route("/nonsense"), None);
    }
}
