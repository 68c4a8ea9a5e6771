//! `balena-os admin …`: operator commands on the catalog database.
//!
//! They work on the same storage as `serve` (the data directory's SQLite
//! file or `--database-url`), directly, without going through the API.
//! A running server sees changes to API keys within its key cache time.

use anyhow::Context;
use balena_os_server::Server;
use balena_os_server::catalog::import::BucketSource;
use balena_os_server::catalog::{Catalog, NewApplication};
use clap::{Args, Subcommand};

use super::StorageArgs;

/// Arguments of `balena-os admin`.
#[derive(Debug, Args)]
pub struct AdminArgs {
    #[command(flatten)]
    pub storage: StorageArgs,
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// Operator commands.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Organisations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Users.
    #[command(subcommand)]
    User(UserCommand),
    /// API keys.
    #[command(subcommand, name = "api-key")]
    ApiKey(ApiKeyCommand),
    /// Fleets.
    #[command(subcommand)]
    Fleet(FleetCommand),
    /// Import a balena image bucket: a local folder holding `<slug>/<buildId>/`
    /// folders, or s3://BUCKET/PREFIX (settings from the AWS_* environment
    /// variables). Prints what was created as JSON.
    Import {
        /// Directory or s3:// URL.
        source: String,
    },
    /// Import a balenaOS image file (raw, .img.gz or .zip) for a device type
    /// and version into the image store, and create the release in the
    /// catalog. Prints what was done as JSON.
    #[command(disable_version_flag = true)]
    ImportImage(super::image_server::ImportImageArgs),
    /// Load a JSON dump of `/v7` rows (as another balena API printed them,
    /// e.g. the `rows` of open-balena-api-seed.json) into an empty catalog.
    LoadRows {
        /// The JSON file: an object of resource → rows, or one with a `rows`
        /// member.
        file: std::path::PathBuf,
    },
}

/// `admin org …`
#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organisation.
    Create {
        /// Handle: lowercase letters, digits, '_', '-', '.'.
        handle: String,
        /// Display name (default: the handle).
        #[arg(long)]
        name: Option<String>,
    },
}

/// `admin user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user.
    Create {
        /// Username: lowercase letters, digits, '_', '-', '.'.
        username: String,
        /// E-mail address.
        #[arg(long)]
        email: Option<String>,
        /// Organisation to join (repeatable).
        #[arg(long = "org")]
        orgs: Vec<String>,
        /// Reads everything, like the bootstrap administrator.
        #[arg(long)]
        superuser: bool,
    },
    /// Add a user to an organisation.
    Join {
        /// The user.
        username: String,
        /// The organisation handle.
        org: String,
    },
}

/// `admin api-key …`
#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create an API key for a user and print it (it is shown only once).
    Create {
        /// The user the key acts as.
        username: String,
        /// A name to recognise the key by.
        #[arg(long)]
        name: Option<String>,
        /// Make the key expire after this many days.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=36_500))]
        expires_in_days: Option<u32>,
    },
    /// List API keys (ids, users, names, dates; never the keys) as JSON lines.
    List {
        /// Only this user's keys.
        username: Option<String>,
    },
    /// Delete an API key by id; running servers refuse it within 10 s.
    Revoke {
        /// The key's id (see `list`).
        id: i64,
    },
}

/// `admin fleet …`
#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// Create a fleet and print it as JSON (id, slug, uuid).
    Create {
        /// Owning organisation handle.
        org: String,
        /// Fleet name: letters, digits, '_', '-', '.'.
        name: String,
        /// Device type slug or alias.
        #[arg(long)]
        device_type: String,
        /// Readable by everyone, including anonymous callers.
        #[arg(long)]
        public: bool,
    },
}

async fn open(storage: &StorageArgs) -> anyhow::Result<Catalog> {
    let mut builder = Server::builder().data_dir(&storage.data);
    if let Some(url) = &storage.database_url {
        builder = builder.database_url(url);
    }
    builder.open_catalog().await.context("opening the catalog")
}

/// Runs an admin command.
pub async fn run(args: AdminArgs) -> anyhow::Result<()> {
    let catalog = open(&args.storage).await?;
    let result = match args.command {
        AdminCommand::ImportImage(import) => {
            super::image_server::import_image(&catalog, Some(&args.storage.data), &import).await
        }
        command => run_on(&catalog, command).await,
    };
    catalog.db().close().await;
    result
}

async fn run_on(catalog: &Catalog, command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::Org(OrgCommand::Create { handle, name }) => {
            let id = catalog
                .create_organization(&handle, name.as_deref())
                .await?;
            println!("{}", serde_json::json!({"id": id, "handle": handle}));
        }
        AdminCommand::User(UserCommand::Create {
            username,
            email,
            orgs,
            superuser,
        }) => {
            let orgs: Vec<&str> = orgs.iter().map(String::as_str).collect();
            let id = catalog
                .create_user(&username, email.as_deref(), &orgs, superuser)
                .await?;
            println!("{}", serde_json::json!({"id": id, "username": username}));
        }
        AdminCommand::User(UserCommand::Join { username, org }) => {
            catalog.add_member(&username, &org).await?;
        }
        AdminCommand::ApiKey(ApiKeyCommand::Create {
            username,
            name,
            expires_in_days,
        }) => {
            let expires = expires_in_days
                .map(|d| balena_os_server::time::now_millis() + i64::from(d) * 86_400_000);
            let key = catalog
                .create_api_key(&username, name.as_deref(), expires)
                .await?;
            println!("{}", key.key);
        }
        AdminCommand::ApiKey(ApiKeyCommand::List { username }) => {
            for key in catalog.list_api_keys(username.as_deref()).await? {
                println!("{}", serde_json::to_string(&key)?);
            }
        }
        AdminCommand::ApiKey(ApiKeyCommand::Revoke { id }) => {
            catalog.revoke_api_key(id).await?;
        }
        AdminCommand::Fleet(FleetCommand::Create {
            org,
            name,
            device_type,
            public,
        }) => {
            let created = catalog
                .create_application(&NewApplication {
                    organization: org,
                    app_name: name,
                    device_type,
                    is_host: false,
                    is_public: public,
                    tags: Vec::new(),
                    uuid: None,
                    created_at: None,
                })
                .await?;
            println!("{}", serde_json::to_string(&created)?);
        }
        AdminCommand::Import { source } => {
            let source = BucketSource::parse(&source)?;
            let report = catalog.import_bucket(&source).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        AdminCommand::ImportImage(import) => {
            super::image_server::import_image(catalog, None, &import).await?;
        }
        AdminCommand::LoadRows { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let doc: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("parsing {}", file.display()))?;
            let rows = doc
                .get("rows")
                .unwrap_or(&doc)
                .as_object()
                .context("expected an object of resource → rows")?;
            let report = catalog.load_rows(rows).await?;
            for (resource, n) in report {
                println!("{resource}: {n}");
            }
        }
    }
    Ok(())
}
