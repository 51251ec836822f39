//! Arbitrary packets through the NTS checks of both ends: the field scan,
//! a server's request check (a NAK only for a well-formed request with a
//! unique identifier; never an accepted forgery) and a client's response
//! check (never accepted without the right S2C key), without panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ntpkit::nts::ef::NtsFields;
use ntpkit::nts::{
    AeadAlgorithm, AeadKey, CookieKey, CookieKeys, NtsReject, NtsServer, NtsSession, SessionKeys,
};
use ntpkit::wire::Packet;

fn keys() -> SessionKeys {
    SessionKeys {
        c2s: AeadKey::new(AeadAlgorithm::AesSivCmac256, &[1; 32]).unwrap(),
        s2c: AeadKey::new(AeadAlgorithm::AesSivCmac256, &[2; 32]).unwrap(),
    }
}

struct Counter(u64);
impl ntpkit::random::Random for Counter {
    fn next_u64(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = Packet::new_checked(data) else {
        return;
    };
    let _ = NtsFields::scan(&packet);
    let mut server = NtsServer::new(
        CookieKeys::new(CookieKey {
            id: 1,
            key: [7; 32],
        }),
        [0; 8],
    );
    match server.check_request(&packet) {
        // The fuzzer cannot forge the C2S authenticator of a cookie it
        // cannot make: anything accepted is a bug.
        Ok(_) => panic!("a forged NTS request was accepted"),
        Err(NtsReject::Nak { uid, .. }) => assert!(uid.len() >= 32),
        Err(NtsReject::Drop(_)) => {}
    }
    // A client with a request in flight reads the packet as a response.
    let mut session = NtsSession::new(keys());
    session.add_cookie(&[9; 104]).unwrap();
    let mut request = [0u8; 2048];
    request[0] = 0x23;
    session
        .write_request(&mut request, &mut Counter(0))
        .unwrap();
    let mut copy = [0u8; 1024];
    let copy = &mut copy[..data.len().min(1024)];
    copy.copy_from_slice(&data[..copy.len()]);
    assert!(session.verify_response(copy).is_err());
});
