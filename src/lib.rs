//! Eryxon Sync: an upsert server that lets an ERP push jobs, parts, operations, cells and
//! resources into an MES, keyed by the ERP's own `external_id`.

pub mod cli;
pub mod config;
pub mod domain;
pub mod http;
pub mod store;

// A sync allocates many small strings, decoding on every core at once; glibc's allocator made
// whole calls 2–21 % slower (docs/performance.md, bottleneck 24). Declared in the library so that
// the binary, the tests and the benchmark's in-process server allocate alike. Built without
// transparent huge pages, which made its reserved memory resident (peak RSS 63–95 MB, not 34–39).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
