//! The wait before a retry counts from when the attempt ended, so a receiver that hangs is not
//! called again the moment its attempt gives up (the schedule is the worker's, so on SQLite
//! only); and a record's later deliveries wait for the same retry (the store's, so on both).

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{Engine, Options, TestServer};
use crate::on_every_engine;
use crate::webhook_receiver::Receiver;
use crate::webhooks::{deliveries, register, PATIENCE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retry_wait_counts_from_the_end_of_a_slow_attempt() {
    let options = Options {
        webhook_retry_schedule: eryxon::domain::webhook::RetrySchedule::parse("2s").unwrap(),
        ..Options::default()
    };
    let server = TestServer::start_with(Engine::Sqlite, options).await;
    let key = server.key("acme").await;
    let receiver = Receiver::start().await;
    // Each answer takes 3 s, longer than the 2 s wait: counted from the attempt's start, the
    // retry was due before the first attempt ended, and went out at once.
    receiver.slow(Duration::from_secs(3));
    receiver.answer_next(1, 503, None);
    let endpoint = register(&server, &key, &receiver.url, json!(["job.*"])).await;
    let id = endpoint["id"].as_str().unwrap();
    server
        .send(
            reqwest::Method::POST,
            &format!("/api-webhooks/{id}/test"),
            Some(&key),
            None,
            None,
        )
        .await
        .expect(202);
    let seen = receiver.wait_for(2, Duration::from_secs(15)).await;
    let gap = seen[1].at - seen[0].at;
    // 3 s of the first attempt, then 2 s less 10 % jitter.
    assert!(gap >= Duration::from_millis(4_700), "retried after {gap:?}");
    assert_eq!(seen[1].webhook_id(), seen[0].webhook_id());
}

/// A record's later deliveries wait for its earlier one, so while that one waits for its
/// retry, they wait until then too: left due, each claim walked past every one of them (at
/// 15 000 records a receiver outage kept the server at 65 % CPU). Both ways a follower comes
/// to wait: made before its head failed (moved then), and made after (made waiting).
async fn deliveries_waiting_behind_a_retry_cost_a_tick_nothing(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let receiver = Receiver::start().await;
    // The first attempt takes a second and fails, asking for 30 s.
    receiver.slow(Duration::from_secs(1));
    receiver.answer_next(1, 503, Some(30));
    let endpoint = register(&server, &key, &receiver.url, json!(["job.*"])).await;
    let id = endpoint["id"].as_str().unwrap();
    let job = |notes: &str| json!({"external_id": "J1", "external_source": "SAP", "job_number": "1", "notes": notes});
    server
        .put("/api-jobs/sync", &key, &job("a"))
        .await
        .expect(201);
    receiver.wait_for(1, PATIENCE).await;
    // While the first attempt runs: a follower made due.
    server
        .put("/api-jobs/sync", &key, &job("b"))
        .await
        .expect(200);
    let deadline = Instant::now() + PATIENCE;
    let head_next = loop {
        let all = deliveries(&server, &key, id).await;
        if let Some(head) = all.iter().find(|d| d["attempts"] == 1) {
            break head["next_attempt_at"].as_str().unwrap().to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "the first attempt is logged: {all:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // After it failed: a follower made waiting.
    server
        .put("/api-jobs/sync", &key, &job("c"))
        .await
        .expect(200);
    let all = loop {
        let all = deliveries(&server, &key, id).await;
        if all.len() == 3 {
            break all;
        }
        assert!(
            Instant::now() < deadline,
            "the third event is fanned out: {all:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    for delivery in &all {
        assert_eq!(delivery["status"], "pending");
        assert_eq!(
            delivery["next_attempt_at"], head_next,
            "every delivery of the record waits for the head's retry: {all:?}"
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.seen().len(), 1, "nothing goes before the head");

    // The receiver is back and the head is retried by hand, before its time: what waited on it
    // goes right after it, not at the head's old retry time 30 s on.
    receiver.slow(Duration::ZERO);
    let head = all.iter().find(|d| d["attempts"] == 1).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    server
        .send(
            reqwest::Method::POST,
            &format!("/api-webhooks/{id}/deliveries/{head}/retry"),
            Some(&key),
            None,
            None,
        )
        .await
        .expect(202);
    let seen = receiver.wait_for(4, PATIENCE).await;
    let notes: Vec<_> = seen[1..]
        .iter()
        .map(|s| s.json()["data"]["notes"].clone())
        .collect();
    assert_eq!(notes, [json!("a"), json!("b"), json!("c")], "in order");
}

on_every_engine!(deliveries_waiting_behind_a_retry_cost_a_tick_nothing);
