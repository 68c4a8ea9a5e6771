//! Putting it together: open the catalog, bootstrap it, serve it.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::catalog::{Catalog, CatalogError};
use crate::db::{Db, DbError};
use crate::http::{self, AppState};
use crate::query::QueryLimits;

/// File (in the data directory) holding the administrator key made on
/// first start.
pub const ADMIN_KEY_FILE: &str = "admin-api-key";
/// File (in the data directory) holding the demo user's key.
pub const DEMO_KEY_FILE: &str = "demo-api-key";
/// Where `balena-os serve` listens by default.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8480";
/// The SQLite database file in the data directory.
pub const SQLITE_FILE: &str = "catalog.sqlite";
/// How long a shutdown waits for requests in flight by default (see
/// [`ServerBuilder::drain_timeout`]).
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// After the drain deadline, how long the cut connections get to close.
const CUT_GRACE: Duration = Duration::from_secs(5);

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Bootstrapping or loading the demo catalog failed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// A file or socket operation failed (the cause is the `source()`).
    #[error("{context}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The image endpoints could not be set up (the cause is the
    /// `source()`).
    #[error("{context}")]
    Images {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: crate::images::ImagesError,
    },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServerError {
    let context = context.into();
    move |source| ServerError::Io { context, source }
}

/// What a start created: an administrator when the catalog had none, the
/// demo catalog when asked for and the catalog had no host apps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bootstrap {
    /// The new administrator's key (when no superuser existed), also
    /// written to `<data>/admin-api-key`.
    pub admin_key: Option<String>,
    /// The demo user's key when the demo catalog was loaded, also written to
    /// `<data>/demo-api-key`.
    pub demo_key: Option<String>,
    /// Why the demo catalog was asked for but not loaded (the catalog
    /// already had host apps, imported or made by `balena-os admin`).
    pub demo_skipped: Option<String>,
}

/// Makes an administrator when there is no superuser, and loads the demo
/// catalog when `demo` is asked for and the catalog has no host apps.
/// `None` when it did neither and had nothing to say.
async fn bootstrap(
    catalog: &Catalog,
    data_dir: &Path,
    demo: bool,
) -> Result<Option<Bootstrap>, ServerError> {
    let mut admin_key = None;
    if !catalog.has_superuser().await? {
        let (name, key) = crate::catalog::demo::bootstrap_admin(catalog).await?;
        write_secret(&data_dir.join(ADMIN_KEY_FILE), &key).await?;
        tracing::warn!(
            file = %data_dir.join(ADMIN_KEY_FILE).display(),
            user = %name,
            "no administrator yet: created a superuser and wrote its API key"
        );
        admin_key = Some(key);
    }
    let (mut demo_key, mut demo_skipped) = (None, None);
    if demo {
        let host_apps = catalog.host_app_count().await?;
        if host_apps == 0 {
            let key = crate::catalog::demo::load(catalog).await?;
            write_secret(&data_dir.join(DEMO_KEY_FILE), &key).await?;
            tracing::info!("loaded the demo catalog");
            demo_key = Some(key);
        } else if !catalog.has_user(crate::catalog::demo::DEMO_USER).await? {
            // Loaded before is the normal case on a restart; otherwise say
            // why --demo did nothing.
            let why = format!(
                "the demo catalog was not loaded: the catalog already has {host_apps} host app(s) \
                 (imported or made with `balena-os admin`), and the demo is only loaded into \
                 a catalog without host apps"
            );
            tracing::warn!("{why}");
            demo_skipped = Some(why);
        }
    }
    Ok(
        (admin_key.is_some() || demo_key.is_some() || demo_skipped.is_some()).then_some(
            Bootstrap {
                admin_key,
                demo_key,
                demo_skipped,
            },
        ),
    )
}

/// Configures a [`Server`].
#[derive(Debug, Clone, Default)]
pub struct ServerBuilder {
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    demo: bool,
    limits: QueryLimits,
    cache_bytes: Option<usize>,
    images: crate::images::ImagesConfig,
    drain_timeout: Option<Duration>,
}

impl ServerBuilder {
    /// The data directory (default `./data`): holds the SQLite database and
    /// the key files.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// A database URL (`postgres://…` or `sqlite://PATH`) instead of the
    /// SQLite file in the data directory.
    pub fn database_url(mut self, url: impl Into<String>) -> Self {
        self.database_url = Some(url.into());
        self
    }

    /// Load the demo catalog when the catalog is empty.
    pub fn demo(mut self, demo: bool) -> Self {
        self.demo = demo;
        self
    }

    /// Query bounds (`$top`, rows per answer).
    pub fn limits(mut self, limits: QueryLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Bound on the answer cache in bytes (default
    /// [`cache::DEFAULT_MAX_BYTES`](crate::cache::DEFAULT_MAX_BYTES)); 0
    /// turns caching off.
    pub fn cache_bytes(mut self, bytes: usize) -> Self {
        self.cache_bytes = Some(bytes);
        self
    }

    /// How the image endpoints are set up (image store, config.json
    /// endpoints, limits).
    pub fn images(mut self, images: crate::images::ImagesConfig) -> Self {
        self.images = images;
        self
    }

    /// How long [`Server::serve`] lets requests in flight finish once its
    /// shutdown signal completed (default [`DEFAULT_DRAIN_TIMEOUT`]); then
    /// the connections still open are dropped and `serve` returns.
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = Some(timeout);
        self
    }

    /// Opens the catalog database (creating and migrating it if needed)
    /// without the first-start bootstrap: for operator commands.
    pub async fn open_catalog(self) -> Result<Catalog, ServerError> {
        let data_dir = self.data_dir.unwrap_or_else(|| PathBuf::from("data"));
        let db = match &self.database_url {
            Some(url) => Db::connect(url).await?,
            None => {
                tokio::fs::create_dir_all(&data_dir)
                    .await
                    .map_err(io_err(format!("creating {}", data_dir.display())))?;
                Db::open_sqlite(&data_dir.join(SQLITE_FILE)).await?
            }
        };
        Ok(Catalog::new(db))
    }

    /// Opens (and on first start, fills) the catalog.
    pub async fn build(self) -> Result<Server, ServerError> {
        let data_dir = self.data_dir.unwrap_or_else(|| PathBuf::from("data"));
        tokio::fs::create_dir_all(&data_dir)
            .await
            .map_err(io_err(format!("creating {}", data_dir.display())))?;
        let db = match &self.database_url {
            Some(url) => Db::connect(url).await?,
            None => Db::open_sqlite(&data_dir.join(SQLITE_FILE)).await?,
        };
        let catalog = Catalog::new(db.clone());
        let bootstrap = bootstrap(&catalog, &data_dir, self.demo).await?;
        let images =
            crate::images::ImageService::open(&data_dir, self.images.clone()).map_err(|e| {
                ServerError::Images {
                    context: "setting up the image endpoints".into(),
                    source: e,
                }
            })?;
        let images = std::sync::Arc::new(images);
        if bootstrap.as_ref().is_some_and(|b| b.demo_key.is_some()) {
            images
                .start_demo(catalog.db().clone())
                .await
                .map_err(|e| ServerError::Images {
                    context: "installing the demo images".into(),
                    source: e,
                })?;
        }
        Ok(Server {
            state: AppState::new(
                db,
                self.limits,
                self.cache_bytes.unwrap_or(crate::cache::DEFAULT_MAX_BYTES),
            )
            .with_images(images),
            catalog,
            data_dir,
            bootstrap,
            drain_timeout: self.drain_timeout.unwrap_or(DEFAULT_DRAIN_TIMEOUT),
        })
    }
}

/// Watches the database's access counter every
/// [`POLL_INTERVAL`](crate::cache::POLL_INTERVAL) so that keys revoked by
/// another process stop working within that time.
fn spawn_auth_poller(auth: crate::auth::Authenticator) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(crate::cache::POLL_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            auth.poll().await;
        }
    })
}

async fn write_secret(path: &Path, secret: &str) -> Result<(), ServerError> {
    let tmp = path.with_extension("tmp");
    tokio::fs::write(&tmp, format!("{secret}\n"))
        .await
        .map_err(io_err(format!("writing {}", tmp.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tokio::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
            .await
            .map_err(io_err(format!("protecting {}", tmp.display())))?;
    }
    tokio::fs::rename(&tmp, path)
        .await
        .map_err(io_err(format!("writing {}", path.display())))
}

/// The catalog server.
#[derive(Debug, Clone)]
pub struct Server {
    state: AppState,
    catalog: Catalog,
    data_dir: PathBuf,
    bootstrap: Option<Bootstrap>,
    drain_timeout: Duration,
}

impl Server {
    /// Starts configuring a server.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// The catalog (for admin operations).
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// What this start created (an administrator, the demo catalog) or why
    /// the demo was not loaded; `None` when there was nothing to do.
    pub fn bootstrap(&self) -> Option<&Bootstrap> {
        self.bootstrap.as_ref()
    }

    /// The answer cache of `/v7` queries (to watch what it holds).
    pub fn answer_cache(&self) -> &std::sync::Arc<crate::cache::ResponseCache> {
        self.state.cache()
    }

    /// How many pine queries this server executed (answers not taken from
    /// the answer cache) and how many SQL statements they ran: with
    /// `$expand` served level by level, a query costs one statement plus
    /// one per expansion whatever the number of rows (see
    /// [`Answer::statements`](crate::query::Answer::statements)). Each
    /// request's count is also on its `request` log span as
    /// `sql_statements`; it is never sent to clients.
    pub fn query_stats(&self) -> &Arc<crate::query::QueryStats> {
        self.state.query_stats()
    }

    /// The HTTP router (for in-process tests).
    pub fn router(&self) -> axum::Router {
        http::router(self.state.clone())
    }

    /// Serves on `listener` until `shutdown` completes, then lets the
    /// requests in flight finish for at most the drain timeout
    /// ([`ServerBuilder::drain_timeout`]), drops the connections still open
    /// after that, and closes the database. A shutdown cut short this way
    /// is still `Ok` (it is logged as a warning).
    pub async fn serve<F>(self, listener: TcpListener, shutdown: F) -> Result<(), ServerError>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let router = self.router();
        self.state.cache().poll().await;
        self.state.auth.poll().await;
        let poller = self.state.cache().spawn_poller();
        let auth_poller = spawn_auth_poller(self.state.auth.clone());
        let cutter = Arc::new(crate::drain::Cutter::default());
        let draining = Arc::new(tokio::sync::Notify::new());
        let signal = {
            let draining = draining.clone();
            async move {
                shutdown.await;
                tracing::info!("shutting down: finishing the requests in flight");
                draining.notify_one();
            }
        };
        let listener = crate::drain::CuttableListener::new(listener, cutter.clone());
        let serving = axum::serve(listener, router).with_graceful_shutdown(signal);
        let serving = std::future::IntoFuture::into_future(serving);
        tokio::pin!(serving);
        let drain_timeout = self.drain_timeout;
        let result = tokio::select! {
            r = &mut serving => r,
            () = async {
                draining.notified().await;
                tokio::time::sleep(drain_timeout).await;
            } => {
                let open = cutter.cut();
                tracing::warn!(
                    connections = open,
                    timeout_ms = drain_timeout.as_millis() as u64,
                    "shutdown: requests still running after the drain timeout; dropping their connections"
                );
                match tokio::time::timeout(CUT_GRACE, &mut serving).await {
                    Ok(r) => r,
                    Err(_) => {
                        // A handler that has not answered yet does not touch
                        // its connection; it ends with the process.
                        tracing::warn!("shutdown: some requests did not stop; leaving them");
                        Ok(())
                    }
                }
            }
        };
        let result = result.map_err(io_err("serving HTTP"));
        poller.abort();
        auth_poller.abort();
        self.state.db.close().await;
        result
    }
}
