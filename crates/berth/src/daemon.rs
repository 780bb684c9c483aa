//! `berth daemon`: set up logging, take the root's lock, open the engine, bind the listeners,
//! serve until SIGTERM/SIGINT, clean up.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use berth_api::{Listener, TlsFiles};
use berth_cli::DaemonArgs;
use berth_engine::{Engine, EngineConfig};

const DEFAULT_SOCKET: &str = "unix:///run/berth/berth.sock";
/// How often unreferenced blobs and layers are collected (also once at start).
const GC_INTERVAL: Duration = Duration::from_secs(300);

pub fn run(args: DaemonArgs) -> anyhow::Result<()> {
    init_tracing(&args.log_level, &args.log_format)?;
    let tls = match (args.tlsverify, &args.tlscacert, &args.tlscert, &args.tlskey) {
        (true, Some(ca), Some(cert), Some(key)) => Some(TlsFiles {
            ca: ca.clone(),
            cert: cert.clone(),
            key: key.clone(),
        }),
        (true, ..) => bail!("--tlsverify needs --tlscacert, --tlscert and --tlskey"),
        (false, ..) => None,
    };
    let hosts = if args.hosts.is_empty() {
        vec![DEFAULT_SOCKET.to_string()]
    } else {
        args.hosts.clone()
    };
    std::fs::create_dir_all(&args.exec_root)
        .with_context(|| format!("creating {}", args.exec_root.display()))?;
    std::fs::create_dir_all(&args.root)
        .with_context(|| format!("creating {}", args.root.display()))?;
    // One daemon per root: an exclusive lock held for the process lifetime.
    let lock_path = args.root.join("berth.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    let lock = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusiveNonblock)
        .map_err(|(_, e)| e)
        .with_context(|| {
            format!(
                "another berth daemon is using {} (lock {} is held)",
                args.root.display(),
                lock_path.display()
            )
        })?;
    let pid_path = args.exec_root.join("berth.pid");
    std::fs::File::create(&pid_path)
        .and_then(|mut f| writeln!(f, "{}", std::process::id()))
        .with_context(|| format!("writing {}", pid_path.display()))?;

    let engine = Engine::open(EngineConfig {
        root: args.root.clone(),
        exec_root: args.exec_root.clone(),
        insecure_registries: args.insecure_registries.clone(),
        network_namespace: args.network_namespace.clone(),
    })
    .context("opening the engine state")?;
    let engine = Arc::new(engine);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(64)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = rt.block_on(async {
        let shutdown = shutdown_signal();
        let mut listeners = Vec::new();
        for h in &hosts {
            let l = Listener::bind(h, tls.as_ref()).await?;
            tracing::info!(host = %h, "API listening");
            listeners.push(l);
        }
        let sockets: Vec<_> = listeners
            .iter()
            .filter_map(|l| l.socket_path().map(|p| p.to_path_buf()))
            .collect();
        // Containers that kept running while the daemon was down: watch their shims again (and
        // finish those that exited meanwhile).
        let adopter = engine.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || adopter.readopt_containers()).await {
            tracing::error!(error = %e, "re-adopting running containers");
        }
        engine.clone().remove_build_leftovers().await;
        tracing::info!(version = berth_engine::system::VERSION, root = %args.root.display(), "daemon ready");
        // Removals that overlapped a load leave unreferenced layers for the collector.
        let collector = engine.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(GC_INTERVAL);
            tick.tick().await;
            loop {
                tick.tick().await;
                let e = collector.clone();
                match tokio::task::spawn_blocking(move || e.store.gc()).await {
                    Ok(Ok(r)) if !r.layers_removed.is_empty() || !r.blobs_removed.is_empty() => {
                        tracing::info!(layers = r.layers_removed.len(), blobs = r.blobs_removed.len(), bytes = r.bytes_freed, "garbage collected")
                    }
                    Ok(Err(e)) => tracing::warn!(error = %e, "garbage collection failed"),
                    _ => {}
                }
            }
        });
        berth_api::serve(engine, listeners, shutdown, Duration::from_secs(5)).await;
        for s in sockets {
            let _ = std::fs::remove_file(s);
        }
        anyhow::Ok(())
    });
    let _ = std::fs::remove_file(&pid_path);
    drop(lock);
    result
}

/// Installs the SIGTERM/SIGINT handlers now (a signal that arrives while the daemon is still
/// starting is kept, not fatal) and returns the future that completes on the first of them.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let handlers = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        let (Ok(mut term), Ok(mut int)) = handlers else {
            tracing::error!("cannot install signal handlers; the daemon stops only when killed");
            std::future::pending::<()>().await;
            return;
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
    }
}

fn init_tracing(level: &str, format: &str) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .with_context(|| format!("invalid --log-level {level:?}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        "json" => builder.json().init(),
        "text" => builder.init(),
        other => bail!("invalid --log-format {other:?}: expected text or json"),
    }
    Ok(())
}
