//! IPv4 address management: subnets, the pools new networks draw from, and address allocation
//! inside a network.

use std::collections::HashSet;
use std::fmt;
use std::net::Ipv4Addr;

/// An IPv4 subnet in CIDR form; `addr` is always the network address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Subnet {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    /// Parses `a.b.c.d/n`; host bits set are an error, as newer Docker reports them.
    pub fn parse(s: &str) -> Result<Subnet, String> {
        let (ip, prefix) = s
            .split_once('/')
            .ok_or_else(|| format!("invalid CIDR address: {s}"))?;
        let ip: Ipv4Addr = ip
            .parse()
            .map_err(|_| format!("invalid CIDR address: {s}"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| format!("invalid CIDR address: {s}"))?;
        let net = Subnet::containing(ip, prefix);
        if net.addr != ip {
            return Err(format!("invalid subnet {s}: it should be {net}"));
        }
        Ok(net)
    }

    pub fn containing(ip: Ipv4Addr, prefix: u8) -> Subnet {
        Subnet {
            addr: Ipv4Addr::from(u32::from(ip) & mask(prefix)),
            prefix,
        }
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == u32::from(self.addr)
    }

    pub fn overlaps(&self, other: &Subnet) -> bool {
        self.contains(other.addr) || other.contains(self.addr)
    }

    /// The last address (broadcast for prefixes below 31).
    pub fn last(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !mask(self.prefix))
    }

    /// The first host address, the default gateway.
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) + u32::from(self.prefix < 31))
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

/// The pools new networks draw from, in Docker's order: 172.17–31.0.0/16, then 192.168.0.0/20
/// steps.
pub fn default_pools() -> impl Iterator<Item = Subnet> {
    (17..=31)
        .map(|b| Subnet {
            addr: Ipv4Addr::new(172, b, 0, 0),
            prefix: 16,
        })
        .chain((0..16).map(|i| Subnet {
            addr: Ipv4Addr::new(192, 168, i * 16, 0),
            prefix: 20,
        }))
}

/// The first pool that overlaps neither another network nor a route of this host.
pub fn pick_pool(taken: &[Subnet]) -> Option<Subnet> {
    default_pools().find(|p| !taken.iter().any(|t| t.overlaps(p)))
}

/// Subnets routed in the calling thread's network namespace, default routes left out.
pub fn host_routes() -> Vec<Subnet> {
    let Ok(text) = std::fs::read_to_string("/proc/thread-self/net/route") else {
        return Vec::new();
    };
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let dest = u32::from_str_radix(f.get(1)?, 16).ok()?;
            let mask = u32::from_str_radix(f.get(7)?, 16).ok()?;
            // The file prints addresses in host (little-endian) byte order.
            let dest = Ipv4Addr::from(u32::from_be(dest.to_le()));
            let mask = u32::from_be(mask.to_le());
            (mask != 0).then(|| Subnet::containing(dest, mask.count_ones() as u8))
        })
        .collect()
}

/// The first free address of `range` (or of the whole subnet) that is not the network or last
/// address, the gateway, or in `used`.
pub fn allocate(
    subnet: &Subnet,
    range: Option<&Subnet>,
    gateway: Ipv4Addr,
    used: &HashSet<Ipv4Addr>,
) -> Option<Ipv4Addr> {
    let pool = range.unwrap_or(subnet);
    let (start, end) = (u32::from(pool.addr), u32::from(pool.last()));
    (start..=end).map(Ipv4Addr::from).find(|ip| {
        *ip != subnet.addr
            && (*ip != subnet.last() || subnet.prefix >= 31)
            && *ip != gateway
            && !used.contains(ip)
    })
}

/// Docker's MAC for an address: `02:42` followed by the four address bytes.
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

pub fn mac_string(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_contain() {
        let s = Subnet::parse("10.1.0.0/16").unwrap();
        assert!(s.contains("10.1.255.3".parse().unwrap()));
        assert!(!s.contains("10.2.0.1".parse().unwrap()));
        assert_eq!(s.first_host(), Ipv4Addr::new(10, 1, 0, 1));
        assert_eq!(s.last(), Ipv4Addr::new(10, 1, 255, 255));
        assert_eq!(
            Subnet::parse("10.1.2.3/16").unwrap_err(),
            "invalid subnet 10.1.2.3/16: it should be 10.1.0.0/16"
        );
        assert!(Subnet::parse("10.1.0.0/33").is_err());
        assert!(Subnet::parse("nonsense").is_err());
    }

    #[test]
    fn overlaps_both_ways() {
        let a = Subnet::parse("172.18.0.0/16").unwrap();
        let b = Subnet::parse("172.18.5.0/24").unwrap();
        let c = Subnet::parse("172.19.0.0/16").unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c));
    }

    #[test]
    fn pools_skip_taken_ranges() {
        let taken = [
            Subnet::parse("172.17.0.0/16").unwrap(),
            Subnet::parse("172.18.3.0/24").unwrap(),
        ];
        assert_eq!(
            pick_pool(&taken).unwrap(),
            Subnet::parse("172.19.0.0/16").unwrap()
        );
    }

    #[test]
    fn allocation_skips_gateway_used_and_edges() {
        let s = Subnet::parse("10.0.0.0/29").unwrap();
        let gw = s.first_host();
        let mut used = HashSet::new();
        let mut got = Vec::new();
        while let Some(ip) = allocate(&s, None, gw, &used) {
            used.insert(ip);
            got.push(ip.to_string());
        }
        assert_eq!(
            got,
            ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"]
        );
        let range = Subnet::parse("10.0.0.4/30").unwrap();
        assert_eq!(
            allocate(&s, Some(&range), gw, &HashSet::new()),
            Some(Ipv4Addr::new(10, 0, 0, 4))
        );
    }

    #[test]
    fn docker_style_mac() {
        assert_eq!(
            mac_string(&mac_for(Ipv4Addr::new(172, 17, 0, 2))),
            "02:42:ac:11:00:02"
        );
    }
}
