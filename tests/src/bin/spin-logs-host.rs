//! `spin up` for machines without the `spin` CLI: builds the components and
//! serves the app (spin-logs, or the Spin app in `--app-dir`) until killed.
//!
//! ```text
//! cargo run -p spin-logs-tests --release --bin spin-logs-host -- \
//!     --listen 127.0.0.1:3000 --state-dir .spin [--app-dir DIR] [--variable name=value]...
//! ```

use anyhow::{Context, Result, bail};
use spin_logs_tests::{HostOptions, TestHost};
use std::time::Duration;

fn main() -> Result<()> {
    let mut opts = HostOptions {
        listen: Some("127.0.0.1:3000".parse()?),
        state_dir: Some(".spin".into()),
        ..HostOptions::default()
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--listen" => opts.listen = Some(value()?.parse().context("--listen")?),
            "--state-dir" => opts.state_dir = Some(value()?.into()),
            "--app-dir" => opts.app_dir = Some(value()?.into()),
            "--variable" => {
                let v = value()?;
                let (name, val) = v.split_once('=').context("--variable expects name=value")?;
                opts.variables.push((name.to_owned(), val.to_owned()));
            }
            "--request-timeout-ms" => {
                opts.request_timeout = Some(Duration::from_millis(value()?.parse()?))
            }
            "-h" | "--help" => {
                println!(
                    "spin-logs-host [--listen ADDR] [--state-dir DIR] [--app-dir DIR] \
                     [--variable NAME=VALUE]... [--request-timeout-ms MS]"
                );
                return Ok(());
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    let host = TestHost::start(opts)?;
    println!("Serving {}", host.base_url());
    println!("State dir: {}", host.state_dir().display());
    loop {
        std::thread::park();
    }
}
