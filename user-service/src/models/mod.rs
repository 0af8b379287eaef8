//! Request and response bodies of the user service, and the rules their fields must follow.

pub mod account;

use common_api::{
    ApiResult,
    auth::{AccessToken, Role},
    error::Violations,
    time::rfc3339,
    validate::Validate,
};
use email_address::{EmailAddress, Options};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    accounts::SignedIn,
    email::normalize_email,
    store::{PublicUser, UserDoc},
};

/// The shortest password accepted, in bytes.
pub const MIN_PASSWORD_BYTES: usize = 8;
/// The longest password accepted, in UTF-8 bytes: bcrypt ignores anything past 72 bytes.
pub const MAX_PASSWORD_BYTES: usize = 72;
/// The longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// The longest email address (RFC 5321 path limit).
pub const MAX_EMAIL_CHARS: usize = 254;

/// `POST /users/register`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"email": "ada@example.com", "password": "correct horse battery", "name": "Ada"}))]
pub struct RegisterRequest {
    /// A valid email address of at most 254 characters; stored normalised: trimmed, Unicode
    /// NFKC, lowercased, the domain in punycode. Quoted and non-ASCII local parts, IP-literal
    /// domains, domains without a dot and display names (`Ada <ada@example.com>`) are refused.
    #[schema(format = Email, max_length = 254, pattern = r#"^\s*[^\s"<>\[\]@]+@[^\s"<>\[\]@]+\.[^\s"<>\[\]@]+\s*$"#)]
    pub email: String,
    /// 8 to 72 bytes in UTF-8 (bytes are counted, not characters: a character outside ASCII
    /// takes 2 to 4 bytes, so such a password must be shorter than 72 characters).
    #[schema(min_length = 8, max_length = 72)]
    pub password: String,
    /// Up to 100 characters.
    #[serde(default)]
    #[schema(max_length = 100)]
    pub name: String,
    /// `buyer` (default) or `seller`; `admin` is refused with 403.
    #[serde(default)]
    pub role: Role,
}

impl Validate for RegisterRequest {
    fn validate(&self) -> ApiResult<()> {
        let mut violations = Violations::body();
        if let Err(msg) = check_email(&self.email) {
            violations.add("email", msg, "value_error");
        }
        if let Err((msg, kind)) = check_password(&self.password) {
            violations.add("password", msg, kind);
        }
        if self.name.chars().count() > MAX_NAME_CHARS {
            violations.add(
                "name",
                format!("String should have at most {MAX_NAME_CHARS} characters"),
                "string_too_long",
            );
        }
        violations.finish()
    }
}

/// The normal form of `email` (see [`normalize_email`]), or why it is not an address we accept.
pub fn check_email(email: &str) -> Result<String, String> {
    let normal = normalize_email(email).map_err(|err| err.to_string())?;
    if normal.chars().count() > MAX_EMAIL_CHARS {
        return Err(format!(
            "Email should have at most {MAX_EMAIL_CHARS} characters"
        ));
    }
    // A plain address with a dotted domain, as a shop would mail it: no display names
    // ("Ada <ada@example.com>"), no IP literals, no bare host names.
    let options = Options::default()
        .with_required_tld()
        .without_display_text()
        .without_domain_literal();
    EmailAddress::parse_with_options(&normal, options)
        .map(|_| normal)
        .map_err(|err| format!("Value is not a valid email address: {err}"))
}

/// Why `password` is not acceptable, if it is not, with the error kind.
pub fn check_password(password: &str) -> Result<(), (String, &'static str)> {
    match password.len() {
        len if len < MIN_PASSWORD_BYTES => Err((
            format!("Password should have at least {MIN_PASSWORD_BYTES} bytes"),
            "string_too_short",
        )),
        len if len > MAX_PASSWORD_BYTES => Err((
            format!("Password should have at most {MAX_PASSWORD_BYTES} bytes (UTF-8)"),
            "string_too_long",
        )),
        _ => Ok(()),
    }
}

/// `POST /users/login`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"email": "ada@example.com", "password": "correct horse battery"}))]
pub struct LoginRequest {
    /// The account's email, in any spelling of the same mailbox (case, fullwidth, IDN); at most
    /// 254 characters.
    #[schema(max_length = 254)]
    pub email: String,
    /// The password.
    pub password: String,
}

impl Validate for LoginRequest {
    fn validate(&self) -> ApiResult<()> {
        // No format checks, so a login never says more than "Invalid credentials"; only a bound
        // on size, since the email keys the failed-login counter.
        let mut violations = Violations::body();
        if self.email.chars().count() > MAX_EMAIL_CHARS {
            violations.add(
                "email",
                format!("Email should have at most {MAX_EMAIL_CHARS} characters"),
                "string_too_long",
            );
        }
        violations.finish()
    }
}

/// `POST /users/token`: the OAuth2 password grant, as a form.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenRequest {
    /// The account's email, in any spelling of the same mailbox; at most 254 characters.
    #[schema(max_length = 254)]
    pub username: String,
    /// The password.
    pub password: String,
    /// `password` when given (OAuth2 clients send it; it may be left out).
    #[schema(pattern = "^password$")]
    pub grant_type: Option<String>,
    /// Ignored: access tokens carry the account's role, not scopes.
    pub scope: Option<String>,
}

impl Validate for TokenRequest {
    fn validate(&self) -> ApiResult<()> {
        let mut violations = Violations::body();
        if self.username.chars().count() > MAX_EMAIL_CHARS {
            violations.add(
                "username",
                format!("Username should have at most {MAX_EMAIL_CHARS} characters"),
                "string_too_long",
            );
        }
        if self
            .grant_type
            .as_deref()
            .is_some_and(|grant| grant != "password")
        {
            violations.add(
                "grant_type",
                "Only the password grant is supported",
                "literal_error",
            );
        }
        violations.finish()
    }
}

/// The access token `POST /users/token` issues.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessTokenResponse {
    /// A JWT for `Authorization: Bearer …`.
    pub access_token: String,
    /// Always `bearer`.
    #[schema(example = "bearer")]
    pub token_type: &'static str,
    /// Lifetime of the access token in seconds.
    pub expires_in: u64,
}

impl From<AccessToken> for AccessTokenResponse {
    fn from(access: AccessToken) -> Self {
        Self {
            access_token: access.token,
            token_type: "bearer",
            expires_in: access.expires_in,
        }
    }
}

/// `POST /users/refresh` and `POST /users/logout`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshRequest {
    /// A refresh token from login or an earlier refresh.
    pub refresh_token: String,
}

impl Validate for RefreshRequest {}

/// Tokens issued by login and refresh.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// A JWT for `Authorization: Bearer …`.
    pub access_token: String,
    /// Always `bearer`.
    #[schema(example = "bearer")]
    pub token_type: &'static str,
    /// Lifetime of the access token in seconds.
    pub expires_in: u64,
    /// An opaque token for `POST /users/refresh`; each can be used once.
    pub refresh_token: String,
}

impl From<SignedIn> for TokenResponse {
    fn from(signed_in: SignedIn) -> Self {
        Self {
            access_token: signed_in.access.token,
            token_type: "bearer",
            expires_in: signed_in.access.expires_in,
            refresh_token: signed_in.refresh_token,
        }
    }
}

/// The answer to a registration.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegisteredUser {
    /// The new user's id.
    #[schema(example = "6560b5f2a1b2c3d4e5f60718")]
    pub id: String,
    /// The normalized email.
    pub email: String,
    /// The display name.
    pub name: String,
    /// The role.
    pub role: Role,
}

impl From<&UserDoc> for RegisteredUser {
    fn from(user: &UserDoc) -> Self {
        Self {
            id: user.id.to_hex(),
            email: user.email.clone(),
            name: user.name.clone(),
            role: user.role,
        }
    }
}

/// A user as `GET /users/me`, `GET /users/{id}` and `GET /users` show it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserProfile {
    /// The user's id.
    #[schema(example = "6560b5f2a1b2c3d4e5f60718")]
    pub id: String,
    /// The normalized email.
    pub email: String,
    /// The display name.
    pub name: String,
    /// The role.
    pub role: Role,
    /// When the account was created (RFC 3339, UTC).
    #[schema(format = DateTime, example = "2026-11-23T13:45:00Z")]
    pub created_at: String,
    /// Whether the holder followed a verification link sent to the address.
    pub email_verified: bool,
    /// Whether an admin disabled the account: it cannot sign in, refresh or reset its password.
    pub disabled: bool,
}

impl From<UserDoc> for UserProfile {
    fn from(user: UserDoc) -> Self {
        PublicUser::from(user).into()
    }
}

impl From<PublicUser> for UserProfile {
    fn from(user: PublicUser) -> Self {
        Self {
            id: user.id.to_hex(),
            email: user.email,
            name: user.name,
            role: user.role,
            created_at: rfc3339(user.created_at),
            email_verified: user.email_verified,
            disabled: user.disabled,
        }
    }
}

/// Filters of `GET /users`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserFilter {
    /// Only the user with this email (compared normalised, as stored).
    #[serde(default, deserialize_with = "common_api::extract::empty_as_none")]
    pub email: Option<String>,
}

impl Validate for UserFilter {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_addresses_with_a_dotted_domain_are_emails() {
        assert!(check_email("ada@example.com").is_ok());
        assert!(check_email("  Ada.Lovelace+shop@Mail.Example.CO.UK ").is_ok());
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@localhost",
            "Ada <ada@example.com>",
            "ada@[127.0.0.1]",
            "a b@example.com",
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_are_measured_in_bytes() {
        assert!(check_password("12345678").is_ok());
        assert!(check_password(&"é".repeat(36)).is_ok()); // 72 bytes
        assert_eq!(check_password("1234567").unwrap_err().1, "string_too_short");
        assert_eq!(
            check_password(&"é".repeat(37)).unwrap_err().1,
            "string_too_long"
        ); // 74 bytes
    }
}
