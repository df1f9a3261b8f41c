//! DPDK binding and SR-IOV device-plugin config through the whole agent, against a fake sysfs
//! tree whose tiny kernel moves driver symlinks; links in a throwaway network namespace. Needs
//! root (.ci/run).

mod common;

use common::*;
use multi_eni_agent::address::PciAddr;
use multi_eni_agent::testing::cluster::{TIMEOUT, TestCluster};
use multi_eni_agent::testing::sysfs::Fault;
use multi_eni_api::keys::reason;
use multi_eni_api::node_eni::DpdkDriver;
use multi_eni_api::{DpdkSpec, EniAttachment, Phase, SriovSpec};
use serde_json::Value;

const PCI_A: &str = "0000:00:06.0";
const PCI_B: &str = "0000:00:07.0";

fn pci(s: &str) -> PciAddr {
    s.parse().expect("valid")
}

/// A node with ENA devices behind veths `ens6` (MAC_A, PCI_A) and `ens7` (MAC_B, PCI_B).
fn node_with_devices() -> Node {
    let node = Node::new("node-a");
    for d in ["ena", "vfio-pci"] {
        node.kernel.add_driver(d).expect("driver");
    }
    for (ifname, mac, addr) in [("ens6", MAC_A, PCI_A), ("ens7", MAC_B, PCI_B)] {
        node.ns.add_veth(ifname, mac, &format!("p-{ifname}"));
        node.kernel.add_device(&pci(addr), "ena").expect("device");
        node.kernel.add_netdev(ifname, &pci(addr)).expect("netdev");
    }
    node
}

fn dpdk(spec: &mut multi_eni_api::EniAttachmentSpec) {
    spec.dpdk = Some(DpdkSpec {
        driver: DpdkDriver::VfioPci,
        pci_address: None,
    });
    spec.sriov = Some(SriovSpec {
        resource_name: "amazon.com/ena_dpdk".into(),
        pci_address: None,
    });
}

/// The cluster and [`node_with_devices`], with `att-a` (MAC_A) Attached asking for [`dpdk`].
async fn dpdk_att_a() -> (TestCluster, Node) {
    let cluster = TestCluster::start().await;
    let node = node_with_devices();
    cluster
        .attach("att-a", "node-a", &MAC_A.to_string(), dpdk)
        .await;
    (cluster, node)
}

fn bound(o: &EniAttachment) -> Result<(), String> {
    has_reason("True", reason::DPDK_BOUND)(o)?;
    let i = iface(o)?;
    if i.dpdk_bound
        && i.pci_address.as_deref() == Some(PCI_A)
        && i.original_driver.as_deref() == Some("ena")
    {
        Ok(())
    } else {
        Err(format!("{i:?}"))
    }
}

fn sriov_config(node: &Node) -> Value {
    serde_json::from_slice(&std::fs::read(node.sriov_config()).expect("SR-IOV config written"))
        .expect("json")
}

fn state_bindings(node: &Node) -> Vec<Value> {
    let v: Value = serde_json::from_slice(
        &std::fs::read(node.state_dir().join("dpdk-bindings.json")).expect("state"),
    )
    .expect("json");
    v["bindings"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dpdk_bind_is_reported_and_restored_on_release() {
    let (cluster, node) = dpdk_att_a().await;
    let agent = node.start_agent(&cluster, node.config()).await;

    let o = cluster.wait_for("att-a", "DPDK bound", bound).await;
    assert_eq!(
        iface(&o).expect("interface").dpdk_driver.as_deref(),
        Some("vfio-pci")
    );
    assert_eq!(
        iface(&o).expect("interface").sriov_resource_name.as_deref(),
        Some("amazon.com/ena_dpdk")
    );
    assert_eq!(
        node.kernel.driver_of(&pci(PCI_A)).as_deref(),
        Some("vfio-pci")
    );
    assert_eq!(
        node.kernel.driver_of(&pci(PCI_B)).as_deref(),
        Some("ena"),
        "the other NIC is not ours"
    );
    assert_eq!(state_bindings(&node).len(), 1);
    let cfg = sriov_config(&node);
    assert_eq!(cfg["resourceList"][0]["resourceName"], "ena_dpdk");
    assert_eq!(cfg["resourceList"][0]["resourcePrefix"], "amazon.com");
    assert_eq!(
        cfg["resourceList"][0]["selectors"]["drivers"],
        serde_json::json!(["vfio-pci"])
    );
    assert_eq!(
        cfg["resourceList"][0]["selectors"]["pciAddresses"],
        serde_json::json!([PCI_A])
    );
    assert!(
        !node.ns.link("ens6").expect("ens6").up(),
        "a link handed to DPDK is not brought up"
    );

    cluster.set_phase("att-a", Phase::Detaching).await;
    cluster
        .wait_for("att-a", "released", |o| {
            released(o)?;
            let i = iface(o)?;
            if i.dpdk_bound {
                Err(format!("released but still bound: {i:?}"))
            } else {
                Ok(())
            }
        })
        .await;
    assert_eq!(
        node.kernel.driver_of(&pci(PCI_A)).as_deref(),
        Some("ena"),
        "kernel driver restored"
    );
    assert_eq!(
        node.kernel
            .sysfs()
            .driver_override(&pci(PCI_A))
            .expect("read"),
        None
    );
    assert!(state_bindings(&node).is_empty());
    assert_eq!(
        sriov_config(&node)["resourceList"],
        serde_json::json!([]),
        "SR-IOV entry dropped"
    );
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_bind_is_rolled_back_reported_and_retried() {
    let (cluster, node) = dpdk_att_a().await;
    node.kernel.inject(Fault::ProbeIgnored);
    let agent = node.start_agent(&cluster, node.config()).await;

    let o = cluster
        .wait_for(
            "att-a",
            "DPDKBindFailed",
            has_reason("False", reason::DPDK_BIND_FAILED),
        )
        .await;
    let msg = multi_eni_api::conditions::find(
        &iface(&o).expect("interface").conditions,
        multi_eni_api::keys::condition::INTERFACE_READY,
    )
    .map(|c| c.message.clone())
    .unwrap_or_default();
    assert!(msg.contains("rolled back"), "{msg}");
    assert_eq!(
        node.kernel.driver_of(&pci(PCI_A)).as_deref(),
        Some("ena"),
        "never left driverless"
    );
    assert!(!iface(&o).expect("interface").dpdk_bound);
    assert!(
        !node.sriov_config().exists(),
        "nothing published while not bound"
    );

    node.kernel.clear_faults();
    cluster
        .wait_for("att-a", "bound after the back-off", bound)
        .await;
    agent
        .assert_metric("multi_eni_agent_dpdk_binds_total{result=\"rolled_back\"} 1")
        .await;
    agent
        .assert_metric("multi_eni_agent_dpdk_binds_total{result=\"bound\"} 1")
        .await;
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bindings_are_recovered_after_an_agent_restart_and_a_reboot() {
    let (cluster, node) = dpdk_att_a().await;
    cluster
        .attach("att-b", "node-a", &MAC_B.to_string(), |s| {
            s.device_index = 2;
            s.dpdk = Some(DpdkSpec {
                driver: DpdkDriver::VfioPci,
                pci_address: None,
            });
        })
        .await;
    let agent = node.start_agent(&cluster, node.config()).await;
    cluster.wait_for("att-a", "DPDK bound", bound).await;
    cluster
        .wait_for(
            "att-b",
            "DPDK bound",
            has_reason("True", reason::DPDK_BOUND),
        )
        .await;
    agent.stop().await;

    // While the agent is down: the node reboots (override and binding lost) and att-b is
    // deleted (the controller timed out on an agent that was not there).
    node.kernel.reboot().expect("reboot");
    assert_eq!(node.kernel.driver_of(&pci(PCI_A)).as_deref(), Some("ena"));
    cluster
        .api()
        .delete("att-b", &Default::default())
        .await
        .expect("delete att-b");

    let agent = node.start_agent(&cluster, node.config()).await;
    multi_eni_agent::testing::wait_until(TIMEOUT, "re-bound and orphan restored", || async {
        let a = node.kernel.driver_of(&pci(PCI_A));
        let b = node.kernel.driver_of(&pci(PCI_B));
        if a.as_deref() == Some("vfio-pci")
            && b.as_deref() == Some("ena")
            && state_bindings(&node).len() == 1
        {
            Ok(())
        } else {
            Err(format!("a={a:?} b={b:?} state={:?}", state_bindings(&node)))
        }
    })
    .await;
    let o = cluster.wait_for("att-a", "still bound", bound).await;
    assert_eq!(
        iface(&o).expect("interface").original_driver.as_deref(),
        Some("ena"),
        "the first original driver is kept"
    );
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_under_one_resource_name_are_both_published() {
    let cluster = TestCluster::start().await;
    let node = node_with_devices();
    // Someone else's resource in the same file stays as it is.
    let foreign = serde_json::json!({"resourceName": "intel_sriov_netdevice", "selectors": {"vendors": ["8086"]}});
    std::fs::create_dir_all(node.sriov_config().parent().expect("dir")).expect("mkdir");
    std::fs::write(
        node.sriov_config(),
        serde_json::to_vec(&serde_json::json!({"resourceList": [foreign]})).expect("json"),
    )
    .expect("write foreign config");
    let sriov = |s: &mut multi_eni_api::EniAttachmentSpec| {
        s.sriov = Some(SriovSpec {
            resource_name: "amazon.com/ena".into(),
            pci_address: None,
        });
    };
    cluster
        .attach("att-a", "node-a", &MAC_A.to_string(), sriov)
        .await;
    cluster
        .attach("att-b", "node-a", &MAC_B.to_string(), |s| {
            s.device_index = 2;
            sriov(s);
        })
        .await;
    let agent = node.start_agent(&cluster, node.config()).await;

    multi_eni_agent::testing::wait_until(TIMEOUT, "both devices published", || async {
        let cfg = sriov_config(&node);
        let ours = cfg["resourceList"]
            .as_array()
            .and_then(|l| l.iter().find(|r| r["resourceName"] == "ena"))
            .cloned();
        match ours {
            Some(r) if r["selectors"]["pciAddresses"] == serde_json::json!([PCI_A, PCI_B]) => {
                Ok(())
            }
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let cfg = sriov_config(&node);
    assert_eq!(cfg["resourceList"][0], foreign);
    assert_eq!(
        cfg["resourceList"].as_array().map(Vec::len),
        Some(2),
        "one resource, two devices: {cfg}"
    );
    for name in ["att-a", "att-b"] {
        let o = cluster
            .wait_for(
                name,
                "configured",
                has_reason("True", reason::INTERFACE_CONFIGURED),
            )
            .await;
        assert_eq!(
            iface(&o).expect("interface").sriov_resource_name.as_deref(),
            Some("amazon.com/ena")
        );
    }
    assert_eq!(
        node.kernel.driver_of(&pci(PCI_A)).as_deref(),
        Some("ena"),
        "SR-IOV without DPDK binds nothing"
    );

    cluster.set_phase("att-a", Phase::Detaching).await;
    cluster.wait_for("att-a", "released", released).await;
    let cfg = sriov_config(&node);
    assert_eq!(
        cfg["resourceList"][1]["selectors"]["pciAddresses"],
        serde_json::json!([PCI_B])
    );
    assert_eq!(cfg["resourceList"][0], foreign);
    agent
        .assert_metric("multi_eni_agent_sriov_config_writes_total 2")
        .await;
    agent.stop().await;
}
