//! The model: written from the documented rules, sharing no code with the server but the
//! entities' field declarations (`declared.rs`), it says what each record's answer is and what
//! the store holds after.

use std::collections::{BTreeMap, BTreeSet};

use eryxon::domain::outcome::{Change, ErrorCode};
use serde_json::{json, Value};

use crate::floor_model::{self, Floor};
use crate::sent::{Outside, Step, Table};

/// One stored record: its own fields, its parent's external id (parts, operations), its
/// cell's external id (operations) and whether it is deleted.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub fields: BTreeMap<&'static str, Value>,
    pub parent: Option<String>,
    pub cell: Option<String>,
    pub deleted: bool,
}

/// Everything a tenant holds, by table and external id.
pub type State = BTreeMap<Table, BTreeMap<String, Row>>;

/// What became of one record: written (with what happened below it), or refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Fate {
    Synced(Tree),
    Rejected(ErrorCode, String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tree {
    pub external_id: String,
    pub change: Change,
    /// Parts of a job, operations of a part: the ones sent in input order, then the ones a
    /// replace deleted, by external id.
    pub children: Vec<Tree>,
    /// The fields it was sent and kept as they were, because the floor owns them.
    pub kept: Vec<&'static str>,
}

impl Tree {
    pub fn leaf(external_id: &str, change: Change) -> Tree {
        Tree {
            external_id: external_id.to_owned(),
            change,
            children: Vec::new(),
            kept: Vec::new(),
        }
    }

    /// A record whose own row did not change counts as updated when anything below changed.
    fn rolled_up(mut self) -> Tree {
        self.children = self.children.into_iter().map(Tree::rolled_up).collect();
        if self.change == Change::Unchanged
            && self.children.iter().any(|c| c.change != Change::Unchanged)
        {
            self.change = Change::Updated;
        }
        self
    }

    pub fn all_unchanged(&self) -> bool {
        self.change == Change::Unchanged && self.children.iter().all(Tree::all_unchanged)
    }
}

pub fn text(value: &Value, key: &str) -> String {
    value[key].as_str().expect("a text field").to_owned()
}

pub fn list(value: &Value, key: &str) -> Vec<Value> {
    value[key].as_array().cloned().unwrap_or_default()
}

#[derive(Debug, Default)]
pub struct Model {
    pub state: State,
    /// What the shop floor did; nothing unless a property runs floor steps.
    pub floor: Floor,
}

impl Model {
    fn table(&mut self, table: Table) -> &mut BTreeMap<String, Row> {
        self.state.entry(table).or_default()
    }

    pub fn live(&self, table: Table, external_id: &str) -> bool {
        self.state
            .get(&table)
            .and_then(|rows| rows.get(external_id))
            .is_some_and(|row| !row.deleted)
    }

    /// The cell an operation's `cell_name` names: the active cell with this exact name, else
    /// the inactive one of that name the (live) operation is already in, which it may keep
    /// ("a re-send that names it for them is accepted"); or why there is none.
    fn cell_named(&self, name: &str, operation: &Value) -> Result<String, ErrorCode> {
        let cells = || self.state.get(&Table::Cells).into_iter().flatten();
        let named: Vec<&String> = cells()
            .filter(|(_, row)| row.fields["name"] == name && row.fields["active"] == true)
            .map(|(id, _)| id)
            .collect();
        let operation = text(operation, "external_id");
        let staying = (self.state.get(&Table::Operations))
            .and_then(|rows| rows.get(&operation))
            .filter(|row| !row.deleted)
            .and_then(|row| row.cell.clone())
            .filter(|cell| cells().any(|(id, row)| id == cell && row.fields["name"] == name));
        match (named.as_slice(), staying) {
            ([id], _) => Ok((*id).clone()),
            ([], Some(cell)) => Ok(cell),
            ([], None) => Err(ErrorCode::ReferenceNotFound),
            _ => Err(ErrorCode::AmbiguousReference),
        }
    }

    /// The cells of a part's operations, or the first one that does not resolve.
    fn cells_of(&self, part: &Value, path: &str) -> Result<(), Fate> {
        for (j, operation) in list(part, "operations").iter().enumerate() {
            self.cell_named(&text(operation, "cell_name"), operation)
                .map_err(|code| Fate::Rejected(code, format!("{path}operations[{j}].cell_name")))?;
        }
        Ok(())
    }

    /// Absent keeps, null resets to the default, a value sets; a deleted row comes back. A
    /// record the floor worked on keeps its status, saying so when it was sent another.
    fn upsert(
        &mut self,
        table: Table,
        sent: &Value,
        parent: Option<String>,
        cell: Option<String>,
    ) -> Tree {
        let id = text(sent, "external_id");
        let owned = self.floor.worked(table, &id);
        let mut kept = Vec::new();
        let before = self.table(table).get(&id).cloned();
        let mut row = before.clone().unwrap_or_else(|| Row {
            fields: table
                .fields()
                .into_iter()
                .map(|f| (f, table.default_of(f)))
                .collect(),
            parent: None,
            cell: None,
            deleted: false,
        });
        for field in table.fields() {
            let value = match sent.get(field) {
                None => continue,
                Some(Value::Null) => table.default_of(field),
                Some(value) => value.clone(),
            };
            if owned && field == "status" {
                if row.fields[field] != value {
                    kept.push(field);
                }
                continue;
            }
            row.fields.insert(field, value);
        }
        row.parent = parent;
        row.cell = cell;
        row.deleted = false;
        let change = match &before {
            None => Change::Created,
            Some(before) if before.deleted => Change::Created,
            Some(before) if *before != row => Change::Updated,
            Some(_) => Change::Unchanged,
        };
        self.floor.wrote(table, &id, change, before.as_ref());
        if table == Table::Operations && change != Change::Unchanged {
            let left = before.filter(|b| !b.deleted).and_then(|b| b.parent);
            self.floor.touch(left.as_ref());
            self.floor.touch(row.parent.as_ref());
        }
        self.table(table).insert(id.clone(), row);
        Tree {
            kept,
            ..Tree::leaf(&id, change)
        }
    }

    fn write_part(&mut self, part: &Value, job: &str) -> Tree {
        let id = text(part, "external_id");
        let mut tree = self.upsert(Table::Parts, part, Some(job.to_owned()), None);
        for operation in list(part, "operations") {
            let cell = self
                .cell_named(&text(&operation, "cell_name"), &operation)
                .ok();
            let child = self.upsert(Table::Operations, &operation, Some(id.clone()), cell);
            tree.children.push(child);
        }
        tree
    }

    /// Deletes the live rows of `table` under `parent` not in `keep`, answering them by id.
    fn retire(&mut self, table: Table, parent: &str, keep: &BTreeSet<String>) -> Vec<String> {
        let mut retired = Vec::new();
        for (id, row) in self.table(table).iter_mut() {
            if !row.deleted && row.parent.as_deref() == Some(parent) && !keep.contains(id) {
                row.deleted = true;
                retired.push(id.clone());
            }
        }
        for id in &retired {
            self.floor.retired.push((table, id.clone()));
            if table == Table::Operations {
                self.floor.touch(Some(&parent.to_owned()));
            }
        }
        retired
    }

    /// What a write made outside the syncs leaves: an edited field, or a job deleted with the
    /// live parts under it and the live operations of every part under it.
    pub fn outside(&mut self, write: &Outside) {
        match write {
            Outside::Edit { job, number } => {
                if let Some(row) = self.table(Table::Jobs).get_mut(job) {
                    row.fields.insert("job_number", json!(number));
                }
            }
            Outside::Delete { job } => {
                if !self.live(Table::Jobs, job) {
                    return;
                }
                self.table(Table::Jobs).get_mut(job).unwrap().deleted = true;
                let mut parts = BTreeSet::new();
                for (id, row) in self.table(Table::Parts).iter_mut() {
                    if row.parent.as_deref() == Some(job.as_str()) {
                        parts.insert(id.clone());
                        row.deleted = true;
                    }
                }
                for row in self.table(Table::Operations).values_mut() {
                    if row.parent.as_ref().is_some_and(|p| parts.contains(p)) {
                        row.deleted = true;
                    }
                }
            }
        }
    }

    /// A job, its parts and their operations.
    fn write_job(&mut self, job: &Value) -> Tree {
        let id = text(job, "external_id");
        let mut tree = self.upsert(Table::Jobs, job, None, None);
        for part in list(job, "parts") {
            tree.children.push(self.write_part(&part, &id));
        }
        tree
    }

    /// Replace mode: deletes the job's stored parts it leaves out, with their operations, and
    /// the stored operations of its parts it leaves out, listing them in the job's answer.
    fn replace(&mut self, job: &Value, tree: &mut Tree) {
        let ids = |items: &[Value]| -> BTreeSet<String> {
            items.iter().map(|i| text(i, "external_id")).collect()
        };
        let parts = list(job, "parts");
        for (part, sent) in tree.children.iter_mut().zip(&parts) {
            let keep = ids(&list(sent, "operations"));
            for operation in self.retire(Table::Operations, &part.external_id, &keep) {
                part.children.push(Tree::leaf(&operation, Change::Deleted));
            }
        }
        for part in self.retire(Table::Parts, &tree.external_id, &ids(&parts)) {
            let mut deleted = Tree::leaf(&part, Change::Deleted);
            for operation in self.retire(Table::Operations, &part, &BTreeSet::new()) {
                deleted
                    .children
                    .push(Tree::leaf(&operation, Change::Deleted));
            }
            tree.children.push(deleted);
        }
    }

    /// The reference of a record that does not resolve, if any. No write of a request changes
    /// what its records' references resolve to (a request holds one table), so every record
    /// is checked before any is written.
    fn unresolved(&self, step: &Step, sent: &Value) -> Option<Fate> {
        let missing =
            |field: &str| Some(Fate::Rejected(ErrorCode::ReferenceNotFound, field.into()));
        match step.table {
            Table::Cells => None,
            Table::Jobs => list(sent, "parts")
                .iter()
                .enumerate()
                .find_map(|(i, part)| self.cells_of(part, &format!("parts[{i}].")).err()),
            Table::Parts if !self.live(Table::Jobs, &text(sent, "job_external_id")) => {
                missing("job_external_id")
            }
            Table::Parts => self.cells_of(sent, "").err(),
            Table::Operations if !self.live(Table::Parts, &text(sent, "part_external_id")) => {
                missing("part_external_id")
            }
            Table::Operations => self
                .cell_named(&text(sent, "cell_name"), sent)
                .err()
                .map(|code| Fate::Rejected(code, "cell_name".into())),
        }
    }

    /// One accepted record's write.
    fn write(&mut self, step: &Step, sent: &Value) -> Fate {
        let tree = match step.table {
            Table::Cells => self.upsert(Table::Cells, sent, None, None),
            Table::Jobs => self.write_job(sent),
            Table::Parts => self.write_part(sent, &text(sent, "job_external_id")),
            Table::Operations => {
                let part = text(sent, "part_external_id");
                let cell = self.cell_named(&text(sent, "cell_name"), sent).ok();
                self.upsert(Table::Operations, sent, Some(part), cell)
            }
        };
        Fate::Synced(tree)
    }

    /// A request's answer, record by record in input order, and its effect on the state.
    ///
    /// Records are written in input order. Deletions of replace mode come after all of the
    /// request's writes: a replacing job deletes the children that are still its own once every
    /// record is written, so a child that a later record of the same request takes along is
    /// moved, not deleted and restored (see `a_replace_deletes_after_the_requests_writes`).
    ///
    /// A replacing job that would delete what the floor worked on is refused whole. Parts the
    /// floor worked on then follow their operations, and a part listed in the request whose
    /// status or totals that changed is answered as changed.
    pub fn sync(&mut self, step: &Step) -> Vec<Fate> {
        self.floor.begin_step();
        let totals = floor_model::all_totals(&self.state, &self.floor);
        let mut claimed = BTreeSet::new();
        let checked: Vec<Option<Fate>> = step
            .records
            .iter()
            .map(|sent| {
                if let Some(field) = &sent.invalid {
                    return Some(Fate::Rejected(ErrorCode::ValidationError, field.clone()));
                }
                if let Some(field) = unlisted(step, &sent.json) {
                    return Some(Fate::Rejected(ErrorCode::ValidationError, field));
                }
                let mut mine = BTreeSet::new();
                for (key, field) in keys_of(step.table, &sent.json) {
                    if claimed.contains(&key) || !mine.insert(key) {
                        return Some(Fate::Rejected(ErrorCode::ValidationError, field));
                    }
                }
                claimed.extend(mine);
                self.unresolved(step, &sent.json)
            })
            .collect();
        let conflicts = floor_model::replace_conflicts(self, step, &checked);
        let mut fates: Vec<Fate> = step
            .records
            .iter()
            .zip(checked)
            .enumerate()
            .map(|(i, (sent, checked))| match checked {
                Some(fate) => fate,
                None if conflicts.contains(&i) => {
                    Fate::Rejected(ErrorCode::Conflict, "parts".into())
                }
                None => self.write(step, &sent.json),
            })
            .collect();
        for (sent, fate) in step.records.iter().zip(&mut fates) {
            if let Fate::Synced(tree) = fate {
                if step.table == Table::Jobs && replaces(step, &sent.json) {
                    self.replace(&sent.json, tree);
                }
            }
        }
        let followed = floor_model::settle(&mut self.state, &mut self.floor, &totals);
        for fate in &mut fates {
            if let Fate::Synced(tree) = fate {
                floor_model::mark(tree, step.table, &followed);
                *tree = tree.clone().rolled_up();
            }
        }
        fates
    }

    /// Every child a replacing job of the request may delete: its stored parts and their
    /// operations, and the stored operations of the parts it lists.
    pub fn doomed_by(&self, job: &Value) -> BTreeSet<(Table, String)> {
        let job_id = text(job, "external_id");
        let empty = BTreeMap::new();
        let rows = |table| self.state.get(&table).unwrap_or(&empty);
        let mut parts: BTreeSet<String> = list(job, "parts")
            .iter()
            .map(|p| text(p, "external_id"))
            .collect();
        for (id, part) in rows(Table::Parts) {
            if part.parent.as_deref() == Some(job_id.as_str()) {
                parts.insert(id.clone());
            }
        }
        let operations = rows(Table::Operations)
            .iter()
            .filter(|(_, o)| o.parent.as_ref().is_some_and(|p| parts.contains(p)))
            .map(|(id, _)| (Table::Operations, id.clone()));
        let mut doomed: BTreeSet<_> = operations.collect();
        doomed.extend(parts.into_iter().map(|id| (Table::Parts, id)));
        doomed
    }
}

/// Under replace, the list a job leaves out (its `parts`, or a part's `operations`): the server
/// refuses the job rather than delete every stored child.
fn unlisted(step: &Step, job: &Value) -> Option<String> {
    if step.table != Table::Jobs || !replaces(step, job) {
        return None;
    }
    let Some(parts) = job.get("parts") else {
        return Some("parts".into());
    };
    let parts = parts.as_array().map_or(&[][..], Vec::as_slice);
    (parts
        .iter()
        .position(|part| part.get("operations").is_none()))
    .map(|i| format!("parts[{i}].operations"))
}

/// Whether a job of this request replaces its children: its own `children`, else the request's.
pub fn replaces(step: &Step, job: &Value) -> bool {
    let mode = job.get("children").and_then(Value::as_str);
    mode.or(step.children) == Some("replace")
}

/// Every record a request's record writes, with the field that names it, in document order.
pub fn keys_of(table: Table, json: &Value) -> Vec<((Table, String), String)> {
    let mut keys = vec![((table, text(json, "external_id")), "external_id".to_owned())];
    let operations = |part: &Value, path: &str, keys: &mut Vec<_>| {
        for (j, operation) in list(part, "operations").iter().enumerate() {
            keys.push((
                (Table::Operations, text(operation, "external_id")),
                format!("{path}operations[{j}].external_id"),
            ));
        }
    };
    match table {
        Table::Jobs => {
            for (i, part) in list(json, "parts").iter().enumerate() {
                let path = format!("parts[{i}].");
                keys.push((
                    (Table::Parts, text(part, "external_id")),
                    format!("{path}external_id"),
                ));
                operations(part, &path, &mut keys);
            }
        }
        Table::Parts => operations(json, "", &mut keys),
        Table::Cells | Table::Operations => {}
    }
    keys
}
