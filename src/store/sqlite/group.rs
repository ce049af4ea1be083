//! Group commit. SQLite has one writer, so concurrent writes queue for it; rather than one
//! transaction each (BEGIN, the write, its history entry and events, COMMIT: a hand-off to
//! sqlx's worker thread apiece), small syncs and lifecycle actions waiting together share one
//! transaction, and its history entries and events are written once for the group, in the order
//! the jobs ran (`concurrency::concurrent_syncs_of_two_tenants_log_each_its_own_events`). Every
//! caller is answered only after the shared COMMIT, so an answered write is as durable as one
//! committed alone. If the shared transaction fails, nothing of it is kept and each job runs
//! again in a transaction of its own, so one job's failure never becomes another's
//! (`concurrency::a_failing_sync_does_not_take_concurrent_ones_with_it`); an action refused
//! by the record's status writes nothing, in a group or alone
//! (`floor::concurrent_starts_of_one_operation_take_one`). Why and what it gains:
//! docs/decisions/0005-sqlite-group-commit.md.

use std::sync::Arc;

use sqlx::{Sqlite, SqlitePool, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::known::KnownRows;
use super::sync::SqliteWriter;
use super::tx::SqliteConn;
use crate::domain::event::NewEvent;
use crate::domain::floor::{Action, Machine, Report};
use crate::domain::history::ImportEntry;
use crate::domain::outcome::RecordResult;
use crate::domain::record::SyncBatch;
use crate::domain::Scope;
use crate::store::events::{append_all, Appended};
use crate::store::floor::{act_unlogged, Acted};
use crate::store::sync_events::{prepare, record, Recorded};
use crate::store::{
    free_later, timestamp, Commit, Finish, HistoryDraft, RecordRef, StoreError, Written,
};
use tracing::Instrument;

/// Most jobs (syncs and lifecycle actions) one transaction carries.
const MAX_GROUP: usize = 32;

/// Most records a sync may carry to be grouped: a big batch gains nothing from sharing a
/// commit, and a failed group runs every sync of it again.
const MAX_GROUPED_RECORDS: usize = 8;

/// What a caller gave the committer to write.
enum Work {
    /// A sync and, given the call's draft, its history entry.
    Sync {
        batch: SyncBatch,
        history: Option<HistoryDraft>,
        reply: oneshot::Sender<Result<Written, StoreError>>,
    },
    /// A lifecycle action (`Store::transition`).
    Act {
        act: Box<Acting>,
        reply: oneshot::Sender<Result<Acted, StoreError>>,
    },
}

/// A lifecycle action, as `Store::transition` is given it.
struct Acting {
    machine: Machine,
    target: RecordRef,
    action: Action,
    report: Report,
}

struct Job {
    scope: Scope,
    work: Work,
    /// The caller's span (its request's), so a job committed alone logs under it.
    span: tracing::Span,
}

/// What a job did in a shared transaction, short of its events, which the group appends.
enum Done {
    Synced(Box<Recorded>),
    Acted {
        acted: Acted,
        events: Vec<NewEvent>,
        now: String,
    },
}

impl Done {
    fn events(&self) -> (&[NewEvent], &str) {
        match self {
            Done::Synced(r) => (&r.events, &r.now),
            Done::Acted { events, now, .. } => (events, now),
        }
    }
}

impl Job {
    fn groupable(&self) -> bool {
        match &self.work {
            Work::Sync { batch, .. } => batch.len() <= MAX_GROUPED_RECORDS,
            Work::Act { .. } => true,
        }
    }

    /// Answers what the job did in a committed group.
    fn answer(self, done: Done) {
        // The caller may have gone (its client hung up); what it asked for stands all the same.
        match (self.work, done) {
            (Work::Sync { reply, .. }, Done::Synced(recorded)) => {
                let _ = reply.send(Ok(Written::done(recorded.results)));
            }
            (Work::Act { reply, .. }, Done::Acted { acted, .. }) => {
                let _ = reply.send(Ok(acted));
            }
            _ => unreachable!("a job is answered with what it did"),
        }
    }

    /// Answers the group's failure, which running the job alone would only repeat.
    fn refuse(self, error: StoreError) {
        match self.work {
            Work::Sync { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            Work::Act { reply, .. } => {
                let _ = reply.send(Err(error));
            }
        }
    }
}

/// The queue of writes to commit, served by one task that owns the turn at the writer.
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
        let work = Work::Sync {
            batch,
            history,
            reply,
        };
        self.send(scope, work)?;
        answer.await.map_err(|_| gone())?
    }

    /// Runs a lifecycle action with its events; answers it once committed.
    pub async fn act(
        &self,
        scope: Scope,
        machine: Machine,
        target: RecordRef,
        action: Action,
        report: Report,
    ) -> Result<Acted, StoreError> {
        let (reply, answer) = oneshot::channel();
        let act = Box::new(Acting {
            machine,
            target,
            action,
            report,
        });
        self.send(scope, Work::Act { act, reply })?;
        answer.await.map_err(|_| gone())?
    }

    fn send(&self, scope: Scope, work: Work) -> Result<(), StoreError> {
        let span = tracing::Span::current();
        let job = Job { scope, work, span };
        self.jobs.send(job).map_err(|_| gone())
    }
}

fn gone() -> StoreError {
    StoreError::Unavailable(sqlx::Error::PoolClosed)
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
            Ok(done) => {
                for (job, done) in group.into_iter().zip(done) {
                    job.answer(done);
                }
                return;
            }
            // Another process held the write lock for the whole busy timeout: running each job
            // alone would wait that long again, once per job. Each is answered 503 instead
            // (`locks::a_write_lock_held_too_long_is_503`).
            Err(StoreError::Locked(cause)) => {
                for job in group {
                    job.refuse(StoreError::Locked(cause.clone()));
                }
                return;
            }
            Err(_) => {}
        }
    }
    for job in group {
        let Job { scope, work, span } = job;
        match work {
            Work::Sync {
                batch,
                history,
                reply,
            } => {
                commit_alone(writer, scope, &batch, history.as_ref(), reply)
                    .instrument(span)
                    .await;
                free_later(batch);
            }
            Work::Act { act, reply } => {
                let acted = act_alone(writer, scope, &act).instrument(span).await;
                let _ = reply.send(acted);
            }
        }
    }
}

/// Runs every job of the group in one transaction, then writes the syncs' history entries in
/// one statement and each tenant's events in one append, in the order the jobs ran: of a
/// single PUT's seven statements, those two (and the position update) are shared by the group.
async fn commit_together(writer: &Writer, group: &[Job]) -> Result<Vec<Done>, StoreError> {
    let mut tx = writer.begin().await?;
    let mut done = Vec::with_capacity(group.len());
    for job in group {
        done.push(run(writer, &mut tx, job).await?);
    }
    let entries: Vec<(Scope, &ImportEntry)> = group
        .iter()
        .zip(&done)
        .filter_map(|(job, done)| match done {
            Done::Synced(r) => Some((job.scope, r.entry.as_ref()?)),
            Done::Acted { .. } => None,
        })
        .collect();
    let mut statements = SqliteConn(&mut tx);
    crate::store::history::insert(&mut statements, &entries).await?;
    let mut appended = Appended::default();
    let mut scopes: Vec<Scope> = Vec::new();
    for job in group {
        if !scopes.contains(&job.scope) {
            scopes.push(job.scope);
        }
    }
    for scope in scopes {
        let changes: Vec<(&[NewEvent], &str)> = group
            .iter()
            .zip(&done)
            .filter(|(job, _)| job.scope == scope)
            .map(|(_, done)| done.events())
            .collect();
        appended.extend(append_all(&mut statements, scope, &changes).await?);
    }
    writer.commit(tx).await?;
    // Only now: a group that fails here is written again job by job, and counts then.
    appended.committed();
    Ok(done)
}

/// One job of a group, inside its transaction, short of its history entry and events.
async fn run(
    writer: &Writer,
    tx: &mut sqlx::SqliteConnection,
    job: &Job,
) -> Result<Done, StoreError> {
    match &job.work {
        Work::Sync { batch, history, .. } => {
            let now = timestamp();
            let mut sync = SqliteWriter {
                conn: tx,
                scope: job.scope,
                now: now.clone(),
                known: Some(&writer.known),
                recorded: Default::default(),
            };
            let history = history.as_ref();
            let recorded = prepare(&mut sync, batch, history, Finish::Commit, &now);
            Ok(Done::Synced(Box::new(recorded.await?)))
        }
        Work::Act { act, .. } => {
            // The floor's writes change rows the syncs remember (status, times).
            writer.known.clear();
            let (acted, events, now) = act_unlogged(
                &mut SqliteConn(tx),
                job.scope,
                act.machine,
                &act.target,
                act.action,
                &act.report,
            )
            .await?;
            Ok(Done::Acted { acted, events, now })
        }
    }
}

/// Runs one lifecycle action in a transaction of its own.
async fn act_alone(writer: &Writer, scope: Scope, act: &Acting) -> Result<Acted, StoreError> {
    let mut tx = writer.begin().await?;
    writer.known.clear();
    let mut statements = SqliteConn(&mut tx);
    let (acted, events, now) = act_unlogged(
        &mut statements,
        scope,
        act.machine,
        &act.target,
        act.action,
        &act.report,
    )
    .await?;
    let appended = append_all(&mut statements, scope, &[(&events, &now)]).await?;
    writer.commit(tx).await?;
    appended.committed();
    Ok(acted)
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
        recorded: Default::default(),
    };
    let (results, _, appended) = record(&mut writer, scope, batch, history, finish, &now).await?;
    Ok((results, appended))
}

#[cfg(test)]
#[path = "group_tests.rs"]
mod tests;
