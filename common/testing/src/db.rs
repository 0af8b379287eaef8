//! A fresh database per test, the test configuration, and callers with tokens.

use std::sync::Arc;

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

/// The variables of a test configuration: the given database, the test secret, the cheapest
/// bcrypt cost, and `overrides` (pairs of variable name and value), which win. A service reads
/// its own settings through it as [`test_config`] reads the shared ones, so one override reaches
/// both.
pub fn test_lookup(
    mongo_uri: &str,
    db_name: &str,
    overrides: &[(&str, &str)],
) -> impl Fn(&str) -> Option<String> + Clone + Send + Sync + use<> {
    TestVariables::new(mongo_uri, db_name, overrides).lookup()
}

/// A configuration for tests: [`Config`] read through [`test_lookup`].
pub fn test_config(mongo_uri: &str, db_name: &str, overrides: &[(&str, &str)]) -> Config {
    TestVariables::new(mongo_uri, db_name, overrides).config()
}

/// The variables behind [`test_lookup`]: the overrides first, so the first match wins.
#[derive(Clone)]
struct TestVariables(Arc<[(String, String)]>);

impl TestVariables {
    fn new(mongo_uri: &str, db_name: &str, overrides: &[(&str, &str)]) -> Self {
        let defaults = [
            ("MONGO_URI", mongo_uri),
            ("DB_NAME", db_name),
            ("JWT_SECRET", TEST_JWT_SECRET),
            ("BCRYPT_COST", "4"),
        ];
        let variables = overrides.iter().chain(&defaults);
        Self(
            variables
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
        )
    }

    fn lookup(&self) -> impl Fn(&str) -> Option<String> + Clone + Send + Sync + use<> {
        let variables = Arc::clone(&self.0);
        move |name| {
            variables
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        }
    }

    fn config(&self) -> Config {
        Config::from_lookup(0, self.lookup()).expect("the test configuration is valid")
    }
}

/// A database of its own for one test, dropped when the value is dropped.
pub struct TestDb {
    /// The configuration pointing at this database.
    pub config: Config,
    /// The database handle.
    pub db: Database,
    /// What [`TestDb::config`] was read from, for a service's own settings.
    variables: TestVariables,
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
        let variables = TestVariables::new(uri, &name, overrides);
        let config = variables.config();
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
        Self {
            config,
            db,
            variables,
        }
    }

    /// The variables [`TestDb::config`] was read from (see [`test_lookup`]), for a service to
    /// read its own settings with the same overrides.
    pub fn lookup(&self) -> impl Fn(&str) -> Option<String> + Clone + Send + Sync + use<> {
        self.variables.lookup()
    }

    /// Every document of `collection` that matches `filter`.
    pub async fn documents(
        &self,
        collection: &str,
        filter: mongodb::bson::Document,
    ) -> Vec<mongodb::bson::Document> {
        use futures_util::TryStreamExt;

        self.db
            .collection::<mongodb::bson::Document>(collection)
            .find(filter)
            .await
            .expect("documents can be read")
            .try_collect()
            .await
            .expect("documents can be read")
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
