//! Single-use link tokens (email verification, password reset), stored only as hashes.
//!
//! A token is `base64url(HMAC-SHA256(key, kind ‖ user ‖ nonce))`, the key derived from
//! `JWT_SECRET`: the account keeps the token's SHA-256 (to find and spend it) and the mail entry
//! its nonce (to write the link), so neither the database nor a log of mail entries holds a token
//! that works. A token names its kind and its account, so one kind's token is never another's,
//! and a newer token of a kind replaces the older one's hash (which then matches nothing).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use mongodb::bson::oid::ObjectId;
use sha2::{Digest, Sha256};

use super::MailKind;

/// The longest token accepted (a real one has 43 characters): anything longer is refused
/// unread.
pub const MAX_TOKEN_LEN: usize = 128;

/// A token just issued: the nonce for the mail, the token for the link, the hash for the
/// account.
#[derive(Clone, Debug)]
pub struct Issued {
    /// What the mail entry keeps.
    pub nonce: String,
    /// What the link carries.
    pub token: String,
    /// What the account keeps.
    pub hash: String,
}

/// Issues and recomputes link tokens.
#[derive(Clone)]
pub struct LinkTokens {
    key: [u8; 32],
}

impl LinkTokens {
    /// Tokens keyed by `secret` (the service's `JWT_SECRET`), under a key of their own.
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: hmac_sha256::HMAC::mac(b"link tokens v1", secret),
        }
    }

    /// A new token of `kind` for `user`.
    pub fn issue(&self, kind: MailKind, user: ObjectId) -> Result<Issued, getrandom::Error> {
        let mut random = [0u8; 16];
        getrandom::fill(&mut random)?;
        let nonce = URL_SAFE_NO_PAD.encode(random);
        let token = self.token(kind, user, &nonce);
        Ok(Issued {
            hash: hash(&token),
            nonce,
            token,
        })
    }

    /// The token of `kind` for `user` with `nonce`.
    pub fn token(&self, kind: MailKind, user: ObjectId, nonce: &str) -> String {
        let message = format!("{}:{}:{nonce}", kind.as_str(), user.to_hex());
        URL_SAFE_NO_PAD.encode(hmac_sha256::HMAC::mac(message.as_bytes(), self.key))
    }
}

/// The SHA-256 of `token`, hex: how an account keeps it.
pub fn hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_recomputed_from_its_nonce_and_names_its_kind_and_account() {
        let tokens = LinkTokens::new(b"a secret of at least thirty-two bytes!!");
        let user = ObjectId::new();

        let issued = tokens.issue(MailKind::PasswordReset, user).unwrap();

        assert_eq!(
            tokens.token(MailKind::PasswordReset, user, &issued.nonce),
            issued.token
        );
        assert_eq!(hash(&issued.token), issued.hash);
        assert_ne!(
            tokens.token(MailKind::VerifyEmail, user, &issued.nonce),
            issued.token
        );
        assert_ne!(
            tokens.token(MailKind::PasswordReset, ObjectId::new(), &issued.nonce),
            issued.token
        );
        let other_secret = LinkTokens::new(b"another secret of thirty-two bytes!!!!");
        assert_ne!(
            other_secret.token(MailKind::PasswordReset, user, &issued.nonce),
            issued.token
        );
        assert!(issued.token.len() <= MAX_TOKEN_LEN);
        assert_ne!(
            tokens.issue(MailKind::PasswordReset, user).unwrap().token,
            issued.token
        );
    }
}
