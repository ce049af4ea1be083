//! A CSV file's header row: the delimiter it is written with and the field each column is.
//!
//! The fields come from the entity schema the server writes with, so a field added there is
//! accepted here without a second list to keep in step.

use std::collections::HashSet;

use super::csv_rows::FieldType;
use crate::domain::schema::Kind;
use crate::domain::Entity;

/// The delimiters a header is tried with, in the order that breaks ties.
pub const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// The `--delimiter` value parser: the character itself, or a name for the ones a shell or an
/// eye makes awkward (`tab`, `\t`).
pub fn parse_delimiter(text: &str) -> Result<u8, String> {
    match text.to_ascii_lowercase().as_str() {
        "," | "comma" => Ok(b','),
        ";" | "semicolon" => Ok(b';'),
        "\t" | "\\t" | "tab" => Ok(b'\t'),
        "|" | "pipe" => Ok(b'|'),
        _ => Err(format!(
            "{text:?} is not a delimiter: use ',', ';', tab or '|'"
        )),
    }
}

/// A delimiter as a message names it.
fn described(delimiter: u8) -> &'static str {
    match delimiter {
        b',' => "','",
        b';' => "';'",
        b'\t' => "a tab",
        b'|' => "'|'",
        _ => "the delimiter",
    }
}

/// A delimiter as `--delimiter` takes it on a command line.
fn as_flag(delimiter: u8) -> &'static str {
    match delimiter {
        b',' => "','",
        b';' => "';'",
        b'\t' => "tab",
        b'|' => "'|'",
        _ => "…",
    }
}

/// The payload field naming a parent row: a flat record points at it by the ERP's key, or
/// for a cell by its name.
fn reference_field(parent: Entity) -> &'static str {
    match parent {
        Entity::Jobs => "job_external_id",
        Entity::Parts => "part_external_id",
        Entity::Cells => "cell_name",
        Entity::Operations => "operation_external_id",
        Entity::Resources => "resource_external_id",
    }
}

/// Every column a CSV file of `entity` may have, with its type.
pub fn fields(entity: Entity) -> Vec<(&'static str, FieldType)> {
    let mut fields = vec![
        ("external_id", FieldType::Text),
        ("external_source", FieldType::Text),
    ];
    fields.extend(entity.columns().iter().map(|column| match column.kind {
        Kind::Reference(parent) => (reference_field(parent), FieldType::Text),
        Kind::Text => (column.name, FieldType::Text),
        Kind::Int => (column.name, FieldType::Integer),
        Kind::Real => (column.name, FieldType::Number),
        Kind::Bool => (column.name, FieldType::Boolean),
        Kind::Date => (column.name, FieldType::Date),
        Kind::Time => unreachable!("synced columns hold no floor times"),
        Kind::Json => (column.name, FieldType::Object),
    }));
    fields
}

/// The first record of `text` split at `delimiter`, with CSV quoting.
fn first_record(text: &str, delimiter: u8) -> csv::StringRecord {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let mut record = csv::StringRecord::new();
    match reader.read_record(&mut record) {
        Ok(true) => record,
        _ => csv::StringRecord::new(),
    }
}

/// The delimiter the header row is written with. Each of [`DELIMITERS`] splits the header;
/// the one giving the most names that are fields of the entity wins, then the one giving the
/// most columns, then the earlier in the list. A header is meant to name fields, and a
/// field's name holds none of these characters, so the right delimiter is the one that frees
/// the most of them; a header naming no field at all still splits where it has columns, so
/// that the unknown-column error quotes one name rather than the whole line. The same file
/// always gives the same answer.
pub fn detect_delimiter(entity: Entity, text: &str) -> u8 {
    let known = fields(entity);
    let score = |delimiter: u8| {
        let header = first_record(text, delimiter);
        let named = header
            .iter()
            .filter(|name| known.iter().any(|(field, _)| field == &name.trim()))
            .count();
        (named, header.len())
    };
    let mut best = DELIMITERS[0];
    let mut best_score = score(best);
    for delimiter in &DELIMITERS[1..] {
        let score = score(*delimiter);
        if score > best_score {
            (best, best_score) = (*delimiter, score);
        }
    }
    best
}

/// The header mapped to fields.
#[derive(Debug)]
pub struct Columns {
    /// The field of each named column, in order.
    pub fields: Vec<(&'static str, FieldType)>,
    /// Columns in the header, counting the nameless ones a trailing delimiter leaves at its
    /// end: a row may have as many, as long as they are empty.
    pub width: usize,
}

/// Maps the header to the entity's fields. A name that is no field fails the whole file: a
/// misspelt column would otherwise drop its data without a word. Empty names at the end are
/// what a trailing delimiter leaves (`external_id,name,`) and are not columns.
pub fn columns(
    entity: Entity,
    header: &csv::StringRecord,
    delimiter: u8,
) -> Result<Columns, String> {
    let known = fields(entity);
    let width = header.len();
    let named = (0..width)
        .rev()
        .find(|&i| !header[i].trim().is_empty())
        .map_or(0, |last| last + 1);
    let mut columns = Vec::with_capacity(named);
    let mut seen = HashSet::new();
    for (i, name) in header.iter().take(named).enumerate() {
        let name = name.trim();
        if name.is_empty() {
            return Err(format!(
                "column {} has no name in the header; every column before the last named \
                 one needs one",
                i + 1
            ));
        }
        let Some(&(field, kind)) = known.iter().find(|(field, _)| *field == name) else {
            let names: Vec<&str> = known.iter().map(|(field, _)| *field).collect();
            return Err(format!(
                "column {} ({:?}) is not a field of {}; they are: {}{}",
                i + 1,
                name,
                entity.plural(),
                names.join(", "),
                other_delimiter_hint(name, delimiter)
            ));
        };
        if !seen.insert(field) {
            return Err(format!("column {field:?} appears twice in the header"));
        }
        columns.push((field, kind));
    }
    Ok(Columns {
        fields: columns,
        width,
    })
}

/// A column name holding another delimiter is most likely several names: the file is
/// written with that one (or `--delimiter` named the wrong one).
fn other_delimiter_hint(name: &str, delimiter: u8) -> String {
    DELIMITERS
        .into_iter()
        .filter(|&other| other != delimiter)
        .find(|&other| name.as_bytes().contains(&other))
        .map_or_else(String::new, |other| {
            format!(
                ". The header contains {0}, not {1}: is the file {0}-separated? Try \
                 --delimiter {2}",
                described(other),
                described(delimiter),
                as_flag(other)
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiters_are_named_by_character_or_word() {
        assert_eq!(parse_delimiter(","), Ok(b','));
        assert_eq!(parse_delimiter(";"), Ok(b';'));
        assert_eq!(parse_delimiter("tab"), Ok(b'\t'));
        assert_eq!(parse_delimiter("TAB"), Ok(b'\t'));
        assert_eq!(parse_delimiter("\\t"), Ok(b'\t'));
        assert_eq!(parse_delimiter("\t"), Ok(b'\t'));
        assert_eq!(parse_delimiter("|"), Ok(b'|'));
        assert!(parse_delimiter(":").unwrap_err().contains("tab"));
    }

    #[test]
    fn the_header_tells_the_delimiter() {
        let detect = |text| detect_delimiter(Entity::Jobs, text);
        assert_eq!(detect("external_id,job_number,customer\n"), b',');
        assert_eq!(
            detect("external_id;job_number;customer\nJ;1;\"A, B\"\n"),
            b';'
        );
        assert_eq!(detect("external_id\tjob_number\n"), b'\t');
        assert_eq!(detect("external_id|job_number\n"), b'|');
        assert_eq!(
            detect("\"external_id\",\"note; here\"\n"),
            b',',
            "a quoted name is one name"
        );
        assert_eq!(
            detect("Nummer;Kunde;Termin\n"),
            b';',
            "no field: most columns"
        );
        assert_eq!(detect("external_id\n"), b',', "a tie: the earlier");
        assert_eq!(detect(""), b',');
    }

    fn header_of(entity: Entity, text: &str) -> Result<Columns, String> {
        columns(entity, &first_record(text, b','), b',')
    }

    fn header(text: &str, delimiter: u8) -> Result<Columns, String> {
        columns(Entity::Cells, &first_record(text, delimiter), delimiter)
    }

    #[test]
    fn an_unknown_column_rejects_the_file_naming_it() {
        let error = header_of(
            Entity::Parts,
            "external_id,external_source,part_number,job_external_id,quantiy\nP,E,p,J,1\n",
        )
        .unwrap_err();
        assert!(error.contains("\"quantiy\""), "{error}");
        assert!(error.contains("column 5"), "{error}");
        assert!(
            error.contains("quantity"),
            "lists the known fields: {error}"
        );
        let nested = header_of(Entity::Jobs, "external_id,parts\n").unwrap_err();
        assert!(nested.contains("\"parts\""), "{nested}");
        let twice = header_of(Entity::Cells, "external_id,name,name\n").unwrap_err();
        assert!(twice.contains("twice"), "{twice}");
    }

    #[test]
    fn trailing_nameless_columns_are_not_columns() {
        let columns = header("external_id,name,", b',').unwrap();
        let names: Vec<&str> = columns.fields.iter().map(|(f, _)| *f).collect();
        assert_eq!((names, columns.width), (vec!["external_id", "name"], 3));
        assert_eq!(header("external_id;name;;", b';').unwrap().width, 4);
        let error = header("external_id,,name", b',').unwrap_err();
        assert!(error.contains("column 2 has no name"), "{error}");
    }

    #[test]
    fn an_unknown_column_holding_another_delimiter_suggests_it() {
        let error = header("external_id;name;notes", b',').unwrap_err();
        assert!(
            error.starts_with("column 1 (\"external_id;name;notes\") is not a field of cells"),
            "{error}"
        );
        assert!(
            error.ends_with(
                "The header contains ';', not ',': is the file ';'-separated? \
                 Try --delimiter ';'"
            ),
            "{error}"
        );
        let tab = header("external_id\tname", b';').unwrap_err();
        assert!(tab.ends_with("Try --delimiter tab"), "{tab}");
        let plain = header("external_id,nme", b',').unwrap_err();
        assert!(!plain.contains("--delimiter"), "{plain}");
    }
}
