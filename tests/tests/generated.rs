//! The files written from the route tables (`tools/gen`: spin.toml, the
//! OpenAPI document, docs/routes.md, deploy/) are what the tables say now: a
//! route, a permission or a variable changed in a table and not written out
//! fails here, naming the file and the command that writes it.

use spin_logs_tests::repo_root;

#[test]
fn every_generated_file_is_current() {
    let mut stale = Vec::new();
    for file in spin_logs_gen::files() {
        let path = repo_root().join(file.path);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != file.text {
            let line = committed
                .lines()
                .zip(file.text.lines())
                .position(|(a, b)| a != b)
                .map_or(
                    committed.lines().count().min(file.text.lines().count()),
                    |i| i,
                );
            stale.push(format!(
                "{} (first difference at line {})",
                file.path,
                line + 1
            ));
        }
    }
    assert!(
        stale.is_empty(),
        "stale: {}; run `cargo run -p spin-logs-gen` and commit the result",
        stale.join(", ")
    );
}
