//! `versions`, `max-version` and `download-size`.

use std::collections::BTreeMap;

use anyhow::Context;
use balena_sdk::{AvailableOsVersionsOptions, OsType, OsVersion, PineOptions};
use clap::Args;

use super::{ApiArgs, parse_os_type, parse_pine, parse_text};
use crate::commands::output::{self, Exit, Out, cell, human_bytes};

/// Arguments of `balena-os versions`.
#[derive(Debug, Args)]
pub struct VersionsArgs {
    /// Device type slugs (aliases are not resolved, as in the SDK). With one
    /// device type `--json` prints a list, with several an object keyed by
    /// slug (device types without versions are absent).
    #[arg(required = true, value_name = "DEVICE_TYPE", value_parser = parse_text)]
    pub device_types: Vec<String>,
    /// Every release, drafts, failed and invalidated builds included
    /// (getAllOsVersions).
    #[arg(long)]
    pub all: bool,
    /// Also list draft releases.
    #[arg(long, conflicts_with = "all")]
    pub include_draft: bool,
    /// Only releases of this release policy (`default`, `esr`, or another
    /// tag verbatim); filtered after the SDK call.
    #[arg(long, value_name = "TYPE", value_parser = parse_os_type)]
    pub os_type: Option<OsType>,
    /// Extra pine options for the release query, as a JSON object (e.g.
    /// '{"$select":["is_final","created_at"]}'); they bypass the cache.
    #[arg(long, value_name = "JSON", value_parser = parse_pine)]
    pub pine: Option<PineOptions>,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// Arguments of `balena-os max-version`.
#[derive(Debug, Args)]
pub struct MaxVersionArgs {
    /// Device type slug or alias.
    #[arg(value_parser = parse_text)]
    pub device_type: String,
    /// `latest`, an exact version (`6.0.10+rev1`) or an npm-style range
    /// (`^6.0.0`, `~2.88.0`, `>=2024.1.0`).
    #[arg(default_value = "latest", value_parser = parse_text)]
    pub version_or_range: String,
    /// Only consider releases of this release policy (`default`, `esr`, …).
    #[arg(long, value_name = "TYPE", value_parser = parse_os_type)]
    pub os_type: Option<OsType>,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// Arguments of `balena-os download-size`.
#[derive(Debug, Args)]
pub struct DownloadSizeArgs {
    /// Device type slug or alias.
    #[arg(value_parser = parse_text)]
    pub device_type: String,
    /// The version, sent as given (`latest` is resolved by the API).
    #[arg(value_name = "VERSION", default_value = "latest", value_parser = parse_text)]
    pub os_version: String,
    #[command(flatten)]
    pub api: ApiArgs,
}

fn version_rows(list: &[OsVersion]) -> Vec<Vec<String>> {
    list.iter()
        .map(|v| {
            vec![
                v.raw_version.clone(),
                v.os_type.to_string(),
                cell(v.line.as_ref().map(|l| l.as_str())),
                cell(v.variant.as_deref()),
                cell(v.phase.as_deref()),
                cell(v.known_issue_list.as_deref()),
            ]
        })
        .collect()
}

const VERSION_HEADER: [&str; 6] = [
    "VERSION",
    "OS TYPE",
    "LINE",
    "VARIANT",
    "PHASE",
    "KNOWN ISSUES",
];

/// `balena-os versions`.
pub async fn versions(args: VersionsArgs) -> anyhow::Result<()> {
    let balena = args.api.client()?;
    let os = balena.os();
    let mut map: BTreeMap<String, Vec<OsVersion>> = if args.all {
        os.get_all_os_versions_for(&args.device_types, args.pine.as_ref())
            .await
    } else {
        let mut opts = AvailableOsVersionsOptions::new().include_draft(args.include_draft);
        if let Some(p) = args.pine.clone() {
            opts = opts.pine(p);
        }
        os.get_available_os_versions_for(&args.device_types, &opts)
            .await
    }
    .context("listing OS versions")?;
    if let Some(t) = &args.os_type {
        for list in map.values_mut() {
            list.retain(|v| &v.os_type == t);
        }
    }
    let mut out = Out::new();
    if args.api.json {
        if let [single] = args.device_types.as_slice() {
            out.json(map.get(single).map(Vec::as_slice).unwrap_or_default())?;
        } else {
            out.json(&map)?;
        }
        return out.flush();
    }
    let several = args.device_types.len() > 1;
    let mut first = true;
    let mut seen = std::collections::HashSet::new();
    for dt in &args.device_types {
        if !seen.insert(dt) {
            continue;
        }
        let list = map.get(dt).map(Vec::as_slice).unwrap_or_default();
        if list.is_empty() {
            out.flush()?;
            output::note(format!(
                "no balenaOS versions for {dt:?}{}",
                if args.os_type.is_some() {
                    " of that OS type"
                } else {
                    " (device types are matched by slug; aliases are not resolved)"
                }
            ));
            continue;
        }
        if several {
            if !first {
                out.line("")?;
            }
            out.line(format!("{dt}:"))?;
        }
        first = false;
        out.table(&VERSION_HEADER, &version_rows(list))?;
    }
    out.flush()
}

/// `balena-os max-version`.
pub async fn max_version(args: MaxVersionArgs) -> anyhow::Result<()> {
    let result = async {
        let balena = args.api.client()?;
        let found = balena
            .os()
            .get_max_satisfying_version(
                &args.device_type,
                &args.version_or_range,
                args.os_type.as_ref(),
            )
            .await
            .context("finding the version")?;
        let mut out = Out::new();
        if args.api.json {
            out.json(&found)?;
        } else if let Some(v) = &found {
            out.line(v)?;
        }
        out.flush()?;
        match found {
            Some(_) => Ok(()),
            None if args.api.json => Err(Exit::silent(output::FAILURE)),
            None => Err(Exit::with_message(
                output::FAILURE,
                format!(
                    "no available {}version of {} matches {:?}",
                    args.os_type
                        .as_ref()
                        .map(|t| format!("{t} "))
                        .unwrap_or_default(),
                    args.device_type,
                    args.version_or_range
                ),
            )),
        }
    }
    .await;
    result.map_err(output::predicate_failure)
}

/// `balena-os download-size`.
pub async fn download_size(args: DownloadSizeArgs) -> anyhow::Result<()> {
    let balena = args.api.client()?;
    let size = balena
        .os()
        .get_download_size(&args.device_type, &args.os_version)
        .await
        .context("getting the download size")?;
    let mut out = Out::new();
    if args.api.json {
        out.json(&size)?;
    } else {
        out.line(format!("{size} ({})", human_bytes(size)))?;
    }
    out.flush()
}
