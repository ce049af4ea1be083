//! A sync request body: the first byte picks the endpoint (entity × single/bulk, see
//! `eryxon::http::fuzz::ENDPOINTS`), the rest is the body, decoded and prepared as the server
//! does. Asserts a validated value that agrees with the body, or a precise `VALIDATION_ERROR`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((&selector, body)) = data.split_first() {
        if let Err(breach) = eryxon::http::fuzz::check_sync_body(selector, body) {
            panic!("{breach}");
        }
    }
});
