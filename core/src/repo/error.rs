//! Why a repository call failed, with the database's own error kept as the source.

/// Why a repository call failed.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// The database could not be reached, or the call timed out; it may work later.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// A row needed by the call does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// A uniqueness rule was broken.
    #[error("conflict: {what}")]
    Conflict {
        /// What collided.
        what: String,
        /// The database's report, when it was the database that refused.
        #[source]
        source: Option<sqlx::Error>,
    },
    /// A stored value could not be read back.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The configured database URL names no backend we speak.
    #[error("database.url {0:?}: expected postgres:// or sqlite://")]
    UnknownBackend(String),
    /// Anything else the database said.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl RepoError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, RepoError::Unavailable(_))
    }
}

impl From<sqlx::Error> for RepoError {
    fn from(e: sqlx::Error) -> RepoError {
        match &e {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Tls(_) => {
                RepoError::Unavailable(e)
            }
            sqlx::Error::Database(d) => {
                let code = d.code().unwrap_or_default();
                // 08*: connection exceptions, 57P*: operator intervention (shutdown, restart), 53*: resources.
                // SQLite 5/6: busy/locked.
                let unavailable = code.starts_with("08")
                    || code.starts_with("57P")
                    || code.starts_with("53")
                    || code == "5"
                    || code == "6";
                if unavailable {
                    RepoError::Unavailable(e)
                } else if d.is_unique_violation() {
                    RepoError::Conflict { what: d.message().to_string(), source: Some(e) }
                } else {
                    RepoError::Database(e)
                }
            }
            sqlx::Error::RowNotFound => RepoError::NotFound("row".into()),
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => RepoError::Corrupt(e.to_string()),
            _ => RepoError::Database(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_timeouts_are_transient_and_keep_their_source() {
        let e = RepoError::from(sqlx::Error::PoolTimedOut);
        assert!(e.is_transient());
        assert!(std::error::Error::source(&e).is_some());
        assert!(!RepoError::from(sqlx::Error::RowNotFound).is_transient());
        assert!(!RepoError::from(sqlx::Error::Protocol("x".into())).is_transient());
    }
}
