//! `smimed`: S/MIME for helpdesks. This binary is the CLI over the same
//! core the HTTP service uses; every command mirrors an API call.

#![forbid(unsafe_code)]

mod mail_cmd;
mod serve_cmd;
mod store_cmd;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// S/MIME for helpdesks: certificate and key store, signing, encryption,
/// decryption and verification.
#[derive(Parser)]
#[command(name = "smimed", version, about, long_about = None)]
struct Cli {
    /// Optional TOML file with any of: data_dir, database_url,
    /// master_key_file, listen, max_message_mib, max_upload_mib. Flags and
    /// environment variables win over it.
    #[arg(long, global = true, env = "SMIMED_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory: SQLite database and master key [default: ./smimed-data].
    #[arg(long, global = true, env = "SMIMED_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Database URL (sqlite://PATH or postgres://...); default: SQLite in the data dir.
    #[arg(long, global = true, env = "SMIMED_DATABASE_URL")]
    database_url: Option<String>,
    /// Master key file (32 bytes) that seals private keys; default: DATA_DIR/master.key.
    #[arg(long, global = true, env = "SMIMED_MASTER_KEY_FILE")]
    master_key_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service (and the SMTP gateway, when configured).
    Serve {
        /// Address to listen on [default: 127.0.0.1:8080].
        #[arg(long, env = "SMIMED_LISTEN")]
        listen: Option<std::net::SocketAddr>,
        /// Largest message for /outgoing and /incoming, in MiB [default: 25].
        #[arg(long, env = "SMIMED_MAX_MESSAGE_MIB")]
        max_message_mib: Option<usize>,
        /// Largest certificate or key upload, in MiB [default: 5].
        #[arg(long, env = "SMIMED_MAX_UPLOAD_MIB")]
        max_upload_mib: Option<usize>,
        /// Connections served at once [default: 512].
        #[arg(long, env = "SMIMED_MAX_CONNECTIONS")]
        max_connections: Option<usize>,
        /// Messages (outgoing and incoming) processed at once; beyond, 503
        /// with Retry-After [default: 32].
        #[arg(long, env = "SMIMED_MAX_MESSAGES")]
        max_messages: Option<usize>,
        /// Seconds a client has to send a request's header [default: 10].
        #[arg(long, env = "SMIMED_HEADER_TIMEOUT_SECS")]
        header_timeout_secs: Option<u64>,
        /// Seconds a request body may stall [default: 30].
        #[arg(long, env = "SMIMED_BODY_TIMEOUT_SECS")]
        body_timeout_secs: Option<u64>,
        /// SMTP gateway: listen for mail the helpdesk sends (Postfix
        /// content_filter), e.g. 127.0.0.1:10025 [default: off].
        #[arg(long, env = "SMIMED_SMTP_OUTGOING")]
        smtp_outgoing: Option<std::net::SocketAddr>,
        /// SMTP gateway: listen for mail from the internet, e.g.
        /// 127.0.0.1:10027 [default: off].
        #[arg(long, env = "SMIMED_SMTP_INCOMING")]
        smtp_incoming: Option<std::net::SocketAddr>,
        /// SMTP gateway: where processed mail goes back into Postfix (an
        /// smtpd without content filter), e.g. 127.0.0.1:10026.
        #[arg(long, env = "SMIMED_SMTP_FORWARD")]
        smtp_forward: Option<std::net::SocketAddr>,
        /// SMTP gateway: its name in SMTP and the authserv-id of the
        /// Authentication-Results it writes [default: smimed.localhost].
        #[arg(long, env = "SMIMED_SMTP_HOSTNAME")]
        smtp_hostname: Option<String>,
        /// SMTP gateway: clients besides loopback that may hand it mail (a
        /// Postfix on another host), comma-separated IP addresses.
        #[arg(long, env = "SMIMED_SMTP_CLIENTS", value_delimiter = ',')]
        smtp_clients: Option<Vec<std::net::IpAddr>>,
        /// SMTP gateway: connections served at once per listener; beyond,
        /// 421 (Postfix then tries the next instance it lists) [default: 64].
        #[arg(long, env = "SMIMED_SMTP_MAX_CONNECTIONS")]
        smtp_max_connections: Option<usize>,
    },
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Switch S/MIME processing on.
    Enable,
    /// Switch S/MIME processing off (certificates can still be managed).
    Disable,
    /// Show whether S/MIME is on and what the store holds.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Manage certificates.
    #[command(subcommand)]
    Cert(CertCommand),
    /// Certificate revocation lists: import and list.
    #[command(subcommand)]
    Crl(CrlCommand),
    /// Manage private keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// The master key that seals private keys.
    #[command(subcommand)]
    MasterKey(MasterKeyCommand),
    /// Manage helpdesk groups (sending address, composer defaults).
    #[command(subcommand)]
    Group(GroupCommand),
    /// Show or change the encryption and verification settings.
    Settings {
        /// Content cipher for outgoing mail.
        #[arg(long, value_parser = ["aes-256-cbc", "aes-256-gcm"])]
        cipher: Option<String>,
        /// RSA-OAEP key transport for RSA recipients.
        #[arg(long, value_parser = parse_yes_no)]
        rsa_oaep: Option<bool>,
        /// Refuse SHA-1 signatures on incoming mail (weak_signature) instead
        /// of accepting them with a warning.
        #[arg(long, value_parser = parse_yes_no)]
        reject_sha1: Option<bool>,
        /// MiB of kept incoming messages (for retry); the oldest go first.
        #[arg(long)]
        keep_incoming_mib: Option<i64>,
        /// Days ahead that an own certificate's expiry is warned of (1-365).
        #[arg(long)]
        expiry_warning_days: Option<i64>,
        /// Keep signers' certificates from signed mail: as contacts when a
        /// stored CA vouches for them, else pending an admin's decision.
        #[arg(long, value_parser = parse_yes_no)]
        learn_certificates: Option<bool>,
        /// A signer whose revocation cannot be checked against a current
        /// CRL is not verified (instead of verified with a note).
        #[arg(long, value_parser = parse_yes_no)]
        require_crl: Option<bool>,
        /// Fetch the CRLs named in stored certificates over HTTP, in the
        /// background (`serve`).
        #[arg(long, value_parser = parse_yes_no)]
        crl_fetch: Option<bool>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// What the composer can do: sign? encrypt? preset?
    Options {
        #[command(flatten)]
        sender: SenderArgs,
        /// A To address (repeatable).
        #[arg(long = "to")]
        to: Vec<String>,
        /// A Cc address (repeatable).
        #[arg(long = "cc")]
        cc: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Sign and/or encrypt an outgoing RFC 5322 message.
    Outgoing {
        #[command(flatten)]
        sender: SenderArgs,
        /// Sign (fail if not possible).
        #[arg(long, overrides_with = "no_sign")]
        sign: bool,
        /// Do not sign.
        #[arg(long)]
        no_sign: bool,
        /// Encrypt (fail if not possible).
        #[arg(long, overrides_with = "no_encrypt")]
        encrypt: bool,
        /// Do not encrypt.
        #[arg(long)]
        no_encrypt: bool,
        /// Content cipher for this message (default: the setting).
        #[arg(long, value_parser = ["aes-256-cbc", "aes-256-gcm"])]
        cipher: Option<String>,
        /// RSA-OAEP for this message (default: the setting).
        #[arg(long, value_parser = parse_yes_no)]
        rsa_oaep: Option<bool>,
        /// Input message; default: standard input.
        #[arg(short = 'i', long)]
        input: Option<PathBuf>,
        /// Output message; default: standard output.
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
    },
    /// Decrypt and verify an incoming message.
    Incoming {
        /// Input message; default: standard input.
        #[arg(short = 'i', long, conflicts_with = "retry")]
        input: Option<PathBuf>,
        /// Process a kept message again instead (its id: the API's `id`, or
        /// the `X-Smimed-Incoming-Id` field of mail from the SMTP gateway),
        /// after a missing key or certificate was imported.
        #[arg(long, value_name = "ID")]
        retry: Option<String>,
        /// The readable message; default: standard output.
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
        /// Write the JSON report here (`-` for standard error).
        #[arg(long)]
        report: Option<PathBuf>,
    },
}

/// `--group NAME` or `--from ADDR`.
#[derive(clap::Args)]
#[group(required = true, multiple = false)]
struct SenderArgs {
    /// The sending group.
    #[arg(long)]
    group: Option<String>,
    /// The sending address: a group's (its defaults apply).
    #[arg(long)]
    from: Option<String>,
}

#[derive(Subcommand)]
enum MasterKeyCommand {
    /// Re-seal every private key under a new master key, in one
    /// transaction; the old key file is kept beside the new one as `.old`.
    /// Stop every other instance on the same database first.
    Rotate,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token; it is printed once and only its hash is stored.
    Create {
        /// `admin` or `agent`.
        #[arg(long, value_parser = ["admin", "agent"])]
        role: String,
        /// A unique name (shown in the logs).
        #[arg(long)]
        name: String,
    },
    /// List tokens (names and roles, never secrets).
    List,
    /// Revoke a token.
    Revoke {
        /// The token's name.
        name: String,
    },
}

#[derive(Subcommand)]
enum GroupCommand {
    /// Create or change a group; what is left out keeps its value (a new
    /// group needs --email; its defaults are on).
    Set {
        /// Group name.
        name: String,
        /// Sending address.
        #[arg(long)]
        email: Option<String>,
        /// Sign by default.
        #[arg(long, value_parser = parse_yes_no)]
        default_sign: Option<bool>,
        /// Encrypt by default.
        #[arg(long, value_parser = parse_yes_no)]
        default_encrypt: Option<bool>,
    },
    /// List groups.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a group.
    Delete {
        /// Group name.
        name: String,
    },
}

fn parse_yes_no(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" => Ok(true),
        "no" | "false" | "off" => Ok(false),
        _ => Err(format!("expected yes or no, not \"{s}\"")),
    }
}

#[derive(Subcommand)]
enum CrlCommand {
    /// Import CRLs (PEM or DER): each accepted only when a stored CA signed
    /// it, it is current, and it is newer than the stored one of that CA.
    Import {
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
        /// Files to import; `-` reads standard input.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List the stored CRLs, one per CA.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum CertCommand {
    /// Import certificates (PEM, DER, PKCS#7, PKCS#12); each file whole or not at all.
    Import {
        /// File holding the passphrase of PKCS#12 files or encrypted keys.
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
        /// Print the per-certificate report as JSON.
        #[arg(long)]
        json: bool,
        /// Files to import; `-` reads standard input.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List certificates with their key indicator and issues.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Export a certificate (PEM unless --der).
    Export {
        /// Fingerprint or a unique prefix of at least 8 characters.
        id: String,
        /// DER instead of PEM.
        #[arg(long)]
        der: bool,
        /// Output file; default: standard output.
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
    },
    /// Delete a certificate and its private key.
    Delete {
        /// Fingerprint or a unique prefix of at least 8 characters.
        id: String,
    },
    /// List the certificates from signed mail that wait for a decision
    /// (no stored CA vouches for them), with their fingerprints.
    Pending {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Accept a pending certificate as a contact (after comparing its
    /// fingerprint with the sender) and check the kept messages it signed
    /// again.
    Accept {
        /// The whole SHA-256 fingerprint (64 hex digits; colons and blanks
        /// allowed).
        fingerprint: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Reject a pending certificate: never used, not offered again.
    Reject {
        /// The whole SHA-256 fingerprint (64 hex digits).
        fingerprint: String,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Import private keys (PEM, DER, PKCS#12), matched to stored certificates.
    Import {
        /// File holding the passphrase of the keys or PKCS#12 file.
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Files to import; `-` reads standard input.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Export a private key as it was uploaded (protected stays protected).
    Export {
        /// Fingerprint (or unique prefix) of the key's certificate.
        id: String,
        /// Output file (created mode 0600); default: standard output.
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
    },
    /// Delete a private key; its certificate stays.
    Delete {
        /// Fingerprint (or unique prefix) of the key's certificate.
        id: String,
    },
}

/// Stack size of the runtime's threads.
const STACK_BYTES: usize = 8 << 20;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // `serve` answers many requests at once: one worker per core, so a
    // request that needs the CPU never holds the others (and /healthz);
    // other commands do one thing. Crypto work runs on the blocking pool:
    // 8 MiB stacks hold what OpenSSL recurses through on bounded input with
    // room to spare (the CMS element counts are checked before it parses).
    let mut builder = match cli.command {
        Command::Serve { .. } => tokio::runtime::Builder::new_multi_thread(),
        _ => tokio::runtime::Builder::new_current_thread(),
    };
    let runtime = match builder.enable_all().thread_stack_size(STACK_BYTES).build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The largest message, for `serve` (HTTP and SMTP) and the mail commands.
const DEFAULT_MAX_MESSAGE_MIB: usize = 25;

/// The `--config` file; every key is optional.
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    master_key_file: Option<PathBuf>,
    listen: Option<std::net::SocketAddr>,
    max_message_mib: Option<usize>,
    max_upload_mib: Option<usize>,
    max_connections: Option<usize>,
    max_messages: Option<usize>,
    header_timeout_secs: Option<u64>,
    body_timeout_secs: Option<u64>,
    smtp_outgoing: Option<std::net::SocketAddr>,
    smtp_incoming: Option<std::net::SocketAddr>,
    smtp_forward: Option<std::net::SocketAddr>,
    smtp_hostname: Option<String>,
    smtp_clients: Option<Vec<std::net::IpAddr>>,
    smtp_max_connections: Option<usize>,
}

fn read_config(path: Option<&std::path::Path>) -> anyhow::Result<FileConfig> {
    let Some(path) = path else {
        return Ok(FileConfig::default());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| anyhow::anyhow!("config file {}: {e}", path.display()))
}

async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    let file = read_config(cli.config.as_deref())?;
    let location = smimed_store::Location {
        data_dir: cli
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("smimed-data")),
        database_url: cli.database_url.or(file.database_url),
        master_key_file: cli.master_key_file.or(file.master_key_file),
    };
    let store = smimed_store::Store::open_location(&location).await?;
    let key_path = location
        .master_key_file
        .clone()
        .unwrap_or_else(|| location.data_dir.join("master.key"));
    let engine = smimed_engine::Engine::new(store, 256);
    let actor = smimed_engine::Actor::cli();
    match cli.command {
        Command::Serve {
            listen,
            max_message_mib,
            max_upload_mib,
            max_connections,
            max_messages,
            header_timeout_secs,
            body_timeout_secs,
            smtp_outgoing,
            smtp_incoming,
            smtp_forward,
            smtp_hostname,
            smtp_clients,
            smtp_max_connections,
        } => {
            let defaults = smimed_server::Config::default();
            let secs = std::time::Duration::from_secs;
            let messages = max_messages
                .or(file.max_messages)
                .unwrap_or(smimed_engine::DEFAULT_MAX_MESSAGES);
            serve_cmd::serve(
                engine.with_message_limit(messages),
                smimed_server::Config {
                    max_connections: max_connections
                        .or(file.max_connections)
                        .unwrap_or(defaults.max_connections),
                    header_timeout: header_timeout_secs
                        .or(file.header_timeout_secs)
                        .map_or(defaults.header_timeout, secs),
                    body_timeout: body_timeout_secs
                        .or(file.body_timeout_secs)
                        .map_or(defaults.body_timeout, secs),
                    listen: listen
                        .or(file.listen)
                        .unwrap_or(([127, 0, 0, 1], 8080).into()),
                    max_message_bytes: max_message_mib
                        .or(file.max_message_mib)
                        .unwrap_or(DEFAULT_MAX_MESSAGE_MIB)
                        << 20,
                    max_upload_bytes: max_upload_mib.or(file.max_upload_mib).unwrap_or(5) << 20,
                    smtp: smimed_server::GatewayConfig {
                        outgoing: smtp_outgoing.or(file.smtp_outgoing),
                        incoming: smtp_incoming.or(file.smtp_incoming),
                        forward: smtp_forward.or(file.smtp_forward),
                        hostname: smtp_hostname
                            .or(file.smtp_hostname)
                            .unwrap_or(defaults.smtp.hostname.clone()),
                        max_message_bytes: max_message_mib
                            .or(file.max_message_mib)
                            .unwrap_or(DEFAULT_MAX_MESSAGE_MIB)
                            << 20,
                        clients: smtp_clients.or(file.smtp_clients).unwrap_or_default(),
                        max_connections: smtp_max_connections
                            .or(file.smtp_max_connections)
                            .unwrap_or(defaults.smtp.max_connections),
                        ..defaults.smtp.clone()
                    },
                    ..Default::default()
                },
            )
            .await
        }
        Command::Token(cmd) => serve_cmd::token(&engine, &actor, cmd).await,
        Command::MasterKey(MasterKeyCommand::Rotate) => {
            let n = engine.rotate_master_key(&actor, &key_path).await?;
            println!(
                "Re-sealed {n} private key(s) under a new master key in {}; the old key is {}.old.",
                key_path.display(),
                key_path.display()
            );
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Group(_)
        | Command::Settings { .. }
        | Command::Options { .. }
        | Command::Outgoing { .. }
        | Command::Incoming { .. } => {
            // The service's limit: a message it would refuse is not read whole.
            let env = std::env::var("SMIMED_MAX_MESSAGE_MIB").ok();
            let mib = match env.as_deref().map(str::parse::<u64>) {
                Some(Ok(mib)) => mib,
                Some(Err(_)) => {
                    anyhow::bail!("SMIMED_MAX_MESSAGE_MIB is not a whole number of MiB")
                }
                None => file.max_message_mib.unwrap_or(DEFAULT_MAX_MESSAGE_MIB) as u64,
            };
            mail_cmd::run(&engine, &actor, cli.command, mib).await
        }
        other => store_cmd::run(&engine, &actor, other).await,
    }
}
