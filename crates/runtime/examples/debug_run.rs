//! Runs one container with verbose libcontainer logs: `debug_run ROOTFS CMD...`.
use std::path::PathBuf;

use berth_runtime::spec::{ContainerConfig, ImageConfig};
use berth_runtime::{build_spec, host, Runtime, SpecInput, Stdio};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter("debug")
        .with_writer(std::io::stderr)
        .init();
    let mut args = std::env::args().skip(1);
    let rootfs = PathBuf::from(args.next().ok_or("usage: debug_run ROOTFS CMD...")?);
    let cmd: Vec<String> = args.collect();
    let state = tempfile::tempdir()?;
    let rt = Runtime::new(state.path())?;
    let id = format!("dbg-{}", std::process::id());
    let spec = build_spec(&SpecInput {
        id: id.clone(),
        rootfs,
        image: ImageConfig {
            env: Some(vec![format!("PATH={}", berth_runtime::spec::DEFAULT_PATH)]),
            ..Default::default()
        },
        config: ContainerConfig {
            cmd: Some(cmd),
            ..Default::default()
        },
        host: host::detect(),
        cgroup_parent: Some("/berth-debug".into()),
        ..Default::default()
    })?;
    if let Some(arches) = std::env::var_os("ARCHES") {
        let mut spec = spec.clone();
        let list: Vec<berth_runtime::oci_spec::runtime::Arch> = arches
            .to_string_lossy()
            .split(',')
            .filter_map(|a| serde_json::from_value(serde_json::Value::String(a.to_string())).ok())
            .collect();
        if let Some(s) = spec
            .linux_mut()
            .as_mut()
            .and_then(|l| l.seccomp_mut().as_mut())
        {
            s.set_architectures(Some(list));
        }
        return go(&rt, &id, &spec);
    }
    if std::env::var_os("NO_SECCOMP").is_some() {
        let mut spec = spec.clone();
        if let Some(l) = spec.linux_mut().as_mut() {
            l.set_seccomp(None);
        }
        return go(&rt, &id, &spec);
    }
    go(&rt, &id, &spec)
}

fn go(
    rt: &Runtime,
    id: &str,
    spec: &berth_runtime::oci_spec::runtime::Spec,
) -> Result<(), Box<dyn std::error::Error>> {
    let bundle = rt.write_bundle(id, spec)?;
    let h = rt.create(id, &bundle, Stdio::Inherit);
    let h = match h {
        Ok(h) => h,
        Err(e) => {
            let _ = rt.delete(id, true);
            return Err(e.into());
        }
    };
    rt.start(id)?;
    let st = h.wait()?;
    eprintln!(
        "status: {st:?} code={:?} signal={:?}",
        st.code(),
        st.signal()
    );
    rt.delete(id, true)?;
    for d in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        let _ = std::fs::remove_dir(d.path().join("berth-debug"));
    }
    Ok(())
}
