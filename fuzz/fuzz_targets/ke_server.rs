//! Arbitrary NTS-KE bytes as a server reads them: finding the message's end
//! and parsing a client's request never panic, and a request accepted
//! offers NTPv4 and names an algorithm the server supports.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ntpkit::nts::ke::{message_len, parse_request, write_error, MAX_MESSAGE_LEN};
use ntpkit::nts::AeadAlgorithm;

fuzz_target!(|data: &[u8]| {
    match message_len(data) {
        Ok(Some(len)) => assert!(len <= data.len() && len <= MAX_MESSAGE_LEN),
        Ok(None) => assert!(data.len() < MAX_MESSAGE_LEN),
        Err(_) => {}
    }
    match parse_request(data) {
        Ok(request) => assert!(AeadAlgorithm::SUPPORTED.contains(&request.algorithm)),
        Err(e) => {
            // Every refusal has an Error record to answer with.
            let mut out = [0u8; 16];
            assert!(write_error(&mut out, e.error_code()).is_ok());
        }
    }
});
