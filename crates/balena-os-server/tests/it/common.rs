//! Starting real servers for tests: a real SQLite file in a temporary
//! directory, or a fresh PostgreSQL database, on a real loopback port.

use std::path::{Path, PathBuf};

use balena_os_server::catalog::Catalog;
use balena_os_server::catalog::import::BucketSource;
use balena_os_server::db::Db;
use balena_os_server::{Server, ServerBuilder};
use serde_json::Value;
use tokio::sync::oneshot;

/// Where the shared reference material is (`../shared` from the repository root).
pub fn shared() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")).to_path_buf()
}

/// Reads a JSON file of the shared material.
pub fn shared_json(rel: &str) -> Value {
    let path = shared().join(rel);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// Sends the server's logs to the test output (shown for failing tests);
/// `RUST_LOG` filters them (default: warnings).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server URL for tests; fails the test when it is not set.
pub fn postgres_url() -> String {
    match std::env::var("BALENA_OS_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "BALENA_OS_TEST_POSTGRES_URL is not set: run the PostgreSQL tests through \
             scripts/with-postgres, e.g. `scripts/with-postgres cargo test -p balena-os-server`"
        ),
    }
}

/// A fresh, empty database for one test: a new PostgreSQL database on the
/// test server, or `None` for SQLite (the server makes its file).
pub async fn fresh_database_url(backend: Backend) -> Option<String> {
    match backend {
        Backend::Sqlite => None,
        Backend::Postgres => {
            use sqlx::Connection;
            let base = postgres_url();
            let name = format!(
                "bos_test_{}_{}",
                std::process::id(),
                balena_os_server::auth::generate_key().to_ascii_lowercase()
            );
            let mut conn = sqlx::PgConnection::connect(&base)
                .await
                .expect("connect to the test PostgreSQL server");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                .execute(&mut conn)
                .await
                .expect("create a test database");
            let mut url = url::Url::parse(&base).expect("postgres URL");
            url.set_path(&format!("/{name}"));
            Some(url.to_string())
        }
    }
}

/// A running server.
pub struct TestServer {
    pub url: String,
    pub data: tempfile::TempDir,
    pub database_url: Option<String>,
    pub catalog: Catalog,
    pub admin_key: Option<String>,
    pub demo_key: Option<String>,
    /// Why `--demo` loaded nothing, when it did not.
    pub demo_skipped: Option<String>,
    pub client: reqwest::Client,
    /// The server's answer cache.
    pub cache: std::sync::Arc<balena_os_server::cache::ResponseCache>,
    /// The server's count of executed pine queries and their SQL statements.
    pub stats: std::sync::Arc<balena_os_server::query::QueryStats>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    /// Starts a server; `prepare` may fill the empty database first (the
    /// server then skips its first-start bootstrap).
    pub async fn start_with<F, Fut>(backend: Backend, demo: bool, prepare: F) -> TestServer
    where
        F: FnOnce(Catalog) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        Self::launch(backend, demo, |b| b, prepare).await
    }

    /// Starts a server whose builder `configure` adjusts (image store,
    /// limits, shutdown deadline…) after the data directory, database and
    /// demo flag are set.
    pub async fn start_configured(
        backend: Backend,
        demo: bool,
        configure: impl FnOnce(ServerBuilder) -> ServerBuilder,
    ) -> TestServer {
        Self::launch(backend, demo, configure, |_| async {}).await
    }

    /// Starts a server whose empty database `prepare` may fill first and
    /// whose builder `configure` adjusts (both as above).
    pub async fn launch<F, Fut>(
        backend: Backend,
        demo: bool,
        configure: impl FnOnce(ServerBuilder) -> ServerBuilder,
        prepare: F,
    ) -> TestServer
    where
        F: FnOnce(Catalog) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        init_tracing();
        let data = tempfile::tempdir().expect("tempdir");
        let database_url = fresh_database_url(backend).await;
        {
            let db = match &database_url {
                Some(url) => Db::connect(url).await.expect("connect"),
                None => Db::open_sqlite(&data.path().join("catalog.sqlite"))
                    .await
                    .expect("open sqlite"),
            };
            prepare(Catalog::new(db.clone())).await;
            db.close().await;
        }
        let mut builder = Server::builder().data_dir(data.path()).demo(demo);
        if let Some(url) = &database_url {
            builder = builder.database_url(url);
        }
        let server = configure(builder).build().await.expect("server starts");
        let catalog = server.catalog().clone();
        let admin_key = server.bootstrap().and_then(|b| b.admin_key.clone());
        let demo_key = server.bootstrap().and_then(|b| b.demo_key.clone());
        let demo_skipped = server.bootstrap().and_then(|b| b.demo_skipped.clone());
        let cache = server.answer_cache().clone();
        let stats = server.query_stats().clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server
                .serve(listener, async {
                    let _ = stopped.await;
                })
                .await
                .expect("serve");
        });
        TestServer {
            url,
            data,
            database_url,
            catalog,
            admin_key,
            demo_key,
            demo_skipped,
            client: reqwest::Client::new(),
            cache,
            stats,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// A server with nothing but the first-start bootstrap (or the demo).
    pub async fn start(backend: Backend, demo: bool) -> TestServer {
        Self::start_with(backend, demo, |_| async {}).await
    }

    /// GET `path_and_query` with an optional API key; returns status and body.
    pub async fn get(&self, path_and_query: &str, key: Option<&str>) -> (u16, Value) {
        let mut req = self.client.get(format!("{}{}", self.url, path_and_query));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{path_and_query}: body is not JSON ({e}): {text}"))
        };
        (status, body)
    }

    /// A second, independent connection pool to the server's database, as
    /// another process (`balena-os admin`) would have.
    pub async fn other_process_catalog(&self) -> Catalog {
        let db = match &self.database_url {
            Some(url) => Db::connect(url).await.expect("connect"),
            None => Db::open_sqlite(&self.data.path().join("catalog.sqlite"))
                .await
                .expect("open sqlite"),
        };
        Catalog::new(db)
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.expect("server task");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// A moto S3 server on a free loopback port, stopped on drop.
pub struct Moto {
    child: tokio::process::Child,
    /// The server's base URL, e.g. `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

impl Moto {
    /// Creates the bucket `name` and returns a client for it.
    pub async fn create_bucket(&self, name: &str) -> std::sync::Arc<dyn object_store::ObjectStore> {
        let resp = reqwest::Client::new()
            .put(format!("{}/{name}", self.endpoint))
            .send()
            .await
            .expect("create bucket");
        assert!(
            resp.status().is_success(),
            "create bucket: {}",
            resp.status()
        );
        std::sync::Arc::new(
            object_store::aws::AmazonS3Builder::new()
                .with_bucket_name(name)
                .with_region("us-east-1")
                .with_endpoint(&self.endpoint)
                .with_allow_http(true)
                .with_access_key_id("test")
                .with_secret_access_key("test")
                .build()
                .expect("s3 client"),
        )
    }

    /// How the server and the importers find `prefix` in `bucket`.
    pub fn source(&self, bucket: &str, prefix: &str) -> BucketSource {
        BucketSource::S3 {
            bucket: bucket.into(),
            prefix: prefix.into(),
            endpoint: Some(self.endpoint.clone()),
            region: None,
            access_key_id: Some("test".into()),
            secret_access_key: Some("test".into()),
            allow_http: true,
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Starts moto's S3 server (`pip install 'moto[server]'`) and waits until it answers.
pub async fn moto() -> Moto {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = tokio::process::Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| {
            panic!("moto_server is needed for the S3 tests (pip install 'moto[server]'): {e}")
        });
    let endpoint = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client.get(&endpoint).send().await.is_ok() {
            return Moto { child, endpoint };
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("moto_server did not start on {endpoint}");
}
