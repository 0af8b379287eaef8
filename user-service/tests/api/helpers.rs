//! A user service on a fresh database, and shortcuts for the steps most tests share.

use axum::http::StatusCode;
use common_testing::{TestClient, TestDb, TestResponse};
use serde_json::{Value, json};
use user_service::{AppState, app, settings::UserSettings};

pub const PASSWORD: &str = "correct horse battery";

/// The app under test, its state (for looking at the database) and its database, dropped last.
pub type TestApp = common_testing::TestApp<AppState>;

/// Starts the user service on a database of its own.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Limits loose enough for tests that are not about them: every in-process request comes from the
/// same client, and concurrent logins at a real bcrypt cost may queue for a while. A test's own
/// overrides come first, so they win.
const GENEROUS_LIMITS: &[(&str, &str)] = &[
    ("RATE_LIMIT_PER_MINUTE", "1000000"),
    ("RATE_LIMIT_BURST", "1000000"),
    ("BCRYPT_QUEUE_WAIT_MS", "60000"),
];

/// Like [`spawn_app`], with extra configuration variables (such as a higher `BCRYPT_COST`).
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    let overrides = [overrides, GENEROUS_LIMITS].concat();
    let db = TestDb::with_overrides("user_service", &overrides).await;
    let state = state_on(&db).await;
    TestApp::with_state(TestClient::new(app(state.clone())), state, db)
}

/// Another instance of the service on the same database, as after a restart or on a replica.
pub async fn replica_of(app: &TestApp) -> TestClient {
    TestClient::new(user_service::app(state_on(&app.db).await))
}

/// The state of a service on `db`, with its configuration and the same overrides.
pub async fn state_on(db: &TestDb) -> AppState {
    let settings = UserSettings::from_lookup(db.lookup()).expect("the test settings are valid");
    AppState::new(db.config.clone(), settings, db.db.clone())
        .await
        .expect("the service starts")
}

/// The steps most tests share, as a user of the API would take them.
pub trait UserSteps {
    /// Registers an account and returns the response body, asserting success.
    async fn register(&self, email: &str, role: &str) -> Value;

    /// `POST /users/login` with `email` and `password`.
    async fn login(&self, email: &str, password: &str) -> TestResponse;

    /// Registers `email` with `role` and logs in; returns the user id and the login body.
    async fn signed_in(&self, email: &str, role: &str) -> (String, Value);

    /// Creates the admin account as the service does at startup, and logs it in.
    async fn signed_in_admin(&self) -> (String, Value);
}

impl UserSteps for TestApp {
    async fn register(&self, email: &str, role: &str) -> Value {
        let response = self
            .post("/users/register")
            .json(&json!({"email": email, "password": PASSWORD, "name": "Test User", "role": role}))
            .send()
            .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        response.json()
    }

    async fn login(&self, email: &str, password: &str) -> TestResponse {
        self.post("/users/login")
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
    }

    async fn signed_in(&self, email: &str, role: &str) -> (String, Value) {
        let user = self.register(email, role).await;
        (
            user["id"].as_str().unwrap().to_owned(),
            tokens_for(self, email).await,
        )
    }

    async fn signed_in_admin(&self) -> (String, Value) {
        self.state
            .accounts
            .ensure_admin("admin@example.com", PASSWORD)
            .await
            .expect("admin created");
        let tokens = tokens_for(self, "admin@example.com").await;
        let me = self
            .get("/users/me")
            .bearer(tokens["access_token"].as_str().unwrap())
            .send()
            .await
            .json();
        (me["id"].as_str().unwrap().to_owned(), tokens)
    }
}

/// Logs `email` in with [`PASSWORD`] and returns the login body, asserting success.
async fn tokens_for(app: &TestApp, email: &str) -> Value {
    let response = app.login(email, PASSWORD).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    response.json()
}

/// The access token of a login body.
pub fn access(tokens: &Value) -> &str {
    tokens["access_token"].as_str().unwrap()
}

/// The refresh token of a login body.
pub fn refresh(tokens: &Value) -> &str {
    tokens["refresh_token"].as_str().unwrap()
}
