//! Syncs racing deletes and floor actions on the records they find. Each race is run many
//! times; whichever side wins, what is stored afterwards is a state one of the two orders
//! would leave. (On PostgreSQL a sync read its parents without a lock: a part could be
//! written under a job being deleted, an operation into a cell being deleted, and a replace
//! could delete an operation the floor had just started.)

use serde_json::{json, Value};

use crate::common::{Engine, TestServer};
use crate::on_every_engine;

const ROUNDS: usize = 12;

async fn live(server: &TestServer, key: &str, path: &str) -> bool {
    let reply = server.get(path, key).await;
    match reply.status.as_u16() {
        200 => reply.data()["deleted_at"].is_null(),
        404 => false,
        other => panic!("{path}: {other} {:#}", reply.body),
    }
}

/// A part synced by its job's key while the job is deleted: either the part is refused
/// (the job was gone), or it is written and deleted with its job.
async fn deletes_and_floor_actions_wait_for_syncs_that_found_the_record(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    for round in 0..ROUNDS {
        let job = format!("J{round}");
        let body = json!({"external_id": job, "external_source": "SAP", "job_number": job});
        server.put("/api-jobs/sync", &key, &body).await.expect(201);
        let part = json!({"external_id": format!("{job}-P"), "external_source": "SAP",
            "part_number": "PN", "job_external_id": job});
        let cell = format!("C{round}");
        let cell_body = json!({"external_id": cell, "external_source": "SAP", "name": cell});
        server
            .put("/api-cells/sync", &key, &cell_body)
            .await
            .expect(201);
        let into_cell = json!({"external_id": format!("{job}-X"), "external_source": "SAP",
            "job_number": "X", "parts": [{"external_id": format!("{job}-XP"), "part_number": "PN",
            "operations": [{"external_id": format!("{job}-XO"), "operation_name": "Cut",
                "sequence": 1, "cell_name": cell}]}]});
        let delete = |path: String| {
            let (server, key) = (&server, &key);
            async move { server.delete(&path, key).await }
        };
        let (deleted, synced, cell_deleted, into) = tokio::join!(
            delete(format!("/api-jobs/by-external/SAP/{job}")),
            server.put("/api-parts/sync", &key, &part),
            delete(format!("/api-cells/by-external/SAP/{cell}")),
            server.put("/api-jobs/sync", &key, &into_cell),
        );
        assert_eq!(deleted.status, 200, "{:#}", deleted.body);
        let part_path = format!("/api-parts/by-external/SAP/{job}-P");
        match synced.status.as_u16() {
            201 => assert!(
                !live(&server, &key, &part_path).await,
                "round {round}: a part written under a deleted job"
            ),
            422 => assert_eq!(synced.error_code(), "REFERENCE_NOT_FOUND"),
            other => panic!("round {round}: {other} {:#}", synced.body),
        }
        let operation = format!("/api-operations/by-external/SAP/{job}-XO");
        match (cell_deleted.status.as_u16(), into.status.as_u16()) {
            // The operation came first, so the cell stays.
            (409, 201) => assert!(live(&server, &key, &operation).await),
            // The cell went first, so the operation cannot name it.
            (200, 422) => assert!(!live(&server, &key, &operation).await),
            (200, 201) => panic!("round {round}: an operation written into a deleted cell"),
            other => panic!(
                "round {round}: {other:?} {:#} {:#}",
                cell_deleted.body, into.body
            ),
        }
    }
}

/// A replace that leaves out an operation, racing the floor's start of it: either the start
/// comes first and the replace is refused, or the replace comes first and the start finds no
/// operation. Never both.
async fn a_replace_racing_a_start_never_deletes_the_started_operation(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let cell = json!({"external_id": "WC", "external_source": "SAP", "name": "Saw"});
    server.put("/api-cells/sync", &key, &cell).await.expect(201);
    for round in 0..ROUNDS {
        let job = format!("J{round}");
        let operation = |n: u32| {
            json!({"external_id": format!("{job}-O{n}"), "operation_name": "Cut",
                "sequence": n, "cell_name": "Saw"})
        };
        let routing = |operations: Vec<Value>| {
            json!({"external_id": job, "external_source": "SAP", "job_number": job,
                "parts": [{"external_id": format!("{job}-P"), "part_number": "PN",
                    "operations": operations}]})
        };
        let both = routing(vec![operation(1), operation(2)]);
        server.put("/api-jobs/sync", &key, &both).await.expect(201);
        let start = format!("/api-operations/by-external/SAP/{job}-O2/start");
        let (nothing, one) = (json!({}), routing(vec![operation(1)]));
        let (started, replaced) = tokio::join!(
            server.post(&start, &key, &nothing),
            server.put("/api-jobs/sync?children=replace", &key, &one),
        );
        match (started.status.as_u16(), replaced.status.as_u16()) {
            (200, 409) => assert_eq!(replaced.error_code(), "CONFLICT"),
            (404, 200) => {}
            other => panic!(
                "round {round}: start and replace answered {other:?}: {:#} {:#}",
                started.body, replaced.body
            ),
        }
    }
}

/// Replaces of jobs racing bulk syncs that move their parts between them: such transactions
/// lock the same rows in different orders, and PostgreSQL rolls one of a deadlocked pair
/// back. The server runs it again instead of answering 503.
async fn overlapping_replaces_and_moves_all_go_through(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    const JOBS: usize = 10;
    let job = |i: usize| {
        json!({"external_id": format!("J{i}"), "external_source": "SAP", "job_number": "J",
            "parts": [{"external_id": format!("J{i}-P"), "part_number": "PN",
                "operations": [{"external_id": format!("J{i}-O"), "operation_name": "Cut",
                    "sequence": 1, "cell_name": "Saw"}]}]})
    };
    let cell = json!({"external_id": "WC", "external_source": "SAP", "name": "Saw"});
    server.put("/api-cells/sync", &key, &cell).await.expect(201);
    let jobs: Vec<Value> = (0..JOBS).map(job).collect();
    let body = json!({"jobs": jobs});
    server
        .post("/api-jobs/bulk-sync", &key, &body)
        .await
        .expect(200);
    let mut seed = 7_u64;
    let mut next = move |n: usize| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize % n
    };
    for round in 0..40 {
        let replaced = job(next(JOBS));
        let mut parts: Vec<Value> = (0..JOBS)
            .map(|i| {
                json!({"external_id": format!("J{i}-P"), "external_source": "SAP",
                "part_number": "PN", "job_external_id": format!("J{}", next(JOBS))})
            })
            .collect();
        parts.rotate_left(next(JOBS));
        let moved = json!({"parts": parts});
        let (a, b) = tokio::join!(
            server.put("/api-jobs/sync?children=replace", &key, &replaced),
            server.post("/api-parts/bulk-sync", &key, &moved),
        );
        assert!(
            a.status.is_success(),
            "round {round}: {} {:#}",
            a.status,
            a.body
        );
        assert!(
            b.status.is_success(),
            "round {round}: {} {:#}",
            b.status,
            b.body
        );
    }
}

/// A changed sync racing a `DELETE` of its job: if the delete went first the sync brings the
/// job back and its event says `job.restored`; if the sync went first its event says
/// `job.updated` and the delete leaves the job deleted. (On PostgreSQL a sync whose statement
/// began before the delete committed restored the job but said `job.updated`.)
async fn a_sync_racing_a_delete_names_what_it_did(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    for round in 0..ROUNDS * 2 {
        let job = format!("R{round}");
        let body = json!({"external_id": job, "external_source": "SAP", "job_number": "v1"});
        server.put("/api-jobs/sync", &key, &body).await.expect(201);
        let changed = json!({"external_id": job, "external_source": "SAP", "job_number": "v2"});
        let path = format!("/api-jobs/by-external/SAP/{job}");
        let (deleted, synced) = tokio::join!(
            server.delete(&path, &key),
            server.put("/api-jobs/sync", &key, &changed),
        );
        assert_eq!(deleted.status, 200, "{:#}", deleted.body);
        assert!(synced.status.is_success(), "{:#}", synced.body);
        let feed = server
            .get("/api-events?types=job.*&limit=1000", &key)
            .await
            .expect(200);
        let told: Vec<String> = feed.data()["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["external_id"] == job.as_str())
            .map(|e| e["type"].as_str().unwrap().to_owned())
            .collect();
        let expected = if live(&server, &key, &path).await {
            ["job.created", "job.deleted", "job.restored"]
        } else {
            ["job.created", "job.updated", "job.deleted"]
        };
        assert_eq!(told, expected, "round {round}");
    }
}

on_every_engine!(
    a_sync_racing_a_delete_names_what_it_did,
    deletes_and_floor_actions_wait_for_syncs_that_found_the_record,
    a_replace_racing_a_start_never_deletes_the_started_operation,
    overlapping_replaces_and_moves_all_go_through,
);
