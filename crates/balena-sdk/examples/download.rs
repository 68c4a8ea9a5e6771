//! Downloads a balenaOS image to a file with progress, like
//! `balena os download`.
//!
//! ```sh
//! cargo run --release -p balena-sdk --example download -- raspberrypi3 6.0.10+rev1 balena.img.gz --file-type gz
//! ```
//!
//! Arguments: DEVICE_TYPE VERSION|latest OUTPUT [--file-type img|zip|gz]
//! [--api-url URL] [--quiet]. Credentials and the API URL come from the
//! environment (`BALENA_API_KEY`, `BALENA_API_URL`, `~/.balena/token`).

use std::process::ExitCode;
use std::time::Instant;

use balena_sdk::{Balena, DownloadOptions};

#[tokio::main]
async fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut take_flag = |name: &str| -> Option<String> {
        let i = args.iter().position(|a| a == name)?;
        args.remove(i);
        (i < args.len()).then(|| args.remove(i))
    };
    let file_type = take_flag("--file-type");
    let api_url = take_flag("--api-url");
    let quiet = args
        .iter()
        .position(|a| a == "--quiet")
        .map(|i| args.remove(i))
        .is_some();
    let [device_type, version, output] = args.as_slice() else {
        eprintln!(
            "usage: download DEVICE_TYPE VERSION|latest OUTPUT [--file-type img|zip|gz] [--api-url URL] [--quiet]"
        );
        return ExitCode::from(2);
    };
    let mut builder = Balena::builder().with_env();
    if let Some(url) = api_url {
        builder = builder.api_url(url);
    }
    let run = async {
        let balena = builder.build()?;
        let mut opts = DownloadOptions::new(device_type.as_str()).version(version.as_str());
        if let Some(t) = file_type {
            opts = opts.file_type(t.parse()?);
        }
        let started = Instant::now();
        let mut last_pct = -1i64;
        let report = balena
            .os()
            .download_to_file(&opts, output.as_ref(), |p| {
                if let (false, Some(pct)) = (quiet, p.percentage)
                    && pct as i64 != last_pct
                {
                    last_pct = pct as i64;
                    eprint!("\r{pct:5.1}% ({} bytes)", p.received);
                }
            })
            .await?;
        let secs = started.elapsed().as_secs_f64();
        if !quiet {
            eprintln!(
                "\n{} bytes in {secs:.2} s ({:.1} MiB/s), resumed {} times, checked: {:?}",
                report.bytes_written,
                report.bytes_written as f64 / secs / 1048576.0,
                report.resumes,
                report.verification
            );
        }
        Ok::<_, balena_sdk::Error>(())
    };
    match run.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
