//! Concurrent writers and restarts: nothing duplicated, nothing lost.

use serde_json::json;

use crate::common::{Engine, TestServer};
use crate::on_every_engine;

async fn concurrent_upserts_of_one_new_record_create_it_once(engine: Engine) {
    let server = std::sync::Arc::new(TestServer::start(engine).await);
    let key = server.key("acme").await;
    let requests = (0..25).map(|i| {
        let server = server.clone();
        let key = key.clone();
        tokio::spawn(async move {
            let body = json!({"external_id": "SO-RACE", "external_source": "SAP",
                "job_number": "RACE", "notes": format!("writer {i}")});
            server.put("/api-jobs/sync", &key, &body).await
        })
    });
    let replies = futures::future::join_all(requests).await;
    let mut statuses: Vec<u16> = replies
        .iter()
        .map(|r| r.as_ref().unwrap().status.as_u16())
        .collect();
    statuses.sort();
    assert_eq!(statuses[0], 200);
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 201),
        "{statuses:?}"
    );
    let ids: std::collections::HashSet<_> = replies
        .iter()
        .map(|r| r.as_ref().unwrap().data()["id"].clone())
        .collect();
    assert_eq!(ids.len(), 1, "every writer got the same record");
    assert_eq!(server.all("jobs", &key).await.len(), 1);
}

async fn data_survives_a_restart(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let job = json!({"external_id": "SO-1", "external_source": "SAP", "job_number": "1",
        "parts": [{"external_id": "P", "part_number": "p", "quantity": 4}]});
    let created = server.put("/api-jobs/sync", &key, &job).await.expect(201);
    let server = server.restart().await;
    let again = server.put("/api-jobs/sync", &key, &job).await.expect(200);
    assert_eq!(again.data()["unchanged"], true);
    assert_eq!(again.data()["id"], created.data()["id"]);
    assert_eq!(server.all("parts", &key).await[0]["quantity"], 4);
}

on_every_engine!(
    concurrent_upserts_of_one_new_record_create_it_once,
    data_survives_a_restart,
);
