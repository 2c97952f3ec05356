//! The app's event contracts: what the User, Auth, Like/Comment and Chat services publish on `user.events`,
//! `auth.events`, `social.events` and `chat.events`, and the checks every consumer of them runs.
//!
//! The JSON Schemas in the repository's `contracts/` folder are the contract (one file per versioned type,
//! compiled into the binary); [`parse`] validates an event's body against its type's schema before turning it
//! into a typed [`AppEvent`], so an integrator's schema and our consumer can never disagree.

mod consume;
mod types;

use std::collections::HashMap;
use std::sync::LazyLock;

pub use consume::{AppEventHandler, Validated};
pub use types::*;

use crate::event::Envelope;

macro_rules! contract {
    ($ty:literal, $topic:literal, $key:literal) => {
        ($ty, $topic, $key, include_str!(concat!("../../../contracts/", $ty, ".json")))
    };
}
/// `(type, topic, key field, schema)` of every app event type, from `contracts/*.json`.
pub const CONTRACTS: &[(&str, &str, &str, &str)] = &[
    contract!("app.user.registered.v1", "user.events", "user_id"),
    contract!("app.user.profile_changed.v1", "user.events", "user_id"),
    contract!("app.user.password_changed.v1", "user.events", "user_id"),
    contract!("app.auth.login.v1", "auth.events", "user_id"),
    contract!("app.auth.logout.v1", "auth.events", "user_id"),
    contract!("app.auth.token_expired.v1", "auth.events", "user_id"),
    contract!("app.auth.token_revoked.v1", "auth.events", "user_id"),
    contract!("app.social.like_added.v1", "social.events", "media_id"),
    contract!("app.social.like_removed.v1", "social.events", "media_id"),
    contract!("app.social.comment_added.v1", "social.events", "media_id"),
    contract!("app.social.comment_deleted.v1", "social.events", "media_id"),
    contract!("app.chat.message_sent.v1", "chat.events", "conversation_id"),
    contract!("app.chat.message_delivered.v1", "chat.events", "conversation_id"),
    contract!("app.chat.message_seen.v1", "chat.events", "conversation_id"),
    contract!("app.chat.presence_online.v1", "chat.events", "user_id"),
    contract!("app.chat.presence_offline.v1", "chat.events", "user_id"),
    contract!("app.chat.presence_typing.v1", "chat.events", "conversation_id"),
];

/// Why an event on an app topic cannot be used. It goes to the dead-letter topic with [`Invalid::reason`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct Invalid {
    /// A stable code: `not_cloudevent`, `unknown_type`, `wrong_topic` or `schema`.
    pub reason: &'static str,
    /// What is wrong, naming the field.
    pub message: String,
}

impl Invalid {
    fn new(reason: &'static str, message: impl Into<String>) -> Invalid {
        Invalid { reason, message: message.into() }
    }
}

static COMPILED: LazyLock<HashMap<&'static str, jsonschema::Validator>> = LazyLock::new(|| {
    CONTRACTS
        .iter()
        .map(|(ty, _, _, schema)| {
            // The schemas are compiled into the binary and checked by this crate's tests: a broken one is a bug.
            let json: serde_json::Value =
                serde_json::from_str(schema).unwrap_or_else(|e| panic!("contracts/{ty}.json is not JSON: {e}"));
            let validator = jsonschema::validator_for(&json)
                .unwrap_or_else(|e| panic!("contracts/{ty}.json is not a JSON Schema: {e}"));
            (*ty, validator)
        })
        .collect()
});

/// The logical topic an app event type belongs on, if it is one of ours.
pub fn topic_of(ty: &str) -> Option<&'static str> {
    CONTRACTS.iter().find(|c| c.0 == ty).map(|c| c.1)
}

/// The Kafka key of an event of type `ty` with body `data` (the field its contract names), if present.
pub fn key_of(ty: &str, data: &serde_json::Value) -> Option<String> {
    let key = CONTRACTS.iter().find(|c| c.0 == ty)?.2;
    data.get(key).and_then(|v| v.as_str()).map(str::to_string)
}

/// Checks `data` against the schema of `ty`: the first problem, with the field it is at.
pub fn validate(ty: &str, data: &serde_json::Value) -> Result<(), Invalid> {
    let validator = COMPILED.get(ty).ok_or_else(|| {
        Invalid::new("unknown_type", format!("{ty:?} is not an app event type (see contracts/ and docs/events.md)"))
    })?;
    validator.validate(data).map_err(|e| {
        let at = e.instance_path().to_string();
        let at = if at.is_empty() { "the body".to_string() } else { at };
        Invalid::new("schema", format!("{ty} at {at}: {e}"))
    })?;
    Ok(())
}

/// Validates an event read from logical topic `topic` and returns it typed.
pub fn parse(topic: &str, env: &Envelope) -> Result<AppEvent, Invalid> {
    validate(&env.ty, &env.data)?;
    let expected = topic_of(&env.ty).unwrap_or_default();
    if expected != topic {
        return Err(Invalid::new("wrong_topic", format!("{} belongs on {expected}, not {topic}", env.ty)));
    }
    AppEvent::from_envelope(env).map_err(|e| Invalid::new("schema", e.to_string()))
}

#[cfg(test)]
mod tests;
