//! Mail from the internet: decrypted and verified by the same core call as
//! `POST /incoming` (kept for retry, logged), then handed on readable with
//! an `Authentication-Results` field in the S/MIME form of RFC 7281. Mail
//! is never dropped because S/MIME failed: what cannot be read goes on as
//! received, the failure in that field. Fields claiming smimed's own
//! authserv-id are removed first, so a sender cannot forge a pass.

use smime::incoming::Report;
use smime::verify::{SignCode, SignResult};
use smimed_engine::Actor;

use super::{Context, Direction, Envelope, Reply, delivery_key, edit_header, engine_reply};

/// The field that names the kept message, for a retry after a late import.
pub(crate) const KEPT_FIELD: &str = "X-Smimed-Incoming-Id";

pub(crate) async fn deliver(ctx: &Context, envelope: &Envelope, message: Vec<u8>) -> Reply {
    let key = delivery_key(Direction::Incoming, envelope, &message);
    if let Some(reply) = super::forwarded_before(ctx, &key).await {
        return reply;
    }
    let actor = Actor::gateway("incoming");
    let id = &ctx.hostname;
    let (readable, summary) = match ctx.engine.incoming(&actor, message.clone()).await {
        Ok(received) => {
            let report = &received.processed.report;
            let first = format!(
                "{}{KEPT_FIELD}: {}\r\n",
                authentication_results(id, report),
                received.id
            );
            let summary = smime_result(report).0;
            (
                with_fields(&received.processed.message, id, first.as_bytes()),
                summary,
            )
        }
        Err(e) if super::is_transient(&e) => return engine_reply(&e),
        Err(e) => {
            let field = format!(
                "Authentication-Results: {id};\r\n\tsmime=permerror ({})\r\n",
                comment(&e.to_string())
            );
            (with_fields(&message, id, field.as_bytes()), "permerror")
        }
    };
    let copies = [(envelope.recipients.clone(), readable)];
    if let Err(reply) = super::forward_copies(ctx, envelope, &key, &copies).await {
        tracing::warn!(from = %envelope.from, reason = %reply.text, "incoming not forwarded");
        return reply;
    }
    Reply::new(250, "2.0.0", format!("Ok: forwarded, smime={summary}"))
}

/// `message` with `first` in front, without any forged result of ours.
fn with_fields(message: &[u8], authserv_id: &str, first: &[u8]) -> Vec<u8> {
    edit_header(message, first, |name, value| {
        name.eq_ignore_ascii_case(KEPT_FIELD)
            || (name.eq_ignore_ascii_case("Authentication-Results") && claims(value, authserv_id))
    })
}

/// Whether an `Authentication-Results` value names `authserv_id` (RFC 8601
/// §2.2: the first token, before an optional version and the `;`).
fn claims(value: &[u8], authserv_id: &str) -> bool {
    let text = String::from_utf8_lossy(value);
    let text = text.trim_start();
    let id = text
        .split(|c: char| c == ';' || c.is_whitespace())
        .next()
        .unwrap_or("");
    id.eq_ignore_ascii_case(authserv_id)
}

/// The `smime` result of RFC 7281 and a comment in words, including what
/// became of the encryption.
fn smime_result(report: &Report) -> (&'static str, String) {
    let decryption = report.encryption.as_ref().map(|d| {
        if d.success {
            "decrypted".to_string()
        } else {
            format!("not decrypted: {}: {}", d.code.as_str(), d.comment)
        }
    });
    if let Some(d) = &report.encryption
        && !d.success
    {
        return ("permerror", decryption.unwrap_or_default());
    }
    let mut words: Vec<String> = decryption.into_iter().collect();
    let result = match &report.sign {
        None => {
            words.push(
                if report.kind.is_some() {
                    "not signed"
                } else {
                    "no S/MIME"
                }
                .into(),
            );
            "none"
        }
        Some(sign) => {
            words.push(format!("{}: {}", sign.code.as_str(), sign.comment));
            sign_result(sign)
        }
    };
    if !report.header_mismatch.is_empty() {
        words.push(format!(
            "header fields differ inside the signature: {}",
            report.header_mismatch.join(", ")
        ));
    }
    (result, words.join("; "))
}

/// RFC 7281 §3: pass; fail (the signature does not hold, or its signer is
/// not the sender); policy (valid, but not acceptable here: untrusted,
/// expired or weak); neutral (cannot be evaluated).
fn sign_result(sign: &SignResult) -> &'static str {
    match sign.code {
        SignCode::Verified => "pass",
        SignCode::BadSignature | SignCode::SignerNotSender => "fail",
        SignCode::UnknownSigner | SignCode::ExpiredSigner | SignCode::WeakSignature => "policy",
        _ => "neutral",
    }
}

/// The `Authentication-Results` field for a report, folded, CRLF-ended.
pub(crate) fn authentication_results(authserv_id: &str, report: &Report) -> String {
    let (result, words) = smime_result(report);
    let mut field = format!("Authentication-Results: {authserv_id};\r\n\tsmime={result}");
    if !words.is_empty() {
        field.push_str(&format!(" ({})", comment(&words)));
    }
    if let Some(signer) = report.sign.as_ref().and_then(|s| s.signer.as_ref()) {
        if let Some(address) = signer.email_addresses.first() {
            field.push_str(&format!("\r\n\tbody.smime-identifier={}", value(address)));
        }
        field.push_str(&format!(
            "\r\n\tbody.smime-serial={}",
            value(&signer.serial)
        ));
        field.push_str(&format!(
            "\r\n\tbody.smime-issuer={}",
            value(&signer.issuer)
        ));
    }
    field.push_str("\r\n");
    field
}

/// Text fit for a comment: no parentheses, backslashes or control
/// characters, at most 300 characters.
fn comment(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '(' | ')' | '\\' => ' ',
            c if c.is_control() => ' ',
            c => c,
        })
        .take(300)
        .collect()
}

/// A property value: as is when it is a plain token or address, else a
/// quoted-string.
fn value(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "@.-_+!#$%&'*/=?^`{|}~".contains(c));
    if plain {
        text.to_string()
    } else {
        let inner: String = text
            .chars()
            .filter(|c| !c.is_control())
            .flat_map(|c| match c {
                '"' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        format!("\"{inner}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_own_results_are_removed() {
        let m = b"Authentication-Results: smimed.example; smime=pass\r\n\
Authentication-Results: SMIMED.example (forged); smime=pass\r\n\
Authentication-Results: mx.other.example; spf=pass\r\n\
X-Smimed-Incoming-Id: 7\r\nSubject: s\r\n\r\nbody";
        let out = with_fields(
            m,
            "smimed.example",
            b"Authentication-Results: smimed.example; smime=none\r\n",
        );
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "Authentication-Results: smimed.example; smime=none\r\n\
Authentication-Results: mx.other.example; spf=pass\r\nSubject: s\r\n\r\nbody"
        );
    }

    #[test]
    fn values_are_quoted_when_they_must_be() {
        assert_eq!(value("alice@example.org"), "alice@example.org");
        assert_eq!(value("0a1b"), "0a1b");
        assert_eq!(value("C=DE, O=\"X\", CN=Y"), "\"C=DE, O=\\\"X\\\", CN=Y\"");
        assert_eq!(comment("a (b) \\ c\r\n"), "a  b    c  ");
    }
}
