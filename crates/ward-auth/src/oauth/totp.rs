//! TOTP (RFC 6238: SHA-1, 6 digits, 30 s, ±1 step) second factor: enrollment with a QR code
//! and single-use recovery codes, and verification that never accepts the same time step twice.
//! The secret is sealed with the key ring before it is stored.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use totp_rs::{Builder, Secret, Totp};
use ward_crypto::SecretBytes;
use ward_store::auth::{SessionRecord, UserRecord};

use super::flow::with_query;
use super::secrets::{random_token, token_hash};
use super::{AuthServer, OAuthError};

/// What the enrollment page shows, once.
#[derive(Debug, Clone)]
pub struct Enrollment {
    /// The secret in base32 (for manual entry).
    pub secret_base32: String,
    /// `otpauth://totp/...` URI.
    pub uri: String,
    /// The URI as an inline SVG QR code.
    pub qr_svg: String,
    /// Ten single-use recovery codes.
    pub recovery_codes: Vec<String>,
}

fn seal_name(user_id: &str) -> String {
    format!("totp/{user_id}")
}

fn totp(secret: &[u8]) -> Result<Totp, OAuthError> {
    Builder::new()
        .with_secret(Secret::new(secret.to_vec().into_boxed_slice()))
        .build()
        .map_err(|_| OAuthError::server_error())
}

/// Renders `text` as an SVG QR code (modules as one path; no external assets).
pub fn qr_svg(text: &str) -> String {
    use qrcodegen::{QrCode, QrCodeEcc};
    let Ok(qr) = QrCode::encode_text(text, QrCodeEcc::Medium) else {
        return String::new();
    };
    let size = qr.size();
    let mut path = String::new();
    for y in 0..size {
        for x in 0..size {
            if qr.get_module(x, y) {
                path.push_str(&format!("M{},{}h1v1h-1z", x + 4, y + 4));
            }
        }
    }
    let dim = size + 8;
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {dim} {dim}\" width=\"264\" \
         height=\"264\" role=\"img\" aria-label=\"QR code of the authenticator secret\">\
         <rect width=\"100%\" height=\"100%\" fill=\"#fff\"/><path d=\"{path}\" fill=\"#000\"/></svg>"
    )
}

impl AuthServer {
    /// Starts (or restarts, while unconfirmed) TOTP enrollment for the session's user.
    pub async fn begin_enrollment(
        &self,
        session: &SessionRecord,
    ) -> Result<Enrollment, OAuthError> {
        let mut user = self
            .session_user(session)
            .await?
            .ok_or_else(|| OAuthError::access_denied("log in first"))?;
        if user.totp_confirmed {
            return Err(OAuthError::invalid_request("TOTP is already set up"));
        }
        let raw: [u8; 20] = ward_crypto::random_bytes().map_err(|_| OAuthError::server_error())?;
        let sealed = self
            .ring
            .keyring()
            .seal_secret(&seal_name(&user.id), &SecretBytes::new(raw.to_vec()))?;
        let codes: Vec<String> = (0..10)
            .map(|_| random_token().map(|t| t.chars().take(10).collect()))
            .collect::<Result<_, _>>()?;
        user.totp_sealed = Some(STANDARD.encode(sealed));
        user.recovery_hashes = codes.iter().map(|c| token_hash(c)).collect();
        self.store.put_user(&user).await?;
        let secret_base32 = Secret::new(raw.to_vec().into_boxed_slice()).to_base32();
        let label = format!("Ward:{}", user.username);
        let uri = with_query(
            &format!("otpauth://totp/{}", label.replace(' ', "%20")),
            &[("secret", &secret_base32), ("issuer", "Ward")],
        );
        Ok(Enrollment {
            qr_svg: qr_svg(&uri),
            secret_base32,
            uri,
            recovery_codes: codes,
        })
    }

    /// Checks a TOTP code (or, when `allow_recovery`, a recovery code, which is then spent).
    /// A time step is accepted once.
    pub(crate) async fn check_second_factor(
        &self,
        user: &mut UserRecord,
        code: &str,
        allow_recovery: bool,
        now: i64,
    ) -> Result<bool, OAuthError> {
        let code = code.trim();
        if allow_recovery && code.len() == 10 {
            let h = token_hash(code);
            if let Some(pos) = user
                .recovery_hashes
                .iter()
                .position(|r| super::secrets::ct_eq(r, &h))
            {
                user.recovery_hashes.remove(pos);
                self.store.put_user(user).await?;
                return Ok(true);
            }
            return Ok(false);
        }
        let Some(sealed) = user.totp_sealed.as_deref() else {
            return Ok(false);
        };
        let sealed = STANDARD
            .decode(sealed)
            .map_err(|_| OAuthError::server_error())?;
        let secret = self
            .ring
            .keyring()
            .open_secret(&seal_name(&user.id), &sealed)?;
        let time = u64::try_from(now).unwrap_or(0);
        let Some(step) = totp(secret.expose())?.check(code, time) else {
            return Ok(false);
        };
        let step = i64::try_from(step).unwrap_or(i64::MAX);
        if step <= user.totp_last_step {
            return Ok(false);
        }
        user.totp_last_step = step;
        self.store.put_user(user).await?;
        Ok(true)
    }
}
