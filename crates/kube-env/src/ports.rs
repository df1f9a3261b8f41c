//! Free loopback ports. The kernel picks one for a listener we close at once; a start that
//! loses the race to another process fails with "address in use" and is retried by the caller.

use std::net::{Ipv4Addr, TcpListener};

pub fn free_port() -> std::io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}
