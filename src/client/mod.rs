//! The client side of the binary: what `mediamill upload` and `mediamill watch` do against a running
//! mediamill, so people uploading need nothing but this one binary.
//!
//! - [`files`]: which paths are media (sniffed as the server sniffs them), the rest skipped with a reason;
//! - [`resume`]: the small local file that lets an interrupted run resume each upload where it stopped;
//! - [`tus`]: one file over tus 1.0, in chunks, resuming from the server's offset after a break;
//! - [`watch`]: processing progress over the server's event stream (SSE) until the batch or item is done;
//! - [`report`]: the closing summary, as a table or as JSON.

pub mod api;
pub mod files;
pub mod report;
pub mod resume;
pub mod tus;
pub mod watch;
