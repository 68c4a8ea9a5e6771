//! Storage: one code path over SQLite (the embedded default) and PostgreSQL.
//!
//! Statements are built as sea-query trees and rendered for the backend at
//! hand; every value travels as a bind parameter (sea-query-sqlx), and the
//! rendered SQL text reaches sqlx only in [`Db::fetch`] and the [`Tx`]
//! methods, wrapped in [`sqlx::AssertSqlSafe`].
//! Rows come back as typed [`Cell`]s, decoded the same way on both backends
//! because the two schemas store the same types (integers, text, booleans).
//!
//! Migrations are embedded in the binary, one directory per backend
//! (`migrations/sqlite`, `migrations/postgres`), and run on every start.

use std::borrow::Cow;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sea_query::{InsertStatement, PostgresQueryBuilder, SelectStatement, SqliteQueryBuilder};
use sea_query_sqlx::SqlxBinder;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AssertSqlSafe, ColumnIndex, Decode, PgPool, Row, SqlStr, SqlitePool, Type};

/// Storage failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// The database URL names no supported backend.
    #[error("unsupported database URL '{0}': expected sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    /// Connecting, querying or decoding failed. sqlx's errors print their
    /// cause and also return it from `source()`, so this wrapper shows
    /// sqlx's chain (each cause once) in its own message and has no
    /// `source()`; the sqlx error is the field.
    #[error("database error: {}", crate::ErrorChain(.0))]
    Sqlx(sqlx::Error),
    /// Applying the embedded migrations failed (the chain is in the message,
    /// as for [`DbError::Sqlx`]).
    #[error("database migration failed: {}", crate::ErrorChain(.0))]
    Migrate(sqlx::migrate::MigrateError),
    /// A value did not have the type the schema promises.
    #[error("unexpected value in column {column}")]
    Decode {
        /// The column position in the result.
        column: usize,
    },
}

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> Self {
        DbError::Sqlx(e)
    }
}

impl From<sqlx::migrate::MigrateError> for DbError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        DbError::Migrate(e)
    }
}

/// Which database engine backs a [`Db`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite (one file in the data directory).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// How a result column is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellType {
    /// 64-bit integer (also dates and references).
    Int,
    /// Text (also JSON documents).
    Text,
    /// Boolean.
    Bool,
}

/// One decoded value of a result row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    /// SQL NULL.
    Null,
    /// An integer.
    Int(i64),
    /// Text.
    Text(String),
    /// A boolean.
    Bool(bool),
}

impl Cell {
    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Cell::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The text, if this is text.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Cell::Text(s) => Some(s),
            _ => None,
        }
    }
}

const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "catalog",
        include_str!("../migrations/sqlite/0001_catalog.sql"),
    ),
    (
        2,
        "catalog generation",
        include_str!("../migrations/sqlite/0002_catalog_generation.sql"),
    ),
    (
        3,
        "access generation",
        include_str!("../migrations/sqlite/0003_access_generation.sql"),
    ),
    (
        100,
        "provisioning keys",
        include_str!("../migrations/sqlite/0100_provisioning_keys.sql"),
    ),
];
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "catalog",
        include_str!("../migrations/postgres/0001_catalog.sql"),
    ),
    (
        2,
        "catalog generation",
        include_str!("../migrations/postgres/0002_catalog_generation.sql"),
    ),
    (
        3,
        "access generation",
        include_str!("../migrations/postgres/0003_access_generation.sql"),
    ),
    (
        100,
        "provisioning keys",
        include_str!("../migrations/postgres/0100_provisioning_keys.sql"),
    ),
];

fn migrator(list: &[(i64, &'static str, &'static str)]) -> Migrator {
    let migrations: Vec<Migration> = list
        .iter()
        .map(|(version, description, sql)| {
            Migration::new(
                *version,
                Cow::Borrowed(*description),
                MigrationType::Simple,
                SqlStr::from_static(sql),
                false,
            )
        })
        .collect();
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}

/// What a write transaction changes, which decides the caches its commit
/// invalidates in this process (other processes learn of changes through
/// the database's change counters, which triggers maintain per table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    /// Catalog data (device types, fleets, releases, organisations, tags),
    /// possibly with anything else: drops cached answers and resolved keys.
    Catalog,
    /// Who may see what (users, memberships, revoked or changed API keys):
    /// drops resolved keys only. Cached answers are keyed by what a caller
    /// may see, never by who the caller is, so they stay valid.
    Access,
    /// New keys only (API keys, provisioning keys): invalidates nothing, as
    /// only keys that exist are ever cached and no answer lists keys.
    NewKeys,
}

#[derive(Debug, Default)]
struct Commits {
    /// Committed [`WriteKind::Catalog`] transactions.
    catalog: AtomicU64,
    /// Committed [`WriteKind::Catalog`] and [`WriteKind::Access`] transactions.
    access: AtomicU64,
}

/// A connection pool to the catalog database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Db {
    pool: Pool,
    /// Write transactions committed through this pool (and its clones).
    commits: Arc<Commits>,
}

#[derive(Debug, Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Db {
    /// Opens (creating if needed) the SQLite database file at `path` in WAL
    /// mode and applies the embedded migrations.
    pub async fn open_sqlite(path: &Path) -> Result<Db, DbError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // Rows come from a worker thread; a deep buffer lets it run
            // ahead instead of handing rows over one wake-up at a time.
            .row_buffer_size(4096)
            // OData's startswith/endswith/contains are case-sensitive, as
            // LIKE is on PostgreSQL.
            .pragma("case_sensitive_like", "ON");
        Self::open_sqlite_with(options).await
    }

    /// Opens a private in-memory SQLite database (for tests and tools).
    pub async fn open_sqlite_memory() -> Result<Db, DbError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?
            .foreign_keys(true)
            .pragma("case_sensitive_like", "ON");
        // One connection: every in-memory connection would be a new database.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        Self::migrated(Pool::Sqlite(pool)).await
    }

    async fn open_sqlite_with(options: SqliteConnectOptions) -> Result<Db, DbError> {
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        Self::migrated(Pool::Sqlite(pool)).await
    }

    /// A handle on `pool`, with the embedded migrations applied.
    async fn migrated(pool: Pool) -> Result<Db, DbError> {
        let db = Db {
            pool,
            commits: Arc::default(),
        };
        db.migrate().await?;
        Ok(db)
    }

    /// Connects to `url` (`sqlite://PATH`, `sqlite:PATH`, `postgres://…` or
    /// `postgresql://…`) and applies the embedded migrations.
    pub async fn connect(url: &str) -> Result<Db, DbError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await?;
            Self::migrated(Pool::Postgres(pool)).await
        } else if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if path.is_empty() || path.starts_with(":memory:") {
                return Self::open_sqlite_memory().await;
            }
            Self::open_sqlite(Path::new(path)).await
        } else {
            Err(DbError::UnsupportedUrl(redact_url(url)))
        }
    }

    /// Applies the embedded migrations that are not applied yet.
    pub async fn migrate(&self) -> Result<(), DbError> {
        match &self.pool {
            Pool::Sqlite(p) => migrator(SQLITE_MIGRATIONS).run(p).await?,
            Pool::Postgres(p) => migrator(POSTGRES_MIGRATIONS).run(p).await?,
        }
        Ok(())
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Closes every connection (waits for checked-out ones).
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(p) => p.close().await,
            Pool::Postgres(p) => p.close().await,
        }
    }

    /// Runs a SELECT and decodes every row with `types`.
    pub async fn fetch(
        &self,
        stmt: &SelectStatement,
        types: &[CellType],
    ) -> Result<Vec<Vec<Cell>>, DbError> {
        match &self.pool {
            Pool::Sqlite(p) => {
                let (sql, values) = stmt.build_sqlx(SqliteQueryBuilder);
                let rows = sqlx::query_with(AssertSqlSafe(sql), values)
                    .fetch_all(p)
                    .await?;
                rows.iter().map(|r| decode_row(r, types)).collect()
            }
            Pool::Postgres(p) => {
                let (sql, values) = stmt.build_sqlx(PostgresQueryBuilder);
                let rows = sqlx::query_with(AssertSqlSafe(sql), values)
                    .fetch_all(p)
                    .await?;
                rows.iter().map(|r| decode_row(r, types)).collect()
            }
        }
    }

    /// Starts a write transaction that may change catalog data (see
    /// [`Db::begin_for`]).
    pub async fn begin(&self) -> Result<Tx, DbError> {
        self.begin_for(WriteKind::Catalog).await
    }

    /// Starts a write transaction that changes only what `kind` says; its
    /// commit invalidates this process's caches accordingly. On SQLite it
    /// takes the write lock at once (`BEGIN IMMEDIATE`) so that concurrent
    /// writers queue instead of failing on lock upgrade.
    pub async fn begin_for(&self, kind: WriteKind) -> Result<Tx, DbError> {
        let inner = match &self.pool {
            Pool::Sqlite(p) => TxInner::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?),
            Pool::Postgres(p) => TxInner::Postgres(p.begin().await?),
        };
        Ok(Tx {
            inner,
            kind,
            commits: self.commits.clone(),
        })
    }

    /// How many catalog write transactions ([`WriteKind::Catalog`]) were
    /// committed through this pool: a cheap, immediate change signal for
    /// answer caches in this process.
    pub fn local_commits(&self) -> u64 {
        self.commits.catalog.load(Ordering::Acquire)
    }

    /// How many transactions that may change who sees what
    /// ([`WriteKind::Catalog`] or [`WriteKind::Access`]) were committed
    /// through this pool: the change signal for resolved API keys.
    pub fn local_access_commits(&self) -> u64 {
        self.commits.access.load(Ordering::Acquire)
    }

    async fn counter(&self, table: &'static str) -> Result<i64, DbError> {
        let q = sea_query::Query::select()
            .column("value")
            .from(table)
            .to_owned();
        let rows = self.fetch(&q, &[CellType::Int]).await?;
        Ok(rows.first().and_then(|r| r[0].as_int()).unwrap_or(0))
    }

    /// The catalog's change counter, bumped by triggers on every change to
    /// the catalog tables (those the `/v7` answers are made of), whichever
    /// process makes it.
    pub async fn catalog_generation(&self) -> Result<i64, DbError> {
        self.counter("catalog_generation").await
    }

    /// The access change counter, bumped by triggers when users or
    /// memberships change or API keys are changed or deleted, whichever
    /// process does it. New keys do not move it.
    pub async fn access_generation(&self) -> Result<i64, DbError> {
        self.counter("access_generation").await
    }
}

/// Keeps the scheme and host of a URL for error messages, dropping any
/// credentials.
fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
            format!("{scheme}://{host}")
        }
        None => url.chars().take(64).collect(),
    }
}

fn decode_row<'r, R>(row: &'r R, types: &[CellType]) -> Result<Vec<Cell>, DbError>
where
    R: Row,
    usize: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    bool: Decode<'r, R::Database> + Type<R::Database>,
{
    let mut cells = Vec::with_capacity(types.len());
    for (i, ty) in types.iter().enumerate() {
        let cell = match ty {
            CellType::Int => row.try_get::<Option<i64>, _>(i)?.map(Cell::Int),
            CellType::Text => row.try_get::<Option<String>, _>(i)?.map(Cell::Text),
            CellType::Bool => row.try_get::<Option<bool>, _>(i)?.map(Cell::Bool),
        };
        cells.push(cell.unwrap_or(Cell::Null));
    }
    Ok(cells)
}

/// An open write transaction. Dropping it without [`Tx::commit`] rolls back.
#[derive(Debug)]
pub struct Tx {
    inner: TxInner,
    kind: WriteKind,
    commits: Arc<Commits>,
}

#[derive(Debug)]
enum TxInner {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl Tx {
    /// What this transaction was declared to change.
    pub fn kind(&self) -> WriteKind {
        self.kind
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        match self.inner {
            TxInner::Sqlite(_) => Backend::Sqlite,
            TxInner::Postgres(_) => Backend::Postgres,
        }
    }

    /// Runs a SELECT inside the transaction.
    pub async fn fetch(
        &mut self,
        stmt: &SelectStatement,
        types: &[CellType],
    ) -> Result<Vec<Vec<Cell>>, DbError> {
        match &mut self.inner {
            TxInner::Sqlite(tx) => {
                let (sql, values) = stmt.build_sqlx(SqliteQueryBuilder);
                let rows = sqlx::query_with(AssertSqlSafe(sql), values)
                    .fetch_all(&mut **tx)
                    .await?;
                rows.iter().map(|r| decode_row(r, types)).collect()
            }
            TxInner::Postgres(tx) => {
                let (sql, values) = stmt.build_sqlx(PostgresQueryBuilder);
                let rows = sqlx::query_with(AssertSqlSafe(sql), values)
                    .fetch_all(&mut **tx)
                    .await?;
                rows.iter().map(|r| decode_row(r, types)).collect()
            }
        }
    }

    /// Runs an INSERT, UPDATE or DELETE; returns the number of rows touched.
    pub async fn execute<S: SqlxBinder>(&mut self, stmt: &S) -> Result<u64, DbError> {
        Ok(match &mut self.inner {
            TxInner::Sqlite(tx) => {
                let (sql, values) = stmt.build_sqlx(SqliteQueryBuilder);
                sqlx::query_with(AssertSqlSafe(sql), values)
                    .execute(&mut **tx)
                    .await?
                    .rows_affected()
            }
            TxInner::Postgres(tx) => {
                let (sql, values) = stmt.build_sqlx(PostgresQueryBuilder);
                sqlx::query_with(AssertSqlSafe(sql), values)
                    .execute(&mut **tx)
                    .await?
                    .rows_affected()
            }
        })
    }

    /// Runs an INSERT and returns the new row's `id`.
    pub async fn insert(&mut self, stmt: &mut InsertStatement) -> Result<i64, DbError> {
        stmt.returning_col("id");
        Ok(match &mut self.inner {
            TxInner::Sqlite(tx) => {
                let (sql, values) = stmt.build_sqlx(SqliteQueryBuilder);
                sqlx::query_with(AssertSqlSafe(sql), values)
                    .fetch_one(&mut **tx)
                    .await?
                    .try_get::<i64, _>(0)?
            }
            TxInner::Postgres(tx) => {
                let (sql, values) = stmt.build_sqlx(PostgresQueryBuilder);
                sqlx::query_with(AssertSqlSafe(sql), values)
                    .fetch_one(&mut **tx)
                    .await?
                    .try_get::<i64, _>(0)?
            }
        })
    }

    /// After rows were inserted with explicit ids on PostgreSQL, moves the
    /// identity sequence of `table` past the largest id. No-op on SQLite,
    /// which always continues after the largest rowid.
    pub async fn sync_id_sequence(&mut self, table: &'static str) -> Result<(), DbError> {
        if let TxInner::Postgres(tx) = &mut self.inner {
            // `table` comes from the static schema, never from a request.
            let sql = format!(
                "SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), \
                 GREATEST((SELECT MAX(id) FROM \"{table}\"), 1))"
            );
            sqlx::query(AssertSqlSafe(sql)).execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// Commits.
    pub async fn commit(self) -> Result<(), DbError> {
        match self.inner {
            TxInner::Sqlite(tx) => tx.commit().await?,
            TxInner::Postgres(tx) => tx.commit().await?,
        }
        match self.kind {
            WriteKind::Catalog => {
                self.commits.catalog.fetch_add(1, Ordering::AcqRel);
                self.commits.access.fetch_add(1, Ordering::AcqRel);
            }
            WriteKind::Access => {
                self.commits.access.fetch_add(1, Ordering::AcqRel);
            }
            WriteKind::NewKeys => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_credentials() {
        assert_eq!(redact_url("mysql://user:secret@host/db"), "mysql://host/db");
        assert_eq!(redact_url("nonsense"), "nonsense");
    }

    #[tokio::test]
    async fn memory_database_migrates() {
        let db = Db::open_sqlite_memory().await.expect("open");
        let mut q = SelectStatement::new();
        q.expr(sea_query::Expr::cust("COUNT(*)")).from("release");
        let rows = db.fetch(&q, &[CellType::Int]).await.expect("fetch");
        assert_eq!(rows, vec![vec![Cell::Int(0)]]);
    }

    #[tokio::test]
    async fn unsupported_url_is_rejected() {
        let err = Db::connect("mysql://u:p@h/db").await.unwrap_err();
        assert!(err.to_string().contains("mysql://h/db"), "{err}");
    }
}
