//! [`App`]: everything `hoard serve` runs, built from a configuration in one place, so the
//! binary, the tests and any program embedding the server start the same thing.

use crate::auth::Access;
use crate::conn::Limits;
use crate::state::AppState;
use hoard_config::{Config, ConfigError, ServerSection, Settings};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Why the application could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// A configuration value cannot be used (it names the file, variable or flag).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The cache did not open (a locked or unreadable data folder, a bad Redis URL).
    #[error("opening the cache")]
    Cache(#[source] hoard::Error),
    /// The generated admin token could not be read or written in the data folder.
    #[error("preparing the admin token in {}", .dir.display())]
    AdminToken {
        /// The data folder.
        dir: PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// The datasets could not be set up (an id given twice).
    #[error("setting up the datasets")]
    Datasets(#[source] hoard_datasets::DatasetError),
    /// The working directory, which relative model paths start from, is unreadable.
    #[error("reading the working directory")]
    WorkingDir(#[source] std::io::Error),
    /// The semantic cache's model did not load.
    #[error("loading the semantic model {model:?}")]
    Semantic {
        /// `[semantic] model`.
        model: String,
        /// What failed.
        #[source]
        source: hoard_semantic::SemanticError,
    },
}

/// Everything `hoard serve` runs: the handlers' state (cache, tokens, datasets, semantic
/// cache), where to listen and the connection limits.
pub struct App {
    /// What every handler shares.
    pub state: AppState,
    /// `server.addr`.
    pub addr: SocketAddr,
    /// The connection limits of `[server]`.
    pub limits: Limits,
    /// The file holding the generated admin token, when none was configured.
    pub admin_token_file: Option<PathBuf>,
    /// The settings it was built from.
    pub settings: Settings,
}

impl App {
    /// Checks every section of `config`, refuses to serve reads and writes open on an
    /// address other machines can reach (see [`ServerSection::exposure`]), opens the cache
    /// `[cache]` describes and builds the rest on it.
    pub async fn open(config: &Config) -> Result<App, AppError> {
        let settings = config.settings()?;
        if let Some(reason) = settings.server.exposure() {
            return Err(config.refuse("server.addr", reason).into());
        }
        let cache = settings.cache.open().map_err(AppError::Cache)?;
        App::with_cache(settings, cache).await
    }

    /// Builds the application on `cache`, opened by the caller (a test's cache on a
    /// Redis with short timeouts, a bench's in-memory one), with the rest from `settings`.
    pub async fn with_cache(settings: Settings, cache: hoard::Cache) -> Result<App, AppError> {
        let (access, admin_token_file) = access(&settings)?;
        let datasets = hoard_datasets::Datasets::new(cache.clone(), settings.datasets.clone())
            .map_err(AppError::Datasets)?;
        let semantic = semantic(&settings, &cache).await?;
        // Relative `[models]` folders start from the working directory, as for the CLI.
        let base = std::env::current_dir().map_err(AppError::WorkingDir)?;
        Ok(App {
            state: AppState {
                cache,
                access,
                max_batch: settings.server.max_batch,
                max_body: settings.server.max_body_bytes(),
                datasets: Arc::new(datasets),
                semantic,
                history: crate::StatsHistory::new(crate::history::DEFAULT_INTERVAL),
                models: Arc::new(hoard_models::Layout::new(&settings.models, &base)),
            },
            addr: settings.server.addr,
            limits: limits(&settings.server),
            admin_token_file,
            settings,
        })
    }
}

/// The tokens by scope. With no admin token configured, the one kept in the data folder
/// (made on first use) is the admin token.
fn access(settings: &Settings) -> Result<(Access, Option<PathBuf>), AppError> {
    let server = &settings.server;
    let mut file = None;
    let mut generated = None;
    if !server.has_admin_token() {
        let dir = &settings.cache.data_dir;
        let (token, token_file) =
            crate::admin_token("", dir).map_err(|source| AppError::AdminToken {
                dir: dir.clone(),
                source,
            })?;
        generated = Some(token);
        file = token_file;
    }
    let admin = server
        .admin_tokens
        .iter()
        .map(String::as_str)
        .chain(Some(server.admin_token.as_str()))
        .chain(generated.as_deref());
    Ok((
        Access::new(admin, &server.write_tokens, &server.read_tokens),
        file,
    ))
}

/// The semantic cache over `cache`, when `[semantic]` names a model.
async fn semantic(
    settings: &Settings,
    cache: &hoard::Cache,
) -> Result<Option<Arc<hoard_semantic::SemanticCache>>, AppError> {
    let spec = &settings.semantic.embedder;
    if spec.model.is_empty() {
        return Ok(None);
    }
    let base = std::env::current_dir().map_err(AppError::WorkingDir)?;
    let hub = hoard_models::Layout::new(&settings.models, &base).hf_hub();
    let semantic = hoard_semantic::SemanticCache::open(
        cache.clone(),
        spec,
        &hub,
        settings.semantic.cache.clone(),
    )
    .await
    .map_err(|source| AppError::Semantic {
        model: spec.model.clone(),
        source,
    })?;
    Ok(Some(Arc::new(semantic)))
}

/// The connection limits `[server]` sets.
pub(crate) fn limits(server: &ServerSection) -> Limits {
    Limits {
        header_read_timeout: server.header_read_timeout,
        idle_timeout: server.idle_timeout,
        body_read_timeout: server.body_read_timeout,
        max_connections: server.max_connections,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_limits_are_the_default_server_sections() {
        assert_eq!(limits(&ServerSection::default()), Limits::default());
    }
}
