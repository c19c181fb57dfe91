//! `smimed serve` and `smimed token`.

use std::process::ExitCode;
use std::sync::Arc;

use smimed_store::{Role, Store};

use crate::TokenCommand;

pub(crate) async fn serve(store: Store, config: smimed_server::Config) -> anyhow::Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SMIMED_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    // The very first start gets an admin token, shown once.
    // Another instance starting at the same moment may win the race; then
    // its token stands.
    if store.tokens().await?.is_empty() {
        match store.create_token("admin", Role::Admin).await {
            Ok(secret) => {
                println!("First start: created the admin token (shown only now, keep it safe):");
                println!("  {secret}");
                println!("Create more with `smimed token create --role admin|agent --name NAME`.");
            }
            Err(smimed_store::Error::TokenExists(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let engine = Arc::new(smimed_engine::Engine::new(store, 256));
    smimed_server::serve(engine, config, |addr| {
        // Not println!: a closed standard output must not stop the service.
        use std::io::Write;
        let mut out = std::io::stdout();
        let _ = writeln!(
            out,
            "smimed is serving http://{addr}/ (stop with Ctrl-C or SIGTERM)"
        );
        let _ = out.flush();
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn token(store: &Store, command: TokenCommand) -> anyhow::Result<ExitCode> {
    match command {
        TokenCommand::Create { role, name } => {
            let role =
                Role::parse(&role).ok_or_else(|| anyhow::anyhow!("role must be admin or agent"))?;
            let secret = store.create_token(&name, role).await?;
            store
                .audit("cli", "token.create", &name, role.as_str())
                .await?;
            println!("{secret}");
            eprintln!(
                "Token \"{name}\" ({}) created. It is shown only now.",
                role.as_str()
            );
        }
        TokenCommand::List => {
            for t in store.tokens().await? {
                println!(
                    "{}  {}  created {}",
                    t.name,
                    t.role.as_str(),
                    smime::rfc3339(t.created_at)
                );
            }
        }
        TokenCommand::Revoke { name } => {
            store.revoke_token(&name).await?;
            store.audit("cli", "token.revoke", &name, "").await?;
            println!("Revoked token \"{name}\".");
        }
    }
    Ok(ExitCode::SUCCESS)
}
