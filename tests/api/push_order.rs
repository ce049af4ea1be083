//! `eryxon push` writes the rows of one key in the order they were given: a key repeated in a
//! file is refused at its line, as the server refuses a repeat within one call, and a later
//! file of the same entity (a delta after a full export) wins over an earlier one, whatever
//! the chunking and concurrency. Ordering is the command's, not the store's: SQLite only.

use std::fmt::Write as _;

use crate::common::TestServer;
use crate::push::{exit_code, rejected_lines, summary, text, total};
use crate::push_exports::{push_to, start, write};

/// The name the server holds for cell `id`.
async fn name_of(server: &TestServer, key: &str, id: &str) -> String {
    let reply = server
        .get(&format!("/api-cells?external_id={id}"), key)
        .await;
    let cells = reply.expect(200).data()["cells"].clone();
    assert_eq!(cells.as_array().map(Vec::len), Some(1), "{cells}");
    cells[0]["name"].as_str().expect("a name").to_owned()
}

/// A cells CSV: `ids` named `name-<id>`, then `last` (an id and its name) as the final row.
fn cells(ids: std::ops::Range<usize>, name: &str, last: (&str, &str)) -> String {
    let mut csv = String::from("external_id,external_source,name\n");
    for i in ids {
        writeln!(csv, "C{i},ERP,{name}-{i}").unwrap();
    }
    writeln!(csv, "{},ERP,{}", last.0, last.1).unwrap();
    csv
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_repeated_far_apart_in_a_file_is_rejected_at_its_line() {
    let (server, key, dir) = start().await;
    // 2500 rows, then C0 again on line 2502: three chunks apart, sent four at a time.
    let file = write(
        dir.path(),
        "cells.csv",
        cells(0..2500, "early", ("C0", "LAST")),
    );
    for run in 0..2 {
        let output = push_to(&server, &key, &[&file]).await;
        let stdout = text(&output.stdout);
        assert_eq!(
            exit_code(&output),
            1,
            "the repeat is a rejected record: {stdout}"
        );
        let [records, created, _, _, errors] = summary(&stdout)["cells"];
        assert_eq!((records, errors), (2501, 1), "{stdout}");
        assert_eq!(created, if run == 0 { 2500 } else { 0 }, "{stdout}");
        let rejected = rejected_lines(&stdout);
        assert_eq!(rejected.len(), 1, "{stdout}");
        assert!(
            rejected[0].ends_with(
                ":2502  C0  VALIDATION_ERROR  external_id: cell external_id \"C0\" (source \
                 \"ERP\") appears more than once in this file; first at line 2; a key's later \
                 rows are not sent"
            ),
            "{}",
            rejected[0]
        );
        assert_eq!(total(&server, "cells", &key).await, 2500);
        assert_eq!(
            name_of(&server, &key, "C0").await,
            "early-0",
            "run {run}: the first row of C0 is the one stored, every run alike"
        );
    }
}

/// A part nested in two jobs of one file is as much a repeat as a job twice: the second row is
/// refused at its line, whatever chunks the two fall in, and the part stays with the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nested_key_repeated_in_a_file_is_rejected_at_its_line() {
    let (server, key, dir) = start().await;
    let mut ndjson = String::new();
    for i in 0..1100 {
        let mut job = serde_json::json!({"external_id": format!("K{i}"),
            "external_source": "ERP", "job_number": format!("JN{i}")});
        // Lines 6 and 1006: in different 1000-record chunks.
        if i == 5 || i == 1005 {
            job["parts"] =
                serde_json::json!([{"external_id": "Q", "part_number": format!("of K{i}")}]);
        }
        writeln!(ndjson, "{job}").unwrap();
    }
    let file = write(dir.path(), "jobs.ndjson", ndjson);
    let output = push_to(&server, &key, &[&file]).await;
    let stdout = text(&output.stdout);
    assert_eq!(exit_code(&output), 1, "{stdout}");
    let rejected = rejected_lines(&stdout);
    assert_eq!(rejected.len(), 1, "{stdout}");
    assert!(
        rejected[0].ends_with(
            ":1006  K1005  VALIDATION_ERROR  parts[0].external_id: part external_id \"Q\" \
             (source \"ERP\") appears more than once in this file; first at line 6; a key's \
             later rows are not sent"
        ),
        "{}",
        rejected[0]
    );
    let parts = server.all("parts", &key).await;
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0]["part_number"], "of K5");
    assert_eq!(total(&server, "jobs", &key).await, 1099);
}

/// A first row this command cannot read is still the key's first row: the repeat after it is
/// refused as a repeat, not written in its place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeat_after_an_unreadable_first_row_is_a_repeat() {
    let (server, key, dir) = start().await;
    let csv = "external_id,external_source,name,sequence\n\
               U1,S1,first,abc\n\
               U1,S1,second,2\n\
               U1,S2,other source,3\n";
    let file = write(dir.path(), "cells.csv", csv);
    let output = push_to(&server, &key, &[&file]).await;
    let stdout = text(&output.stdout);
    assert_eq!(exit_code(&output), 1, "{stdout}");
    let rejected = rejected_lines(&stdout);
    assert_eq!(rejected.len(), 2, "{stdout}");
    assert!(
        rejected[0].contains(":2  U1  PARSE_ERROR  sequence"),
        "{}",
        rejected[0]
    );
    assert!(
        rejected[1].contains(":3  U1  VALIDATION_ERROR") && rejected[1].contains("first at line 2"),
        "{}",
        rejected[1]
    );
    let cells = server.all("cells", &key).await;
    assert_eq!(cells.len(), 1, "only U1 of source S2: {cells:?}");
    assert_eq!(cells[0]["external_source"], "S2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_file_wins_over_an_earlier_one_of_the_same_entity() {
    let (server, key, dir) = start().await;
    // The full export holds C0 in its last chunk; the one-row delta would be answered first
    // were both in flight at once.
    let full = write(
        dir.path(),
        "cells_full.csv",
        cells(1..3000, "full", ("C0", "full-0")),
    );
    let delta = write(
        dir.path(),
        "cells_delta.csv",
        "external_id,external_source,name\nC0,ERP,delta\n",
    );
    for run in 0..3 {
        let output = push_to(&server, &key, &["--concurrency", "8", &full, &delta]).await;
        let stdout = text(&output.stdout);
        assert_eq!(exit_code(&output), 0, "{stdout}");
        let [records, created, updated, unchanged, errors] = summary(&stdout)["cells"];
        assert_eq!((records, errors), (3001, 0), "{stdout}");
        if run == 0 {
            assert_eq!((created, updated), (3000, 1), "{stdout}");
        } else {
            // C0 goes back to the full export's name, then forward to the delta's again.
            assert_eq!((created, updated, unchanged), (0, 2, 2999), "{stdout}");
        }
        assert_eq!(name_of(&server, &key, "C0").await, "delta", "run {run}");
    }
}
