//! CRD admission: our CRDs register and default, schema violations and bad object names are
//! 422, and discovery serves a freshly installed CRD.

use kube::ResourceExt;
use kube::api::{Api, PostParams};
use kube::discovery::Discovery;
use multi_eni_api::NodeEni;
use serde_json::json;

use crate::contract::{Case, Cluster, Widget, code, dns_ok, reason};

/// Our NodeENI CRD applies and becomes Established; its schema defaults are applied on
/// create; a Widget violating its schema (size below the minimum, size missing) is 422.
pub async fn crd_schema_defaults_apply_and_invalid_objects_are_422(c: &impl Cluster) {
    let k = Case::new(c, "crd-admit").await;
    k.install(&multi_eni_api::crds::all()).await;
    let nenis: Api<NodeEni> = Api::all(k.client.clone());
    let mut ne: NodeEni = serde_json::from_value(json!({
        "apiVersion": "networking.k8s.aws/v1alpha1", "kind": "NodeENI",
        "metadata": {"name": "x"},
        "spec": {"nodeSelector": {"ng": "multi-eni"}, "subnetID": "subnet-0123456789abcdef0",
                 "securityGroupIDs": ["sg-0123456789abcdef0"]}
    }))
    .expect("a NodeENI");
    ne.metadata = k.meta("multus", &[]);
    let created = nenis
        .create(&PostParams::default(), &ne)
        .await
        .expect("NodeENI accepted");
    assert_eq!(created.spec.device_index, 1, "schema default");
    assert!(created.spec.delete_on_termination, "schema default");
    assert_eq!(created.metadata.generation, Some(1));

    let widgets = k.widgets().await;
    let e = widgets
        .create(&PostParams::default(), &k.widget("small", 0))
        .await
        .expect_err("size below the minimum");
    assert_eq!((code(&e), reason(&e).as_str()), (422, "Invalid"));
    let raw: Api<kube::core::DynamicObject> = Api::namespaced_with(
        k.client.clone(),
        "default",
        &kube::discovery::ApiResource::erase::<Widget>(&()),
    );
    let mut missing = kube::core::DynamicObject::new(
        &k.name("nosize"),
        &kube::discovery::ApiResource::erase::<Widget>(&()),
    )
    .data(json!({"spec": {"color": "red"}}));
    missing.metadata.labels = k.meta("nosize", &[]).labels;
    let e = raw
        .create(&PostParams::default(), &missing)
        .await
        .expect_err("size is required");
    assert_eq!(code(&e), 422);
    k.clean(&nenis).await;
    k.clean(&widgets).await;
}

/// Custom objects' names must be DNS subdomains (RFC 1123): lowercase labels of
/// alphanumerics and `-`, each starting and ending alphanumeric, joined by single dots, at
/// most 253 characters.
pub async fn object_names_must_be_dns_subdomains(c: &impl Cluster) {
    let k = Case::new(c, "crd-names").await;
    let widgets = k.widgets().await;
    let create = |name: String| {
        let widgets = widgets.clone();
        let mut w = k.widget("x", 1);
        w.metadata.name = Some(name);
        async move { widgets.create(&PostParams::default(), &w).await }
    };
    let long = format!("{}-{}", k.prefix, "a".repeat(250));
    let refused = [
        k.name("a..b"),
        k.name("a.-b"),
        k.name("a-.b"),
        "-a".to_string(),
        "A".to_string(),
        k.name("a_b"),
        long,
    ];
    for name in refused {
        let r = create(name.clone()).await;
        assert!(
            matches!(&r, Err(e) if code(e) == 422),
            "{name:?} must be refused with 422: {}",
            dns_ok(&r)
        );
    }
    let ok = create(k.name("a.b-c")).await;
    assert_eq!(
        ok.expect("a.b-c is a DNS subdomain").name_any(),
        k.name("a.b-c")
    );
    k.clean(&widgets).await;
}

/// kube-rs `Discovery` finds the built-in kinds the controller uses and a CRD installed a
/// moment ago.
pub async fn discovery_finds_builtins_and_a_fresh_crd(c: &impl Cluster) {
    let k = Case::new(c, "crd-discovery").await;
    k.widgets().await;
    let d = Discovery::new(k.client.clone())
        .run()
        .await
        .expect("discovery");
    let kinds: Vec<String> = d
        .groups()
        .flat_map(|g| g.recommended_resources())
        .map(|(ar, _)| format!("{}/{}", ar.api_version, ar.kind))
        .collect();
    for want in [
        "v1/Node",
        "v1/Namespace",
        "coordination.k8s.io/v1/Lease",
        "events.k8s.io/v1/Event",
        "contract.multi-eni.test/v1/Widget",
    ] {
        assert!(
            kinds.iter().any(|k| k == want),
            "{want} missing from {kinds:?}"
        );
    }
}
