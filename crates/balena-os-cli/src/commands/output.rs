//! Writing results: human-readable text or one JSON document on stdout,
//! exit statuses, and a closed stdout treated as a clean exit.
//!
//! Nothing here uses `println!` (it panics when stdout is gone); every write
//! goes through [`Out`], which turns a broken pipe into [`StdoutClosed`] so
//! that `balena-os versions … | head -1` ends quietly with status 0, as
//! ripgrep does.

use std::fmt;
use std::io::{self, Write};
use std::process::ExitCode;

use serde::Serialize;

/// Exit statuses of the `balena-os` command, shown in `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit status:
  0    success (can-update: the update is allowed; arch-compatible: compatible;
       max-version: a version matched)
  1    failure: the request, the API or a file operation failed
       (can-update, arch-compatible, max-version: the answer is no / none)
  2    usage: invalid arguments, rejected before any request was sent
       (can-update, arch-compatible, max-version: also any failure)
  130  interrupted (Ctrl-C or SIGTERM): a download leaves no file behind, a
       configure finishes its short write first; serve stops with status 0";

/// Status 1: a failure, or a negative answer of a predicate command.
pub const FAILURE: u8 = 1;
/// Status 2: invalid arguments (also failures of predicate commands).
pub const USAGE: u8 = 2;
/// Status 130: interrupted by a signal.
pub const INTERRUPTED: u8 = 130;

/// Stdout was closed by the reader (e.g. `| head`): stop quietly, status 0.
#[derive(Debug)]
pub struct StdoutClosed;

impl fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stdout was closed")
    }
}

impl std::error::Error for StdoutClosed {}

/// Ends the process with `code` after printing `message` (if any) on
/// stderr. Used for answers that are not errors (a predicate's "no") and
/// for errors that need a status other than 1.
#[derive(Debug)]
pub struct Exit {
    /// The exit status.
    pub code: u8,
    /// Printed on stderr as is (no `error:` prefix added).
    pub message: Option<String>,
}

impl Exit {
    /// An exit with a status and no message.
    pub fn silent(code: u8) -> anyhow::Error {
        anyhow::Error::new(Exit {
            code,
            message: None,
        })
    }

    /// An exit with a status and a message for stderr.
    pub fn with_message(code: u8, message: impl Into<String>) -> anyhow::Error {
        anyhow::Error::new(Exit {
            code,
            message: Some(message.into()),
        })
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.message {
            Some(m) => f.write_str(m),
            None => write!(f, "exit status {}", self.code),
        }
    }
}

impl std::error::Error for Exit {}

/// An invalid argument found after parsing (status 2).
#[derive(Debug)]
pub struct Usage(pub String);

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// A usage error as an `anyhow::Error`.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Usage(message.into()))
}

/// True when an SDK error means the caller's arguments were invalid (the
/// SDK checks these before sending anything).
fn is_sdk_usage_error(e: &balena_sdk::Error) -> bool {
    matches!(
        e,
        balena_sdk::Error::InvalidParameter { .. }
            | balena_sdk::Error::MissingParameter { .. }
            | balena_sdk::Error::InvalidVersion { .. }
            | balena_sdk::Error::PineOptions { .. }
    )
}

/// True when `err` (or anything in its chain) is a usage error: a
/// [`Usage`] or an SDK error about invalid arguments.
pub fn is_usage_error(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<Usage>().is_some()
            || c.downcast_ref::<balena_sdk::Error>()
                .is_some_and(is_sdk_usage_error)
    })
}

/// The error and its causes on one line, joined by `: ` (anyhow's `{:#}`).
/// Every error in the chain shows only its own message and leaves its
/// cause to `source()`, so each cause appears once.
pub fn error_text(err: &anyhow::Error) -> String {
    format!("{err:#}")
}

/// Decides how the process ends for an error returned by a subcommand and
/// prints what needs printing: a closed stdout is status 0 without a
/// message, an [`Exit`] its own status and message, a usage error status
/// 2, anything else `error: …` and status 1. Every error is handled here
/// today (never `None`); `main` keeps its own fallback for any future case.
pub fn exit_code(err: &anyhow::Error) -> Option<ExitCode> {
    if err.downcast_ref::<StdoutClosed>().is_some() {
        return Some(ExitCode::SUCCESS);
    }
    if let Some(exit) = err.downcast_ref::<Exit>() {
        if let Some(m) = &exit.message {
            note(m);
        }
        return Some(ExitCode::from(exit.code));
    }
    note(format_args!("error: {}", error_text(err)));
    Some(ExitCode::from(if is_usage_error(err) {
        USAGE
    } else {
        FAILURE
    }))
}

/// Maps any error of a predicate command (whose status 1 means "no") to
/// status 2 with its message.
pub fn predicate_failure(err: anyhow::Error) -> anyhow::Error {
    if err.downcast_ref::<StdoutClosed>().is_some() || err.downcast_ref::<Exit>().is_some() {
        return err;
    }
    Exit::with_message(USAGE, format!("error: {}", error_text(&err)))
}

/// Buffered stdout whose write errors become [`StdoutClosed`] (broken pipe)
/// or a plain error.
pub struct Out {
    inner: io::BufWriter<io::StdoutLock<'static>>,
}

/// A failed write to stdout: a broken pipe becomes [`StdoutClosed`] (a
/// quiet status 0), anything else an error naming stdout.
pub fn map_io(e: io::Error) -> anyhow::Error {
    if e.kind() == io::ErrorKind::BrokenPipe {
        anyhow::Error::new(StdoutClosed)
    } else {
        anyhow::Error::new(e).context("writing to stdout")
    }
}

impl Out {
    /// Locks stdout.
    pub fn new() -> Self {
        Out {
            inner: io::BufWriter::new(io::stdout().lock()),
        }
    }

    /// Writes one line.
    pub fn line(&mut self, text: impl fmt::Display) -> anyhow::Result<()> {
        writeln!(self.inner, "{text}").map_err(map_io)
    }

    /// Writes raw bytes.
    pub fn bytes(&mut self, data: &[u8]) -> anyhow::Result<()> {
        self.inner.write_all(data).map_err(map_io)
    }

    /// Writes `value` as one JSON document (compact) and a newline.
    pub fn json<T: Serialize + ?Sized>(&mut self, value: &T) -> anyhow::Result<()> {
        let text = serde_json::to_string(value)?;
        self.line(text)
    }

    /// Writes `value` as pretty-printed JSON and a newline.
    pub fn json_pretty<T: Serialize + ?Sized>(&mut self, value: &T) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(value)?;
        self.line(text)
    }

    /// Writes a table: a header row and rows, columns padded to the widest
    /// cell, separated by two spaces, no trailing spaces.
    pub fn table(&mut self, header: &[&str], rows: &[Vec<String>]) -> anyhow::Result<()> {
        let head: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
        for line in format_table(&head, rows) {
            self.line(line)?;
        }
        Ok(())
    }

    /// Flushes; a broken pipe becomes [`StdoutClosed`].
    pub fn flush(&mut self) -> anyhow::Result<()> {
        self.inner.flush().map_err(map_io)
    }
}

impl Drop for Out {
    fn drop(&mut self) {
        // Errors were reported by `flush` where it mattered; a broken pipe
        // at this point is not worth a panic or a message.
        let _ = self.inner.flush();
    }
}

/// Lays out a table (see [`Out::table`]); widths count characters.
pub fn format_table(header: &[String], rows: &[Vec<String>]) -> Vec<String> {
    let cols = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(cols) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let render = |cells: &[String]| {
        let mut line = String::new();
        for (i, cell) in cells.iter().enumerate().take(cols) {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            if i + 1 < cols {
                let pad = widths[i].saturating_sub(cell.chars().count());
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        line.trim_end().to_owned()
    };
    let mut out = Vec::with_capacity(rows.len() + 1);
    out.push(render(header));
    for row in rows {
        out.push(render(row));
    }
    out
}

/// Starts catching Ctrl-C (SIGINT) and SIGTERM and returns a future that
/// resolves when one arrives. From this call on those signals no longer
/// kill the process outright, so work racing against the future can be
/// dropped (and clean up) or finished first.
pub fn interrupt_listener() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{Signal, SignalKind, signal};
        let int = signal(SignalKind::interrupt()).ok();
        let term = signal(SignalKind::terminate()).ok();
        async fn wait(s: Option<Signal>) {
            match s {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        }
        async move {
            tokio::select! {
                () = wait(int) => {},
                () = wait(term) => {},
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Writes a note on stderr, ignoring failures (stderr may be closed too).
pub fn note(text: impl fmt::Display) {
    let _ = writeln!(io::stderr(), "{text}");
}

/// `1234567` → `1.2 MiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// An optional text cell: `-` for none or empty.
pub fn cell(value: Option<&str>) -> String {
    match value {
        Some(v) if !v.is_empty() => v.to_owned(),
        _ => "-".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_pad_all_but_the_last_column() {
        let rows = vec![
            vec![
                "6.0.13+rev2".to_owned(),
                "current".to_owned(),
                "-".to_owned(),
            ],
            vec![
                "2.88.4+rev1.prod".to_owned(),
                "-".to_owned(),
                "prod".to_owned(),
            ],
        ];
        let lines = format_table(&["VERSION".into(), "LINE".into(), "VARIANT".into()], &rows);
        assert_eq!(
            lines,
            [
                "VERSION           LINE     VARIANT",
                "6.0.13+rev2       current  -",
                "2.88.4+rev1.prod  -        prod",
            ]
        );
    }

    #[test]
    fn short_rows_and_empty_tables() {
        assert_eq!(format_table(&["A".into(), "B".into()], &[]), ["A  B"]);
        let lines = format_table(&["A".into(), "B".into()], &[vec!["xyz".into()]]);
        assert_eq!(lines, ["A    B", "xyz"]);
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(577_393_095), "550.6 MiB");
        assert_eq!(human_bytes(u64::MAX), "16384.0 PiB");
    }

    #[test]
    fn usage_errors_are_recognised_through_context() {
        let e = anyhow::Error::new(balena_sdk::Error::InvalidVersion {
            version: "x".into(),
            reason: "bad",
        })
        .context("downloading");
        assert!(is_usage_error(&e));
        let e = anyhow::Error::new(balena_sdk::Error::InvalidDeviceType {
            device_type: "x".into(),
        });
        assert!(!is_usage_error(&e));
        assert!(is_usage_error(&usage("no")));
    }

    #[test]
    fn the_chain_is_printed_once_through_context() {
        // An SDK error keeps its cause in source(), not in its message.
        let e = anyhow::Error::new(balena_sdk::Error::Io {
            action: "writing",
            path: "x.img".into(),
            source: io::Error::other("disk full"),
        })
        .context("downloading raspberrypi3 6.0.10+rev1 to x.img");
        assert_eq!(
            error_text(&e),
            "downloading raspberrypi3 6.0.10+rev1 to x.img: writing x.img: disk full"
        );
        let plain = anyhow::anyhow!("inner").context("outer");
        assert_eq!(error_text(&plain), "outer: inner");
    }

    #[test]
    fn predicate_failures_become_status_2() {
        let e = predicate_failure(anyhow::anyhow!("boom"));
        let exit = e.downcast_ref::<Exit>().expect("an Exit");
        assert_eq!(exit.code, USAGE);
        assert_eq!(exit.message.as_deref(), Some("error: boom"));
        let closed = predicate_failure(anyhow::Error::new(StdoutClosed));
        assert!(closed.downcast_ref::<StdoutClosed>().is_some());
    }
}
