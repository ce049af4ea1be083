//! `eryxon push` on export files as ERPs and Excel really write them: `;` and tab
//! delimiters, Windows-1252 and UTF-16, dated file names, trailing delimiters, empty files.
//! Reading a file does not depend on the store, so these run on SQLite only.

use std::path::Path;

use encoding_rs::WINDOWS_1252;
use tempfile::TempDir;

use crate::common::{Engine, TestServer};
use crate::push::{exit_code, push, summary, text};

/// Writes `bytes` as `name` in `dir` and gives its path as an argument.
pub(crate) fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.display().to_string()
}

/// `text` as Windows-1252, as older ERPs write it.
fn windows_1252(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = WINDOWS_1252.encode(text);
    assert!(!unmappable, "{text}");
    bytes.into_owned()
}

/// `text` as Excel's "Unicode text" writes it: UTF-16 little-endian after a byte order mark.
fn utf16le_with_bom(text: &str) -> Vec<u8> {
    std::iter::once(0xfeff)
        .chain(text.encode_utf16())
        .flat_map(u16::to_le_bytes)
        .collect()
}

/// The values of `field` the server holds for `entity`, by external_id.
async fn stored(server: &TestServer, key: &str, entity: &str, field: &str) -> Vec<String> {
    let mut records = server.all(entity, key).await;
    records.sort_by_key(|r| r["external_id"].as_str().unwrap().to_owned());
    records
        .iter()
        .map(|r| {
            let value = &r[field];
            value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned)
        })
        .collect()
}

/// A server on SQLite, a key for it, and a directory for the export files.
pub(crate) async fn start() -> (TestServer, String, TempDir) {
    let server = TestServer::start(Engine::Sqlite).await;
    let key = server.key("acme").await;
    (server, key, TempDir::new().unwrap())
}

/// `eryxon push` to `server` with `key`, then `args`.
pub(crate) async fn push_to(server: &TestServer, key: &str, args: &[&str]) -> std::process::Output {
    let mut all = vec!["--url", server.base.as_str(), "--key", key];
    all.extend_from_slice(args);
    push(&all).await
}

/// A `;` file as European Excel and SAP write it, with a comma inside a value that then
/// needs no quotes, and CRLF line ends.
const JOBS_SEMICOLON: &str = "external_id;external_source;job_number;customer;priority\r\n\
                              J1;SAP;WO-1;Müller GmbH;3\r\n\
                              J2;SAP;WO-2;Schmidt, Berlin;\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn semicolon_and_tab_separated_exports_load_fully() {
    let (server, key, dir) = start().await;
    let jobs = write(dir.path(), "jobs.csv", JOBS_SEMICOLON);
    let cells = write(
        dir.path(),
        "cells.csv",
        "external_id\texternal_source\tname\tcapacity_hours_per_day\n\
         C1\tSAP\tFräse; groß\t7.5\n\
         C2\tSAP\tLaser, 6 kW\t8\n",
    );
    let output = push_to(&server, &key, &[&jobs, &cells]).await;
    let stdout = text(&output.stdout);
    assert_eq!(exit_code(&output), 0, "{output:?}");
    assert_eq!(summary(&stdout)["jobs"], [2, 2, 0, 0, 0], "{stdout}");
    assert_eq!(summary(&stdout)["cells"], [2, 2, 0, 0, 0], "{stdout}");
    assert_eq!(
        stored(&server, &key, "jobs", "customer").await,
        ["Müller GmbH", "Schmidt, Berlin"]
    );
    assert_eq!(stored(&server, &key, "jobs", "priority").await[0], "3");
    assert_eq!(
        stored(&server, &key, "cells", "name").await,
        ["Fräse; groß", "Laser, 6 kW"]
    );
    assert_eq!(
        stored(&server, &key, "cells", "capacity_hours_per_day").await,
        ["7.5", "8.0"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delimiter_flag_is_followed_and_a_wrong_one_is_named() {
    let (server, key, dir) = start().await;
    let jobs = write(dir.path(), "jobs.csv", JOBS_SEMICOLON);

    let wrong = push_to(&server, &key, &["--delimiter", ",", &jobs]).await;
    let stderr = text(&wrong.stderr);
    assert_eq!(exit_code(&wrong), 2, "{wrong:?}");
    assert!(
        stderr.contains(
            "jobs.csv: column 1 (\"external_id;external_source;job_number;customer;priority\") \
             is not a field of jobs"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "The header contains ';', not ',': is the file ';'-separated? Try --delimiter ';'"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was sent"), "{stderr}");
    assert!(server.all("jobs", &key).await.is_empty());

    let told = push_to(&server, &key, &["--delimiter", ";", &jobs]).await;
    assert_eq!(exit_code(&told), 0, "{told:?}");
    assert_eq!(
        stored(&server, &key, "jobs", "customer").await,
        ["Müller GmbH", "Schmidt, Berlin"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_windows_1252_export_is_refused_whole_until_its_encoding_is_named() {
    let (server, key, dir) = start().await;
    let cells = write(
        dir.path(),
        "cells.csv",
        "external_id,external_source,name\nC1,ERP,Laser\n",
    );
    let jobs = write(
        dir.path(),
        "jobs.csv",
        windows_1252(
            "external_id,external_source,job_number,customer\n\
             J1,ERP,WO-1,Acme\n\
             J2,ERP,WO-2,Müller GmbH\n\
             J3,ERP,WO-3,Café Ñandú\n",
        ),
    );
    let parts = write(
        dir.path(),
        "parts.ndjson",
        windows_1252(
            "{\"external_id\":\"P1\",\"external_source\":\"ERP\",\"job_external_id\":\"J2\",\
             \"part_number\":\"X-1\",\"material\":\"Edelstahl gebürstet\"}\n",
        ),
    );

    let refused = push_to(&server, &key, &[&cells, &jobs]).await;
    let stderr = text(&refused.stderr);
    assert_eq!(exit_code(&refused), 2, "{refused:?}");
    assert!(
        stderr.contains("jobs.csv: line 3 is not UTF-8 (byte 0xFC)"),
        "the file and its first bad line: {stderr}"
    );
    assert!(
        stderr.contains("\"J2,ERP,WO-2,Müller GmbH\""),
        "the line as Windows-1252 reads it: {stderr}"
    );
    assert!(stderr.contains("--encoding windows-1252"), "{stderr}");
    assert!(stderr.contains("nothing was sent"), "{stderr}");
    for entity in ["cells", "jobs"] {
        assert!(
            server.all(entity, &key).await.is_empty(),
            "not the rows without umlauts, nor the UTF-8 file: {entity}"
        );
    }
    let json_too = push_to(&server, &key, &[&parts]).await;
    assert_eq!(exit_code(&json_too), 2, "{json_too:?}");
    let stderr = text(&json_too.stderr);
    assert!(
        stderr.contains("parts.ndjson: line 1 is not UTF-8"),
        "{stderr}"
    );

    let told = push_to(
        &server,
        &key,
        &["--encoding", "windows-1252", &jobs, &parts],
    )
    .await;
    assert_eq!(exit_code(&told), 0, "{told:?}");
    assert_eq!(
        stored(&server, &key, "jobs", "customer").await,
        ["Acme", "Müller GmbH", "Café Ñandú"]
    );
    assert_eq!(
        stored(&server, &key, "parts", "material").await,
        ["Edelstahl gebürstet"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_excel_unicode_text_export_loads_by_itself() {
    let (server, key, dir) = start().await;
    let cells = write(
        dir.path(),
        "cells.csv",
        utf16le_with_bom(
            "external_id\texternal_source\tname\tnotes\r\n\
             C1\tERP\tFräse\tStraße 5, Halle 2\r\n\
             C2\tERP\tΣΟΦΙΑ Schweißen\t\r\n",
        ),
    );
    let output = push_to(&server, &key, &[&cells]).await;
    assert_eq!(exit_code(&output), 0, "{output:?}");
    assert_eq!(
        stored(&server, &key, "cells", "name").await,
        ["Fräse", "ΣΟΦΙΑ Schweißen"]
    );
    assert_eq!(
        stored(&server, &key, "cells", "notes").await[0],
        "Straße 5, Halle 2"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nightly_export_names_tell_their_entity_when_they_hold_one_entity_word() {
    let (server, key, dir) = start().await;
    let named = [
        write(
            dir.path(),
            "SAP_operations_20240501.ndjson",
            "{\"external_id\":\"OP1\",\"external_source\":\"ERP\",\"operation_name\":\"Cut\",\
             \"part_external_id\":\"P1\",\"cell_name\":\"Laser\"}\n",
        ),
        write(
            dir.path(),
            "parts_nightly.json",
            r#"[{"external_id":"P1","external_source":"ERP","part_number":"X","job_external_id":"J1"}]"#,
        ),
        write(
            dir.path(),
            "jobs-export.csv",
            "external_id,external_source,job_number\nJ1,ERP,WO-1\n",
        ),
        write(
            dir.path(),
            "cells_2024-05-01.csv",
            "external_id,external_source,name\nC1,ERP,Laser\n",
        ),
    ];
    let mut args = vec!["--url", &server.base, "--key", &key];
    args.extend(named.iter().map(String::as_str));
    let output = push(&args).await;
    let stdout = text(&output.stdout);
    assert_eq!(exit_code(&output), 0, "{output:?}");
    for entity in ["cells", "jobs", "parts", "operations"] {
        assert_eq!(
            summary(&stdout)[entity],
            [1, 1, 0, 0, 0],
            "{entity}: {stdout}"
        );
    }
    let operation = &server.all("operations", &key).await[0];
    assert!(operation["cell_id"].is_string(), "{operation}");

    let cells = write(
        dir.path(),
        "cells.csv",
        "external_id,external_source,name\nC2,ERP,Bend\n",
    );
    let two = write(
        dir.path(),
        "parts_and_operations.csv",
        "external_id,external_source\n",
    );
    let none = write(
        dir.path(),
        "export.csv",
        "external_id,external_source,name\nC3,ERP,Weld\n",
    );
    let refused = push_to(&server, &key, &[&cells, &two, &none]).await;
    let stderr = text(&refused.stderr);
    assert_eq!(exit_code(&refused), 2, "{refused:?}");
    let line_of = |file: &str| {
        stderr
            .lines()
            .find(|l| l.contains(file))
            .unwrap_or_else(|| panic!("no error for {file}: {stderr}"))
            .to_owned()
    };
    let two_words = line_of("parts_and_operations.csv: ");
    assert!(
        two_words.contains("more than one entity word (parts, operations)"),
        "{two_words}"
    );
    assert!(two_words.contains("--entity"), "{two_words}");
    let no_word = line_of("export.csv: ");
    assert!(no_word.contains("none of the words"), "{no_word}");
    assert!(no_word.contains("--entity"), "{no_word}");
    assert_eq!(stored(&server, &key, "cells", "name").await, ["Laser"]);

    let told = push_to(&server, &key, &["--entity", "cells", &none]).await;
    assert_eq!(exit_code(&told), 0, "{told:?}");
    assert_eq!(
        stored(&server, &key, "cells", "name").await,
        ["Laser", "Weld"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trailing_delimiter_adds_no_column() {
    let (server, key, dir) = start().await;
    let cells = write(
        dir.path(),
        "cells.csv",
        "external_id;external_source;name;\nC1;ERP;Fräse;\nC2;ERP;Laser\n",
    );
    let output = push_to(&server, &key, &[&cells]).await;
    assert_eq!(exit_code(&output), 0, "{output:?}");
    assert_eq!(
        stored(&server, &key, "cells", "name").await,
        ["Fräse", "Laser"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_and_header_only_files_are_warned_about_not_refused() {
    let (server, key, dir) = start().await;
    let empty = write(dir.path(), "cells.csv", "");
    let header_only = write(
        dir.path(),
        "jobs.csv",
        "external_id,external_source,job_number\r\n",
    );
    let no_records = write(dir.path(), "parts.json", "[]");
    let resources = write(
        dir.path(),
        "resources.csv",
        "external_id,external_source,name,type\nR1,ERP,Drill,tooling\n",
    );
    let output = push_to(
        &server,
        &key,
        &[&empty, &header_only, &no_records, &resources],
    )
    .await;
    let stderr = text(&output.stderr);
    assert_eq!(exit_code(&output), 0, "{output:?}");
    assert!(
        stderr.contains(&format!("warning: {empty}: the file is empty")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "warning: {header_only}: has a header row but no records"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("warning: {no_records}: holds no records")),
        "{stderr}"
    );
    assert_eq!(stored(&server, &key, "resources", "name").await, ["Drill"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_given_as_a_file_is_named_as_one() {
    let (server, key, dir) = start().await;
    let exports = dir.path().join("exports");
    std::fs::create_dir(&exports).unwrap();
    let exports = exports.display().to_string();
    let cells = write(
        dir.path(),
        "cells.csv",
        "external_id,external_source,name\nC1,ERP,Laser\n",
    );
    let output = push_to(&server, &key, &[&cells, &exports]).await;
    let stderr = text(&output.stderr);
    assert_eq!(exit_code(&output), 2, "{output:?}");
    assert!(
        stderr.contains(&format!("{exports}: is a directory")),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was sent"), "{stderr}");
    assert!(server.all("cells", &key).await.is_empty());

    // An --errors file that cannot be written stops the push before it sends anything; found
    // at the end, it failed a push whose records were all written.
    let unwritable = dir
        .path()
        .join("no-such-dir/errors.csv")
        .display()
        .to_string();
    let output = push_to(&server, &key, &["--errors", &unwritable, &cells]).await;
    let stderr = text(&output.stderr);
    assert_eq!(exit_code(&output), 2, "{output:?}");
    assert!(
        stderr.contains("cannot write it; nothing was sent"),
        "{stderr}"
    );
    assert!(server.all("cells", &key).await.is_empty());
}

/// Whole numbers written as spreadsheets write them (`25.0`, `1e1`) load as whole numbers; a
/// real fraction is refused by the server with the field's own message, and only its row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_numbers_with_a_fraction_or_exponent_load() {
    let (server, key, dir) = start().await;
    let jobs = write(
        dir.path(),
        "jobs.csv",
        "external_id,external_source,job_number,priority\n\
         J1,SAP,WO-1,3.0\n\
         J2,SAP,WO-2,1e1\n\
         J3,SAP,WO-3,2.5\n",
    );
    let output = push_to(&server, &key, &[&jobs]).await;
    let stdout = text(&output.stdout);
    assert_eq!(exit_code(&output), 1, "{output:?}");
    assert_eq!(summary(&stdout)["jobs"], [3, 2, 0, 0, 1], "{stdout}");
    assert!(
        stdout.contains("priority: must be a whole number from 0 to 2147483647 (got 2.5)"),
        "{stdout}"
    );
    assert_eq!(stored(&server, &key, "jobs", "priority").await, ["3", "10"]);
}

/// A quote left open (an inch mark exported as `"24 inch`) swallowed every row after it into
/// one cell, and the push said it succeeded: the file is refused whole, naming its line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quote_left_open_stops_the_push() {
    let (server, key, dir) = start().await;
    let cells = write(
        dir.path(),
        "cells.csv",
        "external_id,external_source,name,notes\n\
         Q-4,ERP,Saw,fine\n\
         Q-5,ERP,Pipe,\"24 inch\n\
         Q-6,ERP,Normal,fine\n",
    );
    let refused = push_to(&server, &key, &[&cells]).await;
    let stderr = text(&refused.stderr);
    assert_ne!(exit_code(&refused), 0, "{refused:?}");
    assert!(
        stderr.contains("cells.csv")
            && stderr.contains("line 3: a quoted value opened here is never closed"),
        "{stderr}"
    );
    assert!(
        server.all("cells", &key).await.is_empty(),
        "nothing was sent"
    );
}
