//! The ceiling with an event log: besides the ceiling's upsert, in the same transaction, one
//! event per written row carrying the row as a record shows it, written as the server writes
//! them on SQLite (200-row `VALUES` statements of plain placeholders) and by one statement of
//! typed arrays through `unnest` on PostgreSQL, positions taken from `event_positions` as the
//! server takes them. It is the least any server that keeps an outbox
//! of record snapshots must write; `ceiling_events/…` against `ceiling/…` is what the outbox
//! alone costs, and a server figure against `ceiling_events/…` is what the server costs beyond
//! it (`ratio_to_ceiling_events`). Building each event's JSON is timed, as the ceiling's
//! fingerprints are.

use anyhow::{Context, Result};
use eryxon::domain::Entity;
use serde_json::Value;
use uuid::Uuid;

use crate::knobs::Engine;
use crate::raw::{Arg, Raw};
use crate::records::{own, Row, V};
use crate::SOURCE;

/// Takes the next `n` positions of the tenant's log; answers the last one given before.
pub fn positions_sql(engine: Engine) -> &'static str {
    match engine {
        Engine::Sqlite => {
            "INSERT INTO event_positions (tenant_id, mode, last) VALUES (?1, 'live', ?2) \
             ON CONFLICT (tenant_id, mode) DO UPDATE SET last = event_positions.last + excluded.last \
             RETURNING CAST(last - ?2 AS TEXT)"
        }
        Engine::Postgres => {
            "INSERT INTO event_positions (tenant_id, mode, last) VALUES ($1::uuid, 'live', $2) \
             ON CONFLICT (tenant_id, mode) DO UPDATE SET last = event_positions.last + excluded.last \
             RETURNING (last - $2)::text"
        }
    }
}

/// Rows per SQLite statement, as the server writes them (`store/events.rs`).
const SQLITE_CHUNK: usize = 200;

const COLUMNS: &str = "id, tenant_id, mode, position, type, occurred_at, entity, record_id, \
                       external_source, external_id, data";

/// SQLite: `rows` events, eleven plain placeholders each, as the server binds them.
fn sqlite_insert_sql(rows: usize) -> String {
    let row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    format!(
        "INSERT INTO events ({COLUMNS}) VALUES {}",
        vec![row; rows].join(", ")
    )
}

/// PostgreSQL: the events `[id, record_id, external_id, data]` as arrays, numbered from after
/// `$2`.
fn postgres_insert_sql() -> String {
    format!(
        "INSERT INTO events ({COLUMNS}) \
         SELECT u.id, $1::uuid, 'live', $2 + u.ord, $3, $4::timestamptz, $5, u.rid::uuid, $6, \
         u.ext, u.data FROM unnest($7::text[], $8::text[], $9::text[], $10::text[]) \
         WITH ORDINALITY AS u(id, rid, ext, data, ord)"
    )
}

/// A written row as a record shows it: ids, its fields, its times (and for an update, the
/// fields that changed: every field, here), written straight to text.
pub fn data(row: &Row, id: &str, now: &str, updated: bool) -> String {
    let mut out = String::with_capacity(1024);
    let mut field = |name: &str, value: &str| {
        out.push(if out.is_empty() { '{' } else { ',' });
        out.push('"');
        out.push_str(name);
        out.push_str("\":");
        out.push_str(value);
    };
    let text = |t: &str| serde_json::to_string(t).expect("text serializes");
    field("id", &text(id));
    field("external_id", &text(&row.ext));
    field("external_source", &text(SOURCE));
    for (column, value) in own(row.entity).zip(&row.values) {
        let value = match value {
            V::T(t) => text(t),
            V::J(json) => json.clone(),
            V::I(int) => int.to_string(),
            V::R(real) => Value::from(*real).to_string(),
            V::B(flag) => flag.to_string(),
        };
        field(column.name, &value);
    }
    for time in ["synced_at", "created_at", "updated_at"] {
        field(time, &text(now));
    }
    field("deleted_at", "null");
    if updated {
        let changed: Vec<&str> = own(row.entity).map(|c| c.name).collect();
        field(
            "changed_fields",
            &serde_json::to_string(&changed).expect("names serialize"),
        );
    }
    out.push('}');
    out
}

/// Appends one `{kind}.created` (or `.updated`) event per row of `rows`.
pub async fn events_write(
    raw: &mut Raw,
    engine: Engine,
    entity: Entity,
    tenant: &str,
    rows: &[Row],
    updated: bool,
    now: &str,
) -> Result<()> {
    let events: Vec<[String; 4]> = rows
        .iter()
        .map(|row| {
            let record_id = Uuid::now_v7().hyphenated().to_string();
            let data = data(row, &record_id, now, updated);
            let id = format!("evt_{}", Uuid::now_v7().simple());
            [id, record_id, row.ext.clone(), data]
        })
        .collect();
    let n = events.len() as i64;
    let base: i64 = raw
        .text(positions_sql(engine), &[Arg::Text(tenant), Arg::Int(n)])
        .await?
        .context("no position answered")?
        .parse()?;
    let kind = entity.singular();
    let event_type = format!("{kind}.{}", if updated { "updated" } else { "created" });
    let written = match engine {
        Engine::Sqlite => {
            let mut written = 0;
            for (chunk, events) in events.chunks(SQLITE_CHUNK).enumerate() {
                let mut args = Vec::with_capacity(events.len() * 11);
                for (k, [id, record_id, ext, data]) in events.iter().enumerate() {
                    let position = base + 1 + (chunk * SQLITE_CHUNK + k) as i64;
                    args.extend([
                        Arg::Text(id),
                        Arg::Text(tenant),
                        Arg::Text("live"),
                        Arg::Int(position),
                        Arg::Text(&event_type),
                        Arg::Text(now),
                        Arg::Text(kind),
                        Arg::Text(record_id),
                        Arg::Text(SOURCE),
                        Arg::Text(ext),
                        Arg::Text(data),
                    ]);
                }
                written += raw.execute(&sqlite_insert_sql(events.len()), &args).await?;
            }
            written
        }
        Engine::Postgres => {
            let mut args = vec![
                Arg::Text(tenant),
                Arg::Int(base),
                Arg::Text(&event_type),
                Arg::Text(now),
                Arg::Text(kind),
                Arg::Text(SOURCE),
            ];
            for k in 0..4 {
                args.push(Arg::Texts(
                    events.iter().map(|e| Some(e[k].as_str())).collect(),
                ));
            }
            raw.execute(&postgres_insert_sql(), &args).await?
        }
    };
    anyhow::ensure!(
        written == n as u64,
        "ceiling wrote {written} events, not {n}"
    );
    Ok(())
}
