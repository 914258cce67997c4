//! Opaque paging cursors: the position and query of a page, authenticated with an HMAC key
//! derived from the master key, and expiring. Clients cannot forge or alter them, and an old
//! link stops working after the configured lifetime.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Value, json};
use ward_crypto::{Mac, SecretBytes};

use crate::{CoreError, CoreResult};

/// The key that signs cursors.
#[derive(Debug)]
pub struct CursorKey(Mac);

impl CursorKey {
    /// A cursor key from 32 secret bytes.
    pub fn new(key: &SecretBytes) -> Self {
        Self(Mac::new(key))
    }

    /// Encodes `payload`, valid until `expires` (seconds since the epoch).
    pub fn seal<T: Serialize>(&self, payload: &T, expires: i64) -> String {
        let body = json!({"p": payload, "x": expires}).to_string();
        let tag = self.0.sign(body.as_bytes());
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(body),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// Decodes a cursor, checking its tag and expiry at `now`.
    pub fn open<T: DeserializeOwned>(&self, cursor: &str, now: i64) -> CoreResult<T> {
        let bad =
            || CoreError::bad_request("WARD-CURSOR", "the paging cursor is invalid or expired");
        let (body, tag) = cursor.split_once('.').ok_or_else(bad)?;
        let body = URL_SAFE_NO_PAD.decode(body).map_err(|_| bad())?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| bad())?;
        if !self.0.verify(&body, &tag) {
            return Err(bad());
        }
        let v: Value = serde_json::from_slice(&body).map_err(|_| bad())?;
        let expires = v.get("x").and_then(Value::as_i64).ok_or_else(bad)?;
        if now > expires {
            return Err(bad());
        }
        serde_json::from_value(v.get("p").cloned().ok_or_else(bad)?).map_err(|_| bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> CursorKey {
        CursorKey::new(&SecretBytes::new(vec![b; 32]))
    }

    #[test]
    fn round_trip_tamper_and_expiry() {
        let k = key(1);
        let c = k.seal(&json!({"before": 42}), 100);
        let v: Value = k.open(&c, 50).unwrap();
        assert_eq!(v["before"], 42);
        assert!(k.open::<Value>(&c, 101).is_err(), "expired");
        assert!(key(2).open::<Value>(&c, 50).is_err(), "other key");
        let (body, tag) = c.split_once('.').unwrap();
        let mut forged = URL_SAFE_NO_PAD.decode(body).unwrap();
        forged[10] ^= 1;
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(forged));
        assert!(k.open::<Value>(&forged, 50).is_err(), "tampered");
        assert!(k.open::<Value>("garbage", 50).is_err());
    }
}
