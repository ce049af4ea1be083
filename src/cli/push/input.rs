//! Export files: which entity each holds, in which format, and the records to send.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::value::RawValue;

use super::csv_rows;
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

/// One record ready to send: its JSON object and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The line of the file the record starts on (1 is a CSV file's header).
    pub line: u64,
    pub external_id: Option<String>,
    pub json: String,
}

/// A record that was refused, by this command's parser or by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub file: String,
    pub line: u64,
    pub external_id: Option<String>,
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Json,
    NdJson,
}

pub fn parse_entity(name: &str) -> Result<Entity, String> {
    let lower = name.to_ascii_lowercase();
    Entity::ALL
        .into_iter()
        .find(|e| e.plural() == lower || e.singular() == lower)
        .ok_or_else(|| {
            format!("unknown entity {name:?}: use cells, resources, jobs, parts or operations")
        })
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

/// Reads and maps one file. `entity` is the one `--entity` names, if given; otherwise the
/// file name says (`cells.csv`), or for JSON the `{"cells": […]}` wrapper.
pub fn load(path: &Path, entity: Option<Entity>) -> Result<InputFile, String> {
    let name = path.display().to_string();
    let format = format_of(path)?;
    let from_name = parse_entity(&split_name(path).0).ok();
    let entity = entity.or(from_name);
    let text = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
    match format {
        Format::Csv => {
            let entity = entity.ok_or_else(unknown_entity)?;
            let (rows, rejected) = csv_rows::read(entity, &name, &text)?;
            Ok(InputFile {
                records: rows.len() + distinct_lines(&rejected),
                name,
                entity,
                rows,
                rejected,
            })
        }
        Format::Json => {
            let text = String::from_utf8(text).map_err(|e| format!("not UTF-8: {e}"))?;
            let (entity, rows) = read_json(&text, entity)?;
            Ok(InputFile {
                records: rows.len(),
                name,
                entity,
                rows,
                rejected: Vec::new(),
            })
        }
        Format::NdJson => {
            let entity = entity.ok_or_else(unknown_entity)?;
            let text = String::from_utf8(text).map_err(|e| format!("not UTF-8: {e}"))?;
            let (rows, rejected) = read_ndjson(&text, &name);
            Ok(InputFile {
                records: rows.len() + rejected.len(),
                name,
                entity,
                rows,
                rejected,
            })
        }
    }
}

fn unknown_entity() -> String {
    "cannot tell which entity it holds: name the file after it (cells.csv, resources.csv, \
     jobs.csv, parts.csv, operations.csv) or pass --entity"
        .to_owned()
}

/// A row with several unreadable cells is reported once per cell but is one record.
fn distinct_lines(rejected: &[Rejection]) -> usize {
    let mut lines: Vec<u64> = rejected.iter().map(|r| r.line).collect();
    lines.dedup();
    lines.len()
}

/// The `external_id` of a JSON record, for reports; whatever else it holds is the server's
/// to judge.
pub fn external_id_of(json: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Id {
        external_id: Option<serde_json::Value>,
    }
    match serde_json::from_str::<Id>(json).ok()?.external_id? {
        serde_json::Value::String(id) => Some(id),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
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
    Row {
        line: lines.line(offset),
        external_id: external_id_of(raw.get()),
        json: raw.get().to_owned(),
    }
}

fn read_json(text: &str, entity: Option<Entity>) -> Result<(Entity, Vec<Row>), String> {
    let expected = "expected a JSON array of records, or an object holding one under the \
                    entity's name ({\"cells\": […]})";
    let lines = Lines::of(text);
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    let (entity, records): (Entity, Vec<&RawValue>) = if trimmed.starts_with('[') {
        let records = serde_json::from_str(trimmed).map_err(|e| format!("invalid JSON: {e}"))?;
        (entity.ok_or_else(unknown_entity)?, records)
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
        if let Some(entity) = entity.filter(|&e| e != wrapped) {
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
            Ok(raw) => rows.push(Row {
                line: number,
                external_id: external_id_of(raw.get()),
                json: raw.get().to_owned(),
            }),
            Err(error) => rejected.push(Rejection {
                file: file.to_owned(),
                line: number,
                external_id: None,
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
pub fn load_all(paths: &[PathBuf], entity: Option<Entity>) -> Result<Vec<InputFile>, Vec<String>> {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        match load(path, entity) {
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
    fn entities_are_named_in_plural_or_singular() {
        assert_eq!(parse_entity("Cells"), Ok(Entity::Cells));
        assert_eq!(parse_entity("operation"), Ok(Entity::Operations));
        assert!(parse_entity("machines").is_err());
    }

    #[test]
    fn json_arrays_and_wrappers_keep_records_verbatim_with_lines() {
        let text = "[\n {\"external_id\": \"A\", \"x\": 1.50},\n {\"external_id\": 7}\n]";
        let (entity, rows) = read_json(text, Some(Entity::Cells)).unwrap();
        assert_eq!(entity, Entity::Cells);
        assert_eq!(rows[0].json, "{\"external_id\": \"A\", \"x\": 1.50}");
        assert_eq!((rows[0].line, rows[1].line), (2, 3));
        assert_eq!(rows[1].external_id.as_deref(), Some("7"));

        let text = "{\"jobs\": [\n{\"external_id\": \"J\"}]}";
        let (entity, rows) = read_json(text, None).unwrap();
        assert_eq!((entity, rows[0].line), (Entity::Jobs, 2));
        assert!(read_json(text, Some(Entity::Parts))
            .unwrap_err()
            .contains("\"jobs\""));
        assert!(read_json("{\"external_id\": \"J\"}", None).is_err());
        assert!(read_json("[{\"a\": 1}]", None)
            .unwrap_err()
            .contains("--entity"));
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
