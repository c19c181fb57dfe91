//! The SMTP gateway: smimed as a Postfix after-queue content filter, as
//! amavisd and CipherMail are (docs/gateway.md). Postfix keeps the queue;
//! smimed keeps none. A delivery is answered 250 only after the forward
//! server (Postfix's reinjection `smtpd`) accepted every processed copy;
//! 4xx when it cannot finish, so Postfix keeps the mail and retries; 554
//! when a protection asked for is impossible, so Postfix bounces it to the
//! sender. Requests are parsed by `smtp-proto`; the work is the same core
//! calls as the API's, under the actors `smtp:outgoing` and
//! `smtp:incoming`.

mod forward;
mod incoming;
mod outgoing;
mod session;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use smimed_engine::{Engine, Error};
use tokio::net::TcpListener;
use tokio::sync::watch;

pub(crate) use forward::{Forward, MailOptions};

/// The gateway's settings (flags, environment, TOML file).
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Listener for mail the helpdesk sends (Postfix `content_filter`).
    pub outgoing: Option<SocketAddr>,
    /// Listener for mail from the internet to the helpdesk.
    pub incoming: Option<SocketAddr>,
    /// Where processed mail goes back into Postfix (an `smtpd` without a
    /// content filter).
    pub forward: Option<SocketAddr>,
    /// The name smimed gives itself in SMTP, and the authserv-id of the
    /// `Authentication-Results` fields it writes (and removes when a
    /// sender forges them).
    pub hostname: String,
    /// Largest message accepted (SIZE), bytes.
    pub max_message_bytes: usize,
    /// How long a command, a piece of data or a forward may take.
    pub timeout: Duration,
    /// SMTP connections served at once, per listener; beyond, 421.
    pub max_connections: usize,
    /// Clients besides loopback that may hand mail to the listeners (a
    /// Postfix on another host). Anyone else could use the reinjection,
    /// which trusts smimed, as an open relay.
    pub clients: Vec<std::net::IpAddr>,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            outgoing: None,
            incoming: None,
            forward: None,
            hostname: "smimed.localhost".into(),
            max_message_bytes: 25 * 1024 * 1024,
            timeout: Duration::from_secs(300),
            max_connections: 64,
            clients: Vec::new(),
        }
    }
}

/// Which listener a connection came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Outgoing,
    Incoming,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Direction::Outgoing => "outgoing",
            Direction::Incoming => "incoming",
        }
    }
}

/// What every session shares.
pub(crate) struct Context {
    pub engine: Arc<Engine>,
    pub forward: Forward,
    pub hostname: String,
    pub max_message_bytes: usize,
    pub timeout: Duration,
    pub clients: Vec<std::net::IpAddr>,
}

/// Whether `peer` may hand mail to the gateway: loopback, or one of
/// `clients`.
fn admits(clients: &[std::net::IpAddr], peer: std::net::IpAddr) -> bool {
    let peer = match peer {
        std::net::IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(std::net::IpAddr::V6(v6), std::net::IpAddr::V4),
        v4 => v4,
    };
    peer.is_loopback() || clients.contains(&peer)
}

/// The envelope of one SMTP transaction.
#[derive(Debug, Clone, Default)]
pub(crate) struct Envelope {
    pub from: String,
    pub recipients: Vec<String>,
    pub options: MailOptions,
    /// Postfix's queue ID of the original, from XFORWARD IDENT.
    pub ident: Option<String>,
    /// The XFORWARD attributes received (the original client), passed on
    /// to a forward server that offers XFORWARD.
    pub xforward: Vec<String>,
}

/// One SMTP reply line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    pub code: u16,
    pub status: &'static str,
    pub text: String,
}

impl Reply {
    pub(crate) fn new(code: u16, status: &'static str, text: impl Into<String>) -> Reply {
        Reply {
            code,
            status,
            text: text.into(),
        }
    }

    /// The reply as sent: one line, no control characters, at most 400
    /// characters of text (SMTP replies are short; the reason goes to
    /// Postfix's log and the bounce).
    pub(crate) fn line(&self) -> Vec<u8> {
        let mut text: String = self
            .text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        if text.len() > 400 {
            let mut cut = 400;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push_str("...");
        }
        format!("{} {} {}\r\n", self.code, self.status, text).into_bytes()
    }
}

/// The answer to a failure of the core: 4xx when trying again later can
/// work (busy, store down), 554 5.7.1 when a protection asked for is
/// impossible, 554 5.6.0 when the message itself cannot be processed.
pub(crate) fn engine_reply(e: &Error) -> Reply {
    match e {
        Error::NotPossible { message, .. } => Reply::new(554, "5.7.1", message.clone()),
        Error::Disabled => Reply::new(554, "5.7.1", e.to_string()),
        Error::Busy(_) => Reply::new(451, "4.3.2", e.to_string()),
        Error::NotAMessage
        | Error::InvalidAddress(_)
        | Error::Invalid(_)
        | Error::Unusable(_)
        | Error::TooLarge(_)
        | Error::Smime(_) => Reply::new(554, "5.6.0", e.to_string()),
        _ => Reply::new(451, "4.3.0", format!("temporary failure, try again: {e}")),
    }
}

/// Whether trying again later can change the outcome.
pub(crate) fn is_transient(e: &Error) -> bool {
    engine_reply(e).code / 100 == 4
}

/// The key under which a delivery is remembered once forwarded: SHA-256 of
/// the listener, the envelope, Postfix's queue ID and the message. A retry
/// of the same queue file by Postfix delivers the very same bytes.
pub(crate) fn delivery_key(direction: Direction, envelope: &Envelope, message: &[u8]) -> String {
    let mut h = openssl::sha::Sha256::new();
    for part in [
        direction.as_str(),
        &envelope.from,
        envelope.ident.as_deref().unwrap_or(""),
    ] {
        h.update(part.as_bytes());
        h.update(b"\0");
    }
    for r in &envelope.recipients {
        h.update(r.as_bytes());
        h.update(b"\0");
    }
    h.update(message);
    h.finish().iter().map(|b| format!("{b:02x}")).collect()
}

/// The answer to a delivery forwarded already (250, nothing sent again),
/// or to a store that cannot say (4xx); `None`: go on.
pub(crate) async fn forwarded_before(ctx: &Context, key: &str) -> Option<Reply> {
    match ctx.engine.was_relayed(key).await {
        Ok(true) => Some(Reply::new(250, "2.0.0", "Ok: forwarded already")),
        Ok(false) => None,
        Err(e) => Some(engine_reply(&e)),
    }
}

/// Forwards `copies` (recipients, message) in order, each remembered once
/// accepted (by `key` alone for one copy, `key:N` for several), and the
/// delivery as a whole under `key`. A copy remembered already (a retry
/// after a crash between two copies) is not sent again.
pub(crate) async fn forward_copies(
    ctx: &Context,
    envelope: &Envelope,
    key: &str,
    copies: &[(Vec<String>, Vec<u8>)],
) -> Result<(), Reply> {
    let several = copies.len() > 1;
    for (n, (recipients, message)) in copies.iter().enumerate() {
        let copy_key = format!("{key}:{n}");
        if several {
            match ctx.engine.was_relayed(&copy_key).await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => return Err(engine_reply(&e)),
            }
        }
        let options = MailOptions {
            eight_bit: envelope.options.eight_bit || !message.is_ascii(),
            ..envelope.options
        };
        let delivery = forward::Delivery {
            from: &envelope.from,
            recipients,
            options,
            xforward: &envelope.xforward,
            message,
        };
        ctx.forward
            .send(&delivery)
            .await
            .map_err(|refused| Reply::new(451, "4.4.2", refused.0))?;
        if several {
            ctx.engine
                .mark_relayed(&copy_key)
                .await
                .map_err(|e| engine_reply(&e))?;
        }
    }
    // Forwarded, and forgetting that now would only cost a duplicate on a
    // retry: the answer is 250 either way.
    if let Err(e) = ctx.engine.mark_relayed(key).await {
        tracing::warn!(error = %e, "a forwarded delivery could not be remembered");
    }
    Ok(())
}

/// `raw` with the header fields `drop` picks removed and `first` put in
/// front; the rest byte for byte as it was.
pub(crate) fn edit_header(raw: &[u8], first: &[u8], drop: impl Fn(&str, &[u8]) -> bool) -> Vec<u8> {
    let (header, _) = smime::mime::split_header_body(raw);
    let mut out = Vec::with_capacity(raw.len() + first.len());
    out.extend_from_slice(first);
    for field in smime::mime::fields(header) {
        let value = field
            .raw
            .iter()
            .position(|&b| b == b':')
            .map_or(&[][..], |p| &field.raw[p + 1..]);
        if !drop(field.name, value) {
            out.extend_from_slice(field.raw);
        }
    }
    out.extend_from_slice(&raw[header.len()..]);
    out
}

/// Starts the configured listeners; each runs until `stop` turns true,
/// then finishes the transactions in flight. The returned tasks end when
/// every session has.
pub async fn start(
    engine: Arc<Engine>,
    config: &GatewayConfig,
    stop: watch::Receiver<bool>,
    mut ready: impl FnMut(&'static str, SocketAddr),
) -> std::io::Result<Vec<tokio::task::JoinHandle<()>>> {
    let listeners = [
        (Direction::Outgoing, config.outgoing),
        (Direction::Incoming, config.incoming),
    ];
    if listeners.iter().all(|(_, a)| a.is_none()) {
        return Ok(Vec::new());
    }
    let Some(forward) = config.forward else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "an SMTP listener needs --smtp-forward: the address where processed mail goes back into Postfix",
        ));
    };
    let ctx = Arc::new(Context {
        engine,
        forward: Forward {
            addr: forward,
            helo: config.hostname.clone(),
            timeout: config.timeout,
        },
        hostname: config.hostname.clone(),
        max_message_bytes: config.max_message_bytes,
        timeout: config.timeout,
        clients: config.clients.clone(),
    });
    let mut tasks = Vec::new();
    for (direction, addr) in listeners {
        let Some(addr) = addr else { continue };
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        tracing::info!(listen = %local, listener = direction.as_str(), "SMTP gateway listening");
        ready(direction.as_str(), local);
        tasks.push(tokio::spawn(accept(
            listener,
            direction,
            ctx.clone(),
            stop.clone(),
            config.max_connections.max(1),
        )));
    }
    Ok(tasks)
}

async fn accept(
    listener: TcpListener,
    direction: Direction,
    ctx: Arc<Context>,
    mut stop: watch::Receiver<bool>,
    max_connections: usize,
) {
    let mut sessions = tokio::task::JoinSet::new();
    let session_stop = stop.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    if !admits(&ctx.clients, peer.ip()) {
                        tracing::warn!(%peer, "SMTP client refused: not loopback and not in smtp_clients");
                        session::refuse(stream, &ctx.hostname, 554, "5.7.1", "this client may not use smimed's gateway").await;
                        continue;
                    }
                    if sessions.len() >= max_connections {
                        session::refuse(stream, &ctx.hostname, 421, "4.3.2", "too many connections, try again later").await;
                        continue;
                    }
                    sessions.spawn(session::serve(stream, direction, ctx.clone(), session_stop.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "SMTP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            () = stopped(&mut stop) => break,
        }
    }
    drop(listener);
    while sessions.join_next().await.is_some() {}
}

/// Returns once `stop` is true (or its sender is gone).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is dropped here, not held by a caller's
    // future across an await.
    let _ = stop.wait_for(|s| *s).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_is_one_short_line() {
        let r = Reply::new(554, "5.7.1", "a\r\nb".to_string() + &"x".repeat(1000));
        let line = String::from_utf8(r.line()).unwrap();
        assert!(line.starts_with("554 5.7.1 a  b"));
        assert_eq!(line.matches("\r\n").count(), 1);
        assert!(line.len() < 420);
    }

    #[test]
    fn header_edits_keep_everything_else() {
        let raw = b"From: a@x\r\nX-Drop: 1\r\n  folded\r\nSubject: s\r\n\r\nX-Drop: body\r\n";
        let out = edit_header(raw, b"New: n\r\n", |name, _| {
            name.eq_ignore_ascii_case("x-drop")
        });
        assert_eq!(
            out,
            b"New: n\r\nFrom: a@x\r\nSubject: s\r\n\r\nX-Drop: body\r\n".to_vec()
        );
    }

    #[test]
    fn only_loopback_and_listed_clients_are_admitted() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        for peer in ["127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"] {
            assert!(admits(&[], ip(peer)), "{peer}");
        }
        assert!(!admits(&[], ip("10.0.0.5")));
        assert!(!admits(&[], ip("::ffff:10.0.0.5")));
        let listed = [ip("10.0.0.5")];
        assert!(admits(&listed, ip("10.0.0.5")));
        assert!(admits(&listed, ip("::ffff:10.0.0.5")));
        assert!(!admits(&listed, ip("10.0.0.6")));
    }

    #[test]
    fn delivery_keys_differ_by_every_part() {
        let e = Envelope {
            from: "a@x".into(),
            recipients: vec!["b@y".into()],
            ..Default::default()
        };
        let k = delivery_key(Direction::Outgoing, &e, b"m");
        assert_eq!(k, delivery_key(Direction::Outgoing, &e, b"m"));
        assert_ne!(k, delivery_key(Direction::Incoming, &e, b"m"));
        assert_ne!(k, delivery_key(Direction::Outgoing, &e, b"n"));
        let mut e2 = e.clone();
        e2.ident = Some("4QX".into());
        assert_ne!(k, delivery_key(Direction::Outgoing, &e2, b"m"));
    }
}
