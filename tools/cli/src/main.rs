//! `spin-logs`: the command-line client of a spin-logs server.
//!
//! Every command is a thin layer over one API route family (docs/cli.md,
//! docs/routes.md): `cat` reads, `tail -f` follows across invocation
//! handoffs, `download` saves and resumes, `search` runs LogQL or text
//! searches, `push` ships a file as a shipper does, `jobs` drives
//! log-collection jobs, `token` and `dev` make credentials locally. The server and the
//! credential come from flags, then the environment, then a config file.

mod client;
mod credentials;
mod download;
mod error;
mod follow;
mod jobs;
mod push;
mod read;
mod search;
mod target;

use clap::{Args, Parser, Subcommand, ValueEnum};
use client::Client;
use error::{CliError, CliResult};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use target::Target;

const DEFAULT_SERVER: &str = "http://127.0.0.1:3000";

#[derive(Parser)]
#[command(
    name = "spin-logs",
    version,
    about = "Read, follow and download spin-logs logs."
)]
struct Cli {
    /// The server's base URL [default: the config file's, or http://127.0.0.1:3000]
    #[arg(long, global = true, env = "SPIN_LOGS_SERVER")]
    server: Option<String>,
    /// A bearer token (a JWT, an API key or a URL token)
    #[arg(long, global = true, env = "SPIN_LOGS_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// A JSON file with "server" and "token" [default: ~/.config/spin-logs/config.json]
    #[arg(long, global = true, env = "SPIN_LOGS_CONFIG")]
    config: Option<PathBuf>,
    /// text for people, json for scripts
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    output: Output,
    #[command(subcommand)]
    command: Command,
}

#[derive(Copy, Clone, PartialEq, Eq, ValueEnum)]
enum Output {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// First run on a laptop: a local secret (kept in .spin/) and a superuser token
    Dev {
        /// Where the secret is kept
        #[arg(long, default_value = ".spin")]
        state_dir: PathBuf,
        /// How long the token lasts, in seconds
        #[arg(long, default_value_t = 86_400)]
        ttl: u64,
    },
    /// Print a log: TARGET is TASK[/FILE], app:APP or component:NAME
    Cat {
        target: String,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// The last lines of a log, and with -f every new one as it lands
    Tail {
        /// TASK[/FILE], app:APP, component:NAME, or a LogQL selector {...}
        target: String,
        /// Keep following
        #[arg(short, long)]
        follow: bool,
        /// How many lines to start with
        #[arg(short = 'n', long, default_value_t = 10)]
        lines: u64,
        /// Only entries with this field (component logs; repeatable)
        #[arg(long = "filter", value_name = "KEY:VALUE")]
        filters: Vec<String>,
    },
    /// Save a task's file, its sandbox archive (--archive) or a job's archive (jobs download)
    Download {
        target: String,
        /// The whole sandbox as .tar.gz
        #[arg(long)]
        archive: bool,
        /// Where to save it [default: TASK-FILE or TASK.tar.gz]
        #[arg(short, long)]
        out: Option<PathBuf>,
        /// No progress bar, no summary (errors still show)
        #[arg(short, long)]
        quiet: bool,
    },
    /// Search labelled streams: LogQL ({...} | ...) or plain text
    Search {
        query: String,
        /// Plain text only: the namespace to search
        #[arg(long)]
        namespace: Option<String>,
        /// How far back, e.g. 1h
        #[arg(long)]
        since: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u64,
        /// Plain text only: lines of context around each match, as grep -C
        #[arg(short = 'C', long)]
        context: Option<u64>,
    },
    /// Ship a file (or stdin, -) to a registered task's file
    Push {
        /// The task id
        task: String,
        /// The input: a path, or - for stdin
        #[arg(default_value = "-")]
        input: String,
        /// The task's file to append to
        #[arg(long, default_value = "stdout")]
        file: String,
        /// Keep shipping what is appended, across rotations (tail -F)
        #[arg(short = 'f', long)]
        follow: bool,
        /// Largest batch, in bytes
        #[arg(long, default_value_t = 1 << 20)]
        batch_bytes: usize,
    },
    /// Log collection jobs (MongoDB's API)
    Jobs {
        #[command(subcommand)]
        command: jobs::JobsCommand,
    },
    /// Make credentials locally: secret, jwt, apikey, digestkey
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
}

#[derive(Args)]
struct ReadArgs {
    /// At most this many lines
    #[arg(long)]
    limit: Option<u64>,
    /// Move the start by lines: -10 is the last ten before the cursor
    #[arg(long, allow_hyphen_values = true)]
    skip: Option<i64>,
    /// BEG, END, or a position from an earlier read
    #[arg(long)]
    cursor: Option<String>,
    /// Only entries with this field (component logs; repeatable)
    #[arg(long = "filter", value_name = "KEY:VALUE")]
    filters: Vec<String>,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// A new random HS256 secret for auth_hs256_secret
    Secret,
    /// An HS256 JWT signed with --secret or $SPIN_VARIABLE_AUTH_HS256_SECRET
    Jwt {
        #[arg(long, default_value = "dev")]
        uid: String,
        #[arg(long = "perm", default_value = "dcos:superuser")]
        perms: Vec<String>,
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
        #[arg(long, env = credentials::SECRET_ENV, hide_env_values = true)]
        secret: Option<String>,
    },
    /// A new API key and the auth_api_keys entry that accepts it
    Apikey {
        #[arg(long, default_value = "dev")]
        uid: String,
        #[arg(long = "perm", default_value = "dcos:superuser")]
        perms: Vec<String>,
    },
    /// A new HTTP Digest key pair and its auth_digest_keys entry
    Digestkey {
        #[arg(long, default_value = "dev")]
        uid: String,
        #[arg(long = "perm", default_value = "dcos:superuser")]
        perms: Vec<String>,
    },
    /// A URL token from the server, reading one task or app for a few minutes
    Url {
        /// TASK or app:APP
        target: String,
        /// Seconds
        #[arg(long)]
        ttl: Option<u64>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.output == Output::Json;
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if json {
                let (kind, status) = match &e {
                    CliError::Problem { status, .. } => ("problem", Some(*status)),
                    CliError::Failed(_) => ("failed", None),
                    CliError::Usage(_) => ("usage", None),
                    CliError::Network(_) => ("network", None),
                    CliError::Local(_) => ("local", None),
                };
                let v =
                    serde_json::json!({"error": kind, "status": status, "message": e.to_string()});
                eprintln!("{v}");
            } else {
                eprintln!("spin-logs: {e}");
            }
            e.exit_code()
        }
    }
}

/// The server and token: flags and environment (clap), then the config file.
fn client(cli: &Cli) -> CliResult<Client> {
    let file = cli.config.clone().or_else(|| {
        let base = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
        Some(base.join("spin-logs").join("config.json"))
    });
    let config: serde_json::Value = match &file {
        Some(path) => match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && cli.config.is_none() => {
                serde_json::Value::Null
            }
            Err(e) => return Err(CliError::local(path.display(), e)),
        },
        None => serde_json::Value::Null,
    };
    let from_file = |k: &str| config.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let server = cli
        .server
        .clone()
        .or_else(|| from_file("server"))
        .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
    let token = cli.token.clone().or_else(|| from_file("token"));
    Client::new(&server, token)
}

fn stdout() -> std::io::StdoutLock<'static> {
    std::io::stdout().lock()
}

fn print_json(v: &serde_json::Value) -> CliResult<()> {
    writeln!(stdout(), "{v}").map_err(|e| CliError::local("writing the output", e))
}

fn run(cli: Cli) -> CliResult<()> {
    let json = cli.output == Output::Json;
    match &cli.command {
        Command::Dev { state_dir, ttl } => {
            let (secret, made) = credentials::dev_secret(state_dir)?;
            let token = credentials::jwt(
                &secret,
                "dev",
                &[spin_logs::routes::SUPERUSER.to_owned()],
                *ttl,
            )?;
            if json {
                return print_json(&serde_json::json!({
                    "secret_file": state_dir.join(credentials::DEV_SECRET_FILE),
                    "created": made,
                    "env": {credentials::SECRET_ENV: secret},
                    "token": token,
                }));
            }
            if made {
                eprintln!(
                    "spin-logs: a new secret is in {}",
                    state_dir.join(credentials::DEV_SECRET_FILE).display()
                );
            }
            eprintln!("# eval \"$(spin-logs dev)\", then: spin up (or spin build --up)");
            let mut out = stdout();
            writeln!(out, "export {}={secret}", credentials::SECRET_ENV)
                .and_then(|()| writeln!(out, "export SPIN_LOGS_TOKEN={token}"))
                .map_err(|e| CliError::local("writing the output", e))
        }
        Command::Token { command } => token(&cli, command, json),
        Command::Cat { target, read } => {
            let target = Target::parse(target)?;
            let opts = read::ReadOptions {
                limit: read.limit,
                skip: read.skip,
                cursor: read.cursor.clone(),
                filters: read.filters.clone(),
                json,
            };
            read::cat(&client(&cli)?, &target.read_path()?, &opts, &mut stdout()).map(|_| ())
        }
        Command::Tail {
            target,
            follow,
            lines,
            filters,
        } => tail(
            &cli,
            &Target::parse(target)?,
            *follow,
            *lines,
            filters,
            json,
        ),
        Command::Download {
            target,
            archive,
            out,
            quiet,
        } => {
            let target = Target::parse(target)?;
            let path = if *archive {
                target.archive_path()?
            } else {
                target.download_path()?
            };
            let client = client(&cli)?;
            let to = out
                .clone()
                .unwrap_or_else(|| PathBuf::from(target.file_name(*archive)));
            let progress = !quiet && !json && std::io::stderr().is_terminal();
            let done = download::download(&client, &client.url_of(&path, &[]), &to, progress)?;
            done.report(json, *quiet)
        }
        Command::Jobs { command } => jobs::run(&client(&cli)?, command, json),
        Command::Search {
            query,
            namespace,
            since,
            limit,
            context,
        } => {
            let opts = search::SearchOptions {
                query: query.clone(),
                namespace: namespace.clone(),
                since: since.clone(),
                limit: *limit,
                context: *context,
                json,
            };
            search::search(&client(&cli)?, &opts, &mut stdout()).map(|_| ())
        }
        Command::Push {
            task,
            input,
            file,
            follow,
            batch_bytes,
        } => {
            let client = client(&cli)?;
            let segments: Vec<String> = [
                "system", "v1", "logs", "v2", "ingest", "tasks", task, "files", file,
            ]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
            let mut shipper =
                push::Shipper::new(&client, client.url_of(&segments, &[]), *batch_bytes)?;
            match (input.as_str(), follow) {
                ("-", true) => {
                    return Err(CliError::Usage("--follow needs a file, not stdin".into()));
                }
                ("-", false) => push::push_all(&mut shipper, &mut std::io::stdin().lock())?,
                (path, false) => {
                    let mut f = std::fs::File::open(path).map_err(|e| CliError::local(path, e))?;
                    push::push_all(&mut shipper, &mut f)?
                }
                (path, true) => {
                    push::push_follow(&mut shipper, std::path::Path::new(path), &|| false)?
                }
            }
            if json {
                print_json(&serde_json::json!({"lines": shipper.lines, "batches": shipper.batches}))
            } else {
                eprintln!(
                    "spin-logs: {} lines in {} batches",
                    shipper.lines, shipper.batches
                );
                Ok(())
            }
        }
    }
}

fn tail(
    cli: &Cli,
    target: &Target,
    keep_following: bool,
    lines: u64,
    filters: &[String],
    json: bool,
) -> CliResult<()> {
    let client = client(cli)?;
    let skip = -i64::try_from(lines).unwrap_or(i64::MAX);
    if !keep_following {
        let segments = match target {
            Target::Selector(_) => target.read_path()?,
            Target::App(_) => {
                let n = ("n", lines.to_string());
                let url = client.url_of(&target.read_path()?, &[n]);
                let answer = client.get(&url, &[("accept", "text/plain")])?;
                if answer.status() != 204 {
                    std::io::copy(&mut answer.reader(), &mut stdout())
                        .map_err(|e| CliError::Network(format!("reading the log: {e}")))?;
                }
                return Ok(());
            }
            _ => target.read_path()?,
        };
        let opts = read::ReadOptions {
            limit: Some(lines),
            skip: Some(skip),
            cursor: Some("END".into()),
            filters: filters.to_vec(),
            json,
        };
        return read::cat(&client, &segments, &opts, &mut stdout()).map(|_| ());
    }
    let mut query: Vec<(&str, String)> = filters.iter().map(|f| ("filter", f.clone())).collect();
    let url = match target {
        Target::Selector(selector) => {
            query.push(("query", selector.clone()));
            client.url_of(&["k8s".into(), "v1".into(), "tail".into()], &query)
        }
        Target::App(_) => {
            query.push(("stream", "true".into()));
            query.push(("n", lines.to_string()));
            client.url_of(&target.read_path()?, &query)
        }
        _ => {
            // The read route answers a stream request with a redirect to
            // the tail component; the client follows it.
            query.push(("cursor", "END".into()));
            query.push(("skip", skip.to_string()));
            client.url_of(&target.read_path()?, &query)
        }
    };
    follow::follow(&client, &url, json, &mut stdout())
}

fn token(cli: &Cli, command: &TokenCommand, json: bool) -> CliResult<()> {
    let text = |s: String| writeln!(stdout(), "{s}").map_err(|e| CliError::local("output", e));
    match command {
        TokenCommand::Secret => {
            let s = credentials::random_hex(32)?;
            if json {
                print_json(&serde_json::json!({ "secret": s }))
            } else {
                text(s)
            }
        }
        TokenCommand::Jwt {
            uid,
            perms,
            ttl,
            secret,
        } => {
            let secret = secret.as_deref().ok_or_else(|| {
                CliError::Usage(format!(
                    "no secret: pass --secret or set {}",
                    credentials::SECRET_ENV
                ))
            })?;
            let t = credentials::jwt(secret, uid, perms, *ttl)?;
            if json {
                print_json(&serde_json::json!({ "token": t }))
            } else {
                text(t)
            }
        }
        TokenCommand::Apikey { uid, perms } => {
            let (key, entry) = credentials::api_key(uid, perms)?;
            if json {
                return print_json(&serde_json::json!({"key": key, "auth_api_keys": entry}));
            }
            text(format!(
                "key (give it to the client; it is not stored anywhere):\n{key}\n\n\
                 auth_api_keys (merge into the JSON array of the variable):\n{entry}"
            ))
        }
        TokenCommand::Digestkey { uid, perms } => {
            let (public, private, entry) = credentials::digest_key(uid, perms)?;
            if json {
                return print_json(&serde_json::json!({
                    "public": public, "private": private, "auth_digest_keys": entry
                }));
            }
            text(format!(
                "key pair (curl --user \"{public}:{private}\" --digest ...; the private key is not stored):\n\
                 {public}:{private}\n\n\
                 auth_digest_keys (merge into the JSON array of the variable):\n{entry}"
            ))
        }
        TokenCommand::Url { target, ttl } => {
            let mut body = match Target::parse(target)? {
                Target::Task { task, .. } => serde_json::json!({ "task": task }),
                Target::App(app) => serde_json::json!({ "app": app }),
                _ => return Err(CliError::Usage("a URL token reads a task or an app".into())),
            };
            if let Some(t) = ttl {
                body["ttl"] = serde_json::json!(t);
            }
            let client = client(cli)?;
            let url = client.url("/system/v1/logs/v2/tokens");
            let v = client.post_json(&url, &body)?;
            if json {
                print_json(&v)
            } else {
                text(v["token"].as_str().unwrap_or_default().to_owned())
            }
        }
    }
}
