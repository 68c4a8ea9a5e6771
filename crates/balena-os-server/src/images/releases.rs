//! Finding device types, fleets and host-OS releases in the catalog for the
//! image endpoints.
//!
//! A requested version is matched the way balena's download-size endpoint
//! does (image-server.md §1.3), with the rough edges taken off:
//!
//! * `latest` is the newest successful, valid, non-ESR release (finals
//!   before drafts);
//! * an exact version is parsed with balena-semver (a leading `v`, `_rev1`,
//!   `.rev1`, `.prod`/`.dev` forms are all understood) and matched on major,
//!   minor, patch, prerelease, build and revision, so `6.0.13+rev1` finds a
//!   release whose revision is 1 whatever its build column says (upstream
//!   answers 404 there);
//! * the `.dev`/`.prod` variant is optional: without it the unified
//!   release is preferred, then the `prod` build, then the `dev` one; with
//!   it, a release of that variant, else the unified release of the same
//!   version, where `.dev` then means development mode.
//!
//! The release folder's build id is `semver` plus `.variant` (what the
//! image bucket uses: `2.19.0+rev1.prod`, `6.8.1`), or the `raw_version` of
//! a draft.

use std::cmp::Ordering;

use sea_query::{Expr, ExprTrait, JoinType, Order, Query};

use crate::auth::Actor;
use crate::catalog::ReleaseVersion;
use crate::db::{Cell, CellType, Db, DbError};

/// A device type row, as the image endpoints need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceTypeRow {
    /// Row id.
    pub id: i64,
    /// Canonical slug.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Hidden from everyone but administrators.
    pub is_private: bool,
    /// CPU architecture slug.
    pub arch: String,
}

impl DeviceTypeRow {
    /// Whether `actor` may see this device type.
    pub fn visible_to(&self, actor: &Actor) -> bool {
        !self.is_private || matches!(actor, Actor::Admin { .. })
    }
}

const DT_TYPES: [CellType; 5] = [
    CellType::Int,
    CellType::Text,
    CellType::Text,
    CellType::Bool,
    CellType::Text,
];

fn dt_select() -> sea_query::SelectStatement {
    Query::select()
        .column(("d", "id"))
        .column(("d", "slug"))
        .column(("d", "name"))
        .column(("d", "is_private"))
        .column(("c", "slug"))
        .from_as("device_type", "d")
        .join_as(
            JoinType::InnerJoin,
            "cpu_architecture",
            "c",
            Expr::col(("c", "id")).equals(("d", "is_of__cpu_architecture")),
        )
        .to_owned()
}

fn dt_row(row: &[Cell]) -> Option<DeviceTypeRow> {
    Some(DeviceTypeRow {
        id: row.first()?.as_int()?,
        slug: row.get(1)?.as_text()?.to_owned(),
        name: row.get(2)?.as_text()?.to_owned(),
        is_private: matches!(row.get(3)?, Cell::Bool(true)),
        arch: row.get(4)?.as_text().unwrap_or_default().to_owned(),
    })
}

/// The device type called `name` (its slug or any alias).
pub async fn find_device_type(db: &Db, name: &str) -> Result<Option<DeviceTypeRow>, DbError> {
    if name.is_empty() || name.len() > 200 {
        return Ok(None);
    }
    let by_slug = dt_select()
        .and_where(Expr::col(("d", "slug")).eq(name))
        .to_owned();
    if let Some(row) = db.fetch(&by_slug, &DT_TYPES).await?.first() {
        return Ok(dt_row(row));
    }
    let by_alias = dt_select()
        .join_as(
            JoinType::InnerJoin,
            "device_type_alias",
            "a",
            Expr::col(("a", "device_type")).equals(("d", "id")),
        )
        .and_where(Expr::col(("a", "is_referenced_by__alias")).eq(name))
        .order_by(("d", "name"), Order::Asc)
        .to_owned();
    Ok(db
        .fetch(&by_alias, &DT_TYPES)
        .await?
        .first()
        .and_then(|r| dt_row(r)))
}

/// Every device type, by slug.
pub async fn all_device_types(db: &Db) -> Result<Vec<DeviceTypeRow>, DbError> {
    let q = dt_select().order_by(("d", "slug"), Order::Asc).to_owned();
    Ok(db
        .fetch(&q, &DT_TYPES)
        .await?
        .iter()
        .filter_map(|r| dt_row(r))
        .collect())
}

/// The aliases of a device type (its slug excluded), sorted.
pub async fn aliases(db: &Db, dt: &DeviceTypeRow) -> Result<Vec<String>, DbError> {
    let q = Query::select()
        .column("is_referenced_by__alias")
        .from("device_type_alias")
        .and_where(Expr::col("device_type").eq(dt.id))
        .order_by("is_referenced_by__alias", Order::Asc)
        .to_owned();
    Ok(db
        .fetch(&q, &[CellType::Text])
        .await?
        .iter()
        .filter_map(|r| r[0].as_text().map(str::to_owned))
        .filter(|a| *a != dt.slug)
        .collect())
}

/// A fleet, as `/download-config` needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetRow {
    /// Row id.
    pub id: i64,
    /// `app_name`.
    pub app_name: String,
    /// Readable by everyone.
    pub is_public: bool,
    /// Owning organisation id.
    pub organization: i64,
    /// The fleet's device type slug.
    pub device_type: String,
}

impl FleetRow {
    /// Whether `actor` may see the fleet (another organisation's private
    /// fleet is invisible).
    pub fn visible_to(&self, actor: &Actor) -> bool {
        match actor {
            Actor::Admin { .. } => true,
            Actor::User { organizations, .. } => {
                self.is_public || organizations.contains(&self.organization)
            }
            Actor::Anonymous => self.is_public,
        }
    }
}

/// The application with id `id`.
pub async fn find_fleet(db: &Db, id: i64) -> Result<Option<FleetRow>, DbError> {
    let q = Query::select()
        .column(("a", "id"))
        .column(("a", "app_name"))
        .column(("a", "is_public"))
        .column(("a", "organization"))
        .column(("d", "slug"))
        .from_as("application", "a")
        .join_as(
            JoinType::InnerJoin,
            "device_type",
            "d",
            Expr::col(("d", "id")).equals(("a", "is_for__device_type")),
        )
        .and_where(Expr::col(("a", "id")).eq(id))
        .to_owned();
    let rows = db
        .fetch(
            &q,
            &[
                CellType::Int,
                CellType::Text,
                CellType::Bool,
                CellType::Int,
                CellType::Text,
            ],
        )
        .await?;
    Ok(rows.first().and_then(|r| {
        Some(FleetRow {
            id: r[0].as_int()?,
            app_name: r[1].as_text()?.to_owned(),
            is_public: matches!(r[2], Cell::Bool(true)),
            organization: r[3].as_int()?,
            device_type: r[4].as_text()?.to_owned(),
        })
    }))
}

/// A host-OS release of a device type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRow {
    /// Row id.
    pub id: i64,
    /// `raw_version`.
    pub raw_version: String,
    /// `semver` (no variant).
    pub semver: String,
    /// `variant`: `""`, `dev` or `prod`.
    pub variant: String,
    /// Final (not a draft).
    pub is_final: bool,
    /// Withdrawn.
    pub is_invalidated: bool,
    /// `semver_major`.
    pub major: i64,
    /// Creation time (ms).
    pub created_at: i64,
    /// Belongs to an ESR host app (`release-policy` tag `esr`).
    pub esr: bool,
}

impl ReleaseRow {
    /// The release folder name in the image store.
    ///
    /// ```
    /// # use balena_os_server::images::releases::ReleaseRow;
    /// let r = ReleaseRow { id: 1, raw_version: "2.19.0+rev1.prod".into(), semver: "2.19.0+rev1".into(),
    ///     variant: "prod".into(), is_final: true, is_invalidated: false, major: 2, created_at: 0, esr: false };
    /// assert_eq!(r.build_id(), "2.19.0+rev1.prod");
    /// ```
    pub fn build_id(&self) -> String {
        if !self.is_final {
            return self.raw_version.clone();
        }
        if self.variant.is_empty() {
            self.semver.clone()
        } else {
            format!("{}.{}", self.semver, self.variant)
        }
    }

    /// The OS version without the variant (what `VERSION_HOSTOS` holds).
    pub fn os_version(&self) -> String {
        if !self.is_final {
            return self.raw_version.clone();
        }
        if self.variant.is_empty() {
            return self.raw_version.clone();
        }
        self.raw_version
            .strip_suffix(&format!("+{}", self.variant))
            .or_else(|| self.raw_version.strip_suffix(&format!(".{}", self.variant)))
            .unwrap_or(&self.raw_version)
            .to_owned()
    }
}

/// What version was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionQuery {
    /// The newest release.
    Latest,
    /// One version.
    Exact(RequestedVersion),
}

/// An exact version, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedVersion {
    /// The text as given.
    pub text: String,
    key: VersionKey,
    /// `dev`, `prod` or empty.
    pub variant: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct VersionKey {
    major: u64,
    minor: u64,
    patch: u64,
    prerelease: String,
    build: Vec<String>,
    revision: u64,
}

fn key_of(v: &ReleaseVersion) -> VersionKey {
    let mut build: Vec<String> = if v.build.is_empty() {
        Vec::new()
    } else {
        v.build
            .split('.')
            .filter(|b| {
                !b.strip_prefix("rev")
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()))
            })
            .map(str::to_ascii_lowercase)
            .collect()
    };
    build.sort();
    VersionKey {
        major: v.major,
        minor: v.minor,
        patch: v.patch,
        prerelease: v.prerelease.clone(),
        build,
        revision: v.revision.unwrap_or(0),
    }
}

impl VersionQuery {
    /// Parses a requested version: `latest`, or a version balena-semver
    /// understands (a leading `v` is dropped). `None` when it is neither.
    ///
    /// ```
    /// use balena_os_server::images::releases::VersionQuery;
    /// assert_eq!(VersionQuery::parse("latest"), Some(VersionQuery::Latest));
    /// let VersionQuery::Exact(v) = VersionQuery::parse("v2.88.4_rev1.prod").unwrap() else { panic!() };
    /// assert_eq!(v.variant, "prod");
    /// assert!(VersionQuery::parse("not-a-version").is_none());
    /// ```
    pub fn parse(text: &str) -> Option<VersionQuery> {
        if text == "latest" {
            return Some(VersionQuery::Latest);
        }
        if text.is_empty() || text.len() > 200 || text.chars().any(char::is_control) {
            return None;
        }
        let stripped = text.strip_prefix('v').unwrap_or(text);
        if !stripped.starts_with(|c: char| c.is_ascii_digit()) {
            return None;
        }
        let v = ReleaseVersion::from_build_id(stripped)?;
        Some(VersionQuery::Exact(RequestedVersion {
            text: text.to_owned(),
            key: key_of(&v),
            variant: v.variant.clone(),
        }))
    }
}

/// A release picked for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The release.
    pub release: ReleaseRow,
    /// Development mode implied by the request (`.dev` asked of a unified
    /// release), if any.
    pub implied_development_mode: Option<bool>,
}

/// Releases of the host apps of `dt` with status `success`, optionally
/// only those of one `major.minor.patch`.
async fn host_releases(
    db: &Db,
    dt: i64,
    mmp: Option<(u64, u64, u64)>,
) -> Result<Vec<ReleaseRow>, DbError> {
    let mut q = Query::select()
        .column(("r", "id"))
        .column(("r", "raw_version"))
        .column(("r", "semver"))
        .column(("r", "variant"))
        .column(("r", "is_final"))
        .column(("r", "is_invalidated"))
        .column(("r", "semver_major"))
        .column(("r", "created_at"))
        .column(("t", "value"))
        .from_as("release", "r")
        .join_as(
            JoinType::InnerJoin,
            "application",
            "a",
            Expr::col(("a", "id")).equals(("r", "belongs_to__application")),
        )
        .join_as(
            JoinType::LeftJoin,
            "application_tag",
            "t",
            Expr::col(("t", "application"))
                .equals(("a", "id"))
                .and(Expr::col(("t", "tag_key")).eq("release-policy")),
        )
        .and_where(Expr::col(("a", "is_host")).eq(true))
        .and_where(Expr::col(("a", "is_for__device_type")).eq(dt))
        .and_where(Expr::col(("r", "status")).eq("success"))
        .to_owned();
    if let Some((major, minor, patch)) = mmp {
        let int = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        q.and_where(Expr::col(("r", "semver_major")).eq(int(major)))
            .and_where(Expr::col(("r", "semver_minor")).eq(int(minor)))
            .and_where(Expr::col(("r", "semver_patch")).eq(int(patch)));
    }
    let rows = db
        .fetch(
            &q,
            &[
                CellType::Int,
                CellType::Text,
                CellType::Text,
                CellType::Text,
                CellType::Bool,
                CellType::Bool,
                CellType::Int,
                CellType::Int,
                CellType::Text,
            ],
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some(ReleaseRow {
                id: r[0].as_int()?,
                raw_version: r[1].as_text()?.to_owned(),
                semver: r[2].as_text()?.to_owned(),
                variant: r[3].as_text().unwrap_or_default().to_owned(),
                is_final: matches!(r[4], Cell::Bool(true)),
                is_invalidated: matches!(r[5], Cell::Bool(true)),
                major: r[6].as_int()?,
                created_at: r[7].as_int().unwrap_or(0),
                esr: r[8]
                    .as_text()
                    .is_some_and(|v| v.eq_ignore_ascii_case("esr")),
            })
        })
        .collect())
}

fn variant_rank(v: &str) -> u8 {
    match v {
        "prod" => 2,
        "" => 1,
        _ => 0,
    }
}

/// Picks the release of device type `dt` that `query` designates.
pub async fn resolve(db: &Db, dt: i64, query: &VersionQuery) -> Result<Option<Resolved>, DbError> {
    match query {
        VersionQuery::Latest => {
            let mut rows: Vec<ReleaseRow> = host_releases(db, dt, None)
                .await?
                .into_iter()
                .filter(|r| !r.esr && !r.is_invalidated && r.major > 0 && r.major < 2000)
                .collect();
            rows.sort_by(|a, b| {
                b.is_final
                    .cmp(&a.is_final)
                    .then_with(|| balena_semver::rcompare(&a.semver, &b.semver))
                    .then_with(|| variant_rank(&b.variant).cmp(&variant_rank(&a.variant)))
                    .then_with(|| b.created_at.cmp(&a.created_at))
            });
            Ok(rows.into_iter().next().map(|release| Resolved {
                release,
                implied_development_mode: None,
            }))
        }
        VersionQuery::Exact(want) => {
            let k = &want.key;
            let rows = host_releases(db, dt, Some((k.major, k.minor, k.patch))).await?;
            let mut best: Option<(u8, Resolved)> = None;
            for r in rows {
                let Some(v) = ReleaseVersion::from_build_id(&r.raw_version) else {
                    continue;
                };
                if key_of(&v) != *k {
                    continue;
                }
                let (score, implied) = if want.variant == r.variant {
                    (4, None)
                } else if want.variant.is_empty() {
                    (1 + variant_rank(&r.variant), None)
                } else if r.variant.is_empty() {
                    (1, Some(want.variant == "dev"))
                } else {
                    continue;
                };
                let better = match &best {
                    None => true,
                    Some((s, b)) => match score.cmp(s) {
                        Ordering::Greater => true,
                        Ordering::Less => false,
                        Ordering::Equal => {
                            (r.is_final, !r.is_invalidated, r.created_at)
                                > (
                                    b.release.is_final,
                                    !b.release.is_invalidated,
                                    b.release.created_at,
                                )
                        }
                    },
                };
                if better {
                    best = Some((
                        score,
                        Resolved {
                            release: r,
                            implied_development_mode: implied,
                        },
                    ));
                }
            }
            Ok(best.map(|(_, r)| r))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(s: &str) -> RequestedVersion {
        match VersionQuery::parse(s) {
            Some(VersionQuery::Exact(v)) => v,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn version_forms_share_a_key() {
        let a = exact("2.88.4+rev1.prod");
        let b = exact("v2.88.4_rev1.prod");
        let c = exact("2.88.4.rev1");
        assert_eq!(a.key, b.key);
        assert_eq!(a.key, c.key);
        assert_eq!((a.variant.as_str(), c.variant.as_str()), ("prod", ""));
        assert_ne!(exact("2.88.4").key, a.key);
        assert_eq!(exact("6.0.13+rev1").key.revision, 1);
        assert!(VersionQuery::parse("").is_none());
        assert!(VersionQuery::parse("balenaOS 2.88.4").is_none());
        assert!(VersionQuery::parse("^2.88.0").is_none());
    }

    #[test]
    fn build_ids() {
        let mut r = ReleaseRow {
            id: 1,
            raw_version: "6.0.13+rev1".into(),
            semver: "6.0.13".into(),
            variant: String::new(),
            is_final: true,
            is_invalidated: false,
            major: 6,
            created_at: 0,
            esr: false,
        };
        assert_eq!(r.build_id(), "6.0.13");
        assert_eq!(r.os_version(), "6.0.13+rev1");
        r.raw_version = "2.19.0+rev1.prod".into();
        r.semver = "2.19.0+rev1".into();
        r.variant = "prod".into();
        assert_eq!(r.os_version(), "2.19.0+rev1");
        r.raw_version = "2.83.10+prod".into();
        r.semver = "2.83.10".into();
        assert_eq!(r.build_id(), "2.83.10.prod");
        assert_eq!(r.os_version(), "2.83.10");
        r.is_final = false;
        r.raw_version = "6.1.0-1795944666648".into();
        assert_eq!(r.build_id(), "6.1.0-1795944666648");
    }
}
