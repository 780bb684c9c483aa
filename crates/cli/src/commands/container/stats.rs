//! `berth stats [CONTAINER...]`: GET /containers/{id}/stats for each container, rendered as
//! Docker's table every half second (once with `--no-stream`).

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Args;
use serde_json::Value as Json;

use super::container_path;
use crate::client::{Client, Request};
use crate::commands::{Ctx, StatusError};
use crate::format::render_list;
use crate::format::rows::stats::{self, StatsEntry};
use crate::format::TABLE_KEY;

#[derive(Debug, Clone, Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Pretty-print images using a Go template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Disable streaming stats and only pull the first result
    #[arg(long)]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long)]
    pub no_trunc: bool,
    #[arg(value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// How long Docker waits for a container's first sample before showing it as invalid.
const FIRST_SAMPLE_TIMEOUT: Duration = Duration::from_secs(2);
const REFRESH: Duration = Duration::from_millis(500);

#[derive(Debug, Default)]
struct Slot {
    entry: StatsEntry,
    error: Option<String>,
}

type Shared = Arc<Mutex<Slot>>;

fn set(slot: &Shared, f: impl FnOnce(&mut Slot)) {
    if let Ok(mut s) = slot.lock() {
        f(&mut s);
    }
}

/// Docker's `collect`: keeps `slot` up to date from the stats stream; signals the first
/// sample (or failure) on `first`.
async fn collect(
    client: Client,
    name: String,
    stream: bool,
    slot: Shared,
    first: tokio::sync::oneshot::Sender<()>,
) {
    let mut first = Some(first);
    let req = Request::get(container_path(&name, "/stats"))
        .query("stream", if stream { "1" } else { "0" });
    let mut body = match client.json_stream(req).await {
        Ok(b) => b,
        Err(e) => {
            set(&slot, |s| {
                s.error = Some(e.to_string());
                s.entry.is_invalid = true;
            });
            return;
        }
    };
    loop {
        match body.next().await {
            Ok(Some(v)) => {
                let entry = stats::entry(&name, &v);
                set(&slot, |s| {
                    s.entry = entry;
                    s.error = None;
                });
                if let Some(f) = first.take() {
                    let _ = f.send(());
                }
                if !stream {
                    return;
                }
            }
            Ok(None) => {
                set(&slot, |s| {
                    s.error = Some("EOF".to_string());
                    s.entry.is_invalid = true;
                });
                return;
            }
            Err(e) => {
                set(&slot, |s| {
                    s.error = Some(e.to_string());
                    s.entry.is_invalid = true;
                });
                return;
            }
        }
    }
}

struct Collector {
    name: String,
    slot: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn start(
    client: &Client,
    name: &str,
    stream: bool,
) -> (Collector, tokio::sync::oneshot::Receiver<()>) {
    let slot: Shared = Arc::new(Mutex::new(Slot {
        entry: StatsEntry {
            container: name.to_string(),
            ..Default::default()
        },
        error: None,
    }));
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(collect(
        client.clone(),
        name.to_string(),
        stream,
        slot.clone(),
        tx,
    ));
    (
        Collector {
            name: name.to_string(),
            slot,
            task,
        },
        rx,
    )
}

/// Waits for every collector's first sample; those that time out show as invalid.
async fn wait_first(collectors: &[Collector], firsts: Vec<tokio::sync::oneshot::Receiver<()>>) {
    let waits = collectors.iter().zip(firsts).map(|(c, rx)| async move {
        if tokio::time::timeout(FIRST_SAMPLE_TIMEOUT, rx)
            .await
            .is_err()
        {
            set(&c.slot, |s| {
                s.entry = StatsEntry {
                    container: s.entry.container.clone(),
                    name: s.entry.name.clone(),
                    id: s.entry.id.clone(),
                    is_invalid: true,
                    ..Default::default()
                };
                s.error = Some("timeout waiting for stats".to_string());
            });
        }
    });
    futures_util::future::join_all(waits).await;
}

async fn running_containers(client: &Client, all: bool) -> anyhow::Result<Vec<String>> {
    let list = client
        .json(Request::get("/containers/json").flag("all", all))
        .await?;
    Ok(list
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|c| c.get("Id").and_then(Json::as_str))
        .map(|id| id.chars().take(12).collect())
        .collect())
}

pub async fn run(ctx: &mut Ctx, args: StatsArgs) -> anyhow::Result<()> {
    let show_all = args.containers.is_empty();
    let stream = !args.no_stream;
    let version = ctx.client.json(Request::get("/version")).await?;
    let os = version
        .get("Os")
        .and_then(Json::as_str)
        .unwrap_or("linux")
        .to_string();
    let names = if show_all {
        running_containers(&ctx.client, args.all).await?
    } else {
        args.containers.clone()
    };
    let mut collectors = Vec::new();
    let mut firsts = Vec::new();
    for name in &names {
        if collectors.iter().any(|c: &Collector| &c.name == name) {
            continue;
        }
        let (c, rx) = start(&ctx.client, name, stream);
        collectors.push(c);
        firsts.push(rx);
    }
    wait_first(&collectors, firsts).await;
    if !show_all {
        let errors: Vec<String> = collectors
            .iter()
            .filter_map(|c| c.slot.lock().ok().and_then(|s| s.error.clone()))
            .collect();
        if !errors.is_empty() {
            return Err(StatusError::new(1, errors.join("\n")).into());
        }
    }
    let format = match args.format.as_deref() {
        None | Some("") | Some(TABLE_KEY) if os == "windows" => stats::WINDOWS_TABLE.to_string(),
        None | Some("") | Some(TABLE_KEY) => stats::DEFAULT_TABLE.to_string(),
        Some(f) => f.to_string(),
    };
    let header = stats::header(&os);
    let mut ticker = tokio::time::interval(REFRESH);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        if show_all && stream {
            if let Ok(current) = running_containers(&ctx.client, args.all).await {
                if !args.all {
                    collectors.retain(|c| current.contains(&c.name));
                }
                for name in current {
                    if !collectors.iter().any(|c| c.name == name) {
                        let (c, _) = start(&ctx.client, &name, stream);
                        collectors.push(c);
                    }
                }
            }
        }
        let rows: Vec<_> = collectors
            .iter()
            .filter_map(|c| c.slot.lock().ok().map(|s| s.entry.clone()))
            .map(|e| stats::row(&e, &os, !args.no_trunc))
            .collect();
        let out = render_list(&format, &header, &rows)?;
        if stream {
            ctx.streams.out.write_all(b"\x1b[2J\x1b[H")?;
        }
        ctx.streams.out.write_all(out.as_bytes())?;
        ctx.streams.out.flush()?;
        if !stream || (collectors.is_empty() && !show_all) {
            return Ok(());
        }
    }
}
