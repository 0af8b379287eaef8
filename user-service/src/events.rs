//! The user service's events (`user.*`): recorded by [`crate::store::UserStore`] in the write
//! that makes each change, and relayed from `users` into `events` by the [`Relay`] built here,
//! which renders each snapshot as `GET /users/{id}` shows the user (never the password hash,
//! which the snapshot does not even hold).

use std::{sync::Arc, time::Duration};

use common_platform::events::{Relay, Render};
use mongodb::Database;

use crate::{
    models::UserProfile,
    store::{PublicUser, USERS},
};

/// How often the relay looks for events without being woken: for those recorded by another
/// replica, or left by a crash. A write here wakes it at once.
pub const RELAY_POLL: Duration = Duration::from_millis(500);

/// The relay of the events recorded on `users` in `db`.
pub fn relay(db: &Database) -> Relay {
    Relay::new(db, USERS, render())
}

/// A snapshot of an account as `GET /users/{id}` shows it, or `None` if it is no account.
fn render() -> Render {
    Arc::new(|_kind, snapshot| {
        let user: PublicUser = mongodb::bson::from_document(snapshot).ok()?;
        serde_json::to_string(&UserProfile::from(user)).ok()
    })
}

#[cfg(test)]
mod tests {
    use common_platform::events::EventType;
    use mongodb::bson::{DateTime, doc, oid::ObjectId};
    use serde_json::{Value, json};

    use super::*;

    #[test]
    fn a_snapshot_renders_as_the_api_shows_the_user() {
        let id = ObjectId::new();
        let snapshot = doc! {
            "_id": id, "email": "ada@example.com", "name": "Ada", "role": "seller",
            "created_at": DateTime::from_millis(1_700_000_000_000),
        };

        let rendered = render()(EventType::UserRegistered, snapshot.clone()).unwrap();

        let expected = json!({
            "id": id.to_hex(), "email": "ada@example.com", "name": "Ada", "role": "seller",
            "created_at": "2023-11-14T22:13:20Z", "email_verified": false, "disabled": false,
        });
        assert_eq!(serde_json::from_str::<Value>(&rendered).unwrap(), expected);
        assert!(render()(EventType::UserRegistered, doc! { "x": 1 }).is_none());
    }
}
