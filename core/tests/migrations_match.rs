//! The PostgreSQL and SQLite migrations are one schema written twice: they must list the same files with the same
//! statements, differing only where the dialects must (the outbox's auto-increment key). A migration added to one
//! folder and forgotten in the other fails here, not in production.

use std::collections::BTreeMap;
use std::path::Path;

fn read(dialect: &str) -> BTreeMap<String, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(dialect);
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| {
            let p = e.expect("dir entry").path();
            let name = p.file_name().expect("file name").to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).expect("migration text"))
        })
        .collect()
}

/// The lines where the two dialects may differ: (PostgreSQL, SQLite).
const ALLOWED: &[(&str, &str)] =
    &[("    seq         BIGSERIAL PRIMARY KEY,", "    seq         INTEGER PRIMARY KEY AUTOINCREMENT,")];

#[test]
fn postgres_and_sqlite_migrations_match_but_for_the_allowed_lines() {
    let (pg, lite) = (read("postgres"), read("sqlite"));
    assert_eq!(
        pg.keys().collect::<Vec<_>>(),
        lite.keys().collect::<Vec<_>>(),
        "the two folders list different migrations"
    );
    for (name, pg_text) in &pg {
        let lite_text = &lite[name];
        let (a, b): (Vec<&str>, Vec<&str>) = (pg_text.lines().collect(), lite_text.lines().collect());
        assert_eq!(a.len(), b.len(), "{name}: different line counts");
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            if x != y {
                assert!(ALLOWED.contains(&(*x, *y)), "{name}:{}: PostgreSQL has {x:?}, SQLite {y:?}", i + 1);
            }
        }
    }
}
