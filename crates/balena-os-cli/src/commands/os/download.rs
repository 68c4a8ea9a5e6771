//! `balena-os download`: an OS image to a file, through the SDK's
//! `download_to_file` (temporary file + rename, resume, verification), with
//! a progress bar on a terminal and a clean stop on Ctrl-C; or, with
//! `-o -`, to stdout through the SDK's `download` stream.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use balena_sdk::{
    DownloadOptions, DownloadProgress, DownloadReport, FileType, IdOrSlug, ImageType, OsModel,
    OsType, Verification,
};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::{ApiArgs, NetworkArgs, fleet_id, parse_id_or_slug, parse_text};
use crate::commands::output::{self, Exit, Out, human_bytes};

/// Arguments of `balena-os download`.
#[derive(Debug, Args)]
pub struct DownloadArgs {
    /// Device type slug or alias.
    #[arg(value_parser = parse_text)]
    pub device_type: String,
    /// An exact version (`6.0.10+rev1`, `v2.88.4+rev1.prod`) or `latest`
    /// (the newest release of the default line). Ranges are not accepted;
    /// see `max-version`.
    #[arg(long = "version", value_name = "VERSION", default_value = "latest", value_parser = parse_download_version)]
    pub os_version: String,
    /// Where to write the image (default: DEVICE_TYPE-VERSION.img, .img.gz
    /// or .zip in the current directory). `-` writes it to stdout (not
    /// resumed; refused when stdout is a terminal unless --force); a file
    /// named `-` is `./-`.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Overwrite the output file if it exists (with `-o -`: write to stdout
    /// even when it is a terminal).
    #[arg(short, long)]
    pub force: bool,
    /// Container format: `img` (raw), `gz` or `zip`.
    #[arg(long, value_name = "TYPE", value_parser = parse_file_type)]
    pub file_type: Option<FileType>,
    /// `raw` or `flasher` (for device types that publish both).
    #[arg(long, value_name = "TYPE", value_parser = parse_image_type)]
    pub image_type: Option<ImageType>,
    /// Configure the image for development mode.
    #[arg(long)]
    pub dev: bool,
    /// Configure the image for this fleet (id, slug or uuid).
    #[arg(long, value_name = "FLEET", value_parser = parse_id_or_slug)]
    pub fleet: Option<IdOrSlug>,
    #[command(flatten)]
    pub network: NetworkArgs,
    /// How often the supervisor polls for updates, in minutes.
    #[arg(long, value_name = "MINUTES")]
    pub poll_interval: Option<u64>,
    /// No progress bar (it is only shown when stderr is a terminal anyway).
    #[arg(long)]
    pub no_progress: bool,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// `latest`, or a version the SDK will accept (checked here so that a bad
/// version is a usage error and nothing is sent).
pub fn parse_download_version(s: &str) -> Result<String, String> {
    if s == "latest" {
        return Ok(s.to_owned());
    }
    balena_sdk::os::queries::normalize_download_version(s)
        .map(|_| s.to_owned())
        .map_err(|e| e.to_string())
}

/// `img`, `gz` or `zip` (with or without the dot).
pub fn parse_file_type(s: &str) -> Result<FileType, String> {
    s.parse::<FileType>()
        .map_err(|_| format!("{s:?} is not a file type: expected img, gz or zip"))
}

/// `raw` or `flasher`.
pub fn parse_image_type(s: &str) -> Result<ImageType, String> {
    s.parse::<ImageType>()
        .map_err(|_| format!("{s:?} is not an image type: expected raw or flasher"))
}

/// The default file name: `<device type>-<version><extension>`, with any
/// character that does not belong in a file name replaced by `_`.
pub fn default_file_name(device_type: &str, version: &str, file_type: Option<FileType>) -> String {
    let ext = match file_type {
        None | Some(FileType::Img) => ".img",
        Some(FileType::Gz) => ".img.gz",
        Some(FileType::Zip) => ".zip",
    };
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+') {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let name = format!("{}-{}{ext}", clean(device_type), clean(version));
    // Never a hidden file or a relative component.
    name.trim_start_matches('.').to_owned()
}

fn verification_name(v: Verification) -> &'static str {
    match v {
        Verification::Gzip => "gzip",
        Verification::Zip => "zip",
        _ => "length",
    }
}

fn report_json(device_type: &str, version: &str, r: &DownloadReport) -> serde_json::Value {
    let m = &r.metadata;
    json!({
        "deviceType": device_type,
        "version": version,
        "path": r.path,
        "bytesWritten": r.bytes_written,
        "wireBytes": r.wire_bytes,
        "resumes": r.resumes,
        "verification": verification_name(r.verification),
        "metadata": {
            "status": m.status,
            "contentType": m.content_type,
            "contentLength": m.content_length,
            "total": m.total,
            "contentEncoding": m.content_encoding,
            "fileName": m.file_name,
            "etag": m.etag,
            "lastModified": m.last_modified,
            "acceptsRanges": m.accepts_ranges,
        },
    })
}

fn progress_bar(show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} {binary_bytes} ({binary_bytes_per_sec}) {msg}")
    {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn on_progress(bar: &ProgressBar) -> impl FnMut(DownloadProgress) + Send + 'static {
    let bar = bar.clone();
    move |p: DownloadProgress| {
        if let Some(total) = p.total
            && bar.length() != Some(total)
        {
            bar.set_length(total);
            if let Ok(style) = ProgressStyle::with_template(
                "[{elapsed_precise}] {wide_bar} {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}, ETA {eta})",
            ) {
                bar.set_style(style);
            }
        }
        bar.set_position(p.received);
    }
}

/// True when `-o` names stdout.
fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// `-o -`: stdout must carry nothing but the image, and must not be a
/// terminal (unless forced).
fn check_stdout(args: &DownloadArgs) -> anyhow::Result<()> {
    if args.api.json {
        return Err(output::usage(
            "--json cannot be used with -o -: stdout carries the image",
        ));
    }
    if !args.force && std::io::stdout().is_terminal() {
        return Err(output::usage(
            "refusing to write an OS image to a terminal: redirect stdout \
             (e.g. `> balena.img` or `| dd of=/dev/sdX`), or give --force",
        ));
    }
    Ok(())
}

/// Streams the image to stdout. Nothing but image bytes goes to stdout;
/// the progress bar and the summary go to stderr, and only when it is a
/// terminal. The stream checks the length (and any `Content-Encoding`
/// trailer) and fails if the body is short; a cut transfer is not resumed.
async fn download_to_stdout(
    os: &OsModel<'_>,
    opts: &DownloadOptions,
    args: &DownloadArgs,
    version: &str,
) -> anyhow::Result<()> {
    let show = !args.no_progress && std::io::stderr().is_terminal();
    let bar = progress_bar(show);
    let mut progress = on_progress(&bar);
    let interrupted = output::interrupt_listener();
    let what = format!("downloading {} {version} to stdout", args.device_type);
    let pump = async {
        let mut download = os.download(opts).await.with_context(|| what.clone())?;
        let mut stdout = tokio::io::stdout();
        let mut written = 0u64;
        while let Some(chunk) = download.chunk().await.with_context(|| {
            format!("{what} (the image on stdout is incomplete after {written} bytes)")
        })? {
            stdout.write_all(&chunk).await.map_err(output::map_io)?;
            written += chunk.len() as u64;
            progress(download.progress());
        }
        stdout.flush().await.map_err(output::map_io)?;
        Ok::<_, anyhow::Error>(written)
    };
    let result = tokio::select! {
        r = pump => r,
        () = interrupted => {
            bar.finish_and_clear();
            return Err(Exit::with_message(
                output::INTERRUPTED,
                "interrupted: the image on stdout is incomplete",
            ));
        }
    };
    bar.finish_and_clear();
    let written = result?;
    if show {
        output::note(format_args!(
            "downloaded {} {version} to stdout: {written} bytes ({})",
            args.device_type,
            human_bytes(written)
        ));
    }
    Ok(())
}

fn check_output(path: &Path, force: bool) -> anyhow::Result<()> {
    if path.is_dir() {
        return Err(output::usage(format!(
            "the output {} is a directory",
            path.display()
        )));
    }
    if !force && path.exists() {
        return Err(output::usage(format!(
            "{} already exists (use --force to overwrite it)",
            path.display()
        )));
    }
    Ok(())
}

/// `balena-os download`.
pub async fn run(args: DownloadArgs) -> anyhow::Result<()> {
    let network = args.network.network()?;
    let to_stdout = args.output.as_deref().is_some_and(is_stdout);
    if to_stdout {
        check_stdout(&args)?;
    } else if let Some(path) = &args.output {
        check_output(path, args.force)?;
    }
    let balena = args.api.client()?;
    let os = balena.os();
    // Resolve `latest` here, as the SDK would (newest release of the default
    // line), so the version is known for the file name and the report.
    let version = if args.os_version == "latest" {
        os.get_max_satisfying_version(&args.device_type, "latest", Some(&OsType::Default))
            .await
            .context("finding the latest version")?
            .ok_or_else(|| balena_sdk::Error::OsImageNotFound {
                device_type: args.device_type.clone(),
                version: "latest".into(),
                image_type: args.image_type.map(|t| t.as_str().to_owned()),
            })?
    } else {
        balena_sdk::os::queries::normalize_download_version(&args.os_version)?
    };
    let path = match &args.output {
        Some(p) => p.clone(),
        None => {
            let p = PathBuf::from(default_file_name(
                &args.device_type,
                &version,
                args.file_type,
            ));
            check_output(&p, args.force)?;
            p
        }
    };
    let mut opts = DownloadOptions::new(args.device_type.clone()).version(version.clone());
    if let Some(t) = args.file_type {
        opts = opts.file_type(t);
    }
    if let Some(t) = args.image_type {
        opts = opts.image_type(t);
    }
    if args.dev {
        opts = opts.development_mode(true);
    }
    if let Some(m) = args.poll_interval {
        opts = opts.app_update_poll_interval(m);
    }
    if let Some(n) = network {
        opts = opts.network(n);
    }
    if let Some(fleet) = &args.fleet {
        opts = opts.app_id(fleet_id(&balena, fleet).await?);
    }
    if to_stdout {
        return download_to_stdout(&os, &opts, &args, &version).await;
    }

    let show = !args.no_progress && std::io::stderr().is_terminal();
    let bar = progress_bar(show);
    let interrupted = output::interrupt_listener();
    let download = os.download_to_file(&opts, &path, on_progress(&bar));
    let result = tokio::select! {
        r = download => r,
        () = interrupted => {
            // Dropping the download removed its temporary file.
            bar.finish_and_clear();
            return Err(Exit::with_message(
                output::INTERRUPTED,
                format!("interrupted: {} was not written", path.display()),
            ));
        }
    };
    bar.finish_and_clear();
    let report = result.with_context(|| {
        format!(
            "downloading {} {version} to {}",
            args.device_type,
            path.display()
        )
    })?;
    let mut out = Out::new();
    if args.api.json {
        out.json(&report_json(&args.device_type, &version, &report))?;
    } else {
        out.line(format!(
            "downloaded {} {version} to {}: {} bytes ({}), checked: {}{}",
            args.device_type,
            report.path.display(),
            report.bytes_written,
            human_bytes(report.bytes_written),
            verification_name(report.verification),
            match report.resumes {
                0 => String::new(),
                1 => ", resumed once".to_owned(),
                n => format!(", resumed {n} times"),
            }
        ))?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_checked_like_the_sdk() {
        assert!(parse_download_version("latest").is_ok());
        assert!(parse_download_version("6.0.10+rev1").is_ok());
        assert!(parse_download_version("v2.88.4+rev1.prod").is_ok());
        assert!(parse_download_version("^2.88.0").is_err());
        assert!(parse_download_version("2.88").is_err());
        assert!(parse_download_version("").is_err());
    }

    #[test]
    fn file_and_image_types() {
        assert_eq!(parse_file_type("gz"), Ok(FileType::Gz));
        assert_eq!(parse_file_type(".zip"), Ok(FileType::Zip));
        let e = parse_file_type("tar").unwrap_err();
        assert!(e.contains("expected img, gz or zip"), "{e}");
        assert_eq!(parse_image_type("flasher"), Ok(ImageType::Flasher));
        assert!(parse_image_type("Raw").is_err());
    }

    #[test]
    fn default_names() {
        assert_eq!(
            default_file_name("raspberrypi4-64", "6.0.10+rev1", None),
            "raspberrypi4-64-6.0.10+rev1.img"
        );
        assert_eq!(
            default_file_name("intel-nuc", "2.88.4+rev1.prod", Some(FileType::Gz)),
            "intel-nuc-2.88.4+rev1.prod.img.gz"
        );
        assert_eq!(
            default_file_name("../x/y", "1.0.0", Some(FileType::Zip)),
            "_x_y-1.0.0.zip"
        );
    }
}
