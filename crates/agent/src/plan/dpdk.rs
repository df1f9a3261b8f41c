//! Handing an attachment's device to its DPDK driver: which device (never one only the spec
//! names), when to bind or re-bind, and which kernel driver to give it back to later.

use multi_eni_api::keys::reason;

use super::{
    AttachmentFacts, DpdkWant, Facts, Found, NoDevice, Observed, Op, Outcome, failed, no_link_yet,
    pick_device, restore,
};

pub(super) fn bind(
    att: &AttachmentFacts,
    want: &DpdkWant,
    found: &Found<'_>,
    f: &Facts<'_>,
    observed: &mut Observed,
    ops: &mut Vec<Op>,
) -> Outcome {
    observed.dpdk_driver = Some(want.driver.clone());
    // The PCI address: from the link found by MAC (authoritative), else the spec's — but only
    // with the link present, so the MAC proves the ENI is here — else our own persisted binding.
    let pci = match (found.link, found.binding) {
        (Some(l), _) => match pick_device(l.pci.as_ref(), want.pci.as_ref()) {
            Ok(pci) => pci,
            Err(NoDevice::Contradicts { found, spec }) => {
                return failed(
                    reason::DPDK_BIND_FAILED,
                    format!(
                        "spec.dpdk.pciAddress {spec} is not the device of {} ({found}); binding nothing",
                        l.name
                    ),
                );
            }
            Err(NoDevice::Unknown) => {
                return failed(
                    reason::DPDK_BIND_FAILED,
                    format!(
                        "{} has no PCI device under sysfs and spec.dpdk.pciAddress is unset",
                        l.name
                    ),
                );
            }
        },
        (None, Some(b)) => b.pci.clone(),
        (None, None) => return no_link_yet(found.mac),
    };
    observed.pci = Some(pci.clone());
    if let Some(b) = found.binding
        && b.pci != pci
    {
        // Our binding is for another device (the spec changed): undo it first.
        ops.push(restore(b));
        return Outcome::InProgress;
    }
    let Some(current) = f.devices.get(&pci) else {
        return failed(
            reason::DPDK_BIND_FAILED,
            format!("PCI device {pci} does not exist under the sysfs root"),
        );
    };
    let bound = current.as_deref() == Some(want.driver.as_str());
    match found.binding {
        Some(b) if bound && b.driver == want.driver => {
            observed.dpdk_bound = true;
            observed.original_driver = b.original_driver.clone();
            Outcome::DpdkBound
        }
        _ => {
            // Re-binding keeps the first original driver: after a crash mid-bind the device may
            // be driverless or on another DPDK driver, and that is not what to restore.
            let original_driver = match found.binding {
                Some(b) => b.original_driver.clone(),
                None if bound => None,
                None => current.clone(),
            };
            ops.push(Op::Bind {
                pci,
                driver: want.driver.clone(),
                original_driver,
                attachment: att.name.clone(),
            });
            Outcome::InProgress
        }
    }
}

#[cfg(test)]
mod tests {
    use multi_eni_api::keys::reason;

    use super::super::fixtures::*;
    use super::super::{Action, Op, Outcome};

    #[test]
    fn dpdk_binds_the_device_of_the_link_found_by_mac_remembering_its_driver() {
        let l = nic(7, "ens6", MAC_A, "0000:00:06.0");
        let mut w = World::new(vec![dpdk_att("a", MAC_A, None)], vec![l]);
        w.devices.insert(pci("0000:00:06.0"), Some("ena".into()));
        let p = w.plan();
        assert_eq!(
            p.actions,
            vec![Action {
                uid: "a".into(),
                op: Op::Bind {
                    pci: pci("0000:00:06.0"),
                    driver: "vfio-pci".into(),
                    original_driver: Some("ena".into()),
                    attachment: "att-a".into()
                }
            }]
        );
        assert!(
            link_ops(&p).is_empty(),
            "a link going to DPDK is not brought up"
        );
    }

    #[test]
    fn dpdk_spec_address_is_used_only_when_the_link_proves_the_eni_is_here() {
        let mut w = World::new(vec![dpdk_att("a", MAC_A, Some("00:06.0"))], vec![]);
        w.devices.insert(pci("0000:00:06.0"), Some("ena".into()));
        let p = w.plan();
        assert!(
            p.actions.is_empty(),
            "no link with the MAC: nothing may be unbound"
        );
        w.links.push(link(7, "ens6", MAC_A));
        assert!(
            matches!(w.plan().actions.first().map(|a| &a.op), Some(Op::Bind { pci: p, .. }) if p.as_str() == "0000:00:06.0")
        );
    }

    #[test]
    fn dpdk_spec_address_contradicting_the_link_binds_nothing() {
        let l = nic(7, "ens6", MAC_A, "0000:00:07.0");
        let mut w = World::new(vec![dpdk_att("a", MAC_A, Some("0000:00:06.0"))], vec![l]);
        w.devices.insert(pci("0000:00:06.0"), Some("ena".into()));
        w.devices.insert(pci("0000:00:07.0"), Some("ena".into()));
        let p = w.plan();
        assert!(p.actions.is_empty());
        assert!(
            matches!(p.report("a").map(|r| &r.outcome), Some(Outcome::Failed { reason: r, .. }) if *r == reason::DPDK_BIND_FAILED)
        );
    }

    #[test]
    fn bound_device_with_its_binding_reports_dpdk_bound() {
        let mut w = World::new(vec![dpdk_att("a", MAC_A, None)], vec![]);
        w.devices
            .insert(pci("0000:00:06.0"), Some("vfio-pci".into()));
        w.bindings.push(binding("a", "0000:00:06.0", Some("ena")));
        let p = w.plan();
        assert!(p.actions.is_empty());
        let r = p.report("a").expect("report");
        assert_eq!(r.outcome, Outcome::DpdkBound);
        assert!(r.observed.dpdk_bound);
        assert_eq!(r.observed.original_driver.as_deref(), Some("ena"));
        assert_eq!(
            r.observed.interface_name, None,
            "the netdev is gone while bound"
        );
    }

    #[test]
    fn after_a_reboot_the_binding_is_made_again_with_the_first_original_driver() {
        // Reboot: the kernel driver is back and the netdev reappeared; the state file remembers.
        let l = nic(7, "ens6", MAC_A, "0000:00:06.0");
        let mut w = World::new(vec![dpdk_att("a", MAC_A, None)], vec![l]);
        w.devices.insert(pci("0000:00:06.0"), Some("ena".into()));
        w.bindings.push(binding("a", "0000:00:06.0", Some("ena")));
        assert!(
            matches!(&w.plan().actions[..], [Action { op: Op::Bind { original_driver: Some(o), .. }, .. }] if o == "ena")
        );
        // Crash mid-bind: driverless now, but "ena" is still what to restore.
        w.links.clear();
        w.devices.insert(pci("0000:00:06.0"), None);
        assert!(
            matches!(&w.plan().actions[..], [Action { op: Op::Bind { original_driver: Some(o), .. }, .. }] if o == "ena")
        );
    }

    #[test]
    fn dpdk_switched_off_restores_the_kernel_driver() {
        let mut w = World::new(vec![att("a", MAC_A)], vec![]);
        w.devices
            .insert(pci("0000:00:06.0"), Some("vfio-pci".into()));
        w.bindings.push(binding("a", "0000:00:06.0", Some("ena")));
        assert_eq!(
            w.plan().actions,
            vec![Action {
                uid: "a".into(),
                op: Op::Restore {
                    pci: pci("0000:00:06.0"),
                    original_driver: Some("ena".into())
                }
            }]
        );
    }
}
