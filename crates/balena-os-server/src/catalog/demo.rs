//! The demo catalog, built into the binary.
//!
//! Real device types (`data/device-types.json`) and real balenaOS version
//! lists (`data/os-versions.json`: image-bucket folders and device-repository
//! changelogs), arranged so that every field the SDKs compute for an OS
//! version is exercised:
//!
//! - one public host app `balena_os/<slug>` per device type, with final,
//!   draft, failed and invalidated releases, every `phase` (`next`,
//!   `current`, `sunset`, `end-of-life`, none), a known issue, old
//!   `.dev`/`.prod` variants and unified (variant-less) releases;
//! - ESR host apps `balena_os/<slug>-esr` for a few device types, tagged
//!   `release-policy=esr`, `esr-next`, `esr-current` and `esr-sunset`, with
//!   `meta-balena-base` release tags and legacy `0.0.0` releases that carry
//!   their version in `version`/`variant` release tags (one without a
//!   `version` tag, which the SDKs drop, and one with a custom variant);
//! - supervisor apps `balena_os/<arch>-supervisor` for every CPU
//!   architecture, with releases the SDK's supervisor query finds and some
//!   it must not (failed, invalidated, draft);
//! - organisations `demo` (user `demo`, whose key the server writes to
//!   `<data>/demo-api-key`) and `acme`, with private fleets, and one public
//!   fleet.
//!
//! Everything but the API keys is deterministic: ids, uuids, commits and
//! dates are the same on every load.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{
    Batch, Catalog, CatalogError, NewApplication, NewDeviceType, NewRelease, ReleaseVersion,
    device_type_contract, hex,
};
use crate::time::parse_iso;

const DEVICE_TYPES_JSON: &str = include_str!("../../data/device-types.json");
const OS_VERSIONS_JSON: &str = include_str!("../../data/os-versions.json");

/// The organisation that owns host and supervisor apps.
pub const OS_ORGANIZATION: &str = "balena_os";
/// The demo organisation.
pub const DEMO_ORGANIZATION: &str = "demo";
/// The demo user (member of [`DEMO_ORGANIZATION`]).
pub const DEMO_USER: &str = "demo";
/// A second organisation whose private fleet the demo user must not see.
pub const OTHER_ORGANIZATION: &str = "acme";

/// Device types that get an ESR host app.
pub const ESR_DEVICE_TYPES: &[&str] = &["intel-nuc", "generic-amd64", "raspberrypi4-64"];

/// Supervisor versions published for every architecture (successful, final).
pub const SUPERVISOR_VERSIONS: &[&str] =
    &["14.11.14", "15.3.1", "16.1.0", "16.7.5", "17.0.1", "17.1.3"];

/// Most image-bucket folders used per device type (the newest ones).
const MAX_BUCKET_VERSIONS: usize = 40;
/// Most changelog versions used per device type (the newest ones).
const MAX_CHANGELOG_VERSIONS: usize = 60;

/// Creates the administrator made when the catalog has none: a superuser
/// called `admin` (or `bootstrap-admin`, `bootstrap-admin-2`, … when that
/// name is taken by an ordinary user), and returns its name and new API key.
pub async fn bootstrap_admin(catalog: &Catalog) -> Result<(String, String), CatalogError> {
    let mut name = "admin".to_owned();
    let mut n = 1;
    while catalog.has_user(&name).await? {
        n += 1;
        name = if n == 2 {
            "bootstrap-admin".to_owned()
        } else {
            format!("bootstrap-admin-{n}")
        };
        if n > 100 {
            return Err(CatalogError::Exists {
                what: "user",
                value: name,
            });
        }
    }
    catalog.create_user(&name, None, &[], true).await?;
    let key = catalog
        .create_api_key(&name, Some("bootstrap administrator key"), None)
        .await?
        .key;
    Ok((name, key))
}

fn doc(e: impl std::fmt::Display) -> CatalogError {
    CatalogError::Document(format!("embedded demo data: {e}"))
}

fn commit(app: &str, what: &str) -> String {
    hex(&Sha256::digest(format!("{app}\n{what}").as_bytes()))[..32].to_owned()
}

fn uuid(app: &str) -> String {
    hex(&Sha256::digest(format!("uuid\n{app}").as_bytes()))[..32].to_owned()
}

const DAY: i64 = 86_400_000;

fn date(s: &str) -> Result<i64, CatalogError> {
    parse_iso(s).map_err(doc)
}

/// A device type of the embedded list.
struct DemoDeviceType {
    slug: String,
    arch: String,
    record: NewDeviceType,
}

fn device_types() -> Result<Vec<DemoDeviceType>, CatalogError> {
    let data: Value = serde_json::from_str(DEVICE_TYPES_JSON).map_err(doc)?;
    let list = data["device_types"]
        .as_array()
        .ok_or_else(|| doc("device_types is not a list"))?;
    let mut out = Vec::new();
    for dt in list {
        let slug = dt["slug"].as_str().ok_or_else(|| doc("slug"))?.to_owned();
        let name = dt["name"].as_str().ok_or_else(|| doc("name"))?.to_owned();
        let arch = dt["cpu_architecture"]
            .as_str()
            .ok_or_else(|| doc("cpu_architecture"))?
            .to_owned();
        let aliases: Vec<String> = dt["device_type_alias_rows"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .filter(|a| *a != slug)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        // In development: only administrators see it.
        let is_private = dt["state"].as_str() == Some("DEVELOPMENT");
        let mut data = json!({
            "media": {
                "defaultBoot": dt["default_boot_media"],
                "altBoot": dt["contract_alt_boot"],
            },
            "storage": { "internal": dt["internal_storage"] },
            "is_private": is_private,
        });
        if let Some(fp) = dt["contract_flash_protocol"].as_str() {
            data["flashProtocol"] = json!(fp);
        }
        let contract_aliases: Vec<String> = dt["contract_aliases"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let contract = device_type_contract(&slug, &name, &arch, &contract_aliases, data);
        out.push(DemoDeviceType {
            slug: slug.clone(),
            arch: arch.clone(),
            record: NewDeviceType {
                slug,
                name,
                arch,
                aliases,
                contract,
                logo: None,
                is_private,
            },
        });
    }
    Ok(out)
}

/// The changelog repository a device type is built from.
fn repository(slug: &str) -> Option<&'static str> {
    if slug.starts_with("raspberry")
        || slug == "fincm3"
        || slug.starts_with("revpi")
        || slug == "npe-x500-m3"
    {
        Some("balena-os/balena-raspberrypi")
    } else if matches!(
        slug,
        "intel-nuc" | "genericx86-64-ext" | "surface-go" | "up-board"
    ) {
        Some("balena-os/balena-intel")
    } else if slug.starts_with("generic-") {
        Some("balena-os/balena-generic")
    } else if slug.starts_with("jetson") && slug.contains("orin") {
        Some("balena-os/balena-jetson-orin")
    } else if slug.starts_with("jetson") {
        Some("balena-os/balena-jetson")
    } else if slug.starts_with("beagle") {
        Some("balena-os/balena-beaglebone")
    } else {
        None
    }
}

/// `(version string, created_at)` newest first, for a device type.
fn versions_for(slug: &str, versions: &Value) -> Result<Vec<(String, i64)>, CatalogError> {
    let mut out: Vec<(String, i64)> = Vec::new();
    let repo = repository(slug).unwrap_or("balena-os/balena-generic");
    if let Some(list) =
        versions["device_repo_changelog_versions"]["repos"][repo]["newest_first"].as_array()
    {
        // Device types without their own repository get a shorter list.
        let take = if repository(slug).is_some() {
            MAX_CHANGELOG_VERSIONS
        } else {
            12
        };
        for (i, v) in list.iter().take(take).enumerate() {
            let version = v["version"].as_str().ok_or_else(|| doc("version"))?;
            let day = v["date"].as_str().ok_or_else(|| doc("date"))?;
            // Noon, minus a minute per position so that same-day releases
            // keep their order.
            let at = date(day)? + DAY / 2 - i64::try_from(i).unwrap_or(0) * 60_000;
            out.push((version.to_owned(), at));
        }
    }
    if let Some(list) =
        versions["s3_image_folders_per_device_type"]["per_device_type"][slug].as_array()
    {
        let mut folders: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
        balena_semver::rsort(&mut folders);
        // Old builds: weekly from 2017-01-01, oldest first.
        let base = date("2017-01-01T00:00:00Z")?;
        let kept: Vec<&str> = folders.into_iter().take(MAX_BUCKET_VERSIONS).collect();
        let n = kept.len();
        for (i, folder) in kept.into_iter().enumerate() {
            let age = i64::try_from(n - i).unwrap_or(0);
            out.push((folder.to_owned(), base + age * 7 * DAY));
        }
    }
    Ok(out)
}

fn release_version(text: &str) -> Result<ReleaseVersion, CatalogError> {
    ReleaseVersion::from_build_id(text).ok_or_else(|| doc(format!("unparseable version {text}")))
}

/// Host-app releases: every list position gets its role.
fn host_releases(
    app: &str,
    versions: &[(String, i64)],
    with_draft: bool,
) -> Result<Vec<NewRelease>, CatalogError> {
    let mut out = Vec::new();
    let n = versions.len();
    for (i, (text, at)) in versions.iter().enumerate() {
        let mut r = NewRelease::success(commit(app, text), release_version(text)?, *at);
        match i {
            0 => r.phase = Some("next".into()),
            1 => r.phase = Some("current".into()),
            2 => {
                r.phase = Some("sunset".into());
                r.known_issue_list = Some("Wi-Fi may drop after suspend".into());
            }
            3 => {
                r.status = "failed".into();
                r.is_passing_tests = false;
            }
            4 => r.phase = Some("sunset".into()),
            5 => {
                r.is_invalidated = true;
                r.invalidation_reason = Some("Withdrawn: boot loop on some boards".into());
            }
            _ if i + 2 >= n && n > 8 => r.phase = Some("end-of-life".into()),
            _ => {}
        }
        out.push(r);
    }
    if with_draft && let Some((newest, at)) = versions.first() {
        let v = release_version(newest)?;
        let draft = ReleaseVersion {
            major: v.major,
            minor: v.minor + 1,
            patch: 0,
            prerelease: String::new(),
            build: String::new(),
            variant: String::new(),
            revision: None,
        };
        let what = format!("draft {}.{}.0", draft.major, draft.minor);
        out.push(NewRelease::success(commit(app, &what), draft, at + DAY));
    }
    Ok(out)
}

fn esr_releases(app: &str) -> Result<Vec<NewRelease>, CatalogError> {
    let base = date("2024-07-15T12:00:00Z")?;
    let mut out = Vec::new();
    // (version, variant, days after base, meta-balena-base, phase)
    let finals: &[(&str, &str, i64, Option<&str>)] = &[
        ("2024.7.0", "prod", 0, Some("v5.3.21")),
        ("2024.10.1", "", 90, Some("v6.0.13")),
        ("2025.1.0", "", 180, Some("v6.1.0")),
        ("2025.1.2+rev1", "", 200, None),
        ("2025.4.0", "", 270, Some("v6.5.50")),
        ("2025.4.1", "", 290, Some("v6.5.50")),
        ("2025.7.0", "", 360, Some("v6.9.4")),
    ];
    for (text, variant, days, base_tag) in finals {
        let mut v = release_version(text)?;
        v.variant = (*variant).to_owned();
        let mut r = NewRelease::success(
            commit(app, &format!("{text} {variant}")),
            v,
            base + days * DAY,
        );
        if let Some(b) = base_tag {
            r.tags.push(("meta-balena-base".into(), (*b).into()));
        }
        out.push(r);
    }
    // An invalidated ESR release and a draft of the next line.
    let mut bad = NewRelease::success(
        commit(app, "2025.4.2"),
        release_version("2025.4.2")?,
        base + 300 * DAY,
    );
    bad.is_invalidated = true;
    bad.invalidation_reason = Some("Superseded by 2025.7.0".into());
    out.push(bad);
    let mut draft_v = release_version("2025.10.0")?;
    draft_v.revision = None;
    out.push(NewRelease::success(
        commit(app, "draft 2025.10.0"),
        draft_v,
        base + 400 * DAY,
    ));
    // Legacy releases (2019.10–2022.01): version 0.0.0, the real one in tags.
    // (what, `version` tag, `variant` tag, variant column, days after base)
    type Legacy<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a str, i64);
    let legacy: &[Legacy] = &[
        (
            "legacy 2021.10.2 prod",
            Some("2021.10.2"),
            Some("production"),
            "",
            -900,
        ),
        (
            "legacy 2021.10.2 dev",
            Some("2021.10.2"),
            Some("development"),
            "",
            -899,
        ),
        (
            "legacy 2020.07.2",
            Some("2020.07.2"),
            Some("prod"),
            "",
            -1300,
        ),
        ("legacy 2022.01.0", Some("2022.01.0"), None, "dev", -800),
        ("legacy custom", Some("2.0.0"), Some("custom"), "", -2000),
        (
            "legacy without version tag",
            None,
            Some("production"),
            "",
            -1000,
        ),
    ];
    for (what, version, variant, field_variant, days) in legacy {
        let v = ReleaseVersion {
            major: 0,
            minor: 0,
            patch: 0,
            prerelease: String::new(),
            build: String::new(),
            variant: (*field_variant).to_owned(),
            revision: Some(0),
        };
        let mut r = NewRelease::success(commit(app, what), v, base + days * DAY);
        if let Some(ver) = version {
            r.tags.push(("version".into(), (*ver).into()));
        }
        if let Some(var) = variant {
            r.tags.push(("variant".into(), (*var).into()));
        }
        out.push(r);
    }
    Ok(out)
}

fn supervisor_releases(app: &str) -> Result<Vec<NewRelease>, CatalogError> {
    let base = date("2023-01-10T12:00:00Z")?;
    let mut out = Vec::new();
    for (i, text) in SUPERVISOR_VERSIONS.iter().enumerate() {
        let at = base + i64::try_from(i).unwrap_or(0) * 60 * DAY;
        out.push(NewRelease::success(
            commit(app, text),
            release_version(text)?,
            at,
        ));
    }
    let mut failed = NewRelease::success(
        commit(app, "17.2.0"),
        release_version("17.2.0")?,
        base + 400 * DAY,
    );
    failed.status = "failed".into();
    out.push(failed);
    let mut withdrawn = NewRelease::success(
        commit(app, "16.4.2"),
        release_version("16.4.2")?,
        base + 200 * DAY,
    );
    withdrawn.is_invalidated = true;
    out.push(withdrawn);
    let mut draft = release_version("17.3.0")?;
    draft.revision = None;
    out.push(NewRelease::success(
        commit(app, "draft 17.3.0"),
        draft,
        base + 420 * DAY,
    ));
    Ok(out)
}

fn app(
    org: &str,
    name: &str,
    device_type: &str,
    is_host: bool,
    is_public: bool,
    created: i64,
) -> NewApplication {
    let slug = format!("{org}/{}", name.to_ascii_lowercase());
    NewApplication {
        organization: org.into(),
        app_name: name.into(),
        device_type: device_type.into(),
        is_host,
        is_public,
        tags: Vec::new(),
        uuid: Some(uuid(&slug)),
        created_at: Some(created),
    }
}

/// The demo catalog as one batch (without users and keys).
pub fn batch() -> Result<Batch, CatalogError> {
    let versions: Value = serde_json::from_str(OS_VERSIONS_JSON).map_err(doc)?;
    let dts = device_types()?;
    let created = date("2024-01-01T00:00:00Z")?;
    let mut batch = Batch {
        organizations: vec![
            (OS_ORGANIZATION.into(), "balena_os".into()),
            (DEMO_ORGANIZATION.into(), "Demo organisation".into()),
            (OTHER_ORGANIZATION.into(), "ACME Corp".into()),
        ],
        device_types: dts.iter().map(|d| d.record.clone()).collect(),
        applications: Vec::new(),
    };
    for (i, dt) in dts.iter().enumerate() {
        let slug = format!("{OS_ORGANIZATION}/{}", dt.slug);
        let list = versions_for(&dt.slug, &versions)?;
        let releases = host_releases(&slug, &list, i % 3 != 1)?;
        let at = created + i64::try_from(i).unwrap_or(0) * 60_000;
        batch.applications.push((
            app(OS_ORGANIZATION, &dt.slug, &dt.slug, true, true, at),
            releases,
        ));
    }
    for (i, dt) in ESR_DEVICE_TYPES.iter().enumerate() {
        let name = format!("{dt}-esr");
        let slug = format!("{OS_ORGANIZATION}/{name}");
        let at = created + DAY + i64::try_from(i).unwrap_or(0) * 60_000;
        let mut a = app(OS_ORGANIZATION, &name, dt, true, true, at);
        a.tags = vec![
            ("release-policy".into(), "esr".into()),
            ("esr-next".into(), "2025.7".into()),
            ("esr-current".into(), "2025.4".into()),
            ("esr-sunset".into(), "2025.1".into()),
        ];
        batch.applications.push((a, esr_releases(&slug)?));
    }
    let mut archs: Vec<(&str, &str)> = Vec::new();
    for dt in &dts {
        if !archs.iter().any(|(a, _)| *a == dt.arch) {
            archs.push((&dt.arch, &dt.slug));
        }
    }
    for (i, (arch, dt)) in archs.iter().enumerate() {
        let name = format!("{arch}-supervisor");
        let slug = format!("{OS_ORGANIZATION}/{name}");
        let at = created + 2 * DAY + i64::try_from(i).unwrap_or(0) * 60_000;
        batch.applications.push((
            app(OS_ORGANIZATION, &name, dt, false, true, at),
            supervisor_releases(&slug)?,
        ));
    }
    let fleets: &[(&str, &str, &str, bool)] = &[
        (DEMO_ORGANIZATION, "fleet-rpi4", "raspberrypi4-64", false),
        (DEMO_ORGANIZATION, "kiosk-rpi3", "raspberrypi3", false),
        (DEMO_ORGANIZATION, "nuc-gateways", "nuc", false),
        (DEMO_ORGANIZATION, "public-sensors", "raspberrypi4-64", true),
        (OTHER_ORGANIZATION, "secret-fleet", "raspberrypi4-64", false),
    ];
    for (i, (org, name, dt, public)) in fleets.iter().enumerate() {
        let at = created + 3 * DAY + i64::try_from(i).unwrap_or(0) * 60_000;
        batch
            .applications
            .push((app(org, name, dt, false, *public, at), Vec::new()));
    }
    Ok(batch)
}

/// A synthetic catalog for load tests: the first `device_types` real
/// device types, each with a public host app holding `releases` releases
/// (versions counting up from 2.50.0 with revisions and `dev`/`prod`
/// variants, a draft, failed and invalidated ones, and `meta-balena-base`
/// tags on some), plus one supervisor app per architecture.
pub fn synthetic(device_types: usize, releases: usize) -> Result<Batch, CatalogError> {
    let dts = self::device_types()?;
    if device_types == 0 || device_types > dts.len() {
        return Err(super::invalid(
            "device type count",
            &device_types.to_string(),
            "between 1 and the 51 known device types",
        ));
    }
    let dts = &dts[..device_types];
    let base = date("2018-01-01T00:00:00Z")?;
    let mut batch = Batch {
        organizations: vec![(OS_ORGANIZATION.into(), "balena_os".into())],
        device_types: dts.iter().map(|d| d.record.clone()).collect(),
        applications: Vec::new(),
    };
    for (d, dt) in dts.iter().enumerate() {
        let app_slug = format!("{OS_ORGANIZATION}/{}", dt.slug);
        let mut list = Vec::with_capacity(releases);
        for i in 0..releases {
            let n = u64::try_from(i).unwrap_or(0);
            let version = ReleaseVersion {
                major: 2 + n / 60,
                minor: 50 + (n / 6) % 10,
                patch: n % 6 / 2,
                prerelease: String::new(),
                build: if n % 2 == 1 {
                    "rev1".into()
                } else {
                    String::new()
                },
                variant: match n % 3 {
                    0 => String::new(),
                    1 => "prod".into(),
                    _ => "dev".into(),
                },
                revision: if i + 1 == releases { None } else { Some(n % 2) },
            };
            let at = base + i64::try_from(i * 3 + d).unwrap_or(0) * DAY / 4;
            let mut r =
                NewRelease::success(commit(&app_slug, &format!("synthetic {i}")), version, at);
            match i % 50 {
                7 => r.status = "failed".into(),
                13 => r.is_invalidated = true,
                21 => r.phase = Some("current".into()),
                _ => {}
            }
            if i % 10 == 4 {
                r.tags
                    .push(("meta-balena-base".into(), format!("v{}.0.0", 2 + n / 60)));
            }
            list.push(r);
        }
        let at = base + i64::try_from(d).unwrap_or(0) * 60_000;
        batch.applications.push((
            app(OS_ORGANIZATION, &dt.slug, &dt.slug, true, true, at),
            list,
        ));
    }
    let mut archs: Vec<(&str, &str)> = Vec::new();
    for dt in dts {
        if !archs.iter().any(|(a, _)| *a == dt.arch) {
            archs.push((&dt.arch, &dt.slug));
        }
    }
    for (arch, dt) in archs {
        let name = format!("{arch}-supervisor");
        let slug = format!("{OS_ORGANIZATION}/{name}");
        batch.applications.push((
            app(OS_ORGANIZATION, &name, dt, false, true, base),
            supervisor_releases(&slug)?,
        ));
    }
    Ok(batch)
}

/// Loads the demo catalog and returns the demo user's new API key.
pub async fn load(catalog: &Catalog) -> Result<String, CatalogError> {
    let batch = batch()?;
    let mut tx = catalog.db().begin().await?;
    super::write_batch(&mut tx, &batch).await?;
    let demo_org = super::find_id(&mut tx, "organization", "handle", DEMO_ORGANIZATION)
        .await?
        .ok_or_else(|| doc("demo organisation missing"))?;
    let other_org = super::find_id(&mut tx, "organization", "handle", OTHER_ORGANIZATION)
        .await?
        .ok_or_else(|| doc("acme organisation missing"))?;
    let demo = super::insert_user(&mut tx, DEMO_USER, Some("demo@example.com"), false).await?;
    super::add_membership(&mut tx, demo, demo_org).await?;
    let acme = super::insert_user(&mut tx, "acme-ops", Some("ops@acme.example"), false).await?;
    super::add_membership(&mut tx, acme, other_org).await?;
    let key = crate::auth::insert_api_key(&mut tx, demo, Some("demo key"), None).await?;
    tx.commit().await?;
    Ok(key.key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_batch_is_complete() {
        let b = batch().expect("demo batch");
        assert_eq!(b.device_types.len(), 51);
        let host = b.applications.iter().filter(|(a, _)| a.is_host).count();
        assert_eq!(host, 51 + ESR_DEVICE_TYPES.len());
        let releases: Vec<&NewRelease> = b.applications.iter().flat_map(|(_, r)| r).collect();
        for phase in ["next", "current", "sunset", "end-of-life"] {
            assert!(
                releases.iter().any(|r| r.phase.as_deref() == Some(phase)),
                "{phase}"
            );
        }
        assert!(releases.iter().any(|r| !r.version.is_final()));
        assert!(releases.iter().any(|r| r.status == "failed"));
        assert!(releases.iter().any(|r| r.is_invalidated));
        assert!(
            releases
                .iter()
                .any(|r| r.version.major == 0 && r.tags.iter().any(|t| t.0 == "version"))
        );
        assert!(
            releases
                .iter()
                .any(|r| r.tags.iter().any(|t| t.0 == "meta-balena-base"))
        );
        assert!(releases.iter().any(|r| r.version.variant == "dev"));
        // Commits are unique per application.
        for (a, rs) in &b.applications {
            let mut commits: Vec<&str> = rs.iter().map(|r| r.commit.as_str()).collect();
            commits.sort_unstable();
            commits.dedup();
            assert_eq!(commits.len(), rs.len(), "{}", a.app_name);
        }
        for arch in ["rpi", "armv7hf", "aarch64", "amd64", "i386"] {
            let name = format!("{arch}-supervisor");
            assert!(
                b.applications.iter().any(|(a, _)| a.app_name == name),
                "{name}"
            );
        }
    }
}
