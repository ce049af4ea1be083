//! Integration tests: the real server on a real store, over HTTP.

mod common;

mod cli;
mod concurrency;
mod deploy;
mod errors;
mod push;
mod security;
mod seed;
mod semantics;
