//! Entities, validation and sync rules. No I/O lives here.

pub mod api_key;
pub mod batch;
pub mod canonical;
pub mod decode;
pub mod delivery;
pub mod event;
pub mod expect;
pub mod fields;
pub mod floor;
pub mod history;
pub mod instant;
pub mod network;
pub mod number;
pub mod outcome;
pub mod patch;
pub mod payload;
pub mod progress;
pub mod quantity;
pub mod record;
pub mod schema;
pub mod value;
mod value_schema;
pub mod view;
pub mod webhook;

pub use api_key::Mode;
pub use schema::Entity;

/// Whose data a request touches: one tenant, in one mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scope {
    pub tenant_id: uuid::Uuid,
    pub mode: Mode,
}
