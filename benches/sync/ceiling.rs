//! The ceiling: one INSERT … ON CONFLICT DO UPDATE per entity per batch, written directly.

use anyhow::Result;
use eryxon::store;
use serde_json::Value;

use crate::knobs::Engine;
use crate::raw::{Arg, Raw};
use crate::records::{Row, Spec, Ty, JOBS, OPERATIONS, PARTS, V};
use crate::SOURCE;

/// The columns a write sets besides identity and timestamps: references, then own values.
pub fn written(spec: &Spec) -> Vec<(&'static str, Ty)> {
    let mut columns = Vec::new();
    if let Some((_, fk, _)) = spec.parent {
        columns.push((fk, Ty::Uuid));
    }
    if spec.cell {
        columns.push(("cell_id", Ty::Uuid));
    }
    columns.extend(spec.columns.iter().copied());
    columns
}

pub fn upsert_tail(engine: Engine, spec: &Spec) -> String {
    let columns = written(spec);
    let set: Vec<String> = columns
        .iter()
        .map(|(c, _)| format!("{c} = excluded.{c}"))
        .collect();
    let changed = match engine {
        Engine::Sqlite => columns
            .iter()
            .map(|(c, _)| format!("{}.{c} IS NOT excluded.{c}", spec.table))
            .collect::<Vec<_>>()
            .join(" OR "),
        Engine::Postgres => format!(
            "({}) IS DISTINCT FROM ({})",
            columns
                .iter()
                .map(|(c, _)| format!("t.{c}"))
                .collect::<Vec<_>>()
                .join(", "),
            columns
                .iter()
                .map(|(c, _)| format!("excluded.{c}"))
                .collect::<Vec<_>>()
                .join(", "),
        ),
    };
    format!(
        "ON CONFLICT (tenant_id, mode, external_source, external_id) DO UPDATE SET {}, \
         updated_at = excluded.updated_at, synced_at = excluded.synced_at, \
         sync_fingerprint = excluded.sync_fingerprint WHERE {changed}",
        set.join(", ")
    )
}

pub fn insert_columns(spec: &Spec) -> String {
    let columns: Vec<&str> = written(spec).iter().map(|(c, _)| *c).collect();
    format!(
        "id, tenant_id, mode, external_source, external_id, {}, created_at, updated_at, \
         synced_at, sync_fingerprint",
        columns.join(", ")
    )
}

/// SQLite: the batch is one JSON array of `[id, source, external_id, parent?, cell?, values…]`,
/// each row parsed once into JSONB (as the server does: faster than reading every field from
/// `json_each`'s text). `CROSS JOIN` keeps the planner from scanning a table per record.
pub fn sqlite_ceiling_sql(spec: &Spec) -> String {
    let field = |i: usize| format!("r.value ->> {i}");
    let mut next = 3;
    let mut selected = vec![field(0), "?1".into(), "?2".into(), field(1), field(2)];
    let mut joins = String::new();
    if let Some((parent, _, _)) = spec.parent {
        joins += &format!(
            " CROSS JOIN {parent} AS p ON p.tenant_id = ?1 AND p.mode = ?2 \
             AND p.external_source = r.value ->> 1 AND p.external_id = {}",
            field(next)
        );
        selected.push("p.id".into());
        next += 1;
    }
    if spec.cell {
        joins += &format!(
            " CROSS JOIN cells AS c ON c.tenant_id = ?1 AND c.mode = ?2 \
             AND c.name = {} AND c.active = 1",
            field(next)
        );
        selected.push("c.id".into());
        next += 1;
    }
    selected.extend((0..spec.columns.len()).map(|k| field(next + k)));
    selected.extend(std::iter::repeat_n("?3".to_owned(), 3));
    selected.push(field(next + spec.columns.len()));
    format!(
        "INSERT INTO {table} ({columns}) \
         WITH r AS MATERIALIZED (SELECT key, jsonb(value) AS value FROM json_each(?4)) \
         SELECT {selected} FROM r{joins} WHERE true {tail}",
        table = spec.table,
        columns = insert_columns(spec),
        selected = selected.join(", "),
        tail = upsert_tail(Engine::Sqlite, spec),
    )
}

/// PostgreSQL: the batch is one typed array per column, unnested side by side. References
/// resolve through `LATERAL … LIMIT 1`: one identity-index probe per batch row. Statements with
/// references are planned for each batch (`Raw::execute_planned`), so the plan knows the batch
/// size and the table's current size.
pub fn postgres_ceiling_sql(spec: &Spec) -> String {
    let mut arrays = vec!["$4::uuid[]", "$5::text[]", "$6::text[]"]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    let mut names: Vec<String> = vec!["id".into(), "src".into(), "ext".into()];
    let mut selected: Vec<String> = vec![
        "r.id".into(),
        "$1::uuid".into(),
        "$2::text".into(),
        "r.src".into(),
        "r.ext".into(),
    ];
    let mut joins = String::new();
    if let Some((parent, _, _)) = spec.parent {
        arrays.push(format!("${}::text[]", arrays.len() + 4));
        names.push("parent".into());
        joins += &format!(
            " CROSS JOIN LATERAL (SELECT p.id FROM {parent} AS p \
             WHERE p.tenant_id = $1::uuid AND p.mode = $2::text \
             AND p.external_source = r.src AND p.external_id = r.parent LIMIT 1) AS p"
        );
        selected.push("p.id".into());
    }
    if spec.cell {
        arrays.push(format!("${}::text[]", arrays.len() + 4));
        names.push("cell".into());
        joins += " CROSS JOIN LATERAL (SELECT c.id FROM cells AS c \
                  WHERE c.tenant_id = $1::uuid AND c.mode = $2::text \
                  AND c.name = r.cell AND c.active LIMIT 1) AS c";
        selected.push("c.id".into());
    }
    for (k, (_, ty)) in spec.columns.iter().enumerate() {
        arrays.push(format!("${}::{}[]", arrays.len() + 4, ty.pg()));
        names.push(format!("v{k}"));
        selected.push(format!("r.v{k}"));
    }
    arrays.push(format!("${}::{}[]", arrays.len() + 4, Ty::BigInt.pg()));
    names.push("fingerprint".into());
    selected.extend(std::iter::repeat_n("$3::timestamptz".to_owned(), 3));
    selected.push("r.fingerprint".into());
    format!(
        "INSERT INTO {table} AS t ({columns}) SELECT {selected} \
         FROM unnest({arrays}) AS r({names}){joins} {tail}",
        table = spec.table,
        columns = insert_columns(spec),
        selected = selected.join(", "),
        arrays = arrays.join(", "),
        names = names.join(", "),
        tail = upsert_tail(Engine::Postgres, spec),
    )
}

pub fn sqlite_batch(rows: &[Row]) -> String {
    let encoded: Vec<Value> = rows
        .iter()
        .map(|row| {
            let mut fields = vec![
                Value::from(uuid::Uuid::now_v7().hyphenated().to_string()),
                Value::from(SOURCE),
                Value::from(row.ext.as_str()),
            ];
            fields.extend(row.parent_ext.iter().map(|p| Value::from(p.as_str())));
            fields.extend(row.cell.iter().map(|c| Value::from(c.as_str())));
            fields.extend(row.values.iter().map(|v| match v {
                V::T(text) => Value::from(text.as_str()),
                V::I(int) => Value::from(*int),
            }));
            fields.push(Value::from(row.fingerprint()));
            Value::Array(fields)
        })
        .collect();
    serde_json::to_string(&encoded).expect("JSON serializes")
}

/// Writes `rows` with the ceiling statement and answers how many rows it inserted or changed.
pub async fn ceiling_write(
    raw: &mut Raw,
    engine: Engine,
    spec: &Spec,
    sql: &str,
    tenant: &str,
    rows: &[Row],
) -> Result<u64> {
    let now = store::timestamp();
    match engine {
        Engine::Sqlite => {
            let batch = sqlite_batch(rows);
            raw.execute(
                sql,
                &[
                    Arg::Text(tenant),
                    Arg::Text("live"),
                    Arg::Text(&now),
                    Arg::Text(&batch),
                ],
            )
            .await
        }
        Engine::Postgres => {
            let ids: Vec<String> = rows
                .iter()
                .map(|_| uuid::Uuid::now_v7().hyphenated().to_string())
                .collect();
            let texts = |f: &dyn Fn(&Row) -> Option<&str>| -> Arg<'_> {
                Arg::Texts(rows.iter().map(f).collect())
            };
            let mut args = vec![
                Arg::Text(tenant),
                Arg::Text("live"),
                Arg::Text(&now),
                Arg::Texts(ids.iter().map(|i| Some(i.as_str())).collect()),
                texts(&|_| Some(SOURCE)),
                texts(&|r| Some(r.ext.as_str())),
            ];
            if spec.parent.is_some() {
                args.push(texts(&|r| r.parent_ext.as_deref()));
            }
            if spec.cell {
                args.push(texts(&|r| r.cell.as_deref()));
            }
            for (k, (_, ty)) in spec.columns.iter().enumerate() {
                args.push(match ty {
                    Ty::Int => Arg::Ints(
                        rows.iter()
                            .map(|r| match &r.values[k] {
                                V::I(int) => Some(*int as i32),
                                V::T(_) => None,
                            })
                            .collect(),
                    ),
                    _ => Arg::Texts(
                        rows.iter()
                            .map(|r| match &r.values[k] {
                                V::T(text) => Some(text.as_str()),
                                V::I(_) => None,
                            })
                            .collect(),
                    ),
                });
            }
            args.push(Arg::BigInts(rows.iter().map(Row::fingerprint).collect()));
            if spec.parent.is_some() {
                raw.execute_planned(sql, &args).await
            } else {
                raw.execute(sql, &args).await
            }
        }
    }
}

pub struct Ceiling {
    pub jobs: String,
    pub parts: String,
    pub operations: String,
}

impl Ceiling {
    pub fn new(engine: Engine) -> Ceiling {
        let sql = match engine {
            Engine::Sqlite => sqlite_ceiling_sql,
            Engine::Postgres => postgres_ceiling_sql,
        };
        Ceiling {
            jobs: sql(&JOBS),
            parts: sql(&PARTS),
            operations: sql(&OPERATIONS),
        }
    }
}
