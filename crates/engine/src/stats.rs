//! `GET /containers/{id}/stats`: one sample of a container's resource use, read from its cgroups
//! (v1, v2 or hybrid) and its network namespace, in Docker's `StatsJSON` shape. The API layer
//! samples repeatedly and fills `precpu_stats` from the previous sample.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::ops::cgroup_dirs;
use crate::{Engine, Result};

/// Docker's zero time, used for `read`/`preread` of a sample that was not taken.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn read(dir: &Path, file: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(file)).ok()
}

fn read_u64(dir: &Path, file: &str) -> Option<u64> {
    read(dir, file)?.trim().parse().ok()
}

/// `key value` lines (memory.stat, cpu.stat, cpuacct.stat).
fn kv(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

fn clk_tck() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

fn online_cpus() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    n.max(1) as u64
}

/// The host's total CPU time in nanoseconds (`/proc/stat`), as Docker's `system_cpu_usage`.
fn system_cpu_usage() -> u64 {
    let Ok(text) = std::fs::read_to_string("/proc/stat") else {
        return 0;
    };
    let ticks: u64 = text
        .lines()
        .find(|l| l.starts_with("cpu "))
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .take(8)
                .filter_map(|v| v.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    ticks * (1_000_000_000 / clk_tck())
}

fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// Interfaces of the process's network namespace except `lo`, from `/proc/PID/net/dev`.
fn networks(pid: i64) -> Option<Value> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).ok()?;
    let mut nets = Map::new();
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name == "lo" {
            continue;
        }
        let v: Vec<u64> = rest
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if v.len() < 12 {
            continue;
        }
        nets.insert(
            name.to_string(),
            json!({
                "rx_bytes": v[0], "rx_packets": v[1], "rx_errors": v[2], "rx_dropped": v[3],
                "tx_bytes": v[8], "tx_packets": v[9], "tx_errors": v[10], "tx_dropped": v[11],
            }),
        );
    }
    (!nets.is_empty()).then_some(Value::Object(nets))
}

/// One `StatsJSON` sample of a process tree's cgroups; `precpu_stats` and `preread` empty.
pub fn sample(pid: i64, id: &str, name: &str) -> Value {
    let dirs = cgroup_dirs(pid);
    let dir = |c: &str| dirs.iter().find(|(k, _)| k == c).map(|(_, d)| d.clone());
    // On a hybrid host the unified hierarchy exists but the controllers are on v1: use v2 only
    // when no v1 controller holds the process.
    let has_v1 = dirs
        .iter()
        .any(|(c, _)| !c.is_empty() && !c.starts_with("name="));
    let v2 = if has_v1 { None } else { dir("") };

    let mut cpu_usage = json!({
        "total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0,
    });
    let mut throttling = json!({"periods": 0, "throttled_periods": 0, "throttled_time": 0});
    let mut memory = json!({});
    let mut pids = json!({});
    let mut blkio: Vec<Value> = Vec::new();

    if let Some(d) = &v2 {
        let s = kv(&read(d, "cpu.stat").unwrap_or_default());
        let g = |k: &str| s.get(k).copied().unwrap_or(0);
        cpu_usage = json!({
            "total_usage": g("usage_usec") * 1000,
            "usage_in_kernelmode": g("system_usec") * 1000,
            "usage_in_usermode": g("user_usec") * 1000,
        });
        throttling = json!({
            "periods": g("nr_periods"),
            "throttled_periods": g("nr_throttled"),
            "throttled_time": g("throttled_usec") * 1000,
        });
        let limit = read(d, "memory.max")
            .and_then(|t| t.trim().parse::<u64>().ok())
            .unwrap_or_else(host_memory);
        memory = json!({
            "usage": read_u64(d, "memory.current").unwrap_or(0),
            "stats": kv(&read(d, "memory.stat").unwrap_or_default()),
            "limit": limit,
        });
        pids = json!({
            "current": read_u64(d, "pids.current").unwrap_or(0),
            "limit": read(d, "pids.max").and_then(|t| t.trim().parse::<u64>().ok()),
        });
        for line in read(d, "io.stat").unwrap_or_default().lines() {
            let mut it = line.split_whitespace();
            let Some((major, minor)) = it.next().and_then(|dev| dev.split_once(':')) else {
                continue;
            };
            for field in it {
                let Some((k, v)) = field.split_once('=') else {
                    continue;
                };
                let op = match k {
                    "rbytes" => "read",
                    "wbytes" => "write",
                    _ => continue,
                };
                blkio.push(json!({
                    "major": major.parse::<u64>().unwrap_or(0),
                    "minor": minor.parse::<u64>().unwrap_or(0),
                    "op": op,
                    "value": v.parse::<u64>().unwrap_or(0),
                }));
            }
        }
    } else {
        if let Some(d) = dir("cpuacct") {
            let tick_ns = 1_000_000_000 / clk_tck();
            let s = kv(&read(&d, "cpuacct.stat").unwrap_or_default());
            let percpu: Vec<u64> = read(&d, "cpuacct.usage_percpu")
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect();
            cpu_usage = json!({
                "total_usage": read_u64(&d, "cpuacct.usage").unwrap_or(0),
                "percpu_usage": percpu,
                "usage_in_kernelmode": s.get("system").copied().unwrap_or(0) * tick_ns,
                "usage_in_usermode": s.get("user").copied().unwrap_or(0) * tick_ns,
            });
        }
        if let Some(d) = dir("cpu") {
            let s = kv(&read(&d, "cpu.stat").unwrap_or_default());
            let g = |k: &str| s.get(k).copied().unwrap_or(0);
            throttling = json!({
                "periods": g("nr_periods"),
                "throttled_periods": g("nr_throttled"),
                "throttled_time": g("throttled_time"),
            });
        }
        if let Some(d) = dir("memory") {
            let host = host_memory();
            let limit = read_u64(&d, "memory.limit_in_bytes")
                .filter(|l| *l < host)
                .unwrap_or(host);
            memory = json!({
                "usage": read_u64(&d, "memory.usage_in_bytes").unwrap_or(0),
                "max_usage": read_u64(&d, "memory.max_usage_in_bytes").unwrap_or(0),
                "failcnt": read_u64(&d, "memory.failcnt").unwrap_or(0),
                "stats": kv(&read(&d, "memory.stat").unwrap_or_default()),
                "limit": limit,
            });
        }
        if let Some(d) = dir("pids") {
            pids = json!({
                "current": read_u64(&d, "pids.current").unwrap_or(0),
                "limit": read(&d, "pids.max").and_then(|t| t.trim().parse::<u64>().ok()),
            });
        }
        if let Some(d) = dir("blkio") {
            let text = read(&d, "blkio.throttle.io_service_bytes_recursive").unwrap_or_default();
            for line in text.lines() {
                let f: Vec<&str> = line.split_whitespace().collect();
                let [dev, op, value] = f[..] else { continue };
                let Some((major, minor)) = dev.split_once(':') else {
                    continue;
                };
                blkio.push(json!({
                    "major": major.parse::<u64>().unwrap_or(0),
                    "minor": minor.parse::<u64>().unwrap_or(0),
                    "op": op,
                    "value": value.parse::<u64>().unwrap_or(0),
                }));
            }
        }
    }
    let mut v = json!({
        "read": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        "preread": ZERO_TIME,
        "pids_stats": pids,
        "blkio_stats": {
            "io_service_bytes_recursive": blkio,
            "io_serviced_recursive": null, "io_queue_recursive": null,
            "io_service_time_recursive": null, "io_wait_time_recursive": null,
            "io_merged_recursive": null, "io_time_recursive": null, "sectors_recursive": null,
        },
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": {
            "cpu_usage": cpu_usage,
            "system_cpu_usage": system_cpu_usage(),
            "online_cpus": online_cpus(),
            "throttling_data": throttling,
        },
        "precpu_stats": empty_cpu(),
        "memory_stats": memory,
        "name": format!("/{name}"),
        "id": id,
    });
    if let Some(n) = networks(pid) {
        v["networks"] = n;
    }
    v
}

fn empty_cpu() -> Value {
    json!({
        "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    })
}

impl Engine {
    /// One stats sample of a container; a container that is not running gets Docker's zeroed
    /// sample.
    pub fn container_stats(&self, key: &str) -> Result<Value> {
        let c = self.containers.find(key)?;
        if !c.state.running || c.state.pid <= 0 {
            return Ok(json!({
                "read": ZERO_TIME, "preread": ZERO_TIME,
                "pids_stats": {}, "blkio_stats": {
                    "io_service_bytes_recursive": null, "io_serviced_recursive": null,
                    "io_queue_recursive": null, "io_service_time_recursive": null,
                    "io_wait_time_recursive": null, "io_merged_recursive": null,
                    "io_time_recursive": null, "sectors_recursive": null,
                },
                "num_procs": 0, "storage_stats": {},
                "cpu_stats": empty_cpu(), "precpu_stats": empty_cpu(), "memory_stats": {},
                "name": format!("/{}", c.name), "id": c.id,
            }));
        }
        Ok(sample(c.state.pid, &c.id, &c.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_sample_has_cpu_and_memory() {
        // This test process lives in some cgroup on any host; its sample must parse.
        let v = sample(std::process::id() as i64, "x", "n");
        assert_eq!(v["name"], "/n");
        assert!(v["cpu_stats"]["system_cpu_usage"].as_u64().unwrap() > 0);
        assert!(v["cpu_stats"]["online_cpus"].as_u64().unwrap() >= 1);
    }

    #[test]
    fn kv_reads_stat_files() {
        let m = kv("cache 10\nrss 20\nbad\n");
        assert_eq!(m["cache"], 10);
        assert_eq!(m["rss"], 20);
        assert_eq!(m.len(), 2);
    }
}
