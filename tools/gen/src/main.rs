//! `cargo run -p spin-logs-gen`: writes every generated file from the route
//! tables (see the library). `--check` only reports which differ, as the
//! test does.

use std::process::ExitCode;

fn main() -> ExitCode {
    let check = std::env::args().any(|a| a == "--check");
    let root = spin_logs_gen::repo_root();
    let mut stale = 0;
    for file in spin_logs_gen::files() {
        let path = root.join(file.path);
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current == file.text {
            continue;
        }
        stale += 1;
        if check {
            eprintln!("{} is stale", file.path);
        } else if let Err(e) = std::fs::write(&path, &file.text) {
            eprintln!("writing {}: {e}", file.path);
            return ExitCode::from(4);
        } else {
            eprintln!("wrote {}", file.path);
        }
    }
    if check && stale > 0 {
        eprintln!("run `cargo run -p spin-logs-gen` and commit the result");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
