//! A database an old release made and filled upgrades when this release starts on it: the
//! server starts, the old records read back as they were, the ERP's re-sends are recognised as
//! the same records, and the floor and the event feed work on them.
//!
//! An old release is played by the migrations before one of this release's, applied by a
//! migrator of their own, so `_sqlx_migrations` records them as the server's would (same
//! versions, same checksums: the same files). Its data is written by plain SQL in the columns
//! that schema has (read from the database), as that release's syncs left them. Every
//! migration boundary is tried, the one before the floor's (`*_floor.sql`) included.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::common::{fresh_postgres_database, Engine};
use crate::deploy::Instance;
use crate::on_every_engine;
use crate::upgrade_old::{make, migrations};

/// Job SO-12345 as the ERP sends it (its live routing; `customer` as given).
fn job_body(customer: &str) -> Value {
    json!({"external_id": "SO-12345", "external_source": "SAP", "job_number": "JOB-2024-001",
        "customer": customer, "due_date": "2024-06-30", "priority": 2, "status": "in_progress",
        "notes": "Rush order", "metadata": {"plant": "HH", "line": 10},
        "parts": [{"external_id": "SO-12345-10", "part_number": "BRACKET-A",
            "material": "S235 steel", "quantity": 25, "status": "not_started",
            "notes": "Deburr all edges",
            "operations": [
                {"external_id": "SO-12345-10-010", "operation_name": "Laser cut",
                 "cell_name": "Cutting", "sequence": 1, "estimated_time_minutes": 45,
                 "status": "not_started", "notes": "Program P-77"},
                {"external_id": "SO-12345-10-020", "operation_name": "Deburr",
                 "cell_name": "Cutting", "sequence": 2, "estimated_time_minutes": 20,
                 "status": "not_started", "metadata": {"tool": "brush"}}]}]})
}

/// The ERP's and the floor's client of the upgraded server, with the old release's key.
struct Api {
    base: String,
    key: String,
    client: reqwest::Client,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{method} {path}: {status}, not JSON: {text}"));
        (status, body)
    }

    /// The `data` of a call that must answer `status`.
    async fn expect(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        status: u16,
    ) -> Value {
        let (got, answer) = self.call(method.clone(), path, body).await;
        assert_eq!(got, status, "{method} {path}: {answer:#}");
        assert_eq!(answer["success"], true, "{method} {path}: {answer:#}");
        answer["data"].clone()
    }

    /// The status of part SO-12345-10.
    async fn part_status(&self) -> Value {
        self.get("/api-parts/by-external/SAP/SO-12345-10").await["status"].clone()
    }

    async fn get(&self, path: &str) -> Value {
        self.expect(reqwest::Method::GET, path, None, 200).await
    }

    async fn put(&self, path: &str, body: &Value, status: u16) -> Value {
        self.expect(reqwest::Method::PUT, path, Some(body), status)
            .await
    }

    async fn post(&self, path: &str, status: u16) -> Value {
        self.expect(reqwest::Method::POST, path, Some(&json!({})), status)
            .await
    }

    /// The events after `cursor` (all, when empty) as `type external_id` lines, the events,
    /// and the cursor to read after next.
    async fn events_after(&self, cursor: &str) -> (Vec<String>, Vec<Value>, String) {
        let after = if cursor.is_empty() {
            String::new()
        } else {
            format!("&after={cursor}")
        };
        let page = self.get(&format!("/api-events?limit=1000{after}")).await;
        assert_eq!(page["has_more"], false, "{page:#}");
        let events = page["events"].as_array().expect("a list of events").clone();
        let lines = events
            .iter()
            .map(|e| format!("{} {}", e["type"].as_str().unwrap(), e["external_id"]))
            .collect();
        let next = page["next_cursor"].as_str().unwrap_or(cursor).to_owned();
        (lines, events, next)
    }
}

async fn every_older_schema_upgrades_with_its_data(engine: Engine) {
    let all = migrations(engine);
    let floor = all
        .iter()
        .find(|(_, path)| path.to_str().unwrap().ends_with("_floor.sql"))
        .expect("a floor migration")
        .0;
    // The schema before the floor's first, then every other one.
    let mut befores: Vec<u64> = vec![floor];
    befores.extend(all[1..].iter().map(|(v, _)| *v).filter(|v| *v != floor));
    for before in befores {
        let began = std::time::Instant::now();
        let name = all.iter().find(|(v, _)| *v == before).unwrap().1.clone();
        let name = name.file_name().unwrap().to_str().unwrap().to_owned();
        eprintln!("{engine:?}: upgrading a database from before {name}");
        upgrade_from(engine, before).await;
        eprintln!("{engine:?}: from before {name}: {:?}", began.elapsed());
    }
}

/// The old release is the schema before migration `before`.
async fn upgrade_from(engine: Engine, before: u64) {
    let dir = tempfile::TempDir::new().unwrap();
    let url = match engine {
        Engine::Sqlite => format!("sqlite://{}", dir.path().join("eryxon.db").display()),
        Engine::Postgres => fresh_postgres_database().await,
    };
    let old = make(engine, &url, before, dir.path()).await;
    let (ids, key) = (&old.ids, &old.key);
    let (created_at, changed_at) = (old.ids.created.clone(), old.ids.changed.clone());
    let (deleted_paint, history) = (old.deleted_paint, old.history);

    // This release starts on it: its migrations run over the data.
    let server = Instance::spawn(&url, 100_000).await;
    let api = Api {
        base: server.base.clone(),
        key: key.secret.clone(),
        client: reqwest::Client::new(),
    };

    // The old records read back as the old release stored them, under their old ids, with
    // nothing done on the floor yet; the deleted operation stays hidden.
    let job = api.get("/api-jobs/by-external/SAP/SO-12345").await;
    assert_eq!(job["id"], ids.job.to_string(), "{job:#}");
    for (field, value) in [
        ("job_number", json!("JOB-2024-001")),
        ("customer", json!("Acme Corp")),
        ("due_date", json!("2024-06-30")),
        ("priority", json!(2)),
        ("status", json!("in_progress")),
        ("notes", json!("Rush order")),
        ("metadata", json!({"line": 10, "plant": "HH"})),
        ("created_at", json!(created_at)),
        ("updated_at", json!(changed_at)),
        ("synced_at", json!(changed_at)),
        ("deleted_at", Value::Null),
        ("started_at", Value::Null),
        ("completed_at", Value::Null),
        ("actual_duration_minutes", json!(0)),
    ] {
        assert_eq!(job[field], value, "job {field}: {job:#}");
    }
    let parts = job["parts"].as_array().expect("the job's parts");
    assert_eq!(parts.len(), 1, "{job:#}");
    let part = &parts[0];
    assert_eq!(part["id"], ids.part.to_string());
    for (field, value) in [
        ("external_id", json!("SO-12345-10")),
        ("part_number", json!("BRACKET-A")),
        ("material", json!("S235 steel")),
        ("quantity", json!(25)),
        ("status", json!("not_started")),
        ("notes", json!("Deburr all edges")),
        ("quantity_good", json!(0)),
        ("completed_at", Value::Null),
    ] {
        assert_eq!(part[field], value, "part {field}: {part:#}");
    }
    let operations = part["operations"]
        .as_array()
        .expect("the part's operations");
    let shown: Vec<_> = operations
        .iter()
        .map(|o| {
            json!([
                o["id"],
                o["external_id"],
                o["operation_name"],
                o["sequence"],
                o["cell_name"],
                o["estimated_time_minutes"],
                o["status"],
                o["notes"],
                o["metadata"],
                o["actual_time_minutes"],
                o["completion_percentage"]
            ])
        })
        .collect();
    assert_eq!(
        shown,
        [
            json!([
                ids.cut.to_string(),
                "SO-12345-10-010",
                "Laser cut",
                1,
                "Cutting",
                45,
                "not_started",
                "Program P-77",
                null,
                0,
                0
            ]),
            json!([ids.deburr.to_string(), "SO-12345-10-020", "Deburr", 2, "Cutting", 20,
                "not_started", null, {"tool": "brush"}, 0, 0]),
        ],
        "the live operations, by sequence: {part:#}"
    );
    let jobs = api.get("/api-jobs").await;
    assert_eq!(jobs["pagination"]["total"], 1, "{jobs:#}");
    assert_eq!(jobs["jobs"][0]["id"], ids.job.to_string());
    let cell = api.get("/api-cells/by-external/SAP/WC-CUTTING").await;
    for (field, value) in [
        ("name", json!("Cutting")),
        ("color", json!("#3b82f6")),
        ("active", json!(true)),
        ("capacity_hours_per_day", json!(7.5)),
        ("wip_limit", json!(4)),
        ("metadata", json!({"hall": "B"})),
    ] {
        assert_eq!(cell[field], value, "cell {field}: {cell:#}");
    }
    // The key made before scopes existed keeps every one of them.
    // (`webhooks`, the one scope not exercised below: `get` asserts 200, not 403).
    api.get("/api-webhooks").await;

    // The old release wrote no events: the feed is empty, not an error.
    let (lines, _, cursor) = api.events_after("").await;
    assert_eq!(lines, Vec::<String>::new());

    // The sync history keeps the old release's entry.
    if history {
        let history = api.get("/api-sync/imports").await;
        let entries = history["imports"].as_array().expect("history entries");
        assert_eq!(entries.len(), 1, "{history:#}");
        assert_eq!(entries[0]["id"], ids.import.to_string());
        assert_eq!(entries[0]["endpoint"], "PUT /api-jobs/sync");
        assert_eq!(entries[0]["request_id"], "erp-run-0042");
        assert_eq!(entries[0]["sources"], json!(["SAP"]));
        assert_eq!(entries[0]["updated"], 1);
        assert_eq!(entries[0]["kept"], 0, "{history:#}");
        let entry = api.get(&format!("/api-sync/imports/{}", ids.import)).await;
        assert_eq!(entry["kept_details"], json!([]), "{entry:#}");
    }
    // The operation the ERP deleted stays deleted, and can be read as such.
    if deleted_paint {
        let path = "/api-operations/by-external/SAP/SO-12345-10-030";
        let (status, answer) = api.call(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 404, "{answer:#}");
        let paint = api.get(&format!("{path}?include_deleted=true")).await;
        assert_eq!(paint["id"], ids.paint.to_string(), "{paint:#}");
        assert_eq!(paint["deleted_at"], changed_at, "{paint:#}");
    }

    // The ERP's next export sends the job as it stands: recognised as the same records,
    // nothing changed, nothing written.
    let resent = api.put("/api-jobs/sync", &job_body("Acme Corp"), 200).await;
    assert_eq!(resent["action"], "updated", "{resent:#}");
    assert_eq!(resent["id"], ids.job.to_string(), "{resent:#}");
    assert_eq!(
        resent["unchanged"], true,
        "an identical re-send: {resent:#}"
    );
    let again = api.get("/api-jobs/by-external/SAP/SO-12345").await;
    assert_eq!(again["updated_at"], changed_at, "{again:#}");
    assert_eq!(again["parts"][0]["operations"].as_array().unwrap().len(), 2);
    let (lines, _, cursor) = api.events_after(&cursor).await;
    assert_eq!(
        lines,
        Vec::<String>::new(),
        "an unchanged re-send writes no events"
    );

    // A changed field is an update, in the feed with what changed.
    let changed = api
        .put("/api-jobs/sync", &job_body("Acme Corporation"), 200)
        .await;
    assert_eq!(changed["action"], "updated", "{changed:#}");
    assert_ne!(changed["unchanged"], true, "{changed:#}");
    assert_eq!(changed["id"], ids.job.to_string());
    let (lines, events, cursor) = api.events_after(&cursor).await;
    assert_eq!(
        lines,
        ["job.updated \"SO-12345\"", "sync.completed null"],
        "{events:#?}"
    );
    assert_eq!(events[0]["record_id"], ids.job.to_string());
    assert_eq!(events[0]["data"]["changed_fields"], json!(["customer"]));
    assert_eq!(events[0]["data"]["customer"], "Acme Corporation");
    assert_eq!(events[0]["data"]["created_at"], created_at);
    let job = api.get("/api-jobs/by-external/SAP/SO-12345").await;
    assert_eq!(job["customer"], "Acme Corporation");
    assert_ne!(job["updated_at"], changed_at, "{job:#}");

    // The floor works the old operations; the part follows them, the deleted one aside.
    let act = |action: &str, id: Uuid| format!("/api-operation-lifecycle/{action}?id={id}");
    let start = api.post(&act("start", ids.cut), 200).await;
    assert_eq!(start["previous_status"], "not_started", "{start:#}");
    assert_eq!(start["new_status"], "in_progress", "{start:#}");
    assert_eq!(start["operation"]["id"], ids.cut.to_string());
    assert_eq!(start["operation"]["part"]["part_number"], "BRACKET-A");
    assert_eq!(
        start["operation"]["part"]["job"]["job_number"],
        "JOB-2024-001"
    );
    assert_eq!(api.part_status().await, "in_progress");
    let done = api.post(&act("complete", ids.cut), 200).await;
    assert_eq!(done["new_status"], "completed", "{done:#}");
    assert_eq!(done["operation"]["completion_percentage"], 100, "{done:#}");
    assert_eq!(done["time_entry_ended"], true, "{done:#}");
    assert_eq!(
        api.part_status().await,
        "in_progress",
        "Deburr is still to do"
    );
    api.post(&act("start", ids.deburr), 200).await;
    let done = api.post(&act("complete", ids.deburr), 200).await;
    assert_eq!(done["new_status"], "completed", "{done:#}");
    assert_eq!(
        api.part_status().await,
        "completed",
        "its live operations are all completed"
    );
    // A job's status moves only by its own actions.
    let job = api.get("/api-jobs/by-external/SAP/SO-12345").await;
    assert_eq!(job["status"], "in_progress", "{job:#}");

    let (lines, events, _) = api.events_after(&cursor).await;
    assert_eq!(
        lines,
        [
            "operation.started \"SO-12345-10-010\"",
            "part.started \"SO-12345-10\"",
            "operation.completed \"SO-12345-10-010\"",
            "operation.started \"SO-12345-10-020\"",
            "operation.completed \"SO-12345-10-020\"",
            "part.completed \"SO-12345-10\"",
        ],
        "{events:#?}"
    );
    assert_eq!(events[0]["record_id"], ids.cut.to_string());
    assert_eq!(events[0]["data"]["cell_name"], "Cutting");
    assert_eq!(events[5]["record_id"], ids.part.to_string());

    // Once the floor has acted, the ERP's re-send keeps the floor's statuses.
    let resent = api
        .put("/api-jobs/sync", &job_body("Acme Corporation"), 200)
        .await;
    assert_eq!(resent["unchanged"], true, "{resent:#}");
    assert_eq!(api.part_status().await, "completed");

    server.stop().await;
}

on_every_engine!(every_older_schema_upgrades_with_its_data);
