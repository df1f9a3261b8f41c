//! Telling "device index in use" apart from other bad attach requests.
//!
//! EC2 answers an attach to an occupied device index with the generic `InvalidParameterValue`
//! ("Instance 'i-…' already has an interface attached at device index '1'."). We never parse
//! message text, so after an `InvalidParameterValue` from `AttachNetworkInterface` the
//! implementation describes the instance once (a counted, rate-limited request) and checks
//! whether the slot is really taken. The controller then moves to the next free index
//! instead of reporting a spec error.

use crate::error::{Ec2Error, ErrorKind};
use crate::model::Instance;
use crate::port::Ec2;
use crate::request::{AttachEni, DescribeQuery};

/// The interface occupying `(network card, device index)` on `instance`, other than `ours`.
pub fn occupant<'a>(
    instance: &'a Instance,
    device_index: i32,
    network_card_index: i32,
    ours: &str,
) -> Option<&'a str> {
    instance
        .network_interfaces
        .iter()
        .find(|i| {
            i.device_index == device_index
                && i.network_card_index == network_card_index
                && i.status.holds_device_index()
                && i.network_interface_id != ours
        })
        .map(|i| i.network_interface_id.as_str())
}

/// Refines a failed attach: an `InvalidParameterValue` whose slot turns out to be taken
/// becomes [`ErrorKind::DeviceIndexInUse`]; everything else is returned unchanged (also when
/// the describe itself fails — the original error is the more useful one).
pub async fn refine_attach_error(ec2: &dyn Ec2, req: &AttachEni, err: Ec2Error) -> Ec2Error {
    if err.code.as_deref() != Some("InvalidParameterValue") {
        return err;
    }
    let Ok(page) = ec2
        .describe_instances(&DescribeQuery::ids([req.instance_id.clone()]))
        .await
    else {
        return err;
    };
    let card = req.network_card_index.unwrap_or(0);
    let Some(instance) = page.items.iter().find(|i| i.id == req.instance_id) else {
        return err;
    };
    match occupant(instance, req.device_index, card, &req.network_interface_id) {
        Some(eni) => Ec2Error {
            kind: ErrorKind::DeviceIndexInUse,
            message: format!(
                "{} (device index {} on network card {card} is held by {eni})",
                err.message, req.device_index
            ),
            ..err
        },
        None => err,
    }
}

/// [`refine_attach_error`] over an attach's whole result, for implementations to end
/// `attach_network_interface` with: a success passes through without a describe.
pub async fn refine_attach_result<T>(
    ec2: &dyn Ec2,
    req: &AttachEni,
    result: Result<T, Ec2Error>,
) -> Result<T, Ec2Error> {
    match result {
        Ok(r) => Ok(r),
        Err(e) => Err(refine_attach_error(ec2, req, e).await),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AttachmentStatus, InstanceInterface, InstanceState};

    fn instance(slots: &[(&str, i32, i32, AttachmentStatus)]) -> Instance {
        Instance {
            id: "i-1".into(),
            state: InstanceState::Running,
            availability_zone: "us-east-1a".into(),
            instance_type: "m5.large".into(),
            subnet_id: None,
            vpc_id: None,
            network_interfaces: slots
                .iter()
                .map(|(eni, dev, card, status)| InstanceInterface {
                    network_interface_id: (*eni).into(),
                    attachment_id: format!("{eni}-attach"),
                    device_index: *dev,
                    network_card_index: *card,
                    status: status.clone(),
                    delete_on_termination: false,
                })
                .collect(),
        }
    }

    #[test]
    fn a_foreign_interface_on_the_index_is_an_occupant() {
        let i = instance(&[
            ("eni-primary", 0, 0, AttachmentStatus::Attached),
            ("eni-cni", 1, 0, AttachmentStatus::Attached),
        ]);
        assert_eq!(occupant(&i, 1, 0, "eni-ours"), Some("eni-cni"));
        assert_eq!(occupant(&i, 0, 0, "eni-ours"), Some("eni-primary"));
    }

    #[test]
    fn free_index_other_card_own_interface_and_finished_detach_are_not() {
        let i = instance(&[
            ("eni-primary", 0, 0, AttachmentStatus::Attached),
            ("eni-old", 2, 0, AttachmentStatus::Detached),
            ("eni-ours", 3, 0, AttachmentStatus::Attaching),
            ("eni-card1", 1, 1, AttachmentStatus::Attached),
        ]);
        assert_eq!(occupant(&i, 1, 0, "eni-ours"), None, "free index");
        assert_eq!(occupant(&i, 2, 0, "eni-ours"), None, "detached frees it");
        assert_eq!(occupant(&i, 3, 0, "eni-ours"), None, "our own attach");
        assert_eq!(occupant(&i, 1, 1, "eni-ours"), Some("eni-card1"));
    }

    #[test]
    fn detaching_still_holds_the_index() {
        let i = instance(&[("eni-x", 1, 0, AttachmentStatus::Detaching)]);
        assert_eq!(occupant(&i, 1, 0, "eni-ours"), Some("eni-x"));
    }
}
