//! MD5 (RFC 1321) of a message shorter than 56 bytes: one block. It names
//! an IPv6 server in a reference ID, so the wire format needs no crypto
//! crate; the MACs (feature `auth`) use RustCrypto's.

/// The per-round shift amounts.
const S: [u32; 64] = [
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9,
    14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15,
    21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
];

/// floor(2^32 × |sin(i + 1)|).
const K: [u32; 64] = [
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];

/// The longest message [`digest`] takes: what fits one block with the
/// padding and the length.
pub(crate) const MAX_LEN: usize = 55;

/// The MD5 digest of `message` (at most [`MAX_LEN`] bytes).
pub(crate) fn digest<const N: usize>(message: &[u8; N]) -> [u8; 16] {
    const { assert!(N <= MAX_LEN) };
    let mut block = [0u8; 64];
    block[..N].copy_from_slice(message);
    block[N] = 0x80;
    block[56..].copy_from_slice(&((N as u64) * 8).to_le_bytes());
    let mut m = [0u32; 16];
    for (word, bytes) in m.iter_mut().zip(block.chunks_exact(4)) {
        *word = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }
    let init = [0x67452301u32, 0xefcdab89, 0x98badcfe, 0x10325476];
    let [mut a, mut b, mut c, mut d] = init;
    for i in 0..64 {
        let (f, g) = match i / 16 {
            0 => ((b & c) | (!b & d), i),
            1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
            2 => (b ^ c ^ d, (3 * i + 5) % 16),
            _ => (c ^ (b | !d), (7 * i) % 16),
        };
        let rotated = a
            .wrapping_add(f)
            .wrapping_add(K[i])
            .wrapping_add(m[g])
            .rotate_left(S[i]);
        (a, b, c, d) = (d, b.wrapping_add(rotated), b, c);
    }
    let mut out = [0u8; 16];
    for (chunk, (word, start)) in out
        .chunks_exact_mut(4)
        .zip([a, b, c, d].into_iter().zip(init))
    {
        chunk.copy_from_slice(&word.wrapping_add(start).to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::digest;

    fn hex(bytes: [u8; 16]) -> std::string::String {
        bytes.iter().map(|b| std::format!("{b:02x}")).collect()
    }

    #[test]
    fn rfc1321_test_suite() {
        assert_eq!(hex(digest(b"")), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(hex(digest(b"a")), "0cc175b9c0f1b6a831c399e269772661");
        assert_eq!(hex(digest(b"abc")), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            hex(digest(b"message digest")),
            "f96b697d7cb7938d525a2f31aaf161d0"
        );
        assert_eq!(
            hex(digest(b"abcdefghijklmnopqrstuvwxyz")),
            "c3fcd3d76192e4007dfb496cca67e13b"
        );
    }

    #[cfg(feature = "auth")]
    #[test]
    fn agrees_with_rustcrypto_at_every_length() {
        use md5::{Digest, Md5};
        fn check<const N: usize>() {
            let mut message = [0u8; N];
            for (i, b) in message.iter_mut().enumerate() {
                *b = (i as u8).wrapping_mul(37).wrapping_add(N as u8);
            }
            assert_eq!(digest(&message)[..], Md5::digest(message)[..], "{N} bytes");
        }
        check::<0>();
        check::<16>();
        check::<54>();
        check::<55>();
    }
}
