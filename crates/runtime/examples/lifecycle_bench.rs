//! create → start → wait → delete of `true`, berth-runtime vs `runc run`, on the same bundle.
//!
//! Usage (root): `lifecycle_bench [--runs N] [--image busybox.tar] [--runc PATH] [--no-seccomp]`
//!
//! Extracts the busybox image into a temp rootfs, writes one bundle (berth's spec builder, so both
//! runtimes get the same seccomp profile, mounts and cgroups), then alternates the two runtimes
//! N times after two warm-up rounds and prints the medians.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio as PStdio};
use std::time::{Duration, Instant};

use berth_runtime::spec::{ContainerConfig, ImageConfig};
use berth_runtime::{build_spec, host, run, Runtime, SpecInput, Stdio};

type Error = Box<dyn std::error::Error>;

fn tar_member(archive: &Path, member: &str) -> Result<Vec<u8>, Error> {
    let out = Command::new("tar")
        .arg("-xOf")
        .arg(archive)
        .arg(member)
        .output()?;
    if !out.status.success() {
        return Err(format!("tar -xOf {member} failed").into());
    }
    Ok(out.stdout)
}

fn extract_image(archive: &Path, rootfs: &Path) -> Result<ImageConfig, Error> {
    let manifest: serde_json::Value =
        serde_json::from_slice(&tar_member(archive, "manifest.json")?)?;
    let config_path = manifest[0]["Config"]
        .as_str()
        .ok_or("no Config in manifest")?;
    let config: serde_json::Value = serde_json::from_slice(&tar_member(archive, config_path)?)?;
    std::fs::create_dir_all(rootfs)?;
    for layer in manifest[0]["Layers"].as_array().ok_or("no Layers")? {
        let layer = layer.as_str().ok_or("bad layer")?;
        let tmp = rootfs.with_extension("layer.tar");
        std::fs::write(&tmp, tar_member(archive, layer)?)?;
        let st = Command::new("tar")
            .arg("-xf")
            .arg(&tmp)
            .arg("-C")
            .arg(rootfs)
            .status()?;
        std::fs::remove_file(&tmp)?;
        if !st.success() {
            return Err("extracting layer failed".into());
        }
    }
    Ok(serde_json::from_value(config["config"].clone())?)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn null() -> Result<std::os::fd::OwnedFd, Error> {
    Ok(std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?
        .into())
}

/// Total time plus the four phases (create, start, wait, delete).
fn berth_once(rt: &Runtime, id: &str, bundle: &Path) -> Result<(Duration, [Duration; 4]), Error> {
    let stdio = Stdio::Fds {
        stdin: Some(null()?),
        stdout: Some(null()?),
        stderr: Some(null()?),
    };
    let t = Instant::now();
    let h = rt.create(id, bundle, stdio)?;
    let t1 = Instant::now();
    rt.start(id)?;
    let t2 = Instant::now();
    let st = h.wait()?;
    let t3 = Instant::now();
    rt.delete(id, false)?;
    let t4 = Instant::now();
    if st.code() != Some(0) {
        return Err(format!("berth: `true` exited with {st:?}").into());
    }
    Ok((t4 - t, [t1 - t, t2 - t1, t3 - t2, t4 - t3]))
}

fn runc_once(runc: &str, root: &Path, id: &str, bundle: &Path) -> Result<Duration, Error> {
    let t = Instant::now();
    let st = Command::new(runc)
        .arg("--root")
        .arg(root)
        .args(["run", "--bundle"])
        .arg(bundle)
        .arg(id)
        .stdin(PStdio::null())
        .stdout(PStdio::null())
        .stderr(PStdio::inherit())
        .status()?;
    let d = t.elapsed();
    if !st.success() {
        return Err(format!("runc run exited with {st}").into());
    }
    Ok(d)
}

fn main() -> Result<(), Error> {
    let mut runs = 20usize;
    let mut image = PathBuf::from("/var/lib/berth-images/busybox.tar");
    let mut runc = "runc".to_string();
    let mut seccomp = true;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => runs = args.next().ok_or("--runs N")?.parse()?,
            "--image" => image = args.next().ok_or("--image PATH")?.into(),
            "--runc" => runc = args.next().ok_or("--runc PATH")?,
            "--no-seccomp" => seccomp = false,
            _ => return Err(format!("unknown argument {a}").into()),
        }
    }
    let dir = tempfile::Builder::new().prefix("berth-bench-").tempdir()?;
    let rootfs = dir.path().join("rootfs");
    let image_config = extract_image(&image, &rootfs)?;
    let mut spec = build_spec(&SpecInput {
        id: "bench".into(),
        rootfs: rootfs.clone(),
        image: image_config,
        config: ContainerConfig {
            cmd: Some(vec!["true".into()]),
            ..Default::default()
        },
        host: host::detect(),
        cgroup_parent: Some("/berth-bench".into()),
        ..Default::default()
    })?;
    if !seccomp {
        if let Some(linux) = spec.linux_mut().as_mut() {
            linux.set_seccomp(None);
        }
    }
    let bundle = dir.path().join("bundle");
    std::fs::create_dir(&bundle)?;
    run::write_config(&bundle, &spec)?;
    let rt = Runtime::new(&dir.path().join("berth-state"))?;
    let runc_root = dir.path().join("runc-state");

    let (mut b, mut r) = (Vec::new(), Vec::new());
    let mut phases: [Vec<Duration>; 4] = Default::default();
    for i in 0..runs + 2 {
        let (tb, ph) = berth_once(&rt, &format!("berth{i}"), &bundle)?;
        let tr = runc_once(&runc, &runc_root, &format!("runc{i}"), &bundle)?;
        if i >= 2 {
            b.push(tb);
            r.push(tr);
            for (all, p) in phases.iter_mut().zip(ph) {
                all.push(p);
            }
        }
    }
    for d in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        let _ = std::fs::remove_dir(d.path().join("berth-bench"));
    }
    let (mb, mr) = (median(b.clone()), median(r.clone()));
    println!(
        "create→start→wait→delete of `true`, {runs} runs each, same bundle and rootfs (seccomp {})",
        if seccomp { "on" } else { "off" }
    );
    println!(
        "berth-runtime (libcontainer): median {:.1} ms  (min {:.1}, max {:.1})",
        ms(mb),
        ms(*b.iter().min().ok_or("no runs")?),
        ms(*b.iter().max().ok_or("no runs")?)
    );
    println!(
        "runc run:                     median {:.1} ms  (min {:.1}, max {:.1})",
        ms(mr),
        ms(*r.iter().min().ok_or("no runs")?),
        ms(*r.iter().max().ok_or("no runs")?)
    );
    println!(
        "ratio berth/runc: {:.2}",
        mb.as_secs_f64() / mr.as_secs_f64()
    );
    let [c, s, w, d] = phases.map(median);
    println!(
        "berth phases (medians): create {:.1} ms, start {:.1} ms, wait {:.1} ms, delete {:.1} ms",
        ms(c),
        ms(s),
        ms(w),
        ms(d)
    );
    Ok(())
}
