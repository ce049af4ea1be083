//! Integration tests: the real server on a real store, over HTTP.

mod common;

mod cli;
mod concurrency;
mod control;
mod deploy;
mod errors;
mod history;
mod listing;
mod openapi;
mod security;
mod seed;
mod semantics;
