//! `/version` and `/info`.

use serde_json::{json, Value};

use crate::{archive::host_arch, Engine, Result};

/// Newest API version served; requests for newer versions are refused as Docker does.
pub const API_VERSION: &str = "1.41";
/// Oldest API version accepted.
pub const MIN_API_VERSION: &str = "1.24";
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

fn kernel_version() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn os_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| "Linux".to_string())
}

/// "1", "2" — v2 when the unified hierarchy is mounted at /sys/fs/cgroup.
pub fn cgroup_version() -> &'static str {
    match nix::sys::statfs::statfs("/sys/fs/cgroup") {
        Ok(s) if s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC => "2",
        _ => "1",
    }
}

fn mem_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("MemTotal:")
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

impl Engine {
    pub fn version(&self) -> Value {
        let kernel = kernel_version();
        json!({
            "Platform": {"Name": "berth"},
            "Components": [{
                "Name": "Engine",
                "Version": VERSION,
                "Details": {
                    "ApiVersion": API_VERSION,
                    "MinAPIVersion": MIN_API_VERSION,
                    "Os": "linux",
                    "Arch": host_arch(),
                    "KernelVersion": kernel,
                    "GitCommit": option_env!("BERTH_GIT_COMMIT").unwrap_or(""),
                    "GoVersion": "",
                    "Experimental": "false",
                    "BuildTime": "",
                },
            }],
            "Version": VERSION,
            "ApiVersion": API_VERSION,
            "MinAPIVersion": MIN_API_VERSION,
            "GitCommit": option_env!("BERTH_GIT_COMMIT").unwrap_or(""),
            "GoVersion": "",
            "Os": "linux",
            "Arch": host_arch(),
            "KernelVersion": kernel,
            "BuildTime": "",
        })
    }

    pub fn info(&self) -> Result<Value> {
        let images = self.store.images()?.len();
        let hostname = nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default();
        let ncpu = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let cg = cgroup_version();
        Ok(json!({
            "ID": self.daemon_id(),
            "Containers": 0,
            "ContainersRunning": 0,
            "ContainersPaused": 0,
            "ContainersStopped": 0,
            "Images": images,
            "Driver": "overlay2",
            "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"], ["Native Overlay Diff", "true"]],
            "DockerRootDir": self.root().display().to_string(),
            "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "none"], "Authorization": null, "Log": ["json-file"]},
            "MemoryLimit": true,
            "SwapLimit": true,
            "KernelMemory": false,
            "CpuCfsPeriod": true,
            "CpuCfsQuota": true,
            "CPUShares": true,
            "CPUSet": true,
            "PidsLimit": true,
            "OomKillDisable": cg == "1",
            "IPv4Forwarding": true,
            "BridgeNfIptables": true,
            "BridgeNfIp6tables": true,
            "Debug": false,
            "NFd": count_fds(),
            "NGoroutines": 0,
            "SystemTime": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            "LoggingDriver": "json-file",
            "CgroupDriver": "cgroupfs",
            "CgroupVersion": cg,
            "NEventsListener": 0,
            "KernelVersion": kernel_version(),
            "OperatingSystem": os_name(),
            "OSVersion": "",
            "OSType": "linux",
            "Architecture": std::env::consts::ARCH,
            "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": {
                "AllowNondistributableArtifactsCIDRs": [],
                "AllowNondistributableArtifactsHostnames": [],
                "InsecureRegistryCIDRs": ["127.0.0.0/8"],
                "IndexConfigs": {"docker.io": {"Name": "docker.io", "Mirrors": [], "Secure": true, "Official": true}},
                "Mirrors": [],
            },
            "NCPU": ncpu,
            "MemTotal": mem_total(),
            "GenericResources": null,
            "HttpProxy": "",
            "HttpsProxy": "",
            "NoProxy": "",
            "Name": hostname,
            "Labels": [],
            "ExperimentalBuild": false,
            "ServerVersion": crate::system::VERSION,
            "Runtimes": {"berth": {"path": "berth"}},
            "DefaultRuntime": "berth",
            "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false, "Error": "", "RemoteManagers": null},
            "LiveRestoreEnabled": true,
            "Isolation": "",
            "InitBinary": "",
            "ContainerdCommit": {"ID": "", "Expected": ""},
            "RuncCommit": {"ID": "", "Expected": ""},
            "InitCommit": {"ID": "", "Expected": ""},
            "SecurityOptions": ["name=seccomp,profile=default"],
            "Warnings": null,
        }))
    }

    /// A stable daemon ID kept under the root.
    fn daemon_id(&self) -> String {
        let path = self.root().join("engine-id");
        if let Ok(id) = std::fs::read_to_string(&path) {
            return id.trim().to_string();
        }
        let id = berth_store::Digest::of(
            format!("{:?}{}", std::time::SystemTime::now(), std::process::id()).as_bytes(),
        )
        .hex()[..32]
            .to_string();
        let _ = std::fs::write(&path, &id);
        id
    }
}

fn count_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}
