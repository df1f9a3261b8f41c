//! The whole controller process when the world changes under it: spec changes that replace
//! attachments, two NodeENIs wanting the same device index, a node replaced behind the same
//! name, ENIs detached or deleted behind its back, and the API server restarting.

#[path = "support/system.rs"]
mod system;

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};
use multi_eni_ec2::{DetachEni, Ec2, Op};
use multi_eni_testkit::wait_until;
use serde_json::json;
use system::*;

async fn one_subnet(s: &System, name: &str, extra: serde_json::Value) {
    let e = &s.w.ec2;
    let mut spec = json!({"subnetIDs": [e.subnet_1], "securityGroupIDs": [e.sg]});
    if let (Some(m), Some(x)) = (spec.as_object_mut(), extra.as_object()) {
        m.extend(x.clone());
    }
    s.w.create_node_eni(name, spec).await;
}

/// (ENI ID, device index in EC2) of the NodeENI's ENIs, sorted.
async fn placed(s: &System, ne: &str) -> Vec<(String, i32)> {
    let mut v: Vec<(String, i32)> = Vec::new();
    for a in s.w.attachments(ne).await {
        let id = a.status.and_then(|st| st.eni_id).expect("eniID");
        let eni = s.sim().network_interface(&id).expect("in EC2");
        v.push((id, eni.attachment.expect("attached").device_index));
    }
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_device_index_means_a_new_attachment() {
    let s = System::new().await;
    let e = &s.w.ec2;
    s.w.node("node-a", &e.subnet_1, FOUR_ENIS, true).await;
    let ctl = s.start(None);
    let agent = s.agent(true);
    one_subnet(&s, "multus", json!({"deviceIndex": 1})).await;
    s.converged(&[Want::ready("multus", 1)]).await;
    let before = placed(&s, "multus").await;
    s.w.patch_spec("multus", json!({"deviceIndex": 3})).await;
    wait_until(WAIT, "the ENI at device index 3", || async {
        let now = s.ours();
        match now.as_slice() {
            [e] if e.attachment.as_ref().is_some_and(|a| a.device_index == 3) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    s.converged(&[Want::ready("multus", 1)]).await;
    let after = placed(&s, "multus").await;
    assert_ne!(after[0].0, before[0].0, "a new ENI");
    assert_eq!(after[0].1, 3);
    agent.cancel();
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_mtu_is_updated_in_place() {
    let s = System::new().await;
    let e = &s.w.ec2;
    s.w.node("node-a", &e.subnet_1, FOUR_ENIS, true).await;
    let ctl = s.start(None);
    let agent = s.agent(true);
    one_subnet(&s, "multus", json!({"mtu": 1500})).await;
    s.converged(&[Want::ready("multus", 1)]).await;
    let before = placed(&s, "multus").await;
    s.w.patch_spec("multus", json!({"mtu": 9001})).await;
    wait_until(WAIT, "the new MTU in the attachment", || async {
        let a = &s.w.attachments("multus").await[0];
        if a.spec.mtu == Some(9001) {
            Ok(())
        } else {
            Err(format!("{:?}", a.spec.mtu))
        }
    })
    .await;
    s.converged(&[Want::ready("multus", 1)]).await;
    assert_eq!(placed(&s, "multus").await, before, "the same ENI");
    agent.cancel();
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_node_enis_wanting_the_same_device_index_get_different_ones() {
    let s = System::new().await;
    let e = &s.w.ec2;
    s.w.node("node-a", &e.subnet_1, FOUR_ENIS, true).await;
    s.w.node("node-b", &e.subnet_1, FOUR_ENIS, true).await;
    let ctl = s.start(None);
    let agent = s.agent(true);
    one_subnet(&s, "first", json!({"deviceIndex": 1})).await;
    one_subnet(&s, "second", json!({"deviceIndex": 1})).await;
    s.converged(&[Want::ready("first", 2), Want::ready("second", 2)])
        .await;
    for node in ["node-a", "node-b"] {
        let mut indexes: Vec<i32> = s
            .ours()
            .iter()
            .filter(|e| {
                e.tags
                    .get(multi_eni_api::keys::TAG_NODE)
                    .map(String::as_str)
                    == Some(node)
            })
            .filter_map(|e| e.attachment.as_ref().map(|a| a.device_index))
            .collect();
        indexes.sort();
        assert_eq!(indexes, vec![1, 2], "{node}");
    }
    agent.cancel();
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_replaced_behind_the_same_name_gets_fresh_enis() {
    let s = System::new().await;
    let e = &s.w.ec2;
    let old = s.w.node("node-a", &e.subnet_1, FOUR_ENIS, true).await;
    let ctl = s.start(None);
    let agent = s.agent(true);
    one_subnet(&s, "multus", json!({"deleteOnTermination": false})).await;
    s.converged(&[Want::ready("multus", 1)]).await;
    // The instance is replaced; the Node object comes back under the same name.
    s.sim().terminate_instance(&old).expect("terminate");
    s.w.delete_node("node-a").await;
    let new = s.w.node("node-a", &e.subnet_1, FOUR_ENIS, true).await;
    wait_until(WAIT, "the attachment on the new instance", || async {
        let atts = s.w.attachments("multus").await;
        match atts.as_slice() {
            [a] if a.spec.instance_id == new => Ok(()),
            other => Err(format!(
                "{:?}",
                other
                    .iter()
                    .map(|a| &a.spec.instance_id)
                    .collect::<Vec<_>>()
            )),
        }
    })
    .await;
    s.converged(&[Want::ready("multus", 1)]).await;
    let enis = s.ours();
    assert_eq!(enis.len(), 1, "the old instance's ENI is gone: {enis:?}");
    let at = enis[0].attachment.as_ref().expect("attached");
    assert_eq!(at.instance_id.as_deref(), Some(new.as_str()));
    agent.cancel();
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_eni_detached_behind_its_back_is_attached_again() {
    let s = System::new().await;
    let e = &s.w.ec2;
    s.w.node("node-a", &e.subnet_1, FOUR_ENIS, true).await;
    let ctl = s.start(None);
    let agent = s.agent(true);
    one_subnet(&s, "multus", json!({})).await;
    s.converged(&[Want::ready("multus", 1)]).await;
    let eni = s.ours().remove(0);
    let attachment_id = eni.attachment.expect("attached").attachment_id;
    s.sim()
        .detach_network_interface(&DetachEni {
            attachment_id: attachment_id.clone(),
            force: false,
        })
        .await
        .expect("detach");
    wait_until(WAIT, "the ENI attached again", || async {
        let now = s.sim().network_interface(&eni.id).ok_or("gone")?;
        match now.attachment {
            Some(a) if a.attachment_id != attachment_id => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    s.converged(&[Want::ready("multus", 1)]).await;
    assert_eq!(s.sim().calls(Op::CreateNetworkInterface), 1, "the same ENI");
    agent.cancel();
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_eni_force_detached_and_deleted_behind_its_back_is_created_again_elsewhere() {
    let s = System::new().await;
    let e = &s.w.ec2;
    s.w.node("node-a", &e.subnet_1, FOUR_ENIS, true).await;
    let ctl = s.start(None);
    let agent = s.agent(true);
    one_subnet(&s, "multus", json!({})).await;
    s.converged(&[Want::ready("multus", 1)]).await;
    let eni = s.ours().remove(0);
    let attachment_id = eni.attachment.clone().expect("attached").attachment_id;
    s.sim()
        .detach_network_interface(&DetachEni {
            attachment_id,
            force: true,
        })
        .await
        .expect("detach");
    wait_until(WAIT, "the ENI detached", || async {
        match s
            .sim()
            .network_interface(&eni.id)
            .and_then(|e| e.attachment)
        {
            None => Ok(()),
            Some(a) => Err(format!("{a:?}")),
        }
    })
    .await;
    s.sim()
        .delete_network_interface(&eni.id)
        .await
        .expect("delete");
    wait_until(WAIT, "a new ENI", || async {
        let ids: Vec<String> = s.ours().into_iter().map(|e| e.id).collect();
        if ids.len() == 1 && ids[0] != eni.id {
            Ok(())
        } else {
            Err(format!("{ids:?}"))
        }
    })
    .await;
    s.converged(&[Want::ready("multus", 1)]).await;
    let att = &s.w.attachments("multus").await[0];
    let attempt = att.status.as_ref().and_then(|st| st.create_attempt);
    assert_eq!(attempt, Some(2), "a fresh ClientToken for the re-create");
    // EC2 keeps a force-detached index busy until the instance restarts: the next one is used.
    let used = att.status.as_ref().and_then(|st| st.device_index);
    assert_eq!((att.spec.device_index, used), (1, Some(2)));
    agent.cancel();
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_server_restarting_and_compacting_mid_rollout() {
    let s = System::new().await;
    let e = &s.w.ec2;
    for n in 0..3 {
        s.w.node(&format!("node-{n}"), &e.subnet_1, FOUR_ENIS, true)
            .await;
    }
    let ctl = s.start(None);
    let agent = s.agent(true);
    s.w.create_node_eni(
        "multus",
        json!({"subnetIDs": [e.subnet_1, e.subnet_2], "securityGroupIDs": [e.sg]}),
    )
    .await;
    wait_until(WAIT, "the rollout under way", || async {
        if s.ours().is_empty() {
            Err("no ENI".to_owned())
        } else {
            Ok(())
        }
    })
    .await;
    let server = s.w.server.as_ref().expect("double");
    server.compact_history();
    server.restart().await.expect("restart");
    s.converged(&[Want::ready("multus", 6)]).await;
    // Still watching: a change after the restart is acted on.
    s.w.label("node-2", false).await;
    s.converged(&[Want::ready("multus", 4)]).await;
    agent.cancel();
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_on_termination_and_the_node_selector_change_in_place() {
    let s = System::new().await;
    let e = &s.w.ec2;
    s.w.node("node-a", &e.subnet_1, FOUR_ENIS, true).await;
    s.w.node("node-b", &e.subnet_1, FOUR_ENIS, false).await;
    let ctl = s.start(None);
    let agent = s.agent(true);
    one_subnet(&s, "multus", json!({"deleteOnTermination": true})).await;
    s.converged(&[Want::ready("multus", 1)]).await;
    let before = placed(&s, "multus").await;
    s.w.patch_spec("multus", json!({"deleteOnTermination": false}))
        .await;
    wait_until(WAIT, "DeleteOnTermination off in EC2", || async {
        let enis = s.ours();
        match enis.as_slice() {
            [e] if e
                .attachment
                .as_ref()
                .is_some_and(|a| !a.delete_on_termination) =>
            {
                Ok(())
            }
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    s.converged(&[Want::ready("multus", 1)]).await;
    assert_eq!(placed(&s, "multus").await, before, "the same ENI");
    // Select every node instead: node-b joins, node-a stays.
    let patch = json!({"spec": {"nodeSelector": {"ng": null, "kubernetes.io/os": "linux"}}});
    for node in ["node-a", "node-b"] {
        let label = json!({"metadata": {"labels": {"kubernetes.io/os": "linux"}}});
        Api::<Node>::all(s.w.client.clone())
            .patch(node, &PatchParams::default(), &Patch::Merge(&label))
            .await
            .expect("label");
    }
    s.w.node_enis()
        .patch("multus", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patch selector");
    s.converged(&[Want::ready("multus", 2)]).await;
    assert!(placed(&s, "multus").await.contains(&before[0]));
    agent.cancel();
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_terminated_while_its_eni_is_being_attached() {
    let s = System::new().await;
    let e = &s.w.ec2;
    s.w.node("node-a", &e.subnet_1, FOUR_ENIS, true).await;
    let doomed = s.w.node("node-b", &e.subnet_1, FOUR_ENIS, true).await;
    let gate = Gate::new(s.sim().clone());
    gate.hang_after(Op::CreateNetworkInterface);
    let first = s.start_with(None, gate.clone());
    let agent = s.agent(true);
    one_subnet(&s, "multus", json!({"deleteOnTermination": false})).await;
    tokio::time::timeout(WAIT, gate.hit.notified())
        .await
        .expect("creating");
    first.kill().await;
    s.sim().terminate_instance(&doomed).expect("terminate");
    let second = s.start(None);
    s.converged(&[Want::ready("multus", 1)]).await;
    assert_eq!(s.ours().len(), 1);
    agent.cancel();
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_not_on_ec2_is_degraded_and_the_others_proceed() {
    let s = System::new().await;
    let e = &s.w.ec2;
    s.w.node("node-a", &e.subnet_1, FOUR_ENIS, true).await;
    multi_eni_kube_env::create_node(
        &s.w.client,
        "kind-worker",
        &[SELECTOR],
        Some("kind://docker/kind/kind-worker"),
    )
    .await
    .expect("node");
    let ctl = s.start(None);
    let agent = s.agent(true);
    one_subnet(&s, "multus", json!({})).await;
    s.converged(&[Want::ready("multus", 1).degraded(multi_eni_api::keys::reason::NODE_NOT_ON_EC2)])
        .await;
    let (_, _, msg) = condition(&s.w.node_eni("multus").await, "Degraded");
    assert!(msg.contains("kind-worker"), "{msg}");
    agent.cancel();
    ctl.stop().await;
}
