//! The invariants the fuzz targets in `fuzz/` assert, kept here so that
//! `tests/fuzz_regressions.rs` replays saved inputs through the very same checks on stable Rust.
//! Built only with the `fuzzing` feature, which `fuzz/` and that test turn on: the server
//! itself does not carry it.
//!
//! Each check runs the code the server runs for a request body or an `Authorization` header and
//! returns `Err` describing the breach when the answer is anything but a validated value that
//! agrees with the input, or a refusal that tells the client precisely what is wrong: a
//! `400 VALIDATION_ERROR` naming a field that exists in the request (or, with no field, a JSON
//! syntax error with its position, or a body or record that is not an object at all) in the
//! API's words rather than serde's, or a `401` with one of the fixed key messages. A panic is a breach too; the fuzzer catches it.

use std::collections::{HashMap, HashSet};

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use serde_json::value::RawValue;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::auth::presented_key;
use super::json::decode_body;
use super::ApiError;
use crate::domain::api_key::{LOOKUP_CHARS, SECRET_CHARS};
use crate::domain::batch::{prepare_bulk, prepare_one, BulkBody, Prepared};
use crate::domain::decode::{FieldError, KEY_ERROR};
use crate::domain::outcome::ErrorCode;
use crate::domain::record::{
    CellPayload, JobPayload, Keys, OperationPayload, PartPayload, Payload, ResourcePayload,
    SyncBatch,
};
use crate::domain::Entity;

/// The endpoints a sync body goes to: each entity's `PUT …/sync` (`false`) and
/// `POST …/bulk-sync` (`true`). A fuzz input's first byte, modulo 10, picks one.
pub const ENDPOINTS: [(Entity, bool); 10] = [
    (Entity::Jobs, false),
    (Entity::Jobs, true),
    (Entity::Parts, false),
    (Entity::Parts, true),
    (Entity::Operations, false),
    (Entity::Operations, true),
    (Entity::Cells, false),
    (Entity::Cells, true),
    (Entity::Resources, false),
    (Entity::Resources, true),
];

/// Decodes and prepares `body` as the endpoint `ENDPOINTS[selector % 10]` does.
pub fn check_sync_body(selector: u8, body: &[u8]) -> Result<(), String> {
    let (entity, bulk) = ENDPOINTS[usize::from(selector) % ENDPOINTS.len()];
    match entity {
        Entity::Jobs => check_body::<JobPayload>(bulk, body),
        Entity::Parts => check_body::<PartPayload>(bulk, body),
        Entity::Operations => check_body::<OperationPayload>(bulk, body),
        Entity::Cells => check_body::<CellPayload>(bulk, body),
        Entity::Resources => check_body::<ResourcePayload>(bulk, body),
    }
}

fn check_body<P: Payload>(bulk: bool, body: &[u8]) -> Result<(), String> {
    // `None` where serde_json cannot hold the document as a `Value`, e.g. for a number out of
    // range, which the server must refuse on its field.
    let json: Option<Value> = serde_json::from_slice(body).ok();
    if bulk {
        // As `sync::sync_bulk` does.
        let prepared = decode_body::<BulkBody<P>>(body)
            .and_then(|body| prepare_bulk(body, None).map_err(ApiError::invalid));
        match prepared {
            Ok(prepared) => {
                let mut wrapper: HashMap<String, Vec<Box<RawValue>>> =
                    serde_json::from_slice(body).map_err(|e| format!("accepted {e}"))?;
                let records = match wrapper.drain().collect::<Vec<_>>().as_slice() {
                    [(key, records)] if *key == P::ENTITY.plural() || key == "items" => records
                        .iter()
                        .map(|raw| serde_json::from_str(raw.get()).ok())
                        .collect::<Vec<_>>(),
                    _ => return Err("accepted a bulk body without one records array".into()),
                };
                check_bulk(prepared, &records)
            }
            Err(error) => check_refusal(&error, json.as_ref()),
        }
    } else {
        // As `sync::sync_one` does.
        let batch =
            decode_body::<P>(body).and_then(|p| prepare_one(p, None).map_err(ApiError::rejected));
        match batch {
            Ok(batch) if batch.len() == 1 => check_accepted(&batch, &[json]),
            Ok(batch) => Err(format!("one record in, {} out", batch.len())),
            Err(error) => check_refusal(&error, json.as_ref()),
        }
    }
}

/// Every record is either accepted or rejected, once, and each rejection names its field.
fn check_bulk(prepared: Prepared, records: &[Option<Value>]) -> Result<(), String> {
    let mut seen = vec![false; records.len()];
    let indices = batch_keys(&prepared.batch)
        .into_iter()
        .map(|(index, _)| index)
        .chain(prepared.rejected.iter().map(|r| r.index));
    for index in indices {
        match seen.get_mut(index) {
            Some(seen) if !*seen => *seen = true,
            _ => return Err(format!("record {index} answered twice or out of range")),
        }
    }
    if let Some(index) = seen.iter().position(|seen| !seen) {
        return Err(format!("record {index} got no answer"));
    }
    for rejected in &prepared.rejected {
        let record = records[rejected.index].as_ref();
        let error = rejected
            .outcome
            .as_ref()
            .err()
            .ok_or("a rejected record without an error")?;
        if error.code != ErrorCode::ValidationError {
            return Err(format!("{:?} before any store call", error.code));
        }
        // The body parsed: a position inside one record would only mislead.
        if error.message.starts_with("invalid JSON") {
            return Err(format!("record {}: {}", rejected.index, error.message));
        }
        let error = FieldError {
            field: error.field.clone(),
            message: error.message.clone(),
        };
        check_field_error(&error, record).map_err(|e| format!("record {}: {e}", rejected.index))?;
        // A rejection names the record by the external_id it was sent with; it may leave the
        // name out when it cannot read one (a repeated `external_id` key, say).
        let external_id = record
            .and_then(|record| record.get("external_id"))
            .and_then(Value::as_str);
        if record.is_some()
            && rejected.external_id.is_some()
            && rejected.external_id.as_deref() != external_id
        {
            return Err(format!(
                "record {} rejected as external_id {:?}, sent {external_id:?}",
                rejected.index, rejected.external_id
            ));
        }
    }
    check_accepted(&prepared.batch, records)
}

/// Accepted records carry the keys the request sent, where it sent them, each key once.
fn check_accepted(batch: &SyncBatch, records: &[Option<Value>]) -> Result<(), String> {
    let mut unique = HashSet::new();
    for (index, keys) in batch_keys(batch) {
        let record = records
            .get(index)
            .and_then(Option::as_ref)
            .filter(|record| record.is_object())
            .ok_or(format!("accepted record {index}, which is not an object"))?;
        let source = record.get("external_source").and_then(Value::as_str);
        for (entity, key, field) in keys {
            let field = field.field();
            let sent = path(&field)
                .and_then(|path| resolve(record, &path))
                .and_then(Value::as_str);
            if sent != Some(key.external_id.as_str()) || source != Some(key.source.as_str()) {
                return Err(format!(
                    "record {index}: accepted {key:?} at {field}, sent {sent:?} from {source:?}"
                ));
            }
            if !unique.insert((entity, key)) {
                return Err(format!("record {index}: {key:?} accepted twice"));
            }
        }
    }
    Ok(())
}

fn batch_keys(batch: &SyncBatch) -> Vec<(usize, Keys<'_>)> {
    match batch {
        SyncBatch::Jobs(items) => items
            .iter()
            .map(|i| (i.index, JobPayload::keys(&i.item)))
            .collect(),
        SyncBatch::Parts(items) => items
            .iter()
            .map(|i| (i.index, PartPayload::keys(&i.item)))
            .collect(),
        SyncBatch::Operations(items) => items
            .iter()
            .map(|i| (i.index, OperationPayload::keys(&i.item)))
            .collect(),
        SyncBatch::Cells(items) => items
            .iter()
            .map(|i| (i.index, CellPayload::keys(&i.item)))
            .collect(),
        SyncBatch::Resources(items) => items
            .iter()
            .map(|i| (i.index, ResourcePayload::keys(&i.item)))
            .collect(),
    }
}

/// A whole request refused: `400 VALIDATION_ERROR` with one precise detail.
fn check_refusal(error: &ApiError, json: Option<&Value>) -> Result<(), String> {
    match error {
        ApiError::Validation { message, details } if error.status() == StatusCode::BAD_REQUEST => {
            match details.as_slice() {
                [detail] if *message == detail.describe() => check_field_error(detail, json),
                _ => Err(format!("{message:?} with details {details:?}")),
            }
        }
        other => Err(format!("refused with {}: {other}", other.status())),
    }
}

/// How serde's own refusals begin; they name Rust types (`expected i64`, `struct JobPayload`,
/// `sequence`, `map`), where every field type says what it must be in the API's words.
const RUST_WORDED: [&str; 3] = ["invalid type: ", "invalid value: ", "invalid length "];

/// The error names a field of `json` (the body, or the record of a bulk body), or, without a
/// field, is a syntax error with its position, or a body or record that is not an object.
fn check_field_error(error: &FieldError, json: Option<&Value>) -> Result<(), String> {
    let message = &error.message;
    let syntax = message.starts_with("invalid JSON: ");
    // Syntax errors end with their position; others name a field instead.
    let position = message.rsplit_once(" at line ").is_some_and(|(_, at)| {
        at.split_once(" column ").is_some_and(|(line, column)| {
            [line, column]
                .iter()
                .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
    });
    if message.trim().is_empty() || syntax != position {
        return Err(format!("imprecise message {message:?}"));
    }
    if RUST_WORDED.iter().any(|lead| message.starts_with(lead)) {
        return Err(format!("message in Rust's words {message:?}"));
    }
    let Some(field) = &error.field else {
        return match json {
            _ if error.message.starts_with(KEY_ERROR) => Ok(()),
            Some(json) if !syntax && json.is_object() => {
                Err(format!("no field named for {message:?} on an object"))
            }
            _ => Ok(()),
        };
    };
    if syntax {
        return Err(format!("syntax error at field {field:?}"));
    }
    let path = path(field).ok_or(format!("malformed field path {field:?} ({message})"))?;
    let Some(json) = json else {
        // The error came before the rest of the body turned out not to be JSON.
        return Ok(());
    };
    let (last, parent) = path.split_last().expect("paths are never empty");
    let parent = resolve(json, parent).ok_or(format!("{field:?} is not in the request"))?;
    let sent = match (last, parent) {
        (Segment::Key(key), Value::Object(object)) => object.get(key),
        (Segment::Index(index), Value::Array(items)) => items.get(*index),
        _ => return Err(format!("{field:?} is not in the request")),
    };
    // "missing field `x`" for a field that was sent (`null` counts as missing for a field that
    // cannot be null), or any other error for one that was not, points the client at the
    // wrong place.
    let agrees = if message.starts_with("missing field") {
        sent.is_none_or(Value::is_null)
    } else {
        sent.is_some()
    };
    if !agrees {
        return Err(format!("{field:?}: {message:?} does not match the request"));
    }
    Ok(())
}

#[derive(Debug)]
enum Segment {
    Key(String),
    Index(usize),
}

/// `parts[0].operations[1].cell_name` → `parts`, `0`, `operations`, `1`, `cell_name`; a key
/// that is not a plain name comes quoted as in JSON, `parts[0]["a.b"]`. `None` if malformed.
fn path(field: &str) -> Option<Vec<Segment>> {
    let plain =
        |key: &str| !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    let mut segments = Vec::new();
    let mut rest = field;
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('[').filter(|r| r.starts_with('"')) {
            let mut strings = serde_json::Deserializer::from_str(quoted).into_iter::<String>();
            let key = strings.next()?.ok()?;
            rest = quoted[strings.byte_offset()..].strip_prefix(']')?;
            if plain(&key) {
                return None;
            }
            segments.push(Segment::Key(key));
        } else if let Some(indexed) = rest.strip_prefix('[') {
            let (index, after) = indexed.split_once(']')?;
            if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            segments.push(Segment::Index(index.parse().ok()?));
            rest = after;
        } else {
            if !segments.is_empty() {
                rest = rest.strip_prefix('.')?;
            }
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            if !plain(&rest[..end]) {
                return None;
            }
            segments.push(Segment::Key(rest[..end].to_owned()));
            rest = &rest[end..];
        }
    }
    (!segments.is_empty()).then_some(segments)
}

fn resolve<'a>(json: &'a Value, path: &[Segment]) -> Option<&'a Value> {
    path.iter().try_fold(json, |value, segment| match segment {
        Segment::Key(key) => value.as_object()?.get(key),
        Segment::Index(index) => value.as_array()?.get(*index),
    })
}

/// Messages a refused `Authorization` header may get: fixed, so that no part of a key is ever
/// echoed back.
const KEY_MESSAGES: [&str; 4] = [
    "malformed Authorization header",
    "expected `Authorization: Bearer <api key>`",
    "API keys start with ery_live_ or ery_test_",
    "malformed API key",
];

/// Parses an `Authorization` header value as the authentication middleware does.
pub fn check_key_header(value: &[u8]) -> Result<(), String> {
    let Ok(value) = HeaderValue::from_bytes(value) else {
        // Not a header value HTTP can carry: the request never reaches the server.
        return Ok(());
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::AUTHORIZATION, value.clone());
    match presented_key(&headers) {
        Ok(key) => {
            let text = value.to_str().map_err(|_| "accepted a non-text header")?;
            let secret = text
                .trim()
                .split_once(' ')
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, secret)| secret.trim())
                .ok_or(format!("accepted {text:?} without the Bearer scheme"))?;
            let random = secret
                .strip_prefix(&format!("ery_{}_", key.mode.as_str()))
                .filter(|r| r.len() == SECRET_CHARS && r.bytes().all(|b| b.is_ascii_alphanumeric()))
                .ok_or(format!("accepted {secret:?} as a {:?} key", key.mode))?;
            if key.lookup != random[..LOOKUP_CHARS]
                || !key.matches(&hex::encode(Sha256::digest(secret)))
            {
                return Err(format!("{secret:?} parsed into another key"));
            }
            Ok(())
        }
        Err(ApiError::Unauthorized(message)) if KEY_MESSAGES.contains(&message.as_str()) => Ok(()),
        Err(other) => Err(format!("refused with {}: {other}", other.status())),
    }
}
