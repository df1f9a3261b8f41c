//! The SR-IOV device-plugin entry of a ready attachment: which device, under which driver.

use super::{Facts, Found, NoDevice, Observed, SriovEntry, SriovWant, pick_device};

/// The entry publishing the attachment's device under `want.resource`, or why there is none.
/// The driver is the DPDK one while bound, else whatever kernel driver holds the device.
pub(super) fn entry(
    want: &SriovWant,
    found: &Found<'_>,
    f: &Facts<'_>,
    observed: &Observed,
) -> Result<SriovEntry, String> {
    let mac = found.mac;
    let device = found
        .link
        .and_then(|l| l.pci.as_ref())
        .or(found.binding.map(|b| &b.pci));
    let pci = match pick_device(device, want.pci.as_ref()) {
        Ok(pci) => pci,
        Err(NoDevice::Contradicts { found, spec }) => {
            return Err(format!(
                "spec.sriov.pciAddress {spec} is not the device of the link with MAC {mac} ({found})"
            ));
        }
        Err(NoDevice::Unknown) => {
            return Err(format!(
                "SR-IOV asked for, but the link with MAC {mac} has no PCI device and spec.sriov.pciAddress is unset"
            ));
        }
    };
    let driver = if observed.dpdk_bound {
        observed.dpdk_driver.clone()
    } else {
        f.devices.get(&pci).cloned().flatten()
    };
    Ok(SriovEntry {
        resource: want.resource.clone(),
        pci,
        driver,
    })
}

#[cfg(test)]
mod tests {
    use super::super::SriovWant;
    use super::super::fixtures::*;

    #[test]
    fn two_devices_under_one_resource_are_both_published() {
        let la = configured(nic(7, "ens6", MAC_A, "0000:00:06.0"), 9001);
        let lb = configured(nic(8, "ens7", MAC_B, "0000:00:07.0"), 9001);
        let mut w = World::new(
            vec![
                sriov_att("a", MAC_A, "aws.com/ena"),
                sriov_att("b", MAC_B, "aws.com/ena"),
            ],
            vec![la, lb],
        );
        w.devices.insert(pci("0000:00:06.0"), Some("ena".into()));
        w.devices.insert(pci("0000:00:07.0"), Some("ena".into()));
        let p = w.plan();
        let pcis: Vec<&str> = p.sriov.iter().map(|e| e.pci.as_str()).collect();
        assert_eq!(pcis, vec!["0000:00:06.0", "0000:00:07.0"]);
        assert!(
            p.sriov
                .iter()
                .all(|e| e.resource == "aws.com/ena" && e.driver.as_deref() == Some("ena"))
        );
    }

    #[test]
    fn sriov_entry_appears_only_once_the_device_is_ready() {
        let l = nic(7, "ens6", MAC_A, "0000:00:06.0");
        let w = World::new(vec![sriov_att("a", MAC_A, "aws.com/ena")], vec![l]);
        assert!(w.plan().sriov.is_empty(), "link still down");
    }

    #[test]
    fn sriov_with_dpdk_publishes_the_dpdk_driver() {
        let mut a = dpdk_att("a", MAC_A, None);
        a.sriov = Some(SriovWant {
            resource: "aws.com/dpdk".into(),
            pci: None,
        });
        let mut w = World::new(vec![a], vec![]);
        w.devices
            .insert(pci("0000:00:06.0"), Some("vfio-pci".into()));
        w.bindings.push(binding("a", "0000:00:06.0", Some("ena")));
        let p = w.plan();
        assert_eq!(p.sriov.len(), 1);
        assert_eq!(p.sriov[0].driver.as_deref(), Some("vfio-pci"));
        assert_eq!(
            p.report("a")
                .and_then(|r| r.observed.sriov_resource.as_deref()),
            Some("aws.com/dpdk")
        );
    }
}
