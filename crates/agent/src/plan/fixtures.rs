//! The little world the plan tests build: attachments, links, devices and bindings, with
//! defaults that make a row of a table only say what is special about it.

use std::collections::BTreeMap;

use super::{AttachmentFacts, DpdkWant, SriovWant};
use super::{Facts, Held, Intent, LinkChange, LinkFacts, Naming, Op, Plan, plan};
use crate::address::{MacAddr, PciAddr};
use crate::dpdk::Binding;

pub const MAC_A: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0xa]);
pub const MAC_B: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0xb]);
pub const MAC_FOREIGN: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0xf]);

pub fn pci(s: &str) -> PciAddr {
    s.parse().expect("valid PCI address")
}

/// An Attached attachment wanting MTU 9001 on device index 1.
pub fn att(uid: &str, mac: MacAddr) -> AttachmentFacts {
    AttachmentFacts {
        uid: uid.into(),
        name: format!("att-{uid}"),
        generation: Some(1),
        intent: Intent::Configure,
        mac: Some(mac),
        mtu: Some(9001),
        device_index: 1,
        network_card_index: 0,
        dpdk: None,
        sriov: None,
        problem: None,
    }
}

pub fn dpdk_att(uid: &str, mac: MacAddr, spec_pci: Option<&str>) -> AttachmentFacts {
    let mut a = att(uid, mac);
    a.dpdk = Some(DpdkWant {
        driver: "vfio-pci".into(),
        pci: spec_pci.map(pci),
    });
    a
}

pub fn sriov_att(uid: &str, mac: MacAddr, resource: &str) -> AttachmentFacts {
    let mut a = att(uid, mac);
    a.sriov = Some(SriovWant {
        resource: resource.into(),
        pci: None,
    });
    a
}

/// A link as the kernel creates it: down, MTU 1500, no PCI device.
pub fn link(index: u32, name: &str, mac: MacAddr) -> LinkFacts {
    LinkFacts {
        index,
        name: name.into(),
        mac: Some(mac),
        mtu: 1500,
        up: false,
        parent: None,
        master: None,
        pci: None,
    }
}

/// A link with a PCI device behind it, as an ENA NIC has (veths, VLANs … have none).
pub fn nic(index: u32, name: &str, mac: MacAddr, addr: &str) -> LinkFacts {
    LinkFacts {
        pci: Some(pci(addr)),
        ..link(index, name, mac)
    }
}

pub fn configured(mut l: LinkFacts, mtu: u32) -> LinkFacts {
    l.up = true;
    l.mtu = mtu;
    l
}

/// A binding of `uid`'s device to vfio-pci.
pub fn binding(uid: &str, addr: &str, original: Option<&str>) -> Binding {
    Binding {
        pci: pci(addr),
        attachment_uid: uid.into(),
        attachment: format!("att-{uid}"),
        driver: "vfio-pci".into(),
        original_driver: original.map(str::to_owned),
    }
}

/// The owned facts behind one [`Facts`].
pub struct World {
    pub attachments: Vec<AttachmentFacts>,
    pub links: Vec<LinkFacts>,
    pub devices: BTreeMap<PciAddr, Option<String>>,
    pub bindings: Vec<Binding>,
    pub held: BTreeMap<String, Held>,
    pub naming: Naming,
    pub complete: bool,
}

impl World {
    pub fn new(attachments: Vec<AttachmentFacts>, links: Vec<LinkFacts>) -> Self {
        World {
            attachments,
            links,
            devices: BTreeMap::new(),
            bindings: vec![],
            held: BTreeMap::new(),
            naming: Naming::Kernel,
            complete: true,
        }
    }

    pub fn plan(&self) -> Plan {
        plan(&Facts {
            attachments: &self.attachments,
            links: &self.links,
            devices: &self.devices,
            bindings: &self.bindings,
            held: &self.held,
            naming: &self.naming,
            complete: self.complete,
        })
    }
}

/// What a down link with our MAC gets: up, with `mtu`, name left alone.
pub fn bring_up(mtu: u32) -> LinkChange {
    LinkChange {
        name: None,
        mtu: Some(mtu),
        up: Some(true),
    }
}

/// The link changes of a plan, by ifindex.
pub fn link_ops(p: &Plan) -> Vec<(u32, LinkChange)> {
    p.actions
        .iter()
        .filter_map(|a| match &a.op {
            Op::Link { index, change, .. } => Some((*index, change.clone())),
            _ => None,
        })
        .collect()
}
