//! Crash safety: the server is killed with SIGKILL while several clients load nested jobs, then
//! restarted on the same SQLite file, twenty times over. Every job is whole or absent, every
//! acknowledged job is there, nothing is duplicated, and SQLite's integrity check passes.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};
use sqlx::Connection;

use crate::deploy::{create_key, Instance};

const PARTS: usize = 2;
const OPERATIONS: usize = 3;

pub const WHOLE_JOB: &str = "(SELECT count(*) FROM parts WHERE job_id = j.id) = 2 \
    AND (SELECT count(*) FROM operations AS o JOIN parts AS p ON o.part_id = p.id \
         WHERE p.job_id = j.id) = 6";

fn nested_jobs(round: usize, client: usize, call: usize) -> Value {
    let jobs: Vec<Value> = (0..50)
        .map(|j| {
            let id = format!("R{round}-C{client}-N{call}-J{j}");
            json!({"external_id": id, "external_source": "ERP", "job_number": id,
                "parts": (0..PARTS).map(|p| json!({"external_id": format!("{id}-P{p}"), "part_number": "p",
                    "operations": (0..OPERATIONS).map(|o| json!({"external_id": format!("{id}-P{p}-O{o}"),
                        "operation_name": "cut", "cell_name": "Cutting"})).collect::<Vec<_>>()}))
                    .collect::<Vec<_>>()})
        })
        .collect();
    json!({ "jobs": jobs })
}

/// Sends bulk loads until the server dies or refuses; answers the external ids it acknowledged.
pub async fn client(base: String, key: String, round: usize, client: usize) -> Vec<String> {
    let http = reqwest::Client::new();
    let mut acknowledged = Vec::new();
    for call in 0.. {
        let body = nested_jobs(round, client, call);
        let Ok(response) = http
            .post(format!("{base}/api-jobs/bulk-sync"))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
        else {
            break;
        };
        if response.status() != 200 {
            break;
        }
        let Ok(answer) = response.json::<Value>().await else {
            break;
        };
        for result in answer["data"]["results"].as_array().into_iter().flatten() {
            if result["action"] == "created" || result["action"] == "updated" {
                acknowledged.push(result["external_id"].as_str().unwrap().to_owned());
            }
        }
    }
    acknowledged
}

async fn count(connection: &mut sqlx::SqliteConnection, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(connection).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_never_leaves_a_half_written_job() {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("crash.db");
    let url = format!("sqlite://{}", path.display());
    let key = create_key(&url);
    let setup = Instance::spawn(&url, 1_000_000).await;
    let cell = json!({"external_id": "WC-1", "external_source": "ERP", "name": "Cutting"});
    assert_eq!(
        setup.put("/api-cells/sync", &key, &cell).await.status(),
        201
    );
    setup.stop().await;

    let mut acknowledged = BTreeSet::new();
    for round in 0..20 {
        let instance = Instance::spawn(&url, 1_000_000).await;
        let clients: Vec<_> = (0..3)
            .map(|c| tokio::spawn(client(instance.base.clone(), key.clone(), round, c)))
            .collect();
        // Kill at a different point of the load each round.
        tokio::time::sleep(Duration::from_millis(60 + (round as u64 * 37) % 250)).await;
        instance.stop().await;
        for done in clients {
            acknowledged.extend(done.await.unwrap());
        }
    }
    assert!(
        acknowledged.len() > 100,
        "the load got going: {}",
        acknowledged.len()
    );

    let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(integrity, "ok");
    let half_written = count(
        &mut db,
        &format!("SELECT count(*) FROM jobs AS j WHERE NOT ({WHOLE_JOB})"),
    )
    .await;
    assert_eq!(half_written, 0, "every stored job is whole");
    let duplicates = count(
        &mut db,
        "SELECT count(*) FROM (SELECT external_id FROM jobs GROUP BY tenant_id, mode, \
         external_source, external_id HAVING count(*) > 1)",
    )
    .await;
    assert_eq!(duplicates, 0);
    let stored: BTreeSet<String> = sqlx::query_scalar("SELECT external_id FROM jobs")
        .fetch_all(&mut db)
        .await
        .unwrap()
        .into_iter()
        .collect();
    let lost: Vec<_> = acknowledged.difference(&stored).collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
}

/// A bulk sync with an `Idempotency-Key`, cut off by a SIGKILL after it took its key: the
/// client's retry on the restarted server runs at once (it used to be told `409
/// IDEMPOTENCY_IN_PROGRESS` for five minutes, as if the dead request still ran), every job is
/// there once and whole, and a further retry replays that answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_a_crash_runs_at_once() {
    let dir = tempfile::TempDir::new().unwrap();
    let url = format!("sqlite://{}", dir.path().join("crash.db").display());
    let key = create_key(&url);
    let first = Instance::spawn(&url, 1_000_000).await;
    let cell = json!({"external_id": "WC-1", "external_source": "ERP", "name": "Cutting"});
    assert_eq!(
        first.put("/api-cells/sync", &key, &cell).await.status(),
        201
    );

    let jobs: Vec<Value> = (0..20)
        .flat_map(|call| nested_jobs(0, 0, call)["jobs"].as_array().unwrap().clone())
        .collect();
    let body = json!({ "jobs": jobs });
    let send = |base: String| {
        let (key, body) = (key.clone(), body.clone());
        async move {
            reqwest::Client::new()
                .post(format!("{base}/api-jobs/bulk-sync"))
                .bearer_auth(key)
                .header("idempotency-key", "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")
                .json(&body)
                .send()
                .await
        }
    };
    let cut_off = tokio::spawn(send(first.base.clone()));
    let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let unanswered = "SELECT count(*) FROM idempotency_keys WHERE response_status IS NULL";
    let claimed = tokio::time::timeout(Duration::from_secs(30), async {
        while count(&mut db, unanswered).await == 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
    claimed.await.expect("the request takes its key");
    first.stop().await;
    assert!(
        cut_off.await.unwrap().is_err(),
        "the client saw the server go"
    );
    assert_eq!(
        count(&mut db, unanswered).await,
        1,
        "killed before answering"
    );

    let second = Instance::spawn(&url, 1_000_000).await;
    let retry = send(second.base.clone()).await.unwrap();
    assert_eq!(retry.status(), 200, "the retry runs");
    let answer: Value = retry.json().await.unwrap();
    let counts = &answer["data"];
    assert_eq!(
        counts["created"].as_u64().unwrap() + counts["unchanged"].as_u64().unwrap(),
        1000,
        "{counts}"
    );
    let whole = format!("SELECT count(*) FROM jobs AS j WHERE {WHOLE_JOB}");
    assert_eq!(count(&mut db, &whole).await, 1000);
    assert_eq!(count(&mut db, "SELECT count(*) FROM jobs").await, 1000);
    let again = send(second.base.clone()).await.unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    second.stop().await;
}
