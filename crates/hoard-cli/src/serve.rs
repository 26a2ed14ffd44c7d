//! `hoard serve`.

use crate::ServeArgs;
use anyhow::Context;
use hoard_server::{AppState, Config, Overrides};

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
    };
    let env = |name: &str| std::env::var(name).ok();
    let config = Config::load(args.config.as_deref(), &env, &overrides)?;
    let addr = config.addr()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let cache = config.open_cache().context("opening the cache")?;
        let (token, token_file) = hoard_server::admin_token(&config.server.admin_token, &config.cache.data_dir)
            .context("preparing the admin token")?;
        if let Some(file) = token_file {
            tracing::info!(file = %file.display(), "admin token (for pattern deletes, clears, invalidation) is in this file");
        }
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("listening on {addr}"))?;
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
            let embedder = hoard_semantic::embed::from_spec(&settings.embedder, &hub)
                .await
                .with_context(|| format!("loading the semantic model {:?}", settings.embedder.model))?;
            tracing::info!(model = embedder.id(), "semantic cache ready");
            Some(std::sync::Arc::new(hoard_semantic::SemanticCache::new(
                cache.clone(),
                embedder,
                settings.cache,
            )?))
        };
        let state = AppState {
            semantic,
            datasets: std::sync::Arc::new(datasets),
            cache,
            admin_token: token.into(),
            max_batch: config.server.max_batch,
            max_body: config.max_body(),
        };
        hoard_server::serve(listener, state, hoard_server::shutdown_signal()).await?;
        tracing::info!("stopped");
        anyhow::Ok(())
    })
}
