//! Arbitrary NTS-KE bytes as a client reads a server's response: parsing
//! never panics, and an accepted response has 1 to 8 cookies of 1 to 256
//! bytes each, an algorithm that was offered, and a server name in ASCII.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ntpkit::nts::ke::{parse_response, Records};
use ntpkit::nts::{AeadAlgorithm, NtsSession, MAX_COOKIES, MAX_COOKIE_LEN};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, message)) = data.split_first() else {
        return;
    };
    let offered: &[AeadAlgorithm] = match pick % 3 {
        0 => &AeadAlgorithm::SUPPORTED,
        1 => &[AeadAlgorithm::AesSivCmac256],
        _ => &[AeadAlgorithm::AesSivCmac512],
    };
    for record in Records::new(message) {
        if let Ok(record) = record {
            assert!(record.record_type & 0x8000 == 0);
        }
    }
    if let Ok(response) = parse_response(message, offered) {
        assert!(offered.contains(&response.algorithm));
        let cookies: Vec<&[u8]> = response.cookies().collect();
        assert!((1..=MAX_COOKIES).contains(&cookies.len()));
        let n = response.algorithm.key_len();
        let keys = ntpkit::nts::SessionKeys {
            c2s: ntpkit::nts::AeadKey::new(response.algorithm, &[1; 64][..n]).unwrap(),
            s2c: ntpkit::nts::AeadKey::new(response.algorithm, &[2; 64][..n]).unwrap(),
        };
        let mut session = NtsSession::new(keys);
        for cookie in cookies {
            assert!((1..=MAX_COOKIE_LEN).contains(&cookie.len()));
            session.add_cookie(cookie).unwrap();
        }
        assert!(response
            .server
            .is_none_or(|s| s.is_ascii() && !s.is_empty()));
    }
});
