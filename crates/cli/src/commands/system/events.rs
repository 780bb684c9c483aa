//! `berth events` / `berth system events`: GET /events, streamed, one line per event in Docker's
//! layout (`2026-11-24T12:00:00.000000000Z image load sha256:… (name=busybox:latest)`).

use std::io::Write;

use chrono::{NaiveDate, NaiveDateTime, TimeZone};
use clap::Args;
use serde_json::Value as Json;

use crate::client::Request;
use crate::commands::{Ctx, StatusError};
use crate::filters::Filters;
use crate::format::template::{Template, Value};
use crate::format::time::{local_zone, rfc3339_nano_fixed};

#[derive(Debug, Clone, Args)]
pub struct EventsArgs {
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "FILTER")]
    pub filter: Vec<String>,
    /// Format output using a custom template ('json' or a Go template)
    #[arg(long)]
    pub format: Option<String>,
    /// Show all events created since timestamp
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    pub until: Option<String>,
}

/// Docker's line for one event.
pub fn render_event(event: &Json) -> String {
    let mut out = String::new();
    let time_nano = event.get("timeNano").and_then(Json::as_i64).unwrap_or(0);
    let time = event.get("time").and_then(Json::as_i64).unwrap_or(0);
    if time_nano != 0 {
        let zone = local_zone(time_nano.div_euclid(1_000_000_000));
        out += &format!("{} ", rfc3339_nano_fixed(i128::from(time_nano), &zone));
    } else if time != 0 {
        out += &format!(
            "{} ",
            rfc3339_nano_fixed(i128::from(time) * 1_000_000_000, &local_zone(time))
        );
    }
    let s = |p: &str| event.pointer(p).and_then(Json::as_str).unwrap_or("");
    out += &format!("{} {} {}", s("/Type"), s("/Action"), s("/Actor/ID"));
    if let Some(attrs) = event.pointer("/Actor/Attributes").and_then(Json::as_object) {
        if !attrs.is_empty() {
            let mut pairs: Vec<String> = attrs
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect();
            pairs.sort();
            out += &format!(" ({})", pairs.join(", "));
        }
    }
    out.push('\n');
    out
}

/// Go's `time.ParseDuration` for the units people type ("10m", "1h30m", "1.5h", "300ms").
fn parse_go_duration(s: &str) -> Option<f64> {
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(0.0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let secs = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += n * secs;
        rest = &rest[unit_len..];
    }
    Some(if neg { -total } else { total })
}

/// Docker's `GetTimestamp`: a duration ago, an RFC 3339 or local date/time, or a unix timestamp
/// passed through; returns the API's `seconds[.nanoseconds]` form.
pub fn api_timestamp(value: &str, now: chrono::DateTime<chrono::Utc>) -> anyhow::Result<String> {
    if value != "0" {
        if let Some(d) = parse_go_duration(value) {
            let t = now.timestamp() as f64 - d;
            return Ok(format!("{}", t.floor() as i64));
        }
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(value) {
        return Ok(format!(
            "{}.{:09}",
            t.timestamp(),
            t.timestamp_subsec_nanos()
        ));
    }
    let local = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(value, f).ok())
    .or_else(|| {
        NaiveDate::parse_from_str(value, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    });
    if let Some(naive) = local {
        if let Some(t) = chrono::Local.from_local_datetime(&naive).earliest() {
            return Ok(format!(
                "{}.{:09}",
                t.timestamp(),
                t.timestamp_subsec_nanos()
            ));
        }
    }
    if value.contains('-') {
        anyhow::bail!("parsing time {value:?}: invalid timestamp");
    }
    let (secs, frac) = value.split_once('.').unwrap_or((value, "0"));
    if secs.parse::<i64>().is_ok() && frac.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(value.to_string());
    }
    anyhow::bail!("failed to parse value as time or duration: {value:?}")
}

pub async fn run(ctx: &mut Ctx, args: EventsArgs) -> anyhow::Result<()> {
    let template = match args.format.as_deref() {
        None | Some("") => None,
        Some(f) => {
            let src = if f == "json" { "{{json .}}" } else { f };
            Some(
                Template::parse(src)
                    .map_err(|e| StatusError::new(64, format!("Error parsing format: {e}")))?,
            )
        }
    };
    let now = chrono::Utc::now();
    let mut req = Request::get("/events");
    if let Some(since) = &args.since {
        req = req.query("since", api_timestamp(since, now)?);
    }
    if let Some(until) = &args.until {
        req = req.query("until", api_timestamp(until, now)?);
    }
    let req = Filters::parse(&args.filter)?.apply(req);
    let mut stream = ctx.client.json_stream(req).await?;
    while let Some(event) = stream.next().await? {
        let line = match &template {
            None => render_event(&event),
            Some(t) => t.execute(&Value::from(&event))? + "\n",
        };
        ctx.streams.out.write_all(line.as_bytes())?;
        ctx.streams.out.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn event_line_like_docker() {
        let ev = json!({
            "Type": "image", "Action": "load", "Actor": {"ID": "sha256:abc", "Attributes": {"name": "busybox:latest"}},
            "scope": "local", "time": 1_795_521_600, "timeNano": 1_795_521_600_000_000_123_i64
        });
        let line = render_event(&ev);
        let zone = local_zone(1_795_521_600);
        let ts = rfc3339_nano_fixed(1_795_521_600_000_000_123, &zone);
        assert_eq!(
            line,
            format!("{ts} image load sha256:abc (name=busybox:latest)\n")
        );
        if zone.offset_secs == 0 {
            assert_eq!(
                line,
                "2026-11-24T12:00:00.000000123Z image load sha256:abc (name=busybox:latest)\n"
            );
        }
    }

    #[test]
    fn attributes_sorted_and_optional() {
        let ev = json!({"Type": "container", "Action": "start", "Actor": {"ID": "c1", "Attributes": {"name": "web", "image": "busybox"}}});
        assert_eq!(
            render_event(&ev),
            "container start c1 (image=busybox, name=web)\n"
        );
        let ev = json!({"Type": "network", "Action": "create", "Actor": {"ID": "n1"}});
        assert_eq!(render_event(&ev), "network create n1\n");
    }

    #[test]
    fn timestamps() {
        let now = chrono::DateTime::from_timestamp(1_795_521_600, 0).unwrap_or_default();
        let ts = |v: &str| api_timestamp(v, now).unwrap_or_else(|e| e.to_string());
        assert_eq!(ts("10m"), "1795521000");
        assert_eq!(ts("1h30m"), "1795516200");
        assert_eq!(ts("1795521600"), "1795521600");
        assert_eq!(ts("1795521600.5"), "1795521600.5");
        assert_eq!(ts("2026-11-24T12:00:00Z"), "1795521600.000000000");
        assert_eq!(ts("2026-11-24T13:00:00+01:00"), "1795521600.000000000");
        assert_eq!(
            ts("soon"),
            "failed to parse value as time or duration: \"soon\""
        );
    }
}
