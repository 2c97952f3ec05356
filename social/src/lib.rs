//! Consumers of the app's social streams that keep a view of them in the database: analytics (like and
//! comment counts per media and per user, daily active users), rebuildable exactly from the log, and the chat
//! archive (every message with its delivery and seen states), so an offline client catches up.

#![warn(missing_docs)]

pub mod analytics;
pub mod archive;
pub mod rebuild;

pub use analytics::Analytics;
pub use archive::ChatArchive;
