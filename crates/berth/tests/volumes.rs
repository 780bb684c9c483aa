//! Named and anonymous volumes end to end: `berth volume create|ls|inspect|rm|prune` with
//! Docker's output and errors, containers sharing data through a volume, read-only mounts,
//! anonymous volumes and `rm -v`, the in-use conflict, copy-up of image content, mount-option
//! (tmpfs) volumes, `system df -v`, a daemon restart, and the real docker CLI. The volume
//! commands alone run anywhere; the container tests need root and the busybox base image.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::{json, Value};

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

fn inspect(d: &Daemon, name: &str) -> Value {
    let out = d.ok(&["volume", "inspect", name]);
    let v: Value = serde_json::from_str(&out).expect("inspect json");
    v[0].clone()
}

/// Mount points under the daemon's temp dir (volumes with options, rootfs overlays).
fn mounts_under(d: &Daemon, sub: &str) -> Vec<String> {
    let prefix = d.root.join(sub).display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4).map(str::to_string))
        .filter(|m| m.starts_with(&prefix))
        .collect()
}

fn rm_all(d: &Daemon) {
    let (_, list) = d.api_json("GET", "/containers/json?all=1");
    for c in list.as_array().cloned().unwrap_or_default() {
        let id = c["Id"].as_str().unwrap_or_default();
        d.http("DELETE", &format!("/containers/{id}?force=1"), b"");
    }
}

#[test]
fn volume_commands_match_docker() {
    let d = Daemon::start();
    assert_eq!(d.ok(&["volume", "create", "data1"]), "data1\n");
    // Creating an existing name returns it, unchanged.
    assert_eq!(
        d.ok(&["volume", "create", "--label", "x=y", "data1"]),
        "data1\n"
    );
    let v = inspect(&d, "data1");
    assert_eq!(v["Name"], "data1");
    assert_eq!(v["Driver"], "local");
    assert_eq!(v["Scope"], "local");
    assert_eq!(v["Labels"], json!({}));
    let mountpoint = d.root.join("volumes/data1/_data");
    assert_eq!(v["Mountpoint"], mountpoint.display().to_string());
    assert!(mountpoint.is_dir());
    // RFC 3339 to the second, as Docker prints it: 2024-05-01T10:00:00Z (or an offset).
    let created = v["CreatedAt"].as_str().unwrap_or("").as_bytes().to_vec();
    assert!(
        created.len() >= 20
            && created[4] == b'-'
            && created[10] == b'T'
            && created[13] == b':'
            && matches!(created[19], b'Z' | b'+' | b'-'),
        "{v}"
    );
    assert!(v.get("UsageData").is_none(), "only system df reports usage");

    d.ok(&[
        "volume", "create", "--label", "tier=db", "--label", "keep", "data2",
    ]);
    let anon = d.ok(&["volume", "create"]).trim().to_string();
    assert_eq!(anon.len(), 64, "{anon}");
    assert!(anon.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(
        inspect(&d, "data2")["Labels"],
        json!({"tier": "db", "keep": ""})
    );

    let ls = d.ok(&["volume", "ls"]);
    assert_eq!(lines(&ls)[0], "DRIVER    VOLUME NAME");
    assert!(ls.contains("local     data1\n"), "{ls}");
    assert_eq!(lines(&d.ok(&["volume", "ls", "-q"])).len(), 3);
    assert_eq!(
        d.ok(&["volume", "ls", "-q", "--filter", "label=tier=db"]),
        "data2\n"
    );
    assert_eq!(
        d.ok(&["volume", "ls", "-q", "-f", "name=^data"]),
        "data1\ndata2\n"
    );
    assert_eq!(d.ok(&["volume", "ls", "-q", "-f", "name=ta2"]), "data2\n");
    assert_eq!(d.ok(&["volume", "ls", "-q", "-f", "driver=other"]), "");
    assert_eq!(
        lines(&d.ok(&["volume", "ls", "-q", "-f", "dangling=true"])).len(),
        3
    );
    assert_eq!(d.ok(&["volume", "ls", "-q", "-f", "dangling=false"]), "");
    assert!(d
        .fails(&["volume", "ls", "-f", "bogus=1"])
        .contains("invalid filter 'bogus'"));

    // Docker's errors, word for word.
    assert_eq!(
        d.fails(&["volume", "create", "a"]).trim(),
        "Error response from daemon: create a: volume name is too short, names should be at least two alphanumeric characters"
    );
    assert_eq!(
        d.fails(&["volume", "create", "a/b"]).trim(),
        "Error response from daemon: create a/b: \"a/b\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
    );
    assert_eq!(
        d.fails(&["volume", "create", "-o", "foo=bar", "zz"]).trim(),
        "Error response from daemon: create zz: invalid option: \"foo\""
    );
    assert_eq!(
        d.fails(&["volume", "create", "-o", "type=tmpfs", "zz"])
            .trim(),
        "Error response from daemon: create zz: missing required option: \"device\""
    );
    assert_eq!(
        d.fails(&["volume", "create", "-o", "size=10m", "zz"])
            .trim(),
        "Error response from daemon: create zz: quota size requested but no quota support"
    );
    assert_eq!(
        d.fails(&["volume", "create", "-d", "nope", "zz"]).trim(),
        "Error response from daemon: create zz: error looking up volume plugin nope: plugin \"nope\" not found"
    );
    assert_eq!(
        d.fails(&["volume", "inspect", "nope"]).trim(),
        "Error: No such volume: nope"
    );
    let (status, body) = d.api_json("GET", "/volumes/nope");
    assert_eq!(
        (status, body["message"].as_str()),
        (404, Some("get nope: no such volume"))
    );
    assert_eq!(
        d.fails(&["volume", "rm", "nope"]).trim(),
        "Error: No such volume: nope"
    );
    assert_eq!(d.ok(&["volume", "rm", "-f", "nope"]), "nope\n");

    // The API: 201 on create, an empty body makes an anonymous volume.
    let (status, _, body) = d.http("POST", "/volumes/create", b"");
    assert_eq!(status, 201);
    let created: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(created["Name"].as_str().map(str::len), Some(64));
    assert_eq!(created["Labels"], Value::Null);
    let (status, list) = d.api_json("GET", "/volumes");
    assert_eq!(status, 200);
    assert_eq!(list["Warnings"], Value::Null);
    assert_eq!(list["Volumes"].as_array().map(Vec::len), Some(4));

    // Prune: label filters narrow it; everything unused goes otherwise (API 1.41).
    let out = d.ok(&["volume", "prune", "-f", "--filter", "label=tier"]);
    assert_eq!(
        out,
        "Deleted Volumes:\ndata2\n\nTotal reclaimed space: 0B\n"
    );
    let out = d.ok(&["volume", "prune", "-f", "--filter", "label!=tier"]);
    assert!(out.starts_with("Deleted Volumes:\n"), "{out}");
    assert!(out.contains(&anon) && out.contains("data1\n"), "{out}");
    assert_eq!(d.ok(&["volume", "ls", "-q"]), "");
    assert_eq!(count_entries(&d.root.join("volumes")), 0);
    assert_eq!(
        d.ok(&["volume", "prune", "-f"]),
        "Total reclaimed space: 0B\n"
    );

    // Removal by name deletes the data directory.
    d.ok(&["volume", "create", "gone"]);
    std::fs::write(d.root.join("volumes/gone/_data/f"), b"x").expect("write");
    assert_eq!(d.ok(&["volume", "rm", "gone"]), "gone\n");
    assert!(!d.root.join("volumes/gone").exists());
}

#[test]
fn containers_share_data_through_a_named_volume() {
    let Some(d) = busybox_daemon() else { return };
    // A named volume that does not exist yet is created by the container.
    d.ok(&[
        "run",
        "--rm",
        "-v",
        "shared:/data",
        "busybox",
        "sh",
        "-c",
        "echo from-first > /data/note",
    ]);
    assert!(d.ok(&["volume", "ls", "-q"]).contains("shared\n"));
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "-v",
            "shared:/srv",
            "busybox",
            "cat",
            "/srv/note"
        ]),
        "from-first\n"
    );
    // `:ro` mounts it read-only; the data stays readable.
    let out = d.cli(&[
        "run",
        "--rm",
        "-v",
        "shared:/data:ro",
        "busybox",
        "sh",
        "-c",
        "cat /data/note; echo x > /data/other",
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from-first\n");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Read-only file system"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success());
    // --mount type=volume reaches the same data.
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "--mount",
            "type=volume,source=shared,target=/m,readonly",
            "busybox",
            "cat",
            "/m/note",
        ]),
        "from-first\n"
    );
    assert_eq!(
        std::fs::read_to_string(d.root.join("volumes/shared/_data/note")).expect("host copy"),
        "from-first\n"
    );

    // A volume any container references (running or not) cannot be removed, even with -f.
    let id = d
        .ok(&[
            "create",
            "--name",
            "holder",
            "-v",
            "shared:/data",
            "busybox",
            "true",
        ])
        .trim()
        .to_string();
    let want = format!("Error response from daemon: remove shared: volume is in use - [{id}]");
    assert_eq!(d.fails(&["volume", "rm", "shared"]).trim(), want);
    assert_eq!(d.fails(&["volume", "rm", "-f", "shared"]).trim(), want);
    let (status, _, _) = d.http("DELETE", "/volumes/shared", b"");
    assert_eq!(status, 409);
    assert_eq!(d.ok(&["volume", "ls", "-q", "-f", "dangling=true"]), "");
    // Prune leaves it too; once the container is gone, it can go.
    assert_eq!(
        d.ok(&["volume", "prune", "-f"]),
        "Total reclaimed space: 0B\n"
    );
    d.ok(&["rm", "holder"]);
    assert_eq!(d.ok(&["volume", "rm", "shared"]), "shared\n");
    assert!(!d.root.join("volumes/shared").exists());
    rm_all(&d);
}

#[test]
fn anonymous_volumes_and_rm_v() {
    let Some(d) = busybox_daemon() else { return };
    d.ok(&[
        "run",
        "--name",
        "keep",
        "-v",
        "/data",
        "busybox",
        "sh",
        "-c",
        "echo a > /data/f",
    ]);
    let inspect: Value = serde_json::from_str(&d.ok(&["inspect", "keep"])).expect("inspect json");
    let mounts = inspect[0]["Mounts"].as_array().cloned().unwrap_or_default();
    assert_eq!(mounts.len(), 1, "{mounts:?}");
    let m = &mounts[0];
    let name = m["Name"].as_str().expect("volume name").to_string();
    assert_eq!(name.len(), 64);
    assert_eq!(m["Type"], "volume");
    assert_eq!(m["Destination"], "/data");
    assert_eq!(m["Driver"], "local");
    assert_eq!(m["Mode"], "");
    assert_eq!(m["RW"], true);
    assert_eq!(m["Propagation"], "");
    assert_eq!(
        m["Source"],
        d.root
            .join(format!("volumes/{name}/_data"))
            .display()
            .to_string()
    );
    // Plain rm keeps the anonymous volume and its data.
    d.ok(&["rm", "keep"]);
    assert_eq!(d.ok(&["volume", "ls", "-q"]), format!("{name}\n"));
    assert_eq!(
        std::fs::read_to_string(d.root.join(format!("volumes/{name}/_data/f"))).expect("data"),
        "a\n"
    );
    d.ok(&["volume", "rm", &name]);

    // rm -v removes the anonymous volume, never the named one next to it.
    d.ok(&[
        "run", "--name", "drop", "-v", "/data", "-v", "named:/n", "busybox", "true",
    ]);
    assert_eq!(lines(&d.ok(&["volume", "ls", "-q"])).len(), 2);
    // ps --filter volume= matches a volume name or a mount's destination.
    for v in ["named", "/n", "/data"] {
        let f = format!("volume={v}");
        assert_eq!(
            d.ok(&["ps", "-a", "--filter", &f, "--format", "{{.Names}}"]),
            "drop\n",
            "{f}"
        );
    }
    assert_eq!(d.ok(&["ps", "-a", "--filter", "volume=other", "-q"]), "");
    d.ok(&["rm", "-v", "drop"]);
    assert_eq!(d.ok(&["volume", "ls", "-q"]), "named\n");

    // --rm removes the anonymous volumes of the container too.
    d.ok(&["run", "--rm", "-v", "/scratch", "busybox", "true"]);
    assert_eq!(d.ok(&["volume", "ls", "-q"]), "named\n");

    // An anonymous --mount and a destination-only Binds entry are anonymous volumes as well.
    let (status, _, body) = d.http(
        "POST",
        "/containers/create?name=apiuser",
        json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {
            "Binds": ["/b"], "Mounts": [{"Type": "volume", "Target": "/m"}]}})
        .to_string()
        .as_bytes(),
    );
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let (_, c) = d.api_json("GET", "/containers/apiuser/json");
    let modes: Vec<(String, String)> = c["Mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            (
                m["Destination"].as_str().unwrap_or("").to_string(),
                m["Mode"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        modes,
        vec![
            ("/b".to_string(), "z".to_string()),
            ("/m".to_string(), "z".to_string())
        ]
    );
    assert_eq!(lines(&d.ok(&["volume", "ls", "-q"])).len(), 3);
    let (status, _, _) = d.http("DELETE", "/containers/apiuser?v=1", b"");
    assert_eq!(status, 204);
    assert_eq!(d.ok(&["volume", "ls", "-q"]), "named\n");

    // Docker's create-time errors.
    assert!(d
        .fails(&["create", "-v", "v1:/x", "-v", "v2:/x", "busybox"])
        .contains("Duplicate mount point: /x"));
    assert!(d
        .fails(&["create", "-v", "vol:/x:rshared", "busybox"])
        .contains("invalid volume specification: 'vol:/x:rshared': invalid mount config for type \"volume\": field BindOptions must not be specified"));
    assert!(d
        .fails(&["create", "-v", "vol:/x:bogus", "busybox"])
        .contains("invalid mode: bogus"));
    assert!(d
        .fails(&[
            "create",
            "--mount",
            "type=volume,target=/x,readonly",
            "busybox"
        ])
        .contains("must not set ReadOnly mode when using anonymous volumes"));
    rm_all(&d);
}

#[test]
fn copy_up_fills_a_new_volume_once() {
    let Some(d) = busybox_daemon() else { return };
    // A new volume over the image's /etc starts with the image's files.
    let out = d.ok(&[
        "run",
        "--rm",
        "-v",
        "etcvol:/etc",
        "busybox",
        "sh",
        "-c",
        "grep ^root: /etc/passwd; cat /etc/hostname",
    ]);
    let out_lines = lines(&out);
    assert!(out_lines[0].starts_with("root:x:0:0:"), "{out}");
    // /etc/hostname is still the container's own file, mounted over the volume.
    assert_eq!(out_lines[1].len(), 12, "{out}");
    let host_passwd = d.root.join("volumes/etcvol/_data/passwd");
    assert!(std::fs::read_to_string(&host_passwd)
        .expect("passwd copied into the volume")
        .starts_with("root:x:0:0:"));
    // The volume keeps what containers write; a later container sees that, not the image's.
    d.ok(&[
        "run",
        "--rm",
        "-v",
        "etcvol:/etc",
        "busybox",
        "sh",
        "-c",
        "echo changed > /etc/passwd",
    ]);
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "-v",
            "etcvol:/etc",
            "busybox",
            "cat",
            "/etc/passwd"
        ]),
        "changed\n"
    );
    // A volume that already holds data is never overwritten.
    d.ok(&["volume", "create", "prefilled"]);
    std::fs::write(d.root.join("volumes/prefilled/_data/mine"), b"mine\n").expect("write");
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "-v",
            "prefilled:/etc",
            "busybox",
            "sh",
            "-c",
            "cat /etc/mine; ls /etc/passwd 2>/dev/null; true"
        ]),
        "mine\n"
    );
    // volume-nocopy (and :nocopy) leave a new volume without the image's files.
    d.ok(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,source=bare,target=/etc,volume-nocopy",
        "busybox",
        "true",
    ]);
    d.ok(&["run", "--rm", "-v", "bare2:/etc:nocopy", "busybox", "true"]);
    for v in ["bare", "bare2"] {
        let data = d.root.join(format!("volumes/{v}/_data"));
        assert!(data.is_dir());
        assert!(!data.join("passwd").exists(), "{v} got the image's files");
        assert!(!data.join("group").exists(), "{v} got the image's files");
    }
    rm_all(&d);
}

#[test]
fn disk_usage_inspect_and_restart() {
    let Some(d) = busybox_daemon() else { return };
    let mut d = d;
    d.ok(&[
        "run",
        "--name",
        "writer",
        "-v",
        "sized:/data",
        "-v",
        "/tmp:/host:ro",
        "busybox",
        "sh",
        "-c",
        "head -c 5000 /dev/zero > /data/blob",
    ]);
    d.ok(&["volume", "create", "idle"]);

    // docker inspect's Mounts: the bind and the volume, Docker's fields.
    let c: Value = serde_json::from_str(&d.ok(&["inspect", "writer"])).expect("json");
    let mounts = c[0]["Mounts"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        mounts,
        vec![
            json!({"Type": "volume", "Name": "sized",
                "Source": d.root.join("volumes/sized/_data").display().to_string(),
                "Destination": "/data", "Driver": "local", "Mode": "z", "RW": true,
                "Propagation": ""}),
            json!({"Type": "bind", "Source": "/tmp", "Destination": "/host", "Mode": "ro",
                "RW": false, "Propagation": "rprivate"}),
        ]
    );
    let (_, ps) = d.api_json("GET", "/containers/json?all=1");
    assert_eq!(ps[0]["Mounts"].as_array().map(Vec::len), Some(2));

    // system df: sizes and reference counts.
    let (_, df) = d.api_json("GET", "/system/df");
    let vols = df["Volumes"].as_array().cloned().unwrap_or_default();
    let usage = |n: &str| {
        vols.iter()
            .find(|v| v["Name"] == n)
            .map(|v| v["UsageData"].clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(usage("sized"), json!({"Size": 5000, "RefCount": 1}));
    assert_eq!(usage("idle"), json!({"Size": 0, "RefCount": 0}));
    let out = d.ok(&["system", "df", "-v"]);
    let section = out
        .split("Local Volumes space usage:")
        .nth(1)
        .expect("volumes section");
    assert!(section.contains("VOLUME NAME"), "{out}");
    let row = section
        .lines()
        .find(|l| l.starts_with("sized "))
        .expect("sized row");
    assert_eq!(
        row.split_whitespace().collect::<Vec<_>>(),
        ["sized", "1", "5kB"]
    );
    let summary = d.ok(&["system", "df"]);
    let vol_line = summary
        .lines()
        .find(|l| l.starts_with("Local Volumes"))
        .expect("summary row");
    assert_eq!(
        vol_line.split_whitespace().collect::<Vec<_>>()[2..5],
        ["2", "1", "5kB"]
    );

    // Volumes, their references and their data survive a daemon restart.
    d.restart();
    assert_eq!(d.ok(&["volume", "ls", "-q"]), "idle\nsized\n");
    assert_eq!(
        d.ok(&["run", "--rm", "-v", "sized:/d", "busybox", "wc", "-c", "/d/blob"])
            .trim(),
        "5000 /d/blob"
    );
    assert!(d
        .fails(&["volume", "rm", "sized"])
        .contains("volume is in use"));
    d.ok(&["rm", "writer"]);
    assert_eq!(d.ok(&["volume", "rm", "sized", "idle"]), "sized\nidle\n");
    rm_all(&d);
}

#[test]
fn tmpfs_volume_is_mounted_while_used() {
    let Some(d) = busybox_daemon() else { return };
    d.ok(&[
        "volume",
        "create",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "-o",
        "o=size=2m",
        "--label",
        "kind=scratch",
        "scratch",
    ]);
    let v = inspect(&d, "scratch");
    assert_eq!(
        v["Options"],
        json!({"type": "tmpfs", "device": "tmpfs", "o": "size=2m"})
    );
    assert!(
        mounts_under(&d, "volumes").is_empty(),
        "mounted before first use"
    );
    let long = d
        .ok(&[
            "run",
            "-d",
            "-v",
            "scratch:/s",
            "busybox",
            "sh",
            "-c",
            "echo kept > /s/f; sleep 300",
        ])
        .trim()
        .to_string();
    let data = d.root.join("volumes/scratch/_data").display().to_string();
    assert_eq!(mounts_under(&d, "volumes"), vec![data.clone()]);
    // A second user shares the same tmpfs while the first runs.
    let out = d.ok(&["run", "--rm", "-v", "scratch:/s", "busybox", "sh", "-c",
        "for i in 1 2 3 4 5 6 7 8 9 10; do [ -e /s/f ] && break; sleep 0.2; done; cat /s/f; df /s | tail -1"]);
    assert!(out.starts_with("kept\n"), "{out}");
    assert!(out.contains("tmpfs"), "{out}");
    assert_eq!(
        mounts_under(&d, "volumes"),
        vec![data],
        "still used by {long}"
    );
    // Not counted by df or pruned: its data does not live on this disk.
    let (_, df) = d.api_json("GET", "/system/df");
    assert!(df["Volumes"]
        .as_array()
        .is_some_and(|v| v.iter().all(|x| x["Name"] != "scratch")));
    d.ok(&["rm", "-f", &long]);
    assert!(
        mounts_under(&d, "volumes").is_empty(),
        "unmounted when the last user stopped"
    );
    assert_eq!(
        d.ok(&["volume", "prune", "-f"]),
        "Total reclaimed space: 0B\n"
    );
    assert_eq!(d.ok(&["volume", "rm", "scratch"]), "scratch\n");
    assert!(!Path::new(&d.root.join("volumes/scratch")).exists());

    // A bind-type volume shows a host directory; removing the volume never deletes through
    // the mount.
    let host = d.dir.path().join("hostdir");
    std::fs::create_dir(&host).expect("mkdir");
    let dev = format!("device={}", host.display());
    d.ok(&[
        "volume",
        "create",
        "-o",
        "type=none",
        "-o",
        &dev,
        "-o",
        "o=bind",
        "hostvol",
    ]);
    d.ok(&[
        "run",
        "--rm",
        "-v",
        "hostvol:/h",
        "busybox",
        "sh",
        "-c",
        "echo via-volume > /h/f",
    ]);
    assert_eq!(
        std::fs::read_to_string(host.join("f")).expect("written through the bind"),
        "via-volume\n"
    );
    assert!(mounts_under(&d, "volumes").is_empty());
    assert_eq!(d.ok(&["volume", "rm", "hostvol"]), "hostvol\n");
    assert!(
        host.join("f").exists(),
        "host data survives the volume's removal"
    );
    rm_all(&d);
}

#[test]
fn docker_cli_volume_commands() {
    let Some(docker) = ["/usr/bin/docker", "/usr/local/bin/docker"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        eprintln!("skipping: no docker CLI");
        return;
    };
    let d = Daemon::start();
    let config = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str]| {
        let out = Command::new(docker)
            .env("DOCKER_CONFIG", config.path())
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_API_VERSION")
            .arg("-H")
            .arg(d.host())
            .args(args)
            .output()
            .expect("run docker");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, out, err) = run(&["volume", "create", "--label", "a=b", "dockervol"]);
    assert!(ok, "{err}");
    assert_eq!(out, "dockervol\n");
    let (ok, out, err) = run(&["volume", "ls"]);
    assert!(ok, "{err}");
    assert_eq!(out, "DRIVER    VOLUME NAME\nlocal     dockervol\n");
    let (ok, out, _) = run(&[
        "volume",
        "inspect",
        "--format",
        "{{.Driver}} {{.Labels}} {{.Scope}}",
        "dockervol",
    ]);
    assert!(ok);
    assert_eq!(out, "local map[a:b] local\n");
    let (ok, _, err) = run(&["volume", "create", "x"]);
    assert!(!ok);
    assert!(err.contains("create x: volume name is too short"), "{err}");
    let (ok, out, err) = run(&["volume", "rm", "dockervol"]);
    assert!(ok, "{err}");
    assert_eq!(out, "dockervol\n");
    let (_, out, _) = run(&["volume", "ls", "-q"]);
    assert_eq!(out, "");
}

/// busybox plus a layer with `/data/seed` and `/data/sub/deep`, declaring `VOLUME /data`, as
/// a docker-archive tagged `volimg:1`.
fn image_with_volume(busybox: &Path) -> Vec<u8> {
    use std::io::Read;
    let mut files: std::collections::BTreeMap<String, Vec<u8>> = Default::default();
    let mut ar = tar::Archive::new(std::fs::File::open(busybox).expect("busybox tar"));
    for e in ar.entries().expect("entries") {
        let mut e = e.expect("entry");
        let path = e.path().expect("path").display().to_string();
        let mut buf = Vec::new();
        e.read_to_end(&mut buf).expect("read");
        files.insert(path, buf);
    }
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).expect("manifest");
    let cfg_path = manifest[0]["Config"].as_str().expect("config path");
    let mut config: Value = serde_json::from_slice(&files[cfg_path]).expect("config");
    let layer = layer_tar(&[
        Entry::Dir("data"),
        Entry::File("data/seed", b"seeded\n".to_vec(), 0o640),
        Entry::Dir("data/sub"),
        Entry::File("data/sub/deep", b"deep\n".to_vec(), 0o644),
    ]);
    config["config"]["Volumes"] = json!({"/data": {}});
    config["rootfs"]["diff_ids"]
        .as_array_mut()
        .expect("diff_ids")
        .push(json!(sha256(&layer)));
    config["history"]
        .as_array_mut()
        .expect("history")
        .push(json!({"created": "2024-01-02T00:00:00Z", "created_by": "VOLUME /data"}));
    let config = serde_json::to_vec(&config).expect("json");
    let mut layers: Vec<String> = manifest[0]["Layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| l.as_str().unwrap_or_default().to_string())
        .collect();
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, path, data).expect("append");
    };
    for l in &layers {
        add(l, &files[l]);
    }
    add("seed/layer.tar", &layer);
    layers.push("seed/layer.tar".into());
    let cfg_name = format!("{}.json", &sha256(&config)[7..]);
    add(&cfg_name, &config);
    let m = json!([{"Config": cfg_name, "RepoTags": ["volimg:1"], "Layers": layers}]);
    add("manifest.json", &serde_json::to_vec(&m).expect("json"));
    b.into_inner().expect("tar")
}

#[test]
fn image_volumes_become_anonymous_volumes_with_the_image_content() {
    let Some(d) = busybox_daemon() else { return };
    let busybox = base_image("busybox").expect("checked by setup");
    let out = d.load_bytes(&image_with_volume(&busybox));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = d
        .ok(&[
            "create",
            "--name",
            "img",
            "volimg:1",
            "sh",
            "-c",
            "cat /data/seed /data/sub/deep; echo more > /data/new",
        ])
        .trim()
        .to_string();
    let (_, c) = d.api_json("GET", "/containers/img/json");
    assert_eq!(c["Config"]["Volumes"], json!({"/data": {}}));
    let name = c["Mounts"][0]["Name"]
        .as_str()
        .expect("anonymous volume")
        .to_string();
    assert_eq!(c["Mounts"][0]["Destination"], "/data");
    assert_eq!(c["Mounts"][0]["Mode"], "");
    d.ok(&["start", &id]);
    assert_eq!(d.ok(&["wait", &id]).trim(), "0");
    assert_eq!(d.ok(&["logs", &id]), "seeded\ndeep\n");
    let data = d.root.join(format!("volumes/{name}/_data"));
    let seed = std::fs::symlink_metadata(data.join("seed")).expect("copied");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(seed.mode() & 0o777, 0o640);
    assert_eq!(std::fs::read(data.join("new")).expect("written"), b"more\n");
    // A bind or named volume on the same path replaces the image's volume.
    d.ok(&["run", "--rm", "-v", "named:/data", "volimg:1", "true"]);
    assert!(
        d.root.join("volumes/named/_data/seed").exists(),
        "copied up too"
    );
    // (hex names sort before "named")
    assert_eq!(d.ok(&["volume", "ls", "-q"]), format!("{name}\nnamed\n"));
    // --rm drops the image volume's anonymous volume with the container.
    d.ok(&["run", "--rm", "volimg:1", "true"]);
    assert_eq!(lines(&d.ok(&["volume", "ls", "-q"])).len(), 2);
    d.ok(&["rm", "-v", "img"]);
    assert_eq!(d.ok(&["volume", "ls", "-q"]), "named\n");
    rm_all(&d);
}
