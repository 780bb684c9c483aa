//! `berth update [OPTIONS] CONTAINER...`: POST /containers/{id}/update with new resource limits
//! or restart policy.

use std::io::Write;

use clap::Args;
use serde_json::{json, Value as Json};

use super::container_path;
use super::opts::{parse_cpus, parse_restart_policy, ram_in_bytes};
use crate::client::Request;
use crate::commands::{Ctx, StatusError};

#[derive(Debug, Clone, Args)]
pub struct UpdateArgs {
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)
    #[arg(long = "blkio-weight", value_name = "uint16")]
    pub blkio_weight: Option<u16>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period", value_name = "int")]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", value_name = "int", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// Limit the CPU real-time period in microseconds
    #[arg(long = "cpu-rt-period", value_name = "int")]
    pub cpu_rt_period: Option<i64>,
    /// Limit the CPU real-time runtime in microseconds
    #[arg(long = "cpu-rt-runtime", value_name = "int")]
    pub cpu_rt_runtime: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares", value_name = "int")]
    pub cpu_shares: Option<i64>,
    /// Number of CPUs
    #[arg(long = "cpus", value_name = "decimal")]
    pub cpus: Option<String>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus", value_name = "string")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems", value_name = "string")]
    pub cpuset_mems: Option<String>,
    /// Kernel memory limit
    #[arg(long = "kernel-memory", value_name = "bytes")]
    pub kernel_memory: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long = "memory", value_name = "bytes")]
    pub memory: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation", value_name = "bytes")]
    pub memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap", value_name = "bytes", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", value_name = "int", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long = "restart", value_name = "string")]
    pub restart: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

fn flag_error(value: &str, flag: &str, reason: String) -> anyhow::Error {
    StatusError::new(
        125,
        format!(
            "invalid argument \"{value}\" for \"{flag}\" flag: {reason}\nSee 'berth update --help'."
        ),
    )
    .into()
}

fn bytes(v: &Option<String>, flag: &str) -> anyhow::Result<i64> {
    match v {
        Some(s) => ram_in_bytes(s).map_err(|e| flag_error(s, flag, e)),
        None => Ok(0),
    }
}

/// The update body (Docker's `UpdateConfig`: every resource field, then the restart policy).
pub fn update_body(args: &UpdateArgs) -> anyhow::Result<Json> {
    let given = args.blkio_weight.is_some()
        || args.cpu_period.is_some()
        || args.cpu_quota.is_some()
        || args.cpu_rt_period.is_some()
        || args.cpu_rt_runtime.is_some()
        || args.cpu_shares.is_some()
        || args.cpus.is_some()
        || args.cpuset_cpus.is_some()
        || args.cpuset_mems.is_some()
        || args.kernel_memory.is_some()
        || args.memory.is_some()
        || args.memory_reservation.is_some()
        || args.memory_swap.is_some()
        || args.pids_limit.is_some()
        || args.restart.is_some();
    if !given {
        anyhow::bail!("you must provide one or more flags when using this command");
    }
    let nano_cpus = match &args.cpus {
        Some(s) => parse_cpus(s).map_err(|e| flag_error(s, "--cpus", e))?,
        None => 0,
    };
    let memory_swap = match &args.memory_swap {
        Some(s) if s == "-1" => -1,
        other => bytes(other, "--memory-swap")?,
    };
    let (name, count) = match args.restart.as_deref().filter(|r| !r.is_empty()) {
        Some(r) => parse_restart_policy(r).map_err(anyhow::Error::msg)?,
        None => (String::new(), 0),
    };
    Ok(json!({
        "CpuShares": args.cpu_shares.unwrap_or(0),
        "Memory": bytes(&args.memory, "-m, --memory")?,
        "NanoCpus": nano_cpus,
        "CgroupParent": "",
        "BlkioWeight": args.blkio_weight.unwrap_or(0),
        "BlkioWeightDevice": null,
        "BlkioDeviceReadBps": null,
        "BlkioDeviceWriteBps": null,
        "BlkioDeviceReadIOps": null,
        "BlkioDeviceWriteIOps": null,
        "CpuPeriod": args.cpu_period.unwrap_or(0),
        "CpuQuota": args.cpu_quota.unwrap_or(0),
        "CpuRealtimePeriod": args.cpu_rt_period.unwrap_or(0),
        "CpuRealtimeRuntime": args.cpu_rt_runtime.unwrap_or(0),
        "CpusetCpus": args.cpuset_cpus.clone().unwrap_or_default(),
        "CpusetMems": args.cpuset_mems.clone().unwrap_or_default(),
        "Devices": null,
        "DeviceCgroupRules": null,
        "DeviceRequests": null,
        "KernelMemory": bytes(&args.kernel_memory, "--kernel-memory")?,
        "KernelMemoryTCP": 0,
        "MemoryReservation": bytes(&args.memory_reservation, "--memory-reservation")?,
        "MemorySwap": memory_swap,
        "MemorySwappiness": null,
        "OomKillDisable": null,
        "PidsLimit": args.pids_limit.filter(|p| *p != 0),
        "Ulimits": null,
        "CpuCount": 0,
        "CpuPercent": 0,
        "IOMaximumIOps": 0,
        "IOMaximumBandwidth": 0,
        "RestartPolicy": {"Name": name, "MaximumRetryCount": count},
    }))
}

pub async fn run(ctx: &mut Ctx, args: UpdateArgs) -> anyhow::Result<()> {
    let body = update_body(&args)?;
    let mut warnings = Vec::new();
    let mut errors = Vec::new();
    for name in &args.containers {
        let req = Request::post(container_path(name, "/update")).json_body(&body);
        match ctx.client.json(req).await {
            Ok(resp) => {
                writeln!(ctx.streams.out, "{name}")?;
                for w in resp
                    .get("Warnings")
                    .and_then(Json::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                {
                    warnings.push(w.as_str().unwrap_or("").to_string());
                }
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    if !warnings.is_empty() {
        writeln!(ctx.streams.out, "{}", warnings.join("\n"))?;
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(StatusError::new(1, errors.join("\n")).into())
    }
}
