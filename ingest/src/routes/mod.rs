//! Request handlers, one file per resource.

pub mod health;
pub mod media;
pub mod variants;
mod view;
