//! The closing summary of `mediamill upload` and `mediamill watch`: what was sent, what was skipped, and how
//! processing ended per file, as a table for people or as one JSON object for scripts.

use serde::Serialize;

use super::files::Skipped;

/// A file that did not reach the server.
#[derive(Debug, Clone, Serialize)]
pub struct NotSent {
    /// The path.
    pub path: std::path::PathBuf,
    /// What went wrong.
    pub error: String,
}

/// A file that reached the server.
#[derive(Debug, Clone, Serialize)]
pub struct SentFile {
    /// The path.
    pub path: std::path::PathBuf,
    /// Its media item.
    pub media_id: String,
    /// Bytes an earlier run had sent already.
    pub resumed_from: u64,
}

/// How one item ended on the server.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The client's filename.
    pub filename: Option<String>,
    /// Its media item (none for a file the server refused).
    pub media_id: Option<String>,
    /// `processed`, `failed`, or where it still is.
    pub state: String,
    /// Why it failed, as a stable code.
    pub reason: Option<String>,
    /// Why it failed, in words.
    pub message: Option<String>,
}

impl Outcome {
    /// From a batch item as `GET /v1/batches/{id}` lists it.
    pub fn of_batch_item(v: &serde_json::Value) -> Outcome {
        let s = |k: &str| v[k].as_str().map(str::to_string);
        Outcome {
            filename: s("filename"),
            media_id: s("media_id"),
            state: s("state").unwrap_or_default(),
            reason: s("reason"),
            message: s("message"),
        }
    }

    /// From a media item as `GET /v1/media/{id}` shows it.
    pub fn of_media(v: &serde_json::Value) -> Outcome {
        let s = |v: &serde_json::Value| v.as_str().map(str::to_string);
        Outcome {
            filename: s(&v["filename"]),
            media_id: s(&v["id"]),
            state: s(&v["status"]).unwrap_or_default(),
            reason: s(&v["failure"]["reason"]),
            message: s(&v["failure"]["message"]),
        }
    }
}

/// Everything a run did.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    /// The server.
    pub server: String,
    /// The batch the files joined, if any.
    pub batch_id: Option<String>,
    /// Files sent.
    pub sent: Vec<SentFile>,
    /// Files not sent.
    pub not_sent: Vec<NotSent>,
    /// Paths that were not media.
    pub skipped: Vec<Skipped>,
    /// How processing ended, when it was watched.
    pub outcomes: Option<Vec<Outcome>>,
}

impl Summary {
    /// Items that failed processing.
    pub fn failed(&self) -> usize {
        self.outcomes.as_ref().map(|o| o.iter().filter(|o| o.state == "failed").count()).unwrap_or(0)
    }

    /// Prints the summary: JSON on stdout, or a table.
    pub fn print(&self, json: bool) {
        if json {
            println!("{}", serde_json::to_string_pretty(self).unwrap_or_default());
            return;
        }
        let resumed = self.sent.iter().filter(|s| s.resumed_from > 0).count();
        print!("sent {} file(s) to {}", self.sent.len(), self.server);
        if let Some(b) = &self.batch_id {
            print!(" as batch {b}");
        }
        if resumed > 0 {
            print!(" ({resumed} resumed from an earlier run)");
        }
        println!();
        if !self.skipped.is_empty() {
            println!("skipped {} path(s):", self.skipped.len());
            for s in &self.skipped {
                println!("  {:<11} {}", s.reason, s.path.display());
            }
        }
        for n in &self.not_sent {
            println!("not sent: {}: {}", n.path.display(), n.error);
        }
        if let Some(outcomes) = &self.outcomes {
            let processed = outcomes.iter().filter(|o| o.state == "processed").count();
            println!("processed {processed}, failed {}:", self.failed());
            let width =
                outcomes.iter().filter_map(|o| o.filename.as_ref().map(|f| f.len())).max().unwrap_or(4).clamp(4, 48);
            println!("  {:<width$}  {:<10} REASON", "FILE", "STATE");
            for o in outcomes {
                let why = match (&o.reason, &o.message) {
                    (Some(r), Some(m)) => format!("{r}: {m}"),
                    (Some(r), None) => r.clone(),
                    _ => String::new(),
                };
                println!("  {:<width$}  {:<10} {why}", o.filename.as_deref().unwrap_or("-"), o.state);
            }
        }
    }
}
