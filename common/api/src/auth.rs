//! Access tokens and the extractors that require them.
//!
//! The user service issues HS256 JWTs with the contract's claims (`sub`, `role`, `typ: "access"`,
//! `iat`, `exp`, `jti`); every service verifies them with the shared `JWT_SECRET`. Only HS256 is
//! accepted, so `alg: none` and algorithm-confusion tokens fail like any forged token. A handler
//! asks for [`AuthUser`] (any signed-in user) or [`RequireRole`] (a set of roles).

use std::{
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
        }))
    }

    /// Issues an access token for `user_id` with `role`.
    pub fn issue_access(&self, user_id: ObjectId, role: Role) -> ApiResult<AccessToken> {
        let now = unix_now();
        let expires_in = self.0.access_ttl.as_secs();
        let claims = AccessClaims {
            sub: user_id.to_hex(),
            role,
            typ: ACCESS_TYPE.into(),
            iat: now,
            exp: now + expires_in,
            jti: uuid::Uuid::new_v4().simple().to_string(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.0.encoding)
            .map_err(ApiError::internal)?;
        Ok(AccessToken { token, expires_in })
    }

    /// Checks signature, algorithm, expiry and type, and returns who the token speaks for.
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
        Ok(AuthUser {
            id,
            role: claims.role,
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
                role: Role::Seller
            }
        );
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
