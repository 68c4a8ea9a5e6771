//! `update-type`, `can-update`, `update-targets`, `supervisor-releases`
//! and `arch-compatible`.

use anyhow::Context;
use balena_sdk::{IdOrSlug, OsType, PineOptions, SupportedOsUpdateVersionsOptions};
use clap::Args;

use super::{ApiArgs, parse_id_or_slug, parse_os_type, parse_pine, parse_text};
use crate::commands::output::{self, Exit, Out, cell};

/// Arguments of `balena-os update-type` and `balena-os can-update`.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Device type slug or alias.
    #[arg(value_parser = parse_text)]
    pub device_type: String,
    /// The version the device runs (`2.80.3+rev1.prod`).
    #[arg(value_parser = parse_text)]
    pub current: String,
    /// The version to update to.
    #[arg(value_parser = parse_text)]
    pub target: String,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// Arguments of `balena-os update-targets`.
#[derive(Debug, Args)]
pub struct UpdateTargetsArgs {
    /// Device type slug or alias.
    #[arg(value_parser = parse_text)]
    pub device_type: String,
    /// The version the device runs.
    #[arg(value_parser = parse_text)]
    pub current: String,
    /// Only consider releases of this release policy (`default`, `esr`, …).
    #[arg(long, value_name = "TYPE", value_parser = parse_os_type)]
    pub os_type: Option<OsType>,
    /// Also consider draft releases.
    #[arg(long)]
    pub include_draft: bool,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// Arguments of `balena-os supervisor-releases`.
#[derive(Debug, Args)]
pub struct SupervisorArgs {
    /// CPU architecture slug (`aarch64`, `amd64`, `armv7hf`, …) or numeric id.
    #[arg(value_name = "CPU_ARCH", value_parser = parse_id_or_slug)]
    pub cpu_architecture: IdOrSlug,
    /// Extra pine options as a JSON object (e.g. '{"$top":1}').
    #[arg(long, value_name = "JSON", value_parser = parse_pine)]
    pub pine: Option<PineOptions>,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// Arguments of `balena-os arch-compatible`.
#[derive(Debug, Args)]
pub struct ArchArgs {
    /// The OS's CPU architecture (`aarch64`).
    #[arg(value_parser = parse_text)]
    pub os_arch: String,
    /// The application's CPU architecture (`armv7hf`).
    #[arg(value_parser = parse_text)]
    pub app_arch: String,
    /// Print `true` or `false` as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `balena-os update-type`.
pub async fn update_type(args: UpdateArgs) -> anyhow::Result<()> {
    let balena = args.api.client()?;
    let kind = balena
        .os()
        .get_os_update_type(&args.device_type, &args.current, &args.target)
        .await?;
    let mut out = Out::new();
    if args.api.json {
        out.json(&kind)?;
    } else {
        let text = serde_json::to_value(kind)?;
        out.line(text.as_str().unwrap_or_default())?;
    }
    out.flush()
}

/// `balena-os can-update`: status 0 when allowed, 1 when not, 2 on errors.
pub async fn can_update(args: UpdateArgs) -> anyhow::Result<()> {
    let result = async {
        let balena = args.api.client()?;
        let os = balena.os();
        let ok = os
            .is_supported_os_update(&args.device_type, &args.current, &args.target)
            .await
            .context("checking the update")?;
        let mut out = Out::new();
        if args.api.json {
            out.json(&ok)?;
        } else if ok {
            let kind = os
                .get_os_update_type(&args.device_type, &args.current, &args.target)
                .await
                .ok()
                .and_then(|k| serde_json::to_value(k).ok())
                .and_then(|v| v.as_str().map(str::to_owned));
            out.line(format!(
                "yes: {} can update from {} to {}{}",
                args.device_type,
                args.current,
                args.target,
                kind.map(|k| format!(" ({k})")).unwrap_or_default()
            ))?;
        } else {
            // The same rules, asked for the reason (no extra request: the
            // slug lookup is cached).
            let reason = match os
                .get_os_update_type(&args.device_type, &args.current, &args.target)
                .await
            {
                Err(balena_sdk::Error::OsUpdate { source, .. }) => format!(": {source}"),
                _ => String::new(),
            };
            out.line(format!(
                "no: {} cannot update from {} to {}{reason}",
                args.device_type, args.current, args.target
            ))?;
        }
        out.flush()?;
        if ok {
            Ok(())
        } else {
            Err(Exit::silent(output::FAILURE))
        }
    }
    .await;
    result.map_err(output::predicate_failure)
}

/// `balena-os update-targets`.
pub async fn update_targets(args: UpdateTargetsArgs) -> anyhow::Result<()> {
    let balena = args.api.client()?;
    let mut opts = SupportedOsUpdateVersionsOptions::new().include_draft(args.include_draft);
    if let Some(t) = args.os_type.clone() {
        opts = opts.os_type(t);
    }
    let res = balena
        .os()
        .get_supported_os_update_versions(&args.device_type, &args.current, &opts)
        .await
        .context("listing update targets")?;
    let mut out = Out::new();
    if args.api.json {
        out.json(&res)?;
        return out.flush();
    }
    if res.versions.is_empty() {
        out.flush()?;
        output::note(format!(
            "no supported update targets for {} from {}",
            args.device_type, args.current
        ));
    }
    for v in &res.versions {
        let mut notes = Vec::new();
        if res.recommended.as_deref() == Some(v.as_str()) {
            notes.push("recommended");
        }
        if res.current.as_deref() == Some(v.as_str()) {
            notes.push("current");
        }
        if notes.is_empty() {
            out.line(v)?;
        } else {
            out.line(format!("{v}  ({})", notes.join(", ")))?;
        }
    }
    out.flush()
}

/// `balena-os supervisor-releases`.
pub async fn supervisor_releases(args: SupervisorArgs) -> anyhow::Result<()> {
    let balena = args.api.client()?;
    let list = balena
        .os()
        .get_supervisor_releases_for_cpu_architecture(
            args.cpu_architecture.clone(),
            args.pine.as_ref(),
        )
        .await
        .context("listing supervisor releases")?;
    let mut out = Out::new();
    if args.api.json {
        out.json(&list)?;
        return out.flush();
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|r| {
            vec![
                r.raw_version.clone(),
                r.id.to_string(),
                cell(r.known_issue_list.as_deref()),
            ]
        })
        .collect();
    out.table(&["VERSION", "ID", "KNOWN ISSUES"], &rows)?;
    out.flush()
}

/// `balena-os arch-compatible`: status 0 when compatible, 1 when not.
pub async fn arch_compatible(args: ArchArgs) -> anyhow::Result<()> {
    let result = (|| {
        // No request is made; the client only hosts the method.
        let balena = balena_sdk::Balena::builder()
            .build()
            .context("setting up the SDK")?;
        let ok = balena
            .os()
            .is_architecture_compatible_with(&args.os_arch, &args.app_arch);
        let mut out = Out::new();
        if args.json {
            out.json(&ok)?;
        } else {
            out.line(format!(
                "{}: an {} OS {} {} applications",
                if ok { "yes" } else { "no" },
                args.os_arch,
                if ok { "runs" } else { "does not run" },
                args.app_arch
            ))?;
        }
        out.flush()?;
        if ok {
            Ok(())
        } else {
            Err(Exit::silent(output::FAILURE))
        }
    })();
    result.map_err(output::predicate_failure)
}
