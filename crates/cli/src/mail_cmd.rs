//! The mail commands: groups, settings, the composer's options, outgoing
//! and incoming messages.

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use smime::encrypt::ContentCipher;
use smime::options::Choice;
use smimed_engine::{
    Engine, OutgoingRequest, SETTING_CIPHER, SETTING_REJECT_SHA1, SETTING_RSA_OAEP, Sender,
};
use smimed_store::Group;

use crate::{Command, GroupCommand, SenderArgs};

pub(crate) async fn run(engine: &Engine, command: Command) -> anyhow::Result<ExitCode> {
    let store = engine.store();
    match command {
        Command::Group(GroupCommand::Set {
            name,
            email,
            default_sign,
            default_encrypt,
        }) => {
            let old = store.group(&name).await.ok();
            let group = Group {
                email,
                default_sign: default_sign.or(old.as_ref().and_then(|g| g.default_sign)),
                default_encrypt: default_encrypt.or(old.as_ref().and_then(|g| g.default_encrypt)),
                name,
            };
            if !group.email.contains('@') {
                anyhow::bail!("\"{}\" is not an email address", group.email);
            }
            store.set_group(&group).await?;
            println!(
                "Group {}: {}; sign by default: {}; encrypt by default: {}",
                group.name,
                group.email.to_ascii_lowercase(),
                on_off(group.default_sign),
                on_off(group.default_encrypt)
            );
        }
        Command::Group(GroupCommand::List { json }) => {
            let groups = store.groups().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&groups)?);
            } else if groups.is_empty() {
                println!("No groups. Add one with `smimed group set NAME --email ADDR`.");
            } else {
                for g in groups {
                    println!(
                        "{}  <{}>  sign: {}  encrypt: {}",
                        g.name,
                        g.email,
                        on_off(g.default_sign),
                        on_off(g.default_encrypt)
                    );
                }
            }
        }
        Command::Group(GroupCommand::Delete { name }) => {
            store.delete_group(&name).await?;
            println!("Deleted group {name}.");
        }
        Command::Settings {
            cipher,
            rsa_oaep,
            reject_sha1,
            json,
        } => {
            // Both or neither, even if the process dies halfway.
            let mut changes = Vec::new();
            if let Some(cipher) = &cipher {
                changes.push((SETTING_CIPHER, cipher.as_str()));
            }
            if let Some(on) = rsa_oaep {
                changes.push((SETTING_RSA_OAEP, if on { "true" } else { "false" }));
            }
            if let Some(on) = reject_sha1 {
                changes.push((SETTING_REJECT_SHA1, if on { "true" } else { "false" }));
            }
            if !changes.is_empty() {
                store.set_settings(&changes).await?;
            }
            let settings = store.settings().await?;
            let encryption = smimed_engine::encryption_settings(&settings);
            let (cipher, oaep) = (encryption.cipher, encryption.rsa_oaep);
            let enabled = smimed_store::enabled_in(&settings);
            let sha1 = smimed_engine::policy(&settings, 0).reject_sha1;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"enabled": enabled, "cipher": cipher.as_str(), "rsa_oaep": oaep, "reject_sha1": sha1})
                );
            } else {
                let yes = |on| if on { "yes" } else { "no" };
                println!("enabled: {}", yes(enabled));
                println!("cipher:  {}", cipher.as_str());
                println!("rsa-oaep: {}", yes(oaep));
                println!("reject-sha1: {}", yes(sha1));
            }
        }
        Command::Options {
            sender,
            to,
            cc,
            json,
        } => {
            let recipients: Vec<String> = to.into_iter().chain(cc).collect();
            let options = engine
                .security_options(&sender_of(sender), &recipients)
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&options)?);
            } else {
                print_choice("sign", &options.sign);
                print_choice("encryption", &options.encryption);
            }
        }
        Command::Outgoing {
            sender,
            sign,
            no_sign,
            encrypt,
            no_encrypt,
            cipher,
            rsa_oaep,
            input,
            output,
        } => {
            let raw = read_input(input.as_deref())?;
            let request = OutgoingRequest {
                sign: flag(sign, no_sign),
                encrypt: flag(encrypt, no_encrypt),
                cipher: cipher.as_deref().and_then(ContentCipher::parse),
                rsa_oaep,
            };
            let out = engine.outgoing(&raw, &sender_of(sender), &request).await?;
            for note in &out.notes {
                eprintln!("note: {note}");
            }
            write_output(output.as_deref(), &out.message)?;
        }
        Command::Incoming {
            input,
            output,
            report,
        } => {
            let raw = read_input(input.as_deref())?;
            let processed = engine.incoming(&raw).await?;
            let json = serde_json::to_string_pretty(&processed.report)?;
            match report.as_deref() {
                Some(path) if path == Path::new("-") => eprintln!("{json}"),
                Some(path) => std::fs::write(path, format!("{json}\n"))
                    .with_context(|| format!("cannot write {}", path.display()))?,
                None => {}
            }
            write_output(output.as_deref(), &processed.message)?;
        }
        _ => anyhow::bail!("internal error: command sent to the wrong handler"),
    }
    Ok(ExitCode::SUCCESS)
}

fn sender_of(args: SenderArgs) -> Sender {
    match (args.group, args.from) {
        (Some(group), _) => Sender::Group(group),
        (None, Some(from)) => Sender::Address(from),
        // clap requires one of the two.
        (None, None) => Sender::Address(String::new()),
    }
}

/// `--x` / `--no-x` / neither.
fn flag(yes: bool, no: bool) -> Option<bool> {
    match (yes, no) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}

fn on_off(default: Option<bool>) -> &'static str {
    match default {
        Some(false) => "no",
        Some(true) => "yes",
        None => "yes (default)",
    }
}

fn print_choice(name: &str, choice: &Choice) {
    let state = match (choice.possible, choice.default) {
        (true, true) => "possible, preset on",
        (true, false) => "possible, preset off",
        _ => "not possible",
    };
    println!("{name}: {state} ({})", choice.message);
}

fn read_input(path: Option<&Path>) -> anyhow::Result<Vec<u8>> {
    match path {
        None => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .context("cannot read standard input")?;
            Ok(bytes)
        }
        Some(p) if p == Path::new("-") => read_input(None),
        Some(p) => std::fs::read(p).with_context(|| format!("cannot read {}", p.display())),
    }
}

/// Writes only after everything succeeded, so a failure leaves no output.
fn write_output(path: Option<&Path>, bytes: &[u8]) -> anyhow::Result<()> {
    match path {
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes)?;
            out.flush()?;
        }
        Some(p) if p == Path::new("-") => write_output(None, bytes)?,
        Some(p) => {
            std::fs::write(p, bytes).with_context(|| format!("cannot write {}", p.display()))?
        }
    }
    Ok(())
}
