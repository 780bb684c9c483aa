//! `stats` rows: the numbers Docker derives from a stats JSON (CPU %, memory without page
//! cache, network and block I/O, PIDs) and how its table prints them.

use serde_json::Value as Json;

use crate::format::template::Value;
use crate::format::units::{bytes_size, human_size_with_precision};
use crate::reference::truncate_id;

pub const TYPE_NAME: &str = "*container.statsContext";

pub const DEFAULT_TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";
pub const WINDOWS_TABLE: &str =
    "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.NetIO}}\t{{.BlockIO}}";

pub fn header(os: &str) -> Value {
    Value::string_map([
        ("Container", "CONTAINER"),
        ("Name", "NAME"),
        ("ID", "CONTAINER ID"),
        ("CPUPerc", "CPU %"),
        (
            "MemUsage",
            if os == "windows" {
                "PRIV WORKING SET"
            } else {
                "MEM USAGE / LIMIT"
            },
        ),
        ("MemPerc", "MEM %"),
        ("NetIO", "NET I/O"),
        ("BlockIO", "BLOCK I/O"),
        ("PIDs", "PIDS"),
    ])
}

/// One container's numbers (Docker's `StatsEntry`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatsEntry {
    /// The name or ID the user asked for.
    pub container: String,
    pub name: String,
    pub id: String,
    pub cpu_percentage: f64,
    pub memory: f64,
    pub memory_limit: f64,
    pub memory_percentage: f64,
    pub network_rx: f64,
    pub network_tx: f64,
    pub block_read: f64,
    pub block_write: f64,
    pub pids_current: u64,
    /// No (valid) stats: every number prints as `--`.
    pub is_invalid: bool,
}

fn u(v: &Json, pointer: &str) -> u64 {
    v.pointer(pointer)
        .and_then(|x| x.as_u64().or_else(|| x.as_f64().map(|f| f as u64)))
        .unwrap_or(0)
}

/// Docker's `calculateCPUPercentUnix`.
pub fn cpu_percent_unix(v: &Json) -> f64 {
    let cpu_delta = u(v, "/cpu_stats/cpu_usage/total_usage") as f64
        - u(v, "/precpu_stats/cpu_usage/total_usage") as f64;
    let system_delta =
        u(v, "/cpu_stats/system_cpu_usage") as f64 - u(v, "/precpu_stats/system_cpu_usage") as f64;
    let mut online = u(v, "/cpu_stats/online_cpus") as f64;
    if online == 0.0 {
        online = v
            .pointer("/cpu_stats/cpu_usage/percpu_usage")
            .and_then(Json::as_array)
            .map_or(0, Vec::len) as f64;
    }
    if system_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / system_delta * online * 100.0
    } else {
        0.0
    }
}

/// Docker's `calculateMemUsageUnixNoCache`: usage minus `total_inactive_file` (cgroup v1) or
/// `inactive_file` (v2).
pub fn mem_usage_no_cache(v: &Json) -> f64 {
    let usage = u(v, "/memory_stats/usage");
    let stats = v.pointer("/memory_stats/stats");
    if let Some(inactive) = stats
        .and_then(|s| s.get("total_inactive_file"))
        .and_then(Json::as_u64)
    {
        if inactive < usage {
            return (usage - inactive) as f64;
        }
    }
    let inactive = stats
        .and_then(|s| s.get("inactive_file"))
        .and_then(Json::as_u64)
        .unwrap_or(0);
    if inactive < usage {
        return (usage - inactive) as f64;
    }
    usage as f64
}

/// Docker's `calculateBlockIO`: bytes read and written, summed over devices.
pub fn block_io(v: &Json) -> (u64, u64) {
    let (mut read, mut write) = (0u64, 0u64);
    for e in v
        .pointer("/blkio_stats/io_service_bytes_recursive")
        .and_then(Json::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let value = e.get("value").and_then(Json::as_u64).unwrap_or(0);
        match e
            .get("op")
            .and_then(Json::as_str)
            .and_then(|o| o.chars().next())
        {
            Some('r' | 'R') => read = read.wrapping_add(value),
            Some('w' | 'W') => write = write.wrapping_add(value),
            _ => {}
        }
    }
    (read, write)
}

/// Docker's `calculateNetwork`: bytes received and sent over all interfaces.
pub fn network(v: &Json) -> (f64, f64) {
    let (mut rx, mut tx) = (0.0, 0.0);
    if let Some(nets) = v.get("networks").and_then(Json::as_object) {
        for n in nets.values() {
            rx += u(n, "/rx_bytes") as f64;
            tx += u(n, "/tx_bytes") as f64;
        }
    }
    (rx, tx)
}

/// The entry for one stats JSON (a Linux daemon).
pub fn entry(container: &str, v: &Json) -> StatsEntry {
    let mem = mem_usage_no_cache(v);
    let limit = u(v, "/memory_stats/limit") as f64;
    let (blk_read, blk_write) = block_io(v);
    let (rx, tx) = network(v);
    StatsEntry {
        container: container.to_string(),
        name: v
            .get("name")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string(),
        id: v.get("id").and_then(Json::as_str).unwrap_or("").to_string(),
        cpu_percentage: cpu_percent_unix(v),
        memory: mem,
        memory_limit: limit,
        memory_percentage: if limit != 0.0 {
            mem / limit * 100.0
        } else {
            0.0
        },
        network_rx: rx,
        network_tx: tx,
        block_read: blk_read as f64,
        block_write: blk_write as f64,
        pids_current: u(v, "/pids_stats/current"),
        is_invalid: false,
    }
}

/// The row for an entry, with Docker's formatter fields.
pub fn row(s: &StatsEntry, os: &str, trunc: bool) -> Value {
    let windows = os == "windows";
    let dash = |v: String| if s.is_invalid { "--".to_string() } else { v };
    Value::string_record(
        TYPE_NAME,
        [
            ("Container", s.container.clone()),
            (
                "Name",
                if s.name.len() > 1 {
                    s.name[1..].to_string()
                } else {
                    "--".to_string()
                },
            ),
            (
                "ID",
                if trunc {
                    truncate_id(&s.id)
                } else {
                    s.id.clone()
                },
            ),
            ("CPUPerc", dash(format!("{:.2}%", s.cpu_percentage))),
            (
                "MemUsage",
                if s.is_invalid {
                    "-- / --".to_string()
                } else if windows {
                    bytes_size(s.memory)
                } else {
                    format!("{} / {}", bytes_size(s.memory), bytes_size(s.memory_limit))
                },
            ),
            (
                "MemPerc",
                if s.is_invalid || windows {
                    "--".to_string()
                } else {
                    format!("{:.2}%", s.memory_percentage)
                },
            ),
            (
                "NetIO",
                dash(format!(
                    "{} / {}",
                    human_size_with_precision(s.network_rx, 3),
                    human_size_with_precision(s.network_tx, 3)
                )),
            ),
            (
                "BlockIO",
                dash(format!(
                    "{} / {}",
                    human_size_with_precision(s.block_read, 3),
                    human_size_with_precision(s.block_write, 3)
                )),
            ),
            (
                "PIDs",
                if s.is_invalid || windows {
                    "--".to_string()
                } else {
                    s.pids_current.to_string()
                },
            ),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample(v2: bool) -> Json {
        let stats = if v2 {
            json!({"inactive_file": 1_048_576, "anon": 1})
        } else {
            json!({"total_inactive_file": 2_097_152, "inactive_file": 1})
        };
        json!({
            "name": "/berth-web",
            "id": "3f4e8e1a9b2c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1",
            "pids_stats": {"current": 3},
            "cpu_stats": {"cpu_usage": {"total_usage": 300_000_000u64, "percpu_usage": [1, 2]},
                          "system_cpu_usage": 20_000_000_000u64, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 100_000_000u64},
                             "system_cpu_usage": 10_000_000_000u64},
            "memory_stats": {"usage": 10_485_760, "limit": 2_097_152_000u64, "stats": stats},
            "blkio_stats": {"io_service_bytes_recursive": [
                {"major": 8, "minor": 0, "op": "Read", "value": 4096},
                {"major": 8, "minor": 0, "op": "Write", "value": 8192},
                {"major": 8, "minor": 0, "op": "read", "value": 4096},
                {"major": 8, "minor": 0, "op": "Total", "value": 1}
            ]},
            "networks": {"eth0": {"rx_bytes": 1500, "tx_bytes": 700},
                         "eth1": {"rx_bytes": 500, "tx_bytes": 300}}
        })
    }

    #[test]
    fn numbers_like_docker() {
        let e = entry("web", &sample(false));
        assert!((e.cpu_percentage - 4.0).abs() < 1e-9);
        assert_eq!(e.memory, 8_388_608.0);
        assert_eq!((e.block_read, e.block_write), (8192.0, 8192.0));
        assert_eq!((e.network_rx, e.network_tx), (2000.0, 1000.0));
        assert_eq!(e.pids_current, 3);
        let e2 = entry("web", &sample(true));
        assert_eq!(e2.memory, 9_437_184.0);
    }

    #[test]
    fn table_like_docker() {
        let rows = vec![
            row(&entry("web", &sample(false)), "linux", true),
            row(
                &StatsEntry {
                    container: "gone".into(),
                    is_invalid: true,
                    ..Default::default()
                },
                "linux",
                true,
            ),
        ];
        let out =
            crate::format::render_list(DEFAULT_TABLE, &header("linux"), &rows).unwrap_or_default();
        assert_eq!(
            out,
            "CONTAINER ID   NAME        CPU %     MEM USAGE / LIMIT   MEM %     NET I/O     BLOCK I/O         PIDS
3f4e8e1a9b2c   berth-web   4.00%     8MiB / 1.953GiB     0.40%     2kB / 1kB   8.19kB / 8.19kB   3
               --          --        -- / --             --        --          --                --
"
        );
    }
}
