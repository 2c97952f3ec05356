//! The command line does what it says: operator commands find `up`'s data or say where they looked, errors
//! are messages (never backtraces), config typos stop the start, times read as RFC 3339, a failed file
//! leaves no output folder. Runs the real binary; needs no infrastructure.

mod harness;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use harness::bin;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mediamill-cli-{name}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs mediamill in `dir` with no MEDIAMILL_* settings from the outside.
fn run_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(bin());
    c.current_dir(dir).args(args);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("MEDIAMILL_")) {
        c.env_remove(k);
    }
    c.envs(env.iter().copied()).output().expect("run mediamill")
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn read_only_commands_never_create_a_database_elsewhere() {
    let here = tmp("elsewhere");
    for args in [&["keys", "list"][..], &["jobs", "stuck"], &["tenants", "show", "default"]] {
        let o = run_in(&here, args, &[]);
        let (_, err) = text(&o);
        assert!(!o.status.success(), "{args:?} answered 'nothing' with success");
        let expected = here.join("mediamill-data/mediamill.db");
        assert!(err.contains(&expected.display().to_string()) && err.contains("--data"), "{args:?}: {err}");
        assert!(!expected.exists() && !here.join("mediamill-data").exists(), "{args:?} created a database");
    }
    // Without a broker configured and no `up` running, dlq says exactly why.
    let o = run_in(&here, &["dlq", "list"], &[]);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(err.contains("kafka.brokers is not set") && err.contains("mediamill-data/broker"), "{err}");
    let _ = std::fs::remove_dir_all(&here);
}

#[test]
fn keys_are_listed_for_every_tenant_with_readable_times_and_unknown_tenants_are_errors() {
    let here = tmp("keys");
    let data = here.join("d");
    let d = data.to_str().unwrap();
    for t in ["alpha", "beta"] {
        let o = run_in(&here, &["--data", d, "keys", "create", "--tenant", t], &[]);
        assert!(o.status.success(), "{}", text(&o).1);
    }
    // The same folder through the environment, from another directory.
    let o = run_in(&std::env::temp_dir(), &["keys", "list"], &[("MEDIAMILL_DATA", d)]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert!(rows[0].starts_with("alpha\t") && rows[1].starts_with("beta\t"), "{out}");
    let created = rows[0].split('\t').nth(3).unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(created).is_ok(), "created_at {created:?} is not RFC 3339");

    let o = run_in(&here, &["--data", d, "keys", "list", "--tenant", "gamma"], &[]);
    assert!(!o.status.success());
    assert!(text(&o).1.contains("no tenant named \"gamma\""), "{}", text(&o).1);
    let o = run_in(&here, &["--data", d, "keys", "list", "--tenant", "alpha"], &[]);
    assert_eq!(text(&o).0.lines().count(), 2, "{}", text(&o).0);
    let _ = std::fs::remove_dir_all(&here);
}

#[test]
fn user_errors_print_a_message_not_a_backtrace() {
    let here = tmp("usererror");
    let o = run_in(&here, &["keys", "revoke", "nope"], &[("RUST_BACKTRACE", "1")]);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(err.starts_with("error: "), "{err}");
    assert!(!err.to_lowercase().contains("backtrace") && !err.contains("at src/"), "{err}");
    let _ = std::fs::remove_dir_all(&here);
}

#[test]
fn config_typos_stop_the_start_and_config_says_what_it_loaded() {
    let here = tmp("config");
    std::fs::write(here.join("mediamill.toml"), "[notify]\nallow_private_target = true\n").unwrap();
    let o = run_in(&here, &["config"], &[]);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("unknown key notify.allow_private_target ") && err.contains("notify.allow_private_targets"),
        "{err}"
    );

    std::fs::write(here.join("mediamill.toml"), "[server]\nlisten = \"127.0.0.1:8181\"\n").unwrap();
    let o = run_in(&here, &["config"], &[("MEDIAMILL_LIMITS__MAX_IMAGE_BYTE", "5")]);
    let (_, err) = text(&o);
    assert!(!o.status.success() && err.contains("MEDIAMILL_LIMITS__MAX_IMAGE_BYTES"), "{err}");

    let o = run_in(&here, &["config"], &[]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let first = out.lines().next().unwrap();
    assert!(first.contains(&here.join("mediamill.toml").canonicalize().unwrap().display().to_string()), "{first}");
    assert!(out.contains("public_url = \"http://127.0.0.1:8181\""), "{out}");
    let _ = std::fs::remove_dir_all(&here);
}

#[test]
fn a_file_that_fails_leaves_no_output_folder() {
    let here = tmp("process");
    std::fs::write(here.join("notes.jpg"), b"not an image at all").unwrap();
    std::fs::copy(harness::repo_root().join("fixtures/media/still.gif"), here.join("ok.gif")).unwrap();
    let o = run_in(&here, &["process", "notes.jpg", "ok.gif", "--out", "out"], &[]);
    assert!(!o.status.success(), "one file failed");
    assert!(!here.join("out/notes.jpg").exists(), "a failed file left a folder");
    assert!(here.join("out/ok.gif").is_dir());
    let _ = std::fs::remove_dir_all(&here);
}

#[test]
fn process_runs_files_in_parallel_and_keeps_their_order() {
    let here = tmp("jobs");
    let names = ["progressive.jpg", "alpha.png", "truncated.jpg", "orient6.jpg", "photo.webp", "cmyk.jpg", "still.gif"];
    for n in names {
        std::fs::copy(harness::repo_root().join("fixtures/media").join(n), here.join(n)).unwrap();
    }
    let lines = |jobs: &str, out: &str| {
        let mut args = vec!["process"];
        args.extend(names);
        args.extend(["--out", out, "--jobs", jobs]);
        let o = run_in(&here, &args, &[]);
        assert_eq!(o.status.code(), Some(1), "truncated.jpg fails: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|v| {
                let variants: Vec<_> = v["variants"]
                    .as_array()
                    .map(|a| a.iter().map(|x| (x["name"].clone(), x["width"].clone(), x["size"].clone())).collect())
                    .unwrap_or_default();
                (v["file"].as_str().unwrap().to_string(), v["status"].clone(), v["reason"].clone(), variants)
            })
            .collect::<Vec<_>>()
    };
    let one = lines("1", "one");
    let four = lines("4", "four");
    assert_eq!(one.iter().map(|l| l.0.as_str()).collect::<Vec<_>>(), names, "one line per file, in order");
    assert_eq!(one, four, "four at a time gives the same lines, in the same order, with the same bytes");
    assert_eq!(one[2].2, "corrupt");
    let _ = std::fs::remove_dir_all(&here);
}
