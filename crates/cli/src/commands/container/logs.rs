//! `berth logs CONTAINER`: GET /containers/{id}/logs, demultiplexed to stdout and stderr unless
//! the container has a TTY (its `Config.Tty`, looked up first as Docker does).

use clap::Args;
use futures_util::TryStreamExt;

use super::{bool_at, container_path, inspect_container, str_at};
use crate::client::frames::{copy_raw, demux};
use crate::client::Request;
use crate::commands::Ctx;
use crate::format::time::api_timestamp;

#[derive(Debug, Clone, Args)]
pub struct LogsArgs {
    /// Show extra details provided to logs
    #[arg(long)]
    pub details: bool,
    /// Follow log output
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)
    #[arg(long, value_name = "string")]
    pub since: Option<String>,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, default_value = "all", value_name = "string")]
    pub tail: String,
    /// Show timestamps
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)
    #[arg(long, value_name = "string")]
    pub until: Option<String>,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// The logs request (Go's `url.Values` encode their keys in sorted order).
pub fn logs_request(id: &str, args: &LogsArgs, now_nanos: i128) -> anyhow::Result<Request> {
    let mut req = Request::get(container_path(id, "/logs")).flag("details", args.details);
    req = req.flag("follow", args.follow);
    if let Some(s) = args.since.as_deref().filter(|s| !s.is_empty()) {
        let ts = api_timestamp(s, now_nanos)
            .map_err(|e| anyhow::anyhow!("invalid value for \"since\": {e}"))?;
        req = req.query("since", ts);
    }
    req = req
        .query("stderr", "1")
        .query("stdout", "1")
        .query("tail", args.tail.clone())
        .flag("timestamps", args.timestamps);
    if let Some(u) = args.until.as_deref().filter(|s| !s.is_empty()) {
        let ts = api_timestamp(u, now_nanos)
            .map_err(|e| anyhow::anyhow!("invalid value for \"until\": {e}"))?;
        req = req.query("until", ts);
    }
    Ok(req)
}

pub async fn run(ctx: &mut Ctx, args: LogsArgs) -> anyhow::Result<()> {
    let c = inspect_container(&ctx.client, &args.container).await?;
    let id = str_at(&c, "/Id").to_string();
    let now = chrono::Utc::now()
        .timestamp_nanos_opt()
        .map(i128::from)
        .unwrap_or_default();
    let req = logs_request(&id, &args, now)?;
    let response = ctx.client.send(req).await?;
    let body = tokio_util::io::StreamReader::new(Box::pin(
        http_body_util::BodyExt::into_data_stream(response.into_body())
            .map_err(std::io::Error::other),
    ));
    if bool_at(&c, "/Config/Tty") {
        copy_raw(body, &mut *ctx.streams.out).await?;
    } else {
        demux(body, &mut *ctx.streams.out, &mut *ctx.streams.err)
            .await
            .map_err(|e| e.into_anyhow())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: impl FnOnce(&mut LogsArgs)) -> LogsArgs {
        let mut a = LogsArgs {
            details: false,
            follow: false,
            since: None,
            tail: "all".into(),
            timestamps: false,
            until: None,
            container: "c".into(),
        };
        extra(&mut a);
        a
    }

    #[test]
    fn query_like_docker() {
        let uri = logs_request("abc", &args(|_| {}), 0).map(|r| r.uri()).ok();
        assert_eq!(
            uri.as_deref(),
            Some("/v1.41/containers/abc/logs?stderr=1&stdout=1&tail=all")
        );
        let now = 1_795_521_600i128 * 1_000_000_000;
        let uri = logs_request(
            "abc",
            &args(|a| {
                a.follow = true;
                a.timestamps = true;
                a.tail = "1".into();
                a.since = Some("10m".into());
                a.until = Some("2026-11-24T12:00:00Z".into());
            }),
            now,
        )
        .map(|r| r.uri())
        .ok();
        assert_eq!(
            uri.as_deref(),
            Some("/v1.41/containers/abc/logs?follow=1&since=1795521000&stderr=1&stdout=1&tail=1&timestamps=1&until=1795521600.000000000")
        );
    }
}
