//! Creating accounts, shared by registration and the admin account made at startup.

use anyhow::anyhow;
use common_api::{
    ApiError, ApiResult,
    auth::Role,
    error::{FieldError, Loc},
};
use common_platform::db::is_duplicate_key;
use mongodb::bson::{DateTime, oid::ObjectId};

use crate::{
    AppState,
    email::normalize_email,
    models::{check_email, check_password},
    store::UserDoc,
};

/// An account to create, with fields already validated.
pub struct NewAccount {
    /// The email as given; it is normalized here.
    pub email: String,
    /// The password in clear; only its hash is stored.
    pub password: String,
    /// The display name.
    pub name: String,
    /// The role.
    pub role: Role,
}

/// What [`create_account`] led to.
#[derive(Debug)]
pub enum Creation {
    /// The account was stored.
    Created(UserDoc),
    /// Another account has this email; nothing was stored. Also the outcome when two
    /// registrations race: the unique index decides, and the loser ends here.
    EmailTaken,
}

/// Creates an account, unless its email is in use.
pub async fn create_account(state: &AppState, account: NewAccount) -> ApiResult<Creation> {
    // Callers validate first; this keeps an email without a normal form out of the store anyway.
    let email = normalize_email(&account.email).map_err(|err| {
        ApiError::Validation(vec![FieldError::new(
            ["body", "email"].map(Loc::from),
            err.to_string(),
            "value_error",
        )])
    })?;
    // Saves a bcrypt hash in the common case; the unique index is what guarantees uniqueness.
    if state.users.find_by_email(&email).await?.is_some() {
        return Ok(Creation::EmailTaken);
    }
    let user = UserDoc {
        id: ObjectId::new(),
        email,
        name: account.name,
        role: account.role,
        password_hash: state.passwords.hash(account.password).await?,
        created_at: DateTime::now(),
    };
    match state.users.insert(&user).await {
        Ok(()) => Ok(Creation::Created(user)),
        Err(err) if is_duplicate_key(&err) => Ok(Creation::EmailTaken),
        Err(err) => Err(err.into()),
    }
}

/// What [`ensure_admin`] found, and what it did about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAccount {
    /// The account is an admin already; nothing changed.
    Present,
    /// A non-admin account whose password is the admin password was made an admin.
    Promoted,
    /// No account had the email, so the admin account was made (here, or by another replica at
    /// the same moment).
    Created,
    /// A non-admin account with another password has the email, and was left as it is: there is
    /// no admin account. Startup refuses to go on (see [`crate::start`]).
    TakenByAnother,
}

/// Makes sure an admin account with `email` exists.
///
/// A missing account is created with `password`. An existing non-admin account is promoted only
/// if `password` is its password: otherwise someone who registered the admin's email first
/// would become admin, and the outcome is [`AdminAccount::TakenByAnother`]. A password is never
/// changed.
pub async fn ensure_admin(
    state: &AppState,
    email: &str,
    password: &str,
) -> anyhow::Result<AdminAccount> {
    let email = check_email(email).map_err(|msg| anyhow!("ADMIN_EMAIL is invalid: {msg}"))?;
    check_password(password).map_err(|(msg, _)| anyhow!("ADMIN_PASSWORD is invalid: {msg}"))?;
    let outcome = match state.users.find_by_email(&email).await? {
        Some(user) if user.role == Role::Admin => {
            tracing::info!(user_id = %user.id, "admin account present");
            AdminAccount::Present
        }
        Some(user) => {
            if state
                .passwords
                .verify(password.to_owned(), Some(&user.password_hash))
                .await?
            {
                state.users.set_role(user.id, Role::Admin).await?;
                tracing::info!(user_id = %user.id, "promoted the ADMIN_EMAIL account to admin");
                AdminAccount::Promoted
            } else {
                AdminAccount::TakenByAnother
            }
        }
        None => {
            let account = NewAccount {
                email,
                password: password.to_owned(),
                name: "Administrator".to_owned(),
                role: Role::Admin,
            };
            match create_account(state, account).await? {
                Creation::Created(user) => {
                    tracing::info!(user_id = %user.id, "created the admin account");
                }
                // Another replica created it at the same moment.
                Creation::EmailTaken => {}
            }
            AdminAccount::Created
        }
    };
    Ok(outcome)
}
