//! The admin account the operator asks for with `ADMIN_EMAIL` and `ADMIN_PASSWORD`, made or
//! promoted at startup.

use anyhow::anyhow;
use common_api::auth::Role;

use super::{Accounts, NewAccount, RegisterError};
use crate::models::{check_email, check_password};

/// What [`Accounts::ensure_admin`] found, and what it did about it.
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

impl Accounts {
    /// Makes sure an admin account with `email` exists.
    ///
    /// A missing account is created with `password`. An existing non-admin account is promoted
    /// only if `password` is its password: otherwise someone who registered the admin's email
    /// first would become admin, and the outcome is [`AdminAccount::TakenByAnother`]. A password
    /// is never changed.
    pub async fn ensure_admin(&self, email: &str, password: &str) -> anyhow::Result<AdminAccount> {
        let email = check_email(email).map_err(|msg| anyhow!("ADMIN_EMAIL is invalid: {msg}"))?;
        check_password(password).map_err(|(msg, _)| anyhow!("ADMIN_PASSWORD is invalid: {msg}"))?;
        let outcome = match self.users.find_by_email(&email).await? {
            Some(user) if user.role == Role::Admin => {
                tracing::info!(user_id = %user.id, "admin account present");
                AdminAccount::Present
            }
            Some(user) => {
                if self
                    .passwords
                    .verify(password.to_owned(), Some(&user.password_hash))
                    .await?
                {
                    self.users.set_role(user.id, Role::Admin).await?;
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
                    verified: true,
                };
                match self.create(account).await {
                    Ok(user) => tracing::info!(user_id = %user.id, "created the admin account"),
                    // Another replica created it at the same moment.
                    Err(RegisterError::EmailTaken) => {}
                    Err(err) => return Err(err.into()),
                }
                AdminAccount::Created
            }
        };
        Ok(outcome)
    }
}
