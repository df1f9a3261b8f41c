//! Attachments: AttachNetworkInterface (the lifecycle, network cards, and every refusal —
//! occupied index, type limit, other zone, interface in use), DetachNetworkInterface, and what
//! terminating an instance does to its interfaces.

use multi_eni_ec2::{
    AttachEni, AttachmentStatus, CreateEni, DetachEni, EniAttributeChange, EniStatus, ErrorKind,
    InstanceState, Resource,
};

use crate::contract::fixture::{
    Fixture, attach_req, describe_one, fails_with, try_attach, wait_available, wait_gone,
};
use crate::contract::wait::wait_for;
use crate::contract::{Behaviour, World, modelled};

/// Attach returns an attachment ID and ends `attached`; the interface is `in-use` and the
/// instance lists it at its device index.
pub async fn attach_reaches_attached_on_interface_and_instance(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let eni = fx.new_eni(&ec2).await;
    let r = fx.attach(&ec2, &eni.id, &fx.instance, 1).await;
    assert!(
        r.attachment_id.starts_with("eni-attach-"),
        "{}",
        r.attachment_id
    );
    assert_eq!(r.network_card_index, 0);
    let seen = describe_one(&ec2, &eni.id).await.expect("visible");
    let att = seen.attachment.expect("attached");
    assert_eq!(att.attachment_id, r.attachment_id);
    assert_eq!(att.instance_id.as_deref(), Some(fx.instance.as_str()));
    assert_eq!(att.device_index, 1);
    assert!(
        !att.delete_on_termination,
        "EC2's default for attached interfaces"
    );
    assert_eq!(seen.status, EniStatus::InUse);
    let inst = fx.wait_listing(&ec2, &eni.id, true).await;
    let listed = inst
        .network_interfaces
        .iter()
        .find(|n| n.network_interface_id == eni.id)
        .expect("listed");
    assert_eq!(listed.device_index, 1);
    assert_eq!(listed.attachment_id, r.attachment_id);
}

/// An attachment is `attaching` before it is `attached`, and the interface `attaching`.
pub async fn attach_passes_through_attaching(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let eni = fx.new_eni(&ec2).await;
    let req = attach_req(&eni.id, &fx.instance, 1);
    try_attach(&ec2, &req).await.expect("attach");
    let seen = std::sync::Mutex::new(Vec::new());
    let (ec2_ref, id, seen_ref) = (&ec2, eni.id.as_str(), &seen);
    wait_for("attached", || async move {
        let e = describe_one(ec2_ref, id).await?;
        let status = e.attachment.map(|a| a.status);
        if let Some(s) = &status {
            let mut seen = seen_ref.lock().expect("seen lock");
            if seen.last() != Some(s) {
                seen.push(s.clone());
            }
        }
        (status == Some(AttachmentStatus::Attached)).then_some(())
    })
    .await;
    let seen = seen.into_inner().expect("seen lock");
    if !modelled(w, Behaviour::AttachTransitions) {
        assert_eq!(
            seen,
            vec![AttachmentStatus::Attached],
            "moto attaches at once"
        );
        return;
    }
    assert_eq!(
        seen,
        vec![AttachmentStatus::Attaching, AttachmentStatus::Attached]
    );
}

/// On a multi-card type, `NetworkCardIndex` 1 puts the interface on card 1 (device index
/// 0 of card 1 is free: the primary is on card 0).
pub async fn attach_to_a_second_network_card(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let big = fx.launch(w, &fx.subnet_a, "c6in.32xlarge").await;
    let eni = fx.new_eni(&ec2).await;
    let req = AttachEni {
        network_card_index: Some(1),
        ..attach_req(&eni.id, &big, 0)
    };
    let r = try_attach(&ec2, &req).await.expect("attach on card 1");
    let other = fx.new_eni(&ec2).await;
    let bad = AttachEni {
        network_card_index: Some(2),
        ..attach_req(&other.id, &big, 1)
    };
    if !modelled(w, Behaviour::NetworkCards) {
        let (ec2_ref, id) = (&ec2, eni.id.as_str());
        let card = wait_for("the attachment to show", || async move {
            describe_one(ec2_ref, id)
                .await?
                .attachment
                .map(|a| a.network_card_index)
        })
        .await;
        assert_eq!(
            (r.network_card_index, card),
            (0, 0),
            "moto ignores NetworkCardIndex: always card 0"
        );
        try_attach(&ec2, &bad)
            .await
            .expect("moto accepts a card the type does not have");
        return;
    }
    assert_eq!(r.network_card_index, 1);
    fails_with(
        try_attach(&ec2, &bad).await,
        ErrorKind::InvalidInput,
        "card 2 of 2",
    );
}

/// An occupied device index is reported as DeviceIndexInUse (EC2 says
/// `InvalidParameterValue`; the implementation checks the instance to tell).
pub async fn attach_to_occupied_device_index_is_device_index_in_use(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let first = fx.new_eni(&ec2).await;
    let second = fx.new_eni(&ec2).await;
    fx.attach(&ec2, &first.id, &fx.instance, 1).await;
    let req = attach_req(&second.id, &fx.instance, 1);
    let result = try_attach(&ec2, &req).await;
    if !modelled(w, Behaviour::DeviceIndexConflicts) {
        result.expect("moto accepts a second interface at an occupied device index");
        return;
    }
    let err = fails_with(result, ErrorKind::DeviceIndexInUse, "index 1 is taken");
    assert_eq!(err.code.as_deref(), Some("InvalidParameterValue"));
    // A bad request that is not a conflict stays InvalidInput.
    let negative = attach_req(&second.id, &fx.instance, -1);
    fails_with(
        ec2.attach_network_interface(&negative).await,
        ErrorKind::InvalidInput,
        "negative index",
    );
}

/// The instance type's interface limit (m5.large: 3) is `AttachmentLimitExceeded`.
pub async fn attach_beyond_the_type_limit_is_attachment_limit_exceeded(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    for index in [1, 2] {
        let eni = fx.new_eni(&ec2).await;
        fx.attach(&ec2, &eni.id, &fx.instance, index).await;
    }
    let fourth = fx.new_eni(&ec2).await;
    let req = attach_req(&fourth.id, &fx.instance, 3);
    if !modelled(w, Behaviour::AttachmentLimits) {
        try_attach(&ec2, &req)
            .await
            .expect("moto accepts a fourth interface on an m5.large");
        return;
    }
    fails_with(
        try_attach(&ec2, &req).await,
        ErrorKind::AttachmentLimitExceeded,
        "m5.large takes 3 interfaces",
    );
}

/// An interface in zone B cannot attach to an instance in zone A.
pub async fn attach_across_zones_is_refused(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let in_b = CreateEni {
        subnet_id: fx.subnet_b.clone(),
        ..fx.create_req(&[])
    };
    let eni = fx.create(&ec2, &in_b).await;
    let result = try_attach(&ec2, &attach_req(&eni.id, &fx.instance, 1)).await;
    if !modelled(w, Behaviour::AzMismatch) {
        result.expect("moto attaches across zones");
        return;
    }
    fails_with(result, ErrorKind::InvalidInput, "zone mismatch");
}

/// An interface attached elsewhere cannot be attached again.
pub async fn attach_interface_in_use_is_refused(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let other = fx.launch(w, &fx.subnet_a, "m5.large").await;
    let eni = fx.new_eni(&ec2).await;
    fx.attach(&ec2, &eni.id, &fx.instance, 1).await;
    let result = ec2
        .attach_network_interface(&attach_req(&eni.id, &other, 1))
        .await;
    if !modelled(w, Behaviour::InUseChecks) {
        result.expect("moto attaches an interface already in use");
        return;
    }
    fails_with(result, ErrorKind::IncorrectState, "in use");
}

/// A normal detach ends with the interface `available` and unattached.
pub async fn detach_makes_the_interface_available(w: &dyn World) {
    let (fx, eni) = attach_then_detach(w, 1, false).await;
    fx.wait_listing(&w.ec2(), &eni, false).await;
}

/// A forced detach also ends `available`.
pub async fn forced_detach_makes_the_interface_available(w: &dyn World) {
    attach_then_detach(w, 2, true).await;
}

/// Attaches a new interface at `device_index`, detaches it (forced or not) and waits until it
/// is `available`; returns the scene and the interface's ID.
async fn attach_then_detach(w: &dyn World, device_index: i32, force: bool) -> (Fixture, String) {
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let eni = fx.new_eni(&ec2).await;
    let r = fx.attach(&ec2, &eni.id, &fx.instance, device_index).await;
    ec2.detach_network_interface(&DetachEni {
        attachment_id: r.attachment_id,
        force,
    })
    .await
    .expect("DetachNetworkInterface");
    wait_available(&ec2, &eni.id).await;
    (fx, eni.id)
}

/// Detaching an unknown attachment is `InvalidAttachmentID.NotFound` — "already detached".
pub async fn detach_unknown_attachment_is_not_found(w: &dyn World) {
    let _fx = Fixture::new(w).await;
    let err = fails_with(
        w.ec2()
            .detach_network_interface(&DetachEni {
                attachment_id: "eni-attach-0123456789abcdef0".into(),
                force: false,
            })
            .await,
        ErrorKind::NotFound(Resource::Attachment),
        "unknown attachment",
    );
    assert!(err.is_not_found());
}

/// The primary interface (device index 0) cannot be detached.
pub async fn detach_primary_interface_is_refused(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let inst = fx.instance(&ec2, &fx.instance).await;
    let primary = inst
        .network_interfaces
        .iter()
        .find(|n| n.device_index == 0)
        .expect("a primary interface");
    let err = fails_with(
        ec2.detach_network_interface(&DetachEni {
            attachment_id: primary.attachment_id.clone(),
            force: false,
        })
        .await,
        ErrorKind::InvalidInput,
        "primary",
    );
    assert_eq!(err.code.as_deref(), Some("OperationNotPermitted"));
}

/// Terminating an instance deletes its DeleteOnTermination interfaces (the primary one and
/// ours with the flag) and leaves the others `available`.
pub async fn terminate_deletes_delete_on_termination_interfaces_and_frees_others(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let keep = fx.new_eni(&ec2).await;
    let drop = fx.new_eni(&ec2).await;
    fx.attach(&ec2, &keep.id, &fx.instance, 1).await;
    let r = fx.attach(&ec2, &drop.id, &fx.instance, 2).await;
    ec2.modify_network_interface_attribute(
        &drop.id,
        &EniAttributeChange::DeleteOnTermination {
            attachment_id: r.attachment_id,
            delete_on_termination: true,
        },
    )
    .await
    .expect("set DeleteOnTermination");
    let primary = fx
        .instance(&ec2, &fx.instance)
        .await
        .network_interfaces
        .into_iter()
        .find(|n| n.device_index == 0)
        .expect("primary")
        .network_interface_id;
    w.terminate_instance(&fx.instance).await;
    if !modelled(w, Behaviour::DeleteOnTermination) {
        fx.wait_state(&ec2, &fx.instance, InstanceState::Terminated)
            .await;
        for id in [&drop.id, &keep.id] {
            let e = describe_one(&ec2, id).await.expect("moto keeps it");
            assert!(
                e.attachment.is_some(),
                "moto leaves {id} attached to the terminated instance"
            );
        }
        return;
    }
    wait_gone(&ec2, &drop.id).await;
    wait_gone(&ec2, &primary).await;
    wait_available(&ec2, &keep.id).await;
    // DescribeInstances may lag behind DescribeNetworkInterfaces.
    fx.wait_state(&ec2, &fx.instance, InstanceState::Terminated)
        .await;
    let i = fx.instance(&ec2, &fx.instance).await;
    assert!(
        i.network_interfaces.is_empty(),
        "{:?}",
        i.network_interfaces
    );
}

/// After a forced detach the device index may stay unusable until the instance is stopped
/// and started (EC2 documents it). Attaching there is refused with the code of an occupied
/// index, `InvalidParameterValue`, while DescribeInstances shows the index free — so the
/// one-describe refinement finds no occupant and the error stays `InvalidInput`. A stop and
/// start makes the index usable again.
pub async fn forced_detach_holds_the_device_index_until_stop_and_start(w: &dyn World) {
    let (fx, _) = attach_then_detach(w, 1, true).await;
    let ec2 = w.ec2();
    let next = fx.new_eni(&ec2).await;
    let req = attach_req(&next.id, &fx.instance, 1);
    let result = try_attach(&ec2, &req).await;
    if !modelled(w, Behaviour::ForcedDetachHoldsIndex) {
        result.expect("moto frees the index at once");
        return;
    }
    let err = fails_with(
        result,
        ErrorKind::InvalidInput,
        "index held after a forced detach",
    );
    assert_eq!(err.code.as_deref(), Some("InvalidParameterValue"));
    let listed = fx.instance(&ec2, &fx.instance).await;
    assert!(
        listed
            .network_interfaces
            .iter()
            .all(|n| n.device_index != 1),
        "DescribeInstances shows index 1 free: {:?}",
        listed.network_interfaces
    );
    w.stop_instance(&fx.instance).await;
    fx.wait_state(&ec2, &fx.instance, InstanceState::Stopped)
        .await;
    w.start_instance(&fx.instance).await;
    fx.wait_state(&ec2, &fx.instance, InstanceState::Running)
        .await;
    fx.attach(&ec2, &next.id, &fx.instance, 1).await;
}
