//! Group commit. SQLite has one writer, so concurrent syncs queue for it; rather than one
//! transaction each (BEGIN, the sync, its history entry, COMMIT: a hand-off to sqlx's worker
//! thread apiece), small syncs that are waiting together share one transaction. Every caller
//! is answered only after the shared COMMIT, so an answered sync is as durable as one committed
//! alone. If the shared transaction fails, nothing of it is kept and each sync runs again in a
//! transaction of its own, so one sync's failure never becomes another's
//! (`concurrency::a_failing_sync_does_not_take_concurrent_ones_with_it`). Why and what it
//! gains: docs/decisions/0005-sqlite-group-commit.md.

use std::sync::Arc;

use sqlx::{Sqlite, SqlitePool, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::known::KnownRows;
use super::sync::SqliteWriter;
use crate::domain::outcome::RecordResult;
use crate::domain::record::SyncBatch;
use crate::domain::Scope;
use crate::store::events::Appended;
use crate::store::sync_events::record;
use crate::store::{free_later, timestamp, Commit, Finish, HistoryDraft, StoreError, Written};
use tracing::Instrument;

/// Most syncs one transaction carries.
const MAX_GROUP: usize = 32;

/// Most records a sync may carry to be grouped: a big batch gains nothing from sharing a
/// commit, and a failed group runs every sync of it again.
const MAX_GROUPED_RECORDS: usize = 8;

type Answer = Result<Vec<RecordResult>, StoreError>;

struct Job {
    scope: Scope,
    batch: SyncBatch,
    history: Option<HistoryDraft>,
    reply: oneshot::Sender<Result<Written, StoreError>>,
    /// The caller's span (its request's), so a sync committed alone logs under it.
    span: tracing::Span,
}

impl Job {
    fn groupable(&self) -> bool {
        self.batch.len() <= MAX_GROUPED_RECORDS
    }

    fn answer(self, answer: Answer) {
        // The caller may have gone (its client hung up); the sync stands all the same.
        let _ = self.reply.send(answer.map(Written::done));
    }
}

/// The queue of syncs to commit, served by one task that owns the turn at the writer.
pub(super) struct Committer {
    jobs: mpsc::UnboundedSender<Job>,
}

impl Committer {
    pub fn start(writer: SqlitePool, known: Arc<KnownRows>) -> Committer {
        let (jobs, queue) = mpsc::unbounded_channel();
        tokio::spawn(serve(
            Writer {
                pool: writer,
                known,
            },
            queue,
        ));
        Committer { jobs }
    }

    /// Writes the batch and its history entry; answers the batch's results and their commit.
    pub async fn sync(
        &self,
        scope: Scope,
        batch: SyncBatch,
        history: Option<HistoryDraft>,
    ) -> Result<Written, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            scope,
            batch,
            history,
            reply,
            span: tracing::Span::current(),
        };
        let gone = || StoreError::Unavailable(sqlx::Error::PoolClosed);
        self.jobs.send(job).map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// The writer connection's pool, and what is known of the rows written through it.
struct Writer {
    pool: SqlitePool,
    known: Arc<KnownRows>,
}

impl Writer {
    /// Begins a transaction, in which what is known of stored rows holds only if no other
    /// connection wrote since it was learnt.
    async fn begin(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        let mut tx = super::begin_write(&self.pool).await?;
        let version: i64 = sqlx::query_scalar("PRAGMA data_version")
            .fetch_one(&mut *tx)
            .await?;
        self.known.begin(version);
        Ok(tx)
    }

    async fn commit(&self, tx: Transaction<'static, Sqlite>) -> Result<(), StoreError> {
        tx.commit().await?;
        self.known.committed();
        Ok(())
    }
}

async fn serve(writer: Writer, mut queue: mpsc::UnboundedReceiver<Job>) {
    let mut held = None;
    loop {
        let first = match held.take() {
            Some(job) => job,
            None => match queue.recv().await {
                Some(job) => job,
                None => return,
            },
        };
        let mut group = vec![first];
        while group.len() < MAX_GROUP && group[0].groupable() {
            match queue.try_recv() {
                Ok(job) if job.groupable() => group.push(job),
                Ok(job) => {
                    held = Some(job);
                    break;
                }
                Err(_) => break,
            }
        }
        commit(&writer, group).await;
    }
}

async fn commit(writer: &Writer, group: Vec<Job>) {
    if group.len() > 1 {
        match commit_together(writer, &group).await {
            Ok(answers) => {
                for (job, answer) in group.into_iter().zip(answers) {
                    job.answer(Ok(answer));
                }
                return;
            }
            // Another process held the write lock for the whole busy timeout: running each sync
            // alone would wait that long again, once per sync. Each is answered 503 instead
            // (`locks::a_write_lock_held_too_long_is_503`).
            Err(StoreError::Locked(cause)) => {
                for job in group {
                    job.answer(Err(StoreError::Locked(cause.clone())));
                }
                return;
            }
            Err(_) => {}
        }
    }
    for job in group {
        let Job {
            scope,
            batch,
            history,
            reply,
            span,
        } = job;
        commit_alone(writer, scope, &batch, history.as_ref(), reply)
            .instrument(span)
            .await;
        free_later(batch);
    }
}

async fn commit_together(
    writer: &Writer,
    group: &[Job],
) -> Result<Vec<Vec<RecordResult>>, StoreError> {
    let mut tx = writer.begin().await?;
    let mut answers = Vec::with_capacity(group.len());
    let mut appended = Appended::default();
    for job in group {
        let (scope, batch, history) = (job.scope, &job.batch, job.history.as_ref());
        let (results, events) = write(
            &mut tx,
            scope,
            batch,
            history,
            Some(&writer.known),
            Finish::Commit,
        )
        .await?;
        answers.push(results);
        appended.extend(events);
    }
    writer.commit(tx).await?;
    // Only now: a group that fails here is written again job by job, and counts then.
    appended.committed();
    Ok(answers)
}

/// Runs one sync in a transaction of its own. Its results are handed over before the COMMIT,
/// which writes the WAL on sqlx's worker thread while the caller prepares its answer.
async fn commit_alone(
    writer: &Writer,
    scope: Scope,
    batch: &SyncBatch,
    history: Option<&HistoryDraft>,
    reply: oneshot::Sender<Result<Written, StoreError>>,
) {
    let attempt = || async {
        let mut tx = writer.begin().await?;
        let (results, appended) = write(
            &mut tx,
            scope,
            batch,
            history,
            Some(&writer.known),
            Finish::Commit,
        )
        .await?;
        Ok::<_, StoreError>((tx, results, appended))
    };
    let mut written = attempt().await;
    if matches!(written, Err(StoreError::Misremembered)) {
        // What was remembered of a stored row proved wrong: forget it all and run again from
        // the database alone.
        writer.known.clear();
        written = attempt().await;
    }
    let (tx, results, appended) = match written {
        Ok(written) => written,
        Err(error) => {
            let _ = reply.send(Err(error));
            return;
        }
    };
    let (durable, commit) = oneshot::channel();
    let _ = reply.send(Ok(Written {
        results,
        commit: Commit::pending(commit),
    }));
    let committed = writer.commit(tx).await;
    if committed.is_ok() {
        appended.committed();
    }
    let _ = durable.send(committed);
}

/// One sync and its history entry (if given), inside the transaction it is given, keeping
/// what is known of stored rows up to date if given it.
pub(super) async fn write(
    conn: &mut sqlx::SqliteConnection,
    scope: Scope,
    batch: &SyncBatch,
    history: Option<&HistoryDraft>,
    known: Option<&KnownRows>,
    finish: Finish,
) -> Result<(Vec<RecordResult>, Appended), StoreError> {
    let now = timestamp();
    let mut writer = SqliteWriter {
        conn: &mut *conn,
        scope,
        now: now.clone(),
        known,
    };
    let (results, _, appended) = record(&mut writer, scope, batch, history, finish, &now).await?;
    Ok((results, appended))
}

#[cfg(test)]
mod tests {
    use sqlx::sqlite::SqlitePoolOptions;
    use uuid::Uuid;

    use super::*;
    use crate::domain::batch::prepare_one;
    use crate::domain::outcome::Change;
    use crate::domain::record::{JobPayload, RecordKey};
    use crate::domain::schema::Entity;
    use crate::domain::Mode;

    async fn writer_with_tenant() -> (Writer, Scope) {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .expect("in-memory SQLite");
        sqlx::migrate!("migrations/sqlite")
            .run(&pool)
            .await
            .expect("migrations");
        let tenant = Uuid::now_v7();
        sqlx::query("INSERT INTO tenants (id, slug, created_at) VALUES (?1, 'acme', '')")
            .bind(tenant.hyphenated().to_string())
            .execute(&pool)
            .await
            .expect("tenant");
        let writer = Writer {
            pool,
            known: Arc::new(KnownRows::default()),
        };
        let scope = Scope {
            tenant_id: tenant,
            mode: Mode::Live,
        };
        (writer, scope)
    }

    /// Syncs one job alone, as the committer does, and answers its change once committed.
    async fn sync_job(writer: &Writer, scope: Scope, external_id: &str, number: &str) -> Change {
        let payload: JobPayload = serde_json::from_value(serde_json::json!({
            "external_id": external_id, "external_source": "SAP", "job_number": number}))
        .expect("a job");
        let batch = prepare_one(payload).expect("a valid job");
        let (reply, answer) = oneshot::channel();
        commit_alone(writer, scope, &batch, None, reply).await;
        let written = answer.await.expect("answered").expect("synced");
        let change = written.results[0]
            .outcome
            .as_ref()
            .expect("accepted")
            .change;
        written.commit.durable().await.expect("committed");
        change
    }

    /// A sync that finds a row where the memory of synced rows did not put it runs again from
    /// the database, and its client sees only the right answer.
    #[tokio::test]
    async fn a_misremembered_row_is_synced_again_from_the_database() {
        let (writer, scope) = writer_with_tenant().await;
        for (external_id, number) in [("J-1", "1"), ("J-2", "2")] {
            assert_eq!(
                sync_job(&writer, scope, external_id, number).await,
                Change::Created
            );
        }
        let key = |external_id: &str| {
            writer.known.key(&RecordKey {
                source: "SAP".into(),
                external_id: external_id.into(),
            })
        };
        writer
            .known
            .swap_rowids(scope, Entity::Jobs, key("J-1"), key("J-2"));

        assert_eq!(sync_job(&writer, scope, "J-1", "1b").await, Change::Updated);
        let numbers: Vec<(String, String)> =
            sqlx::query_as("SELECT external_id, job_number FROM jobs ORDER BY external_id")
                .fetch_all(&writer.pool)
                .await
                .expect("jobs");
        let expected = [("J-1", "1b"), ("J-2", "2")].map(|(e, n)| (e.to_owned(), n.to_owned()));
        assert_eq!(numbers, expected);
        assert_eq!(sync_job(&writer, scope, "J-2", "2b").await, Change::Updated);
    }
}
