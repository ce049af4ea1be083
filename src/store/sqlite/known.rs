//! What the writer knows of the rows that syncs wrote: per key, the stored row's rowid and
//! id, the fingerprint of what its last sync sent, and its references. A sync of a known row
//! needs no look-up: the fingerprint tells unchanged from changed, and the rowid names the row
//! to update (which is written only if it holds the id).
//!
//! It stays true because every write to a synced table goes through the one writer
//! connection, and each path keeps it: a sync records what it wrote, a replace that deletes
//! children forgets their table, a delete through the API forgets everything, and a write by
//! any other connection (another process, a tool on the file) moves `PRAGMA data_version`,
//! which every sync transaction compares before trusting the memory. A transaction records as
//! it writes, so that the next sync of the same transaction reads what it wrote; should the
//! transaction not commit, the next one starts from nothing. A new writer connection starts
//! from nothing too, as it numbers data versions anew.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState as SipKeys};
use std::sync::{Mutex, MutexGuard};

use foldhash::fast::RandomState;
use uuid::Uuid;

use crate::domain::record::RecordKey;
use crate::domain::schema::Entity;
use crate::domain::Scope;

/// Most rows remembered. The 100k-record load grew the server's peak RSS by 18 MB (about
/// 180 bytes a row, references included), so at most ~90 MB. Past it, the memory starts over;
/// a row it no longer holds is looked up in the database, as any row it does not know.
const MOST_ROWS: usize = 500_000;

/// A record key as the memory holds it: two 64-bit SipHash values under keys drawn at random
/// for this process. Copying 1000 keys into the memory as strings took 0.2–0.4 ms of an
/// insert's 2.5; two keyed hashes name a key with no collision to expect (one in 2^128) nor
/// to provoke (the keys are secret).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(super) struct KeyHash(u64, u64);

/// A stored, live row as the last sync that wrote it left it.
pub(super) struct KnownRow {
    pub rowid: i64,
    pub id: Uuid,
    pub fingerprint: i64,
    pub refs: Box<[Uuid]>,
}

type Table = HashMap<KeyHash, KnownRow, RandomState>;

#[derive(Default)]
struct Memory {
    tables: HashMap<(Scope, Entity), Table, RandomState>,
    /// The writer connection's `PRAGMA data_version` the memory agrees with.
    version: Option<i64>,
    /// Whether a transaction has recorded writes it has not committed yet.
    uncommitted: bool,
}

impl Memory {
    /// Rows remembered: a sum over one table per tenant, mode and entity synced.
    fn rows(&self) -> usize {
        self.tables.values().map(HashMap::len).sum()
    }

    fn clear(&mut self) {
        self.tables.clear();
        self.version = None;
        self.uncommitted = false;
    }
}

#[derive(Default)]
pub(super) struct KnownRows {
    memory: Mutex<Memory>,
    hashers: [SipKeys; 2],
}

impl KnownRows {
    pub fn key(&self, key: &RecordKey) -> KeyHash {
        KeyHash(self.hashers[0].hash_one(key), self.hashers[1].hash_one(key))
    }

    fn lock(&self) -> MutexGuard<'_, Memory> {
        // Every change leaves the memory whole, so one that panicked half-way left nothing
        // torn; it is cleared all the same, as an unfinished transaction.
        self.memory.lock().unwrap_or_else(|poisoned| {
            let mut memory = poisoned.into_inner();
            memory.clear();
            memory
        })
    }

    /// Opens a transaction's use of the memory, given the writer connection's data version
    /// read inside it. What another connection wrote since, or a transaction that did not
    /// commit, empties it.
    pub fn begin(&self, version: i64) {
        let mut memory = self.lock();
        if memory.uncommitted || memory.version != Some(version) {
            memory.clear();
            memory.version = Some(version);
        }
    }

    /// The transaction that began last has committed what it recorded.
    pub fn committed(&self) {
        self.lock().uncommitted = false;
    }

    /// Forgets every row: something wrote them by another path.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Reads what is known of each key, through `read` (given the key's position).
    pub fn read<T>(
        &self,
        scope: Scope,
        entity: Entity,
        keys: impl Iterator<Item = KeyHash>,
        mut read: impl FnMut(usize, Option<&KnownRow>) -> T,
    ) -> Vec<T> {
        let memory = self.lock();
        let table = memory.tables.get(&(scope, entity));
        keys.enumerate()
            .map(|(k, key)| read(k, table.and_then(|t| t.get(&key))))
            .collect()
    }

    /// Records rows as this transaction wrote them (or found them unchanged).
    pub fn record(
        &self,
        scope: Scope,
        entity: Entity,
        rows: impl Iterator<Item = (KeyHash, KnownRow)>,
    ) {
        let mut memory = self.lock();
        memory.uncommitted = true;
        if memory.rows() >= MOST_ROWS {
            memory.tables.clear();
        }
        memory
            .tables
            .entry((scope, entity))
            .or_default()
            .extend(rows);
    }

    /// Forgets rows whose stored state this transaction no longer knows.
    pub fn forget(&self, scope: Scope, entity: Entity, keys: impl Iterator<Item = KeyHash>) {
        let mut memory = self.lock();
        memory.uncommitted = true;
        if let Some(table) = memory.tables.get_mut(&(scope, entity)) {
            for key in keys {
                table.remove(&key);
            }
        }
    }

    /// Swaps two rows' rowids, as a memory gone wrong would hold them.
    #[cfg(test)]
    pub fn swap_rowids(&self, scope: Scope, entity: Entity, a: KeyHash, b: KeyHash) {
        let mut memory = self.lock();
        let table = memory
            .tables
            .get_mut(&(scope, entity))
            .expect("table known");
        let rowid_of_a = table[&a].rowid;
        let rowid_of_b =
            std::mem::replace(&mut table.get_mut(&b).expect("b known").rowid, rowid_of_a);
        table.get_mut(&a).expect("a known").rowid = rowid_of_b;
    }

    /// Forgets every row of a table in a scope: this transaction deleted some of them.
    pub fn forget_table(&self, scope: Scope, entity: Entity) {
        let mut memory = self.lock();
        memory.uncommitted = true;
        memory.tables.remove(&(scope, entity));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Mode;

    fn scope() -> Scope {
        Scope {
            tenant_id: Uuid::nil(),
            mode: Mode::Live,
        }
    }

    fn key(known: &KnownRows, id: &str) -> KeyHash {
        known.key(&RecordKey {
            source: "SAP".into(),
            external_id: id.into(),
        })
    }

    fn fingerprint_of(known: &KnownRows, id: &str) -> Option<i64> {
        let k = key(known, id);
        known.read(scope(), Entity::Jobs, std::iter::once(k), |_, row| {
            row.map(|r| r.fingerprint)
        })[0]
    }

    fn remember(known: &KnownRows, id: &str, fingerprint: i64) {
        let row = KnownRow {
            rowid: 1,
            id: Uuid::now_v7(),
            fingerprint,
            refs: Box::new([]),
        };
        known.record(
            scope(),
            Entity::Jobs,
            std::iter::once((key(known, id), row)),
        );
    }

    #[test]
    fn a_committed_transaction_is_remembered_while_no_other_connection_writes() {
        let known = KnownRows::default();
        known.begin(1);
        remember(&known, "J-1", 7);
        known.committed();
        known.begin(1);
        assert_eq!(fingerprint_of(&known, "J-1"), Some(7));
        known.committed();
        known.begin(2);
        assert_eq!(
            fingerprint_of(&known, "J-1"),
            None,
            "another connection wrote"
        );
    }

    #[test]
    fn a_transaction_that_does_not_commit_leaves_nothing_known() {
        let known = KnownRows::default();
        known.begin(1);
        remember(&known, "J-1", 7);
        known.committed();
        known.begin(1);
        remember(&known, "J-2", 8);
        known.begin(1);
        assert_eq!(fingerprint_of(&known, "J-1"), None);
        assert_eq!(fingerprint_of(&known, "J-2"), None);
    }

    #[test]
    fn forgotten_rows_are_looked_up_again() {
        let known = KnownRows::default();
        known.begin(1);
        remember(&known, "J-1", 7);
        remember(&known, "J-2", 8);
        known.forget(scope(), Entity::Jobs, std::iter::once(key(&known, "J-1")));
        assert_eq!(fingerprint_of(&known, "J-1"), None);
        assert_eq!(fingerprint_of(&known, "J-2"), Some(8));
        known.forget_table(scope(), Entity::Jobs);
        assert_eq!(fingerprint_of(&known, "J-2"), None);
        assert_eq!(known.lock().rows(), 0);
    }

    #[test]
    fn keys_that_differ_anywhere_are_told_apart() {
        let known = KnownRows::default();
        let of = |source: &str, id: &str| {
            known.key(&RecordKey {
                source: source.into(),
                external_id: id.into(),
            })
        };
        assert_eq!(of("SAP", "J-1"), of("SAP", "J-1"));
        assert_ne!(of("SAP", "J-1"), of("SAP", "J-2"));
        assert_ne!(
            of("SAPJ", "-1"),
            of("SAP", "J-1"),
            "the source ends where it ends"
        );
    }
}
