//! The local file that makes an interrupted `mediamill upload` resumable: for each file (by server, path, size
//! and modification time) the URL of its tus upload and the batch it joins. The next run asks the server how far
//! each upload got and sends only the rest. A damaged or foreign file is set aside with a warning, never
//! trusted: the worst it can cost is sending some bytes again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::files::MediaFile;

/// What is remembered of one file's upload.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    /// Its tus upload's URL.
    pub upload_url: String,
    /// The batch it joins, if any.
    pub batch_id: Option<String>,
}

#[derive(Default, Serialize, Deserialize)]
struct Saved {
    version: u32,
    uploads: BTreeMap<String, Entry>,
}

/// The resume file, read once and written after every change.
pub struct ResumeFile {
    path: PathBuf,
    saved: Mutex<Saved>,
}

/// Where the resume file lives unless `--state` says: `$XDG_STATE_HOME/mediamill/uploads.json`, else
/// `~/.local/state/mediamill/uploads.json`, else in the working folder.
pub fn default_path() -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("mediamill/uploads.json")
}

impl ResumeFile {
    /// Reads `path`; a missing file is an empty one, a damaged one is renamed aside and replaced.
    pub fn open(path: &Path) -> ResumeFile {
        let saved = match std::fs::read(path) {
            Err(_) => Saved::default(),
            Ok(bytes) => match serde_json::from_slice::<Saved>(&bytes) {
                Ok(s) if s.version == 1 => s,
                _ => {
                    let aside = path.with_extension("json.damaged");
                    let _ = std::fs::rename(path, &aside);
                    eprintln!(
                        "warning: {} was not a resume file of this version; moved to {}",
                        path.display(),
                        aside.display()
                    );
                    Saved::default()
                }
            },
        };
        ResumeFile { path: path.to_path_buf(), saved: Mutex::new(Saved { version: 1, ..saved }) }
    }

    /// The key of one file on one server: it changes when the file does.
    pub fn fingerprint(server: &str, f: &MediaFile) -> String {
        let path = std::fs::canonicalize(&f.path).unwrap_or_else(|_| f.path.clone());
        let mut h = Sha256::new();
        h.update(format!("{server}\n{}\n{}\n{}", path.display(), f.size, f.modified));
        hex::encode(&h.finalize()[..16])
    }

    /// What is remembered for `fingerprint`.
    pub fn get(&self, fingerprint: &str) -> Option<Entry> {
        self.saved.lock().ok()?.uploads.get(fingerprint).cloned()
    }

    /// Remembers an upload (or forgets one with `None`) and writes the file.
    pub fn set(&self, fingerprint: &str, entry: Option<Entry>) -> anyhow::Result<()> {
        let Ok(mut saved) = self.saved.lock() else { anyhow::bail!("the resume file's lock is poisoned") };
        match entry {
            Some(e) => saved.uploads.insert(fingerprint.to_string(), e),
            None => saved.uploads.remove(fingerprint),
        };
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        // Written aside and renamed, so a killed run never leaves half a file.
        let tmp = self.path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&*saved)?)
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &self.path).with_context(|| format!("writing {}", self.path.display()))?;
        Ok(())
    }
}
