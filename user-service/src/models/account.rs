//! Bodies of the routes that change an account: the holder's own (name, password, closing,
//! verification), the links mailed to them, and an admin's changes.

use common_api::{ApiResult, auth::Role, error::Violations, validate::Validate};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{MAX_EMAIL_CHARS, MAX_NAME_CHARS, check_email, check_password};
use crate::mail::tokens::MAX_TOKEN_LEN;

/// `PATCH /users/me`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"name": "Ada Lovelace"}))]
pub struct UpdateProfile {
    /// The display name: up to 100 characters.
    #[schema(max_length = 100)]
    pub name: String,
}

impl Validate for UpdateProfile {
    fn validate(&self) -> ApiResult<()> {
        let mut violations = Violations::body();
        check_name(&mut violations, &self.name);
        violations.finish()
    }
}

/// `POST /users/me/password`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"current_password": "correct horse battery", "new_password": "staple battery horse"}))]
pub struct ChangePassword {
    /// The password now (a wrong one counts as a failed login).
    #[schema(max_length = 72)]
    pub current_password: String,
    /// 8 to 72 bytes in UTF-8.
    #[schema(min_length = 8, max_length = 72)]
    pub new_password: String,
}

impl Validate for ChangePassword {
    fn validate(&self) -> ApiResult<()> {
        let mut violations = Violations::body();
        if self.current_password.len() > super::MAX_PASSWORD_BYTES {
            violations.add(
                "current_password",
                "Password should have at most 72 bytes (UTF-8)",
                "string_too_long",
            );
        }
        if let Err((msg, kind)) = check_password(&self.new_password) {
            violations.add("new_password", msg, kind);
        }
        violations.finish()
    }
}

/// `DELETE /users/me`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"password": "correct horse battery"}))]
pub struct CloseAccount {
    /// The account's password (a wrong one counts as a failed login).
    #[schema(max_length = 72)]
    pub password: String,
}

impl Validate for CloseAccount {
    fn validate(&self) -> ApiResult<()> {
        let mut violations = Violations::body();
        if self.password.len() > super::MAX_PASSWORD_BYTES {
            violations.add(
                "password",
                "Password should have at most 72 bytes (UTF-8)",
                "string_too_long",
            );
        }
        violations.finish()
    }
}

/// `POST /users/password-reset`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"email": "ada@example.com"}))]
pub struct ResetRequest {
    /// The account's email (a valid address of at most 254 characters).
    #[schema(format = Email, max_length = 254, pattern = r#"^\s*[^\s"<>\[\]@]+@[^\s"<>\[\]@]+\.[^\s"<>\[\]@]+\s*$"#)]
    pub email: String,
}

impl Validate for ResetRequest {
    fn validate(&self) -> ApiResult<()> {
        let mut violations = Violations::body();
        if self.email.chars().count() > MAX_EMAIL_CHARS {
            violations.add(
                "email",
                format!("Email should have at most {MAX_EMAIL_CHARS} characters"),
                "string_too_long",
            );
        } else if let Err(msg) = check_email(&self.email) {
            violations.add("email", msg, "value_error");
        }
        violations.finish()
    }
}

/// `POST /users/password-reset/confirm`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"token": "j5Q0Cq…", "new_password": "staple battery horse"}))]
pub struct ResetConfirm {
    /// The `token` query parameter of the link in the mail.
    #[schema(min_length = 1, max_length = 128)]
    pub token: String,
    /// 8 to 72 bytes in UTF-8.
    #[schema(min_length = 8, max_length = 72)]
    pub new_password: String,
}

impl Validate for ResetConfirm {
    fn validate(&self) -> ApiResult<()> {
        let mut violations = Violations::body();
        check_token(&mut violations, &self.token);
        if let Err((msg, kind)) = check_password(&self.new_password) {
            violations.add("new_password", msg, kind);
        }
        violations.finish()
    }
}

/// `POST /users/verify-email`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"token": "j5Q0Cq…"}))]
pub struct VerifyEmail {
    /// The `token` query parameter of the link in the mail.
    #[schema(min_length = 1, max_length = 128)]
    pub token: String,
}

impl Validate for VerifyEmail {
    fn validate(&self) -> ApiResult<()> {
        let mut violations = Violations::body();
        check_token(&mut violations, &self.token);
        violations.finish()
    }
}

/// `PATCH /users/{id}` (admins): any of the fields, at least one.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(min_properties = 1, example = json!({"role": "seller", "disabled": false}))]
pub struct AdminUserChange {
    /// A new role.
    pub role: Option<Role>,
    /// `true` disables the account (it cannot sign in, refresh or reset its password, and its
    /// tokens stop working); `false` enables it again.
    pub disabled: Option<bool>,
}

impl Validate for AdminUserChange {
    fn validate(&self) -> ApiResult<()> {
        let mut violations = Violations::body();
        if self.role.is_none() && self.disabled.is_none() {
            violations.add_at(
                std::iter::empty::<common_api::error::Loc>(),
                "Give role, disabled or both",
                "missing",
            );
        }
        violations.finish()
    }
}

fn check_name(violations: &mut Violations, name: &str) {
    if name.chars().count() > MAX_NAME_CHARS {
        violations.add(
            "name",
            format!("String should have at most {MAX_NAME_CHARS} characters"),
            "string_too_long",
        );
    }
}

/// A token is checked for its length only here: a wrong one is 400 `INVALID_TOKEN`, but one
/// longer than any issued (or empty) is malformed.
fn check_token(violations: &mut Violations, token: &str) {
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        violations.add(
            "token",
            format!("A token has 1 to {MAX_TOKEN_LEN} characters"),
            "value_error",
        );
    }
}
