//! Eryxon Sync: an upsert server that lets an ERP push jobs, parts, operations, cells and
//! resources into an MES, keyed by the ERP's own `external_id`.

pub mod cli;
pub mod config;
pub mod domain;
pub mod http;
pub mod store;
