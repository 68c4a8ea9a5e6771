//! `balena-os serve`.

use std::net::SocketAddr;

use anyhow::Context;
use balena_os_server::Server;
use clap::Args;

use super::StorageArgs;

/// What `serve --help` says about stopping.
fn serve_help() -> String {
    format!(
        "\
Stopping: Ctrl-C (SIGINT) or SIGTERM stops accepting connections, gives the
requests in progress up to --drain-timeout seconds (default {}) to finish
(then cuts what is still open), logs
\"shutting down\" and \"stopped\", and exits with status 0 (a requested stop
is not a failure, as systemd and container runtimes expect). Status 1 means
the server could not start or failed.",
        balena_os_server::DEFAULT_DRAIN_TIMEOUT.as_secs()
    )
}

/// Arguments of `balena-os serve`.
#[derive(Debug, Args)]
#[command(after_help = serve_help())]
pub struct ServeArgs {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    #[arg(long, env = "BALENA_OS_LISTEN", default_value = balena_os_server::DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub storage: StorageArgs,
    /// On an empty catalog, load the demo catalog (device types, OS
    /// versions, supervisor releases, an organisation, a user and fleets);
    /// the demo user's API key is written to `<data>/demo-api-key`.
    #[arg(long)]
    pub demo: bool,
    /// Memory for cached answers, in MiB (0 turns the answer cache off).
    #[arg(long, env = "BALENA_OS_CACHE_MB", default_value_t = 64)]
    pub cache_mb: usize,
    /// Log as JSON lines instead of text.
    #[arg(long)]
    pub log_json: bool,
    /// On Ctrl-C or SIGTERM, how many seconds requests in progress (long
    /// downloads) may take to finish before their connections are cut.
    #[arg(long, env = "BALENA_OS_DRAIN_TIMEOUT", value_name = "SECONDS",
          default_value_t = balena_os_server::DEFAULT_DRAIN_TIMEOUT.as_secs())]
    pub drain_timeout: u64,
    #[command(flatten)]
    pub images: super::image_server::ImageServerArgs,
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    let signal = tokio::select! {
        () = ctrl_c => "SIGINT",
        () = term => "SIGTERM",
    };
    tracing::info!(signal, "shutting down: finishing the requests in progress");
}

/// Runs the server until Ctrl-C or SIGTERM (then status 0). The first line
/// on stdout is the base URL.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    init_logging(args.log_json);
    let mut builder = Server::builder()
        .data_dir(&args.storage.data)
        .demo(args.demo)
        .cache_bytes(args.cache_mb.saturating_mul(1024 * 1024))
        .drain_timeout(std::time::Duration::from_secs(args.drain_timeout));
    if let Some(url) = &args.storage.database_url {
        builder = builder.database_url(url);
    }
    builder = builder.images(args.images.config()?);
    let server = builder.build().await.context("starting the server")?;
    // The server logs a new administrator (with its key file) and a skipped
    // demo itself; the demo key's file is said here.
    if server.bootstrap().is_some_and(|b| b.demo_key.is_some()) {
        tracing::info!(
            "demo catalog loaded; the demo user's API key is in {}",
            server
                .data_dir()
                .join(balena_os_server::DEMO_KEY_FILE)
                .display()
        );
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    {
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "http://{addr}").context("writing to stdout")?;
        stdout.flush().context("writing to stdout")?;
    }
    tracing::info!(%addr, "listening");
    server.serve(listener, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}
