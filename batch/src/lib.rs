//! Batch progress and notifications (the batch tracker and the notifier), driven by `media.events`.
//!
//! Not built yet: the crate holds its place in the workspace so the data path stays visible in the folder
//! tree (ingest → workers → batch). See the batch issue for what it will do.
