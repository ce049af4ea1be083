//! An `Authorization` header value, parsed as the authentication middleware does. Asserts a
//! key that is exactly the one sent, or a `401` with one of the fixed messages.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(breach) = eryxon::http::fuzz::check_key_header(data) {
        panic!("{breach}");
    }
});
