//! Integration tests: the real server on a real store, over HTTP.

#[path = "../support/engines.rs"]
mod engines;

mod common;

mod cli;
mod compat;
mod concurrency;
mod console;
mod console_pages;
mod console_webhooks;
mod control;
mod crash;
mod deploy;
mod disk;
mod errors;
mod errors_store;
mod events;
mod floor;
mod floor_records;
mod history;
mod hostile;
mod idempotent_writes;
mod listing;
mod locks;
mod metadata;
mod metrics;
mod openapi;
mod ownership;
mod part_follows;
mod push;
mod push_bodies;
mod push_exports;
mod push_order;
mod push_retries;
mod quantities;
mod races;
mod reads;
mod retention;
mod scopes;
mod security;
mod seed;
mod semantics;
mod shutdown;
mod soak;
mod startup;
mod sync_events;
mod values;
mod webhook_crash;
mod webhook_receiver;
mod webhook_retries;
mod webhook_ssrf;
mod webhooks;
mod webhooks_backoff;
mod webhooks_rules;
mod webhooks_shared;
