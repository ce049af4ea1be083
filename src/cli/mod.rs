//! The `eryxon` command line: run the server, manage API keys, push export files.

pub mod logs;
mod push;

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;

use crate::config::{DatabaseConfig, ServerConfig};
use crate::domain::api_key::{IssuedKey, KeyScopes, TenantSlug};
use crate::domain::Mode;
use crate::store::ApiKeyInfo;

#[derive(Debug, Parser)]
#[command(
    name = "eryxon",
    version,
    about = "Eryxon Sync: push ERP data into the MES"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the sync server.
    #[command(after_help = serve_help())]
    Serve {
        #[command(flatten)]
        server: ServerConfig,
        #[command(flatten)]
        database: DatabaseConfig,
    },
    /// Create, list and revoke API keys.
    #[command(subcommand)]
    ApiKey(ApiKeyCommand),
    /// Send ERP export files (CSV, JSON, NDJSON) to the server through bulk-sync.
    Push(push::PushArgs),
    /// Copy a SQLite database, as of now, into a new file, while the server runs; the copy is
    /// checked before the command ends. PostgreSQL is backed up with its own tools (pg_dump).
    Backup {
        /// The new file (it must not exist).
        to: std::path::PathBuf,
        #[command(flatten)]
        database: DatabaseConfig,
    },
}

/// What a server logs when `ERYXON_LOG` sets nothing.
const SERVE_LOG_FILTER: &str = "info,sqlx=warn,tower_http=info";

/// The settings `serve --help` cannot list as flags: the logs are set up before the command
/// line is read.
fn serve_help() -> String {
    format!(
        "Logs go to stderr. Environment:\n  \
         ERYXON_LOG         what is logged, a tracing filter [default: {SERVE_LOG_FILTER}]\n  \
         ERYXON_LOG_FORMAT  text or json [default: text]"
    )
}

impl Cli {
    /// The log filter when `ERYXON_LOG` sets none. A push shows its own progress and summary;
    /// request logs of the server it may run inside would only bury them.
    pub fn default_log_filter(&self) -> &'static str {
        match self.command {
            Command::Push(_) => "warn",
            _ => SERVE_LOG_FILTER,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key (and its tenant, if new). Prints only the key, once.
    Create {
        #[arg(long)]
        tenant: String,
        /// A label, such as the ERP the key is for.
        #[arg(long)]
        name: Option<String>,
        /// Make a test key (`ery_test_…`): it sees only the tenant's test data.
        #[arg(long)]
        test: bool,
        /// What the key may do, comma-separated: `sync` (PUT …/sync, POST …/bulk-sync,
        /// DELETE), `floor` (lifecycle actions, quantities), `read` (every GET), `webhooks`.
        /// Every scope when left out.
        #[arg(long, value_name = "SCOPE,…")]
        scopes: Option<KeyScopes>,
        #[command(flatten)]
        database: DatabaseConfig,
    },
    /// List keys (never their secrets).
    List {
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        database: DatabaseConfig,
    },
    /// Revoke a key by id or prefix; it stops working at once, also in a running server.
    Revoke {
        id_or_prefix: String,
        #[command(flatten)]
        database: DatabaseConfig,
    },
}

/// Runs a command. Push chooses its own exit status (see `eryxon push --help`); the others
/// fail with an error.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve { server, database } => serve(server, database).await?,
        Command::ApiKey(command) => api_key(command).await?,
        Command::Push(args) => return Ok(push::run(args).await),
        Command::Backup { to, database } => backup(&to, &database).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// An error and its causes on one line, each said once: a cause whose text its effect already
/// quotes (sqlx's and SQLite's errors print their source inside their own message) is left out.
pub fn describe(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    line
}

async fn serve(server: ServerConfig, database: DatabaseConfig) -> anyhow::Result<()> {
    let store = database
        .open()
        .await
        .with_context(|| format!("opening {}", database.shown_url()))?;
    let listener = TcpListener::bind(server.listen)
        .await
        .with_context(|| format!("listening on {}", server.listen))?;
    tracing::info!(address = %listener.local_addr()?, database = %database.shown_url(), "Eryxon Sync is listening");
    crate::http::serve(listener, store, &server, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

async fn backup(to: &std::path::Path, database: &DatabaseConfig) -> anyhow::Result<()> {
    if !database.url.starts_with("sqlite:") {
        anyhow::bail!(
            "{} is not a SQLite database: back PostgreSQL up with its own tools (pg_dump, or \
             the provider's snapshots)",
            database.shown_url()
        );
    }
    let file = crate::store::sqlite::connect_options(&database.url)?
        .get_filename()
        .to_owned();
    if !file.is_file() {
        anyhow::bail!("there is no database at {}", file.display());
    }
    if to.exists() {
        anyhow::bail!(
            "{} exists: a backup is written to a new file, never over another",
            to.display()
        );
    }
    let started = std::time::Instant::now();
    let bytes = match crate::store::sqlite::backup(&database.url, to).await {
        Ok(bytes) => bytes,
        Err(error) => {
            // A copy cut short (a full disk) or failing its check is no backup; the file did
            // not exist before, so it is this command's to remove.
            let _ = std::fs::remove_file(to);
            return Err(anyhow::Error::new(error).context(format!(
                "backing up {} to {}",
                database.shown_url(),
                to.display()
            )));
        }
    };
    println!(
        "backed up {} to {} ({:.1} MB in {:.1} s; integrity checked)",
        database.shown_url(),
        to.display(),
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = interrupt => {},
            _ = terminate.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutting down: finishing in-flight requests");
}

async fn api_key(command: ApiKeyCommand) -> anyhow::Result<()> {
    match command {
        ApiKeyCommand::Create {
            tenant,
            name,
            test,
            scopes,
            database,
        } => {
            let tenant = TenantSlug::parse(&tenant).map_err(anyhow::Error::msg)?;
            // Printed by `api-key list`: a control character (an escape sequence) would rewrite
            // the operator's terminal.
            if let Some(name) = &name {
                if name.chars().count() > 100 || name.chars().any(char::is_control) {
                    anyhow::bail!(
                        "--name: at most 100 characters, none of them control characters"
                    );
                }
            }
            let store = database.open().await?;
            let mode = if test { Mode::Test } else { Mode::Live };
            let key = IssuedKey::generate(mode);
            let scopes = scopes.unwrap_or(KeyScopes::ALL);
            let info = store
                .create_api_key(&tenant, name.as_deref(), &key, scopes)
                .await?;
            eprintln!(
                "created {} key {} for tenant {} with scopes {} (id {}); store it now, it is not shown again",
                info.mode.as_str(),
                info.prefix,
                info.tenant,
                info.scopes,
                info.id
            );
            println!("{}", key.secret);
        }
        ApiKeyCommand::List { tenant, database } => {
            let tenant = tenant
                .map(|t| TenantSlug::parse(&t))
                .transpose()
                .map_err(anyhow::Error::msg)?;
            let store = database.open().await?;
            print_keys(&store.list_api_keys(tenant.as_ref()).await?);
        }
        ApiKeyCommand::Revoke {
            id_or_prefix,
            database,
        } => {
            let store = database.open().await?;
            let asked = crate::store::timestamp();
            let info = store.revoke_api_key(&id_or_prefix).await?;
            match info.revoked_at.as_deref() {
                Some(at) if at < asked.as_str() => {
                    println!("{} ({}) was already revoked at {at}", info.prefix, info.id)
                }
                _ => println!("revoked {} ({})", info.prefix, info.id),
            }
        }
    }
    Ok(())
}

fn print_keys(keys: &[ApiKeyInfo]) {
    println!(
        "{:<36}  {:<21}  {:<12}  {:<4}  {:<24}  {:<20}  {:<27}  {:<27}  REVOKED",
        "ID", "PREFIX", "TENANT", "MODE", "SCOPES", "NAME", "CREATED", "LAST USED"
    );
    for key in keys {
        println!(
            "{:<36}  {:<21}  {:<12}  {:<4}  {:<24}  {:<20}  {:<27}  {:<27}  {}",
            key.id,
            key.prefix,
            key.tenant,
            key.mode.as_str(),
            key.scopes.to_string(),
            key.name.as_deref().unwrap_or("-"),
            key.created_at,
            key.last_used_at.as_deref().unwrap_or("never"),
            key.revoked_at.as_deref().unwrap_or("-"),
        );
    }
}
