//! Checks on an ENIAttachment's agent-owned `status.interface`, for
//! [`TestCluster::wait_for`](super::cluster::TestCluster::wait_for): each passes or says what it
//! saw instead.

use multi_eni_api::keys::{condition, reason};
use multi_eni_api::{EniAttachment, InterfaceStatus};

/// `status.interface`, or what the status looks like without it.
pub fn iface(o: &EniAttachment) -> Result<&InterfaceStatus, String> {
    o.interface()
        .ok_or_else(|| format!("no status.interface yet: {:?}", o.status))
}

/// The InterfaceReady condition's (status, reason).
pub fn ready(o: &EniAttachment) -> Result<(String, String), String> {
    let i = iface(o)?;
    multi_eni_api::conditions::find(&i.conditions, condition::INTERFACE_READY)
        .map(|c| (c.status.clone(), c.reason.clone()))
        .ok_or_else(|| format!("no InterfaceReady condition: {i:?}"))
}

/// Passes when InterfaceReady has `reason` (and `status`).
pub fn has_reason(
    status: &'static str,
    reason: &'static str,
) -> impl Fn(&EniAttachment) -> Result<(), String> {
    move |o| {
        let (s, r) = ready(o)?;
        if s == status && r == reason {
            Ok(())
        } else {
            Err(format!("InterfaceReady {s}/{r}: {:?}", o.interface()))
        }
    }
}

/// Passes when the agent reports the link configured: InterfaceReady True/InterfaceConfigured,
/// up, with `mtu`, and (when given) named `name`.
pub fn configured(
    name: Option<&'static str>,
    mtu: i32,
) -> impl Fn(&EniAttachment) -> Result<(), String> {
    move |o| {
        has_reason("True", reason::INTERFACE_CONFIGURED)(o)?;
        let i = iface(o)?;
        let named = name.is_none_or(|n| i.interface_name.as_deref() == Some(n));
        if named && i.mtu == Some(mtu) && i.up {
            Ok(())
        } else {
            Err(format!("{i:?}"))
        }
    }
}

/// Passes once the agent has set `released`.
pub fn released(o: &EniAttachment) -> Result<(), String> {
    let i = iface(o)?;
    if i.released {
        Ok(())
    } else {
        Err(format!("not released yet: {i:?}"))
    }
}
