//! The ceiling: one INSERT … ON CONFLICT DO UPDATE per entity per batch, written directly.

use anyhow::Result;
use eryxon::domain::Entity;
use eryxon::store;
use serde_json::Value;

use crate::knobs::Engine;
use crate::raw::{Arg, Raw};
use crate::records::{own, references, Row, Ty, V};
use crate::SOURCE;

/// The columns a write sets besides identity and timestamps: the entity's declared columns,
/// references first.
pub fn written(entity: Entity) -> Vec<(&'static str, Ty)> {
    entity
        .columns()
        .iter()
        .map(|c| (c.name, Ty::of(c.kind)))
        .collect()
}

/// The alias of reference `k`'s parent row in a ceiling statement.
fn alias(k: usize, parent: Entity) -> String {
    match parent {
        Entity::Cells => "c".into(),
        _ => format!("p{k}"),
    }
}

pub fn upsert_tail(engine: Engine, entity: Entity) -> String {
    let columns = written(entity);
    let set: Vec<String> = columns
        .iter()
        .map(|(c, _)| format!("{c} = excluded.{c}"))
        .collect();
    let changed = match engine {
        Engine::Sqlite => columns
            .iter()
            .map(|(c, _)| format!("{}.{c} IS NOT excluded.{c}", entity.plural()))
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

pub fn insert_columns(entity: Entity) -> String {
    let columns: Vec<&str> = written(entity).iter().map(|(c, _)| *c).collect();
    format!(
        "id, tenant_id, mode, external_source, external_id, {}, created_at, updated_at, \
         synced_at, sync_fingerprint",
        columns.join(", ")
    )
}

/// SQLite: the batch is one JSON array of `[id, source, external_id, references…, values…,
/// fingerprint]`, each row parsed once into JSONB (as the server does: faster than reading every
/// field from `json_each`'s text). `CROSS JOIN` keeps the planner from scanning a table per
/// record. A reference resolves as the server resolves it: a cell by its name among the active
/// ones, any other parent by its external id.
pub fn sqlite_ceiling_sql(entity: Entity) -> String {
    let field = |i: usize| format!("r.value ->> {i}");
    let mut next = 3;
    let mut selected = vec![field(0), "?1".into(), "?2".into(), field(1), field(2)];
    let mut joins = String::new();
    for (k, (_, parent)) in references(entity).enumerate() {
        let (table, a) = (parent.plural(), alias(k, parent));
        joins += &match parent {
            Entity::Cells => format!(
                " CROSS JOIN {table} AS {a} ON {a}.tenant_id = ?1 AND {a}.mode = ?2 \
                 AND {a}.name = {} AND {a}.active = 1",
                field(next)
            ),
            _ => format!(
                " CROSS JOIN {table} AS {a} ON {a}.tenant_id = ?1 AND {a}.mode = ?2 \
                 AND {a}.external_source = r.value ->> 1 AND {a}.external_id = {}",
                field(next)
            ),
        };
        selected.push(format!("{a}.id"));
        next += 1;
    }
    let values = own(entity).count();
    selected.extend((0..values).map(|k| field(next + k)));
    selected.extend(std::iter::repeat_n("?3".to_owned(), 3));
    selected.push(field(next + values));
    format!(
        "INSERT INTO {table} ({columns}) \
         WITH r AS MATERIALIZED (SELECT key, jsonb(value) AS value FROM json_each(?4)) \
         SELECT {selected} FROM r{joins} WHERE true {tail}",
        table = entity.plural(),
        columns = insert_columns(entity),
        selected = selected.join(", "),
        tail = upsert_tail(Engine::Sqlite, entity),
    )
}

/// PostgreSQL: the batch is one typed array per column, unnested side by side. References
/// resolve through `LATERAL … LIMIT 1`: one identity-index probe per batch row. Statements with
/// references are planned for each batch (`Raw::execute_planned`), so the plan knows the batch
/// size and the table's current size.
pub fn postgres_ceiling_sql(entity: Entity) -> String {
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
    for (k, (_, parent)) in references(entity).enumerate() {
        let (table, a) = (parent.plural(), alias(k, parent));
        arrays.push(format!("${}::text[]", arrays.len() + 4));
        names.push(format!("ref{k}"));
        joins += &match parent {
            Entity::Cells => format!(
                " CROSS JOIN LATERAL (SELECT {a}.id FROM {table} AS {a} \
                 WHERE {a}.tenant_id = $1::uuid AND {a}.mode = $2::text \
                 AND {a}.name = r.ref{k} AND {a}.active LIMIT 1) AS {a}"
            ),
            _ => format!(
                " CROSS JOIN LATERAL (SELECT {a}.id FROM {table} AS {a} \
                 WHERE {a}.tenant_id = $1::uuid AND {a}.mode = $2::text \
                 AND {a}.external_source = r.src AND {a}.external_id = r.ref{k} LIMIT 1) AS {a}"
            ),
        };
        selected.push(format!("{a}.id"));
    }
    for (k, column) in own(entity).enumerate() {
        arrays.push(format!(
            "${}::{}[]",
            arrays.len() + 4,
            Ty::of(column.kind).pg()
        ));
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
        table = entity.plural(),
        columns = insert_columns(entity),
        selected = selected.join(", "),
        arrays = arrays.join(", "),
        names = names.join(", "),
        tail = upsert_tail(Engine::Postgres, entity),
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
            fields.extend(row.refs.iter().map(|r| Value::from(r.as_str())));
            fields.extend(row.values.iter().map(|v| match v {
                V::T(text) | V::J(text) => Value::from(text.as_str()),
                V::I(int) => Value::from(*int),
                V::R(real) => Value::from(*real),
                V::B(flag) => Value::from(*flag),
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
    entity: Entity,
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
            for k in 0..references(entity).count() {
                args.push(Arg::Texts(
                    rows.iter().map(|r| Some(r.refs[k].as_str())).collect(),
                ));
            }
            for (k, column) in own(entity).enumerate() {
                args.push(match Ty::of(column.kind) {
                    Ty::Int => Arg::Ints(
                        rows.iter()
                            .map(|r| match &r.values[k] {
                                V::I(int) => Some(*int as i32),
                                _ => None,
                            })
                            .collect(),
                    ),
                    Ty::Real => Arg::Reals(
                        rows.iter()
                            .map(|r| match &r.values[k] {
                                V::R(real) => Some(*real),
                                _ => None,
                            })
                            .collect(),
                    ),
                    Ty::Bool => Arg::Bools(
                        rows.iter()
                            .map(|r| match &r.values[k] {
                                V::B(flag) => Some(*flag),
                                _ => None,
                            })
                            .collect(),
                    ),
                    _ => Arg::Texts(
                        rows.iter()
                            .map(|r| match &r.values[k] {
                                V::T(text) | V::J(text) => Some(text.as_str()),
                                _ => None,
                            })
                            .collect(),
                    ),
                });
            }
            args.push(Arg::BigInts(rows.iter().map(Row::fingerprint).collect()));
            if references(entity).next().is_some() {
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
            jobs: sql(Entity::Jobs),
            parts: sql(Entity::Parts),
            operations: sql(Entity::Operations),
        }
    }
}
