//! `eryxon push`: load ERP export files (CSV, JSON, NDJSON) through the bulk-sync API.

mod cell;
mod client;
mod csv_header;
mod csv_quotes;
mod csv_rows;
mod decode;
mod input;
mod naming;
mod progress;
mod repeats;
mod report;
mod retry;

use std::collections::{HashSet, VecDeque};
use std::ops::Range;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

use self::client::{Client, Outcome, RetryPolicy};
use self::decode::TextEncoding;
use self::input::{InputFile, ReadOptions, Rejection, SYNC_ORDER};
use self::progress::Progress;
use self::report::{EntityReport, Report, Tally};
use crate::config::{self, ServerConfig};
use crate::domain::batch::MAX_BULK_RECORDS;
use crate::domain::Entity;

/// Some records were rejected (by this command's parser or by the server).
const EXIT_REJECTED: u8 = 1;
/// Bad usage, an unreadable file, or a server that could not be reached or refused the key.
const EXIT_FAILED: u8 = 2;

const DEFAULT_URL: &str = "http://127.0.0.1:8080";

#[derive(Debug, Args)]
#[command(after_help = "\
Files are sent in dependency order (cells, resources, jobs, parts, operations) whatever order \
they are given in. A file's entity is --entity, else the one entity word in its name \
(cells_2024-05-01.csv, SAP_operations.ndjson), else a JSON file's {\"<entity>\": [...]}. A CSV \
file needs a header row naming fields of its entity, separated by ',', ';', tab or '|' \
(--delimiter, else the header tells which); an empty cell leaves the field out. JSON files hold an \
array of records or {\"<entity>\": [...]}; NDJSON files one record per line; JSON records are \
sent as they are. Files are UTF-8 unless a byte order mark (UTF-16 as Excel writes it) or \
--encoding says otherwise; a file that does not decode stops the push before anything is sent.

Exit status: 0 when every record was accepted, 1 when some were rejected, 2 when the command \
could not run (bad usage, unreadable file, unknown column, server unreachable or key refused).")]
pub struct PushArgs {
    /// Export files: cells.csv, resources.csv, jobs.ndjson, parts.json, …
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,

    /// The Eryxon Sync server [default: http://127.0.0.1:8080].
    #[arg(long, value_name = "URL", conflicts_with = "database")]
    url: Option<String>,

    /// The API key; it decides the tenant and live or test data.
    #[arg(long, env = "ERYXON_API_KEY", hide_env_values = true)]
    key: String,

    /// The entity every file holds, instead of telling it from the file name.
    #[arg(long, value_name = "ENTITY", value_parser = naming::parse_entity)]
    entity: Option<Entity>,

    /// The CSV delimiter: ',', ';', tab or '|' [default: the one the header row is split by].
    #[arg(long, value_name = "CHAR", value_parser = csv_header::parse_delimiter)]
    delimiter: Option<u8>,

    /// The files' text encoding: utf-8, windows-1252 (cp1252), latin1 (iso-8859-1), utf-16,
    /// utf-16le or utf-16be [default: utf-8, or what a byte order mark says].
    #[arg(long, value_name = "ENCODING", value_parser = decode::parse_encoding)]
    encoding: Option<TextEncoding>,

    /// Requests in flight at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,

    /// Also write the rejected records to this CSV file.
    #[arg(long, value_name = "FILE")]
    errors: Option<PathBuf>,

    /// Push straight into this database (sqlite://… or postgres://…) instead of a running
    /// server: the server runs inside this command for the duration, so every check is the
    /// server's own. `--key` is still needed: it names the tenant.
    #[arg(long, value_name = "URL")]
    database: Option<String>,

    /// Check the files against the server without writing anything: the server runs every
    /// check (validation, references, change detection) and rolls back, so the summary shows
    /// what a real push would create, update and reject.
    #[arg(long)]
    dry_run: bool,

    /// Caps every wait between attempts, `Retry-After` included (seconds). For tests: a real
    /// server's Retry-After is worth honouring in full.
    #[arg(long, hide = true, value_name = "SECONDS", value_parser = parse_seconds)]
    max_retry_wait: Option<Duration>,
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| format!("{text:?} is not a number of seconds"))
}

pub async fn run(args: PushArgs) -> ExitCode {
    match push(args).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

async fn push(args: PushArgs) -> anyhow::Result<ExitCode> {
    let options = ReadOptions {
        entity: args.entity,
        delimiter: args.delimiter,
        encoding: args.encoding,
    };
    let files = match input::load_all(&args.files, &options) {
        Ok(files) => {
            for file in &files {
                if let Some(warning) = &file.warning {
                    eprintln!("warning: {}: {warning}", file.name);
                }
            }
            Arc::new(files)
        }
        Err(problems) => {
            for problem in problems {
                eprintln!("error: {problem}");
            }
            eprintln!("nothing was sent");
            return Ok(ExitCode::from(EXIT_FAILED));
        }
    };

    // Made before anything is sent: a path that cannot be written found only at the end
    // failed a push whose records had all been written (exit 2, "could not run").
    let errors_file = match &args.errors {
        Some(path) => Some(std::fs::File::create(path).with_context(|| {
            format!(
                "--errors {}: cannot write it; nothing was sent",
                path.display()
            )
        })?),
        None => None,
    };
    let server = match &args.database {
        Some(url) => Some(InProcessServer::start(url).await?),
        None => None,
    };
    let base = match (&server, &args.url) {
        (Some(server), _) => server.base.clone(),
        (None, Some(url)) => url.clone(),
        (None, None) => DEFAULT_URL.to_owned(),
    };
    let parsed = reqwest::Url::parse(&base).with_context(|| format!("--url {base:?}"))?;
    anyhow::ensure!(
        matches!(parsed.scheme(), "http" | "https"),
        "--url {base:?}: give an http:// or https:// URL"
    );
    let policy = RetryPolicy {
        max_wait: args.max_retry_wait,
        ..RetryPolicy::default()
    };
    let progress = Arc::new(Progress::new());
    let client = Arc::new(Client::new(
        &base,
        &args.key,
        args.dry_run,
        policy,
        progress.clone(),
    )?);
    let sent = send_all(&client, &files, usize::from(args.concurrency), &progress).await;
    if let Some(server) = server {
        server.stop().await;
    }

    let report = build_report(&files, &sent, &client);
    let mut stdout = std::io::stdout().lock();
    report.write(&mut stdout).context("writing the summary")?;
    if let (Some(path), Some(file)) = (&args.errors, errors_file) {
        report
            .write_errors_csv(file)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if args.dry_run {
        // A nightly job's log of a dry run must not read like a load.
        eprintln!("dry run: the server checked every record above and wrote nothing");
    }
    if args.dry_run && report.dry_run_missed_new_parents() {
        eprintln!(
            "note: a dry run writes nothing, so records naming a parent that this push would \
             create (a part of a new job, an operation of a new part) are rejected above as \
             REFERENCE_NOT_FOUND; a real push sends the parents first and resolves them"
        );
    }
    if let Some(fatal) = &sent.fatal {
        eprintln!("error: {fatal}");
        let not_sent: usize = report.entities.iter().map(|e| e.tally.not_sent).sum();
        if not_sent > 0 {
            eprintln!(
                "{not_sent} records got no answer: a chunk the server refused (a key, a URL) \
                 wrote nothing, while one cut off by a server's stop may have been written all \
                 the same; pushing the same files again is safe: records already synced come \
                 back unchanged"
            );
        }
        return Ok(ExitCode::from(EXIT_FAILED));
    }
    Ok(if report.any_rejected() {
        ExitCode::from(EXIT_REJECTED)
    } else {
        ExitCode::SUCCESS
    })
}

/// The server, run inside this command against the database `--database` names.
struct InProcessServer {
    base: String,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl InProcessServer {
    async fn start(url: &str) -> anyhow::Result<InProcessServer> {
        let store = crate::store::open(url)
            .await
            .with_context(|| format!("opening {}", crate::config::without_password(url)))?;
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("listening on a loopback port")?;
        let address = listener.local_addr()?;
        // The settings `eryxon serve` starts with, so results match a pushed-to server's.
        let config = ServerConfig {
            listen: address,
            rate_limit_per_minute: config::DEFAULT_RATE_LIMIT_PER_MINUTE,
            max_body_bytes: config::DEFAULT_MAX_BODY_BYTES,
            request_timeout_secs: config::DEFAULT_REQUEST_TIMEOUT_SECS,
            cors_origins: Vec::new(),
            event_retention_days: config::DEFAULT_EVENT_RETENTION_DAYS,
            webhook_retry_schedule: Default::default(),
            webhook_allowed_networks: Default::default(),
            // Nobody scrapes a server that lives for one push; answers do not depend on it.
            metrics: false,
        };
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            crate::http::serve(listener, store, &config, async {
                let _ = stopped.await;
            })
            .await
        });
        Ok(InProcessServer {
            base: format!("http://{address}"),
            shutdown,
            task,
        })
    }

    async fn stop(self) {
        let _ = self.shutdown.send(());
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("warning: the in-process server stopped with {error}"),
            Err(error) => eprintln!("warning: the in-process server failed: {error}"),
        }
    }
}

/// What the server answered, per file and row (`None`: never answered).
struct Sent {
    outcomes: Vec<Vec<Option<Outcome>>>,
    elapsed: Vec<(Entity, Duration)>,
    fatal: Option<String>,
}

fn chunk_label(file: &InputFile, range: &Range<usize>) -> String {
    let rows = &file.rows[range.clone()];
    match (rows.first(), rows.last()) {
        (Some(first), Some(last)) if first.line != last.line => {
            format!("{} lines {}–{}", file.name, first.line, last.line)
        }
        (Some(first), _) => format!("{} line {}", file.name, first.line),
        _ => file.name.clone(),
    }
}

/// Sends every file, one entity at a time in sync order, each file in bulk-sync chunks with
/// up to `concurrency` requests in flight. Stops at the first failure that no retry could
/// overcome, after the requests already in flight are answered.
async fn send_all(
    client: &Arc<Client>,
    files: &Arc<Vec<InputFile>>,
    concurrency: usize,
    progress: &Progress,
) -> Sent {
    let mut sent = Sent {
        outcomes: files.iter().map(|f| vec![None; f.rows.len()]).collect(),
        elapsed: Vec::new(),
        fatal: None,
    };
    for entity in SYNC_ORDER {
        let of_entity: Vec<usize> = (0..files.len())
            .filter(|&i| files[i].entity == entity)
            .collect();
        if of_entity.is_empty() {
            continue;
        }
        let total: usize = of_entity.iter().map(|&i| files[i].rows.len()).sum();
        let names: Vec<&str> = of_entity.iter().map(|&i| files[i].name.as_str()).collect();
        progress.start(entity.plural(), total, &names);
        let started = Instant::now();
        let mut chunks: VecDeque<(usize, Range<usize>)> = of_entity
            .iter()
            .flat_map(|&i| {
                let rows = files[i].rows.len();
                (0..rows)
                    .step_by(MAX_BULK_RECORDS)
                    .map(move |start| (i, start..(start + MAX_BULK_RECORDS).min(rows)))
            })
            .collect();
        let keys_of = |file: usize, range: &Range<usize>| {
            files[file].rows[range.clone()].iter().flat_map(move |row| {
                let own = row.key.as_ref().map(|key| (entity, key));
                let children = row.children.iter().map(|c| (c.entity, &c.key));
                own.into_iter().chain(children)
            })
        };
        // The keys of the chunks in flight. A chunk holding one of them waits until that chunk
        // is answered, so the rows of one key are written in the order the files were given:
        // a delta file after a full export wins, whatever the concurrency
        // (`push_order::a_later_file_wins_over_an_earlier_one_of_the_same_entity`).
        let mut busy: HashSet<(Entity, &input::RecordKey)> = HashSet::new();
        let mut in_flight = JoinSet::new();
        let mut answered = 0;
        loop {
            while sent.fatal.is_none() && in_flight.len() < concurrency {
                let Some((file, range)) = chunks.front() else {
                    break;
                };
                if keys_of(*file, range).any(|key| busy.contains(&key)) {
                    break;
                }
                let (file, range) = chunks.pop_front().expect("a chunk is there");
                busy.extend(keys_of(file, &range));
                let (client, files) = (client.clone(), files.clone());
                in_flight.spawn(async move {
                    let label = chunk_label(&files[file], &range);
                    let rows = &files[file].rows[range.clone()];
                    let result = client.send(entity, rows, &label).await;
                    (file, range, result)
                });
            }
            let Some(joined) = in_flight.join_next().await else {
                break;
            };
            let (file, range, result) = joined.expect("a chunk task does not panic");
            for key in keys_of(file, &range) {
                busy.remove(&key);
            }
            match result {
                Ok(outcomes) => {
                    progress.advance(outcomes.len());
                    answered += outcomes.len();
                    for (slot, outcome) in sent.outcomes[file][range].iter_mut().zip(outcomes) {
                        *slot = Some(outcome);
                    }
                }
                Err(error) => {
                    sent.fatal.get_or_insert(error);
                }
            }
        }
        let elapsed = started.elapsed();
        sent.elapsed.push((entity, elapsed));
        progress.finish(&format!(
            "{}: {answered} of {total} records answered in {:.1}s",
            entity.plural(),
            elapsed.as_secs_f64()
        ));
        if sent.fatal.is_some() {
            break;
        }
    }
    sent
}

fn build_report(files: &[InputFile], sent: &Sent, client: &Client) -> Report {
    let mut entities = Vec::new();
    let mut rejected = Vec::new();
    for entity in SYNC_ORDER {
        let of_entity: Vec<(usize, &InputFile)> = files
            .iter()
            .enumerate()
            .filter(|(_, f)| f.entity == entity)
            .collect();
        if of_entity.is_empty() {
            continue;
        }
        let mut tally = Tally::default();
        for (i, file) in of_entity {
            tally.records += file.records;
            tally.errors += file.records - file.rows.len();
            let mut in_file = file.rejected.clone();
            for (row, outcome) in file.rows.iter().zip(&sent.outcomes[i]) {
                let Some(outcome) = outcome else {
                    tally.not_sent += 1;
                    continue;
                };
                tally.count(outcome);
                if let Outcome::Rejected { code, field, error } = outcome {
                    in_file.push(Rejection {
                        file: file.name.clone(),
                        line: row.line,
                        external_id: row.external_id.clone(),
                        key: None,
                        code: code.clone(),
                        field: field.clone(),
                        error: error.clone(),
                    });
                }
            }
            in_file.sort_by_key(|r| r.line);
            rejected.extend(in_file);
        }
        let elapsed = sent
            .elapsed
            .iter()
            .find(|(e, _)| *e == entity)
            .map_or(Duration::ZERO, |(_, d)| *d);
        entities.push(EntityReport {
            entity,
            tally,
            elapsed,
        });
    }
    Report {
        entities,
        rejected,
        retries_rate_limited: client.retries.rate_limited.load(Ordering::Relaxed),
        retries_failed: client.retries.failed.load(Ordering::Relaxed),
        kept: client.kept.0.load(Ordering::Relaxed),
    }
}
