//! Integration tests: the real server on a real store, over HTTP.

mod common;

mod cli;
mod compat;
mod concurrency;
mod control;
mod crash;
mod deploy;
mod errors;
mod history;
mod hostile;
mod listing;
mod openapi;
mod push;
mod security;
mod seed;
mod semantics;
mod soak;
mod values;
