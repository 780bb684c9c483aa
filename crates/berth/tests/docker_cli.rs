//! The real docker CLI (every client found: /usr/local/bin/docker and Debian's /usr/bin/docker)
//! against berth's socket for the image commands. Skips, with a message, when no client exists.

mod common;

use std::process::{Command, Output};

use common::*;
use serde_json::Value;

fn clients() -> Vec<&'static str> {
    ["/usr/local/bin/docker", "/usr/bin/docker"]
        .into_iter()
        .filter(|p| std::path::Path::new(p).exists())
        .collect()
}

struct Docker<'a> {
    bin: &'a str,
    d: &'a Daemon,
    config: tempfile::TempDir,
}

impl Docker<'_> {
    fn run(&self, args: &[&str]) -> Output {
        Command::new(self.bin)
            .env("DOCKER_HOST", self.d.host())
            .env("DOCKER_CONFIG", self.config.path())
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_API_VERSION")
            .args(args)
            .output()
            .expect("run docker")
    }
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{} {args:?} failed: {}\n{}\ndaemon: {}",
            self.bin,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.d.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

fn sample_image() -> TestImage {
    let base = layer_tar(&[
        Entry::Dir("bin"),
        Entry::File("bin/hello", payload(11, 120_000), 0o755),
        Entry::File("etc-release", b"berth\n".to_vec(), 0o644),
    ]);
    let app = layer_tar(&[Entry::File("app.bin", payload(12, 30_000), 0o644)]);
    TestImage::new(vec![base, app], &["dockercli:1"])
}

#[test]
fn docker_cli_image_commands() {
    let found = clients();
    if found.is_empty() {
        eprintln!("skipped: no docker CLI installed");
        return;
    }
    for bin in found {
        let d = Daemon::start();
        let docker = Docker {
            bin,
            d: &d,
            config: tempfile::tempdir().unwrap(),
        };
        let version = docker.ok(&[
            "version",
            "--format",
            "{{.Server.APIVersion}} {{.Server.Os}}",
        ]);
        assert_eq!(version.trim(), "1.41 linux", "{bin}");

        // load: a generated two-layer image, and the project's busybox base image if built.
        let img = sample_image();
        let tar = d.dir.path().join("img.tar");
        std::fs::write(&tar, docker_archive(&[&img])).unwrap();
        let out = docker.ok(&["load", "-i", tar.to_str().unwrap()]);
        assert!(out.contains("Loaded image: dockercli:1"), "{bin}: {out}");
        if let Some(bb) = base_image("busybox") {
            let out = docker.ok(&["load", "-i", bb.to_str().unwrap()]);
            assert!(out.contains("Loaded image: busybox:latest"), "{bin}: {out}");
        }

        let images = docker.ok(&[
            "images",
            "--format",
            "{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}",
        ]);
        let line = images
            .lines()
            .find(|l| l.starts_with("dockercli:1 "))
            .unwrap_or_else(|| panic!("{bin}: {images}"));
        assert!(line.contains(&img.id()[7..19]), "{bin}: {line}");
        assert!(line.ends_with("150kB"), "{bin}: {line}");

        let inspect: Value =
            serde_json::from_str(&docker.ok(&["image", "inspect", "dockercli:1"])).unwrap();
        assert_eq!(inspect[0]["Id"], img.id().as_str());
        assert_eq!(
            inspect[0]["RootFS"]["Layers"].as_array().map(Vec::len),
            Some(2)
        );
        assert_eq!(
            docker
                .ok(&["image", "inspect", "-f", "{{.Config.Cmd}}", "dockercli:1"])
                .trim(),
            "[sh]"
        );

        let hist = docker.ok(&["history", "--no-trunc", "dockercli:1"]);
        assert!(
            hist.contains("step 1") && hist.contains("30kB"),
            "{bin}: {hist}"
        );

        docker.ok(&["tag", "dockercli:1", "dockercli:copy"]);
        let tags = docker.ok(&[
            "image",
            "inspect",
            "-f",
            "{{json .RepoTags}}",
            "dockercli:1",
        ]);
        assert_eq!(tags.trim(), r#"["dockercli:1","dockercli:copy"]"#);

        let saved = d.dir.path().join("saved.tar");
        docker.ok(&["save", "-o", saved.to_str().unwrap(), "dockercli:1"]);
        assert!(std::fs::metadata(&saved).unwrap().len() > 150_000);

        let rootfs = d.dir.path().join("rootfs.tar");
        std::fs::write(&rootfs, &img.layers[0]).unwrap();
        let id = docker.ok(&[
            "import",
            "-c",
            "CMD [\"/bin/hello\"]",
            rootfs.to_str().unwrap(),
            "fromdocker:imp",
        ]);
        assert!(id.trim().starts_with("sha256:"), "{bin}: {id}");
        assert_eq!(
            docker
                .ok(&[
                    "image",
                    "inspect",
                    "-f",
                    "{{json .Config.Cmd}}",
                    "fromdocker:imp"
                ])
                .trim(),
            r#"["/bin/hello"]"#
        );

        let df = docker.ok(&["system", "df", "-v"]);
        assert!(
            df.contains("dockercli") && df.contains("fromdocker"),
            "{bin}: {df}"
        );
        // The imported image shares no layer (different chain), so its row shows 0B shared.
        assert!(df.contains("Images space usage"), "{bin}: {df}");

        let out = docker.ok(&["rmi", "dockercli:copy"]);
        assert!(out.contains("Untagged: dockercli:copy"), "{bin}: {out}");
        let out = docker.ok(&["rmi", "dockercli:1"]);
        assert!(
            out.contains(&format!("Deleted: {}", img.id())),
            "{bin}: {out}"
        );
        let out = docker.run(&["rmi", "dockercli:1"]);
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("No such image: dockercli:1"),
            "{bin}"
        );
        // Reload what docker saved: the same ID comes back.
        let out = docker.ok(&["load", "-i", saved.to_str().unwrap()]);
        assert!(out.contains("Loaded image: dockercli:1"), "{bin}: {out}");
        assert_eq!(
            docker
                .ok(&["image", "inspect", "-f", "{{.Id}}", "dockercli:1"])
                .trim(),
            img.id()
        );
    }
}
