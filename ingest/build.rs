//! Builds the upload page (`web/`: Uppy + our script, bundled by esbuild) into `OUT_DIR/web`, where
//! `src/web.rs` embeds it: the binary serves the page with no file and no network at run time. Needs Node.js and
//! npm at build time; `npm ci` runs only when `web/node_modules` is missing or older than the lockfile.

use std::path::{Path, PathBuf};
use std::process::Command;

fn run(cmd: &mut Command, what: &str) {
    let status = cmd.status().unwrap_or_else(|e| {
        panic!(
            "{what}: could not start {:?} ({e}); the upload page needs Node.js and npm at build time",
            cmd.get_program()
        )
    });
    assert!(status.success(), "{what} failed ({status})");
}

fn modified(p: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn main() {
    // Read at run time: the compiled build script is shared by every checkout that uses the same target folder,
    // so a path baked in with `env!` would point at whichever checkout built it first.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let web = Path::new(&manifest).join("../web");
    for f in ["src", "build.mjs", "package.json", "package-lock.json"] {
        println!("cargo:rerun-if-changed={}", web.join(f).display());
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("web");
    let lock = web.join("package-lock.json");
    let installed = web.join("node_modules/.package-lock.json");
    if modified(&installed).is_none() || modified(&installed) < modified(&lock) {
        run(
            Command::new("npm").args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]).current_dir(&web),
            "npm ci in web/",
        );
    }
    run(Command::new("node").arg("build.mjs").arg(&out).current_dir(&web), "bundling the upload page (web/build.mjs)");
}
