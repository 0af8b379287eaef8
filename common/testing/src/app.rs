//! A service under test: its client, its state if the tests need one, and its database.

use std::ops::Deref;

use mongodb::bson::oid::ObjectId;

use common_api::auth::{Role, TokenKeys};
use common_platform::config::Config;

use crate::{
    client::TestClient,
    db::{Caller, TestDb},
};

/// A service under test: the client that drives it, whatever state the tests look at (a service's
/// `AppState`, or `()`), and its database. Requests go straight to the client through `Deref`.
///
/// A service's tests add their own steps (register, create a product, …) with a trait
/// implemented for their `TestApp<…>`.
pub struct TestApp<S = ()> {
    /// Sends requests to the service.
    pub client: TestClient,
    /// The service's state, for tests that look behind the API.
    pub state: S,
    /// The database; declared last, so it is dropped after the service that uses it.
    pub db: TestDb,
}

impl TestApp {
    /// A service under test whose state the tests do not need.
    pub fn new(client: TestClient, db: TestDb) -> Self {
        Self::with_state(client, (), db)
    }
}

impl<S> TestApp<S> {
    /// A service under test with the state the tests look at.
    pub fn with_state(client: TestClient, state: S, db: TestDb) -> Self {
        Self { client, state, db }
    }

    /// A new user with `role` on this service's configuration; see [`TestDb::caller`].
    pub fn caller(&self, role: Role) -> Caller {
        self.db.caller(role)
    }
}

impl<S> Deref for TestApp<S> {
    type Target = TestClient;

    fn deref(&self) -> &TestClient {
        &self.client
    }
}

/// Issues an access token signed with the test secret.
pub fn access_token(config: &Config, user_id: ObjectId, role: Role) -> String {
    TokenKeys::new(&config.jwt_secret, config.access_token_ttl)
        .issue_access(user_id, role)
        .expect("a token can be issued")
        .token
}
