//! Request handlers, one file per resource.

pub mod batches;
pub mod conversations;
pub mod health;
pub mod hls;
pub mod live;
pub mod media;
pub mod stats;
pub mod users;
pub mod variants;
pub(crate) mod view;
pub mod webhooks;
