//! A disk that fills up: the write that finds no space is refused `503` and leaves nothing
//! behind, and once space is freed the next write succeeds without a restart.

use std::process::Command;

use serde_json::{json, Value};

use crate::deploy::{create_key, Instance};

/// A file-size limit stands in for a full disk: a write past it fails the way a write to a full
/// file system does, and `prlimit --pid` lifts it from outside, as freeing space would. The
/// shell ignores `SIGXFSZ` first (inherited across `exec`), so a write past the limit fails
/// instead of killing the server.
const UNDER_A_LIMIT: [&str; 6] = [
    "bash",
    "-c",
    "trap '' XFSZ; exec \"$@\"",
    "bash",
    "prlimit",
    "--fsize=3000000:unlimited",
];

#[tokio::test]
async fn a_full_disk_is_503_and_the_server_recovers() {
    let dir = tempfile::TempDir::new().unwrap();
    let url = format!("sqlite://{}", dir.path().join("eryxon.db").display());
    let key = create_key(&url);
    let server = Instance::spawn_under(&UNDER_A_LIMIT, &url, 1_000_000, &[]).await;
    let client = reqwest::Client::new();
    let bulk = |n: usize| {
        let jobs: Vec<Value> = (0..n)
            .map(|i| {
                json!({"external_id": format!("J-{i}"), "external_source": "erp",
                       "job_number": format!("SO-{i}"), "notes": "x".repeat(3000)})
            })
            .collect();
        client
            .post(format!("{}/api-jobs/bulk-sync", server.base))
            .bearer_auth(&key)
            .json(&json!({ "jobs": jobs }))
            .send()
    };

    // 3 MB of notes do not fit under the limit.
    let refused = bulk(1000).await.unwrap();
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "SERVICE_UNAVAILABLE", "{body}");
    let jobs: Value = server.get("/api-jobs", &key).await.json().await.unwrap();
    assert_eq!(
        jobs["data"]["jobs"],
        json!([]),
        "nothing of the refused call is kept"
    );

    // Space is freed: the very next writes succeed, with no restart.
    let lifted = Command::new("prlimit")
        .args(["--pid", &server.pid().to_string(), "--fsize=unlimited"])
        .status()
        .unwrap();
    assert!(lifted.success());
    let cell = json!({"external_id": "C-1", "external_source": "erp", "name": "Laser"});
    assert_eq!(
        server.put("/api-cells/sync", &key, &cell).await.status(),
        201
    );
    let synced = bulk(1000).await.unwrap();
    assert_eq!(synced.status(), 200);
    let body: Value = synced.json().await.unwrap();
    assert_eq!(body["data"]["created"], 1000, "{body}");
    server.stop().await;
}
