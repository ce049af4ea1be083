//! The ceiling with a packed event log: besides the ceiling's upsert, in the same transaction,
//! one row per call holding all of the call's events, one per written row, as a JSON array.
//! Each event carries what an `events` row does (its id, position, type, entity, record id,
//! external id) and the very `data` `ceiling_events.rs` builds; the row shares the tenant,
//! the time and the source, and takes the last position of the call's range, which is taken
//! from `event_positions` as the server takes it. `ceiling_packed/…` against `ceiling_events/…`
//! is what one row per event costs beyond the events' content. Building the JSON is timed.

use std::fmt::Write as _;

use anyhow::{Context, Result};
use eryxon::domain::Entity;
use uuid::Uuid;

use crate::ceiling_events::{data, positions_sql};
use crate::knobs::Engine;
use crate::raw::{Arg, Raw};
use crate::records::Row;
use crate::SOURCE;

/// The call's one row, in the server's `events` table.
fn insert_sql(engine: Engine) -> &'static str {
    match engine {
        Engine::Sqlite => {
            "INSERT INTO events (id, tenant_id, mode, position, type, occurred_at, \
             external_source, data) VALUES (?1, ?2, 'live', ?3, 'sync.packed', ?4, ?5, ?6)"
        }
        Engine::Postgres => {
            "INSERT INTO events (id, tenant_id, mode, position, type, occurred_at, \
             external_source, data) \
             VALUES ($1, $2::uuid, 'live', $3, 'sync.packed', $4::timestamptz, $5, $6)"
        }
    }
}

/// Appends one row holding a `{kind}.created` (or `.updated`) event per row of each entity's
/// `rows`, in that order.
pub async fn packed_write(
    raw: &mut Raw,
    engine: Engine,
    tenant: &str,
    written: &[(Entity, &[Row])],
    updated: bool,
    now: &str,
) -> Result<()> {
    let n: usize = written.iter().map(|(_, rows)| rows.len()).sum();
    let base: i64 = raw
        .text(
            positions_sql(engine),
            &[Arg::Text(tenant), Arg::Int(n as i64)],
        )
        .await?
        .context("no position answered")?
        .parse()?;
    let verb = if updated { "updated" } else { "created" };
    let mut pack = String::with_capacity(n * 1200);
    pack.push('[');
    let mut position = base;
    for (entity, rows) in written {
        let kind = entity.singular();
        for row in *rows {
            position += 1;
            let record_id = Uuid::now_v7().hyphenated().to_string();
            if pack.len() > 1 {
                pack.push(',');
            }
            write!(
                pack,
                concat!(
                    r#"{{"id":"evt_{}","position":{},"type":"{}.{}","entity":"{}","#,
                    r#""record_id":"{}","external_id":{},"data":{}}}"#
                ),
                Uuid::now_v7().simple(),
                position,
                kind,
                verb,
                kind,
                record_id,
                serde_json::to_string(&row.ext)?,
                data(row, &record_id, now, updated),
            )?;
        }
    }
    pack.push(']');
    let id = format!("evt_{}", Uuid::now_v7().simple());
    let args = [
        Arg::Text(&id),
        Arg::Text(tenant),
        Arg::Int(position),
        Arg::Text(now),
        Arg::Text(SOURCE),
        Arg::Text(&pack),
    ];
    let written = raw.execute(insert_sql(engine), &args).await?;
    anyhow::ensure!(written == 1, "ceiling wrote {written} packs, not 1");
    Ok(())
}
