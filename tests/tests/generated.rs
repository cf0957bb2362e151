//! The files written from the route tables (`tools/gen`: spin.toml, the
//! OpenAPI document, docs/index.json, docs/routes.md, deploy/) are what the tables say now: a
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

/// A route family is served by the component crate of its name, which is a
/// workspace member, and no component crate lacks a family: a family added
/// to `routes::ALL` without its crate (or a crate without its family) fails
/// here rather than at `spin build`.
#[test]
fn every_family_has_its_component_crate_and_every_crate_its_family() {
    let root = repo_root();
    let families: std::collections::BTreeSet<String> = spin_logs::routes::ALL
        .iter()
        .map(|f| f.component().to_owned())
        .collect();
    let crates: std::collections::BTreeSet<String> = std::fs::read_dir(root.join("components"))
        .expect("components/")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(families, crates, "route families and components/ crates");
    let workspace: toml::Table =
        toml::from_str(&std::fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml"))
            .expect("Cargo.toml parses");
    let members: Vec<&str> = workspace["workspace"]["members"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(|m| m.as_str())
        .collect();
    for name in &families {
        let member = format!("components/{name}");
        assert!(
            members.contains(&member.as_str()),
            "{member} is not a workspace member"
        );
    }
}
