//! The wait before a retry counts from when the attempt ended, so a receiver that hangs is not
//! called again the moment its attempt gives up. The schedule is applied in the worker, not in
//! the store, so this runs on SQLite only.

use std::time::Duration;

use serde_json::json;

use crate::common::{Engine, Options, TestServer};
use crate::webhook_receiver::Receiver;
use crate::webhooks::register;

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
