//! A transaction as the engine-neutral flows see it (the floor's actions, the event log and its
//! feed): statements written once with PostgreSQL's numbered placeholders, values of a few
//! plain kinds, rows read back as those kinds. Each engine folder implements [`Tx`] for its
//! transaction; only what really differs lives there (placeholders, how a stored time or id
//! reads as text).

use async_trait::async_trait;
use uuid::Uuid;

use super::events::Appended;
use super::StoreError;
use crate::domain::view::RecordView;
use crate::domain::Entity;

/// A value bound to a statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Text(Option<String>),
    Int(Option<i64>),
    Bool(bool),
    Bytes(Vec<u8>),
}

impl From<&str> for Arg {
    fn from(text: &str) -> Arg {
        Arg::Text(Some(text.to_owned()))
    }
}

impl From<String> for Arg {
    fn from(text: String) -> Arg {
        Arg::Text(Some(text))
    }
}

impl From<Option<String>> for Arg {
    fn from(text: Option<String>) -> Arg {
        Arg::Text(text)
    }
}

impl From<Uuid> for Arg {
    fn from(id: Uuid) -> Arg {
        Arg::Text(Some(id.hyphenated().to_string()))
    }
}

impl From<i64> for Arg {
    fn from(n: i64) -> Arg {
        Arg::Int(Some(n))
    }
}

/// A value read back.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Bytes(Vec<u8>),
}

/// A row read back, its cells in the statement's column order.
#[derive(Debug, Clone)]
pub struct Row(pub Vec<Cell>);

fn unexpected(index: usize, wanted: &str, cell: &Cell) -> StoreError {
    StoreError::Database(sqlx::Error::Decode(
        format!("column {index}: expected {wanted}, found {cell:?}").into(),
    ))
}

impl Row {
    fn cell(&self, index: usize) -> &Cell {
        self.0.get(index).unwrap_or(&Cell::Null)
    }

    pub fn opt_text(&self, index: usize) -> Result<Option<String>, StoreError> {
        match self.cell(index) {
            Cell::Null => Ok(None),
            Cell::Text(text) => Ok(Some(text.clone())),
            other => Err(unexpected(index, "text", other)),
        }
    }

    pub fn text(&self, index: usize) -> Result<String, StoreError> {
        self.opt_text(index)?
            .ok_or_else(|| unexpected(index, "text", &Cell::Null))
    }

    pub fn opt_int(&self, index: usize) -> Result<Option<i64>, StoreError> {
        match self.cell(index) {
            Cell::Null => Ok(None),
            Cell::Int(n) => Ok(Some(*n)),
            // PostgreSQL's sums are numeric; they hold whole numbers here.
            Cell::Real(x) if x.fract() == 0.0 => Ok(Some(*x as i64)),
            other => Err(unexpected(index, "an integer", other)),
        }
    }

    pub fn int(&self, index: usize) -> Result<i64, StoreError> {
        self.opt_int(index)?
            .ok_or_else(|| unexpected(index, "an integer", &Cell::Null))
    }

    pub fn opt_bytes(&self, index: usize) -> Result<Option<Vec<u8>>, StoreError> {
        match self.cell(index) {
            Cell::Null => Ok(None),
            Cell::Bytes(bytes) => Ok(Some(bytes.clone())),
            other => Err(unexpected(index, "bytes", other)),
        }
    }

    pub fn id(&self, index: usize) -> Result<Uuid, StoreError> {
        let text = self.text(index)?;
        Uuid::parse_str(&text).map_err(|e| StoreError::Database(sqlx::Error::Decode(Box::new(e))))
    }
}

/// How an engine writes what the neutral statements leave to it.
pub trait Dialect {
    /// A stored time column (or expression) read as the store's fixed-width UTC text.
    fn time(&self, column: &str) -> String;

    /// A subquery of the ids in the JSON array of texts bound to `$n`, typed as the id columns.
    fn id_list(&self, n: usize) -> String;

    /// What a `SELECT` of rows the transaction will change ends with, so a concurrent writer
    /// waits for it: ` FOR UPDATE` where rows lock, nothing where the file does (SQLite).
    fn lock_rows(&self) -> &'static str {
        ""
    }

    /// What follows a table's name in `FROM` so that the statement reads it by `index`, where
    /// the planner has no statistics to tell that index is the one (SQLite: ` INDEXED BY`);
    /// nothing where it has them.
    fn indexed_by(&self, _index: &str) -> String {
        String::new()
    }

    /// The statement that refreshes the planner's statistics of `table`, where plans depend on
    /// them between the engine's own refreshes (PostgreSQL); `None` where they do not.
    fn analyze(&self, _table: &str) -> Option<String> {
        None
    }

    /// Whether a `WITH` may hold an `INSERT … RETURNING` whose rows the main statement reads
    /// (PostgreSQL; not SQLite).
    fn data_modifying_with(&self) -> bool {
        false
    }

    /// A statement answering the rows of `sql` (whose `columns` columns are named `c0`, `c1`,
    /// …) as one row holding one JSON text, the array of the rows as arrays, where fetching one
    /// row is much faster than fetching many (SQLite: `store::sqlite::packed`); `None` where
    /// it is not.
    fn packed(&self, _sql: &str, _columns: usize) -> Option<String> {
        None
    }
}

/// Statements on one connection inside a transaction someone else ends: the engine-neutral
/// flows run on it, whether they opened the transaction ([`Tx`]) or a sync did.
#[async_trait]
pub trait Statements: Send {
    fn dialect(&self) -> &dyn Dialect;

    /// Runs a statement that returns rows. `$n::type` placeholders are the engine's own on
    /// PostgreSQL and become `?n` on SQLite.
    async fn rows(&mut self, sql: &str, args: Vec<Arg>) -> Result<Vec<Row>, StoreError>;

    /// Runs a statement and answers how many rows it changed.
    async fn run(&mut self, sql: &str, args: Vec<Arg>) -> Result<u64, StoreError>;

    /// Keeps events written here to be counted once the transaction commits. A [`Tx`] keeps
    /// them until its `commit`; statements in a transaction their owner ends (a sync's) are
    /// not given any: the sync hands its [`Appended`] to its engine, which commits.
    fn after_commit(&mut self, appended: Appended);

    /// The record `id` of `entity` as `GET` shows it, without its children
    /// (`read::by_id`, through the engine's reader).
    async fn record(&mut self, entity: Entity, id: Uuid) -> Result<Option<RecordView>, StoreError>;

    /// The one row a statement returns, or none.
    async fn row(&mut self, sql: &str, args: Vec<Arg>) -> Result<Option<Row>, StoreError> {
        Ok(self.rows(sql, args).await?.into_iter().next())
    }
}

/// One open transaction.
#[async_trait]
pub trait Tx: Statements {
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;

    async fn rollback(self: Box<Self>) -> Result<(), StoreError>;
}

/// PostgreSQL's `$1::uuid` placeholders as SQLite's `?1` (the casts are PostgreSQL's types).
///
/// When the placeholders run `$1, $2, …, $n` in order, each once, they become plain `?`, which
/// SQLite numbers the same way. sqlx binds a statement's parameters by asking SQLite each one's
/// name, which walks a list of every numbered name: with `?NNN` that costs the square of the
/// parameter count (11 000 per 1000 events: about 40 µs per event), with `?` nothing
/// (decision 0025).
pub fn sqlite_placeholders(sql: &str) -> String {
    let anonymous = in_order(sql);
    let mut out = String::with_capacity(sql.len());
    let bytes = sql.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
            out.push('?');
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                if !anonymous {
                    out.push(bytes[i] as char);
                }
                i += 1;
            }
            if sql[i..].starts_with("::") {
                i += 2;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'_' | b'[' | b']'))
                {
                    i += 1;
                }
            }
        } else {
            let c = sql[i..].chars().next().expect("in bounds");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// Whether the placeholders of `sql` are `$1, $2, …` in order, each once (and there is one).
fn in_order(sql: &str) -> bool {
    let bytes = sql.as_bytes();
    let mut expected = 1u64;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
            i += 1;
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if sql[start..i].parse::<u64>().ok() != Some(expected) {
                return false;
            }
            expected += 1;
        } else {
            i += 1;
        }
    }
    expected > 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_lose_their_casts_on_sqlite() {
        assert_eq!(
            sqlite_placeholders("SELECT a FROM t WHERE id = $1::uuid AND n = $12 AND s = 'é$'"),
            "SELECT a FROM t WHERE id = ?1 AND n = ?12 AND s = 'é$'"
        );
        assert_eq!(
            sqlite_placeholders("x = ANY($3::text[]), $2::timestamptz"),
            "x = ANY(?3), ?2"
        );
    }

    #[test]
    fn placeholders_in_order_become_plain() {
        assert_eq!(
            sqlite_placeholders("VALUES ($1, $2::uuid), ($3, $4::timestamptz) -- 'é$'"),
            "VALUES (?, ?), (?, ?) -- 'é$'"
        );
        // Repeated, skipped or out of order: numbered, as written.
        assert_eq!(sqlite_placeholders("$1, $1"), "?1, ?1");
        assert_eq!(sqlite_placeholders("$1, $3"), "?1, ?3");
        assert_eq!(sqlite_placeholders("$2, $1"), "?2, ?1");
        assert_eq!(sqlite_placeholders("SELECT 1"), "SELECT 1");
    }
}
