//! `GET /health` (liveness, no database) and `GET /health/db` (a ping through the gate).

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::deadline::DbGate;

/// Liveness.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"status": "ok"}))]
pub struct Health {
    /// Always `ok`.
    pub status: &'static str,
}

/// Database health.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"status": "ok", "db": "ecommerce", "latency_ms": 0.42}))]
pub struct DbHealth {
    /// `ok`.
    pub status: &'static str,
    /// The database name (`DB_NAME`).
    pub db: String,
    /// Round trip of a `ping`, in milliseconds.
    pub latency_ms: f64,
}

/// Database health when the database cannot be reached.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"status": "error", "detail": "The database is unavailable", "error_code": "DB_UNAVAILABLE"}))]
pub struct DbHealthError {
    /// `error`.
    pub status: &'static str,
    /// What is wrong.
    pub detail: &'static str,
    /// `DB_UNAVAILABLE`.
    pub error_code: &'static str,
}

/// Liveness: answers without touching the database.
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, description = "The service is running", body = Health)))]
pub(super) async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness of the database: a `ping` round trip, or 503 within 2 s when it cannot be reached.
#[utoipa::path(get, path = "/health/db", tag = "health",
    responses(
        (status = 200, description = "The database answers", body = DbHealth),
        (status = 503, description = "The database cannot be reached", body = DbHealthError),
    ))]
pub(super) async fn health_db(State(gate): State<DbGate>) -> Response {
    match gate.check().await {
        Ok(latency) => Json(DbHealth {
            status: "ok",
            db: gate.db_name().to_owned(),
            latency_ms: latency.as_secs_f64() * 1000.0,
        })
        .into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "database health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(DbHealthError {
                    status: "error",
                    detail: "The database is unavailable",
                    error_code: "DB_UNAVAILABLE",
                }),
            )
                .into_response()
        }
    }
}
