//! Export files: which entity each holds, in which format, and the records to send.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::value::RawValue;

use super::csv_rows;
use super::decode::{self, TextEncoding};
use super::naming::{entity_from_name, parse_entity};
use crate::domain::Entity;

/// The order an initial load must follow so that every reference resolves: parts name their
/// job, operations their part and cell.
pub const SYNC_ORDER: [Entity; 5] = [
    Entity::Cells,
    Entity::Resources,
    Entity::Jobs,
    Entity::Parts,
    Entity::Operations,
];

/// The key the server knows a record by: its `external_source` and `external_id`.
pub type RecordKey = (String, String);

/// One record ready to send: its JSON object and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The line of the file the record starts on (1 is a CSV file's header).
    pub line: u64,
    /// For reports; whatever the record holds is the server's to judge.
    pub external_id: Option<String>,
    /// When the record names both as text: two rows with one key are one record.
    pub key: Option<RecordKey>,
    /// The keys of the records nested in it (a job's parts and their operations), with where
    /// they sit: two rows naming one child contradict each other as much.
    pub children: Vec<Child>,
    pub json: String,
}

/// A record nested in a row, by its entity and key, and the field path of its `external_id`.
#[derive(Debug, Clone, PartialEq)]
pub struct Child {
    pub entity: Entity,
    pub key: RecordKey,
    pub path: String,
}

impl Row {
    /// The record `json`, which starts on `line`.
    pub fn new(line: u64, json: String) -> Row {
        #[derive(Deserialize)]
        struct Ids {
            external_id: Option<serde_json::Value>,
            external_source: Option<serde_json::Value>,
        }
        // Only an object has keys: serde would read a list's items as the fields in order.
        let ids = json
            .trim_start()
            .starts_with('{')
            .then(|| serde_json::from_str::<Ids>(&json).ok())
            .flatten();
        let (id, source) = ids.map_or((None, None), |i| (i.external_id, i.external_source));
        let key = match (&source, &id) {
            (Some(serde_json::Value::String(s)), Some(serde_json::Value::String(i))) => {
                Some((s.clone(), i.clone()))
            }
            _ => None,
        };
        let external_id = match id {
            Some(serde_json::Value::String(id)) => Some(id),
            None | Some(serde_json::Value::Null) => None,
            Some(other) => Some(other.to_string()),
        };
        Row {
            line,
            external_id,
            key,
            children: Vec::new(),
            json,
        }
    }
}

/// A record that was refused, by this command's parser or by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub file: String,
    pub line: u64,
    pub external_id: Option<String>,
    /// The record's key, when this command's parser refused a row it could still read the
    /// key of: a later row with that key is a repeat all the same.
    pub key: Option<RecordKey>,
    pub code: String,
    pub field: Option<String>,
    pub error: String,
}

/// A file read and mapped, before anything is sent.
#[derive(Debug)]
pub struct InputFile {
    /// The path as the user gave it, for messages.
    pub name: String,
    pub entity: Entity,
    pub rows: Vec<Row>,
    /// Records the parser refused; they are not sent.
    pub rejected: Vec<Rejection>,
    /// Every record of the file, sent or not.
    pub records: usize,
    /// Said on stderr before sending; not an error (an empty nightly export is normal).
    pub warning: Option<String>,
}

/// How every file is read: the flags that apply to all of them.
#[derive(Debug, Clone, Copy)]
pub struct ReadOptions {
    /// `--entity`: the entity every file holds, whatever its name.
    pub entity: Option<Entity>,
    /// `--delimiter`, for CSV files.
    pub delimiter: Option<u8>,
    /// `--encoding`; UTF-8 without it.
    pub encoding: Option<TextEncoding>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Json,
    NdJson,
}

fn split_name(path: &Path) -> (String, String) {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let extension = path
        .extension()
        .map(|s| s.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    (stem, extension)
}

fn format_of(path: &Path) -> Result<Format, String> {
    match split_name(path).1.as_str() {
        "csv" => Ok(Format::Csv),
        "json" => Ok(Format::Json),
        "ndjson" | "jsonl" => Ok(Format::NdJson),
        "" => Err("has no extension to tell its format: name it .csv, .json or .ndjson".into()),
        other => Err(format!(
            "cannot read .{other} files: name it .csv, .json or .ndjson"
        )),
    }
}

/// Reads and maps one file. The entity is `--entity` if given; otherwise the file name
/// tells ([`entity_from_name`]), or for JSON the `{"cells": […]}` wrapper.
pub fn load(path: &Path, options: &ReadOptions) -> Result<InputFile, String> {
    let name = path.display().to_string();
    let metadata = std::fs::metadata(path).map_err(|e| format!("cannot read it: {e}"))?;
    if metadata.is_dir() {
        return Err("is a directory; give the export files in it (e.g. exports/*.csv)".into());
    }
    let format = format_of(path)?;
    let entity = match options.entity {
        Some(entity) => Ok(entity),
        None => entity_from_name(&split_name(path).0),
    };
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
    let text = decode::decode(bytes, options.encoding)?;
    if text.trim().is_empty() {
        return Ok(InputFile {
            name,
            entity: entity?,
            rows: Vec::new(),
            rejected: Vec::new(),
            records: 0,
            warning: Some("the file is empty: nothing to send from it".to_owned()),
        });
    }
    let mut file = match format {
        Format::Csv => {
            let entity = entity?;
            let (rows, rejected) = csv_rows::read(entity, &name, &text, options.delimiter)?;
            InputFile {
                records: rows.len() + distinct_lines(&rejected),
                name,
                entity,
                rows,
                rejected,
                warning: None,
            }
        }
        Format::Json => {
            let (entity, rows) = read_json(&text, entity)?;
            InputFile {
                records: rows.len(),
                name,
                entity,
                rows,
                rejected: Vec::new(),
                warning: None,
            }
        }
        Format::NdJson => {
            let entity = entity?;
            let (rows, rejected) = read_ndjson(&text, &name);
            InputFile {
                records: rows.len() + rejected.len(),
                name,
                entity,
                rows,
                rejected,
                warning: None,
            }
        }
    };
    for row in &mut file.rows {
        row.children = super::repeats::children_of(file.entity, &row.json);
    }
    super::repeats::reject_repeats(&mut file);
    if file.records == 0 {
        file.warning = Some(
            match format {
                Format::Csv => "has a header row but no records: nothing to send from it",
                Format::Json | Format::NdJson => "holds no records: nothing to send from it",
            }
            .to_owned(),
        );
    }
    Ok(file)
}

/// A row with several unreadable cells is reported once per cell but is one record.
fn distinct_lines(rejected: &[Rejection]) -> usize {
    let mut lines: Vec<u64> = rejected.iter().map(|r| r.line).collect();
    lines.dedup();
    lines.len()
}

/// Line numbers of byte offsets into one text.
struct Lines(Vec<usize>);

impl Lines {
    fn of(text: &str) -> Lines {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Lines(starts)
    }

    fn line(&self, offset: usize) -> u64 {
        (self.0.partition_point(|&start| start <= offset)) as u64
    }
}

fn row_of(raw: &RawValue, text: &str, lines: &Lines) -> Row {
    // A borrowed RawValue is a slice of `text`, so its address gives its position.
    let offset = raw.get().as_ptr() as usize - text.as_ptr() as usize;
    Row::new(lines.line(offset), raw.get().to_owned())
}

/// `entity` is what `--entity` or the file name says, or why they do not tell; a wrapper's
/// key tells by itself.
fn read_json(text: &str, entity: Result<Entity, String>) -> Result<(Entity, Vec<Row>), String> {
    let expected = "expected a JSON array of records, or an object holding one under the \
                    entity's name ({\"cells\": […]})";
    let lines = Lines::of(text);
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    let (entity, records): (Entity, Vec<&RawValue>) = if trimmed.starts_with('[') {
        let records = serde_json::from_str(trimmed).map_err(|e| format!("invalid JSON: {e}"))?;
        (entity?, records)
    } else if trimmed.starts_with('{') {
        let object: std::collections::BTreeMap<String, &RawValue> =
            serde_json::from_str(trimmed).map_err(|e| format!("invalid JSON: {e}"))?;
        let mut keys = object.keys();
        let (Some(key), None) = (keys.next(), keys.next()) else {
            return Err(expected.to_owned());
        };
        let wrapped = parse_entity(key).map_err(|_| expected.to_owned())?;
        if key != wrapped.plural() {
            return Err(expected.to_owned());
        }
        if let Some(entity) = entity.ok().filter(|&e| e != wrapped) {
            return Err(format!(
                "holds {key:?} but is being read as {}",
                entity.plural()
            ));
        }
        let records = serde_json::from_str(object[key].get())
            .map_err(|e| format!("{key}: invalid JSON: {e}"))?;
        (wrapped, records)
    } else {
        return Err(expected.to_owned());
    };
    let rows = records
        .into_iter()
        .map(|raw| row_of(raw, text, &lines))
        .collect();
    Ok((entity, rows))
}

fn read_ndjson(text: &str, file: &str) -> (Vec<Row>, Vec<Rejection>) {
    let mut rows = Vec::new();
    let mut rejected = Vec::new();
    let text = text.trim_start_matches('\u{feff}');
    for (i, line) in text.lines().enumerate() {
        let number = i as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<&RawValue>(line) {
            Ok(raw) => rows.push(Row::new(number, raw.get().to_owned())),
            Err(error) => rejected.push(Rejection {
                file: file.to_owned(),
                line: number,
                external_id: None,
                key: None,
                code: "PARSE_ERROR".to_owned(),
                field: None,
                error: format!("invalid JSON: {error}"),
            }),
        }
    }
    (rows, rejected)
}

/// The files in sync order, each keeping its place among files of the same entity.
pub fn in_sync_order(files: Vec<InputFile>) -> Vec<InputFile> {
    let mut files = files;
    files.sort_by_key(|f| SYNC_ORDER.iter().position(|&e| e == f.entity));
    files
}

/// Every path given, loaded; or every problem found, so that one run shows them all.
/// Every file is read and decoded before anything is sent, so a file in the wrong encoding
/// or with a misspelt column stops the push while the server still holds nothing of it.
pub fn load_all(paths: &[PathBuf], options: &ReadOptions) -> Result<Vec<InputFile>, Vec<String>> {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        match load(path, options) {
            Ok(file) => files.push(file),
            Err(problem) => problems.push(format!("{}: {problem}", path.display())),
        }
    }
    if problems.is_empty() {
        Ok(in_sync_order(files))
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_arrays_and_wrappers_keep_records_verbatim_with_lines() {
        let text = "[\n {\"external_id\": \"A\", \"x\": 1.50},\n {\"external_id\": 7}\n]";
        let (entity, rows) = read_json(text, Ok(Entity::Cells)).unwrap();
        assert_eq!(entity, Entity::Cells);
        assert_eq!(rows[0].json, "{\"external_id\": \"A\", \"x\": 1.50}");
        assert_eq!((rows[0].line, rows[1].line), (2, 3));
        assert_eq!(rows[1].external_id.as_deref(), Some("7"));

        let text = "{\"jobs\": [\n{\"external_id\": \"J\"}]}";
        let (entity, rows) = read_json(text, Err(String::new())).unwrap();
        assert_eq!((entity, rows[0].line), (Entity::Jobs, 2));
        assert!(read_json(text, Ok(Entity::Parts))
            .unwrap_err()
            .contains("\"jobs\""));
        assert!(read_json("{\"external_id\": \"J\"}", Err(String::new())).is_err());
        assert_eq!(
            read_json("[{\"a\": 1}]", Err("why".to_owned())),
            Err("why".to_owned()),
            "an array needs the entity from elsewhere"
        );
    }

    #[test]
    fn ndjson_lines_are_records_and_bad_lines_are_rejected_alone() {
        let (rows, rejected) = read_ndjson("{\"external_id\":\"A\"}\n\n{oops}\n[1]\n", "f");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].line, 4);
        assert_eq!(rejected.len(), 1);
        assert_eq!(rejected[0].line, 3);
        assert!(rejected[0].error.starts_with("invalid JSON"));
    }

    #[test]
    fn files_follow_the_sync_order_whatever_order_they_come_in() {
        let file = |entity| InputFile {
            name: String::new(),
            entity,
            rows: Vec::new(),
            rejected: Vec::new(),
            records: 0,
            warning: None,
        };
        let ordered = in_sync_order(vec![
            file(Entity::Operations),
            file(Entity::Jobs),
            file(Entity::Cells),
            file(Entity::Parts),
            file(Entity::Resources),
        ]);
        let entities: Vec<Entity> = ordered.iter().map(|f| f.entity).collect();
        assert_eq!(entities, SYNC_ORDER);
    }
}
