//! The embedded default's data folder, shared by `up` and the operator commands.
//!
//! `up` keeps its SQLite database, its objects and (while it runs) the address of its in-process broker in
//! one folder: `--data DIR` / `MEDIAMILL_DATA`, default `./mediamill-data`. The operator commands look in the
//! same folder, and the ones that only read refuse to create an empty database somewhere else: they name
//! the path they looked at instead of answering "nothing".

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use mediamill_core::config::{Config, DatabaseConfig, StoreConfig};
use mediamill_core::repo::Repo;

/// The default data folder, relative to where the command runs.
pub const DEFAULT_DIR: &str = "mediamill-data";
/// The file in the data folder that holds the running `up`'s in-process broker address.
const BROKER_FILE: &str = "broker";

/// Points the embedded settings still at their defaults (`database.url`, `store.local_dir`) into `dir`.
pub fn apply(cfg: &mut Config, dir: &Path) {
    if cfg.database.url == DatabaseConfig::default().url {
        cfg.database.url = format!("sqlite://{}", dir.join("mediamill.db").display());
    }
    if cfg.store.local_dir == StoreConfig::default().local_dir {
        cfg.store.local_dir = dir.join("objects");
    }
}

fn shown(p: &Path) -> String {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()).display().to_string()
}

/// The SQLite file a `sqlite://` URL names, if it names one.
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// Opens the repository for a command that reads or changes what is there: a SQLite database that does not
/// exist is an error naming its path, never a fresh empty one.
pub async fn open_existing(cfg: &Config, dir: &Path) -> anyhow::Result<Arc<dyn Repo>> {
    if let Some(file) = sqlite_file(&cfg.database.url) {
        anyhow::ensure!(
            file.exists(),
            "no database at {}: run this where `mediamill up` keeps its data, pass --data DIR (or MEDIAMILL_DATA) \
             naming that folder (now {}), or set database.url",
            shown(&file),
            shown(dir)
        );
    }
    open(cfg).await
}

/// Opens (and creates, for SQLite) the repository.
pub async fn open(cfg: &Config) -> anyhow::Result<Arc<dyn Repo>> {
    mediamill_core::repo::open(&cfg.database.url, 2).await.context("opening the database")
}

/// The broker to talk to: `kafka.brokers`, or else the in-process broker of an `up` running on `dir`.
pub fn brokers(cfg: &Config, dir: &Path) -> anyhow::Result<String> {
    if !cfg.kafka.brokers.is_empty() {
        return Ok(cfg.kafka.brokers.clone());
    }
    let file = dir.join(BROKER_FILE);
    match std::fs::read_to_string(&file) {
        Ok(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        _ => anyhow::bail!(
            "kafka.brokers is not set (MEDIAMILL_KAFKA__BROKERS), and no `mediamill up` with its in-process broker \
             runs on the data folder {} (it writes {} while it runs)",
            shown(dir),
            shown(&file)
        ),
    }
}

/// Written by `up` while its in-process broker runs; removed again when dropped.
pub struct BrokerFile(PathBuf);

impl BrokerFile {
    /// Writes `addr` to the data folder `dir`.
    pub fn write(dir: &Path, addr: &str) -> anyhow::Result<BrokerFile> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating the data folder {}", shown(dir)))?;
        let file = dir.join(BROKER_FILE);
        std::fs::write(&file, addr).with_context(|| format!("writing {}", shown(&file)))?;
        Ok(BrokerFile(file))
    }
}

impl Drop for BrokerFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_move_into_the_folder_and_explicit_settings_stay() {
        let mut c = Config::default();
        apply(&mut c, Path::new("/srv/mm"));
        assert_eq!(c.database.url, "sqlite:///srv/mm/mediamill.db");
        assert_eq!(c.store.local_dir, PathBuf::from("/srv/mm/objects"));
        let mut c = Config::default();
        c.database.url = "postgres://h/db".into();
        apply(&mut c, Path::new("/srv/mm"));
        assert_eq!(c.database.url, "postgres://h/db");
    }

    #[test]
    fn sqlite_files_are_found_in_urls() {
        assert_eq!(sqlite_file("sqlite://a/b.db?mode=rwc"), Some(PathBuf::from("a/b.db")));
        assert_eq!(sqlite_file("sqlite:///abs/b.db"), Some(PathBuf::from("/abs/b.db")));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://h/db"), None);
    }
}
