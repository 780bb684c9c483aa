//! The API over TCP requires mutual TLS: with certificates it serves, without a client
//! certificate the handshake fails.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn make_certs(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca-key.pem",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=berth-test-ca",
        ],
    );
    for (name, ext) in [
        (
            "server",
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth",
        ),
        ("client", "extendedKeyUsage=clientAuth"),
    ] {
        std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                &format!("{name}-key.pem"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &format!("/CN={name}"),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca-key.pem",
                "-CAcreateserial",
                "-out",
                &format!("{name}.pem"),
                "-days",
                "2",
                "-extfile",
                &format!("{name}.ext"),
            ],
        );
    }
}

#[test]
fn tcp_with_mutual_tls() {
    let certs = tempfile::tempdir().unwrap();
    make_certs(certs.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = |f: &str| certs.path().join(f).to_str().unwrap().to_string();
    let tcp = format!("tcp://127.0.0.1:{port}");
    let d = Daemon::start_with(&[
        "-H",
        &tcp,
        "--tlsverify",
        "--tlscacert",
        &c("ca.pem"),
        "--tlscert",
        &c("server.pem"),
        "--tlskey",
        &c("server-key.pem"),
    ]);
    let url = format!("https://127.0.0.1:{port}/_ping");
    let ok = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "--cacert",
            &c("ca.pem"),
            "--cert",
            &c("client.pem"),
            "--key",
            &c("client-key.pem"),
            &url,
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout),
        "OK",
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // No client certificate: refused.
    let refused = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert", &c("ca.pem"), &url])
        .output()
        .unwrap();
    assert!(
        !refused.status.success() || refused.stdout.is_empty(),
        "served without a client cert"
    );
    // The berth CLI speaks TLS with the same flags as docker.
    let out = Command::new(BIN)
        .args([
            "-H",
            &tcp,
            "--tlsverify",
            "--tlscacert",
            &c("ca.pem"),
            "--tlscert",
            &c("client.pem"),
            "--tlskey",
            &c("client-key.pem"),
            "version",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1.41"));
    drop(d);
}
