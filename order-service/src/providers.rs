//! The payment providers' proof that an event is theirs: each signs the raw body with a secret
//! shared with the shop, and a route verifies the signature before it reads a byte of the body.
//!
//! - **Standard Webhooks** (`POST /payments/webhook`): headers `webhook-id`, `webhook-timestamp`
//!   and `webhook-signature`, an HMAC-SHA256 of `id.timestamp.body` keyed with the base64 secret
//!   after `whsec_` (`PAYMENT_WEBHOOK_SECRET`), verified by the `standardwebhooks` crate, which
//!   also refuses a timestamp more than 5 minutes away. The event id is `webhook-id`.
//! - **Stripe** (`POST /payments/stripe`): `Stripe-Signature: t=<unix time>,v1=<hex>[,v1=…]`, an
//!   HMAC-SHA256 of `t.body` keyed with the secret as given (`STRIPE_WEBHOOK_SECRET`, `whsec_…`),
//!   `t` within 5 minutes (Stripe's own libraries' default tolerance). The event id is the body's
//!   `id`.
//!
//! Both secrets are read at startup; a provider without one has no route (404).

use axum::http::HeaderMap;
use common_api::secret::Secret;
use common_platform::config::{ConfigError, Env};
use standardwebhooks::{Webhook, WebhookError};

/// How far a signature's timestamp may be from now, in seconds (as `standardwebhooks` allows).
const TOLERANCE_SECS: i64 = 5 * 60;

/// The providers' signing secrets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProviderSecrets {
    /// `PAYMENT_WEBHOOK_SECRET`: a Standard Webhooks secret, `whsec_` and base64.
    pub standard: Option<Secret>,
    /// `STRIPE_WEBHOOK_SECRET`: a Stripe endpoint's signing secret, `whsec_…`.
    pub stripe: Option<Secret>,
}

impl ProviderSecrets {
    /// Reads both secrets; a Standard Webhooks secret that is not base64 is refused, naming it.
    pub fn read(env: &Env<impl Fn(&str) -> Option<String>>) -> Result<Self, ConfigError> {
        let standard = env.secret("PAYMENT_WEBHOOK_SECRET");
        if let Some(secret) = &standard
            && Webhook::new(secret.expose().trim()).is_err()
        {
            return Err(ConfigError::invalid(
                "PAYMENT_WEBHOOK_SECRET",
                "must be whsec_ followed by base64, as the Standard Webhooks specification says",
            ));
        }
        Ok(Self {
            standard: standard.map(|secret| Secret::new(secret.expose().trim())),
            stripe: env.secret("STRIPE_WEBHOOK_SECRET"),
        })
    }
}

/// Why a provider's event was not taken as theirs (401).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unverified {
    /// A signature header is missing or unreadable.
    #[error("the signature headers are missing or malformed")]
    MissingHeader,
    /// The timestamp is more than 5 minutes from now.
    #[error("the signature's timestamp is more than 5 minutes from now")]
    Stale,
    /// No signature matches the body.
    #[error("no signature matches the body")]
    BadSignature,
}

/// Verifies a Standard Webhooks request at unix time `now`; its event id (`webhook-id`) when it
/// is genuine.
pub fn verify_standard(
    secret: &Secret,
    body: &[u8],
    headers: &HeaderMap,
    now: i64,
) -> Result<String, Unverified> {
    // The timestamp is checked here first, without overflow: the crate's own check subtracts a
    // timestamp such as i64::MIN from now, which overflows.
    let timestamp = headers
        .get(standardwebhooks::HEADER_WEBHOOK_TIMESTAMP)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<i64>().ok())
        .ok_or(Unverified::MissingHeader)?;
    if now.abs_diff(timestamp) > TOLERANCE_SECS.unsigned_abs() {
        return Err(Unverified::Stale);
    }
    let webhook = Webhook::new(secret.expose()).map_err(|_| Unverified::BadSignature)?;
    webhook.verify(body, headers).map_err(|err| match err {
        WebhookError::MissingHeader(_)
        | WebhookError::InvalidHeader(_)
        | WebhookError::InvalidTimestamp => Unverified::MissingHeader,
        WebhookError::TimestampTooOldError | WebhookError::FutureTimestampError => {
            Unverified::Stale
        }
        _ => Unverified::BadSignature,
    })?;
    headers
        .get(standardwebhooks::HEADER_WEBHOOK_ID)
        .and_then(|id| id.to_str().ok())
        .map(str::to_owned)
        .ok_or(Unverified::MissingHeader)
}

/// Verifies a Stripe request at unix time `now`.
pub fn verify_stripe(
    secret: &Secret,
    body: &[u8],
    headers: &HeaderMap,
    now: i64,
) -> Result<(), Unverified> {
    let header = headers
        .get("stripe-signature")
        .and_then(|value| value.to_str().ok())
        .ok_or(Unverified::MissingHeader)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
            Some(("v1", value)) => signatures.push(value),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(Unverified::MissingHeader)?;
    if signatures.is_empty() {
        return Err(Unverified::MissingHeader);
    }
    if now.abs_diff(timestamp) > TOLERANCE_SECS.unsigned_abs() {
        return Err(Unverified::Stale);
    }
    let mut signed = format!("{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    let expected = hex(&hmac_sha256::HMAC::mac(&signed, secret.expose().as_bytes()));
    signatures
        .iter()
        .any(|given| constant_time_eq::constant_time_eq(given.as_bytes(), expected.as_bytes()))
        .then_some(())
        .ok_or(Unverified::BadSignature)
}

/// Lowercase hex, as Stripe writes its signatures.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The `Stripe-Signature` header for `body` at unix time `at`: what Stripe sends, for tests and
/// for trying the route by hand.
pub fn stripe_signature(secret: &str, body: &[u8], at: i64) -> String {
    let mut signed = format!("{at}.").into_bytes();
    signed.extend_from_slice(body);
    format!(
        "t={at},v1={}",
        hex(&hmac_sha256::HMAC::mac(&signed, secret.as_bytes()))
    )
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    const STANDARD: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const STRIPE: &str = "whsec_test_secret";

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    fn standard_headers(id: &str, at: i64, body: &[u8]) -> HeaderMap {
        let signature = Webhook::new(STANDARD).unwrap().sign(id, at, body).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("webhook-id", HeaderValue::from_str(id).unwrap());
        headers.insert("webhook-timestamp", HeaderValue::from(at));
        headers.insert(
            "webhook-signature",
            HeaderValue::from_str(&signature).unwrap(),
        );
        headers
    }

    #[test]
    fn a_standard_webhook_is_verified_and_gives_its_id() {
        let secret = Secret::new(STANDARD);
        let body = br#"{"type":"payment.succeeded"}"#;
        let headers = standard_headers("msg_1", now(), body);

        assert_eq!(
            verify_standard(&secret, body, &headers, now()),
            Ok("msg_1".into())
        );
        let changed = br#"{"type":"payment.succeeded" }"#;
        assert_eq!(
            verify_standard(&secret, changed, &headers, now()),
            Err(Unverified::BadSignature)
        );
        let old = standard_headers("msg_1", now() - 6 * 60, body);
        assert_eq!(
            verify_standard(&secret, body, &old, now()),
            Err(Unverified::Stale)
        );
        let mut missing = headers.clone();
        missing.remove("webhook-signature");
        assert_eq!(
            verify_standard(&secret, body, &missing, now()),
            Err(Unverified::MissingHeader)
        );
        // Timestamps at the ends of i64 are stale, not an overflow.
        for extreme in [i64::MIN, i64::MAX] {
            let mut far = headers.clone();
            far.insert("webhook-timestamp", HeaderValue::from(extreme));
            assert_eq!(
                verify_standard(&secret, body, &far, now()),
                Err(Unverified::Stale)
            );
        }
        let other = Secret::new("whsec_c2VjcmV0LW9mLWFub3RoZXItc2hvcA==");
        assert_eq!(
            verify_standard(&other, body, &headers, now()),
            Err(Unverified::BadSignature)
        );
    }

    #[test]
    fn a_stripe_signature_is_verified_in_time() {
        let secret = Secret::new(STRIPE);
        let body = br#"{"id":"evt_1"}"#;
        let at = now();
        let header = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("stripe-signature", HeaderValue::from_str(value).unwrap());
            headers
        };
        let signed = header(&stripe_signature(STRIPE, body, at));

        assert_eq!(verify_stripe(&secret, body, &signed, at), Ok(()));
        // One of several v1 signatures (during a secret's rotation) is enough.
        let rotated = header(&format!("{},v1=00ff", stripe_signature(STRIPE, body, at)));
        assert_eq!(verify_stripe(&secret, body, &rotated, at), Ok(()));
        assert_eq!(
            verify_stripe(&secret, b"{}", &signed, at),
            Err(Unverified::BadSignature)
        );
        assert_eq!(
            verify_stripe(&secret, body, &signed, at + 6 * 60),
            Err(Unverified::Stale)
        );
        assert_eq!(
            verify_stripe(&secret, body, &header("v1=abc"), at),
            Err(Unverified::MissingHeader)
        );
        let far = header(&format!("t={},v1=abc", i64::MIN));
        assert_eq!(
            verify_stripe(&secret, body, &far, at),
            Err(Unverified::Stale)
        );
        assert_eq!(
            verify_stripe(&secret, body, &HeaderMap::new(), at),
            Err(Unverified::MissingHeader)
        );
    }

    #[test]
    fn a_standard_secret_must_be_base64() {
        let read = |value: &str| {
            let value = value.to_owned();
            ProviderSecrets::read(&Env::new(move |name: &str| {
                (name == "PAYMENT_WEBHOOK_SECRET").then(|| value.clone())
            }))
        };
        assert!(read(STANDARD).unwrap().standard.is_some());
        let err = read("whsec_not base64!").unwrap_err().to_string();
        assert!(
            err.starts_with("PAYMENT_WEBHOOK_SECRET is invalid"),
            "{err}"
        );
    }
}
