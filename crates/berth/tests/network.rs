//! Networks end to end: each test daemon runs in a network namespace of its own (made by the
//! fixture), which plays the host: bridges, veths, NAT and DNAT rules are created there and
//! checked from there, so nothing touches the machine's own network.

mod common;

use std::process::{Command, Output};

use common::*;
use serde_json::Value;

/// `run -d FLAGS... busybox:latest httpd -f -p 80 -h /etc`: a web server on port 80 serving
/// `/etc`, with the given `run` flags.
fn httpd<'a>(flags: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["run", "-d"];
    args.extend_from_slice(flags);
    args.extend(["busybox:latest", "httpd", "-f", "-p", "80", "-h", "/etc"]);
    args
}

fn host_out(d: &Daemon, args: &[&str]) -> Output {
    d.host_cmd(args[0])
        .args(&args[1..])
        .output()
        .expect("run in the daemon's namespace")
}

fn host_ok(d: &Daemon, args: &[&str]) -> String {
    let out = host_out(d, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What the daemon's namespace holds that networking makes: links, firewall rules of berth's
/// chains, pinned namespaces.
fn leftovers(d: &Daemon) -> (Vec<String>, Vec<String>, usize) {
    let links: Vec<String> = host_ok(d, &["ip", "-br", "link"])
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(|s| s.split('@').next().unwrap_or(s).to_string())
        .collect();
    let rules: Vec<String> = host_ok(d, &["iptables-save"])
        .lines()
        .filter(|l| l.starts_with("-A BERTH"))
        .map(str::to_string)
        .collect();
    let netns = std::fs::read_dir(d.exec_root.join("netns"))
        .map(|r| r.count())
        .unwrap_or(0);
    (links, rules, netns)
}

/// `leftovers` once they equal `want`, or what they are after 10 s (veths are deleted in the
/// background once a container is gone).
fn settled(
    d: &Daemon,
    want: &(Vec<String>, Vec<String>, usize),
) -> (Vec<String>, Vec<String>, usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let now = leftovers(d);
        if &now == want || std::time::Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A TCP client run on the daemon's namespace: the body of `GET path` from `addr`.
fn host_get(d: &Daemon, url: &str) -> Output {
    host_out(d, &["curl", "-sf", "--max-time", "5", url])
}

#[test]
fn user_network_names_aliases_ports_and_cleanup() {
    let Some(d) = busybox_daemon() else { return };
    let id = d.ok(&["network", "create", "--label", "tier=web", "appnet"]);
    let id = id.trim();
    assert_eq!(id.len(), 64, "network create prints the ID: {id}");
    let before = leftovers(&d);
    assert!(
        before.0.iter().any(|l| l == &format!("br-{}", &id[..12])),
        "bridge created with the network: {:?}",
        before.0
    );

    d.ok(&httpd(&[
        "--name",
        "web",
        "--network",
        "appnet",
        "--network-alias",
        "www",
        "-p",
        "18080:80",
    ]));
    // By name, by alias and by short ID from another container on the network.
    let web_ip = d
        .ok(&[
            "inspect",
            "-f",
            "{{.NetworkSettings.Networks.appnet.IPAddress}}",
            "web",
        ])
        .trim()
        .to_string();
    assert!(
        web_ip.starts_with("172."),
        "address from the pool: {web_ip}"
    );
    let short = d.ok(&["inspect", "-f", "{{.Id}}", "web"]).trim()[..12].to_string();
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "appnet",
        "busybox:latest",
        "sh",
        "-c",
        &format!(
            "wget -qO- http://web/hostname && wget -qO- http://www/hostname && nslookup {short}"
        ),
    ]);
    assert_eq!(out.lines().next(), Some(short.as_str()), "{out}");
    assert_eq!(out.lines().nth(1), Some(short.as_str()), "{out}");
    assert!(out.contains(&web_ip), "short ID resolves: {out}");

    // The default bridge has no names, as Docker's.
    let out = d.cli(&["run", "--rm", "busybox:latest", "nslookup", "web"]);
    assert!(
        !out.status.success(),
        "web must not resolve on the default bridge"
    );

    // The published port from the "host", also through 127.0.0.1, and from a container on
    // another network through the host's address.
    let out = host_get(&d, "http://127.0.0.1:18080/hostname");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), short);
    let gw = d
        .ok(&[
            "network",
            "inspect",
            "-f",
            "{{(index .IPAM.Config 0).Gateway}}",
            "bridge",
        ])
        .trim()
        .to_string();
    let out = d.ok(&[
        "run",
        "--rm",
        "busybox:latest",
        "wget",
        "-qO-",
        &format!("http://{gw}:18080/hostname"),
    ]);
    assert_eq!(out.trim(), short);
    assert_eq!(d.ok(&["port", "web"]).trim(), "80/tcp -> 0.0.0.0:18080");
    let ps = d.ok(&["ps", "--format", "{{.Ports}}"]);
    assert_eq!(ps.trim(), "0.0.0.0:18080->80/tcp");

    // A taken host port: Docker's error, exit status 125, and nothing left of the attempt.
    let out = d.cli(&[
        "run",
        "--rm",
        "--network",
        "appnet",
        "-p",
        "18080:80",
        "busybox:latest",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("port is already allocated"), "{err}");

    // The network is in use; removing the container removes its veth and its rules.
    let err = d.fails(&["network", "rm", "appnet"]);
    assert!(err.contains("has active endpoints"), "{err}");
    d.ok(&["rm", "-f", "web"]);
    let after = settled(&d, &before);
    assert_eq!(after, before, "container removal leaves nothing behind");
    let inspect: Value =
        serde_json::from_str(&d.ok(&["network", "inspect", "appnet"])).expect("json");
    assert_eq!(inspect[0]["Containers"], serde_json::json!({}));
    assert_eq!(inspect[0]["Labels"]["tier"], "web");
    d.ok(&["network", "rm", "appnet"]);
    let links = leftovers(&d).0;
    assert!(
        !links.iter().any(|l| l.starts_with("br-")),
        "bridge removed with the network: {links:?}"
    );
}

#[test]
fn network_errors_and_predefined_networks() {
    let Some(d) = busybox_daemon() else { return };
    let ls = d.ok(&["network", "ls", "--format", "{{.Name}} {{.Driver}}"]);
    for want in ["bridge bridge", "host host", "none null"] {
        assert!(ls.lines().any(|l| l == want), "{want} in {ls}");
    }
    d.ok(&["network", "create", "--subnet", "10.77.0.0/16", "one"]);
    let err = d.fails(&["network", "create", "--subnet", "10.77.5.0/24", "two"]);
    assert!(
        err.contains("Pool overlaps with other one on this address space"),
        "{err}"
    );
    let err = d.fails(&["network", "create", "one"]);
    assert!(
        err.contains("network with name one already exists"),
        "{err}"
    );
    let err = d.fails(&["network", "rm", "bridge"]);
    assert!(
        err.contains("bridge is a pre-defined network and cannot be removed"),
        "{err}"
    );
    let err = d.fails(&[
        "network",
        "create",
        "--subnet",
        "10.78.0.0/16",
        "--gateway",
        "10.79.0.1",
        "three",
    ]);
    assert!(err.contains("gateway"), "{err}");
    let out = d.cli(&[
        "run",
        "--rm",
        "--network",
        "nosuchnet",
        "busybox:latest",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("network nosuchnet not found"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = d.cli(&["run", "--rm", "-p", "99999:80", "busybox:latest", "true"]);
    assert_eq!(out.status.code(), Some(125), "invalid port spec");

    // A static address, `--network none` and `--network host`.
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "one",
        "--ip",
        "10.77.0.99",
        "busybox:latest",
        "ip",
        "-4",
        "-o",
        "addr",
        "show",
        "eth0",
    ]);
    assert!(out.contains("10.77.0.99/16"), "{out}");
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox:latest",
        "ip",
        "-o",
        "link",
    ]);
    assert_eq!(out.lines().count(), 1, "only loopback: {out}");
    let host_links = host_ok(&d, &["ip", "-o", "link"]).lines().count();
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "busybox:latest",
        "ip",
        "-o",
        "link",
    ]);
    assert_eq!(out.lines().count(), host_links, "the host's links: {out}");

    // connect / disconnect on a running container.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "mover",
        "busybox:latest",
        "sleep",
        "60",
    ]);
    d.ok(&["network", "connect", "--alias", "mv", "one", "mover"]);
    let out = d.ok(&["exec", "mover", "ip", "-4", "-o", "addr"]);
    assert!(out.contains("eth1") && out.contains("10.77."), "{out}");
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "one",
        "busybox:latest",
        "nslookup",
        "mv",
    ]);
    assert!(out.contains("10.77."), "{out}");
    d.ok(&["network", "disconnect", "one", "mover"]);
    let out = d.ok(&["exec", "mover", "ip", "-4", "-o", "addr"]);
    assert!(!out.contains("eth1"), "{out}");
    d.ok(&["rm", "-f", "mover"]);

    let out = d.ok(&["network", "prune", "-f"]);
    assert!(out.contains("one"), "{out}");
    let ls = d.ok(&["network", "ls", "-q"]);
    assert_eq!(
        ls.lines().count(),
        3,
        "only the predefined networks remain: {ls}"
    );
}

/// An "outside" namespace joined to the daemon's by a veth pair, with a server that answers
/// each connection with the address it came from.
struct Outside {
    ns: std::path::PathBuf,
    server: std::process::Child,
}

impl Outside {
    fn new(d: &Daemon) -> Outside {
        let ns = d.dir.path().join("outside");
        std::fs::File::create(&ns).expect("file");
        assert!(Command::new("unshare")
            .arg(format!("--net={}", ns.display()))
            .arg("true")
            .status()
            .expect("unshare")
            .success());
        let nsarg = format!("--net={}", ns.display());
        host_ok(
            d,
            &[
                "ip", "link", "add", "up0", "type", "veth", "peer", "name", "up1",
            ],
        );
        host_ok(d, &["ip", "addr", "add", "198.18.0.1/24", "dev", "up0"]);
        host_ok(d, &["ip", "link", "set", "up0", "up"]);
        // Move up1 into the outside namespace through a process living there.
        let holder = Command::new("nsenter")
            .arg(&nsarg)
            .args(["sleep", "60"])
            .spawn()
            .expect("holder");
        // Its pid names the namespace only once nsenter has joined it.
        {
            use std::os::unix::fs::MetadataExt;
            let want = std::fs::metadata(&ns).expect("ns").ino();
            let joined = format!("/proc/{}/ns/net", holder.id());
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while std::fs::metadata(&joined).map(|m| m.ino()).ok() != Some(want) {
                assert!(std::time::Instant::now() < deadline, "holder never joined");
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
        host_ok(
            d,
            &[
                "ip",
                "link",
                "set",
                "up1",
                "netns",
                &holder.id().to_string(),
            ],
        );
        let in_out = |args: &[&str]| {
            let st = Command::new("nsenter")
                .arg(&nsarg)
                .args(args)
                .status()
                .expect("nsenter");
            assert!(st.success(), "{args:?}");
        };
        in_out(&["ip", "addr", "add", "198.18.0.2/24", "dev", "up1"]);
        in_out(&["ip", "link", "set", "up1", "up"]);
        in_out(&["ip", "link", "set", "lo", "up"]);
        let mut h = holder;
        let _ = h.kill();
        let _ = h.wait();
        let server = Command::new("nsenter")
            .arg(&nsarg)
            .args([
                "python3",
                "-c",
                "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('198.18.0.2',7000))\ns.listen()\nwhile True:\n c,a=s.accept()\n c.sendall(a[0].encode()+b'\\n')\n c.close()\n",
            ])
            .spawn()
            .expect("server");
        // Ready once its socket listens (`/proc/net/tcp` of that namespace, port 7000 = 1B58,
        // state 0A = LISTEN).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let tcp = Command::new("nsenter")
                .arg(&nsarg)
                .args(["cat", "/proc/net/tcp"])
                .output()
                .expect("nsenter cat");
            let listening = String::from_utf8_lossy(&tcp.stdout).lines().any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() > 3 && f[1].ends_with(":1B58") && f[3] == "0A"
            });
            if listening {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "outside server never listened"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Outside { ns, server }
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
        let _ = nix::mount::umount2(&self.ns, nix::mount::MntFlags::MNT_DETACH);
    }
}

#[test]
fn nat_to_the_outside_next_to_a_drop_forward_policy_and_internal_networks() {
    let Some(d) = busybox_daemon() else { return };
    // What dockerd does to a host: FORWARD policy DROP.
    host_ok(&d, &["iptables", "-P", "FORWARD", "DROP"]);
    let _outside = Outside::new(&d);
    // Masqueraded: the outside sees the host's address, not the container's.
    let out = d.ok(&["run", "--rm", "busybox:latest", "nc", "198.18.0.2", "7000"]);
    assert_eq!(out.trim(), "198.18.0.1");
    d.ok(&["network", "create", "ext"]);
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "ext",
        "busybox:latest",
        "nc",
        "198.18.0.2",
        "7000",
    ]);
    assert_eq!(out.trim(), "198.18.0.1");
    // An internal network reaches its peers but not the outside.
    d.ok(&["network", "create", "--internal", "inner"]);
    d.ok(&httpd(&["--name", "peer", "--network", "inner"]));
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "inner",
        "busybox:latest",
        "wget",
        "-qO-",
        "http://peer/hostname",
    ]);
    assert!(!out.trim().is_empty());
    let out = d.cli(&[
        "run",
        "--rm",
        "--network",
        "inner",
        "busybox:latest",
        "nc",
        "-w",
        "2",
        "198.18.0.2",
        "7000",
    ]);
    assert!(
        String::from_utf8_lossy(&out.stdout).trim().is_empty(),
        "an internal network must not reach the outside"
    );
}

#[test]
fn daemon_restart_keeps_addresses_names_and_ports() {
    let Some(mut d) = busybox_daemon() else {
        return;
    };
    d.ok(&["network", "create", "keep"]);
    d.ok(&httpd(&[
        "--name",
        "srv",
        "--network",
        "keep",
        "-p",
        "127.0.0.1:18081:80",
    ]));
    let ip = d.ok(&[
        "inspect",
        "-f",
        "{{.NetworkSettings.Networks.keep.IPAddress}}",
        "srv",
    ]);
    let rules_before = leftovers(&d).1;
    d.kill9();
    d.spawn();
    let out = host_get(&d, "http://127.0.0.1:18081/hostname");
    assert!(
        out.status.success(),
        "published port after a daemon restart"
    );
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{.NetworkSettings.Networks.keep.IPAddress}}",
            "srv"
        ]),
        ip
    );
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "keep",
        "busybox:latest",
        "nslookup",
        "srv",
    ]);
    assert!(out.contains(ip.trim()), "{out}");
    // A new container gets another address, not the one still in use.
    let other = d.ok(&[
        "run",
        "--rm",
        "--network",
        "keep",
        "busybox:latest",
        "ip",
        "-4",
        "-o",
        "addr",
        "show",
        "eth0",
    ]);
    assert!(!other.contains(&format!("{}/", ip.trim())), "{other}");
    assert_eq!(
        leftovers(&d).1,
        rules_before,
        "rules rebuilt, not duplicated"
    );
    d.ok(&["rm", "-f", "srv"]);
    assert!(
        !leftovers(&d).1.iter().any(|r| r.contains("18081")),
        "the port's rules go with the container"
    );
}

#[test]
fn hundred_cycles_leave_nothing_behind() {
    let Some(d) = busybox_daemon() else { return };
    d.ok(&["network", "create", "cyc"]);
    // Warm-up: the first run creates the default bridge's state.
    d.ok(&["run", "--rm", "--network", "cyc", "busybox:latest", "true"]);
    let before = leftovers(&d);
    for i in 0..100 {
        let name = format!("c{i}");
        let net = if i % 2 == 0 { "cyc" } else { "bridge" };
        d.ok(&[
            "create",
            "--name",
            &name,
            "--network",
            net,
            "-p",
            "80",
            "busybox:latest",
            "true",
        ]);
        d.ok(&["start", "-a", &name]);
        d.ok(&["rm", &name]);
    }
    assert_eq!(settled(&d, &before), before);
    let inspect: Value = serde_json::from_str(&d.ok(&["network", "inspect", "cyc"])).expect("json");
    assert_eq!(
        inspect[0]["Containers"],
        serde_json::json!({}),
        "no DNS entry left"
    );
}

#[test]
fn docker_cli_network_commands_dns_options_and_ports() {
    let Some(d) = busybox_daemon() else { return };
    let Some(bin) = ["/usr/local/bin/docker", "/usr/bin/docker"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        eprintln!("skipped: no docker CLI");
        return;
    };
    let config = tempfile::tempdir().expect("tempdir");
    let docker = |args: &[&str]| -> String {
        let out = Command::new(bin)
            .env("DOCKER_HOST", d.host())
            .env("DOCKER_CONFIG", config.path())
            .env_remove("DOCKER_CONTEXT")
            .args(args)
            .output()
            .expect("docker");
        assert!(
            out.status.success(),
            "docker {args:?}: {}\ndaemon: {}",
            String::from_utf8_lossy(&out.stderr),
            d.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    docker(&[
        "network",
        "create",
        "--subnet",
        "10.66.5.0/24",
        "--gateway",
        "10.66.5.254",
        "dn",
    ]);
    assert!(docker(&["network", "ls", "--format", "{{.Name}}"])
        .lines()
        .any(|l| l == "dn"));
    docker(&httpd(&[
        "--name",
        "dweb",
        "--network",
        "dn",
        "-p",
        "18082:80",
    ]));
    assert_eq!(docker(&["port", "dweb"]).trim(), "80/tcp -> 0.0.0.0:18082");
    let short = docker(&["inspect", "-f", "{{.Id}}", "dweb"]).trim()[..12].to_string();
    let out = host_get(&d, "http://127.0.0.1:18082/hostname");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), short);
    let addrs = docker(&[
        "network",
        "inspect",
        "dn",
        "-f",
        "{{range .Containers}}{{.IPv4Address}}{{end}}",
    ]);
    assert_eq!(
        addrs.trim(),
        "10.66.5.1/24",
        "first address of the subnet, gateway skipped"
    );
    // --dns, --add-host (also host-gateway) and the container's own name in /etc/hosts.
    let files = docker(&[
        "run",
        "--rm",
        "--network",
        "dn",
        "--hostname",
        "probe",
        "--dns",
        "9.9.9.9",
        "--dns-search",
        "example.test",
        "--add-host",
        "foo:1.2.3.4",
        "--add-host",
        "gw:host-gateway",
        "busybox:latest",
        "cat",
        "/etc/resolv.conf",
        "/etc/hosts",
    ]);
    assert!(files.contains("nameserver 9.9.9.9\n"), "{files}");
    assert!(files.contains("search example.test\n"), "{files}");
    assert!(files.contains("1.2.3.4\tfoo\n"), "{files}");
    let gw = d
        .ok(&[
            "network",
            "inspect",
            "-f",
            "{{(index .IPAM.Config 0).Gateway}}",
            "bridge",
        ])
        .trim()
        .to_string();
    assert!(files.contains(&format!("{gw}\tgw\n")), "{files}");
    assert!(files.contains("10.66.5.2\tprobe\n"), "{files}");
    docker(&["network", "disconnect", "dn", "dweb"]);
    assert_eq!(
        docker(&["network", "inspect", "dn", "-f", "{{len .Containers}}"]).trim(),
        "0"
    );
    docker(&["rm", "-f", "dweb"]);
    docker(&["network", "rm", "dn"]);
}

#[test]
fn container_mode_publish_all_udp_and_forwarded_names() {
    let Some(d) = busybox_daemon() else { return };
    d.ok(&["network", "create", "modes"]);
    d.ok(&httpd(&[
        "--name",
        "owner",
        "--network",
        "modes",
        "-P",
        "--expose",
        "80",
        "-p",
        "15353:53/udp",
    ]));
    // -P: a host port the kernel picked, reachable like any other.
    let port = d.ok(&["port", "owner", "80/tcp"]);
    let port = port
        .trim()
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(port.parse::<u16>().is_ok_and(|p| p > 0), "{port}");
    let short = d.ok(&["inspect", "-f", "{{.Id}}", "owner"]).trim()[..12].to_string();
    let out = host_get(&d, &format!("http://127.0.0.1:{port}/hostname"));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), short);
    // UDP: the port is held and DNATed as udp.
    assert_eq!(d.ok(&["port", "owner", "53/udp"]).trim(), "0.0.0.0:15353");
    let rules = leftovers(&d).1;
    assert!(
        rules
            .iter()
            .any(|r| r.contains("-p udp -m udp --dport 15353 -j DNAT")),
        "{rules:?}"
    );
    // container:<id> shares the owner's namespace: same address, its server on localhost.
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "container:owner",
        "busybox:latest",
        "wget",
        "-qO-",
        "http://127.0.0.1/hostname",
    ]);
    assert_eq!(out.trim(), short);
    // Names the network does not know go to the host's resolvers (skipped when the machine
    // itself resolves nothing).
    if std::net::ToSocketAddrs::to_socket_addrs(&("deb.debian.org", 80)).is_ok() {
        let out = d.ok(&[
            "run",
            "--rm",
            "--network",
            "modes",
            "busybox:latest",
            "nslookup",
            "deb.debian.org",
        ]);
        assert!(out.contains("Address"), "{out}");
    }
    d.ok(&["rm", "-f", "owner"]);
}

#[test]
fn rules_of_containers_that_exited_while_the_daemon_was_down_are_removed() {
    let Some(mut d) = busybox_daemon() else {
        return;
    };
    d.ok(&httpd(&["--name", "gone", "-p", "18083:80"]));
    let pid: i32 = d
        .ok(&["inspect", "-f", "{{.State.Pid}}", "gone"])
        .trim()
        .parse()
        .expect("pid");
    assert!(leftovers(&d).1.iter().any(|r| r.contains("18083")));
    d.kill9();
    // SAFETY: kill(2) on the container's init, a process this test started through the daemon.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    d.spawn();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while leftovers(&d).1.iter().any(|r| r.contains("18083")) {
        assert!(
            std::time::Instant::now() < deadline,
            "the exited container's rules stay"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Status}}", "gone"]).trim(),
        "exited"
    );
    // Its port is free again.
    d.ok(&httpd(&["--name", "next", "-p", "18083:80"]));
    d.ok(&["rm", "-f", "gone", "next"]);
}
