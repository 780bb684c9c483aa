//! The few rtnetlink requests the bridge driver makes (bridges, veth pairs, addresses, routes),
//! sent synchronously on a socket of the calling thread's network namespace. Typed messages come
//! from `netlink-packet-route`; the engine's calls are blocking, so this skips an async runtime.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::RawFd;

use netlink_packet_core::{
    NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::protocols::NETLINK_ROUTE;
use netlink_sys::Socket;

pub struct Netlink {
    socket: Socket,
    seq: u32,
}

/// The index of interface `name` in the calling thread's namespace.
pub fn index(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (i != 0).then_some(i)
}

impl Netlink {
    pub fn new() -> io::Result<Netlink> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        Ok(Netlink { socket, seq: 0 })
    }

    /// Sends one request and waits for its acknowledgement.
    fn request(&mut self, msg: RouteNetlinkMessage, flags: u16) -> io::Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let mut req = NetlinkMessage::from(msg);
        req.header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        req.header.sequence_number = self.seq;
        req.finalize();
        let mut buf = vec![0u8; req.header.length as usize];
        req.serialize(&mut buf);
        self.socket.send(&buf, 0)?;
        let mut rx = vec![0u8; 16384];
        loop {
            let n = self.socket.recv(&mut &mut rx[..], 0)?;
            let mut off = 0;
            while off < n {
                let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rx[off..n])
                    .map_err(|e| io::Error::other(format!("netlink reply: {e}")))?;
                let len = msg.header.length as usize;
                if msg.header.sequence_number == self.seq {
                    if let NetlinkPayload::Error(e) = msg.payload {
                        return match e.code {
                            None => Ok(()),
                            Some(code) => Err(io::Error::from_raw_os_error(-code.get())),
                        };
                    }
                }
                if len == 0 {
                    break;
                }
                off += len;
            }
        }
    }

    /// Creates bridge `name`, up.
    pub fn create_bridge(&mut self, name: &str) -> io::Result<()> {
        let mut m = LinkMessage::default();
        m.header.flags |= LinkFlags::Up;
        m.header.change_mask |= LinkFlags::Up;
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        m.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        self.request(RouteNetlinkMessage::NewLink(m), NLM_F_CREATE | NLM_F_EXCL)
    }

    /// Creates a veth pair: `host` here, up and enslaved to `bridge`; `peer` (with `mac`)
    /// directly in the namespace open as `peer_ns`.
    pub fn create_veth(
        &mut self,
        host: &str,
        bridge: u32,
        peer: &str,
        mac: [u8; 6],
        peer_ns: RawFd,
    ) -> io::Result<()> {
        let mut p = LinkMessage::default();
        p.attributes.push(LinkAttribute::IfName(peer.to_string()));
        p.attributes.push(LinkAttribute::Address(mac.to_vec()));
        p.attributes.push(LinkAttribute::NetNsFd(peer_ns));
        let mut m = LinkMessage::default();
        m.header.flags |= LinkFlags::Up;
        m.header.change_mask |= LinkFlags::Up;
        m.attributes.push(LinkAttribute::IfName(host.to_string()));
        m.attributes.push(LinkAttribute::Controller(bridge));
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(p))),
        ]));
        self.request(RouteNetlinkMessage::NewLink(m), NLM_F_CREATE | NLM_F_EXCL)
    }

    pub fn set_up(&mut self, index: u32) -> io::Result<()> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.flags |= LinkFlags::Up;
        m.header.change_mask |= LinkFlags::Up;
        self.request(RouteNetlinkMessage::SetLink(m), 0)
    }

    pub fn delete_link(&mut self, index: u32) -> io::Result<()> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        self.request(RouteNetlinkMessage::DelLink(m), 0)
    }

    /// Adds `ip/prefix` to interface `index` (an address already there is fine).
    pub fn add_address(&mut self, index: u32, ip: Ipv4Addr, prefix: u8) -> io::Result<()> {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.prefix_len = prefix;
        m.header.index = index;
        m.attributes.push(AddressAttribute::Address(ip.into()));
        m.attributes.push(AddressAttribute::Local(ip.into()));
        let brd = u32::from(ip) | (u32::MAX.checked_shr(u32::from(prefix)).unwrap_or(0));
        m.attributes
            .push(AddressAttribute::Broadcast(Ipv4Addr::from(brd)));
        match self.request(
            RouteNetlinkMessage::NewAddress(m),
            NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            r => r,
        }
    }

    /// Adds the default route via `gateway`.
    pub fn add_default_route(&mut self, gateway: Ipv4Addr) -> io::Result<()> {
        let mut m = RouteMessage::default();
        m.header.address_family = AddressFamily::Inet;
        m.header.table = RouteHeader::RT_TABLE_MAIN;
        m.header.protocol = RouteProtocol::Boot;
        m.header.scope = RouteScope::Universe;
        m.header.kind = RouteType::Unicast;
        m.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        self.request(RouteNetlinkMessage::NewRoute(m), NLM_F_CREATE | NLM_F_EXCL)
    }
}
