//! `berth system check` (a berth extension): GET /system/check, which returns
//! `{"Problems": ["…", …]}`; exits 1 when there are problems.

use std::io::Write;

use clap::Args;

use crate::client::Request;
use crate::commands::{Ctx, StatusError};

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {}

/// The problems in a check report.
pub fn problems(report: &serde_json::Value) -> Vec<String> {
    report
        .get("Problems")
        .and_then(|p| p.as_array())
        .map(|a| {
            a.iter()
                .map(|p| match p.as_str() {
                    Some(s) => s.to_string(),
                    None => p.to_string(),
                })
                .collect()
        })
        .unwrap_or_default()
}

pub async fn run(ctx: &mut Ctx, _args: CheckArgs) -> anyhow::Result<()> {
    let report = ctx.client.json(Request::get("/system/check")).await?;
    let problems = problems(&report);
    if problems.is_empty() {
        writeln!(ctx.streams.out, "No problems found")?;
        return Ok(());
    }
    for p in &problems {
        writeln!(ctx.streams.out, "{p}")?;
    }
    Err(StatusError::new(1, "").into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_problems() {
        let r = serde_json::json!({"Problems": ["blob sha256:ab is missing", "layer x: bad size"]});
        assert_eq!(
            problems(&r),
            vec!["blob sha256:ab is missing", "layer x: bad size"]
        );
        assert!(problems(&serde_json::json!({"Problems": null})).is_empty());
        assert!(problems(&serde_json::json!({})).is_empty());
    }
}
