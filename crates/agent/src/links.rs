//! Netlink (rtnetlink): list links, follow link notifications, change a link by ifindex.
//!
//! One route-netlink socket, subscribed to `RTNLGRP_LINK`: the kernel tells us the moment a link
//! appears, changes (up/down, MTU, name) or goes, so there is no polling. Changes are addressed
//! by ifindex, never by name, and the link's MAC is read back right before every single change:
//! if udev renamed it we still change the right link, and if the index now belongs to another
//! link (deleted and re-created) we refuse.
//!
//! The socket belongs to the network namespace of the thread that opens it; the agent runs with
//! hostNetwork, tests open it from a thread inside a throwaway namespace.

use futures::channel::mpsc::UnboundedReceiver;
use futures::{StreamExt, TryStreamExt};
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use rtnetlink::sys::AsyncSocket;
use rtnetlink::{LinkUnspec, MulticastGroup};

use crate::address::MacAddr;
use crate::plan::{LinkChange, LinkFacts};

/// `ENODEV`: the ifindex does not exist (any more).
const ENODEV: i32 = 19;
/// Receive buffer for notifications: a burst of hot-plugs must not overrun it. An overrun is
/// still handled (a full re-list), this only makes it rare.
const RX_BUFFER: usize = 4 << 20;

/// A netlink operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// Opening the socket failed.
    #[error("opening the netlink socket: {0}")]
    Socket(#[source] std::io::Error),
    /// The kernel refused a request.
    #[error("netlink {op} on ifindex {index}: {source}")]
    Request {
        op: &'static str,
        index: u32,
        source: rtnetlink::Error,
    },
    /// Listing links failed.
    #[error("listing links: {0}")]
    Dump(#[source] rtnetlink::Error),
    /// The ifindex now carries another MAC: it is not the link we decided to change.
    #[error("ifindex {index} ({name}) now has MAC {found}, not {expected}; not touching it")]
    MacChanged {
        index: u32,
        name: String,
        expected: MacAddr,
        found: String,
    },
    /// The link went away before the change.
    #[error("ifindex {0} is gone")]
    Gone(u32),
}

/// Requests on the route-netlink socket.
#[derive(Debug, Clone)]
pub struct Links {
    handle: rtnetlink::Handle,
}

/// What a link notification says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    /// A link appeared or changed (`RTM_NEWLINK`).
    Changed(LinkFacts),
    /// A link went away (`RTM_DELLINK`).
    Removed(u32),
    /// Notifications were lost (socket overrun): re-list everything.
    Overrun,
}

/// The stream of link notifications.
#[derive(Debug)]
pub struct LinkEvents {
    rx: UnboundedReceiver<(
        NetlinkMessage<RouteNetlinkMessage>,
        rtnetlink::sys::SocketAddr,
    )>,
}

impl LinkEvents {
    /// The next notification; `None` when the socket closed.
    pub async fn next(&mut self) -> Option<LinkEvent> {
        loop {
            let (msg, _) = self.rx.next().await?;
            match msg.payload {
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(m)) => {
                    return Some(LinkEvent::Changed(facts(&m)));
                }
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(m)) => {
                    return Some(LinkEvent::Removed(m.header.index));
                }
                NetlinkPayload::Overrun(_) => return Some(LinkEvent::Overrun),
                _ => {}
            }
        }
    }
}

impl Links {
    /// Opens a route-netlink socket in the calling thread's network namespace, subscribed to
    /// link notifications, and spawns its I/O task on the current tokio runtime (call this
    /// inside a runtime context).
    pub fn connect() -> Result<(Links, LinkEvents), LinkError> {
        let (mut conn, handle, rx) = rtnetlink::new_multicast_connection(&[MulticastGroup::Link])
            .map_err(LinkError::Socket)?;
        // Best effort: a smaller buffer only makes an (handled) overrun likelier.
        let _ = conn.socket_mut().socket_ref().set_rx_buf_sz(RX_BUFFER);
        tokio::spawn(conn);
        Ok((Links { handle }, LinkEvents { rx }))
    }

    /// Every link, as the kernel has them now.
    pub async fn dump(&self) -> Result<Vec<LinkFacts>, LinkError> {
        let msgs: Vec<LinkMessage> = self
            .handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(LinkError::Dump)?;
        Ok(msgs.iter().map(facts).collect())
    }

    /// The link with `index`, `None` if there is none.
    pub async fn get(&self, index: u32) -> Result<Option<LinkFacts>, LinkError> {
        let mut s = self.handle.link().get().match_index(index).execute();
        match s.try_next().await {
            Ok(m) => Ok(m.as_ref().map(facts)),
            Err(e) if errno(&e) == Some(ENODEV) => Ok(None),
            Err(source) => Err(LinkError::Request {
                op: "get",
                index,
                source,
            }),
        }
    }

    /// The link at `index`, provided it still carries `mac`.
    async fn checked(&self, index: u32, mac: MacAddr) -> Result<LinkFacts, LinkError> {
        match self.get(index).await? {
            Some(l) if l.mac == Some(mac) => Ok(l),
            Some(l) => Err(LinkError::MacChanged {
                index,
                name: l.name,
                expected: mac,
                found: l
                    .mac
                    .map(|m| m.to_string())
                    .unwrap_or_else(|| "none".into()),
            }),
            None => Err(LinkError::Gone(index)),
        }
    }

    async fn set(&self, index: u32, op: &'static str, msg: LinkMessage) -> Result<(), LinkError> {
        self.handle
            .link()
            .set(msg)
            .execute()
            .await
            .map_err(|source| match errno(&source) {
                Some(ENODEV) => LinkError::Gone(index),
                _ => LinkError::Request { op, index, source },
            })
    }

    /// Applies `change` to the link at `index`, re-checking before each step that it still
    /// carries `mac`. A rename takes the link down first (the kernel refuses to rename a
    /// running link) and brings it back up.
    pub async fn apply(
        &self,
        index: u32,
        mac: MacAddr,
        change: &LinkChange,
    ) -> Result<(), LinkError> {
        let link = self.checked(index, mac).await?;
        let want_up = change.up.unwrap_or(link.up);
        if let Some(name) = &change.name {
            if link.up {
                self.set(
                    index,
                    "down",
                    LinkUnspec::new_with_index(index).down().build(),
                )
                .await?;
                self.checked(index, mac).await?;
            }
            let mut b = LinkUnspec::new_with_index(index).name(name.clone());
            if let Some(mtu) = change.mtu {
                b = b.mtu(mtu);
            }
            self.set(index, "rename", b.build()).await?;
            if want_up {
                self.checked(index, mac).await?;
                self.set(index, "up", LinkUnspec::new_with_index(index).up().build())
                    .await?;
            }
            return Ok(());
        }
        let mut b = LinkUnspec::new_with_index(index);
        if let Some(mtu) = change.mtu {
            b = b.mtu(mtu);
        }
        b = match change.up {
            Some(true) => b.up(),
            Some(false) => b.down(),
            None => b,
        };
        self.set(index, "set", b.build()).await
    }
}

fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| -c.get()),
        _ => None,
    }
}

/// The facts of a link message (its PCI device is looked up by the caller, in sysfs).
pub fn facts(m: &LinkMessage) -> LinkFacts {
    let mut l = LinkFacts {
        index: m.header.index,
        name: String::new(),
        mac: None,
        mtu: 0,
        up: m.header.flags.contains(LinkFlags::Up),
        parent: None,
        master: None,
        pci: None,
    };
    for a in &m.attributes {
        match a {
            LinkAttribute::IfName(n) => l.name = n.clone(),
            LinkAttribute::Address(b) => {
                l.mac = MacAddr::from_bytes(b).filter(MacAddr::is_unicast_assigned)
            }
            LinkAttribute::Mtu(v) => l.mtu = *v,
            LinkAttribute::Link(p) if *p != 0 => l.parent = Some(*p),
            LinkAttribute::Controller(c) if *c != 0 => l.master = Some(*c),
            _ => {}
        }
    }
    l
}
