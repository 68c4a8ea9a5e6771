//! Writing the catalog: organisations, users, API keys, device types, host
//! and supervisor apps, fleets, releases and tags.
//!
//! Every write the server ever makes goes through this module, inside a
//! transaction: a failed import or command leaves the catalog as it was. The
//! release fields balena's model computes (`is_final`, `semver`,
//! `raw_version`) are computed here, in [`ReleaseVersion`], so that reads can
//! filter and sort on them like on any column.
//!
//! Sub-modules fill the catalog from somewhere: [`import`] from a balena
//! image bucket, [`demo`] the embedded demo catalog, [`rows`] a dump of
//! `/v7` rows such as the open-balena-api seed.

pub mod demo;
pub mod import;
pub mod rows;

use sea_query::{Expr, ExprTrait, Query, SelectStatement, Value};
use serde_json::json;

use crate::auth::{self, NewApiKey};
use crate::db::{Cell, CellType, Db, DbError, Tx, WriteKind};
use crate::time::now_millis;

/// Why a catalog write was refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// The storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// An input does not have the required form.
    #[error("invalid {what} '{value}': {reason}")]
    Invalid {
        /// Which input.
        what: &'static str,
        /// The value given (shortened).
        value: String,
        /// What is expected.
        reason: &'static str,
    },
    /// A referenced row does not exist.
    #[error("no {what} '{value}'")]
    NotFound {
        /// What was looked for.
        what: &'static str,
        /// The name given.
        value: String,
    },
    /// The row to create exists already.
    #[error("{what} '{value}' already exists")]
    Exists {
        /// What was to be created.
        what: &'static str,
        /// Its name.
        value: String,
    },
    /// Reading the image bucket failed.
    #[error("image bucket: {0}")]
    Bucket(String),
    /// A document (device-type.json, a row dump…) is malformed.
    #[error("{0}")]
    Document(String),
}

pub(crate) fn invalid(what: &'static str, value: &str, reason: &'static str) -> CatalogError {
    CatalogError::Invalid {
        what,
        value: value.chars().take(80).collect(),
        reason,
    }
}

/// Checks a slug-like name: 1–`max` characters from `[a-z0-9_.-]`, starting
/// with a letter or digit.
pub(crate) fn check_slug(what: &'static str, value: &str, max: usize) -> Result<(), CatalogError> {
    if value.is_empty() || value.len() > max {
        return Err(invalid(what, value, "empty or too long"));
    }
    let ok = value
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.'));
    if !ok || !value.as_bytes()[0].is_ascii_alphanumeric() {
        return Err(invalid(
            what,
            value,
            "use lowercase letters, digits, '_', '-' and '.', starting with a letter or digit",
        ));
    }
    Ok(())
}

/// A release's version columns, and the fields balena's model derives from
/// them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseVersion {
    /// `semver_major`.
    pub major: u64,
    /// `semver_minor`.
    pub minor: u64,
    /// `semver_patch`.
    pub patch: u64,
    /// `semver_prerelease`: dot-separated identifiers, `""` when none.
    pub prerelease: String,
    /// `semver_build`: dot-separated identifiers, `""` when none.
    pub build: String,
    /// `variant`: `""`, `"dev"` or `"prod"` (≤ 50 characters).
    pub variant: String,
    /// `revision`: `None` for a draft, else the revision among final
    /// releases of the same version.
    pub revision: Option<u64>,
}

impl ReleaseVersion {
    /// `is_final`: the release has a revision.
    pub fn is_final(&self) -> bool {
        self.revision.is_some()
    }

    /// `semver`: `M.m.p[-prerelease][+build]` (no revision, no variant).
    ///
    /// ```
    /// use balena_os_server::catalog::ReleaseVersion;
    /// let v = ReleaseVersion { major: 2, minor: 83, patch: 10, prerelease: String::new(),
    ///     build: "rev1".into(), variant: "prod".into(), revision: Some(1) };
    /// assert_eq!(v.semver(), "2.83.10+rev1");
    /// assert_eq!(v.raw_version(0), "2.83.10+rev1.prod");
    /// ```
    pub fn semver(&self) -> String {
        let mut s = format!("{}.{}.{}", self.major, self.minor, self.patch);
        if !self.prerelease.is_empty() {
            s.push('-');
            s.push_str(&self.prerelease);
        }
        if !self.build.is_empty() {
            s.push('+');
            s.push_str(&self.build);
        }
        s
    }

    /// The prerelease identifiers of `raw_version`: the stored ones, plus the
    /// creation time in milliseconds for a draft.
    pub fn raw_prerelease(&self, created_at: i64) -> Vec<String> {
        let mut parts: Vec<String> = if self.prerelease.is_empty() {
            Vec::new()
        } else {
            self.prerelease.split('.').map(str::to_owned).collect()
        };
        if self.revision.is_none() {
            parts.push(created_at.to_string());
        }
        parts
    }

    /// The build identifiers of `raw_version`: the stored ones, then `revN`
    /// when the revision is above 0 and not listed yet, then the variant.
    pub fn raw_build(&self) -> Vec<String> {
        let mut parts: Vec<String> = if self.build.is_empty() {
            Vec::new()
        } else {
            self.build.split('.').map(str::to_owned).collect()
        };
        if let Some(rev) = self.revision.filter(|r| *r > 0) {
            let tag = format!("rev{rev}");
            if !parts.contains(&tag) {
                parts.push(tag);
            }
        }
        if !self.variant.is_empty() {
            parts.push(self.variant.clone());
        }
        parts
    }

    /// `raw_version`, as balena's model computes it (see
    /// [`ReleaseVersion::semver`] for an example). `created_at` (ms) only
    /// matters for drafts, whose version gets it as a prerelease part.
    pub fn raw_version(&self, created_at: i64) -> String {
        let mut s = format!("{}.{}.{}", self.major, self.minor, self.patch);
        let pre = self.raw_prerelease(created_at);
        if !pre.is_empty() {
            s.push('-');
            s.push_str(&pre.join("."));
        }
        let build = self.raw_build();
        if !build.is_empty() {
            s.push('+');
            s.push_str(&build.join("."));
        }
        s
    }

    /// The version columns of a release from a version string as balena
    /// writes them (an image-bucket build folder, `VERSION_HOSTOS`, a
    /// changelog heading), parsed with balena-semver: `2.19.0+rev1.prod`
    /// gives build `rev1`, revision 1 and variant `prod`; `6.8.1` gives
    /// revision 0 and no variant. `None` when balena-semver cannot parse it.
    ///
    /// ```
    /// use balena_os_server::catalog::ReleaseVersion;
    /// let v = ReleaseVersion::from_build_id("2.19.0+rev1.prod").unwrap();
    /// assert_eq!((v.build.as_str(), v.revision, v.variant.as_str()), ("rev1", Some(1), "prod"));
    /// assert_eq!(v.raw_version(0), "2.19.0+rev1.prod");
    /// assert_eq!(ReleaseVersion::from_build_id("2.0.0.rev1").unwrap().raw_version(0), "2.0.0+rev1");
    /// assert!(ReleaseVersion::from_build_id("latest").is_none());
    /// ```
    pub fn from_build_id(text: &str) -> Option<ReleaseVersion> {
        let parsed = balena_semver::parse(text)?;
        let mut build = parsed.build;
        let mut prerelease: Vec<String> =
            parsed.prerelease.iter().map(ToString::to_string).collect();
        let is_variant = |s: &str| s.eq_ignore_ascii_case("dev") || s.eq_ignore_ascii_case("prod");
        let mut variant = String::new();
        if build.last().is_some_and(|b| is_variant(b)) {
            variant = build.pop().unwrap_or_default().to_ascii_lowercase();
        } else if build.is_empty() && prerelease.last().is_some_and(|p| is_variant(p)) {
            variant = prerelease.pop().unwrap_or_default().to_ascii_lowercase();
        }
        let revision = build
            .iter()
            .find_map(|b| b.strip_prefix("rev").and_then(|n| n.parse::<u64>().ok()))
            .unwrap_or(0);
        let v = ReleaseVersion {
            major: parsed.major,
            minor: parsed.minor,
            patch: parsed.patch,
            prerelease: prerelease.join("."),
            build: build.join("."),
            variant,
            revision: Some(revision),
        };
        v.validate().ok()?;
        Some(v)
    }

    /// Checks the identifiers the way balena's model constrains them.
    pub fn validate(&self) -> Result<(), CatalogError> {
        let ident_ok = |s: &str| {
            s.is_empty()
                || s.split('.').all(|p| {
                    !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                })
        };
        if !ident_ok(&self.prerelease) {
            return Err(invalid(
                "semver prerelease",
                &self.prerelease,
                "dot-separated [0-9A-Za-z-] identifiers",
            ));
        }
        if !ident_ok(&self.build) {
            return Err(invalid(
                "semver build",
                &self.build,
                "dot-separated [0-9A-Za-z-] identifiers",
            ));
        }
        if self.variant.len() > 50 || !ident_ok(&self.variant) || self.variant.contains('.') {
            return Err(invalid(
                "variant",
                &self.variant,
                "at most 50 characters from [0-9A-Za-z-]",
            ));
        }
        let max = i64::MAX as u64;
        if self.major > max || self.minor > max || self.patch > max {
            return Err(invalid("version", &self.semver(), "numbers too large"));
        }
        if self.revision.is_some_and(|r| r > max) {
            return Err(invalid("revision", &self.semver(), "number too large"));
        }
        Ok(())
    }
}

/// Release statuses balena's model allows.
pub const RELEASE_STATUSES: &[&str] = &[
    "running",
    "success",
    "failed",
    "error",
    "cancelled",
    "interrupted",
];

/// Release phases balena's model allows (`None` is also allowed).
pub const RELEASE_PHASES: &[&str] = &["next", "current", "sunset", "end-of-life"];

/// A release to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRelease {
    /// Unique per application; re-creating a release with the same commit
    /// changes nothing (idempotent imports).
    pub commit: String,
    /// Version columns.
    pub version: ReleaseVersion,
    /// One of [`RELEASE_STATUSES`].
    pub status: String,
    /// One of [`RELEASE_PHASES`], or none.
    pub phase: Option<String>,
    /// Whether the release was withdrawn.
    pub is_invalidated: bool,
    /// `is_passing_tests`.
    pub is_passing_tests: bool,
    /// `known_issue_list`.
    pub known_issue_list: Option<String>,
    /// `note`.
    pub note: Option<String>,
    /// `invalidation_reason`.
    pub invalidation_reason: Option<String>,
    /// Creation time (ms since the epoch).
    pub created_at: i64,
    /// Release tags, in order.
    pub tags: Vec<(String, String)>,
}

impl NewRelease {
    /// A successful final release of `version` created at `created_at`.
    pub fn success(commit: impl Into<String>, version: ReleaseVersion, created_at: i64) -> Self {
        NewRelease {
            commit: commit.into(),
            version,
            status: "success".into(),
            phase: None,
            is_invalidated: false,
            is_passing_tests: true,
            known_issue_list: None,
            note: None,
            invalidation_reason: None,
            created_at,
            tags: Vec::new(),
        }
    }
}

/// A device type to create or update (keyed by slug).
#[derive(Debug, Clone, PartialEq)]
pub struct NewDeviceType {
    /// The slug, e.g. `raspberrypi4-64`.
    pub slug: String,
    /// The display name.
    pub name: String,
    /// The CPU architecture slug (`aarch64`, `armv7hf`, `rpi`, `amd64`, `i386`, …).
    pub arch: String,
    /// Other names it answers to (its slug is always added).
    pub aliases: Vec<String>,
    /// The hw.device-type contract.
    pub contract: serde_json::Value,
    /// A logo (data URL), if known.
    pub logo: Option<String>,
    /// Hidden from everyone but administrators.
    pub is_private: bool,
}

/// An application (fleet, host app or supervisor app) to create or update
/// (keyed by slug).
#[derive(Debug, Clone, PartialEq)]
pub struct NewApplication {
    /// Owning organisation handle.
    pub organization: String,
    /// `app_name`; the slug is `<organization>/<app_name lower-cased>`.
    pub app_name: String,
    /// Device type slug.
    pub device_type: String,
    /// A host (OS) app.
    pub is_host: bool,
    /// Readable by everyone.
    pub is_public: bool,
    /// Application tags, in order.
    pub tags: Vec<(String, String)>,
    /// A fixed uuid (32 lowercase hex digits); random when `None`.
    pub uuid: Option<String>,
    /// Creation time (ms); now when `None`.
    pub created_at: Option<i64>,
}

/// Counts of what a catalog operation created.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct WriteReport {
    /// Device types created.
    pub device_types_created: usize,
    /// Applications created.
    pub applications_created: usize,
    /// Releases created.
    pub releases_created: usize,
    /// Releases (build folders) left alone because they already existed.
    pub releases_unchanged: usize,
    /// Build folders skipped (unfinished uploads and the like), with reasons.
    pub skipped: Vec<String>,
}

/// Reads and writes the catalog.
#[derive(Debug, Clone)]
pub struct Catalog {
    db: Db,
}

fn select_id(table: &'static str, column: &'static str, value: Value) -> SelectStatement {
    Query::select()
        .column("id")
        .from(table)
        .and_where(Expr::col(column).eq(Expr::val(value)))
        .to_owned()
}

pub(crate) async fn find_id(
    tx: &mut Tx,
    table: &'static str,
    column: &'static str,
    value: impl Into<Value>,
) -> Result<Option<i64>, DbError> {
    let rows = tx
        .fetch(&select_id(table, column, value.into()), &[CellType::Int])
        .await?;
    Ok(rows.first().and_then(|r| r[0].as_int()))
}

/// The id of the row of `table` whose `column` is `value`, or
/// [`CatalogError::NotFound`] calling it `what`.
async fn existing_id(
    tx: &mut Tx,
    what: &'static str,
    table: &'static str,
    column: &'static str,
    value: &str,
) -> Result<i64, CatalogError> {
    find_id(tx, table, column, value)
        .await?
        .ok_or_else(|| CatalogError::NotFound {
            what,
            value: value.into(),
        })
}

/// [`CatalogError::Exists`], calling it `what`, when `table` has a row whose
/// `column` is `value`.
async fn ensure_absent(
    tx: &mut Tx,
    what: &'static str,
    table: &'static str,
    column: &'static str,
    value: &str,
) -> Result<(), CatalogError> {
    if find_id(tx, table, column, value).await?.is_some() {
        return Err(CatalogError::Exists {
            what,
            value: value.into(),
        });
    }
    Ok(())
}

/// The id of the row of `table` whose `column` is `value`; when there is
/// none, inserts one created and modified at `now`, with `fields` and then
/// `column` set to `value`.
async fn find_or_insert(
    tx: &mut Tx,
    table: &'static str,
    column: &'static str,
    value: &str,
    now: i64,
    fields: Vec<(&'static str, Value)>,
) -> Result<i64, DbError> {
    if let Some(id) = find_id(tx, table, column, value).await? {
        return Ok(id);
    }
    let mut values = vec![("created_at", now.into()), ("modified_at", now.into())];
    values.extend(fields);
    values.push((column, value.into()));
    insert_row(tx, table, values).await
}

pub(crate) async fn insert_row(
    tx: &mut Tx,
    table: &'static str,
    values: Vec<(&'static str, Value)>,
) -> Result<i64, DbError> {
    let (cols, vals): (Vec<_>, Vec<_>) = values.into_iter().unzip();
    let mut stmt = Query::insert();
    stmt.into_table(table).columns(cols);
    stmt.values(vals.into_iter().map(Expr::val))
        .map_err(|_| DbError::Decode { column: 0 })?;
    tx.insert(&mut stmt).await
}

pub(crate) async fn update_row(
    tx: &mut Tx,
    table: &'static str,
    id: i64,
    values: Vec<(&'static str, Value)>,
) -> Result<(), DbError> {
    let stmt = Query::update()
        .table(table)
        .values(values.into_iter().map(|(c, v)| (c, Expr::val(v))))
        .and_where(Expr::col("id").eq(id))
        .to_owned();
    tx.execute(&stmt).await?;
    Ok(())
}

/// 32 lowercase hex digits from the system's random source.
pub(crate) fn random_uuid() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // No system randomness: fall back to the clock (uniqueness is still
        // enforced by the database).
        bytes[..8].copy_from_slice(&now_millis().to_le_bytes());
    }
    hex(&bytes)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

impl Catalog {
    /// A catalog over `db`.
    pub fn new(db: Db) -> Self {
        Catalog { db }
    }

    /// The underlying database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    async fn count(&self, sql: &'static str) -> Result<i64, CatalogError> {
        let q = Query::select().expr(Expr::cust(sql)).to_owned();
        let rows = self.db.fetch(&q, &[CellType::Int]).await?;
        Ok(rows.first().and_then(|r| r[0].as_int()).unwrap_or(0))
    }

    /// Whether some user is a superuser (an administrator).
    pub async fn has_superuser(&self) -> Result<bool, CatalogError> {
        Ok(self
            .count("(SELECT COUNT(*) FROM \"user\" WHERE is_superuser)")
            .await?
            > 0)
    }

    /// How many host apps (balenaOS applications) the catalog has.
    pub async fn host_app_count(&self) -> Result<i64, CatalogError> {
        self.count("(SELECT COUNT(*) FROM application WHERE is_host)")
            .await
    }

    /// Whether a user called `username` exists.
    pub async fn has_user(&self, username: &str) -> Result<bool, CatalogError> {
        let q = select_id("user", "username", username.into());
        Ok(!self.db.fetch(&q, &[CellType::Int]).await?.is_empty())
    }

    /// Whether nothing has been created yet (no user, no device type).
    pub async fn is_empty(&self) -> Result<bool, CatalogError> {
        let q = Query::select()
            .expr(Expr::cust(
                "(SELECT COUNT(*) FROM \"user\") + (SELECT COUNT(*) FROM device_type)",
            ))
            .to_owned();
        let rows = self.db.fetch(&q, &[CellType::Int]).await?;
        Ok(rows.first().and_then(|r| r[0].as_int()) == Some(0))
    }

    /// Creates an organisation with `handle` (and display `name`, defaulting
    /// to the handle). Fails if it exists.
    pub async fn create_organization(
        &self,
        handle: &str,
        name: Option<&str>,
    ) -> Result<i64, CatalogError> {
        check_slug("organization handle", handle, 100)?;
        let mut tx = self.db.begin().await?;
        ensure_absent(&mut tx, "organization", "organization", "handle", handle).await?;
        let id = ensure_organization(&mut tx, handle, name.unwrap_or(handle)).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Creates a user, member of the organisations `orgs` (handles).
    /// `superuser` users read everything.
    pub async fn create_user(
        &self,
        username: &str,
        email: Option<&str>,
        orgs: &[&str],
        superuser: bool,
    ) -> Result<i64, CatalogError> {
        check_slug("username", username, 100)?;
        if let Some(e) = email
            && (e.len() > 254 || !e.contains('@'))
        {
            return Err(invalid("email", e, "an address like user@example.com"));
        }
        let mut tx = self.db.begin_for(WriteKind::Access).await?;
        ensure_absent(&mut tx, "user", "user", "username", username).await?;
        let id = insert_user(&mut tx, username, email, superuser).await?;
        for org in orgs {
            let org_id =
                existing_id(&mut tx, "organization", "organization", "handle", org).await?;
            add_membership(&mut tx, id, org_id).await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    /// Adds an existing user to an existing organisation.
    pub async fn add_member(&self, username: &str, org: &str) -> Result<(), CatalogError> {
        let mut tx = self.db.begin_for(WriteKind::Access).await?;
        let user = existing_id(&mut tx, "user", "user", "username", username).await?;
        let org_id = existing_id(&mut tx, "organization", "organization", "handle", org).await?;
        add_membership(&mut tx, user, org_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Creates an API key for `username`. The key itself is returned once
    /// and only its SHA-256 is stored. `expires_at` is in ms since the epoch.
    pub async fn create_api_key(
        &self,
        username: &str,
        name: Option<&str>,
        expires_at: Option<i64>,
    ) -> Result<NewApiKey, CatalogError> {
        // A new key: nothing cached can depend on it.
        let mut tx = self.db.begin_for(WriteKind::NewKeys).await?;
        let user = existing_id(&mut tx, "user", "user", "username", username).await?;
        let key = auth::insert_api_key(&mut tx, user, name, expires_at).await?;
        tx.commit().await?;
        Ok(key)
    }

    /// The API keys (never the secrets), optionally of one user only, by id.
    pub async fn list_api_keys(
        &self,
        username: Option<&str>,
    ) -> Result<Vec<ApiKeyInfo>, CatalogError> {
        let mut q = Query::select();
        q.column(("k", "id"))
            .column(("u", "username"))
            .column(("k", "name"))
            .column(("k", "created_at"))
            .column(("k", "expiry_date"))
            .from_as("api_key", "k")
            .join_as(
                sea_query::JoinType::InnerJoin,
                "user",
                "u",
                Expr::col(("u", "id")).equals(("k", "is_of__user")),
            )
            .order_by(("k", "id"), sea_query::Order::Asc);
        if let Some(name) = username {
            q.and_where(Expr::col(("u", "username")).eq(name));
        }
        let rows = self
            .db
            .fetch(
                &q,
                &[
                    CellType::Int,
                    CellType::Text,
                    CellType::Text,
                    CellType::Int,
                    CellType::Int,
                ],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| ApiKeyInfo {
                id: r[0].as_int().unwrap_or(0),
                username: r[1].as_text().unwrap_or_default().to_owned(),
                name: r[2].as_text().map(str::to_owned),
                created_at: crate::time::format_millis(r[3].as_int().unwrap_or(0)),
                expires_at: r[4].as_int().map(crate::time::format_millis),
            })
            .collect())
    }

    /// Deletes an API key. A server using this catalog's database pool
    /// refuses the key from the next request on; other servers within
    /// [`crate::cache::POLL_INTERVAL`] (they watch the database's access
    /// counter).
    pub async fn revoke_api_key(&self, id: i64) -> Result<(), CatalogError> {
        let mut tx = self.db.begin_for(WriteKind::Access).await?;
        let deleted = tx
            .execute(
                &Query::delete()
                    .from_table("api_key")
                    .and_where(Expr::col("id").eq(id))
                    .to_owned(),
            )
            .await?;
        if deleted == 0 {
            return Err(CatalogError::NotFound {
                what: "API key",
                value: id.to_string(),
            });
        }
        tx.commit().await?;
        Ok(())
    }

    /// Creates a fleet (or any application) in an organisation. The device
    /// type may be given by slug or alias.
    pub async fn create_application(
        &self,
        app: &NewApplication,
    ) -> Result<CreatedApplication, CatalogError> {
        let mut tx = self.db.begin().await?;
        let slug = application_slug(&app.organization, &app.app_name)?;
        ensure_absent(&mut tx, "application", "application", "slug", &slug).await?;
        let created = upsert_application(&mut tx, app).await?;
        tx.commit().await?;
        Ok(created)
    }

    /// Loads a dump of `/v7` rows (see [`rows`]) in one transaction.
    pub async fn load_rows(
        &self,
        dump: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<rows::LoadReport, CatalogError> {
        let mut tx = self.db.begin().await?;
        let report = rows::load(&mut tx, dump).await?;
        tx.commit().await?;
        Ok(report)
    }

    /// Creates the device types, applications and releases of a batch in
    /// one transaction.
    pub async fn write_batch(&self, batch: &Batch) -> Result<WriteReport, CatalogError> {
        let mut tx = self.db.begin().await?;
        let report = write_batch(&mut tx, batch).await?;
        tx.commit().await?;
        Ok(report)
    }
}

/// An API key as listed by [`Catalog::list_api_keys`] (without its secret).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApiKeyInfo {
    /// Row id (what `revoke` takes).
    pub id: i64,
    /// The user it acts as.
    pub username: String,
    /// Its name, if given.
    pub name: Option<String>,
    /// When it was made (ISO-8601).
    pub created_at: String,
    /// When it expires (ISO-8601), if ever.
    pub expires_at: Option<String>,
}

/// What [`Catalog::create_application`] made.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CreatedApplication {
    /// Row id.
    pub id: i64,
    /// `org/app_name`, lower-cased.
    pub slug: String,
    /// The uuid.
    pub uuid: String,
    /// Whether it was created now (false: it existed and was updated).
    pub created: bool,
}

/// Device types, applications and their releases to write together.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    /// Organisations (handle, name) to make sure of.
    pub organizations: Vec<(String, String)>,
    /// Device types to create or update.
    pub device_types: Vec<NewDeviceType>,
    /// Applications with their releases.
    pub applications: Vec<(NewApplication, Vec<NewRelease>)>,
}

pub(crate) async fn write_batch(tx: &mut Tx, batch: &Batch) -> Result<WriteReport, CatalogError> {
    let mut report = WriteReport::default();
    for (handle, name) in &batch.organizations {
        check_slug("organization handle", handle, 100)?;
        ensure_organization(tx, handle, name).await?;
    }
    for dt in &batch.device_types {
        if upsert_device_type(tx, dt).await? {
            report.device_types_created += 1;
        }
    }
    for (app, releases) in &batch.applications {
        let created = upsert_application(tx, app).await?;
        if created.created {
            report.applications_created += 1;
        }
        for release in releases {
            if insert_release(tx, created.id, release).await?.1 {
                report.releases_created += 1;
            } else {
                report.releases_unchanged += 1;
            }
        }
    }
    Ok(report)
}

pub(crate) async fn ensure_organization(
    tx: &mut Tx,
    handle: &str,
    name: &str,
) -> Result<i64, CatalogError> {
    let fields = vec![("name", name.into())];
    Ok(find_or_insert(tx, "organization", "handle", handle, now_millis(), fields).await?)
}

pub(crate) async fn insert_user(
    tx: &mut Tx,
    username: &str,
    email: Option<&str>,
    superuser: bool,
) -> Result<i64, CatalogError> {
    Ok(insert_row(
        tx,
        "user",
        vec![
            ("created_at", now_millis().into()),
            ("username", username.into()),
            ("email", email.map(str::to_owned).into()),
            ("is_superuser", superuser.into()),
        ],
    )
    .await?)
}

pub(crate) async fn add_membership(tx: &mut Tx, user: i64, org: i64) -> Result<(), CatalogError> {
    let q = Query::select()
        .column("id")
        .from("organization_membership")
        .and_where(Expr::col("user").eq(user))
        .and_where(Expr::col("is_member_of__organization").eq(org))
        .to_owned();
    if tx.fetch(&q, &[CellType::Int]).await?.is_empty() {
        insert_row(
            tx,
            "organization_membership",
            vec![
                ("created_at", now_millis().into()),
                ("user", user.into()),
                ("is_member_of__organization", org.into()),
            ],
        )
        .await?;
    }
    Ok(())
}

pub(crate) async fn ensure_cpu_architecture(tx: &mut Tx, slug: &str) -> Result<i64, CatalogError> {
    check_slug("cpu architecture", slug, 50)?;
    Ok(find_or_insert(
        tx,
        "cpu_architecture",
        "slug",
        slug,
        now_millis(),
        Vec::new(),
    )
    .await?)
}

/// Creates the device type or updates its name, architecture, contract and
/// aliases. Returns whether it was created.
pub(crate) async fn upsert_device_type(
    tx: &mut Tx,
    dt: &NewDeviceType,
) -> Result<bool, CatalogError> {
    check_slug("device type slug", &dt.slug, 100)?;
    if dt.name.trim().is_empty() || dt.name.len() > 200 {
        return Err(invalid("device type name", &dt.name, "1 to 200 characters"));
    }
    let arch = ensure_cpu_architecture(tx, &dt.arch).await?;
    let contract = serde_json::to_string(&dt.contract)
        .map_err(|e| CatalogError::Document(format!("device type contract: {e}")))?;
    let now = now_millis();
    let existing = find_id(tx, "device_type", "slug", dt.slug.as_str()).await?;
    let id = match existing {
        Some(id) => {
            let q = Query::select()
                .columns([
                    "name",
                    "is_of__cpu_architecture",
                    "contract",
                    "logo",
                    "is_private",
                ])
                .from("device_type")
                .and_where(Expr::col("id").eq(id))
                .to_owned();
            let rows = tx
                .fetch(
                    &q,
                    &[
                        CellType::Text,
                        CellType::Int,
                        CellType::Text,
                        CellType::Text,
                        CellType::Bool,
                    ],
                )
                .await?;
            let wanted = vec![
                Cell::Text(dt.name.clone()),
                Cell::Int(arch),
                Cell::Text(contract.clone()),
                dt.logo.clone().map_or(Cell::Null, Cell::Text),
                Cell::Bool(dt.is_private),
            ];
            if rows.first() != Some(&wanted) {
                update_row(
                    tx,
                    "device_type",
                    id,
                    vec![
                        ("modified_at", now.into()),
                        ("name", dt.name.as_str().into()),
                        ("is_of__cpu_architecture", arch.into()),
                        ("contract", contract.into()),
                        ("logo", dt.logo.clone().into()),
                        ("is_private", dt.is_private.into()),
                    ],
                )
                .await?;
            }
            id
        }
        None => {
            insert_row(
                tx,
                "device_type",
                vec![
                    ("created_at", now.into()),
                    ("modified_at", now.into()),
                    ("slug", dt.slug.as_str().into()),
                    ("name", dt.name.as_str().into()),
                    ("is_of__cpu_architecture", arch.into()),
                    ("logo", dt.logo.clone().into()),
                    ("contract", contract.into()),
                    ("is_private", dt.is_private.into()),
                ],
            )
            .await?
        }
    };
    let mut aliases: Vec<&str> = dt.aliases.iter().map(String::as_str).collect();
    aliases.push(&dt.slug);
    for alias in aliases {
        if alias.is_empty() || alias.len() > 100 || alias.chars().any(char::is_control) {
            return Err(invalid(
                "device type alias",
                alias,
                "1 to 100 printable characters",
            ));
        }
        find_or_insert(
            tx,
            "device_type_alias",
            "is_referenced_by__alias",
            alias,
            now,
            vec![("device_type", id.into())],
        )
        .await?;
    }
    Ok(existing.is_none())
}

/// Resolves a device type slug or alias to its id.
pub(crate) async fn device_type_id(tx: &mut Tx, slug_or_alias: &str) -> Result<i64, CatalogError> {
    if let Some(id) = find_id(tx, "device_type", "slug", slug_or_alias).await? {
        return Ok(id);
    }
    let q = Query::select()
        .column("device_type")
        .from("device_type_alias")
        .and_where(Expr::col("is_referenced_by__alias").eq(slug_or_alias))
        .to_owned();
    tx.fetch(&q, &[CellType::Int])
        .await?
        .first()
        .and_then(|r| r[0].as_int())
        .ok_or_else(|| CatalogError::NotFound {
            what: "device type",
            value: slug_or_alias.into(),
        })
}

fn application_slug(org: &str, app_name: &str) -> Result<String, CatalogError> {
    if app_name.is_empty()
        || app_name.len() > 100
        || !app_name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        return Err(invalid(
            "application name",
            app_name,
            "1 to 100 characters from [A-Za-z0-9_.-]",
        ));
    }
    check_slug("organization handle", org, 100)?;
    Ok(format!("{org}/{}", app_name.to_ascii_lowercase()))
}

pub(crate) async fn upsert_application(
    tx: &mut Tx,
    app: &NewApplication,
) -> Result<CreatedApplication, CatalogError> {
    let slug = application_slug(&app.organization, &app.app_name)?;
    if let Some(uuid) = &app.uuid
        && (uuid.len() != 32 || !uuid.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
    {
        return Err(invalid("uuid", uuid, "32 lowercase hex digits"));
    }
    let org = existing_id(
        tx,
        "organization",
        "organization",
        "handle",
        &app.organization,
    )
    .await?;
    let dt = device_type_id(tx, &app.device_type).await?;
    let now = app.created_at.unwrap_or_else(now_millis);
    let (id, uuid, created) = match find_id(tx, "application", "slug", slug.as_str()).await? {
        Some(id) => {
            let q = Query::select()
                .columns(["uuid"])
                .from("application")
                .and_where(Expr::col("id").eq(id))
                .to_owned();
            let uuid = tx
                .fetch(&q, &[CellType::Text])
                .await?
                .first()
                .and_then(|r| r[0].as_text().map(str::to_owned))
                .unwrap_or_default();
            (id, uuid, false)
        }
        None => {
            let uuid = app.uuid.clone().unwrap_or_else(random_uuid);
            let id = insert_row(
                tx,
                "application",
                vec![
                    ("created_at", now.into()),
                    ("modified_at", now.into()),
                    ("should_track_latest_release", true.into()),
                    ("is_of__class", "fleet".into()),
                    ("organization", org.into()),
                    ("app_name", app.app_name.as_str().into()),
                    ("slug", slug.as_str().into()),
                    ("is_for__device_type", dt.into()),
                    ("application_type", Some(1i64).into()),
                    ("is_host", app.is_host.into()),
                    ("is_archived", false.into()),
                    ("uuid", uuid.as_str().into()),
                    ("is_public", app.is_public.into()),
                ],
            )
            .await?;
            (id, uuid, true)
        }
    };
    for (key, value) in &app.tags {
        set_tag(tx, "application_tag", "application", id, key, value, now).await?;
    }
    Ok(CreatedApplication {
        id,
        slug,
        uuid,
        created,
    })
}

async fn set_tag(
    tx: &mut Tx,
    table: &'static str,
    owner_column: &'static str,
    owner: i64,
    key: &str,
    value: &str,
    now: i64,
) -> Result<(), CatalogError> {
    if key.is_empty() || key.len() > 100 || key.chars().any(char::is_control) {
        return Err(invalid("tag key", key, "1 to 100 printable characters"));
    }
    if value.len() > 1000 {
        return Err(invalid("tag value", value, "at most 1000 characters"));
    }
    let q = Query::select()
        .columns(["id"])
        .from(table)
        .and_where(Expr::col(owner_column).eq(owner))
        .and_where(Expr::col("tag_key").eq(key))
        .to_owned();
    match tx.fetch(&q, &[CellType::Int]).await?.first() {
        Some(row) => {
            if let Some(id) = row[0].as_int() {
                update_row(
                    tx,
                    table,
                    id,
                    vec![("value", value.into()), ("modified_at", now.into())],
                )
                .await?;
            }
        }
        None => {
            insert_row(
                tx,
                table,
                vec![
                    ("created_at", now.into()),
                    ("modified_at", now.into()),
                    (owner_column, owner.into()),
                    ("tag_key", key.into()),
                    ("value", value.into()),
                ],
            )
            .await?;
        }
    }
    Ok(())
}

/// Creates a release of application `app` unless one with the same commit
/// exists. Returns the release id and whether it was created.
pub(crate) async fn insert_release(
    tx: &mut Tx,
    app: i64,
    r: &NewRelease,
) -> Result<(i64, bool), CatalogError> {
    r.version.validate()?;
    if r.commit.is_empty() || r.commit.len() > 100 {
        return Err(invalid("release commit", &r.commit, "1 to 100 characters"));
    }
    if !RELEASE_STATUSES.contains(&r.status.as_str()) {
        return Err(invalid(
            "release status",
            &r.status,
            "running, success, failed, error, cancelled or interrupted",
        ));
    }
    if let Some(phase) = &r.phase
        && !RELEASE_PHASES.contains(&phase.as_str())
    {
        return Err(invalid(
            "release phase",
            phase,
            "next, current, sunset or end-of-life",
        ));
    }
    if r.known_issue_list.as_ref().is_some_and(|k| k.len() > 1000) {
        return Err(invalid(
            "known issue list",
            r.known_issue_list.as_deref().unwrap_or_default(),
            "at most 1000 characters",
        ));
    }
    let q = Query::select()
        .column("id")
        .from("release")
        .and_where(Expr::col("belongs_to__application").eq(app))
        .and_where(Expr::col("commit").eq(r.commit.as_str()))
        .to_owned();
    if let Some(id) = tx
        .fetch(&q, &[CellType::Int])
        .await?
        .first()
        .and_then(|row| row[0].as_int())
    {
        return Ok((id, false));
    }
    let v = &r.version;
    let created = r.created_at;
    let finalized = v.is_final().then_some(created);
    // Bounded by validate(): every number fits an i64.
    let int = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let id = insert_row(
        tx,
        "release",
        vec![
            ("created_at", created.into()),
            ("modified_at", created.into()),
            ("belongs_to__application", app.into()),
            ("commit", r.commit.as_str().into()),
            ("composition", "{}".into()),
            ("status", r.status.as_str().into()),
            ("source", "cloud".into()),
            ("is_invalidated", r.is_invalidated.into()),
            ("start_timestamp", created.into()),
            ("end_timestamp", Some(created).into()),
            ("update_timestamp", created.into()),
            ("is_passing_tests", r.is_passing_tests.into()),
            ("is_finalized_at__date", finalized.into()),
            ("phase", r.phase.clone().into()),
            ("semver_major", int(v.major).into()),
            ("semver_minor", int(v.minor).into()),
            ("semver_patch", int(v.patch).into()),
            ("semver_prerelease", v.prerelease.as_str().into()),
            ("semver_build", v.build.as_str().into()),
            ("variant", v.variant.as_str().into()),
            ("revision", v.revision.map(int).into()),
            ("known_issue_list", r.known_issue_list.clone().into()),
            ("note", r.note.clone().into()),
            ("invalidation_reason", r.invalidation_reason.clone().into()),
            ("is_final", v.is_final().into()),
            ("semver", v.semver().into()),
            ("raw_version", v.raw_version(created).into()),
        ],
    )
    .await?;
    for (key, value) in &r.tags {
        set_tag(tx, "release_tag", "release", id, key, value, created).await?;
    }
    Ok((id, true))
}

/// The `contract` of a device type as balena's contracts describe it, from
/// the facts the catalog has.
pub fn device_type_contract(
    slug: &str,
    name: &str,
    arch: &str,
    aliases: &[String],
    extra_data: serde_json::Value,
) -> serde_json::Value {
    let mut data = json!({ "arch": arch });
    if let (Some(d), serde_json::Value::Object(extra)) = (data.as_object_mut(), extra_data) {
        d.extend(extra);
    }
    let mut all_aliases: Vec<&str> = aliases.iter().map(String::as_str).collect();
    if !all_aliases.contains(&slug) {
        all_aliases.push(slug);
    }
    json!({
        "slug": slug,
        "name": name,
        "type": "hw.device-type",
        "version": "1",
        "aliases": all_aliases,
        "data": data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(
        major: u64,
        minor: u64,
        patch: u64,
        pre: &str,
        build: &str,
        variant: &str,
        revision: Option<u64>,
    ) -> ReleaseVersion {
        ReleaseVersion {
            major,
            minor,
            patch,
            prerelease: pre.into(),
            build: build.into(),
            variant: variant.into(),
            revision,
        }
    }

    #[test]
    fn raw_version_follows_balena_model() {
        // The examples open-balena-api printed (conformance seed).
        let cases = [
            (
                v(2, 83, 10, "", "", "prod", Some(0)),
                "2.83.10+prod",
                "2.83.10",
            ),
            (
                v(2, 83, 10, "", "rev1", "prod", Some(1)),
                "2.83.10+rev1.prod",
                "2.83.10+rev1",
            ),
            (
                v(2, 88, 4, "", "rev1", "", Some(1)),
                "2.88.4+rev1",
                "2.88.4+rev1",
            ),
            (v(6, 0, 13, "", "", "", Some(1)), "6.0.13+rev1", "6.0.13"),
            (v(6, 0, 13, "", "", "", Some(0)), "6.0.13", "6.0.13"),
            (v(6, 1, 0, "", "", "", None), "6.1.0-1795944666648", "6.1.0"),
            (
                v(6, 1, 0, "beta.1", "", "", Some(0)),
                "6.1.0-beta.1",
                "6.1.0-beta.1",
            ),
            (
                v(5, 1, 10, "", "", "", None),
                "5.1.10-1795944666648",
                "5.1.10",
            ),
        ];
        for (version, raw, semver) in cases {
            assert_eq!(version.raw_version(1_795_944_666_648), raw);
            assert_eq!(version.semver(), semver);
        }
        // A draft with a prerelease keeps both, joined by '.'.
        assert_eq!(
            v(5, 1, 10, "rc.1", "", "", None).raw_version(17),
            "5.1.10-rc.1.17"
        );
        // A revision above zero in a draft's build is kept.
        assert_eq!(
            v(5, 1, 10, "", "rev2", "", None).raw_version(1_706_616_336_246),
            "5.1.10-1706616336246+rev2"
        );
    }

    #[test]
    fn validation_rejects_bad_identifiers() {
        assert!(v(1, 0, 0, "a..b", "", "", Some(0)).validate().is_err());
        assert!(v(1, 0, 0, "", "x y", "", Some(0)).validate().is_err());
        assert!(v(1, 0, 0, "", "", "pr.od", Some(0)).validate().is_err());
        assert!(v(u64::MAX, 0, 0, "", "", "", Some(0)).validate().is_err());
        assert!(
            v(1, 0, 0, "rc-1.2", "rev1", "prod", Some(0))
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn slugs_are_checked() {
        assert!(check_slug("x", "balena_os", 100).is_ok());
        assert!(check_slug("x", "", 100).is_err());
        assert!(check_slug("x", "Upper", 100).is_err());
        assert!(check_slug("x", "-lead", 100).is_err());
        assert!(check_slug("x", "a/b", 100).is_err());
        assert!(application_slug("org", "My.Fleet").is_ok_and(|s| s == "org/my.fleet"));
        assert!(application_slug("org", "bad name").is_err());
    }
}
