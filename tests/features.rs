//! The optional `serde` and `bytes` features.

#[cfg(feature = "serde")]
#[test]
fn header_and_sample_through_json() {
    use ntpkit::wire::Header;
    let header = Header::decode(include_bytes!("vectors/chrony_response.bin")).unwrap();
    let json = serde_json::to_string(&header).unwrap();
    assert!(json.contains("\"stratum\":8"), "{json}");
    let back: Header = serde_json::from_str(&json).unwrap();
    assert_eq!(back, header);
}

#[cfg(feature = "bytes")]
#[test]
fn header_through_buf_and_buf_mut() {
    use bytes::{Buf, BufMut, Bytes, BytesMut};
    use ntpkit::wire::{Error, Header};

    let mut src = Bytes::from_static(include_bytes!("vectors/ntpdrs_response.bin"));
    let header = Header::decode_buf(&mut src).unwrap();
    assert_eq!(src.remaining(), 0, "the packet was consumed");
    assert_eq!(header.stratum, 1);

    let mut dst = BytesMut::new();
    dst.put_u8(0xaa);
    header.emit_buf(&mut dst).unwrap();
    assert_eq!(&dst[1..], include_bytes!("vectors/ntpdrs_response.bin"));

    let split = Bytes::from_static(&[0x23; 24]).chain(Bytes::from_static(&[0; 24]));
    let mut split = split;
    assert_eq!(Header::decode_buf(&mut split), Err(Error::Fragmented));
}
