//! Packet filter rules of bridge networks: masquerading to the outside, forwarding to and from
//! bridges, and DNAT of published ports.
//!
//! The rules go through `iptables-restore` (the nf_tables backend on current Debian), not a
//! separate nftables table: a packet must pass every base chain of the forward hook, and dockerd
//! sets the `filter FORWARD` policy to DROP. An accept in a table of berth's own would not stop
//! that drop; an accept inside `FORWARD` does, which is how Podman coexists with dockerd too.
//!
//! berth owns four chains (`BERTH-FORWARD` in filter, `BERTH-POSTROUTING` and `BERTH-DNAT` in
//! nat) and rewrites them whole, atomically, from the daemon's state on every change; the only
//! rules outside them are the jumps from the built-in chains.

use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use super::ipam::Subnet;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeRules {
    pub bridge: String,
    pub subnet: Subnet,
    pub internal: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRule {
    pub proto: String,
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub bridge: String,
    pub ip: Ipv4Addr,
    pub port: u16,
}

const JUMPS: &[(&str, &str, &str)] = &[
    ("filter", "FORWARD", "-j BERTH-FORWARD"),
    ("nat", "POSTROUTING", "-j BERTH-POSTROUTING"),
    (
        "nat",
        "PREROUTING",
        "-m addrtype --dst-type LOCAL -j BERTH-DNAT",
    ),
    (
        "nat",
        "OUTPUT",
        "-m addrtype --dst-type LOCAL -j BERTH-DNAT",
    ),
];

/// The `iptables-restore --noflush` input for the whole state: declaring a chain flushes it.
pub fn render(bridges: &[BridgeRules], ports: &[PortRule]) -> String {
    let mut f = String::from("*filter\n:BERTH-FORWARD - [0:0]\n");
    for b in bridges {
        let br = &b.bridge;
        if b.internal {
            let _ = writeln!(f, "-A BERTH-FORWARD -i {br} ! -o {br} -j DROP");
            let _ = writeln!(f, "-A BERTH-FORWARD -o {br} ! -i {br} -j DROP");
        } else {
            let _ = writeln!(
                f,
                "-A BERTH-FORWARD -o {br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
            );
            let _ = writeln!(f, "-A BERTH-FORWARD -i {br} ! -o {br} -j ACCEPT");
        }
        let _ = writeln!(f, "-A BERTH-FORWARD -i {br} -o {br} -j ACCEPT");
    }
    for p in ports {
        let _ = writeln!(
            f,
            "-A BERTH-FORWARD -d {}/32 ! -i {br} -o {br} -p {proto} -m {proto} --dport {} -j ACCEPT",
            p.ip,
            p.port,
            br = p.bridge,
            proto = p.proto
        );
    }
    f.push_str("COMMIT\n*nat\n:BERTH-POSTROUTING - [0:0]\n:BERTH-DNAT - [0:0]\n");
    for b in bridges.iter().filter(|b| !b.internal) {
        let _ = writeln!(
            f,
            "-A BERTH-POSTROUTING -s {} ! -o {} -j MASQUERADE",
            b.subnet, b.bridge
        );
        // Published ports reached through 127.0.0.1 (route_localnet is on for the bridge).
        let _ = writeln!(
            f,
            "-A BERTH-POSTROUTING -s 127.0.0.0/8 -o {} -j MASQUERADE",
            b.bridge
        );
    }
    for p in ports {
        // Hairpin: a container reaching its own published port.
        let _ = writeln!(
            f,
            "-A BERTH-POSTROUTING -s {ip}/32 -d {ip}/32 -p {proto} -m {proto} --dport {port} -j MASQUERADE",
            ip = p.ip,
            proto = p.proto,
            port = p.port
        );
        let dst = p
            .host_ip
            .map(|ip| format!("-d {ip}/32 "))
            .unwrap_or_default();
        let _ = writeln!(
            f,
            "-A BERTH-DNAT {dst}-p {proto} -m {proto} --dport {hp} -j DNAT --to-destination {ip}:{port}",
            proto = p.proto,
            hp = p.host_port,
            ip = p.ip,
            port = p.port
        );
    }
    f.push_str("COMMIT\n");
    f
}

/// Runs a command in the network namespace pinned at `netns` (or the daemon's).
fn run_in(netns: Option<&Path>, mut cmd: Command) -> io::Result<std::process::Child> {
    let ns = netns.map(std::fs::File::open).transpose()?;
    if let Some(ns) = &ns {
        let fd = ns.as_raw_fd();
        // SAFETY: setns(2) on a descriptor the parent keeps open until spawn returns; the
        // closure makes only that async-signal-safe system call.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNET) < 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let program = cmd.get_program().to_string_lossy().into_owned();
    cmd.spawn().map_err(|e| {
        let hint = if e.kind() == io::ErrorKind::NotFound {
            " (bridge networks need the iptables tools, package `iptables`; its nf_tables \
             backend is what berth writes through)"
        } else {
            ""
        };
        io::Error::new(e.kind(), format!("running {program}: {e}{hint}"))
    })
}

fn iptables(netns: Option<&Path>, args: &[&str]) -> io::Result<std::process::Output> {
    let mut cmd = Command::new("iptables");
    cmd.arg("-w")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    run_in(netns, cmd)?.wait_with_output()
}

/// Rewrites berth's chains (in the namespace pinned at `netns`, or the daemon's) to exactly
/// `bridges` and `ports` and makes sure the built-in chains jump to them.
pub fn apply(netns: Option<&Path>, bridges: &[BridgeRules], ports: &[PortRule]) -> io::Result<()> {
    let rules = render(bridges, ports);
    let mut cmd = Command::new("iptables-restore");
    cmd.args(["-w", "--noflush"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = run_in(netns, cmd)?;
    child
        .stdin
        .take()
        .ok_or_else(|| io::Error::other("iptables-restore stdin"))?
        .write_all(rules.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "iptables-restore: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    for (table, chain, rule) in JUMPS {
        let rule: Vec<&str> = rule.split(' ').collect();
        let mut check = vec!["-t", table, "-C", chain];
        check.extend(&rule);
        if iptables(netns, &check)?.status.success() {
            continue;
        }
        let mut insert = vec!["-t", table, "-I", chain, "1"];
        insert.extend(&rule);
        let out = iptables(netns, &insert)?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "iptables {}: {}",
                insert.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
    }
    Ok(())
}

/// Writes `1` to a sysctl under `/proc/sys/net` of the daemon's namespace.
pub fn enable_sysctl(path: &str) -> io::Result<()> {
    let p = format!("/proc/sys/net/{path}");
    if std::fs::read_to_string(&p).is_ok_and(|v| v.trim() == "1") {
        return Ok(());
    }
    std::fs::write(&p, "1").map_err(|e| io::Error::new(e.kind(), format!("writing {p}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_firewall_tool_is_named_with_its_package() {
        let e = run_in(None, Command::new("berth-test-no-such-iptables")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        let msg = e.to_string();
        assert!(msg.contains("berth-test-no-such-iptables"), "{msg}");
        assert!(msg.contains("package `iptables`"), "{msg}");
    }

    #[test]
    fn rules_for_a_bridge_and_a_port() {
        let bridges = [
            BridgeRules {
                bridge: "br-a".into(),
                subnet: Subnet::parse("172.18.0.0/16").unwrap(),
                internal: false,
            },
            BridgeRules {
                bridge: "br-i".into(),
                subnet: Subnet::parse("172.19.0.0/16").unwrap(),
                internal: true,
            },
        ];
        let ports = [PortRule {
            proto: "tcp".into(),
            host_ip: Some(Ipv4Addr::LOCALHOST),
            host_port: 8080,
            bridge: "br-a".into(),
            ip: Ipv4Addr::new(172, 18, 0, 2),
            port: 80,
        }];
        let r = render(&bridges, &ports);
        assert!(r.contains("-A BERTH-POSTROUTING -s 172.18.0.0/16 ! -o br-a -j MASQUERADE"));
        assert!(
            !r.contains("-s 172.19.0.0/16"),
            "internal networks are not masqueraded"
        );
        assert!(r.contains("-A BERTH-FORWARD -i br-i ! -o br-i -j DROP"));
        assert!(r.contains(
            "-A BERTH-DNAT -d 127.0.0.1/32 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.18.0.2:80"
        ));
        assert!(r.contains("-A BERTH-FORWARD -d 172.18.0.2/32 ! -i br-a -o br-a -p tcp -m tcp --dport 80 -j ACCEPT"));
        assert_eq!(r.matches("COMMIT").count(), 2);
    }
}
