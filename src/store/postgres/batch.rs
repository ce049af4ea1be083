//! A sync batch as PostgreSQL's set-based upserts bind it: one typed array per column, which
//! the statements unnest side by side (`sync.rs`).

use sqlx::postgres::PgArguments;
use sqlx::Arguments;
use uuid::Uuid;

use crate::domain::patch::Patch;
use crate::domain::schema::{Column, Entity, Kind, Scalar};
use crate::store::{StoreError, UpsertRow};

/// One column of a batch, in the Rust type its array parameter is bound with; texts are
/// borrowed from the records.
enum ColumnValues<'a> {
    Ids(Vec<Uuid>),
    Text(Vec<Option<&'a str>>),
    Int(Vec<Option<i64>>),
    Real(Vec<Option<f64>>),
    Bool(Vec<Option<bool>>),
}

fn mismatch(column: &Column, value: &Scalar) -> StoreError {
    StoreError::Database(sqlx::Error::Encode(
        format!("column {} cannot hold {value:?}", column.name).into(),
    ))
}

impl<'a> ColumnValues<'a> {
    fn new(column: &Column, rows: usize) -> ColumnValues<'a> {
        match column.kind {
            Kind::Reference(_) => ColumnValues::Ids(Vec::with_capacity(rows)),
            Kind::Text | Kind::Date | Kind::Time | Kind::Json => {
                ColumnValues::Text(Vec::with_capacity(rows))
            }
            Kind::Int => ColumnValues::Int(Vec::with_capacity(rows)),
            Kind::Real => ColumnValues::Real(Vec::with_capacity(rows)),
            Kind::Bool => ColumnValues::Bool(Vec::with_capacity(rows)),
        }
    }

    fn push(&mut self, column: &Column, value: &'a Patch<Scalar>) -> Result<(), StoreError> {
        let scalar = match value {
            Patch::Value(scalar) => Some(scalar),
            Patch::Null | Patch::Absent => None,
        };
        match (self, scalar) {
            (ColumnValues::Text(values), None) => values.push(None),
            (ColumnValues::Text(values), Some(Scalar::Text(text))) => values.push(Some(text)),
            (ColumnValues::Int(values), None) => values.push(None),
            (ColumnValues::Int(values), Some(Scalar::Int(int))) => values.push(Some(*int)),
            (ColumnValues::Real(values), None) => values.push(None),
            (ColumnValues::Real(values), Some(Scalar::Real(real))) => values.push(Some(*real)),
            (ColumnValues::Real(values), Some(Scalar::Int(int))) => values.push(Some(*int as f64)),
            (ColumnValues::Bool(values), None) => values.push(None),
            (ColumnValues::Bool(values), Some(Scalar::Bool(bool))) => values.push(Some(*bool)),
            (_, Some(scalar)) => return Err(mismatch(column, scalar)),
            (ColumnValues::Ids(_), None) => unreachable!("references are never values"),
        }
        Ok(())
    }

    fn add_to(&self, args: &mut PgArguments) -> Result<(), sqlx::error::BoxDynError> {
        match self {
            ColumnValues::Ids(values) => args.add(values.as_slice()),
            ColumnValues::Text(values) => args.add(values.as_slice()),
            ColumnValues::Int(values) => args.add(values.as_slice()),
            ColumnValues::Real(values) => args.add(values.as_slice()),
            ColumnValues::Bool(values) => args.add(values.as_slice()),
        }
    }
}

/// A batch split into the arrays the statements unnest, where bit k of `masks` says column k
/// was sent (references always are).
pub(super) struct Batch<'a> {
    pub ids: Vec<Uuid>,
    pub sources: Vec<&'a str>,
    pub external_ids: Vec<&'a str>,
    pub masks: Vec<i64>,
    pub fingerprints: Vec<i64>,
    columns: Vec<ColumnValues<'a>>,
}

impl<'a> Batch<'a> {
    pub fn new(
        entity: Entity,
        rows: impl ExactSizeIterator<Item = &'a UpsertRow<'a>>,
    ) -> Result<Batch<'a>, StoreError> {
        let columns = entity.columns();
        let mut batch = Batch {
            ids: Vec::with_capacity(rows.len()),
            sources: Vec::with_capacity(rows.len()),
            external_ids: Vec::with_capacity(rows.len()),
            masks: Vec::with_capacity(rows.len()),
            fingerprints: Vec::with_capacity(rows.len()),
            columns: columns
                .iter()
                .map(|c| ColumnValues::new(c, rows.len()))
                .collect(),
        };
        let mut scratch = Vec::new();
        for row in rows {
            let refs = row.refs.len();
            debug_assert_eq!(refs + row.values.len(), columns.len());
            let mask = row.mask();
            batch.ids.push(row.id);
            batch.sources.push(&row.key.source);
            batch.external_ids.push(&row.key.external_id);
            batch.masks.push(mask as i64);
            batch.fingerprints.push(row.fingerprint(mask, &mut scratch));
            for (slot, id) in batch.columns.iter_mut().zip(&row.refs) {
                match slot {
                    ColumnValues::Ids(ids) => ids.push(*id),
                    _ => unreachable!("references come first in every schema"),
                }
            }
            for ((slot, column), value) in batch.columns[refs..]
                .iter_mut()
                .zip(&columns[refs..])
                .zip(row.values)
            {
                slot.push(column, value)?;
            }
        }
        Ok(batch)
    }

    /// The parameters of the insert and the update: `$1..$3` then the batch's arrays.
    pub fn arguments(
        &self,
        tenant: &str,
        mode: &str,
        now: &str,
    ) -> Result<PgArguments, StoreError> {
        let mut args = PgArguments::default();
        let mut add = || -> Result<(), sqlx::error::BoxDynError> {
            args.add(tenant)?;
            args.add(mode)?;
            args.add(now)?;
            args.add(self.ids.as_slice())?;
            args.add(self.sources.as_slice())?;
            args.add(self.external_ids.as_slice())?;
            args.add(self.masks.as_slice())?;
            args.add(self.fingerprints.as_slice())?;
            self.columns.iter().try_for_each(|c| c.add_to(&mut args))
        };
        add().map_err(|e| StoreError::Database(sqlx::Error::Encode(e)))?;
        Ok(args)
    }
}
