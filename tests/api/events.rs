//! The event feed: every committed event once, in order, filtered as asked, and expired
//! cursors told as such.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::common::{Engine, TestServer};
use crate::floor::routing;
use crate::on_every_engine;
use crate::retention::prune_all;

fn events_of(reply: &Value) -> Vec<Value> {
    reply["events"].as_array().unwrap().clone()
}

/// Follows the feed from `cursor` to its end, answering the events and the last cursor.
async fn read_all(
    server: &TestServer,
    key: &str,
    query: &str,
    mut cursor: Option<String>,
) -> (Vec<Value>, Option<String>) {
    let mut seen = Vec::new();
    loop {
        let after = cursor
            .as_ref()
            .map(|c| format!("&after={c}"))
            .unwrap_or_default();
        let page = server
            .get(&format!("/api-events?limit=3{query}{after}"), key)
            .await
            .expect(200);
        let data = page.data().clone();
        seen.extend(events_of(&data));
        cursor = data["next_cursor"].as_str().map(str::to_owned);
        if data["has_more"] != true {
            return (seen, cursor);
        }
    }
}

async fn the_feed_pages_and_filters(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let (o1, o2) = routing(&server, &key).await;
    // The routing's syncs wrote their own events; this test follows the floor's.
    let (_, synced) = read_all(&server, &key, "", None).await;
    for (action, id) in [
        ("start", &o1),
        ("complete", &o1),
        ("start", &o2),
        ("complete", &o2),
    ] {
        server
            .post(
                &format!("/api-operation-lifecycle/{action}?id={id}"),
                &key,
                &json!({}),
            )
            .await
            .expect(200);
    }
    server
        .post("/api-jobs/by-external/SAP/J/start", &key, &json!({}))
        .await
        .expect(200);

    let (all, cursor) = read_all(&server, &key, "", synced.clone()).await;
    let types: Vec<&str> = all.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "operation.started",
            "part.started",
            "operation.completed",
            "operation.started",
            "operation.completed",
            "part.completed",
            "job.started"
        ]
    );
    let first = &all[0];
    assert!(first["id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!(first["entity"], "operation");
    assert_eq!(first["record_id"], o1.as_str());
    assert_eq!(first["external_source"], "SAP");
    assert_eq!(first["external_id"], "O1");
    assert_eq!(first["data"]["previous_status"], "not_started");
    assert_eq!(first["data"]["new_status"], "in_progress");
    assert_eq!(first["data"]["status"], "in_progress");

    // Nothing new after the end: the same cursor again, no events.
    let (more, same) = read_all(&server, &key, "", cursor.clone()).await;
    assert!(more.is_empty());
    assert_eq!(same, cursor);

    let (completed, _) = read_all(&server, &key, "&types=operation.completed,job.*", None).await;
    let completed: Vec<&str> = completed
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        completed,
        [
            "job.created",
            "operation.completed",
            "operation.completed",
            "job.started"
        ]
    );
    let (parts, _) = read_all(&server, &key, "&entity=part", synced).await;
    let types: Vec<&str> = parts.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["part.started", "part.completed"]);

    let one = server
        .get(
            &format!("/api-events/{}", first["id"].as_str().unwrap()),
            &key,
        )
        .await
        .expect(200);
    assert_eq!(one.data()["id"], first["id"]);
    let other = server.key("globex").await;
    server
        .get(
            &format!("/api-events/{}", first["id"].as_str().unwrap()),
            &other,
        )
        .await
        .expect(404);
    let theirs = server.get("/api-events", &other).await.expect(200);
    assert!(events_of(theirs.data()).is_empty());

    for (query, field) in [
        ("after=42", "after"),
        ("types=job.finished", "types"),
        ("entity=jobs", "entity"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("colour=red", "colour"),
        // Blank, it matched nothing and moved the cursor past the whole log.
        ("external_source=", "external_source"),
    ] {
        let reply = server
            .get(&format!("/api-events?{query}"), &key)
            .await
            .expect(400);
        assert_eq!(reply.error_code(), "VALIDATION_ERROR", "{query}");
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{query}: {message}");
    }
}

/// Eight writers commit lifecycle actions at once while a reader tails the feed: the reader
/// sees every event exactly once, in position order.
async fn a_tailing_reader_sees_every_event_once(engine: Engine) {
    const WRITERS: usize = 8;
    const OPERATIONS: usize = 12;
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let cell = json!({"external_id": "WC-1", "external_source": "SAP", "name": "Saw"});
    server.put("/api-cells/sync", &key, &cell).await.expect(201);
    for w in 0..WRITERS {
        let operations: Vec<Value> = (0..OPERATIONS)
            .map(|o| {
                json!({"external_id": format!("O-{w}-{o}"), "operation_name": "Cut",
                "cell_name": "Saw"})
            })
            .collect();
        let job = json!({"external_id": format!("J-{w}"), "external_source": "SAP",
            "job_number": format!("SO-{w}"), "parts": [{"external_id": format!("P-{w}"),
            "part_number": "p", "operations": operations}]});
        server.put("/api-jobs/sync", &key, &job).await.expect(201);
    }
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (server_base, key, done) = (server.clone_client(), key.clone(), done.clone());
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let after = cursor
                    .as_ref()
                    .map(|c| format!("&after={c}"))
                    .unwrap_or_default();
                let page = server_base
                    .get_json(&format!("/api-events?limit=7{after}"), &key)
                    .await;
                let data = &page["data"];
                seen.extend(events_of(data));
                cursor = data["next_cursor"].as_str().map(str::to_owned);
                if finished && data["has_more"] != true {
                    return seen;
                }
            }
        })
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (client, key) = (server.clone_client(), key.clone());
            tokio::spawn(async move {
                for o in 0..OPERATIONS {
                    for action in ["start", "complete"] {
                        let path = format!("/api-operations/by-external/SAP/O-{w}-{o}/{action}");
                        let status = client.post_status(&path, &key).await;
                        assert_eq!(status, 200, "{path}");
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = reader.await.unwrap();
    // The setup's syncs (a cell, then per writer a job, a part and its operations, each call
    // with its sync.completed), then the floor's actions and each part's start and completion.
    let synced = 2 + WRITERS * (OPERATIONS + 3);
    let expected = synced + WRITERS * (OPERATIONS * 2 + 2);
    let ids: HashSet<&str> = seen.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), seen.len(), "an event was seen twice");
    assert_eq!(seen.len(), expected, "an event was missed");
}

/// Events past their retention are pruned; a cursor that pointed at them is told so.
async fn an_expired_cursor_is_gone(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let (o1, _) = routing(&server, &key).await;
    server
        .post(
            &format!("/api-operation-lifecycle/start?id={o1}"),
            &key,
            &json!({}),
        )
        .await
        .expect(200);
    let first = server.get("/api-events", &key).await.expect(200);
    let cursor = first.data()["next_cursor"].as_str().unwrap().to_owned();
    server
        .post(
            &format!("/api-operation-lifecycle/pause?id={o1}"),
            &key,
            &json!({}),
        )
        .await
        .expect(200);
    let pruned = prune_all(&server).await.events;
    // The routing's 7 sync events, the 2 lifecycle events and the part's start.
    assert_eq!(pruned, 10);
    let gone = server.get("/api-events?after=c0", &key).await.expect(410);
    assert_eq!(gone.error_code(), "CURSOR_EXPIRED");
    server
        .get(&format!("/api-events?after={cursor}"), &key)
        .await
        .expect(410);
    let fresh = server.get("/api-events", &key).await.expect(200);
    assert!(events_of(fresh.data()).is_empty());
    server
        .post(
            &format!("/api-operation-lifecycle/resume?id={o1}"),
            &key,
            &json!({}),
        )
        .await
        .expect(200);
    let after = fresh.data()["next_cursor"].as_str().unwrap();
    let next = server
        .get(&format!("/api-events?after={after}"), &key)
        .await
        .expect(200);
    assert_eq!(events_of(next.data())[0]["type"], "operation.resumed");
}

/// A cursor past the newest event is not one this feed gave out (another tenant's, or from
/// before a restore): refused, naming the newest cursor, instead of answering an empty page
/// whose follower would skip every event up to it. The newest cursor itself reads on.
async fn a_cursor_this_feed_never_gave_out_is_refused(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let fresh = server.get("/api-events?after=c1", &key).await.expect(400);
    assert_eq!(fresh.body["error"]["details"][0]["field"], "after");
    routing(&server, &key).await;
    let (events, newest) = read_all(&server, &key, "", None).await;
    let newest = newest.unwrap();
    let position = format!("c{}", events.len());
    assert!(newest.starts_with(&format!("{position}.")), "{newest}");
    let ahead = format!("c{}", events.len() + 5);
    let refused = server
        .get(&format!("/api-events?after={ahead}"), &key)
        .await
        .expect(400);
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(message.contains(&format!("({position})")), "{message}");
    let page = server
        .get(&format!("/api-events?after={newest}"), &key)
        .await
        .expect(200);
    assert!(events_of(page.data()).is_empty());
    // Another tenant's feed is its own: this tenant's newest cursor is past its end.
    let other = server.key("globex").await;
    server
        .get(&format!("/api-events?after={newest}"), &other)
        .await
        .expect(400);
}

/// A database restored from a backup gives out the positions after the backup's newest
/// event again, to new events. A reader's cursor from before the restore is refused — past
/// the restored log's end, and once the new events pass it too, since the event at its place
/// is another — where it was taken and skipped every new event up to it; a cursor from
/// before the backup still reads on.
async fn a_cursor_from_before_a_restore_is_refused(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let sync = |prefix: &'static str| {
        let jobs: Vec<_> = (0..3)
            .map(|n| json!({"external_id": format!("{prefix}{n}"), "external_source": "SAP", "job_number": "1"}))
            .collect();
        let (server, key) = (&server, &key);
        async move {
            server
                .post("/api-jobs/bulk-sync", key, &json!({"jobs": jobs}))
                .await
                .expect(200)
        }
    };
    sync("A").await;
    let backed_up = server.get("/api-events?limit=2", &key).await.expect(200);
    let backed_up = backed_up.data()["next_cursor"].as_str().unwrap().to_owned();
    sync("B").await;
    let (_, cursor) = read_all(&server, &key, "", Some(backed_up.clone())).await;
    let cursor = cursor.unwrap();

    // The restore: the log as it was when only A's events were written.
    server
        .write_behind_the_server("DELETE FROM events WHERE position > 4")
        .await;
    server
        .write_behind_the_server("UPDATE event_positions SET last = 4")
        .await;
    let url = format!("/api-events?after={cursor}");
    server.get(&url, &key).await.expect(400);
    sync("C").await;
    sync("D").await;
    let refused = server.get(&url, &key).await.expect(400);
    assert_eq!(refused.body["error"]["details"][0]["field"], "after");
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("restored"), "{message}");

    let (events, _) = read_all(&server, &key, "", Some(backed_up)).await;
    let ids: Vec<_> = events
        .iter()
        .filter_map(|e| e["external_id"].as_str())
        .collect();
    assert_eq!(ids, ["A2", "C0", "C1", "C2", "D0", "D1", "D2"]);
    let bare = cursor.split('.').next().unwrap();
    let unchecked = server.get(&format!("/api-events?after={bare}"), &key).await;
    unchecked.expect(200);
}

/// A reader filtering by type moves past the events it skipped: its cursor follows the feed,
/// so once the skipped events are pruned it still reads on instead of getting `410` for
/// events it never wanted; a page that is full stops at its last event.
async fn a_filtered_reader_moves_past_what_it_skipped(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let (o1, _) = routing(&server, &key).await;
    let (_, newest) = read_all(&server, &key, "", None).await;
    let newest = newest.unwrap();
    let none = server
        .get("/api-events?types=job.completed", &key)
        .await
        .expect(200);
    assert!(events_of(none.data()).is_empty());
    assert_eq!(none.data()["next_cursor"], newest.as_str());
    let cells = server
        .get("/api-events?types=cell.created", &key)
        .await
        .expect(200);
    assert_eq!(events_of(cells.data()).len(), 1);
    assert_eq!(cells.data()["next_cursor"], newest.as_str());
    let full = server
        .get("/api-events?types=operation.created&limit=1", &key)
        .await
        .expect(200);
    assert_eq!(full.data()["has_more"], true);
    let first = events_of(full.data())[0]["id"].clone();
    let after = full.data()["next_cursor"].as_str().unwrap().to_owned();
    let rest = server
        .get(
            &format!("/api-events?types=operation.created&after={after}"),
            &key,
        )
        .await
        .expect(200);
    assert_eq!(events_of(rest.data()).len(), 1, "the second operation");
    assert_ne!(events_of(rest.data())[0]["id"], first);

    prune_all(&server).await;
    server
        .post(
            &format!("/api-operation-lifecycle/start?id={o1}"),
            &key,
            &json!({}),
        )
        .await
        .expect(200);
    let cursor = none.data()["next_cursor"].as_str().unwrap();
    let next = server
        .get(
            &format!("/api-events?types=operation.*&after={cursor}"),
            &key,
        )
        .await
        .expect(200);
    assert_eq!(events_of(next.data())[0]["type"], "operation.started");
}

on_every_engine!(
    the_feed_pages_and_filters,
    a_filtered_reader_moves_past_what_it_skipped,
    a_tailing_reader_sees_every_event_once,
    an_expired_cursor_is_gone,
    a_cursor_this_feed_never_gave_out_is_refused,
    a_cursor_from_before_a_restore_is_refused,
);
