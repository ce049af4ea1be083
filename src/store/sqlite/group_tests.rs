//! The committer's memory of synced rows, as it recovers from being wrong.

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
    let batch = prepare_one(payload, None).expect("a valid job");
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
