//! `hoard serve`.

use anyhow::Context;
use hoard_config::{Config, Overrides};
use hoard_server::App;
use std::path::PathBuf;

/// Flags of `hoard serve`; each overrides the config file and `HOARD_*` variables.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Config file (default: $HOARD_CONFIG, else ./hoard.toml if present).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:7070).
    #[arg(long, value_name = "HOST:PORT")]
    addr: Option<String>,
    /// Folder of the embedded store (default ./.hoard).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Use this Redis as L2.
    #[arg(long, value_name = "URL", conflicts_with = "redis_cluster")]
    redis: Option<String>,
    /// Use this Redis Cluster as L2 (seed nodes, comma-separated).
    #[arg(long, value_name = "URL,...", value_delimiter = ',')]
    redis_cluster: Option<Vec<String>>,
    /// Serve on a non-loopback address without read or write tokens, open to anyone who
    /// can reach it ([server] insecure = true). Without it, hoard refuses to.
    #[arg(long)]
    insecure: bool,
}

/// The log filter without `HOARD_LOG`: hoard's own lines at info, the embedded store's
/// (fjall's recovery chatter) only from warn. The access log (`hoard::access`, one line
/// per request) is at debug, so off.
const DEFAULT_LOG: &str = "info,fjall=warn,lsm_tree=warn";

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HOARD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG)),
        )
        .init();
    let mut overrides = Overrides::default();
    overrides.addr = args.addr;
    overrides.data_dir = args.data_dir;
    overrides.redis = args.redis;
    overrides.redis_cluster = args.redis_cluster;
    overrides.insecure = args.insecure;
    let env = |name: &str| std::env::var(name).ok();
    let config = Config::load(args.config.as_deref(), &env, &overrides)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let mut app = App::open(&config).await?;
        app.limits.max_connections = connection_cap(app.limits.max_connections);
        let addr = app.addr;
        if let Some(file) = &app.admin_token_file {
            tracing::info!(file = %file.display(), "admin token (for pattern deletes, clears, invalidation) is in this file");
        }
        if app.state.access.guarded() {
            tracing::info!("reads need a read token, writes a write token (or a higher scope)");
        } else if app.settings.server.insecure && !app.settings.server.is_loopback() {
            tracing::warn!(%addr, "--insecure: reads and writes are open to anyone who can reach this address");
        } else {
            tracing::info!("reads and writes are open (no read or write tokens); admin routes need the admin token");
        }
        let listener =
            hoard_server::listen(addr).with_context(|| format!("listening on {addr}"))?;
        let l2 = app.settings.cache.describe_l2();
        tracing::info!(%addr, l2, config = %config.source(), "hoard serving");
        for dataset in &app.settings.datasets {
            tracing::info!(dataset = dataset.id, path = %dataset.path.display(), "dataset configured");
        }
        if let Some(semantic) = &app.state.semantic {
            tracing::info!(
                model = semantic.embedder().id(),
                verifier = semantic.verifier().map(|v| v.id()).unwrap_or("none"),
                "semantic cache ready"
            );
        }
        app.serve(listener, hoard_server::shutdown_signal()).await?;
        tracing::info!("stopped");
        anyhow::Ok(())
    })
}

/// Raises the open-file soft limit to the hard limit, and returns the connection cap that
/// fits under it: `configured`, or less when the limit leaves too little room. Room is kept
/// for the process's own files: the disk tier alone keeps up to 900 open (fjall's
/// descriptor table), beside the listener, Redis connections and dataset files served.
fn connection_cap(configured: usize) -> usize {
    let Some(files) = open_file_limit() else {
        return configured;
    };
    let reserve = (files / 2).min(1024);
    let fits = usize::try_from(files - reserve).unwrap_or(usize::MAX);
    if configured > fits {
        tracing::warn!(
            open_file_limit = files,
            max_connections = fits,
            configured,
            "server.max_connections lowered to fit the open-file limit (raise the hard limit, ulimit -Hn, for more)"
        );
        fits
    } else {
        tracing::info!(
            open_file_limit = files,
            max_connections = configured,
            "connection cap"
        );
        configured
    }
}

/// The open-file soft limit after raising it to the hard limit; `None` when unlimited or
/// unknown.
#[cfg(unix)]
fn open_file_limit() -> Option<u64> {
    let limit = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(error) => {
            tracing::warn!(%error, "could not raise the open-file limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE).ok()?.0
        }
    };
    (limit != rlimit::INFINITY).then_some(limit)
}

#[cfg(not(unix))]
fn open_file_limit() -> Option<u64> {
    None
}
