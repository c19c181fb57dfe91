//! `smimed`: S/MIME for helpdesks. This binary is the CLI over the same
//! core the HTTP service uses; every command mirrors an API call.

#![forbid(unsafe_code)]

mod store_cmd;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// S/MIME for helpdesks: certificate and key store, signing, encryption,
/// decryption and verification.
#[derive(Parser)]
#[command(name = "smimed", version, about, long_about = None)]
struct Cli {
    /// Data directory: SQLite database and master key.
    #[arg(
        long,
        global = true,
        env = "SMIMED_DATA_DIR",
        default_value = "smimed-data"
    )]
    data_dir: PathBuf,
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
    /// Manage private keys.
    #[command(subcommand)]
    Key(KeyCommand),
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

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
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

async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    let location = smimed_store::Location {
        data_dir: cli.data_dir,
        database_url: cli.database_url,
        master_key_file: cli.master_key_file,
    };
    let store = smimed_store::Store::open_location(&location).await?;
    store_cmd::run(&store, cli.command).await
}
