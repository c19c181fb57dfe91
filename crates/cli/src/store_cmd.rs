//! The store commands: switch, status, certificates and private keys.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use serde::Serialize;
use smimed_engine::{Actor, CertificateFilter, Engine, ImportKind, ImportReport, SettingsPatch};
use smimed_store::Outcome;
use zeroize::Zeroizing;

use crate::{CertCommand, Command, CrlCommand, KeyCommand};

/// Files with more certificates than this get a progress bar on a terminal.
const PROGRESS_THRESHOLD: usize = 200;

pub(crate) async fn run(
    engine: &Engine,
    actor: &Actor,
    command: Command,
) -> anyhow::Result<ExitCode> {
    match command {
        Command::Enable | Command::Disable => {
            let on = matches!(command, Command::Enable);
            let patch = SettingsPatch {
                enabled: Some(on),
                ..SettingsPatch::default()
            };
            engine.update_settings(actor, &patch).await?;
            if on {
                println!("S/MIME is enabled.");
            } else {
                println!("S/MIME is disabled. Certificates and keys stay stored.");
            }
        }
        Command::Status { json } => status(engine, actor, json).await?,
        Command::Cert(CertCommand::Import {
            passphrase_file,
            json,
            files,
        }) => {
            return import(
                engine,
                actor,
                &files,
                passphrase_file.as_deref(),
                json,
                ImportKind::Certificates,
            )
            .await;
        }
        Command::Cert(CertCommand::List { json }) => list(engine, actor, json).await?,
        Command::Cert(CertCommand::Export { id, der, output }) => {
            let file = engine.certificate_file(actor, &id, der).await?;
            write_output(output.as_deref(), &file.bytes, false)?;
        }
        Command::Cert(CertCommand::Delete { id }) => {
            let cert = engine.certificate(actor, &id).await?;
            let (fingerprint, had_key) = engine.delete_certificate(actor, &id).await?;
            println!(
                "Deleted certificate {fingerprint} ({}).",
                cert.certificate.info().subject
            );
            if had_key {
                println!("Its private key was deleted too.");
            }
        }
        Command::Crl(CrlCommand::Import { json, files }) => {
            // Each file on its own: one bad CRL does not hold up the rest,
            // and the exit status says whether all were taken.
            let mut failed = false;
            for file in &files {
                // A CRL is at most 10 MiB: a larger file is refused by its
                // size, unread; standard input once it passes the limit.
                let data = match read_limited(file, smime::crl::MAX_CRL_BYTES as u64, "") {
                    Ok(data) => data,
                    Err(e) => {
                        eprintln!("{e:#}");
                        failed = true;
                        continue;
                    }
                };
                match engine.import_crl(actor, data.to_vec(), "import").await {
                    Ok(done) if json => println!("{}", serde_json::to_string(&done)?),
                    Ok(done) => println!(
                        "{}: CRL of {} (thisUpdate {}, {} entries) stored{}; {} stored certificate(s) revoked",
                        file.display(),
                        done.issuer,
                        done.this_update,
                        done.entries,
                        if done.replaced {
                            ", replacing the older one"
                        } else {
                            ""
                        },
                        done.revoked.len()
                    ),
                    Err(e) => {
                        eprintln!("{}: {e}", file.display());
                        failed = true;
                    }
                }
            }
            if failed {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Crl(CrlCommand::List { json }) => {
            let crls = engine.crls(actor).await?;
            if json {
                println!("{}", serde_json::to_string(&crls)?);
            } else if crls.is_empty() {
                println!("No CRL is stored.");
            }
            if !json {
                for c in &crls {
                    let next = c
                        .next_update
                        .map(smime::rfc3339)
                        .unwrap_or_else(|| "-".into());
                    println!(
                        "{}  thisUpdate {}  nextUpdate {}  {} entries, {} stored certificate(s) revoked  from {}",
                        c.issuer,
                        smime::rfc3339(c.this_update),
                        next,
                        c.entries,
                        c.revoked_stored,
                        c.source
                    );
                }
            }
        }
        Command::Cert(CertCommand::Pending { json }) => pending(engine, actor, json).await?,
        Command::Cert(CertCommand::Accept { fingerprint, json }) => {
            let accepted = engine.accept_pending(actor, &fingerprint).await?;
            if json {
                println!("{}", serde_json::to_string(&accepted)?);
            } else {
                println!("Accepted {} as a contact.", accepted.fingerprint);
                for m in &accepted.retried {
                    println!(
                        "Checked again: message {}: {}",
                        m.id,
                        m.sign.unwrap_or("not signed")
                    );
                }
            }
        }
        Command::Cert(CertCommand::Reject { fingerprint }) => {
            let fp = engine.reject_pending(actor, &fingerprint).await?;
            println!("Rejected {fp}; it is not offered again.");
        }
        Command::Key(KeyCommand::Import {
            passphrase_file,
            json,
            files,
        }) => {
            return import(
                engine,
                actor,
                &files,
                passphrase_file.as_deref(),
                json,
                ImportKind::PrivateKeys,
            )
            .await;
        }
        Command::Key(KeyCommand::Export { id, output }) => {
            let key = engine.private_key_file(actor, &id).await?;
            write_output(output.as_deref(), &key.bytes, true)?;
            if key.protected {
                eprintln!("note: this key is protected by the passphrase it was uploaded with.");
            }
        }
        Command::Key(KeyCommand::Delete { id }) => {
            let fingerprint = engine.delete_private_key(actor, &id).await?;
            println!(
                "Deleted the private key of certificate {fingerprint}; the certificate stays."
            );
        }
        _ => bail!("internal error: command sent to the wrong handler"),
    }
    Ok(ExitCode::SUCCESS)
}

async fn status(engine: &Engine, actor: &Actor, json: bool) -> anyhow::Result<()> {
    let status = engine.status(actor).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(());
    }
    if status.enabled {
        println!("S/MIME: enabled");
    } else {
        println!("S/MIME: disabled (the default; switch it on with `smimed enable`)");
    }
    println!(
        "certificates: {} ({} CA)",
        status.certificates, status.ca_certificates
    );
    println!("private keys: {}", status.private_keys);
    println!(
        "certificates with issues: {}",
        status.certificates_with_issues
    );
    for e in &status.expiring {
        let when = if e.days_left < 0 {
            format!("EXPIRED {} day(s) ago", -e.days_left)
        } else {
            format!("expires in {} day(s)", e.days_left)
        };
        println!(
            "own certificate {} ({}, {}…): {when}",
            e.subject,
            e.emails.join(", "),
            &e.fingerprint[..16.min(e.fingerprint.len())]
        );
    }
    Ok(())
}

/// One file's line in the JSON report.
#[derive(Serialize)]
struct FileReport {
    file: String,
    stored: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    certificates: Vec<smimed_store::CertOutcome>,
    private_keys: Vec<smimed_store::KeyOutcome>,
}

async fn import(
    engine: &Engine,
    actor: &Actor,
    files: &[PathBuf],
    passphrase_file: Option<&Path>,
    json: bool,
    kind: ImportKind,
) -> anyhow::Result<ExitCode> {
    let passphrase = passphrase_file.map(read_passphrase).transpose()?;
    let mut reports = Vec::new();
    for file in files {
        let name = file.display().to_string();
        let report = match import_one(engine, actor, file, passphrase.clone(), kind).await {
            Ok(report) => FileReport {
                file: name,
                stored: report.stored,
                error: (!report.stored).then(|| "nothing from this file was stored".to_string()),
                certificates: report.certificates,
                private_keys: report.private_keys,
            },
            Err(e) => FileReport {
                file: name,
                stored: false,
                error: Some(format!("{e:#}; nothing from this file was stored")),
                certificates: Vec::new(),
                private_keys: Vec::new(),
            },
        };
        if !json {
            print_report(&report);
        }
        reports.push(report);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    }
    Ok(if reports.iter().all(|r| r.stored) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn import_one(
    engine: &Engine,
    actor: &Actor,
    file: &Path,
    passphrase: Option<Zeroizing<String>>,
    kind: ImportKind,
) -> anyhow::Result<ImportReport> {
    let bytes = read_input(file)?;
    // A progress bar for large files on a terminal; its length is known once
    // the file is parsed, at the first report.
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::hidden();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg} {bar:40} {pos} certificates")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message(file.display().to_string());
        bar
    });
    let progress = |done: usize| {
        if let Some(bar) = &bar {
            if done > PROGRESS_THRESHOLD && bar.is_hidden() {
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            }
            bar.set_position(done as u64);
        }
    };
    let report = engine
        .import(actor, bytes, passphrase, kind, &progress)
        .await
        .map_err(|e| match e {
            smimed_engine::Error::Unusable(_) if kind == ImportKind::Certificates => {
                anyhow::anyhow!(
                    "it holds no certificate (for a private key, use `smimed key import`)"
                )
            }
            smimed_engine::Error::Unusable(_) => anyhow::anyhow!(
                "it holds no private key (for certificates, use `smimed cert import`)"
            ),
            other => other.into(),
        })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(report)
}

fn print_report(report: &FileReport) {
    let verdict = if report.stored {
        "imported"
    } else {
        "REJECTED"
    };
    println!("{}: {verdict}", report.file);
    if let Some(error) = &report.error {
        println!("  {error}");
    }
    for c in &report.certificates {
        let emails = if c.email_addresses.is_empty() {
            String::new()
        } else {
            format!(" <{}>", c.email_addresses.join(", "))
        };
        println!(
            "  certificate {}  {}  {}{emails}",
            outcome_label(c.outcome),
            &c.fingerprint[..16],
            c.subject
        );
        if let Some(reason) = &c.reason {
            println!("      {reason}");
        }
        if !c.issues.is_empty() {
            println!("      issues: {}", c.issues.join(", "));
        }
    }
    for k in &report.private_keys {
        let owners: Vec<&str> = k.certificates.iter().map(|f| &f[..16]).collect();
        let protected = if k.protected {
            ", passphrase-protected"
        } else {
            ""
        };
        println!(
            "  private key {}  for {}{protected}",
            outcome_label(k.outcome),
            if owners.is_empty() {
                "-".to_string()
            } else {
                owners.join(", ")
            }
        );
        if let Some(reason) = &k.reason {
            println!("      {reason}");
        }
    }
}

fn outcome_label(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Imported => "imported       ",
        Outcome::AlreadyPresent => "already present",
        Outcome::Rejected => "REJECTED       ",
        Outcome::NotImported => "not imported   ",
        _ => "other          ",
    }
}

async fn list(engine: &Engine, actor: &Actor, json: bool) -> anyhow::Result<()> {
    let certs = engine
        .certificates(actor, &CertificateFilter::default(), 1, usize::MAX)
        .await?
        .items;
    if json {
        println!("{}", serde_json::to_string_pretty(&certs)?);
        return Ok(());
    }
    if certs.is_empty() {
        println!("No certificates stored. Add some with `smimed cert import FILE`.");
        return Ok(());
    }
    for stored in &certs {
        let info = &stored.info;
        let key = if stored.has_private_key {
            "  [PRIVATE KEY]"
        } else {
            ""
        };
        let kind = match info.kind {
            smime::Kind::Ca => "CA",
            smime::Kind::EndEntity => "end entity",
        };
        let emails = if info.email_addresses.is_empty() {
            "-".to_string()
        } else {
            info.email_addresses.join(", ")
        };
        let issues = if stored.issues.is_empty() {
            "none".to_string()
        } else {
            stored
                .issues
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        };
        println!("{}{key}", info.fingerprint);
        println!("  subject:     {}", info.subject);
        println!("  issuer:      {}", info.issuer);
        println!("  serial:      {}", info.serial);
        println!("  email:       {emails}");
        println!(
            "  valid:       {} .. {}",
            smime::rfc3339(info.not_before),
            smime::rfc3339(info.not_after)
        );
        println!(
            "  kind:        {kind}; usage: {}; key: {}",
            info.usage.as_str(),
            info.key_algorithm
        );
        println!(
            "  private key: {}",
            if stored.has_private_key { "yes" } else { "no" }
        );
        println!("  issues:      {issues}");
        println!();
    }
    Ok(())
}

/// The file's bytes; it may hold a private key, so they are zeroed when
/// dropped. (Standard input over 64 KiB grows by reallocation, and the
/// buffers it leaves behind are not zeroed; files are read at their size.)
fn read_input(file: &Path) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    read_limited(file, u64::MAX, "")
}

/// `file` (standard input for `-`), at most `limit` bytes: a regular file
/// larger than that is refused by its size before anything is read, a
/// stream as soon as it passes the limit. `hint` ends the refusal (which
/// setting sets the limit).
pub(crate) fn read_limited(
    file: &Path,
    limit: u64,
    hint: &str,
) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let stdin = file == Path::new("-");
    let name = match stdin {
        true => "standard input".to_string(),
        false => file.display().to_string(),
    };
    let too_large = |size: String, what: &str| {
        anyhow::anyhow!(
            "{name}: {size} bytes; at most {limit} bytes are accepted, so it was {what}{hint}"
        )
    };
    let mut bytes = Zeroizing::new(Vec::new());
    if stdin {
        std::io::stdin()
            .take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .context("cannot read standard input")?;
    } else {
        let f =
            std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
        let size = f.metadata().map(|m| m.len()).unwrap_or(0);
        if size > limit {
            return Err(too_large(size.to_string(), "not read"));
        }
        f.take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .with_context(|| format!("cannot read {}", file.display()))?;
    }
    if bytes.len() as u64 > limit {
        // A stream was read up to the limit, and what was read is dropped.
        return Err(too_large(format!("more than {limit}"), "refused"));
    }
    Ok(bytes)
}

/// The passphrase is the file's first line; it is never printed.
fn read_passphrase(file: &Path) -> anyhow::Result<Zeroizing<String>> {
    let bytes = Zeroizing::new(
        std::fs::read(file)
            .with_context(|| format!("cannot read passphrase file {}", file.display()))?,
    );
    let text = std::str::from_utf8(&bytes)
        .with_context(|| format!("passphrase file {} is not UTF-8", file.display()))?;
    Ok(Zeroizing::new(
        text.lines().next().unwrap_or_default().to_string(),
    ))
}

fn write_output(output: Option<&Path>, bytes: &[u8], secret: bool) -> anyhow::Result<()> {
    match output {
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes)?;
            out.flush()?;
        }
        Some(path) => {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            if secret {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let _ = secret;
            let mut file = options
                .open(path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            file.write_all(bytes)?;
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(())
}

/// `cert pending`: what waits, the fingerprint in groups of four as it is
/// read aloud.
async fn pending(engine: &Engine, actor: &Actor, json: bool) -> anyhow::Result<()> {
    let page = engine
        .pending_certificates(actor, 1, smimed_store::MAX_PENDING as usize)
        .await?;
    if json {
        println!("{}", serde_json::to_string(&page)?);
        return Ok(());
    }
    if page.items.is_empty() {
        println!("No certificate from signed mail waits for a decision.");
    }
    for p in &page.items {
        let groups = smimed_engine::fingerprint_groups(&p.fingerprint);
        println!("{}  from {}", p.subject, p.sender);
        println!("  issued by {}; valid until {}", p.issuer, p.not_after);
        println!("  {}", groups[..8].join(" "));
        println!("  {}", groups[8..].join(" "));
        println!(
            "  {} message(s) received, {} kept; accept: smimed cert accept {}",
            p.messages_seen, p.messages_kept, p.fingerprint
        );
    }
    Ok(())
}
