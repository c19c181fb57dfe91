//! `smimed serve` and `smimed token`.

use std::process::ExitCode;
use std::sync::Arc;

use smimed_engine::{Actor, Engine, Role};

use crate::TokenCommand;

pub(crate) async fn serve(
    engine: Engine,
    config: smimed_server::Config,
) -> anyhow::Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SMIMED_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    // The very first start gets an admin token, shown once.
    if let Some(secret) = engine.first_admin_token().await? {
        println!("First start: created the admin token (shown only now, keep it safe):");
        println!("  {secret}");
        println!("Create more with `smimed token create --role admin|agent --name NAME`.");
    }
    smimed_server::serve(Arc::new(engine.with_queued_log()), config, |addr| {
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

pub(crate) async fn token(
    engine: &Engine,
    actor: &Actor,
    command: TokenCommand,
) -> anyhow::Result<ExitCode> {
    match command {
        TokenCommand::Create { role, name } => {
            let role =
                Role::parse(&role).ok_or_else(|| anyhow::anyhow!("role must be admin or agent"))?;
            let secret = engine.create_token(actor, &name, role).await?;
            println!("{secret}");
            eprintln!(
                "Token \"{name}\" ({}) created. It is shown only now.",
                role.as_str()
            );
        }
        TokenCommand::List => {
            for t in engine.tokens(actor).await? {
                println!(
                    "{}  {}  created {}",
                    t.name,
                    t.role.as_str(),
                    smime::rfc3339(t.created_at)
                );
            }
        }
        TokenCommand::Revoke { name } => {
            engine.revoke_token(actor, &name).await?;
            println!("Revoked token \"{name}\".");
        }
    }
    Ok(ExitCode::SUCCESS)
}
