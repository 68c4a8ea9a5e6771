//! Printing an error with all of its causes.
//!
//! The server's errors follow the workspace rule: an error shows its cause
//! either in its own message or through [`Error::source`], never both. So
//! `to_string()` of a wrapper (`ImagesError::Io`, balena-image's
//! `Error::Io`, …) says what was being done but not why; log lines and
//! messages built from an error use [`ErrorChain`] to print the whole
//! chain once.

use std::error::Error;
use std::fmt;

/// Displays an error followed by each cause in its [`Error::source`]
/// chain, separated by `": "`.
///
/// A cause whose text the message printed before it already contains is
/// skipped, so third-party errors that both print and return their cause
/// (some `sqlx`, `object_store` and `std::io` errors) still show it once.
///
/// ```
/// use balena_os_server::ErrorChain;
/// let e = balena_os_server::images::ImagesError::Io {
///     context: "creating /data/images".into(),
///     source: std::io::Error::other("disk full"),
/// };
/// assert_eq!(e.to_string(), "creating /data/images");
/// assert_eq!(ErrorChain(&e).to_string(), "creating /data/images: disk full");
/// ```
#[derive(Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a (dyn Error + 'a));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.0.to_string();
        f.write_str(&shown)?;
        let mut next = self.0.source();
        while let Some(cause) = next {
            let text = cause.to_string();
            if !text.is_empty() && !shown.contains(&text) {
                write!(f, ": {text}")?;
                shown = text;
            }
            next = cause.source();
        }
        Ok(())
    }
}

impl fmt::Debug for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The error and its causes as one line (see [`ErrorChain`]).
pub(crate) fn chain(e: &(dyn Error + '_)) -> String {
    ErrorChain(e).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Middle);

    #[derive(Debug, thiserror::Error)]
    #[error("middle: {0}")]
    struct Middle(#[source] std::io::Error);

    use crate::ServerError;
    use crate::auth::AuthError;
    use crate::catalog::CatalogError;
    use crate::db::DbError;
    use crate::images::ImagesError;
    use crate::images::store::StoreError;
    use crate::query::{ExecError, PlanError};
    use crate::time::DateParseError;

    const ROOT: &str = "disk on fire";

    fn io() -> std::io::Error {
        std::io::Error::other(ROOT)
    }
    fn sqlx_io() -> sqlx::Error {
        sqlx::Error::Io(io())
    }
    fn db() -> DbError {
        DbError::Sqlx(sqlx_io())
    }
    fn store() -> StoreError {
        StoreError::Io {
            context: "reading a/b".into(),
            source: io(),
        }
    }
    fn catalog() -> Vec<CatalogError> {
        vec![
            CatalogError::Db(db()),
            CatalogError::Invalid {
                what: "slug",
                value: "a b".into(),
                reason: "no spaces",
            },
            CatalogError::NotFound {
                what: "fleet",
                value: "x".into(),
            },
            CatalogError::Exists {
                what: "fleet",
                value: "x".into(),
            },
            CatalogError::Bucket("listing x: timed out".into()),
            CatalogError::Document("bad row".into()),
        ]
    }
    fn images() -> Vec<ImagesError> {
        let mut v = vec![
            ImagesError::Store(store()),
            ImagesError::Store(StoreError::UnsafeSegment("..".into())),
            ImagesError::Store(StoreError::Bucket("reading x: timed out".into())),
            ImagesError::Store(StoreError::TooLarge("a/b".into())),
            ImagesError::Db(db()),
            ImagesError::Image(balena_image::Error::from(io())),
            ImagesError::Image(balena_image::Error::from(
                serde_json::from_str::<serde_json::Value>("{").expect_err("bad JSON"),
            )),
            ImagesError::Io {
                context: "creating a folder".into(),
                source: io(),
            },
            ImagesError::Invalid("empty manifest".into()),
        ];
        v.extend(catalog().into_iter().map(ImagesError::Catalog));
        v
    }

    /// Checks the rule on one error: a cause returned by `source()` is not
    /// in the message, and the chain shows the root cause exactly once.
    fn check(e: &(dyn Error + 'static)) {
        let message = e.to_string();
        assert!(!message.is_empty(), "{e:?} has an empty message");
        if let Some(source) = e.source() {
            let cause = source.to_string();
            assert!(
                !message.contains(&cause),
                "{e:?}: message {message:?} repeats its source {cause:?}"
            );
            let full = chain(e);
            assert!(full.starts_with(&message), "{full}");
            assert!(full.contains(&cause), "{full}");
            assert!(full.matches(ROOT).count() <= 1, "{full}");
        }
        if message.contains(ROOT) {
            assert!(e.source().is_none(), "{e:?} shows its cause twice");
        }
    }

    #[test]
    fn server_errors_show_their_cause_once() {
        let migrate = [
            sqlx::migrate::MigrateError::Execute(sqlx_io()),
            sqlx::migrate::MigrateError::VersionMissing(3),
        ];
        let mut dbs = vec![
            db(),
            DbError::Sqlx(sqlx::Error::Protocol("bad packet".into())),
            DbError::UnsupportedUrl("mysql://h/db".into()),
            DbError::Decode { column: 2 },
        ];
        dbs.extend(migrate.into_iter().map(DbError::Migrate));
        for e in &dbs {
            check(e);
        }
        for e in images() {
            check(&e);
        }
        for e in catalog() {
            check(&e);
        }
        let stores = [
            store(),
            StoreError::UnsafeSegment("..".into()),
            StoreError::Bucket("x".into()),
            StoreError::TooLarge("a".into()),
        ];
        for e in &stores {
            check(e);
        }
        let mut servers = vec![
            ServerError::Db(db()),
            ServerError::Io {
                context: "binding 127.0.0.1:1".into(),
                source: io(),
            },
        ];
        servers.extend(catalog().into_iter().map(ServerError::Catalog));
        servers.extend(images().into_iter().map(|source| ServerError::Images {
            context: "setting up the image endpoints".into(),
            source,
        }));
        for e in &servers {
            check(e);
        }
        for e in [
            AuthError::InvalidKey,
            AuthError::Expired,
            AuthError::Db(db()),
        ] {
            check(&e);
        }
        for e in [
            ExecError::Db(db()),
            ExecError::BadValue("integer overflow".into()),
            ExecError::TooLarge(10),
        ] {
            check(&e);
        }
        for e in [
            PlanError::UnknownResource("x".into()),
            PlanError::BadRequest("bad $filter".into()),
        ] {
            check(&e);
        }
        check(&DateParseError {
            input: "x".into(),
            reason: "not a date",
        });
        // What a 500's log line shows for a wrapped I/O failure.
        let e = ServerError::Images {
            context: "installing the demo images".into(),
            source: ImagesError::Image(balena_image::Error::from(io())),
        };
        assert_eq!(
            chain(&e),
            "installing the demo images: I/O error: disk on fire"
        );
        assert_eq!(
            chain(&DbError::Migrate(sqlx::migrate::MigrateError::Execute(
                sqlx_io()
            ))),
            "database migration failed: while executing migrations: error communicating with database: disk on fire"
        );
    }

    /// A log writer that keeps what was written.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut v) = self.0.lock() {
                v.extend_from_slice(buf);
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Runs `f` with a subscriber that records log lines; returns them.
    fn logged<T>(f: impl FnOnce() -> T) -> (T, String) {
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let got = tracing::subscriber::with_default(subscriber, f);
        let text = out.0.lock().map(|v| v.clone()).unwrap_or_default();
        (got, String::from_utf8_lossy(&text).into_owned())
    }

    /// A 500 tells the caller nothing about the cause; its log line has the
    /// whole chain, each cause once. A 401/400 keeps its reason.
    #[test]
    fn internal_errors_are_generic_and_logged_in_full() {
        use crate::http::ApiError;
        use axum::http::StatusCode;
        let (answer, log) =
            logged(|| ApiError::from(ImagesError::Image(balena_image::Error::from(io()))));
        assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(answer.message, "Internal server error");
        assert!(log.contains("error=I/O error: disk on fire"), "{log}");
        assert_eq!(log.matches(ROOT).count(), 1, "{log}");

        let (answer, log) = logged(|| ApiError::from(AuthError::Db(db())));
        assert_eq!(answer.message, "Internal server error");
        assert!(
            log.contains("error=database error: error communicating with database: disk on fire"),
            "{log}"
        );
        let (answer, log) = logged(|| ApiError::from(AuthError::Expired));
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer.message, "Unauthorized: the API key has expired");
        assert!(log.is_empty(), "{log}");
    }

    #[test]
    fn every_cause_once() {
        let e = Outer(Middle(std::io::Error::other("root cause")));
        // Middle prints its cause and returns it: the cause is not repeated.
        assert_eq!(chain(&e), "outer: middle: root cause");
        let plain = std::io::Error::other("alone");
        assert_eq!(chain(&plain), "alone");
    }
}
