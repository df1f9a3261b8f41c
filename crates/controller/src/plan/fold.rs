//! Folding an EC2 call's result into what was observed, so the state machine can take its next
//! step without another describe: EC2's reads lag its writes, and a describe per step would
//! cost more calls than the work itself. Only what the call itself proves is folded in; the rest
//! (an attach finishing, a detach finishing) waits for the next describe.

use multi_eni_ec2::{
    AttachResult, AttachmentStatus, EniAttachment as Ec2Attachment, EniAttributeChange, EniStatus,
    NetworkInterface,
};

use super::lifecycle::{Ec2Action, Observed};

/// What a successful EC2 call returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ec2Outcome {
    /// CreateNetworkInterface: the ENI (also when the ClientToken made EC2 return an old one).
    Created(Box<NetworkInterface>),
    /// AttachNetworkInterface.
    Attached(AttachResult),
    /// Modify, detach or delete: no body.
    Done,
}

impl Observed {
    /// `self` as it is after `action` succeeded with `outcome`.
    pub fn fold(&mut self, action: &Ec2Action, outcome: Ec2Outcome) {
        match (action, outcome) {
            (Ec2Action::Create(_), Ec2Outcome::Created(eni))
                if !self.enis.iter().any(|e| e.id == eni.id) =>
            {
                self.enis.push(*eni);
            }
            (Ec2Action::Attach(req), Ec2Outcome::Attached(r)) => {
                if let Some(e) = self.eni_mut(&req.network_interface_id) {
                    e.status = EniStatus::Attaching;
                    e.attachment = Some(Ec2Attachment {
                        attachment_id: r.attachment_id,
                        instance_id: Some(req.instance_id.clone()),
                        device_index: req.device_index,
                        network_card_index: r.network_card_index,
                        status: AttachmentStatus::Attaching,
                        // EC2's default for an attachment made by AttachNetworkInterface.
                        delete_on_termination: false,
                    });
                }
            }
            (
                Ec2Action::Modify {
                    network_interface_id,
                    change,
                },
                _,
            ) => {
                if let Some(e) = self.eni_mut(network_interface_id) {
                    modify(e, change);
                }
            }
            (
                Ec2Action::Detach {
                    network_interface_id,
                    ..
                },
                _,
            ) => {
                if let Some(a) = self
                    .eni_mut(network_interface_id)
                    .and_then(|e| e.attachment.as_mut())
                {
                    a.status = AttachmentStatus::Detaching;
                }
            }
            (
                Ec2Action::Delete {
                    network_interface_id,
                },
                _,
            ) => {
                self.enis.retain(|e| &e.id != network_interface_id);
            }
            (
                Ec2Action::Tag {
                    network_interface_id,
                    tags,
                },
                _,
            ) => {
                if let Some(e) = self.eni_mut(network_interface_id) {
                    e.tags.extend(tags.clone());
                }
            }
            // An outcome that does not belong to the action proves nothing: describe again.
            _ => {}
        }
    }

    /// The ENI `id` among those observed, the adoption candidate included.
    fn eni_mut(&mut self, id: &str) -> Option<&mut NetworkInterface> {
        self.enis
            .iter_mut()
            .chain(self.adoptable.as_mut())
            .find(|e| e.id == id)
    }
}

fn modify(e: &mut NetworkInterface, change: &EniAttributeChange) {
    match change {
        EniAttributeChange::SecurityGroups(g) => e.security_group_ids = g.clone(),
        EniAttributeChange::Description(d) => e.description = d.clone(),
        EniAttributeChange::DeleteOnTermination {
            delete_on_termination,
            ..
        } => {
            if let Some(a) = e.attachment.as_mut() {
                a.delete_on_termination = *delete_on_termination;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::super::lifecycle::{
        InstanceSeen, LifecycleConfig, Step, Wait, WaitReason, next_step,
    };
    use super::*;
    use k8s_openapi::jiff::Timestamp;
    use multi_eni_api::EniAttachment;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).expect("valid time")
    }

    /// Takes steps, storing statuses and folding the given outcome of each EC2 call, until the
    /// machine waits; returns the wait and the calls made.
    fn drive(
        att: &mut EniAttachment,
        seen: &mut Observed,
        outcome: impl Fn(&Ec2Action) -> Ec2Outcome,
    ) -> (Wait, Vec<Ec2Action>) {
        let cfg = LifecycleConfig::default();
        let mut calls = Vec::new();
        for _ in 0..10 {
            let action = match next_step(att, seen, at(10), &cfg) {
                Step::Persist { status, then } => {
                    att.status = Some(*status);
                    match then {
                        Some(a) => a,
                        None => continue,
                    }
                }
                Step::Ec2(a) => a,
                Step::Wait(w) => return (w, calls),
                Step::DropFinalizer => panic!("not deleting"),
            };
            seen.fold(&action, outcome(&action));
            calls.push(action);
        }
        panic!("no rest: {calls:?}");
    }

    #[test]
    fn create_and_attach_results_carry_the_machine_to_attaching_without_a_describe() {
        let mut att = existing_attachment("a", "n1", SUBNET_A, 1);
        let mut seen = Observed {
            enis: vec![],
            instance: InstanceSeen::Found(Box::new(view(&[("eni-primary", 0, 0)], 3))),
            subnet_cidr: None,
            adoptable: None,
        };
        let (wait, calls) = drive(&mut att, &mut seen, |a| match a {
            Ec2Action::Create(_) => {
                Ec2Outcome::Created(Box::new(available_eni("eni-00000001", "uid-a")))
            }
            Ec2Action::Attach(_) => Ec2Outcome::Attached(AttachResult {
                attachment_id: "eni-attach-1".into(),
                network_card_index: 0,
            }),
            _ => Ec2Outcome::Done,
        });
        assert_eq!(wait.reason, WaitReason::Attaching);
        assert_eq!(calls.len(), 2, "{calls:?}");
        let s = att.status.expect("status");
        assert_eq!(s.eni_id.as_deref(), Some("eni-00000001"));
        assert_eq!(s.attachment_id.as_deref(), Some("eni-attach-1"));
    }

    #[test]
    fn detach_and_delete_results_are_folded_in() {
        let mut seen = Observed {
            enis: vec![available_eni("eni-1", "u")],
            instance: InstanceSeen::NotFound,
            subnet_cidr: None,
            adoptable: None,
        };
        seen.enis[0].attachment = Some(Ec2Attachment {
            attachment_id: "eni-attach-1".into(),
            instance_id: Some("i-00000001".into()),
            device_index: 1,
            network_card_index: 0,
            status: AttachmentStatus::Attached,
            delete_on_termination: false,
        });
        let detach = Ec2Action::Detach {
            network_interface_id: "eni-1".into(),
            request: multi_eni_ec2::DetachEni {
                attachment_id: "eni-attach-1".into(),
                force: false,
            },
        };
        seen.fold(&detach, Ec2Outcome::Done);
        let status = seen.enis[0].attachment.as_ref().map(|a| a.status.clone());
        assert_eq!(status, Some(AttachmentStatus::Detaching));
        let delete = Ec2Action::Delete {
            network_interface_id: "eni-1".into(),
        };
        seen.fold(&delete, Ec2Outcome::Done);
        assert!(seen.enis.is_empty());
    }

    #[test]
    fn modify_results_are_folded_in() {
        let mut seen = Observed {
            enis: vec![available_eni("eni-1", "u")],
            instance: InstanceSeen::NotFound,
            subnet_cidr: None,
            adoptable: None,
        };
        let change = |change| Ec2Action::Modify {
            network_interface_id: "eni-1".into(),
            change,
        };
        seen.fold(
            &change(EniAttributeChange::SecurityGroups(vec![SG_2.into()])),
            Ec2Outcome::Done,
        );
        seen.fold(
            &change(EniAttributeChange::Description("d".into())),
            Ec2Outcome::Done,
        );
        assert_eq!(seen.enis[0].security_group_ids, vec![SG_2.to_owned()]);
        assert_eq!(seen.enis[0].description, "d");
    }

    #[test]
    fn a_created_eni_already_seen_is_not_listed_twice() {
        let mut seen = Observed {
            enis: vec![available_eni("eni-1", "u")],
            instance: InstanceSeen::NotFound,
            subnet_cidr: None,
            adoptable: None,
        };
        let create = Ec2Action::Create(multi_eni_ec2::CreateEni::default());
        seen.fold(
            &create,
            Ec2Outcome::Created(Box::new(available_eni("eni-1", "u"))),
        );
        assert_eq!(seen.enis.len(), 1);
    }
}
