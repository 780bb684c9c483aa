//! `berth rm [-f] [-v] [-l] CONTAINER...`: DELETE /containers/{id}, in parallel; with `-f`, a
//! container that does not exist is only reported.

use std::io::Write;

use clap::Args;

use super::container_path;
use crate::client::Request;
use crate::commands::{Ctx, StatusError};

#[derive(Debug, Clone, Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove the specified link
    #[arg(short = 'l', long)]
    pub link: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long)]
    pub volumes: bool,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

enum Failure {
    NotFound(String),
    Other(String),
}

pub async fn run(ctx: &mut Ctx, args: RmArgs) -> anyhow::Result<()> {
    let ops = args.containers.iter().map(|name| {
        let client = ctx.client.clone();
        let name = name.trim_matches('/').to_string();
        let (force, link, volumes) = (args.force, args.link, args.volumes);
        async move {
            if name.is_empty() {
                return Err(Failure::Other("Container name cannot be empty".to_string()));
            }
            let req = Request::delete(container_path(&name, ""))
                .flag("force", force)
                .flag("link", link)
                .flag("v", volumes);
            match client.send(req).await {
                Ok(_) => Ok(()),
                Err(e) if e.is_not_found() => Err(Failure::NotFound(format!(
                    "Error: No such container: {name}"
                ))),
                Err(e) => Err(Failure::Other(e.to_string())),
            }
        }
    });
    let results = futures_util::future::join_all(ops).await;
    let mut errors = Vec::new();
    for (name, result) in args.containers.iter().zip(results) {
        match result {
            Ok(()) => {
                writeln!(ctx.streams.out, "{name}")?;
                ctx.streams.out.flush()?;
            }
            Err(Failure::NotFound(msg)) if args.force => writeln!(ctx.streams.err, "{msg}")?,
            Err(Failure::NotFound(msg)) | Err(Failure::Other(msg)) => errors.push(msg),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(StatusError::new(1, errors.join("\n")).into())
    }
}
