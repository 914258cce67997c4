//! The hash chain: `hash(n) = SHA-256("ward-audit-v1" ‖ seq(n) ‖ hash(n-1) ‖ body(n))`, with
//! 32 zero bytes before the first record. Any change to a body, its position or its neighbours
//! changes every later hash.

/// The `prev_hash` of the first record.
pub const GENESIS: [u8; 32] = [0; 32];

const DOMAIN: &[u8] = b"ward-audit-v1";

/// The hash of record `seq` with body `body` following `prev`.
pub fn link_hash(seq: u64, prev: &[u8; 32], body: &[u8]) -> [u8; 32] {
    let mut buf = Vec::with_capacity(DOMAIN.len() + 8 + 32 + body.len());
    buf.extend_from_slice(DOMAIN);
    buf.extend_from_slice(&seq.to_be_bytes());
    buf.extend_from_slice(prev);
    buf.extend_from_slice(body);
    ward_crypto::sha256(&buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_input_matters() {
        let h = link_hash(1, &GENESIS, b"a");
        assert_ne!(h, link_hash(2, &GENESIS, b"a"));
        assert_ne!(h, link_hash(1, &[1; 32], b"a"));
        assert_ne!(h, link_hash(1, &GENESIS, b"b"));
        assert_eq!(h, link_hash(1, &GENESIS, b"a"));
    }
}
