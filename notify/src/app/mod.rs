//! The app's notification service: rules turn user, social and chat events into notifications (feed items
//! made at once, channels sent when due); the releaser sends the due ones to push, email and SMS as each
//! user's preferences, quiet hours and rate limits allow.

pub mod release;
pub mod rules;

pub use release::Releaser;
pub use rules::Rules;

/// The consumer name under which rules mark events applied.
pub const CONSUMER: &str = "notify.app";
