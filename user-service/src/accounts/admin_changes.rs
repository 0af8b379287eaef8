//! An admin's changes to an account (`PATCH /users/{id}`): its role and whether it is disabled.
//!
//! A change refuses the account's older access tokens on every service at once (see
//! `common_platform::auth`), so a demoted seller or a disabled buyer stops acting within about a
//! second, not when their token expires; a disable also revokes the account's refresh tokens.
//! Changes are made one at a time under [`crate::store::AdminLock`], so that no interleaving can
//! leave the shop without an enabled admin.

use common_api::auth::Role;
use mongodb::bson::{DateTime, oid::ObjectId};

use super::{Accounts, Failure};
use crate::store::{AdminChange, UserDoc};

/// Why an admin's change was refused.
#[derive(Debug, thiserror::Error)]
pub enum AdminChangeError {
    /// No such account.
    #[error("no such account")]
    NotFound,
    /// An admin may not change their own role or standing.
    #[error("an admin cannot change their own role or standing")]
    OnSelf,
    /// It would leave no enabled admin.
    #[error("the last admin cannot be demoted or disabled")]
    LastAdmin,
    /// The database failed.
    #[error(transparent)]
    Failed(#[from] Failure),
}

impl From<mongodb::error::Error> for AdminChangeError {
    fn from(err: mongodb::error::Error) -> Self {
        Self::Failed(err.into())
    }
}

impl Accounts {
    /// Applies `change` to account `id` on behalf of admin `by`; the account after.
    pub async fn change_account(
        &self,
        by: ObjectId,
        id: ObjectId,
        change: AdminChange,
    ) -> Result<UserDoc, AdminChangeError> {
        if by == id {
            return Err(AdminChangeError::OnSelf);
        }
        let held = self.admin_lock.acquire().await?;
        let changed = self.change_under_lock(id, change).await;
        // Released whatever happened; a lease left behind would lapse by itself anyway.
        self.admin_lock.release(held).await?;
        let (user, disabled_now) = changed?;
        if disabled_now {
            self.refresh_tokens.revoke_all(id).await?;
        }
        tracing::info!(user_id = %id, admin_id = %by, role = user.role.as_str(), disabled = user.disabled, "account changed by an admin");
        Ok(user)
    }

    async fn change_under_lock(
        &self,
        id: ObjectId,
        change: AdminChange,
    ) -> Result<(UserDoc, bool), AdminChangeError> {
        let user = self
            .users
            .find_by_id(id)
            .await?
            .ok_or(AdminChangeError::NotFound)?;
        let role = change.role.unwrap_or(user.role);
        let disabled = change.disabled.unwrap_or(user.disabled);
        if role == user.role && disabled == user.disabled {
            return Ok((user, false));
        }
        let active_admin = user.role == Role::Admin && !user.disabled;
        let stays_active_admin = role == Role::Admin && !disabled;
        if active_admin && !stays_active_admin && self.users.other_active_admins(id).await? == 0 {
            return Err(AdminChangeError::LastAdmin);
        }
        let after = self
            .users
            .apply_admin_change(id, change, DateTime::now())
            .await?
            .ok_or(AdminChangeError::NotFound)?;
        Ok((after, disabled && !user.disabled))
    }
}
