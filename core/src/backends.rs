//! The backends every role works through, opened once per process and handed to each role's loops: the one
//! bundle the binary's roles, the HTTP API's state and the job runner's services all carry.

use std::sync::Arc;

use crate::config::Config;
use crate::kafka::membership::Memberships;
use crate::outbox::Waker;
use crate::repo::{self, Repo, RepoError};
use crate::store::{self, Store, StoreError};

/// The configuration, the metadata repository, the object store and the outbox relay's waker.
#[derive(Clone)]
pub struct Backends {
    /// The process's configuration.
    pub cfg: Arc<Config>,
    /// Metadata: tenants, media, batches, outbox, notifications.
    pub repo: Arc<dyn Repo>,
    /// Raw uploads and variants.
    pub store: Arc<dyn Store>,
    /// Pokes this process's outbox relay after a write, so events go out at once instead of at its next poll.
    pub waker: Waker,
    /// The consumer groups this process's roles run, and whether each has joined yet.
    pub consumers: Memberships,
}

/// Why the backends could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The database refused or is unreachable.
    #[error("opening database {url}: {source}")]
    Database {
        /// The configured URL with its password hidden.
        url: String,
        /// What the database said.
        #[source]
        source: RepoError,
    },
    /// The object store refused or is unreachable.
    #[error("opening object store: {0}")]
    Store(#[source] StoreError),
}

impl Backends {
    /// Bundles backends already opened.
    pub fn new(cfg: Config, repo: Arc<dyn Repo>, store: Arc<dyn Store>) -> Backends {
        Backends { cfg: Arc::new(cfg), repo, store, waker: Waker::new(), consumers: Memberships::default() }
    }

    /// Opens the database (running migrations) and the object store that `cfg` names.
    pub async fn open(cfg: Config) -> Result<Backends, OpenError> {
        let repo = repo::open(&cfg.database.url, cfg.database.max_connections).await.map_err(|source| {
            OpenError::Database { url: crate::config::mask_url_password(&cfg.database.url), source }
        })?;
        let store = store::open(&cfg.store).await.map_err(OpenError::Store)?;
        Ok(Backends::new(cfg, repo, store))
    }
}
