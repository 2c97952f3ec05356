//! Request handlers, one file per resource.

pub mod batches;
pub mod health;
pub mod hls;
pub mod live;
pub mod media;
pub mod variants;
pub(crate) mod view;
pub mod webhooks;
