//! Eryxon Sync: an upsert server that lets an ERP push jobs, parts, operations, cells and
//! resources into an MES, keyed by the ERP's own `external_id`.

pub mod cli;
pub mod config;
pub mod domain;
pub mod http;
pub mod store;
pub mod webhooks;

// A sync allocates many small strings, decoding on every core at once and freeing batches on
// another thread, where glibc's allocator is slowest (docs/decisions/0016-mimalloc-allocator.md:
// flat calls 2–21 % faster with mimalloc). Declared in the library so that the binary, the tests
// and the benchmark's in-process server allocate alike. Built without transparent huge pages,
// which make its reserved memory resident (peak RSS 63–95 MB instead of 34–39 in the 100k load);
// the bench's "server peak RSS in the 100k load < 300 MB" target guards it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
