//! Container records through the API: create with Docker's validation and errors, list,
//! inspect, rename, remove, prune, image-in-use conflicts, and persistence across a restart.

mod common;

use common::*;
use serde_json::{json, Value};

fn load_sample(d: &Daemon) -> TestImage {
    let img = TestImage::new(
        vec![layer_tar(&[Entry::File(
            "bin/sh",
            b"#!fake\n".to_vec(),
            0o755,
        )])],
        &["box:1"],
    );
    let out = d.load_bytes(&docker_archive(&[&img]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    img
}

fn post_json(d: &Daemon, path: &str, body: &Value) -> (u16, Value) {
    let (status, _, resp) = d.http("POST", path, body.to_string().as_bytes());
    (status, serde_json::from_slice(&resp).unwrap_or(Value::Null))
}

#[test]
fn create_validates_like_docker() {
    let d = Daemon::start();
    let img = load_sample(&d);

    let (status, v) = post_json(
        &d,
        "/v1.41/containers/create?name=web",
        &json!({"Image": "box:1", "Env": ["X=1"], "Labels": {"tier": "front"}}),
    );
    assert_eq!(status, 201, "{v}");
    let id = v["Id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 64);

    let (status, c) = d.api_json("GET", "/v1.41/containers/web/json");
    assert_eq!(status, 200);
    assert_eq!(c["Id"], id.as_str());
    assert_eq!(c["Name"], "/web");
    assert_eq!(c["Image"], img.id().as_str());
    assert_eq!(c["State"]["Status"], "created");
    assert_eq!(c["Path"], "sh", "the image's Cmd");
    assert_eq!(c["Config"]["Env"], json!(["PATH=/bin", "X=1"]));
    assert_eq!(c["Config"]["Hostname"], &id[..12]);
    assert_eq!(c["HostConfig"]["RestartPolicy"]["Name"], "no");
    // Short-ID lookup.
    assert_eq!(
        d.api_json("GET", &format!("/containers/{}/json", &id[..6]))
            .1["Id"],
        id.as_str()
    );

    let (status, v) = post_json(
        &d,
        "/containers/create?name=web",
        &json!({"Image": "box:1"}),
    );
    assert_eq!(status, 409);
    assert_eq!(v["message"], format!("Conflict. The container name \"/web\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name."));
    let (status, v) = post_json(&d, "/containers/create", &json!({"Image": "nosuch"}));
    assert_eq!(status, 404);
    assert_eq!(v["message"], "No such image: nosuch:latest");
    let (status, v) = post_json(
        &d,
        "/containers/create?name=-bad",
        &json!({"Image": "box:1"}),
    );
    assert_eq!(status, 400);
    assert_eq!(
        v["message"],
        "Invalid container name (-bad), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
    );
    let (status, v) = post_json(
        &d,
        "/containers/create",
        &json!({"Image": "box:1", "Entrypoint": [""], "Cmd": []}),
    );
    assert_eq!(status, 400);
    assert_eq!(v["message"], "No command specified");
    let (status, v) = post_json(
        &d,
        "/containers/create",
        &json!({"Image": "box:1", "HostConfig": {"Memory": 1000}}),
    );
    assert_eq!(status, 400);
    assert_eq!(v["message"], "Minimum memory limit allowed is 6MB");
    let (status, v) = post_json(
        &d,
        "/containers/create",
        &json!({"Image": "box:1", "HostConfig": {"RestartPolicy": {"Name": "sometimes"}}}),
    );
    assert_eq!(status, 400);
    assert_eq!(v["message"], "invalid restart policy 'sometimes'");
    let (status, _) = d.api_json("GET", "/containers/nosuch/json");
    assert_eq!(status, 404);

    // Only the valid request made a container.
    let (_, list) = d.api_json("GET", "/containers/json?all=1");
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(list[0]["Names"], json!(["/web"]));
    assert_eq!(list[0]["Status"], "Created");
    assert_eq!(list[0]["Labels"], json!({"tier": "front"}));
    // Not running: hidden without all=1.
    let (_, running) = d.api_json("GET", "/containers/json");
    assert_eq!(running, json!([]));
}

#[test]
fn rename_remove_prune_and_image_conflicts() {
    let mut d = Daemon::start();
    let img = load_sample(&d);
    let (_, a) = post_json(&d, "/containers/create?name=aa", &json!({"Image": "box:1"}));
    let (status, b) = post_json(
        &d,
        "/containers/create",
        &json!({"Image": img.id(), "Labels": {"keep": "yes"}}),
    );
    assert_eq!(status, 201, "{b}");
    let a_id = a["Id"].as_str().unwrap().to_string();
    let b_id = b["Id"].as_str().unwrap().to_string();
    let b_name = d.api_json("GET", &format!("/containers/{b_id}/json")).1["Name"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        b_name.starts_with('/') && b_name.contains('_'),
        "generated name {b_name}"
    );

    // The image is in use: removing its last tag or its ID is refused.
    let err = d.fails(&["rmi", "box:1"]);
    assert!(err.contains(&format!("conflict: unable to remove repository reference \"box:1\" (must force) - container {} is using its referenced image {}", &a_id[..12], &img.id()[7..19])) || err.contains(&format!("container {} is using", &b_id[..12])), "{err}");
    let err = d.fails(&["rmi", &img.id()]);
    assert!(
        err.contains("(must be forced) - image is being used by stopped container"),
        "{err}"
    );
    // prune -a skips it.
    d.ok(&["image", "prune", "-a", "-f"]);
    assert_eq!(d.ok(&["images", "-q"]).trim(), &img.id()[7..19]);

    let (status, _, _) = d.http("POST", "/containers/aa/rename?name=renamed", b"");
    assert_eq!(status, 204);
    let (status, v) = d.api_json("POST", &format!("/containers/{b_id}/rename?name=renamed"));
    assert_eq!(status, 409, "{v}");
    assert_eq!(
        d.api_json("GET", "/containers/renamed/json").1["Id"],
        a_id.as_str()
    );

    // Records survive a daemon restart.
    d.restart();
    let (_, list) = d.api_json("GET", "/containers/json?all=1");
    assert_eq!(list.as_array().map(Vec::len), Some(2));
    let (status, _, _) = d.http("DELETE", "/containers/renamed", b"");
    assert_eq!(status, 204);
    assert!(
        !d.root.join("containers").join(&a_id).exists(),
        "container dir removed"
    );
    let (status, v) = d.api_json("DELETE", "/containers/renamed");
    assert_eq!(status, 404);
    assert_eq!(v["message"], "No such container: renamed");

    let filters = "%7B%22label!%22%3A%5B%22keep%22%5D%7D";
    let (_, pruned) = d.api_json("POST", &format!("/containers/prune?filters={filters}"));
    assert_eq!(pruned["ContainersDeleted"], Value::Null, "label! keeps b");
    let (_, pruned) = d.api_json("POST", "/containers/prune");
    assert_eq!(pruned["ContainersDeleted"], json!([b_id]));
    // With no container left the image can go.
    let out = d.ok(&["rmi", "box:1"]);
    assert!(out.contains(&format!("Deleted: {}", img.id())), "{out}");
}
