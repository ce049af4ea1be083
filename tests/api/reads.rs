//! Read responses byte for byte: key order, number printing (`7.5`, `8.0`, `0.3333333333333333`),
//! nulls, dates, timestamps and metadata objects (whole numbers as integers), the same on every
//! engine. The transcript of a
//! representative set of reads, with ids and times replaced by stable markers, must equal
//! `reads.golden.txt`; `ERYXON_WRITE_GOLDEN=1` rewrites that file from the current server.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::json;

use crate::common::{Engine, TestServer};
use crate::on_every_engine;

const GOLDEN: &str = include_str!("reads.golden.txt");

/// The body of a GET, exactly as sent.
async fn raw(server: &TestServer, key: &str, path: &str) -> String {
    let response = reqwest::Client::new()
        .get(format!("{}{path}", server.base))
        .bearer_auth(key)
        .send()
        .await
        .expect("the server answers");
    let status = response.status().as_u16();
    let body = response.text().await.expect("a body");
    format!("{status} {body}")
}

/// Replaces ids, cursors and stored times with markers numbered in order of appearance.
struct Markers {
    ids: regex::Regex,
    cursors: regex::Regex,
    times: regex::Regex,
    durations: regex::Regex,
    seen: HashMap<String, usize>,
}

impl Markers {
    fn new() -> Markers {
        Markers {
            ids: regex::Regex::new("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
                .unwrap(),
            cursors: regex::Regex::new("\"[0-9a-f]{32}\"").unwrap(),
            times: regex::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z").unwrap(),
            durations: regex::Regex::new(r#""duration_ms":\d+"#).unwrap(),
            seen: HashMap::new(),
        }
    }

    fn mark(&mut self, text: &str) -> String {
        let text = self.cursors.replace_all(text, |c: &regex::Captures| {
            let id = uuid::Uuid::parse_str(c[0].trim_matches('"')).unwrap();
            format!("\"cursor:{}\"", id.hyphenated())
        });
        let seen = &mut self.seen;
        let text = self.ids.replace_all(&text, |c: &regex::Captures| {
            let next = seen.len();
            format!("<id{}>", seen.entry(c[0].to_owned()).or_insert(next))
        });
        let text = self.times.replace_all(&text, "<time>");
        self.durations
            .replace_all(&text, "\"duration_ms\":<ms>")
            .into_owned()
    }
}

async fn responses_keep_their_bytes(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let cells = json!({"cells": [
        {"external_id": "C-1", "external_source": "SAP", "name": "Cutting", "color": "#ff0000",
         "sequence": 1, "capacity_hours_per_day": 7.5, "wip_limit": 3, "notes": "tab\there",
         "metadata": {"z": "é\n\u{1}\"\\/", "a": {"y": [1, 2.50, 1e15, 4.0, 12345678901234567890u64], "x": null},
                      "ü": "ΣΟΦΙΑ 😀", "b": true, "n": 0.1}},
        {"external_id": "C-2", "external_source": "SAP", "name": "Welding",
         "capacity_hours_per_day": 8, "active": false},
        {"external_id": "C-3", "external_source": "SAP", "name": "Paint",
         "capacity_hours_per_day": 0.1},
        {"external_id": "C-4", "external_source": "SAP", "name": "Third",
         "capacity_hours_per_day": 1.0 / 3.0},
        {"external_id": "C-5", "external_source": "SAP", "name": "Tiny",
         "capacity_hours_per_day": 0.00001},
        {"external_id": "C-6", "external_source": "SAP", "name": "Day",
         "capacity_hours_per_day": 24, "metadata": {}},
        {"external_id": "C-7", "external_source": "SAP", "name": "Zero",
         "capacity_hours_per_day": 0, "sequence": 0},
        {"external_id": "C-8", "external_source": "SAP", "name": "None"},
        {"external_id": "C-9", "external_source": "SAP", "name": "Sum",
         "capacity_hours_per_day": 0.1 + 0.2},
    ]});
    server
        .post("/api-cells/bulk-sync", &key, &cells)
        .await
        .expect(200);
    let resources = json!({"resources": [
        {"external_id": "R-1", "external_source": "SAP", "name": "Mold", "type": "mold",
         "status": "in_use", "description": "big", "identifier": "M-7", "location": "Hall 2",
         "metadata": {"k": [{"deep": {"deeper": "ü"}}]}},
        {"external_id": "R-2", "external_source": "ERP", "name": "Fixture"},
    ]});
    server
        .post("/api-resources/bulk-sync", &key, &resources)
        .await
        .expect(200);
    let jobs = json!({"jobs": [
        {"external_id": "J-1", "external_source": "SAP", "job_number": "1001",
         "customer": "Müller GmbH", "due_date": "2024-02-29", "priority": 5,
         "status": "in_progress", "notes": "line\r\nbreak <b>&</b>",
         "metadata": {"order": {"lines": 3, "total": 1234.5}, "tags": ["a", "b"]},
         "parts": [
            {"external_id": "P-1", "part_number": "PN-1", "material": "steel", "quantity": 10,
             "metadata": {"w": 1.25},
             "operations": [
                {"external_id": "O-3", "operation_name": "paint", "cell_name": "Paint",
                 "sequence": 30, "estimated_time_minutes": 15},
                {"external_id": "O-1", "operation_name": "cut", "cell_name": "Cutting",
                 "sequence": 10, "estimated_time": 120, "status": "completed",
                 "metadata": {"machine": "M1"}},
                {"external_id": "O-X", "operation_name": "inspect", "cell_name": "Day"},
                {"external_id": "O-2", "operation_name": "weld", "sequence": 20, "cell_name": "Paint"},
             ]},
            {"external_id": "P-2", "part_number": "PN-2"},
            {"external_id": "P-3", "part_number": "PN-3",
             "operations": [{"external_id": "O-9", "operation_name": "gone", "cell_name": "Paint"}]},
         ]},
        {"external_id": "J-2", "external_source": "SAP", "job_number": "1002"},
        {"external_id": "J-3", "external_source": "SAP", "job_number": "1003", "priority": 0},
    ]});
    server
        .post("/api-jobs/bulk-sync", &key, &jobs)
        .await
        .expect(200);
    let loose = json!({"operations": [
        {"external_id": "O-L", "external_source": "SAP", "part_external_id": "P-2",
         "operation_name": "loose", "sequence": 1, "cell_name": "Zero"}
    ]});
    server
        .post("/api-operations/bulk-sync", &key, &loose)
        .await
        .expect(200);
    let before = server
        .get("/api-jobs/by-external/SAP/J-1", &key)
        .await
        .expect(200);
    let deleted_part = before.data()["parts"][2]["id"].as_str().unwrap().to_owned();
    let deleted_op = before.data()["parts"][0]["operations"][1]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for path in [
        format!("/api-parts/{deleted_part}"),
        "/api-jobs/by-external/SAP/J-2".to_owned(),
        format!("/api-operations/{deleted_op}"),
    ] {
        server.delete(&path, &key).await.expect(200);
    }
    let job = server
        .get("/api-jobs/by-external/SAP/J-1", &key)
        .await
        .expect(200);
    let job_id = job.data()["id"].as_str().unwrap().to_owned();
    let part_id = job.data()["parts"][0]["id"].as_str().unwrap().to_owned();
    let op_id = job.data()["parts"][0]["operations"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let history = server.get("/api-sync/imports", &key).await.expect(200);
    let import_id = history.data()["imports"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bad = json!({"cells": [{"external_id": "C-X", "external_source": "SAP"}]});
    server.post("/api-cells/bulk-sync", &key, &bad).await;
    let paths = [
        format!("/api-jobs/{job_id}"),
        format!("/api-jobs/{job_id}?include_deleted=true"),
        "/api-jobs/by-external/SAP/J-2".to_owned(),
        "/api-jobs/by-external/SAP/J-2?include_deleted=true".to_owned(),
        "/api-jobs/by-external/SAP/J-3".to_owned(),
        format!("/api-parts/{part_id}"),
        format!("/api-parts/{deleted_part}"),
        format!("/api-parts/{deleted_part}?include_deleted=true"),
        format!("/api-operations/{op_id}"),
        "/api-operations/by-external/SAP/O-L".to_owned(),
        format!("/api-operations/{deleted_op}?include_deleted=true"),
        "/api-cells/by-external/SAP/C-1".to_owned(),
        "/api-resources/by-external/SAP/R-1".to_owned(),
        "/api-resources/by-external/ERP/R-2".to_owned(),
        "/api-jobs".to_owned(),
        "/api-jobs?include_deleted=true&sort=job_number&order=desc".to_owned(),
        "/api-parts?include_deleted=true".to_owned(),
        "/api-parts?job_external_id=J-1".to_owned(),
        "/api-operations?include_deleted=true&sort=sequence".to_owned(),
        "/api-operations?cell_name=Cutting".to_owned(),
        "/api-cells?sort=capacity_hours_per_day&order=desc".to_owned(),
        "/api-cells?limit=2".to_owned(),
        "/api-cells?search=ü&limit=1000".to_owned(),
        "/api-resources?include_deleted=true".to_owned(),
        "/api-sync/imports?limit=3".to_owned(),
        format!("/api-sync/imports/{import_id}"),
        "/api-sync/imports?entity=cells&limit=1".to_owned(),
        "/api-jobs/00000000-0000-0000-0000-000000000000".to_owned(),
    ];
    let mut markers = Markers::new();
    let mut transcript = String::new();
    for path in &paths {
        let body = raw(&server, &key, path).await;
        let _ = writeln!(
            transcript,
            "GET {}\n{}\n",
            markers.mark(path),
            markers.mark(&body)
        );
    }
    // The last sync's failure, newest first in the history.
    let failed = server
        .get("/api-sync/imports?limit=1", &key)
        .await
        .expect(200);
    let failed_id = failed.data()["imports"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = raw(&server, &key, &format!("/api-sync/imports/{failed_id}")).await;
    let _ = writeln!(transcript, "GET failed import\n{}\n", markers.mark(&body));
    if std::env::var_os("ERYXON_WRITE_GOLDEN").is_some() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/reads.golden.txt");
        std::fs::write(path, &transcript).unwrap();
        return;
    }
    if transcript != GOLDEN {
        let path = std::env::temp_dir().join(format!("reads.{engine:?}.txt"));
        std::fs::write(&path, &transcript).unwrap();
        panic!(
            "responses differ from reads.golden.txt: see {}",
            path.display()
        );
    }
}

on_every_engine!(responses_keep_their_bytes);
