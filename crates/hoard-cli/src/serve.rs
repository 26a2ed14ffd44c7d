//! `hoard serve`.

use anyhow::Context;
use hoard_server::{AppState, Config, Overrides};
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

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HOARD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let overrides = Overrides {
        addr: args.addr,
        data_dir: args.data_dir,
        redis: args.redis,
        redis_cluster: args.redis_cluster,
        insecure: args.insecure,
    };
    let env = |name: &str| std::env::var(name).ok();
    let config = Config::load(args.config.as_deref(), &env, &overrides)?;
    let addr = config.addr()?;
    config.check_exposure()?;
    let mut limits = config.limits()?;
    limits.max_connections = connection_cap(limits.max_connections);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let cache = config.open_cache().context("opening the cache")?;
        let generated = if config.has_admin_token() {
            None
        } else {
            let (token, token_file) = hoard_server::admin_token("", &config.cache.data_dir)
                .context("preparing the admin token")?;
            if let Some(file) = token_file {
                tracing::info!(file = %file.display(), "admin token (for pattern deletes, clears, invalidation) is in this file");
            }
            Some(token)
        };
        let access = config.access(generated.as_deref());
        if access.guarded() {
            tracing::info!("reads need a read token, writes a write token (or a higher scope)");
        } else if config.server.insecure && !addr.ip().is_loopback() {
            tracing::warn!(%addr, "--insecure: reads and writes are open to anyone who can reach this address");
        } else {
            tracing::info!("reads and writes are open (no read or write tokens); admin routes need the admin token");
        }
        let listener =
            hoard_server::listen(addr).with_context(|| format!("listening on {addr}"))?;
        let l2 = if !config.cache.redis_cluster.is_empty() {
            "redis cluster".to_owned()
        } else if !config.cache.redis_url.is_empty() {
            "redis".to_owned()
        } else {
            format!("disk at {}", config.cache.data_dir.display())
        };
        tracing::info!(%addr, l2, config = %config.source, "hoard serving");
        let datasets = config.open_datasets(cache.clone())?;
        for id in datasets.ids() {
            if let Ok(dataset) = datasets.config(id) {
                tracing::info!(dataset = id, path = %dataset.path.display(), "dataset configured");
            }
        }
                let settings = config.semantic()?;
        let semantic = if settings.embedder.model.is_empty() {
            None
        } else {
            let base = std::env::current_dir().context("reading the working directory")?;
            let hub = hoard_models::Layout::new(&config.models()?, &base).hf_hub();
            let semantic = hoard_semantic::SemanticCache::open(
                cache.clone(),
                &settings.embedder,
                &hub,
                settings.cache,
            )
            .await
            .with_context(|| format!("loading the semantic model {:?}", settings.embedder.model))?;
            tracing::info!(
                model = semantic.embedder().id(),
                verifier = semantic.verifier().map(|v| v.id()).unwrap_or("none"),
                "semantic cache ready"
            );
            Some(std::sync::Arc::new(semantic))
        };
        let state = AppState {
            semantic,
            datasets: std::sync::Arc::new(datasets),
            cache,
            access,
            max_batch: config.server.max_batch,
            max_body: config.max_body(),
        };
        hoard_server::serve_with(listener, state, limits, hoard_server::shutdown_signal()).await?;
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
