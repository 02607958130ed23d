//! Webhook secrets and signatures as the Standard Webhooks specification describes them: the
//! secret is shown as `whsec_<base64 key>`, and each delivery carries `webhook-id`,
//! `webhook-timestamp` (Unix seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 of
//! "{id}.{timestamp}.{body}">`. Verification lives here too, for tests and as the reference the
//! README's example follows.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

const PREFIX: &str = "whsec_";

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("the stored webhook secret is not base64")]
    BadSecret,
}

/// A new secret in its stored form: 32 random bytes, base64.
pub fn new_secret() -> String {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    STANDARD.encode(key)
}

/// The secret as shown to the provider, once.
pub fn shown(stored: &str) -> String {
    format!("{PREFIX}{stored}")
}

/// The `webhook-signature` header value for one delivery.
pub fn sign(stored: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, WebhookError> {
    let key = STANDARD
        .decode(stored)
        .map_err(|_| WebhookError::BadSecret)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|_| WebhookError::BadSecret)?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// Whether one of the space-separated signatures in `header` is valid for the delivery, as a
/// receiver checks it with the secret it was shown (`whsec_...`). The comparison is in
/// constant time; checking the timestamp's age is left to the receiver.
pub fn verify(shown_secret: &str, id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    let stored = shown_secret.strip_prefix(PREFIX).unwrap_or(shown_secret);
    let Ok(key) = STANDARD.decode(stored) else {
        return false;
    };
    header.split(' ').any(|candidate| {
        let Some(sig) = candidate.strip_prefix("v1,") else {
            return false;
        };
        let Ok(sig) = STANDARD.decode(sig) else {
            return false;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key) else {
            return false;
        };
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body);
        mac.verify_slice(&sig).is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_standard_webhooks_reference_vector() {
        // The example of the Standard Webhooks reference libraries.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let timestamp = 1614265330;
        let body = br#"{"test": 2432232314}"#;
        let signature = sign(secret.strip_prefix(PREFIX).unwrap(), id, timestamp, body).unwrap();
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(verify(
            secret,
            id,
            timestamp,
            body,
            &format!("v1,bogus {signature}")
        ));
        assert!(!verify(secret, id, timestamp + 1, body, &signature));
        assert!(!verify(secret, id, timestamp, b"{}", &signature));
    }

    #[test]
    fn new_secrets_are_distinct_and_shown_with_the_prefix() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert!(shown(&a).starts_with("whsec_"));
        assert_eq!(STANDARD.decode(&a).unwrap().len(), 32);
    }
}
