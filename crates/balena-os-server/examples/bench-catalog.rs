//! Fills an empty catalog with the synthetic load-test catalog
//! ([`balena_os_server::catalog::demo::synthetic`]) and creates an
//! organisation `bench` with user `bench`; prints the user's API key.
//!
//! ```text
//! cargo run --release -p balena-os-server --example bench-catalog -- DATA_DIR [DATABASE_URL] [DEVICE_TYPES] [RELEASES]
//! ```

use std::process::ExitCode;

use balena_os_server::Server;
use balena_os_server::catalog::demo;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(data) = args.first() else {
        eprintln!("usage: bench-catalog DATA_DIR [DATABASE_URL|-] [DEVICE_TYPES] [RELEASES]");
        return ExitCode::FAILURE;
    };
    let url = args.get(1).filter(|u| u.as_str() != "-");
    let dts = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(50);
    let releases = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(300);
    match run(data, url, dts, releases).await {
        Ok(key) => {
            println!("{key}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(
    data: &str,
    url: Option<&String>,
    dts: usize,
    releases: usize,
) -> Result<String, Box<dyn std::error::Error>> {
    let mut builder = Server::builder().data_dir(data);
    if let Some(u) = url {
        builder = builder.database_url(u);
    }
    let catalog = builder.open_catalog().await?;
    if !catalog.is_empty().await? {
        return Err("the catalog is not empty".into());
    }
    let started = std::time::Instant::now();
    let report = catalog
        .write_batch(&demo::synthetic(dts, releases)?)
        .await?;
    eprintln!(
        "{} device types, {} releases written in {:.1?}",
        report.device_types_created,
        report.releases_created,
        started.elapsed()
    );
    catalog.create_organization("bench", None).await?;
    catalog
        .create_user("bench", None, &["bench"], false)
        .await?;
    let key = catalog
        .create_api_key("bench", Some("load test"), None)
        .await?;
    catalog.db().close().await;
    Ok(key.key)
}
