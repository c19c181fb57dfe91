//! Mail the helpdesk sends: the group is the From address, the group's
//! defaults apply, and an agent's choice rides in `X-Smimed-Sign` and
//! `X-Smimed-Encrypt` (yes|no), removed before the mail goes on. Fails
//! closed with 554 5.7.1, which Postfix bounces to the helpdesk.

use smimed_engine::{Actor, OutgoingRequest};

use super::{Context, Direction, Envelope, Reply, delivery_key, edit_header, engine_reply};

pub(crate) const SIGN_FIELD: &str = "X-Smimed-Sign";
pub(crate) const ENCRYPT_FIELD: &str = "X-Smimed-Encrypt";

pub(crate) async fn deliver(ctx: &Context, envelope: &Envelope, message: Vec<u8>) -> Reply {
    let key = delivery_key(Direction::Outgoing, envelope, &message);
    if let Some(reply) = super::forwarded_before(ctx, &key).await {
        return reply;
    }
    let (request, message) = match choices(&message) {
        Ok(request) => (request, strip_choices(&message)),
        Err(why) => return Reply::new(554, "5.6.0", why),
    };
    let actor = Actor::gateway("outgoing");
    let copies = match ctx
        .engine
        .relay_outgoing(&actor, message, &envelope.recipients, &request)
        .await
    {
        Ok(copies) => copies,
        Err(e) => {
            let reply = engine_reply(&e);
            tracing::info!(from = %envelope.from, code = reply.code, reason = %reply.text, "outgoing refused");
            return reply;
        }
    };
    let signed = copies.iter().all(|c| c.outgoing.signed);
    let encrypted = copies.iter().all(|c| c.outgoing.encrypted);
    let n = copies.len();
    let copies: Vec<(Vec<String>, Vec<u8>)> = copies
        .into_iter()
        .map(|c| (c.recipients, c.outgoing.message))
        .collect();
    if let Err(reply) = super::forward_copies(ctx, envelope, &key, &copies).await {
        tracing::warn!(from = %envelope.from, reason = %reply.text, "outgoing not forwarded");
        return reply;
    }
    let what = match (signed, encrypted) {
        (true, true) => "signed and encrypted",
        (true, false) => "signed",
        (false, true) => "encrypted",
        (false, false) => "unchanged",
    };
    Reply::new(
        250,
        "2.0.0",
        format!(
            "Ok: {n} {} forwarded, {what}",
            if n == 1 { "copy" } else { "copies" }
        ),
    )
}

/// The agent's choice from the header: each field at most once (or
/// repeated with the same value), `yes` or `no`.
fn choices(message: &[u8]) -> Result<OutgoingRequest, String> {
    let (header, _) = smime::mime::split_header_body(message);
    let mut request = OutgoingRequest::default();
    for field in smime::mime::fields(header) {
        let slot = if field.name.eq_ignore_ascii_case(SIGN_FIELD) {
            (&mut request.sign, SIGN_FIELD)
        } else if field.name.eq_ignore_ascii_case(ENCRYPT_FIELD) {
            (&mut request.encrypt, ENCRYPT_FIELD)
        } else {
            continue;
        };
        let value = field
            .raw
            .iter()
            .position(|&b| b == b':')
            .map(|p| {
                String::from_utf8_lossy(&field.raw[p + 1..])
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_default();
        let on = match value.as_str() {
            "yes" => true,
            "no" => false,
            _ => {
                return Err(format!(
                    "{}: \"{}\" is neither yes nor no",
                    slot.1,
                    value.chars().take(40).collect::<String>()
                ));
            }
        };
        match slot.0 {
            Some(before) if *before != on => {
                return Err(format!("{} is given twice, with yes and with no", slot.1));
            }
            _ => *slot.0 = Some(on),
        }
    }
    Ok(request)
}

fn strip_choices(message: &[u8]) -> Vec<u8> {
    edit_header(message, b"", |name, _| {
        name.eq_ignore_ascii_case(SIGN_FIELD) || name.eq_ignore_ascii_case(ENCRYPT_FIELD)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_are_yes_or_no_and_leave_with_the_header() {
        let m = b"From: a@x\r\nX-Smimed-Sign: YES\r\nx-smimed-encrypt: no\r\n\r\nX-Smimed-Sign: body\r\n";
        let r = choices(m).unwrap();
        assert_eq!((r.sign, r.encrypt), (Some(true), Some(false)));
        assert_eq!(
            strip_choices(m),
            b"From: a@x\r\n\r\nX-Smimed-Sign: body\r\n".to_vec()
        );
        let none = choices(b"From: a@x\r\n\r\nbody").unwrap();
        assert_eq!((none.sign, none.encrypt), (None, None));
        let err = choices(b"X-Smimed-Encrypt: maybe\r\n\r\n").unwrap_err();
        assert!(
            err.contains("X-Smimed-Encrypt") && err.contains("maybe"),
            "{err}"
        );
        let twice = choices(b"X-Smimed-Sign: yes\r\nX-Smimed-Sign: no\r\n\r\n").unwrap_err();
        assert!(twice.contains("twice"), "{twice}");
    }
}
