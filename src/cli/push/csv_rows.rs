//! CSV rows to sync records: each column is a field of the entity, read per the field's type.

use serde_json::{Map, Value};

use super::cell::quoted;
pub use super::cell::{parse_value, FieldType};
use super::csv_header::{self, Columns};
use super::input::{Rejection, Row};
use crate::domain::Entity;

/// Reads a CSV file with a header row into records to send, and the cells that could not be
/// read. `delimiter` is `--delimiter`; without it the header row tells
/// ([`csv_header::detect_delimiter`]). A header naming no field of the entity fails the whole
/// file ([`csv_header::columns`]).
pub fn read(
    entity: Entity,
    file: &str,
    text: &str,
    delimiter: Option<u8>,
) -> Result<(Vec<Row>, Vec<Rejection>), String> {
    let delimiter = delimiter.unwrap_or_else(|| csv_header::detect_delimiter(entity, text));
    super::csv_quotes::check(text, delimiter)?;
    let lines = LineIndex::of(text.as_bytes());
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|e| format!("cannot read the header row: {e}"))?
        .clone();
    let Columns { fields, width } = csv_header::columns(entity, &header, delimiter)?;
    let external_id_column = fields.iter().position(|(field, _)| *field == "external_id");
    let source_column = fields
        .iter()
        .position(|(field, _)| *field == "external_source");

    let mut rows = Vec::new();
    let mut rejected = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        let resumed_at = reader.position().byte();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(error) => {
                let line = lines.record_line(resumed_at);
                return Err(format!("line {line}: {error}"));
            }
        }
        // A line of only spaces or delimiters (`;;;;`, as spreadsheets end their exports) holds
        // no record: skipped like a blank line
        // (`lines_of_only_spaces_or_delimiters_are_skipped_like_blank_ones`).
        if record.iter().all(|cell| cell.trim().is_empty()) {
            continue;
        }
        let line = lines.record_line(record.position().map_or(resumed_at, |p| p.byte()));
        let external_id = external_id_column
            .and_then(|i| record.get(i))
            .filter(|id| !id.is_empty())
            .map(str::to_owned);
        let key = source_column
            .and_then(|i| record.get(i))
            .filter(|source| !source.is_empty())
            .zip(external_id.as_deref())
            .map(|(source, id)| (source.to_owned(), id.to_owned()));
        let refuse = |field: Option<&str>, reason: &str| Rejection {
            key: key.clone(),
            ..rejection(file, line, external_id.clone(), field, reason)
        };
        if let Some(reason) = misfit(&record, fields.len(), width) {
            rejected.push(refuse(None, &reason));
            continue;
        }
        let mut object = Map::new();
        let mut bad = false;
        for ((field, kind), cell) in fields.iter().zip(record.iter()) {
            match parse_value(*kind, cell) {
                Ok(Some(value)) => {
                    object.insert((*field).to_owned(), value);
                }
                Ok(None) => {}
                Err(reason) => {
                    bad = true;
                    rejected.push(refuse(Some(field), &reason));
                }
            }
        }
        if !bad {
            rows.push(Row::new(line, Value::Object(object).to_string()));
        }
    }
    Ok((rows, rejected))
}

/// Why a row does not fit the header, if it does not. A row has a value per named column,
/// and may go on into the nameless columns a trailing delimiter leaves (up to the header's
/// `width`) only with empty cells: a value there has no field to go to. Anything else is a
/// ragged row, refused rather than guessed at.
fn misfit(record: &csv::StringRecord, named: usize, width: usize) -> Option<String> {
    if record.len() < named || record.len() > width {
        return Some(format!(
            "has {} values but the header has {named} columns",
            record.len()
        ));
    }
    let (i, extra) = record
        .iter()
        .enumerate()
        .skip(named)
        .find(|(_, cell)| !cell.trim().is_empty())?;
    Some(format!(
        "has {} in column {}, which has no name in the header",
        quoted(extra),
        i + 1
    ))
}

/// Line numbers for records. The csv crate's own line count runs behind after CRLF line ends
/// and skipped blank lines, and its byte position is where reading resumed, before any line
/// ends that precede the record; so the record's line is counted here.
struct LineIndex<'a> {
    input: &'a [u8],
    newlines: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    fn of(input: &'a [u8]) -> LineIndex<'a> {
        let newlines = input
            .iter()
            .enumerate()
            .filter(|(_, &b)| b == b'\n')
            .map(|(i, _)| i)
            .collect();
        LineIndex { input, newlines }
    }

    /// The line of the record read from `resumed_at` on. A record never starts with a line
    /// end (that would be a blank line, which is skipped, or a quoted field, which starts with
    /// a quote), so those are stepped over.
    fn record_line(&self, resumed_at: u64) -> u64 {
        let mut at = usize::try_from(resumed_at)
            .unwrap_or(usize::MAX)
            .min(self.input.len());
        while at < self.input.len() && matches!(self.input[at], b'\r' | b'\n') {
            at += 1;
        }
        self.newlines.partition_point(|&newline| newline < at) as u64 + 1
    }
}

fn rejection(
    file: &str,
    line: u64,
    external_id: Option<String>,
    field: Option<&str>,
    reason: &str,
) -> Rejection {
    Rejection {
        file: file.to_owned(),
        line,
        external_id,
        key: None,
        code: "PARSE_ERROR".to_owned(),
        field: field.map(str::to_owned),
        error: match field {
            Some(field) => format!("{field}: {reason}"),
            None => reason.to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::decode::decode;
    use crate::domain::record::{
        CellPayload, JobPayload, OperationPayload, PartPayload, Payload, ResourcePayload,
    };

    fn read_str(entity: Entity, text: &str) -> Result<(Vec<Row>, Vec<Rejection>), String> {
        read(entity, "t.csv", text, None)
    }

    fn objects(rows: &[Row]) -> Vec<Value> {
        rows.iter()
            .map(|r| serde_json::from_str(&r.json).unwrap())
            .collect()
    }

    fn sample(kind: FieldType) -> &'static str {
        match kind {
            FieldType::Text => "x",
            FieldType::Integer => "1",
            FieldType::Number => "2.5",
            FieldType::Boolean => "true",
            FieldType::Date => "2026-05-15",
            FieldType::Object => r##"{"a": 1}"##,
        }
    }

    /// A CSV row filling every column must be a record the server's decoder takes: the
    /// column list and the payloads cannot drift apart.
    fn every_column_decodes<P: Payload>() {
        let entity = P::ENTITY;
        let fields = csv_header::fields(entity);
        let header: Vec<&str> = fields.iter().map(|(f, _)| *f).collect();
        let values: Vec<String> = fields
            .iter()
            .map(|&(field, kind)| match field {
                "color" => "#aabbcc".to_owned(),
                "type" => "tooling".to_owned(),
                "status" if entity == Entity::Resources => "available".to_owned(),
                "status" => "in_progress".to_owned(),
                _ => format!("{:?}", sample(kind)).replace("\\\"", "\"\""),
            })
            .collect();
        let text = format!("{}\n{}\n", header.join(","), values.join(","));
        let (rows, rejected) = read_str(entity, &text).unwrap();
        assert!(rejected.is_empty(), "{rejected:?}");
        let decoded = decode::<P>(rows[0].json.as_bytes()).and_then(P::into_item);
        assert!(decoded.is_ok(), "{}: {:?}", entity.plural(), decoded.err());
    }

    #[test]
    fn every_column_of_every_entity_is_a_payload_field() {
        every_column_decodes::<CellPayload>();
        every_column_decodes::<ResourcePayload>();
        every_column_decodes::<JobPayload>();
        every_column_decodes::<PartPayload>();
        every_column_decodes::<OperationPayload>();
    }

    #[test]
    fn cells_are_read_per_the_field_type() {
        let (rows, rejected) = read_str(
            Entity::Cells,
            "external_id,external_source,name,sequence,active,capacity_hours_per_day,metadata\n\
             C1,ERP,Laser, 3 ,No,7.5,\"{\"\"line\"\": 2}\"\n\
             C2,ERP,007,,,8,\n",
        )
        .unwrap();
        assert!(rejected.is_empty(), "{rejected:?}");
        assert_eq!(
            objects(&rows),
            vec![
                json!({"external_id": "C1", "external_source": "ERP", "name": "Laser",
                       "sequence": 3, "active": false, "capacity_hours_per_day": 7.5,
                       "metadata": {"line": 2}}),
                json!({"external_id": "C2", "external_source": "ERP", "name": "007",
                       "capacity_hours_per_day": 8}),
            ]
        );
        assert_eq!((rows[0].line, rows[1].line), (2, 3));
        assert_eq!(rows[1].external_id.as_deref(), Some("C2"));
    }

    #[test]
    fn empty_cells_leave_the_field_out_and_text_is_kept_verbatim() {
        let (rows, _) = read_str(
            Entity::Jobs,
            "external_id,external_source,job_number,customer,due_date,priority\n\
             J1,ERP,WO-1,  Acme ,,\n",
        )
        .unwrap();
        assert_eq!(
            objects(&rows)[0],
            json!({"external_id": "J1", "external_source": "ERP", "job_number": "WO-1",
                   "customer": "  Acme "})
        );
    }

    #[test]
    fn unreadable_cells_reject_their_row_with_line_column_and_value() {
        let (rows, rejected) = read_str(
            Entity::Jobs,
            "external_id,external_source,job_number,due_date,priority\n\
             J1,ERP,WO-1,2026-05-15,1\n\
             J2,ERP,WO-2,15-05-2026,high\n\
             J3,ERP,WO-3,2026-02-30,2\n",
        )
        .unwrap();
        assert_eq!(objects(&rows)[0]["external_id"], "J1");
        assert_eq!(rows.len(), 1);
        let found: Vec<(u64, Option<&str>, Option<&str>)> = rejected
            .iter()
            .map(|r| (r.line, r.external_id.as_deref(), r.field.as_deref()))
            .collect();
        assert_eq!(
            found,
            vec![
                (3, Some("J2"), Some("due_date")),
                (3, Some("J2"), Some("priority")),
                (4, Some("J3"), Some("due_date")),
            ]
        );
        assert_eq!(
            rejected[1].error,
            "priority: \"high\" is not a whole number"
        );
        assert!(rejected[0].error.contains("YYYY-MM-DD"), "{rejected:?}");
        assert!(rejected[0].error.contains("15-05-2026"));
        assert!(rejected.iter().all(|r| r.code == "PARSE_ERROR"));
        assert!(rejected.iter().all(|r| r.file == "t.csv"));
    }

    #[test]
    fn ragged_rows_are_rejected_not_guessed() {
        let (rows, rejected) = read_str(
            Entity::Cells,
            "external_id,external_source,name\nC1,ERP\nC2,ERP,Two,extra\nC3,ERP,Three\n",
        )
        .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rejected.len(), 2);
        assert_eq!(rejected[0].line, 2);
        assert!(rejected[1].error.contains("4 values"), "{rejected:?}");
    }

    #[test]
    fn a_byte_order_mark_crlf_line_ends_and_blank_lines_keep_lines_right() {
        let (rows, rejected) = read_str(
            Entity::Cells,
            "\u{feff}external_id,external_source,name\r\nC1,ERP,One\r\n\r\n\r\nC2,ERP,Two\r\n",
        )
        .unwrap();
        assert!(rejected.is_empty());
        assert_eq!(
            objects(&rows)[0]["external_id"],
            "C1",
            "the BOM is not in the name"
        );
        assert_eq!(objects(&rows)[1]["name"], "Two");
        assert_eq!((rows[0].line, rows[1].line), (2, 5));
    }

    #[test]
    fn lines_of_only_spaces_or_delimiters_are_skipped_like_blank_ones() {
        let (rows, rejected) = read_str(
            Entity::Cells,
            "external_id;external_source;name\nC1;ERP;One\n   \n;;\n ; ;\t\nC2;ERP;Two\n;;;;\n",
        )
        .unwrap();
        assert!(rejected.is_empty(), "{rejected:?}");
        assert_eq!(objects(&rows)[1]["name"], "Two");
        assert_eq!((rows[0].line, rows[1].line), (2, 6));
    }

    #[test]
    fn quoted_cells_spanning_lines_report_the_line_their_row_starts_on() {
        let (rows, rejected) = read_str(
            Entity::Cells,
            "external_id,external_source,name,notes,wip_limit\n\
             C1,ERP,One,\"two\nlines\",1\n\
             C2,ERP,Two,,lots\n",
        )
        .unwrap();
        assert_eq!(objects(&rows)[0]["notes"], "two\nlines");
        assert_eq!(rejected[0].line, 4);
        assert_eq!(rejected[0].field.as_deref(), Some("wip_limit"));
    }

    #[test]
    fn semicolon_and_tab_files_are_read_like_comma_files() {
        let comma = "external_id,external_source,name,capacity_hours_per_day\n\
                     C1,ERP,\"Müller; Söhne\",7.5\n";
        let semicolon = "external_id;external_source;name;capacity_hours_per_day\n\
                         C1;ERP;Müller; Söhne;7.5\n"
            .replace("Müller; Söhne", "\"Müller; Söhne\"");
        let tab = "external_id\texternal_source\tname\tcapacity_hours_per_day\n\
                   C1\tERP\tMüller; Söhne\t7.5\n";
        let expected = read_str(Entity::Cells, comma).unwrap();
        assert_eq!(objects(&expected.0)[0]["name"], "Müller; Söhne");
        assert_eq!(read_str(Entity::Cells, &semicolon).unwrap(), expected);
        assert_eq!(read_str(Entity::Cells, tab).unwrap(), expected);
        let told = read(Entity::Cells, "t.csv", tab, Some(b'\t')).unwrap();
        assert_eq!(told, expected);
        let wrong = read(Entity::Cells, "t.csv", tab, Some(b',')).unwrap_err();
        assert!(wrong.contains("--delimiter tab"), "{wrong}");
    }

    #[test]
    fn a_trailing_delimiter_leaves_no_column_and_its_cells_are_ignored_when_empty() {
        let (rows, rejected) = read_str(
            Entity::Cells,
            "external_id,name,\nC1,One,\nC2,Two\nC3,Three, \nC4,Four,oops\nC5,Five,,\n",
        )
        .unwrap();
        let names: Vec<Value> = objects(&rows).iter().map(|o| o["name"].clone()).collect();
        assert_eq!(names, [json!("One"), json!("Two"), json!("Three")]);
        assert_eq!(
            objects(&rows)[0],
            json!({"external_id": "C1", "name": "One"})
        );
        let found: Vec<(u64, &str)> = rejected
            .iter()
            .map(|r| (r.line, r.error.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                (
                    5,
                    "has \"oops\" in column 3, which has no name in the header"
                ),
                (6, "has 4 values but the header has 2 columns"),
            ]
        );
    }
}
