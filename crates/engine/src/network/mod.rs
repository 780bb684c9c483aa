//! Networks: the predefined `bridge`, `host` and `none`, user-defined bridge networks, and each
//! container's place on them.
//!
//! A container on bridge networks gets a network namespace pinned under
//! `<exec-root>/netns/<id>` (the runtime joins it by path), one veth pair per network with the
//! container end named `eth0`, `eth1`, … and an address from the network's subnet. User-defined
//! networks answer DNS queries for their containers' names on the gateway address; published
//! ports are DNAT rules (no proxy process in the data path), their host ports held by a bound
//! socket so no other program can take them.
//!
//! What a running container has (its endpoints and published ports) is kept in its record, so a
//! restarted daemon rebuilds the address table, DNS names, port reservations and firewall rules
//! of the containers that kept running.

pub mod dns;
pub mod firewall;
pub mod ipam;
pub mod netlink;
pub mod netns;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::containers::{string_list, ContainerRecord};
use crate::{Engine, Error, Filters, Result};
use ipam::Subnet;

const SCHEMA: &str = "CREATE TABLE networks (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    doc TEXT NOT NULL
);";

/// The interface of the predefined `bridge` network.
pub const DEFAULT_BRIDGE: &str = "berth0";

/// A network as the engine stores it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NetworkRecord {
    pub id: String,
    pub name: String,
    /// `bridge`, `host` or `null`.
    pub driver: String,
    pub created: String,
    #[serde(default)]
    pub subnet: Option<String>,
    #[serde(default)]
    pub gateway: Option<String>,
    #[serde(default)]
    pub ip_range: Option<String>,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub attachable: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// The bridge interface (bridge driver only).
    #[serde(default)]
    pub bridge: String,
    #[serde(default)]
    pub predefined: bool,
}

impl NetworkRecord {
    fn subnet(&self) -> Option<Subnet> {
        self.subnet.as_deref().and_then(|s| Subnet::parse(s).ok())
    }
    fn gateway(&self) -> Option<Ipv4Addr> {
        self.gateway.as_deref().and_then(|s| s.parse().ok())
    }
    fn ip_range(&self) -> Option<Subnet> {
        self.ip_range.as_deref().and_then(|s| Subnet::parse(s).ok())
    }
    fn is_bridge(&self) -> bool {
        self.driver == "bridge"
    }
    /// User-defined networks resolve container names; the default bridge does not (as Docker).
    fn resolves_names(&self) -> bool {
        self.is_bridge() && !self.predefined
    }
}

/// A container's live attachment to one network (kept in its record while it runs).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Endpoint {
    pub network_id: String,
    pub endpoint_id: String,
    pub ip: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
    pub mac: String,
    pub aliases: Vec<String>,
    /// The host end of the veth pair.
    pub host_veth: String,
    /// The interface inside the container (`eth0`, …).
    pub ifname: String,
}

/// A published port of a running container.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Published {
    /// `80/tcp`.
    pub port: String,
    pub host_ip: String,
    pub host_port: u16,
}

/// Who holds an address, and the names it answers to.
#[derive(Debug, Clone)]
struct Holder {
    container: String,
    ip: Ipv4Addr,
    names: Vec<String>,
}

/// The daemon's in-memory network state.
#[derive(Default)]
pub struct Networks {
    records: Mutex<BTreeMap<String, NetworkRecord>>,
    /// Network ID → the running containers on it.
    holders: Arc<Mutex<HashMap<String, Vec<Holder>>>>,
    dns: Mutex<HashMap<String, dns::DnsServer>>,
    /// Container ID → bound sockets reserving its published host ports.
    reservations: Mutex<HashMap<String, Vec<OwnedFd>>>,
    /// Serialises firewall rewrites and bridge creation.
    setup: Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn new_id() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

/// `80/tcp` → (80, "tcp").
fn split_port(key: &str) -> Result<(u16, String)> {
    let (p, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    let port = p
        .parse::<u16>()
        .map_err(|_| Error::InvalidParameter(format!("invalid port specification: \"{key}\"")))?;
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(Error::InvalidParameter(format!(
            "invalid proto: \"{proto}\""
        )));
    }
    Ok((port, proto))
}

/// Binds (without listening) `ip:port` so no other program can take it; port 0 picks one.
fn reserve_port(proto: &str, ip: Ipv4Addr, port: u16) -> std::io::Result<(OwnedFd, u16)> {
    let ty = if proto == "udp" {
        libc::SOCK_DGRAM
    } else {
        libc::SOCK_STREAM
    };
    // SAFETY: socket(2) with constant arguments; the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_INET, ty | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket(2) and is owned by nothing else.
    let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: `addr` is a valid sockaddr_in of `len` bytes for the duration of the call.
    if unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_in).cast(),
            len,
        )
    } < 0
    {
        return Err(std::io::Error::last_os_error());
    }
    let mut got: libc::sockaddr_in = addr;
    let mut got_len = len;
    // SAFETY: getsockname writes at most `got_len` bytes into `got`, a valid local.
    unsafe {
        libc::getsockname(
            fd.as_raw_fd(),
            (&mut got as *mut libc::sockaddr_in).cast(),
            &mut got_len,
        )
    };
    Ok((fd, u16::from_be(got.sin_port)))
}

/// Every network a container asks for (its `NetworkMode` first), with the endpoint settings of
/// each: `(name or id, aliases, requested IPv4)`.
fn requested_networks(c: &ContainerRecord) -> Vec<(String, Vec<String>, Option<String>)> {
    let mode = network_mode(c);
    let mut out = Vec::new();
    let endpoints = c.networking_config["EndpointsConfig"].as_object();
    if is_attachable_mode(&mode) {
        out.push(mode.clone());
    }
    if let Some(eps) = endpoints {
        for name in eps.keys() {
            let name = canonical(name);
            if !out.contains(&name) && is_attachable_mode(&name) {
                out.push(name);
            }
        }
    }
    out.into_iter()
        .map(|n| {
            let ep = endpoints.and_then(|e| {
                e.get(&n)
                    .or_else(|| (n == "bridge").then(|| e.get("default")).flatten())
            });
            let aliases = ep.map(|e| string_list(&e["Aliases"])).unwrap_or_default();
            let ip = ep
                .and_then(|e| e["IPAMConfig"]["IPv4Address"].as_str())
                .filter(|s| !s.is_empty())
                .map(str::to_string);
            (n, aliases, ip)
        })
        .collect()
}

fn network_mode(c: &ContainerRecord) -> String {
    canonical(c.host_config["NetworkMode"].as_str().unwrap_or(""))
}

/// `default` (what the docker CLI sends for no `--network`) is the `bridge` network.
fn canonical(name: &str) -> String {
    match name {
        "" | "default" => "bridge".to_string(),
        m => m.to_string(),
    }
}

fn is_attachable_mode(mode: &str) -> bool {
    !matches!(mode, "host" | "none") && !mode.starts_with("container:")
}

/// How a container's network namespace is provided.
pub enum Sandbox {
    Host,
    /// Pinned at this path (own, or another container's for `container:<id>`).
    Path(PathBuf),
}

impl Engine {
    pub(crate) fn netns_path(&self, id: &str) -> PathBuf {
        self.config.exec_root.join("netns").join(id)
    }

    /// Runs `f` in the namespace that plays the host for containers (`--network-namespace`),
    /// or right here in the daemon's own.
    fn host_ns<T: Send>(
        &self,
        f: impl FnOnce() -> std::io::Result<T> + Send,
    ) -> std::io::Result<T> {
        match &self.config.network_namespace {
            Some(p) => netns::run_in(p, f),
            None => f(),
        }
    }

    fn host_routes(&self) -> Vec<Subnet> {
        self.host_ns(|| Ok(ipam::host_routes())).unwrap_or_default()
    }

    /// Loads the network table and creates the predefined networks on first start.
    pub(crate) fn init_networks(&self) -> Result<()> {
        self.store.migrate_extra("engine-0002-networks", SCHEMA)?;
        let docs: Vec<String> = self.store.with_conn(|c| {
            let mut st = c.prepare("SELECT doc FROM networks")?;
            let rows = st.query_map([], |r| r.get::<_, String>(0))?;
            rows.collect()
        })?;
        let mut map = lock(&self.networks.records);
        for doc in docs {
            match serde_json::from_str::<NetworkRecord>(&doc) {
                Ok(n) => {
                    map.insert(n.id.clone(), n);
                }
                Err(e) => tracing::error!(error = %e, "unreadable network record skipped"),
            }
        }
        let mut created = Vec::new();
        for (name, driver) in [("bridge", "bridge"), ("host", "host"), ("none", "null")] {
            if map.values().any(|n| n.name == name) {
                continue;
            }
            let mut n = NetworkRecord {
                id: new_id(),
                name: name.into(),
                driver: driver.into(),
                created: crate::containers::now_rfc3339(),
                subnet: None,
                gateway: None,
                ip_range: None,
                internal: false,
                attachable: false,
                labels: BTreeMap::new(),
                options: BTreeMap::new(),
                bridge: String::new(),
                predefined: true,
            };
            if name == "bridge" {
                let mut taken = self.host_routes();
                taken.extend(map.values().filter_map(NetworkRecord::subnet));
                let subnet = ipam::pick_pool(&taken).ok_or_else(|| {
                    Error::Internal("no free address pool for the default bridge".into())
                })?;
                n.subnet = Some(subnet.to_string());
                n.gateway = Some(subnet.first_host().to_string());
                n.bridge = DEFAULT_BRIDGE.into();
                n.options.insert(
                    "com.docker.network.bridge.name".into(),
                    DEFAULT_BRIDGE.into(),
                );
                n.options.insert(
                    "com.docker.network.bridge.default_bridge".into(),
                    "true".into(),
                );
            }
            created.push(n.clone());
            map.insert(n.id.clone(), n);
        }
        drop(map);
        for n in &created {
            self.save_network(n)?;
        }
        Ok(())
    }

    fn save_network(&self, n: &NetworkRecord) -> Result<()> {
        let doc = serde_json::to_string(n).map_err(|e| Error::Internal(e.to_string()))?;
        self.store.with_tx(|tx| {
            tx.execute(
                "INSERT INTO networks (id, name, doc) VALUES (?1, ?2, ?3)
                 ON CONFLICT(id) DO UPDATE SET name = excluded.name, doc = excluded.doc",
                rusqlite::params![n.id, n.name, doc],
            )?;
            Ok(())
        })?;
        Ok(())
    }

    /// Finds a network by full ID, name, or unique ID prefix.
    pub fn find_network(&self, key: &str) -> Result<NetworkRecord> {
        let map = lock(&self.networks.records);
        if let Some(n) = map.get(key) {
            return Ok(n.clone());
        }
        if let Some(n) = map.values().find(|n| n.name == key) {
            return Ok(n.clone());
        }
        let hits: Vec<&NetworkRecord> = map.values().filter(|n| n.id.starts_with(key)).collect();
        match hits.as_slice() {
            [one] if !key.is_empty() => Ok((*one).clone()),
            [] | [_] => Err(Error::NotFound(format!("network {key} not found"))),
            _ => Err(Error::NotFound(format!(
                "network {key} is ambiguous ({} matches found based on ID prefix)",
                hits.len()
            ))),
        }
    }

    /// `POST /networks/create`.
    pub fn create_network(&self, body: &Value) -> Result<Value> {
        let name = body["Name"].as_str().unwrap_or("").to_string();
        if name.is_empty() || !crate::names::valid_name(&name) {
            return Err(Error::InvalidParameter(format!(
                "invalid network name \"{name}\", only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let driver = match body["Driver"].as_str().unwrap_or("") {
            "" => "bridge",
            d => d,
        };
        match driver {
            "bridge" => {}
            "host" | "null" => {
                return Err(Error::Forbidden(format!(
                    "only one instance of \"{driver}\" network is allowed"
                )))
            }
            other => return Err(Error::NotFound(format!("plugin \"{other}\" not found"))),
        }
        if body["EnableIPv6"].as_bool() == Some(true) {
            return Err(Error::NotImplemented(
                "IPv6 networks are not supported".into(),
            ));
        }
        let _setup = lock(&self.networks.setup);
        if lock(&self.networks.records)
            .values()
            .any(|n| n.name == name)
        {
            return Err(Error::Conflict(format!(
                "network with name {name} already exists"
            )));
        }
        let configs = body["IPAM"]["Config"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if configs.len() > 1 {
            return Err(Error::NotImplemented(
                "a bridge network takes one IPv4 subnet".into(),
            ));
        }
        let cfg = configs.first().cloned().unwrap_or(Value::Null);
        let text = |k: &str| {
            cfg[k]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let others: Vec<Subnet> = lock(&self.networks.records)
            .values()
            .filter_map(NetworkRecord::subnet)
            .collect();
        let subnet = match text("Subnet") {
            Some(s) => {
                let s = Subnet::parse(&s).map_err(Error::InvalidParameter)?;
                if others.iter().any(|o| o.overlaps(&s)) {
                    return Err(Error::Forbidden(
                        "Pool overlaps with other one on this address space".into(),
                    ));
                }
                s
            }
            None => {
                if text("Gateway").is_some() || text("IPRange").is_some() {
                    return Err(Error::InvalidParameter(
                        "every ip-range or gateway must have a corresponding subnet".into(),
                    ));
                }
                let mut taken = self.host_routes();
                taken.extend(others);
                ipam::pick_pool(&taken).ok_or_else(|| {
                    Error::Forbidden(
                        "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network".into(),
                    )
                })?
            }
        };
        let gateway = match text("Gateway") {
            Some(g) => {
                let ip: Ipv4Addr = g
                    .parse()
                    .map_err(|_| Error::InvalidParameter(format!("invalid gateway address {g}")))?;
                if !subnet.contains(ip) {
                    return Err(Error::Forbidden(format!(
                        "no matching subnet for gateway {g}"
                    )));
                }
                ip
            }
            None => subnet.first_host(),
        };
        let ip_range = match text("IPRange") {
            Some(r) => {
                let r = Subnet::parse(&r).map_err(Error::InvalidParameter)?;
                if !subnet.contains(r.addr) || r.prefix < subnet.prefix {
                    return Err(Error::Forbidden(format!(
                        "no matching subnet for range {r}"
                    )));
                }
                Some(r.to_string())
            }
            None => None,
        };
        let map_of = |v: &Value| -> BTreeMap<String, String> {
            v.as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default()
        };
        let options = map_of(&body["Options"]);
        let id = new_id();
        let bridge = options
            .get("com.docker.network.bridge.name")
            .cloned()
            .unwrap_or_else(|| format!("br-{}", &id[..12]));
        if bridge.len() > 15 {
            return Err(Error::InvalidParameter(format!(
                "bridge name {bridge} is longer than 15 characters"
            )));
        }
        if lock(&self.networks.records)
            .values()
            .any(|n| n.bridge == bridge)
        {
            return Err(Error::Conflict(format!(
                "bridge name {bridge} is already in use by another network"
            )));
        }
        let n = NetworkRecord {
            id: id.clone(),
            name,
            driver: driver.into(),
            created: crate::containers::now_rfc3339(),
            subnet: Some(subnet.to_string()),
            gateway: Some(gateway.to_string()),
            ip_range,
            internal: body["Internal"].as_bool().unwrap_or(false),
            attachable: body["Attachable"].as_bool().unwrap_or(false),
            labels: map_of(&body["Labels"]),
            options,
            bridge,
            predefined: false,
        };
        lock(&self.networks.records).insert(id.clone(), n.clone());
        if let Err(e) = self.ensure_bridge(&n).and_then(|_| self.sync_firewall()) {
            lock(&self.networks.records).remove(&id);
            self.drop_bridge(&n);
            return Err(e);
        }
        if let Err(e) = self.save_network(&n) {
            lock(&self.networks.records).remove(&id);
            self.drop_bridge(&n);
            let _ = self.sync_firewall();
            return Err(e);
        }
        self.publish(
            "network",
            "create",
            &id,
            &[("name", &n.name), ("type", &n.driver)],
        );
        Ok(json!({"Id": id, "Warning": ""}))
    }

    /// Creates the bridge of `n` (if missing) with its gateway address, and its DNS server.
    fn ensure_bridge(&self, n: &NetworkRecord) -> Result<()> {
        if !n.is_bridge() {
            return Ok(());
        }
        let subnet = n
            .subnet()
            .ok_or_else(|| Error::Internal(format!("network {} has no subnet", n.name)))?;
        let gateway = n.gateway().unwrap_or(subnet.first_host());
        let bridge = n.bridge.as_str();
        self.host_ns(|| {
            let mut nl = netlink::Netlink::new()?;
            let index = match netlink::index(bridge) {
                Some(i) => i,
                None => {
                    nl.create_bridge(bridge)?;
                    netlink::index(bridge).ok_or_else(|| {
                        std::io::Error::other("the bridge vanished after its creation")
                    })?
                }
            };
            nl.add_address(index, gateway, subnet.prefix)?;
            nl.set_up(index)?;
            firewall::enable_sysctl("ipv4/ip_forward")?;
            firewall::enable_sysctl(&format!("ipv4/conf/{bridge}/route_localnet"))
        })
        .map_err(Error::io(format!(
            "setting up bridge {bridge} of network {}",
            n.name
        )))?;
        self.ensure_dns(n, gateway);
        Ok(())
    }

    fn ensure_dns(&self, n: &NetworkRecord, gateway: Ipv4Addr) {
        let mut servers = lock(&self.networks.dns);
        if servers.contains_key(&n.id) {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let lookup: dns::Lookup = if n.resolves_names() {
            let holders = self.networks.holders.clone();
            let id = n.id.clone();
            Arc::new(move |name: &str| {
                let h = lock(&holders);
                let ips: Vec<Ipv4Addr> = h
                    .get(&id)?
                    .iter()
                    .filter(|h| h.names.iter().any(|n| n.eq_ignore_ascii_case(name)))
                    .map(|h| h.ip)
                    .collect();
                (!ips.is_empty()).then_some(ips)
            })
        } else {
            Arc::new(|_: &str| None)
        };
        let served = self
            .host_ns(|| dns::bind(gateway))
            .and_then(|socks| dns::serve(&rt, socks, lookup, dns::host_upstreams()));
        match served {
            Ok(s) => {
                servers.insert(n.id.clone(), s);
            }
            Err(e) => {
                tracing::warn!(error = %e, network = %n.name, "starting the network's DNS server")
            }
        }
    }

    fn drop_bridge(&self, n: &NetworkRecord) {
        lock(&self.networks.dns).remove(&n.id);
        self.delete_link(&n.bridge);
    }

    /// Deletes interface `name` on the host side, if it exists.
    fn delete_link(&self, name: &str) {
        delete_links(
            self.config.network_namespace.as_deref(),
            &[name.to_string()],
        );
    }

    /// Rewrites the firewall from the networks and the published ports of running containers.
    fn sync_firewall(&self) -> Result<()> {
        self.sync_firewall_ext(None, None)
    }

    /// `sync_firewall` counting `starting` as running and `stopping` as stopped.
    fn sync_firewall_ext(
        &self,
        starting: Option<&ContainerRecord>,
        stopping: Option<&str>,
    ) -> Result<()> {
        let bridges: Vec<firewall::BridgeRules> = lock(&self.networks.records)
            .values()
            .filter(|n| n.is_bridge())
            .filter_map(|n| {
                Some(firewall::BridgeRules {
                    bridge: n.bridge.clone(),
                    subnet: n.subnet()?,
                    internal: n.internal,
                })
            })
            .collect();
        let mut ports = Vec::new();
        let mut all: Vec<ContainerRecord> = self
            .containers
            .all()
            .into_iter()
            .filter(|c| c.is_running() || starting.is_some_and(|s| s.id == c.id))
            .filter(|c| stopping != Some(c.id.as_str()))
            .collect();
        if let Some(s) = starting {
            all.retain(|c| c.id != s.id);
            all.push(s.clone());
        }
        for c in all {
            let Some(ep) = c.endpoints.values().find(|e| !e.host_veth.is_empty()) else {
                continue;
            };
            let Some(bridge) = lock(&self.networks.records)
                .get(&ep.network_id)
                .map(|n| n.bridge.clone())
            else {
                continue;
            };
            for p in &c.published {
                let (port, proto) = split_port(&p.port)?;
                let host_ip = p
                    .host_ip
                    .parse::<Ipv4Addr>()
                    .ok()
                    .filter(|ip| !ip.is_unspecified());
                ports.push(firewall::PortRule {
                    proto,
                    host_ip,
                    host_port: p.host_port,
                    bridge: bridge.clone(),
                    ip: ep.ip,
                    port,
                });
            }
        }
        firewall::apply(self.config.network_namespace.as_deref(), &bridges, &ports)
            .map_err(Error::io("programming the firewall"))
    }

    /// On daemon start: bridges, DNS servers, addresses, port reservations and firewall rules
    /// of every network and running container.
    pub fn restore_networks(&self) {
        let _setup = lock(&self.networks.setup);
        let nets: Vec<NetworkRecord> = lock(&self.networks.records).values().cloned().collect();
        for n in nets.iter().filter(|n| n.is_bridge()) {
            if let Err(e) = self.ensure_bridge(n) {
                tracing::warn!(error = %e, network = %n.name, "restoring network");
            }
        }
        for c in self.containers.all() {
            if !c.is_running() {
                continue;
            }
            for ep in c.endpoints.values() {
                self.add_holder(&c, ep);
            }
            let mut fds = Vec::new();
            for p in &c.published {
                let ip = p.host_ip.parse().unwrap_or(Ipv4Addr::UNSPECIFIED);
                let proto = split_port(&p.port).map(|(_, p)| p).unwrap_or_default();
                match self.host_ns(|| reserve_port(&proto, ip, p.host_port)) {
                    Ok((fd, _)) => fds.push(fd),
                    Err(e) => {
                        tracing::warn!(error = %e, id = %c.id, port = p.host_port, "re-reserving a published port")
                    }
                }
            }
            lock(&self.networks.reservations).insert(c.id.clone(), fds);
        }
        if let Err(e) = self.sync_firewall() {
            tracing::warn!(error = %e, "restoring firewall rules");
        }
    }

    fn add_holder(&self, c: &ContainerRecord, ep: &Endpoint) {
        let mut names = vec![c.name.clone(), c.short_id().to_string()];
        names.extend(ep.aliases.iter().cloned());
        let mut h = lock(&self.networks.holders);
        let list = h.entry(ep.network_id.clone()).or_default();
        list.retain(|x| x.container != c.id);
        list.push(Holder {
            container: c.id.clone(),
            ip: ep.ip,
            names,
        });
    }

    /// Checks at create time that `host` and `none` are not combined with other networks.
    /// Whether the networks exist is checked at start, as Docker does (a 404 from create would
    /// make the docker CLI try to pull the image).
    pub(crate) fn check_container_networks(
        &self,
        host_config: &Value,
        net_cfg: &Value,
    ) -> Result<()> {
        let mode = match host_config["NetworkMode"].as_str().unwrap_or("") {
            "" | "default" => "bridge",
            m => m,
        };
        let others = net_cfg["EndpointsConfig"]
            .as_object()
            .map(|m| m.keys().filter(|k| canonical(k) != mode).count())
            .unwrap_or(0);
        let special = !is_attachable_mode(mode)
            || self
                .find_network(mode)
                .is_ok_and(|n| n.driver == "host" || n.driver == "null");
        if special && others > 0 {
            return Err(Error::InvalidParameter(format!(
                "conflicting options: {mode} networking can't be used with other networks"
            )));
        }
        Ok(())
    }

    /// Before a container starts: its namespace, endpoints and published ports. Fills
    /// `c.endpoints` and `c.published`; on error nothing is left behind.
    pub(crate) fn setup_container_network(&self, c: &mut ContainerRecord) -> Result<Sandbox> {
        let mode = network_mode(c);
        if mode == "host" {
            return Ok(match &self.config.network_namespace {
                Some(p) => Sandbox::Path(p.clone()),
                None => Sandbox::Host,
            });
        }
        if let Some(other) = mode.strip_prefix("container:") {
            let o = self.containers.find(other)?;
            let path = self.netns_path(&o.id);
            if !o.is_running() || !netns::is_pinned(&path) {
                return Err(Error::Conflict(format!(
                    "cannot join network of a non running container: {}",
                    o.id
                )));
            }
            return Ok(Sandbox::Path(path));
        }
        let r = self.setup_own_network(c);
        if r.is_err() {
            let eps: Vec<Endpoint> = c.endpoints.values().cloned().collect();
            self.teardown_container_network(&c.id, &eps);
            c.endpoints.clear();
            c.published.clear();
        }
        r
    }

    fn setup_own_network(&self, c: &mut ContainerRecord) -> Result<Sandbox> {
        let path = self.netns_path(&c.id);
        netns::create(&path).map_err(Error::io("creating the network namespace"))?;
        netns::run_in(&path, || {
            let mut nl = netlink::Netlink::new()?;
            nl.set_up(netlink::index("lo").unwrap_or(1))
        })
        .map_err(Error::io("setting up loopback"))?;
        c.endpoints.clear();
        c.published.clear();
        for (i, (net, aliases, ip)) in requested_networks(c).into_iter().enumerate() {
            let n = self.find_network(&net)?;
            let ep = self.attach(c, &n, &format!("eth{i}"), aliases, ip.as_deref(), i == 0)?;
            c.endpoints.insert(n.name.clone(), ep);
        }
        if !c.endpoints.is_empty() {
            self.publish_ports(c)?;
        }
        Ok(Sandbox::Path(path))
    }

    /// Connects the running (or starting) container's namespace to network `n`.
    fn attach(
        &self,
        c: &ContainerRecord,
        n: &NetworkRecord,
        ifname: &str,
        aliases: Vec<String>,
        want_ip: Option<&str>,
        default_route: bool,
    ) -> Result<Endpoint> {
        if !n.is_bridge() {
            return Err(Error::Forbidden(format!(
                "container cannot be connected to network {} with driver {}",
                n.name, n.driver
            )));
        }
        {
            let _setup = lock(&self.networks.setup);
            let bridge = n.bridge.as_str();
            if self
                .host_ns(|| Ok(netlink::index(bridge)))
                .ok()
                .flatten()
                .is_none()
            {
                self.ensure_bridge(n)?;
                self.sync_firewall()?;
            } else if let Some(gw) = n.gateway() {
                // A server that could not start earlier (no runtime at hand) starts now.
                self.ensure_dns(n, gw);
            }
        }
        let subnet = n
            .subnet()
            .ok_or_else(|| Error::Internal(format!("network {} has no subnet", n.name)))?;
        let gateway = n.gateway().unwrap_or(subnet.first_host());
        let ip = {
            let mut holders = lock(&self.networks.holders);
            let list = holders.entry(n.id.clone()).or_default();
            let used: HashSet<Ipv4Addr> = list.iter().map(|h| h.ip).collect();
            let ip = match want_ip {
                Some(s) => {
                    if n.predefined {
                        return Err(Error::InvalidParameter(
                            "user specified IP address is supported on user defined networks only"
                                .into(),
                        ));
                    }
                    let ip: Ipv4Addr = s.parse().map_err(|_| {
                        Error::InvalidParameter(format!("invalid IPv4 address: {s}"))
                    })?;
                    if !subnet.contains(ip) || ip == gateway {
                        return Err(Error::InvalidParameter(format!(
                            "no configured subnet or ip-range contain the IP address {s}"
                        )));
                    }
                    if used.contains(&ip) {
                        return Err(Error::Conflict(format!(
                            "Address already in use: {s} is taken on network {}",
                            n.name
                        )));
                    }
                    ip
                }
                None => ipam::allocate(&subnet, n.ip_range().as_ref(), gateway, &used).ok_or_else(
                    || {
                        Error::Forbidden(format!(
                            "no available IPv4 addresses on network {}",
                            n.name
                        ))
                    },
                )?,
            };
            // Reserved now; the names are filled in once the endpoint is up.
            list.push(Holder {
                container: c.id.clone(),
                ip,
                names: Vec::new(),
            });
            ip
        };
        let mac = ipam::mac_for(ip);
        // Named after the endpoint, new on every start: the veth of a previous run may still be
        // on its way out (teardown deletes them in the background).
        let endpoint_id = new_id();
        let host_veth = format!("veth{}", &endpoint_id[..7]);
        let ep = Endpoint {
            network_id: n.id.clone(),
            endpoint_id,
            ip,
            prefix: subnet.prefix,
            gateway,
            mac: ipam::mac_string(&mac),
            aliases,
            host_veth: host_veth.clone(),
            ifname: ifname.to_string(),
        };
        let r = (|| -> std::io::Result<()> {
            let ns = std::fs::File::open(self.netns_path(&c.id))?;
            let ns_fd = ns.as_raw_fd();
            let (bridge_name, veth) = (n.bridge.as_str(), host_veth.as_str());
            self.host_ns(|| {
                let bridge = netlink::index(bridge_name).ok_or_else(|| {
                    std::io::Error::other(format!("bridge {bridge_name} does not exist"))
                })?;
                let mut nl = netlink::Netlink::new()?;
                if let Some(old) = netlink::index(veth) {
                    let _ = nl.delete_link(old);
                }
                nl.create_veth(veth, bridge, ifname, mac, ns_fd)
            })?;
            netns::run_in(&self.netns_path(&c.id), || {
                let mut nl = netlink::Netlink::new()?;
                let index = netlink::index(ifname)
                    .ok_or_else(|| std::io::Error::other(format!("{ifname} missing")))?;
                nl.add_address(index, ip, subnet.prefix)?;
                nl.set_up(index)?;
                if default_route {
                    nl.add_default_route(gateway)?;
                }
                Ok(())
            })
        })();
        if let Err(e) = r {
            self.detach(&c.id, &ep);
            return Err(Error::Internal(format!(
                "connecting to network {}: {e}",
                n.name
            )));
        }
        self.add_holder(c, &ep);
        Ok(ep)
    }

    /// Removes one endpoint: its veth pair and its address and names.
    fn detach(&self, container: &str, ep: &Endpoint) {
        self.delete_link(&ep.host_veth);
        self.forget_endpoint(container, ep);
    }

    fn forget_endpoint(&self, container: &str, ep: &Endpoint) {
        if let Some(list) = lock(&self.networks.holders).get_mut(&ep.network_id) {
            list.retain(|h| h.container != container);
        }
    }

    /// Reserves the host ports of `c`'s `PortBindings` (and `-P`) and records them.
    fn publish_ports(&self, c: &mut ContainerRecord) -> Result<()> {
        let mut wanted: Vec<(String, String, String)> = Vec::new();
        if let Some(b) = c.host_config["PortBindings"].as_object() {
            for (port, list) in b {
                for hb in list.as_array().into_iter().flatten() {
                    wanted.push((
                        port.clone(),
                        hb["HostIp"].as_str().unwrap_or("").to_string(),
                        hb["HostPort"].as_str().unwrap_or("").to_string(),
                    ));
                }
            }
        }
        if c.host_config["PublishAllPorts"].as_bool().unwrap_or(false) {
            if let Some(exposed) = c.config["ExposedPorts"].as_object() {
                for port in exposed.keys() {
                    if !wanted.iter().any(|w| &w.0 == port) {
                        wanted.push((port.clone(), String::new(), String::new()));
                    }
                }
            }
        }
        if wanted.is_empty() {
            return Ok(());
        }
        let mut fds = Vec::new();
        let mut published = Vec::new();
        let taken: HashSet<(String, u16)> = self
            .containers
            .all()
            .iter()
            .filter(|o| o.id != c.id && o.is_running())
            .flat_map(|o| o.published.iter())
            .map(|p| {
                (
                    p.port.split('/').nth(1).unwrap_or("tcp").to_string(),
                    p.host_port,
                )
            })
            .collect();
        for (port, host_ip, host_port) in wanted {
            let (_, proto) = split_port(&port)?;
            if host_ip.contains(':') {
                continue; // IPv6 bindings are not served.
            }
            let ip: Ipv4Addr = if host_ip.is_empty() {
                Ipv4Addr::UNSPECIFIED
            } else {
                host_ip.parse().map_err(|_| {
                    Error::InvalidParameter(format!("invalid host IP address: {host_ip}"))
                })?
            };
            let candidates: Vec<u16> = match host_port.split_once('-') {
                _ if host_port.is_empty() => vec![0],
                Some((a, b)) => {
                    let (a, b) = (a.parse::<u16>(), b.parse::<u16>());
                    match (a, b) {
                        (Ok(a), Ok(b)) if a <= b => (a..=b).collect(),
                        _ => {
                            return Err(Error::InvalidParameter(format!(
                                "invalid port range: {host_port}"
                            )))
                        }
                    }
                }
                None => vec![host_port
                    .parse()
                    .map_err(|_| Error::InvalidParameter(format!("invalid port: {host_port}")))?],
            };
            let endpoint = format!("{} ({})", c.name, c.id);
            let mut last_err = None;
            let mut got = None;
            for p in &candidates {
                if *p != 0 && taken.contains(&(proto.clone(), *p)) {
                    last_err = Some(format!(
                        "driver failed programming external connectivity on endpoint {endpoint}: Bind for {ip}:{p} failed: port is already allocated"
                    ));
                    continue;
                }
                match self.host_ns(|| reserve_port(&proto, ip, *p)) {
                    Ok(r) => {
                        got = Some(r);
                        break;
                    }
                    Err(e) => {
                        last_err = Some(format!(
                            "driver failed programming external connectivity on endpoint {endpoint}: Error starting userland proxy: listen {proto}4 {ip}:{p}: bind: {}",
                            if e.raw_os_error() == Some(libc::EADDRINUSE) { "address already in use".to_string() } else { e.to_string() }
                        ))
                    }
                }
            }
            let Some((fd, hp)) = got else {
                return Err(Error::Internal(last_err.unwrap_or_default()));
            };
            fds.push(fd);
            published.push(Published {
                port,
                host_ip: ip.to_string(),
                host_port: hp,
            });
        }
        c.published = published;
        lock(&self.networks.reservations).insert(c.id.clone(), fds);
        let _setup = lock(&self.networks.setup);
        self.sync_firewall_ext(Some(c), None)
    }

    /// After a container stopped (or failed to start): everything `setup_container_network`
    /// made for `endpoints`. Idempotent.
    pub(crate) fn teardown_container_network<'a>(
        &self,
        id: &str,
        endpoints: impl IntoIterator<Item = &'a Endpoint>,
    ) {
        // Unregistering a network device waits for RCU grace periods (tens of milliseconds):
        // the veths go on a thread of their own, off the path of `run --rm` and `stop`. Their
        // addresses and names are released now; a restart that wants the same interface name
        // deletes a leftover first (`attach`).
        let mut links = Vec::new();
        for ep in endpoints {
            self.forget_endpoint(id, ep);
            links.push(ep.host_veth.clone());
        }
        if !links.is_empty() {
            let host = self.config.network_namespace.clone();
            std::thread::spawn(move || delete_links(host.as_deref(), &links));
        }
        for list in lock(&self.networks.holders).values_mut() {
            list.retain(|h| h.container != id);
        }
        let had_ports = lock(&self.networks.reservations).remove(id).is_some();
        netns::remove(&self.netns_path(id));
        if had_ports {
            let _setup = lock(&self.networks.setup);
            if let Err(e) = self.sync_firewall_ext(None, Some(id)) {
                tracing::warn!(error = %e, "removing published ports");
            }
        }
    }

    /// What `--add-host name:host-gateway` maps to: the default bridge's gateway.
    pub(crate) fn host_gateway_ip(&self) -> String {
        lock(&self.networks.records)
            .values()
            .find(|n| n.predefined && n.is_bridge())
            .and_then(|n| n.gateway.clone())
            .unwrap_or_default()
    }

    /// `/etc/hosts` lines and `/etc/resolv.conf` of a container on bridge networks.
    pub(crate) fn container_dns_files(&self, c: &ContainerRecord) -> (Vec<String>, Option<String>) {
        let mut hosts = Vec::new();
        let hostname = c.config["Hostname"].as_str().unwrap_or(c.short_id());
        for ep in c.endpoints.values() {
            hosts.push(format!("{}\t{hostname}", ep.ip));
        }
        let first = c.endpoints.values().find(|e| e.ifname == "eth0");
        let dns = string_list(&c.host_config["Dns"]);
        let list = |k: &str| string_list(&c.host_config[k]);
        let resolv = if !dns.is_empty() || first.is_some() {
            let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
            let mut search = list("DnsSearch");
            if search.is_empty() {
                search = host
                    .lines()
                    .filter_map(|l| l.trim().strip_prefix("search"))
                    .flat_map(|s| s.split_whitespace().map(str::to_string))
                    .collect();
            }
            let mut options = list("DnsOptions");
            let mut text = String::new();
            if !dns.is_empty() {
                for d in &dns {
                    text.push_str(&format!("nameserver {d}\n"));
                }
            } else if let Some(ep) = first {
                text.push_str(&format!("nameserver {}\n", ep.gateway));
                if options.is_empty() {
                    options.push("ndots:0".into());
                }
            }
            if !search.is_empty() {
                text.push_str(&format!("search {}\n", search.join(" ")));
            }
            if !options.is_empty() {
                text.push_str(&format!("options {}\n", options.join(" ")));
            }
            Some(text)
        } else {
            None
        };
        (hosts, resolv)
    }

    /// `GET /networks/{id}`: Docker's `Network` object.
    pub fn inspect_network(&self, key: &str) -> Result<Value> {
        let n = self.find_network(key)?;
        Ok(self.network_json(&n))
    }

    fn network_json(&self, n: &NetworkRecord) -> Value {
        let mut containers = serde_json::Map::new();
        for c in self.containers.all() {
            if !c.is_running() {
                continue;
            }
            for ep in c.endpoints.values().filter(|e| e.network_id == n.id) {
                containers.insert(
                    c.id.clone(),
                    json!({
                        "Name": c.name, "EndpointID": ep.endpoint_id, "MacAddress": ep.mac,
                        "IPv4Address": format!("{}/{}", ep.ip, ep.prefix), "IPv6Address": "",
                    }),
                );
            }
        }
        let config: Vec<Value> = match &n.subnet {
            Some(s) => {
                let mut c = json!({"Subnet": s, "Gateway": n.gateway.clone().unwrap_or_default()});
                if let Some(r) = &n.ip_range {
                    c["IPRange"] = json!(r);
                }
                vec![c]
            }
            None => Vec::new(),
        };
        json!({
            "Name": n.name,
            "Id": n.id,
            "Created": n.created,
            "Scope": "local",
            "Driver": n.driver,
            "EnableIPv6": false,
            "IPAM": {"Driver": "default", "Options": null, "Config": config},
            "Internal": n.internal,
            "Attachable": n.attachable,
            "Ingress": false,
            "ConfigFrom": {"Network": ""},
            "ConfigOnly": false,
            "Containers": containers,
            "Options": n.options,
            "Labels": n.labels,
        })
    }

    /// `GET /networks?filters=`.
    pub fn list_networks(&self, filters: &Filters) -> Result<Vec<Value>> {
        filters.validate(&["dangling", "driver", "id", "label", "name", "scope", "type"])?;
        let dangling = filters.bool("dangling")?;
        let nets: Vec<NetworkRecord> = lock(&self.networks.records).values().cloned().collect();
        let in_use = self.networks_in_use();
        let mut out = Vec::new();
        for n in nets {
            let names = filters.get("name");
            if !names.is_empty() && !names.iter().any(|f| n.name.contains(f.as_str())) {
                continue;
            }
            let ids = filters.get("id");
            if !ids.is_empty() && !ids.iter().any(|f| n.id.starts_with(f.as_str())) {
                continue;
            }
            let drivers = filters.get("driver");
            if !drivers.is_empty() && !drivers.contains(&n.driver) {
                continue;
            }
            let scopes = filters.get("scope");
            if !scopes.is_empty() && !scopes.iter().any(|s| s == "local") {
                continue;
            }
            let types = filters.get("type");
            for t in types {
                if t != "custom" && t != "builtin" {
                    return Err(Error::InvalidParameter(format!(
                        "invalid filter: 'type'='{t}'"
                    )));
                }
            }
            if !types.is_empty() && !types.iter().any(|t| (t == "builtin") == n.predefined) {
                continue;
            }
            if !labels_match(&n.labels, filters.get("label")) {
                continue;
            }
            if let Some(d) = dangling {
                let is_dangling = !n.predefined && !in_use.contains(&n.id);
                if d != is_dangling {
                    continue;
                }
            }
            out.push(self.network_json(&n));
        }
        Ok(out)
    }

    /// IDs of networks some container (running or not) is configured for.
    fn networks_in_use(&self) -> HashSet<String> {
        let mut used = HashSet::new();
        for c in self.containers.all() {
            for (name, _, _) in requested_networks(&c) {
                if let Ok(n) = self.find_network(&name) {
                    used.insert(n.id);
                }
            }
        }
        used
    }

    /// `DELETE /networks/{id}`.
    pub fn remove_network(&self, key: &str) -> Result<()> {
        let n = self.find_network(key)?;
        if n.predefined {
            return Err(Error::Forbidden(format!(
                "{} is a pre-defined network and cannot be removed",
                n.name
            )));
        }
        let _setup = lock(&self.networks.setup);
        let active = lock(&self.networks.holders)
            .get(&n.id)
            .is_some_and(|l| !l.is_empty());
        if active {
            return Err(Error::Forbidden(format!(
                "error while removing network: network {} id {} has active endpoints",
                n.name, n.id
            )));
        }
        self.store.with_tx(|tx| {
            tx.execute("DELETE FROM networks WHERE id = ?1", [&n.id])?;
            Ok(())
        })?;
        lock(&self.networks.records).remove(&n.id);
        lock(&self.networks.holders).remove(&n.id);
        self.drop_bridge(&n);
        if let Err(e) = self.sync_firewall() {
            tracing::warn!(error = %e, "firewall after removing a network");
        }
        self.publish(
            "network",
            "destroy",
            &n.id,
            &[("name", &n.name), ("type", &n.driver)],
        );
        Ok(())
    }

    /// `POST /networks/prune`: user-defined networks no container uses.
    pub fn prune_networks(&self, filters: &Filters) -> Result<Value> {
        filters.validate(&["label", "label!", "until"])?;
        let until = filters
            .get("until")
            .first()
            .map(|u| crate::images::parse_until(u))
            .transpose()?;
        let in_use = self.networks_in_use();
        let nets: Vec<NetworkRecord> = lock(&self.networks.records).values().cloned().collect();
        let mut deleted = Vec::new();
        for n in nets {
            if n.predefined || in_use.contains(&n.id) {
                continue;
            }
            if !labels_match(&n.labels, filters.get("label")) {
                continue;
            }
            if filters
                .get("label!")
                .iter()
                .any(|f| labels_match(&n.labels, std::slice::from_ref(f)))
            {
                continue;
            }
            if let Some(until) = until {
                let created = chrono::DateTime::parse_from_rfc3339(&n.created)
                    .map(|t| t.timestamp())
                    .unwrap_or(0);
                if created >= until {
                    continue;
                }
            }
            match self.remove_network(&n.id) {
                Ok(()) => deleted.push(n.name.clone()),
                Err(e) => tracing::warn!(error = %e, network = %n.name, "prune"),
            }
        }
        Ok(json!({"NetworksDeleted": deleted}))
    }

    /// `POST /networks/{id}/connect`.
    pub fn connect_network(&self, key: &str, body: &Value) -> Result<()> {
        let n = self.find_network(key)?;
        let cid = body["Container"].as_str().unwrap_or("");
        let c = self.containers.find(cid)?;
        let lock_c = self.container_lock(&c.id);
        let _guard = lock_c.lock().unwrap_or_else(|p| p.into_inner());
        let mut c = self.containers.find(&c.id)?;
        let mode = network_mode(&c);
        if !is_attachable_mode(&mode) {
            return Err(Error::Forbidden(
                "container sharing network namespace with another container or host cannot be connected to any other network".into(),
            ));
        }
        if !n.is_bridge() {
            return Err(Error::Forbidden(
                "container cannot be disconnected from host network or connected to host network"
                    .into(),
            ));
        }
        let requested = requested_networks(&c);
        let already = requested.iter().any(|(name, _, _)| {
            self.find_network(name)
                .map(|r| r.id == n.id)
                .unwrap_or(false)
        });
        if already {
            return Err(Error::Forbidden(format!(
                "endpoint with name {} already exists in network {}",
                c.name, n.name
            )));
        }
        let epc = body.get("EndpointConfig").cloned().unwrap_or(json!({}));
        let aliases = string_list(&epc["Aliases"]);
        let ip = epc["IPAMConfig"]["IPv4Address"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        if c.is_running() {
            let ifname = (0..)
                .map(|i| format!("eth{i}"))
                .find(|f| !c.endpoints.values().any(|e| &e.ifname == f))
                .unwrap_or_default();
            let ep = self.attach(
                &c,
                &n,
                &ifname,
                aliases.clone(),
                ip.as_deref(),
                c.endpoints.is_empty(),
            )?;
            c.endpoints.insert(n.name.clone(), ep);
        }
        if !c.networking_config.is_object() {
            c.networking_config = json!({});
        }
        if !c.networking_config["EndpointsConfig"].is_object() {
            c.networking_config["EndpointsConfig"] = json!({});
        }
        let mut entry = json!({"Aliases": aliases, "NetworkID": n.id});
        if let Some(ip) = ip {
            entry["IPAMConfig"] = json!({"IPv4Address": ip});
        }
        c.networking_config["EndpointsConfig"][n.name.as_str()] = entry;
        self.save_container(&c)?;
        self.publish(
            "network",
            "connect",
            &n.id,
            &[("container", &c.id), ("name", &n.name), ("type", &n.driver)],
        );
        Ok(())
    }

    /// `POST /networks/{id}/disconnect`.
    pub fn disconnect_network(&self, key: &str, body: &Value) -> Result<()> {
        let n = self.find_network(key)?;
        let cid = body["Container"].as_str().unwrap_or("");
        let c = self.containers.find(cid)?;
        let lock_c = self.container_lock(&c.id);
        let _guard = lock_c.lock().unwrap_or_else(|p| p.into_inner());
        let mut c = self.containers.find(&c.id)?;
        let mut found = false;
        if let Some(ep) = c.endpoints.remove(&n.name) {
            self.detach(&c.id, &ep);
            found = true;
        }
        if let Some(eps) = c.networking_config["EndpointsConfig"].as_object_mut() {
            let before = eps.len();
            eps.retain(|k, _| canonical(k) != n.name && k != &n.id);
            found |= eps.len() != before;
        }
        if network_mode(&c) == n.name
            || c.host_config["NetworkMode"].as_str() == Some(n.id.as_str())
        {
            found = true;
            // The mode network is gone: Docker leaves the container on no network.
            c.host_config["NetworkMode"] = json!("none");
        }
        if !found {
            return Err(Error::Forbidden(format!(
                "container {} is not connected to network {}",
                c.id, n.name
            )));
        }
        self.save_container(&c)?;
        self.publish(
            "network",
            "disconnect",
            &n.id,
            &[("container", &c.id), ("name", &n.name), ("type", &n.driver)],
        );
        Ok(())
    }

    /// Docker's `NetworkSettings` of a container.
    pub(crate) fn container_network_settings(&self, c: &ContainerRecord) -> Value {
        let mut networks = serde_json::Map::new();
        let mode = network_mode(c);
        let mut names: Vec<(String, Vec<String>, Option<String>)> = requested_networks(c);
        if !is_attachable_mode(&mode) && !mode.starts_with("container:") {
            names.push((mode.clone(), Vec::new(), None));
        }
        for (name, aliases, ip) in names {
            let rec = self.find_network(&name).ok();
            let net_name = rec.as_ref().map(|r| r.name.clone()).unwrap_or(name);
            let ep = c.endpoints.get(&net_name).filter(|_| c.is_running());
            let mut all_aliases = aliases;
            if rec.as_ref().is_some_and(|r| r.resolves_names())
                && !all_aliases.contains(&c.short_id().to_string())
            {
                all_aliases.push(c.short_id().to_string());
            }
            networks.insert(
                net_name,
                json!({
                    "IPAMConfig": ip.map(|ip| json!({"IPv4Address": ip})),
                    "Links": null,
                    "Aliases": if all_aliases.is_empty() { Value::Null } else { json!(all_aliases) },
                    "NetworkID": rec.as_ref().map(|r| r.id.clone()).unwrap_or_default(),
                    "EndpointID": ep.map(|e| e.endpoint_id.clone()).unwrap_or_default(),
                    "Gateway": ep.map(|e| e.gateway.to_string()).unwrap_or_default(),
                    "IPAddress": ep.map(|e| e.ip.to_string()).unwrap_or_default(),
                    "IPPrefixLen": ep.map(|e| e.prefix).unwrap_or(0),
                    "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
                    "MacAddress": ep.map(|e| e.mac.clone()).unwrap_or_default(),
                    "DriverOpts": null,
                }),
            );
        }
        let mut ports = serde_json::Map::new();
        if let Some(exposed) = c.config["ExposedPorts"].as_object() {
            for p in exposed.keys() {
                ports.insert(p.clone(), Value::Null);
            }
        }
        if c.is_running() {
            for p in &c.published {
                let e = ports.entry(p.port.clone()).or_insert(json!([]));
                if !e.is_array() {
                    *e = json!([]);
                }
                if let Some(a) = e.as_array_mut() {
                    a.push(json!({"HostIp": p.host_ip, "HostPort": p.host_port.to_string()}));
                }
            }
        }
        let bridge_ep = c.endpoints.get("bridge").filter(|_| c.is_running());
        let sandbox = if c.is_running() && is_attachable_mode(&mode) {
            self.netns_path(&c.id).display().to_string()
        } else {
            String::new()
        };
        json!({
            "Bridge": "", "SandboxID": if sandbox.is_empty() { "" } else { &c.id }, "HairpinMode": false,
            "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
            "Ports": ports, "SandboxKey": sandbox,
            "SecondaryIPAddresses": null, "SecondaryIPv6Addresses": null,
            "EndpointID": bridge_ep.map(|e| e.endpoint_id.clone()).unwrap_or_default(),
            "Gateway": bridge_ep.map(|e| e.gateway.to_string()).unwrap_or_default(),
            "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "IPAddress": bridge_ep.map(|e| e.ip.to_string()).unwrap_or_default(),
            "IPPrefixLen": bridge_ep.map(|e| e.prefix).unwrap_or(0),
            "IPv6Gateway": "",
            "MacAddress": bridge_ep.map(|e| e.mac.clone()).unwrap_or_default(),
            "Networks": networks,
        })
    }

    /// The `Ports` of a `ps` entry.
    pub(crate) fn container_ports_list(&self, c: &ContainerRecord) -> Value {
        let mut out = Vec::new();
        let mut published_ports = HashSet::new();
        if c.is_running() {
            for p in &c.published {
                if let Ok((port, proto)) = split_port(&p.port) {
                    published_ports.insert(p.port.clone());
                    out.push(json!({"IP": p.host_ip, "PrivatePort": port, "PublicPort": p.host_port, "Type": proto}));
                }
            }
        }
        if let Some(exposed) = c.config["ExposedPorts"].as_object() {
            for k in exposed.keys() {
                if published_ports.contains(k) {
                    continue;
                }
                if let Ok((port, proto)) = split_port(k) {
                    out.push(json!({"PrivatePort": port, "Type": proto}));
                }
            }
        }
        json!(out)
    }
}

/// Deletes the interfaces `names` that exist, in the namespace pinned at `host` (or the
/// calling thread's).
fn delete_links(host: Option<&std::path::Path>, names: &[String]) {
    let work = || -> std::io::Result<()> {
        let mut nl = netlink::Netlink::new()?;
        for name in names {
            if let Some(i) = netlink::index(name) {
                match nl.delete_link(i) {
                    Err(e) if e.raw_os_error() != Some(libc::ENODEV) => return Err(e),
                    _ => {}
                }
            }
        }
        Ok(())
    };
    let r = match host {
        Some(p) => netns::run_in(p, work),
        None => work(),
    };
    if let Err(e) = r {
        tracing::warn!(error = %e, links = ?names, "deleting network interfaces");
    }
}

/// Docker's label filter: `key` or `key=value`, all must match.
fn labels_match(labels: &BTreeMap<String, String>, wanted: &[String]) -> bool {
    wanted.iter().all(|f| match f.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(f),
    })
}
