//! The mail commands: groups, settings, the composer's options, outgoing
//! and incoming messages.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use smime::encrypt::ContentCipher;
use smime::options::Choice;
use smimed_engine::{Actor, Engine, GroupPatch, OutgoingRequest, Sender, SettingsPatch};

use crate::store_cmd::read_limited;
use crate::{Command, GroupCommand, SenderArgs};

pub(crate) async fn run(
    engine: &Engine,
    actor: &Actor,
    command: Command,
    max_message_mib: u64,
) -> anyhow::Result<ExitCode> {
    match command {
        Command::Group(GroupCommand::Set {
            name,
            email,
            default_sign,
            default_encrypt,
        }) => {
            let patch = GroupPatch {
                email,
                default_sign,
                default_encrypt,
            };
            let group = engine.put_group(actor, &name, &patch).await?;
            println!(
                "Group {}: {}; sign by default: {}; encrypt by default: {}",
                group.name,
                group.email,
                on_off(group.default_sign),
                on_off(group.default_encrypt)
            );
        }
        Command::Group(GroupCommand::List { json }) => {
            let groups = engine.groups(actor).await?;
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
            engine.delete_group(actor, &name).await?;
            println!("Deleted group {name}.");
        }
        Command::Settings {
            cipher,
            rsa_oaep,
            reject_sha1,
            keep_incoming_mib,
            expiry_warning_days,
            learn_certificates,
            require_crl,
            crl_fetch,
            json,
        } => {
            // All of it or nothing, with its audit entry.
            let patch = SettingsPatch {
                cipher,
                rsa_oaep,
                reject_sha1,
                keep_incoming_mib,
                expiry_warning_days,
                learn_certificates,
                require_crl,
                crl_fetch,
                ..SettingsPatch::default()
            };
            let settings = if patch.cipher.is_some()
                || patch.rsa_oaep.is_some()
                || patch.reject_sha1.is_some()
                || patch.keep_incoming_mib.is_some()
                || patch.expiry_warning_days.is_some()
                || patch.learn_certificates.is_some()
                || patch.require_crl.is_some()
                || patch.crl_fetch.is_some()
            {
                engine.update_settings(actor, &patch).await?
            } else {
                engine.settings(actor).await?
            };
            if json {
                println!("{}", serde_json::to_string(&settings)?);
            } else {
                let yes = |on| if on { "yes" } else { "no" };
                println!("enabled: {}", yes(settings.enabled));
                println!("cipher:  {}", settings.cipher);
                println!("rsa-oaep: {}", yes(settings.rsa_oaep));
                println!("reject-sha1: {}", yes(settings.reject_sha1));
                println!("keep-incoming-mib: {}", settings.keep_incoming_mib);
                println!("expiry-warning-days: {}", settings.expiry_warning_days);
                println!("learn-certificates: {}", yes(settings.learn_certificates));
                println!("require-crl: {}", yes(settings.require_crl));
                println!("crl-fetch: {}", yes(settings.crl_fetch));
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
                .security_options(actor, &sender_of(sender), &recipients)
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
            let raw = read_input(input.as_deref(), max_message_mib)?;
            let request = OutgoingRequest {
                sign: flag(sign, no_sign),
                encrypt: flag(encrypt, no_encrypt),
                cipher: cipher.as_deref().and_then(ContentCipher::parse),
                rsa_oaep,
                recipients: None,
            };
            let out = engine
                .outgoing(actor, raw, &sender_of(sender), &request)
                .await?;
            for note in &out.notes {
                eprintln!("note: {note}");
            }
            write_output(output.as_deref(), &out.message)?;
        }
        Command::Incoming {
            input,
            retry,
            output,
            report,
        } => {
            let received = match retry {
                Some(id) => engine.retry(actor, &id).await?,
                None => {
                    engine
                        .incoming(actor, read_input(input.as_deref(), max_message_mib)?)
                        .await?
                }
            };
            let processed = received.processed;
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

/// The message from `path` or standard input, refused (unread, or cut at
/// the limit for a stream) when larger than `max_message_mib`.
fn read_input(path: Option<&Path>, max_message_mib: u64) -> anyhow::Result<Vec<u8>> {
    let limit = max_message_mib.saturating_mul(1 << 20);
    let hint = format!(
        " (max_message_mib = {max_message_mib}: the config file's key, or SMIMED_MAX_MESSAGE_MIB)"
    );
    let mut bytes = read_limited(path.unwrap_or(Path::new("-")), limit, &hint)?;
    Ok(std::mem::take(&mut *bytes))
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
