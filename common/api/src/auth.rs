//! Access tokens and the extractors that require them.
//!
//! The user service issues HS256 JWTs with the contract's claims (`sub`, `role`, `typ: "access"`,
//! `iat`, `exp`, `jti`, and `email_verified`); every service verifies them with the shared
//! `JWT_SECRET`. Only HS256 is accepted, so `alg: none` and algorithm-confusion tokens fail like
//! any forged token. A handler asks for [`AuthUser`] (any signed-in user) or [`RequireRole`] (a
//! set of roles).
//!
//! **Cutoffs.** A token stays signed until it expires, so an account whose password, role or
//! standing changed has an instant (`tokens_valid_after` on its document in [`USERS`]) before
//! which its tokens are refused. Each service holds the few cutoffs of the last token lifetime in
//! memory ([`Cutoffs`], fed by `common_platform::auth`), so the check costs no database read: a
//! token whose `iat` is before its account's cutoff is answered 401, and the client refreshes
//! (getting the new role) or is refused for good. `iat` counts whole seconds, so a cutoff is
//! rounded up to the next second, and a token issued for an account with a cutoff is issued at
//! that second at the earliest ([`Grant::valid_after`]).

use std::{
    collections::HashMap,
    marker::PhantomData,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use axum::{
    extract::{FromRef, FromRequestParts},
    http::{header, request::Parts},
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use mongodb::bson::oid::ObjectId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    error::{ApiError, ApiResult},
    secret::Secret,
};

/// The `typ` claim of an access token.
const ACCESS_TYPE: &str = "access";
/// Tolerated clock difference between the services, in seconds.
const CLOCK_LEEWAY_SECS: u64 = 30;

/// What a user may do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Browses and orders (the default).
    #[default]
    Buyer,
    /// Also sells: owns products.
    Seller,
    /// Manages everything.
    Admin,
}

impl Role {
    /// The role as it appears in JSON and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Buyer => "buyer",
            Self::Seller => "seller",
            Self::Admin => "admin",
        }
    }
}

/// The collection of accounts, whose documents hold the token cutoff.
pub const USERS: &str = "users";

/// The field of an account that holds its token cutoff (a BSON date).
pub const TOKENS_VALID_AFTER: &str = "tokens_valid_after";

/// The claims of an access token.
#[derive(Debug, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The user's id, 24 hex characters.
    pub sub: String,
    /// The user's role when the token was issued.
    pub role: Role,
    /// Always `access`: refresh tokens are opaque and never JWTs.
    pub typ: String,
    /// Issued at, seconds since the epoch.
    pub iat: u64,
    /// Expires at, seconds since the epoch.
    pub exp: u64,
    /// A unique id for this token.
    pub jti: String,
    /// Whether the account's email was verified when the token was issued (false in tokens
    /// issued before verification existed).
    #[serde(default)]
    pub email_verified: bool,
}

/// What an access token is issued for.
#[derive(Clone, Copy, Debug)]
pub struct Grant {
    /// The account.
    pub user_id: ObjectId,
    /// Its role.
    pub role: Role,
    /// Whether its email is verified.
    pub email_verified: bool,
    /// Its token cutoff in milliseconds since the epoch, if it has one: the token is issued at
    /// that instant's next whole second at the earliest, so it is not refused as older.
    pub valid_after: Option<i64>,
}

/// The token cutoffs of the accounts that have one within the last token lifetime: the seconds
/// since the epoch before which their tokens are refused. Shared by every clone; cheap to read.
#[derive(Clone, Debug, Default)]
pub struct Cutoffs(Arc<std::sync::RwLock<HashMap<ObjectId, u64>>>);

impl Cutoffs {
    /// Sets `user`'s cutoff to the instant `millis` (rounded up to a whole second); a later
    /// cutoff never moves back.
    pub fn set(&self, user: ObjectId, millis: i64) {
        let secs = cutoff_secs(millis);
        let mut map = self.write();
        let entry = map.entry(user).or_insert(secs);
        *entry = (*entry).max(secs);
    }

    /// Adds `cutoffs` (a reload), keeping the later of two for one account: a cutoff set by a
    /// change the reload read too early to see is not lost.
    pub fn merge(&self, cutoffs: impl IntoIterator<Item = (ObjectId, i64)>) {
        let mut map = self.write();
        for (user, millis) in cutoffs {
            let secs = cutoff_secs(millis);
            let entry = map.entry(user).or_insert(secs);
            *entry = (*entry).max(secs);
        }
    }

    /// Forgets cutoffs at or before `secs` (tokens issued before them have expired).
    pub fn forget_before(&self, secs: u64) {
        self.write().retain(|_, cutoff| *cutoff > secs);
    }

    /// How many accounts have a cutoff.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether no account has a cutoff.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a token of `user` issued at `iat` is refused.
    pub fn refuses(&self, user: ObjectId, iat: u64) -> bool {
        self.read().get(&user).is_some_and(|cutoff| iat < *cutoff)
    }

    // A panic while the lock is held cannot leave the map half changed (each change is one
    // call), so a poisoned lock is still good.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<ObjectId, u64>> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<ObjectId, u64>> {
        self.0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The whole second at or after the instant `millis`.
fn cutoff_secs(millis: i64) -> u64 {
    u64::try_from(millis.max(0)).unwrap_or(0).div_ceil(1000)
}

/// A freshly issued access token.
#[derive(Debug)]
pub struct AccessToken {
    /// The encoded JWT.
    pub token: String,
    /// Its lifetime in seconds.
    pub expires_in: u64,
}

/// Signs and verifies access tokens. Cheap to clone.
#[derive(Clone)]
pub struct TokenKeys(Arc<Keys>);

struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    access_ttl: Duration,
    cutoffs: Cutoffs,
}

impl TokenKeys {
    /// Keys for `secret`, issuing tokens that live `access_ttl`.
    pub fn new(secret: &Secret, access_ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = CLOCK_LEEWAY_SECS;
        validation.set_required_spec_claims(&["exp", "iat", "sub"]);
        Self(Arc::new(Keys {
            encoding: EncodingKey::from_secret(secret.expose().as_bytes()),
            decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
            validation,
            access_ttl,
            cutoffs: Cutoffs::default(),
        }))
    }

    /// The token cutoffs this service refuses tokens by (empty until something feeds them).
    pub fn cutoffs(&self) -> &Cutoffs {
        &self.0.cutoffs
    }

    /// How long an access token lives.
    pub fn access_ttl(&self) -> Duration {
        self.0.access_ttl
    }

    /// Issues an access token for `user_id` with `role`, for an account with no cutoff and an
    /// unverified email (tests and tools; the user service issues with [`Self::issue`]).
    pub fn issue_access(&self, user_id: ObjectId, role: Role) -> ApiResult<AccessToken> {
        self.issue(Grant {
            user_id,
            role,
            email_verified: false,
            valid_after: None,
        })
    }

    /// Issues an access token for `grant`.
    pub fn issue(&self, grant: Grant) -> ApiResult<AccessToken> {
        let now = unix_now().max(grant.valid_after.map_or(0, cutoff_secs));
        let expires_in = self.0.access_ttl.as_secs();
        let claims = AccessClaims {
            sub: grant.user_id.to_hex(),
            role: grant.role,
            typ: ACCESS_TYPE.into(),
            iat: now,
            exp: now + expires_in,
            jti: uuid::Uuid::new_v4().simple().to_string(),
            email_verified: grant.email_verified,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.0.encoding)
            .map_err(ApiError::internal)?;
        Ok(AccessToken { token, expires_in })
    }

    /// Checks signature, algorithm, expiry, type and the account's cutoff, and returns who the
    /// token speaks for.
    pub fn verify_access(&self, token: &str) -> ApiResult<AuthUser> {
        let invalid = || ApiError::unauthorized("Invalid or expired token");
        let data =
            jsonwebtoken::decode::<AccessClaims>(token, &self.0.decoding, &self.0.validation)
                .map_err(|_| invalid())?;
        let claims = data.claims;
        if claims.typ != ACCESS_TYPE {
            return Err(invalid());
        }
        let id = ObjectId::parse_str(&claims.sub).map_err(|_| invalid())?;
        if self.0.cutoffs.refuses(id, claims.iat) {
            return Err(ApiError::unauthorized(
                "This token was revoked (the password, role or standing of the account changed); refresh it or sign in again",
            ));
        }
        Ok(AuthUser {
            id,
            role: claims.role,
            email_verified: claims.email_verified,
        })
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// The signed-in caller, taken from a valid `Authorization: Bearer` access token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthUser {
    /// The user's id.
    pub id: ObjectId,
    /// The role the token was issued with.
    pub role: Role,
    /// Whether the account's email was verified when the token was issued.
    pub email_verified: bool,
}

impl AuthUser {
    /// Whether the caller is an admin.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Whether the caller is `owner` or an admin.
    pub fn may_act_for(&self, owner: ObjectId) -> bool {
        self.is_admin() || self.id == owner
    }
}

impl<S> FromRequestParts<S> for AuthUser
where
    TokenKeys: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts)?;
        TokenKeys::from_ref(state).verify_access(token)
    }
}

fn bearer_token(parts: &Parts) -> ApiResult<&str> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("Missing bearer token"))?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("Malformed Authorization header"))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(ApiError::unauthorized(
            "Authorization must be `Bearer <access token>`",
        )),
    }
}

/// A set of roles a route admits; see [`RequireRole`].
pub trait RoleSet: Send + Sync + 'static {
    /// The admitted roles.
    const ROLES: &'static [Role];
}

/// Admits admins only.
pub struct AdminOnly;

impl RoleSet for AdminOnly {
    const ROLES: &'static [Role] = &[Role::Admin];
}

/// Admits sellers and admins.
pub struct SellerOrAdmin;

impl RoleSet for SellerOrAdmin {
    const ROLES: &'static [Role] = &[Role::Seller, Role::Admin];
}

/// A signed-in caller whose role is in `R`; others get 403 `FORBIDDEN`.
///
/// In a handler: `RequireRole { user, .. }: RequireRole<AdminOnly>`.
pub struct RequireRole<R: RoleSet> {
    /// The caller.
    pub user: AuthUser,
    roles: PhantomData<R>,
}

impl<S, R> FromRequestParts<S> for RequireRole<R>
where
    TokenKeys: FromRef<S>,
    S: Send + Sync,
    R: RoleSet,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        if R::ROLES.contains(&user.role) {
            Ok(Self {
                user,
                roles: PhantomData,
            })
        } else {
            Err(ApiError::forbidden("Your role may not do this"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(secret: &str) -> TokenKeys {
        TokenKeys::new(&Secret::new(secret), Duration::from_secs(60))
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn an_issued_token_verifies_to_its_user_and_role() {
        let keys = keys(SECRET);
        let id = ObjectId::new();
        let token = keys.issue_access(id, Role::Seller).unwrap();
        assert_eq!(token.expires_in, 60);
        let user = keys.verify_access(&token.token).unwrap();
        assert_eq!(
            user,
            AuthUser {
                id,
                role: Role::Seller,
                email_verified: false,
            }
        );
    }

    #[test]
    fn a_token_issued_before_its_accounts_cutoff_is_refused_and_one_after_is_not() {
        let keys = keys(SECRET);
        let (id, other) = (ObjectId::new(), ObjectId::new());
        let before = keys.issue_access(id, Role::Buyer).unwrap();
        let now_millis = i64::try_from(unix_now()).unwrap() * 1000 + 1;

        keys.cutoffs().set(id, now_millis);

        let refused = keys.verify_access(&before.token).unwrap_err();
        assert_eq!(refused.code(), "UNAUTHORIZED");
        let grant = Grant {
            user_id: id,
            role: Role::Seller,
            email_verified: true,
            valid_after: Some(now_millis),
        };
        let after = keys
            .verify_access(&keys.issue(grant).unwrap().token)
            .unwrap();
        assert_eq!((after.role, after.email_verified), (Role::Seller, true));
        let untouched = keys.issue_access(other, Role::Buyer).unwrap();
        assert!(keys.verify_access(&untouched.token).is_ok());
        keys.cutoffs().forget_before(unix_now() + 10);
        assert!(keys.verify_access(&before.token).is_ok());
    }

    #[test]
    fn a_cutoff_rounds_up_to_a_whole_second_and_never_moves_back() {
        let cutoffs = Cutoffs::default();
        let user = ObjectId::new();
        cutoffs.set(user, 100_001);
        assert!(cutoffs.refuses(user, 100));
        assert!(!cutoffs.refuses(user, 101));
        cutoffs.set(user, 50_000);
        assert!(cutoffs.refuses(user, 100));
        cutoffs.merge([(user, 200_000), (ObjectId::new(), 1_000)]);
        assert!(cutoffs.refuses(user, 199));
        assert_eq!(cutoffs.len(), 2);
        cutoffs.forget_before(1);
        assert_eq!(cutoffs.len(), 1);
    }

    #[test]
    fn a_token_signed_with_another_secret_is_refused() {
        let token = keys("another-secret-another-secret-xx")
            .issue_access(ObjectId::new(), Role::Admin)
            .unwrap();
        let err = keys(SECRET).verify_access(&token.token).unwrap_err();
        assert_eq!(err.code(), "UNAUTHORIZED");
    }
}
