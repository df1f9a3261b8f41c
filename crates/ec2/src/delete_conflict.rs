//! Telling "interface still attached" apart from other bad deletes.
//!
//! EC2 answers `DeleteNetworkInterface` on an attached interface with the generic
//! `InvalidParameterValue` ("Network interface 'eni-…' is currently in use."), not with
//! `InvalidNetworkInterface.InUse`. Taken at its code, that would read as bad input and the
//! controller would stop and report instead of waiting for the detach to finish. We never
//! parse message text, so after an `InvalidParameterValue` from `DeleteNetworkInterface`
//! the implementation describes the interface once (a counted, rate-limited request) and,
//! if it is attached, returns [`ErrorKind::IncorrectState`] — retry after the detach.

use crate::error::{Ec2Error, ErrorKind};
use crate::model::{EniStatus, NetworkInterface};
use crate::port::Ec2;
use crate::request::DescribeQuery;

/// Whether `eni` is held by an instance: an attachment that is not finished detaching, or a
/// status other than `available` (EC2 reports the pair; either says "not free to delete").
pub fn in_use(eni: &NetworkInterface) -> bool {
    let attached = eni
        .attachment
        .as_ref()
        .is_some_and(|a| a.status.holds_device_index());
    attached || eni.status != EniStatus::Available
}

/// Refines a failed delete: an `InvalidParameterValue` for an interface that turns out to be
/// in use becomes [`ErrorKind::IncorrectState`] (code kept); everything else is returned
/// unchanged (also when the describe itself fails — the original error is the more useful
/// one).
pub async fn refine_delete_error(
    ec2: &dyn Ec2,
    network_interface_id: &str,
    err: Ec2Error,
) -> Ec2Error {
    if err.code.as_deref() != Some("InvalidParameterValue") {
        return err;
    }
    let Ok(page) = ec2
        .describe_network_interfaces(&DescribeQuery::ids([network_interface_id]))
        .await
    else {
        return err;
    };
    match page.items.iter().find(|e| e.id == network_interface_id) {
        Some(eni) if in_use(eni) => Ec2Error {
            kind: ErrorKind::IncorrectState,
            message: format!(
                "{} (the interface is {}{})",
                err.message,
                eni.status.as_str(),
                eni.attachment
                    .as_ref()
                    .and_then(|a| a.instance_id.as_deref())
                    .map(|i| format!(", attached to {i}"))
                    .unwrap_or_default()
            ),
            ..err
        },
        _ => err,
    }
}

/// [`refine_delete_error`] over a delete's whole result, for implementations to end
/// `delete_network_interface` with: a success passes through without a describe.
pub async fn refine_delete_result(
    ec2: &dyn Ec2,
    network_interface_id: &str,
    result: Result<(), Ec2Error>,
) -> Result<(), Ec2Error> {
    match result {
        Ok(()) => Ok(()),
        Err(e) => Err(refine_delete_error(ec2, network_interface_id, e).await),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AttachmentStatus, EniAttachment, Tags};

    fn eni(status: EniStatus, attachment: Option<AttachmentStatus>) -> NetworkInterface {
        NetworkInterface {
            id: "eni-1".into(),
            subnet_id: "subnet-1".into(),
            vpc_id: "vpc-1".into(),
            availability_zone: "us-east-1a".into(),
            mac_address: "02:00:00:00:00:01".into(),
            private_ip_address: None,
            status,
            attachment: attachment.map(|status| EniAttachment {
                attachment_id: "eni-attach-1".into(),
                instance_id: Some("i-1".into()),
                device_index: 1,
                network_card_index: 0,
                status,
                delete_on_termination: false,
            }),
            security_group_ids: vec![],
            description: String::new(),
            tags: Tags::new(),
        }
    }

    #[test]
    fn attached_attaching_and_detaching_interfaces_are_in_use() {
        assert!(in_use(&eni(
            EniStatus::InUse,
            Some(AttachmentStatus::Attached)
        )));
        assert!(in_use(&eni(
            EniStatus::Attaching,
            Some(AttachmentStatus::Attaching)
        )));
        assert!(in_use(&eni(
            EniStatus::Detaching,
            Some(AttachmentStatus::Detaching)
        )));
        assert!(in_use(&eni(EniStatus::InUse, None)), "status alone says so");
    }

    #[test]
    fn an_available_unattached_interface_is_not() {
        assert!(!in_use(&eni(EniStatus::Available, None)));
        assert!(!in_use(&eni(
            EniStatus::Available,
            Some(AttachmentStatus::Detached)
        )));
    }
}
