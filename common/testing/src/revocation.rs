//! Checks that a service's replicas refuse an account's older tokens soon after the user service
//! sets its cutoff, and accept tokens issued after it.

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use common_api::auth::Role;
use mongodb::bson::oid::ObjectId;
use serde_json::Value;

use crate::{ServiceProcess, TestDb, access_token, http};

/// Sends `method path` with `body` as `user` (a token issued now, with `role`) to each of
/// `replicas` and expects an answer other than 401; then sets the account's cutoff and waits until
/// every replica answers 401 to the same token, and returns how long the slowest took (failing
/// past 2 s). Finally a token issued after the cutoff is accepted again by every replica.
pub async fn assert_refused_after_cutoff(
    db: &TestDb,
    replicas: &[&ServiceProcess],
    (method, path, body): (Method, &str, Option<&Value>),
    role: Role,
) -> Duration {
    let user = ObjectId::new();
    let token = access_token(&db.config, user, role);
    let send = |replica: &ServiceProcess, token: String| {
        let address = replica.address;
        let method = method.clone();
        async move {
            let bearer = format!("Bearer {token}");
            http(address, method, path, &[("authorization", &bearer)], body)
                .await
                .expect("the replica answers")
                .status
        }
    };
    for replica in replicas {
        let status = send(replica, token.clone()).await;
        assert_ne!(
            status,
            StatusCode::UNAUTHORIZED,
            "the token works before the cutoff"
        );
    }
    db.refuse_tokens_of(user).await;
    let started = Instant::now();
    for replica in replicas {
        while send(replica, token.clone()).await != StatusCode::UNAUTHORIZED {
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "a replica still takes the token 2 s after its cutoff"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let took = started.elapsed();
    // A token's `iat` counts whole seconds: one issued in the cutoff's second is refused too.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let fresh = access_token(&db.config, user, role);
    for replica in replicas {
        let status = send(replica, fresh.clone()).await;
        assert_ne!(
            status,
            StatusCode::UNAUTHORIZED,
            "a token issued after the cutoff works"
        );
    }
    took
}
