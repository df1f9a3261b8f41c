//! One EC2 call of the state machine: sent through the port, counted, and what it proves written
//! into the ENI index, so the next reconcile (of this or another attachment) needs no describe to
//! know it.

use multi_eni_ec2::{
    AttachmentStatus, Ec2Error, ErrorKind, InstanceInterface, NetworkInterface, Resource,
};
use tracing::debug;

use super::context::Context;
use crate::plan::{Ec2Action, Ec2Outcome, ErrorClass, InstanceSeen, Observed};

/// Makes `action` and returns its outcome. A detach or delete EC2 answers NotFound for is done
/// (the thing is already gone), and returns [`Ec2Outcome::Done`].
pub async fn execute(ctx: &Context, action: &Ec2Action) -> Result<Ec2Outcome, Ec2Error> {
    let op = action.op().action();
    let result = call(ctx, action).await;
    let label = match &result {
        Ok(_) => "ok",
        Err(e) => ErrorClass::of(&e.kind).as_str(),
    };
    ctx.metrics.ec2_action(op, label);
    let result = match result {
        Err(e) if already_done(action, &e) => {
            debug!(op, error = %e, "already done");
            if matches!(e.kind, ErrorKind::NotFound(Resource::NetworkInterface))
                && let Some(id) = action.eni_id()
            {
                ctx.enis.remove(id);
            }
            Ok(Ec2Outcome::Done)
        }
        Err(e) => Err(refine(action, e)),
        Ok(outcome) => {
            remember(ctx, action, &outcome);
            Ok(outcome)
        }
    };
    if let (Err(e), Ec2Action::Create(req)) = (&result, action)
        && e.kind == ErrorKind::QuotaExceeded
    {
        // The cached free-address count was wrong: let the fleet see the real one.
        ctx.lookups.forget_subnet(&req.subnet_id);
    }
    if let (Err(e), Ec2Action::Attach(req)) = (&result, action)
        && instance_changed(&e.kind)
    {
        // The cached instance (used for up to the instance TTL) was wrong: its state or its
        // interfaces changed behind us. The next look describes it.
        ctx.instances.forget(&req.instance_id);
    }
    result
}

async fn call(ctx: &Context, action: &Ec2Action) -> Result<Ec2Outcome, Ec2Error> {
    let ec2 = &ctx.ec2;
    match action {
        Ec2Action::Create(req) => {
            let eni = ec2.create_network_interface(req).await?;
            Ok(Ec2Outcome::Created(Box::new(eni)))
        }
        Ec2Action::Attach(req) => {
            let r = ec2.attach_network_interface(req).await?;
            // The next index choice on this instance (another attachment of the node) must see
            // this index taken; patching the cache costs no describe.
            ctx.instances.record_attach(
                &req.instance_id,
                InstanceInterface {
                    network_interface_id: req.network_interface_id.clone(),
                    attachment_id: r.attachment_id.clone(),
                    device_index: req.device_index,
                    network_card_index: r.network_card_index,
                    status: AttachmentStatus::Attaching,
                    delete_on_termination: false,
                },
            );
            Ok(Ec2Outcome::Attached(r))
        }
        Ec2Action::Modify {
            network_interface_id,
            change,
        } => {
            ec2.modify_network_interface_attribute(network_interface_id, change)
                .await?;
            Ok(Ec2Outcome::Done)
        }
        Ec2Action::Detach { request, .. } => {
            ec2.detach_network_interface(request).await?;
            Ok(Ec2Outcome::Done)
        }
        Ec2Action::Delete {
            network_interface_id,
        } => {
            ec2.delete_network_interface(network_interface_id).await?;
            ctx.instances.record_deleted(network_interface_id);
            Ok(Ec2Outcome::Done)
        }
        Ec2Action::Tag {
            network_interface_id,
            tags,
        } => {
            ec2.create_tags(std::slice::from_ref(network_interface_id), tags)
                .await?;
            Ok(Ec2Outcome::Done)
        }
    }
}

/// An attach refused for something about its instance the cache may have shown wrongly.
fn instance_changed(kind: &ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::NotFound(Resource::Instance)
            | ErrorKind::IncorrectState
            | ErrorKind::DeviceIndexInUse
            | ErrorKind::AttachmentLimitExceeded
    )
}

/// NotFound on a detach (the ENI or the attachment) or a delete: the goal is reached.
fn already_done(action: &Ec2Action, e: &Ec2Error) -> bool {
    let gone = matches!(
        e.kind,
        ErrorKind::NotFound(Resource::NetworkInterface | Resource::Attachment)
    );
    gone && matches!(action, Ec2Action::Detach { .. } | Ec2Action::Delete { .. })
}

/// A delete EC2 refused with `InvalidParameterValue` that the port could not refine (its one
/// describe failed): we only delete ENIs we saw `available`, so the likely cause is an attach
/// that raced us, which resolves by waiting — never a request to stop over.
fn refine(action: &Ec2Action, e: Ec2Error) -> Ec2Error {
    let unrefined_delete = matches!(action, Ec2Action::Delete { .. })
        && e.kind == ErrorKind::InvalidInput
        && e.code.as_deref() == Some("InvalidParameterValue");
    if unrefined_delete {
        return Ec2Error {
            kind: ErrorKind::IncorrectState,
            ..e
        };
    }
    e
}

/// Writes what a successful call proves into the index, by the same fold the state machine uses.
fn remember(ctx: &Context, action: &Ec2Action, outcome: &Ec2Outcome) {
    if let Ec2Outcome::Created(eni) = outcome {
        ctx.enis.created(NetworkInterface::clone(eni), ctx.now());
        return;
    }
    let Some(id) = action.eni_id() else { return };
    if matches!(action, Ec2Action::Delete { .. }) {
        ctx.enis.remove(id);
        return;
    }
    let Some(known) = ctx.enis.get(id) else {
        return;
    };
    let mut one = Observed {
        enis: vec![known],
        instance: InstanceSeen::NotFound,
        subnet_cidr: None,
        adoptable: None,
    };
    one.fold(action, outcome.clone());
    for eni in one.enis {
        ctx.enis.upsert(eni);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use multi_eni_ec2::{DetachEni, Op};

    fn delete() -> Ec2Action {
        Ec2Action::Delete {
            network_interface_id: "eni-1".into(),
        }
    }

    fn detach() -> Ec2Action {
        Ec2Action::Detach {
            network_interface_id: "eni-1".into(),
            request: DetachEni {
                attachment_id: "eni-attach-1".into(),
                force: false,
            },
        }
    }

    #[test]
    fn not_found_on_detach_and_delete_is_done_and_nowhere_else() {
        let err = |op, code| Ec2Error::from_code(op, code, "m");
        let eni_gone = "InvalidNetworkInterfaceID.NotFound";
        let att_gone = "InvalidAttachmentID.NotFound";
        let table = [
            (delete(), err(Op::DeleteNetworkInterface, eni_gone), true),
            (detach(), err(Op::DetachNetworkInterface, eni_gone), true),
            (detach(), err(Op::DetachNetworkInterface, att_gone), true),
            (
                detach(),
                err(Op::DetachNetworkInterface, "RequestLimitExceeded"),
                false,
            ),
            (
                Ec2Action::Modify {
                    network_interface_id: "eni-1".into(),
                    change: multi_eni_ec2::EniAttributeChange::Description("d".into()),
                },
                err(Op::ModifyNetworkInterfaceAttribute, eni_gone),
                false,
            ),
        ];
        for (action, e, want) in table {
            assert_eq!(already_done(&action, &e), want, "{action:?} {e}");
        }
    }

    #[test]
    fn an_unrefined_in_use_delete_is_retried_later_not_reported_as_bad_input() {
        let e = Ec2Error::from_code(
            Op::DeleteNetworkInterface,
            "InvalidParameterValue",
            "in use",
        );
        assert_eq!(refine(&delete(), e.clone()).kind, ErrorKind::IncorrectState);
        let attach = Ec2Action::Attach(multi_eni_ec2::AttachEni {
            network_interface_id: "eni-1".into(),
            instance_id: "i-1".into(),
            device_index: 1,
            network_card_index: Some(0),
        });
        let e = Ec2Error {
            op: Op::AttachNetworkInterface,
            ..e
        };
        assert_eq!(refine(&attach, e).kind, ErrorKind::InvalidInput);
    }
}
