//! Turns a request into a batch of valid records plus the records rejected before any write:
//! each record is decoded on its own so one bad record never blocks the others.

use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;

use rayon::prelude::*;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::decode::{decode, FieldError};
use super::expect::{read, Expected, List};
use super::outcome::{RecordError, RecordResult};
use super::record::{Indexed, Payload, RecordKey, SyncBatch};
use super::schema::Entity;
use super::value::Children;

/// Most records one bulk-sync request may carry.
pub const MAX_BULK_RECORDS: usize = 1000;

/// From how many records a bulk body's records are decoded on all cores: each decodes on its
/// own, and below this the hand-over to other threads costs more than it saves.
const PARALLEL_FROM: usize = 64;

/// A bulk-sync body, `{"<entity plural>": [ … ]}`, with each record still raw JSON.
#[derive(Debug)]
pub struct BulkBody<P> {
    pub records: Vec<Box<RawValue>>,
    /// The key the records came under, `<entity plural>` or `items`, for errors.
    array_key: &'static str,
    payload: PhantomData<fn() -> P>,
}

impl<'de, P: Payload> Deserialize<'de> for BulkBody<P> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        read(deserializer)
    }
}

impl<'de, P: Payload> Expected<'de> for BulkBody<P> {
    fn what(f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a JSON object with a `{}` list", P::ENTITY.plural())
    }

    fn object<A: MapAccess<'de>>(mut map: A) -> Result<BulkBody<P>, A::Error> {
        let array_key = P::ENTITY.plural();
        let mut found: Option<(&'static str, Vec<Box<RawValue>>)> = None;
        while let Some(key) = map.next_key::<String>()? {
            // `items` is what clients of Eryxon's hosted API send.
            let key = match key.as_str() {
                "items" => "items",
                key if key == array_key => array_key,
                other => {
                    let message = format!("unknown field `{other}`, expected `{array_key}`");
                    return Err(refuse_value(&mut map, message));
                }
            };
            match found {
                Some((first, _)) if first == key => return Err(de::Error::duplicate_field(key)),
                Some((first, _)) => {
                    let message = format!("send `{first}` or `{key}`, not both");
                    return Err(refuse_value(&mut map, message));
                }
                None => found = Some((key, map.next_value::<List<_>>()?.0)),
            }
        }
        let (array_key, records) = found.ok_or_else(|| de::Error::missing_field(array_key))?;
        Ok(BulkBody {
            records,
            array_key,
            payload: PhantomData,
        })
    }
}

/// Refuses the key just read, as the error of its value, so that the error's path names it.
fn refuse_value<'de, A: MapAccess<'de>>(map: &mut A, message: String) -> A::Error {
    match map.next_value_seed(Refusal(message)) {
        Ok(never) => match never {},
        Err(error) => error,
    }
}

struct Refusal(String);

impl<'de> DeserializeSeed<'de> for Refusal {
    type Value = std::convert::Infallible;

    fn deserialize<D: Deserializer<'de>>(self, _: D) -> Result<Self::Value, D::Error> {
        Err(de::Error::custom(self.0))
    }
}

/// A request split into what a store should write and what was already refused.
#[derive(Debug)]
pub struct Prepared {
    pub batch: SyncBatch,
    pub rejected: Vec<RecordResult>,
}

/// Decodes and checks every record of a bulk body, under the request's `children` mode. Fails
/// as a whole only when the body holds more records than one request may carry, so that
/// nothing of an oversized request is written.
pub fn prepare_bulk<P: Payload>(
    body: BulkBody<P>,
    children: Option<Children>,
) -> Result<Prepared, FieldError> {
    let count = body.records.len();
    if count > MAX_BULK_RECORDS {
        return Err(FieldError::new(
            body.array_key,
            format!(
                "a bulk-sync request takes at most {MAX_BULK_RECORDS} records; this one has {count}"
            ),
        ));
    }
    let decoded: Vec<_> = if count >= PARALLEL_FROM {
        body.records
            .par_iter()
            .map(|raw| decode_one::<P>(raw))
            .collect()
    } else {
        body.records
            .iter()
            .map(|raw| decode_one::<P>(raw))
            .collect()
    };
    Ok(prepare::<P>(decoded.into_iter(), children))
}

fn decode_one<P: Payload>(raw: &RawValue) -> Decoded<'_, P> {
    let item = decode::<P>(raw.get().as_bytes()).and_then(P::into_item);
    (item, Some(raw))
}

/// Checks a single record the same way a bulk record is checked.
pub fn prepare_one<P: Payload>(
    payload: P,
    children: Option<Children>,
) -> Result<SyncBatch, RecordError> {
    let item = payload.into_item();
    let mut prepared = prepare::<P>(std::iter::once((item, None)), children);
    match prepared.rejected.pop() {
        Some(rejected) => Err(rejected
            .outcome
            .expect_err("only rejected records are listed")),
        None => Ok(prepared.batch),
    }
}

/// A decoded item, with its raw JSON where there is one (to name a rejected record).
type Decoded<'r, P> = (
    Result<<P as Payload>::Item, FieldError>,
    Option<&'r RawValue>,
);

/// Checks decoded items.
fn prepare<'r, P: Payload>(
    decoded: impl Iterator<Item = Decoded<'r, P>>,
    children: Option<Children>,
) -> Prepared {
    // Settled before keys are compared: a record refused here claims no key, as one refused
    // while decoding (`properties`' model checks in this order).
    let decoded: Vec<_> = decoded
        .map(|(item, raw)| {
            let item = item.and_then(|mut item| P::settle(&mut item, children).map(|()| item));
            (item, raw)
        })
        .collect();
    let repeats = repeated_keys::<P>(&decoded);
    let mut accepted = Vec::with_capacity(decoded.len());
    let mut rejected = Vec::new();
    for (index, ((item, raw), repeat)) in decoded.into_iter().zip(repeats).enumerate() {
        let checked = item
            .map_err(RecordError::invalid)
            .and_then(|item| repeat.map_or(Ok(item), Err));
        match checked {
            Ok(item) => accepted.push(Indexed { index, item }),
            Err(error) => rejected.push(RecordResult {
                index,
                external_id: raw.and_then(lenient_external_id),
                outcome: Err(error),
            }),
        }
    }
    Prepared {
        batch: P::batch(accepted),
        rejected,
    }
}

/// Per item, in order: the error rejecting it for writing a key that an earlier accepted item
/// (or the item itself) already writes.
fn repeated_keys<P: Payload>(decoded: &[Decoded<'_, P>]) -> Vec<Option<RecordError>> {
    let mut first_seen = HashMap::with_capacity(decoded.len());
    decoded
        .iter()
        .enumerate()
        .map(|(index, (item, _))| {
            let item = item.as_ref().ok()?;
            claim_keys::<P>(item, index, &mut first_seen).err()
        })
        .collect()
}

/// Records every key an item writes; a key already written by an earlier record (or earlier
/// in the same item) rejects the item, since the request would contradict itself.
fn claim_keys<'a, P: Payload>(
    item: &'a P::Item,
    index: usize,
    first_seen: &mut HashMap<(Entity, &'a RecordKey), usize>,
) -> Result<(), RecordError> {
    let keys = P::keys(item);
    let mut claimed = Vec::with_capacity(keys.len());
    for (entity, key, place) in keys {
        let id = (entity, key);
        if let Some(&first) = first_seen.get(&id) {
            for id in claimed {
                first_seen.remove(&id);
            }
            let first = if first == index {
                "earlier in this record".to_owned()
            } else {
                format!("at index {first}")
            };
            return Err(RecordError::invalid(FieldError::new(
                place.field(),
                format!(
                    "{} external_id {:?} (source {:?}) appears more than once in this request; first {first}",
                    entity.singular(),
                    key.external_id,
                    key.source
                ),
            )));
        }
        first_seen.insert(id, index);
        claimed.push(id);
    }
    Ok(())
}

/// The `external_id` of a record that failed to decode, if it has a readable one, so its
/// error result can still name it.
fn lenient_external_id(raw: &RawValue) -> Option<String> {
    #[derive(Deserialize)]
    struct Probe {
        external_id: Option<serde_json::Value>,
    }
    // serde's derive would also read the probe from an array, taking its first element as
    // the `external_id`; only an object names one.
    if !raw.get().trim_start().starts_with('{') {
        return None;
    }
    match serde_json::from_str::<Probe>(raw.get()).ok()?.external_id? {
        serde_json::Value::String(id) => Some(id),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::record::{CellPayload, JobPayload};

    fn bulk<P: Payload>(json: &str) -> Result<Prepared, FieldError> {
        prepare_bulk(decode::<BulkBody<P>>(json.as_bytes())?, None)
    }

    #[test]
    fn a_bad_record_is_rejected_alone_with_its_external_id() {
        let prepared = bulk::<CellPayload>(
            r#"{"cells":[{"external_id":"A","external_source":"S","name":"a"},
                         {"external_id":"B","external_source":"S","name":"b","color":"red"},
                         {"external_id":"C","external_source":"S","name":"c"}]}"#,
        )
        .unwrap();
        assert_eq!(prepared.batch.len(), 2);
        assert_eq!(prepared.rejected.len(), 1);
        let rejected = &prepared.rejected[0];
        assert_eq!(rejected.index, 1);
        assert_eq!(rejected.external_id.as_deref(), Some("B"));
        let error = rejected.outcome.as_ref().unwrap_err();
        assert_eq!(error.field.as_deref(), Some("color"));
    }

    #[test]
    fn a_repeated_external_id_rejects_the_repeat_only() {
        let prepared = bulk::<CellPayload>(
            r#"{"cells":[{"external_id":"A","external_source":"S","name":"a"},
                         {"external_id":"A","external_source":"OTHER","name":"a"},
                         {"external_id":"A","external_source":"S","name":"again"}]}"#,
        )
        .unwrap();
        assert_eq!(prepared.batch.len(), 2);
        assert_eq!(prepared.rejected[0].index, 2);
        let error = prepared.rejected[0].outcome.as_ref().unwrap_err();
        assert!(
            error.message.contains("first at index 0"),
            "{}",
            error.message
        );
    }

    #[test]
    fn a_part_claimed_by_two_jobs_rejects_the_second_job() {
        let prepared = bulk::<JobPayload>(
            r#"{"jobs":[
                {"external_id":"J1","external_source":"S","job_number":"1",
                 "parts":[{"external_id":"P","part_number":"p"}]},
                {"external_id":"J2","external_source":"S","job_number":"2",
                 "parts":[{"external_id":"Q","part_number":"q"},{"external_id":"P","part_number":"p"}]}]}"#,
        )
        .unwrap();
        let error = prepared.rejected[0].outcome.as_ref().unwrap_err();
        assert_eq!(error.field.as_deref(), Some("parts[1].external_id"));
        // The rejected job's own part Q stays free for later records.
        assert_eq!(prepared.batch.len(), 1);
    }

    #[test]
    fn oversized_and_misnamed_bodies_are_refused_whole() {
        let records = vec![r#"{"external_id":"A","external_source":"S","name":"a"}"#; 1001];
        let json = format!(r#"{{"cells":[{}]}}"#, records.join(","));
        let error = bulk::<CellPayload>(&json).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("cells"));
        let error = bulk::<CellPayload>(&json.replace("cells", "items")).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("items"));
        let error = bulk::<CellPayload>(r#"{"jobs":[]}"#).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("jobs"));
        let error = bulk::<CellPayload>(r#"{}"#).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("cells"));
        let error = bulk::<CellPayload>(r#"{"cells":[],"items":[]}"#).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("items"), "{}", error.message);
        let error = bulk::<CellPayload>(r#"{"items":[],"items":[]}"#).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("items"), "{}", error.message);
        let error = bulk::<CellPayload>(r#"{"cells":[],"a.b":[]}"#).unwrap_err();
        assert_eq!(
            error.field.as_deref(),
            Some(r#"["a.b"]"#),
            "{}",
            error.message
        );
    }

    #[test]
    fn items_is_accepted_for_the_records() {
        let prepared = bulk::<CellPayload>(
            r#"{"items":[{"external_id":"A","external_source":"S","name":"a"}]}"#,
        )
        .unwrap();
        assert_eq!(prepared.batch.len(), 1);
    }
}
