//! A fresh database per test, the test configuration, and callers with tokens.

use mongodb::{Database, bson::oid::ObjectId};

use common_api::auth::Role;
use common_platform::{config::Config, db};

use crate::app::access_token;

/// The `JWT_SECRET` of every test configuration.
pub const TEST_JWT_SECRET: &str = "test-only-secret-0123456789abcdef0123456789";

/// The MongoDB the tests use: `MONGO_URI`, or a local default.
pub fn test_mongo_uri() -> String {
    std::env::var("MONGO_URI").unwrap_or_else(|_| "mongodb://127.0.0.1:27017".into())
}

/// A configuration for tests: the given database, the test secret, the cheapest bcrypt cost, and
/// any `overrides` (pairs of variable name and value).
pub fn test_config(mongo_uri: &str, db_name: &str, overrides: &[(&str, &str)]) -> Config {
    Config::from_lookup(0, |name| {
        if let Some((_, value)) = overrides.iter().find(|(key, _)| *key == name) {
            return Some((*value).to_owned());
        }
        match name {
            "MONGO_URI" => Some(mongo_uri.to_owned()),
            "DB_NAME" => Some(db_name.to_owned()),
            "JWT_SECRET" => Some(TEST_JWT_SECRET.to_owned()),
            "BCRYPT_COST" => Some("4".to_owned()),
            _ => None,
        }
    })
    .expect("the test configuration is valid")
}

/// A database of its own for one test, dropped when the value is dropped.
pub struct TestDb {
    /// The configuration pointing at this database.
    pub config: Config,
    /// The database handle.
    pub db: Database,
}

impl TestDb {
    /// Creates `{service}_test_{ObjectId}` on the test MongoDB.
    pub async fn new(service: &str) -> Self {
        Self::with_overrides(service, &[]).await
    }

    /// Like [`TestDb::new`], with extra configuration variables.
    pub async fn with_overrides(service: &str, overrides: &[(&str, &str)]) -> Self {
        Self::on_server(&test_mongo_uri(), service, overrides).await
    }

    /// Like [`TestDb::with_overrides`], on the server at `uri` (such as a [`Mongod`]).
    pub async fn on_server(uri: &str, service: &str, overrides: &[(&str, &str)]) -> Self {
        let name = format!("{}_test_{}", service.replace('-', "_"), ObjectId::new());
        let config = test_config(uri, &name, overrides);
        let db = db::connect(&config, "tests")
            .await
            .expect("MONGO_URI parses");
        // A few tries: on a loaded machine the first connection can outlast one server selection.
        if let Err(err) = db::wait_until_reachable(&db, 4).await {
            panic!(
                "MongoDB is not reachable at MONGO_URI={uri}: {err}. \
                 Run the tests with scripts/test.sh, which starts one."
            );
        }
        Self { config, db }
    }

    /// How many documents of `collection` match `filter`.
    pub async fn count(&self, collection: &str, filter: mongodb::bson::Document) -> u64 {
        self.db
            .collection::<mongodb::bson::Document>(collection)
            .count_documents(filter)
            .await
            .expect("documents can be counted")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // The driver's client belongs to the test's runtime, which may already be shutting
        // down; a short-lived runtime of our own drops the database reliably.
        let uri = self.config.mongo_uri.expose().to_owned();
        let name = self.db.name().to_owned();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let client = mongodb::Client::with_uri_str(&uri).await.ok()?;
                client.database(&name).drop().await.ok()
            })
        })
        .join();
    }
}

impl TestDb {
    /// A new user with `role`, signed with the shared secret as the user service would; no
    /// account is stored, since the other services only read the token.
    pub fn caller(&self, role: Role) -> Caller {
        let id = ObjectId::new();
        Caller {
            id,
            token: access_token(&self.config, id, role),
        }
    }
}

/// A caller: a user id and an access token for it.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The user's id (the token's `sub`).
    pub id: ObjectId,
    /// The access token, for [`TestRequest::bearer`].
    pub token: String,
}
