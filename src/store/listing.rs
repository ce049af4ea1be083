//! The WHERE and ORDER BY of list requests, written once for both engines: only placeholders,
//! list membership, case-insensitive matching and text ordering differ between them.

use uuid::Uuid;

use super::ListQuery;
use crate::domain::schema::{Entity, Kind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres {
        /// Whether the server has ICU's root collation (`und-x-icu`), which lower-cases every
        /// script; without it PostgreSQL's `ILIKE` under the `C` locale folds ASCII only.
        icu: bool,
    },
}

/// A value to bind, in placeholder order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Bind {
    Text(String),
    /// A list of texts: a JSON array on SQLite, a `text[]` on PostgreSQL.
    Texts(Vec<String>),
    /// A row count: LIMIT and OFFSET.
    Int(i64),
}

/// How a list is ordered: a whitelisted column, then the id to break ties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub column: &'static str,
    pub descending: bool,
}

impl Default for Sort {
    fn default() -> Self {
        Sort {
            column: "id",
            descending: false,
        }
    }
}

impl Sort {
    /// The columns a list of `entity` may be sorted by.
    pub fn allowed(entity: Entity) -> Vec<&'static str> {
        let mut columns = vec!["id", "external_id", "created_at", "updated_at"];
        columns.extend(
            entity
                .columns()
                .iter()
                .filter(|c| !matches!(c.kind, Kind::Reference(_) | Kind::Json))
                .map(|c| c.name),
        );
        columns
    }

    /// Whether walking by cursor (which follows ids) agrees with this order.
    pub fn follows_ids(&self) -> bool {
        matches!(self.column, "id" | "created_at")
    }
}

/// The text fields `search` looks in.
pub fn searched(entity: Entity) -> &'static [&'static str] {
    match entity {
        Entity::Jobs => &["job_number", "customer"],
        Entity::Parts => &["part_number", "material"],
        Entity::Operations => &["operation_name"],
        Entity::Cells => &["name"],
        Entity::Resources => &["name", "identifier"],
    }
}

pub(crate) struct Listing {
    /// Conditions without the cursor, for the total.
    pub filters: String,
    /// Conditions with the cursor, for the page.
    pub page_filters: String,
    pub order_by: String,
    /// The values of `filters`.
    pub binds: Vec<Bind>,
    /// The value of the cursor condition, bound after `binds` for the page only.
    pub cursor: Option<Bind>,
    /// Placeholders of LIMIT and OFFSET, bound last on the page.
    pub limit: String,
    pub offset: String,
}

struct Builder {
    dialect: Dialect,
    binds: Vec<Bind>,
    conditions: Vec<String>,
}

impl Builder {
    /// The placeholder of a new bind value.
    fn param(&mut self, bind: Bind, cast: &str) -> String {
        self.binds.push(bind);
        let n = self.binds.len() + 2;
        match self.dialect {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres { .. } => format!("${n}::{cast}"),
        }
    }

    fn equals(&mut self, column: &str, value: &str) {
        let p = self.param(Bind::Text(value.to_owned()), "text");
        self.conditions.push(format!("{column} = {p}"));
    }

    fn one_of(&mut self, column: &str, values: &[String]) {
        let p = self.param(Bind::Texts(values.to_vec()), "text[]");
        self.conditions.push(match self.dialect {
            Dialect::Sqlite => format!("{column} IN (SELECT value FROM json_each({p}))"),
            Dialect::Postgres { .. } => format!("{column} = ANY({p})"),
        });
    }

    /// Case-insensitive "contains" in any script, alike on both engines: `search=müller` finds
    /// `MÜLLER`, `σοφια` finds `ΣΟΦΙΑ`, `CAFÉ` finds `Café` (`listing::search_folds_case_in_every_script`).
    /// SQLite's own `LIKE` and `lower()` fold ASCII only, so SQLite matches with the `regex`
    /// crate's Unicode case-insensitive search; PostgreSQL lower-cases with ICU's root locale.
    fn contains(&mut self, columns: &[&str], text: &str) {
        let any: Vec<String> = match self.dialect {
            Dialect::Sqlite => {
                let p = self.param(Bind::Text(format!("(?i){}", regex::escape(text))), "text");
                columns
                    .iter()
                    .map(|c| format!("t.\"{c}\" REGEXP {p}"))
                    .collect()
            }
            Dialect::Postgres { icu } => {
                let escaped = fold_case(text)
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_");
                let p = self.param(Bind::Text(escaped), "text");
                let collate = if icu { " COLLATE \"und-x-icu\"" } else { "" };
                // ICU lower-cases a final sigma to `ς`, which `fold_case` makes `σ` as it does
                // in the searched text.
                columns
                    .iter()
                    .map(|c| {
                        format!(
                            "translate(lower(t.\"{c}\"{collate}), 'ς', 'σ') \
                             LIKE '%' || {p} || '%' ESCAPE '\\'"
                        )
                    })
                    .collect()
            }
        };
        self.conditions.push(format!("({})", any.join(" OR ")));
    }

    fn since(&mut self, column: &str, timestamp: &str) {
        let p = self.param(Bind::Text(timestamp.to_owned()), "timestamptz");
        self.conditions.push(format!("{column} >= {p}"));
    }

    fn parent(&mut self, column: &str, parent: &str, key: &str, value: &str) {
        let p = self.param(Bind::Text(value.to_owned()), "text");
        self.conditions.push(format!(
            "EXISTS (SELECT 1 FROM {parent} AS p WHERE p.id = t.{column} AND p.{key} = {p})"
        ));
    }

    fn joined(&self) -> String {
        std::iter::once("t.tenant_id = ".to_owned() + self.tenant_mode())
            .chain(self.conditions.iter().cloned())
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    fn tenant_mode(&self) -> &'static str {
        match self.dialect {
            Dialect::Sqlite => "?1 AND t.mode = ?2",
            Dialect::Postgres { .. } => "$1::uuid AND t.mode = $2::text",
        }
    }
}

/// Unicode's lower-case mapping of each character, without context, with the final sigma
/// folded into `σ`: what PostgreSQL's searched text is compared in (`Builder::contains`).
fn fold_case(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .map(|c| if c == 'ς' { 'σ' } else { c })
        .collect()
}

pub(crate) fn listing(entity: Entity, query: &ListQuery, dialect: Dialect) -> Listing {
    let mut b = Builder {
        dialect,
        binds: Vec::new(),
        conditions: Vec::new(),
    };
    if !query.include_deleted {
        b.conditions.push("t.deleted_at IS NULL".to_owned());
    }
    if let Some(source) = &query.external_source {
        b.equals("t.external_source", source);
    }
    if !query.external_ids.is_empty() {
        b.one_of("t.external_id", &query.external_ids);
    }
    if let Some(text) = &query.search {
        b.contains(searched(entity), text);
    }
    if let Some(status) = &query.status {
        b.equals("t.status", status);
    }
    if let Some(since) = &query.updated_since {
        b.since("t.updated_at", since);
    }
    if let Some(job) = &query.job_external_id {
        b.parent("job_id", "jobs", "external_id", job);
    }
    if let Some(part) = &query.part_external_id {
        b.parent("part_id", "parts", "external_id", part);
    }
    if let Some(cell) = &query.cell_name {
        b.parent("cell_id", "cells", "name", cell);
    }
    let filters = b.joined();
    let binds = b.binds.clone();
    let direction = if query.sort.descending { "DESC" } else { "ASC" };
    let page_filters = match query.after {
        Some(after) => {
            let p = b.param(Bind::Text(after.hyphenated().to_string()), "uuid");
            let past = if query.sort.descending { "<" } else { ">" };
            format!("{filters} AND t.id {past} {p}")
        }
        None => filters.clone(),
    };
    let cursor = (b.binds.len() > binds.len())
        .then(|| b.binds.pop())
        .flatten();
    let text_order = match (dialect, column_kind(entity, query.sort.column)) {
        // Byte order on both engines, whatever collation the PostgreSQL database has.
        (Dialect::Postgres { .. }, Some(Kind::Text)) => " COLLATE \"C\"",
        _ => "",
    };
    let order_by = format!(
        "t.\"{column}\"{text_order} {direction} NULLS LAST, t.id {direction}",
        column = query.sort.column
    );
    let n = b.binds.len() + 2 + usize::from(query.after.is_some());
    let (limit, offset) = match dialect {
        Dialect::Sqlite => (format!("?{}", n + 1), format!("?{}", n + 2)),
        Dialect::Postgres { .. } => (format!("${}", n + 1), format!("${}", n + 2)),
    };
    Listing {
        filters,
        page_filters,
        order_by,
        binds,
        cursor,
        limit,
        offset,
    }
}

fn column_kind(entity: Entity, name: &str) -> Option<Kind> {
    match name {
        "external_id" => Some(Kind::Text),
        _ => entity
            .columns()
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.kind),
    }
}

/// The opaque `cursor` of a page: where the next page starts.
pub fn encode_cursor(last: Uuid) -> String {
    last.simple().to_string()
}

pub fn decode_cursor(cursor: &str) -> Option<Uuid> {
    Uuid::try_parse(cursor).ok()
}
