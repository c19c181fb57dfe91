//! One SMTP connection from Postfix: ESMTP with PIPELINING, SIZE, 8BITMIME,
//! SMTPUTF8, ENHANCEDSTATUSCODES and XFORWARD. Commands are parsed by
//! `smtp-proto`, the DATA section by its receiver; every read has a time
//! limit, a command line at most 4 KiB, and the data at most the size limit
//! (beyond it the rest is read and dropped, then refused with 552).

use std::sync::Arc;

use smtp_proto::request::receiver::{DataReceiver, DummyDataReceiver};
use smtp_proto::{MAIL_BODY_8BITMIME, MAIL_BODY_BINARYMIME, MAIL_SMTPUTF8, Request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::{Context, Direction, Envelope, Reply, incoming, outgoing};

/// The longest command line (RFC 5321 §4.5.3.1.4 asks for 512; XFORWARD
/// and long addresses need more).
const MAX_LINE: usize = 4096;

/// XFORWARD commands before one MAIL (Postfix sends two).
const MAX_XFORWARD: usize = 8;

/// Answers with a refusal instead of a greeting, and closes.
pub(crate) async fn refuse(
    mut stream: TcpStream,
    hostname: &str,
    code: u16,
    status: &'static str,
    why: &str,
) {
    let line = Reply::new(code, status, format!("{hostname} {why}")).line();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), stream.write_all(&line)).await;
}

struct Conn {
    stream: TcpStream,
    /// Bytes read, not yet used.
    buf: Vec<u8>,
    /// Replies not yet sent (pipelining: sent before the next read).
    out: Vec<u8>,
    chunk: Box<[u8]>,
}

enum Read {
    Data,
    /// The peer closed, a read or write failed, or a time limit passed.
    Gone,
    /// The service is stopping and no transaction is open.
    Stop,
}

impl Conn {
    /// Sends what is pending, then reads more; with `stop` given, returns
    /// `Stop` as soon as it turns true.
    async fn fill(
        &mut self,
        timeout: std::time::Duration,
        stop: Option<&mut watch::Receiver<bool>>,
    ) -> Read {
        if !self.out.is_empty() {
            let sent = tokio::time::timeout(timeout, self.stream.write_all(&self.out)).await;
            if !matches!(sent, Ok(Ok(()))) {
                return Read::Gone;
            }
            self.out.clear();
        }
        let read = tokio::time::timeout(timeout, self.stream.read(&mut self.chunk));
        let n = match stop {
            Some(stop) => tokio::select! {
                r = read => r,
                () = super::stopped(stop) => return Read::Stop,
            },
            None => read.await,
        };
        match n {
            Ok(Ok(n)) if n > 0 => {
                self.buf.extend_from_slice(&self.chunk[..n]);
                Read::Data
            }
            _ => Read::Gone,
        }
    }

    fn reply(&mut self, reply: Reply) {
        self.out.extend_from_slice(&reply.line());
    }

    async fn close(mut self) {
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            self.stream.write_all(&self.out),
        )
        .await;
    }
}

/// Serves one connection until QUIT, an error, a time limit, or (outside a
/// transaction) the service stopping: then 421.
pub(crate) async fn serve(
    stream: TcpStream,
    direction: Direction,
    ctx: Arc<Context>,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let mut c = Conn {
        stream,
        buf: Vec::new(),
        out: Vec::new(),
        chunk: vec![0u8; 64 * 1024].into_boxed_slice(),
    };
    let host = ctx.hostname.clone();
    let stopping = Reply::new(
        421,
        "4.3.2",
        format!("{host} is shutting down, try again later"),
    );
    if *stop.borrow() {
        c.reply(stopping);
        return c.close().await;
    }
    c.reply(Reply::new(220, "2.0.0", format!("{host} ESMTP smimed")));
    let mut envelope: Option<Envelope> = None;
    // XFORWARD attributes for the next transaction (Postfix sends two
    // lines); at most a few, each a bounded line.
    let mut xforward: Vec<String> = Vec::new();
    loop {
        // One complete command line, or more input.
        let Some(end) = c.buf.iter().position(|&b| b == b'\n') else {
            if c.buf.len() > MAX_LINE {
                c.reply(Reply::new(500, "5.5.6", "line too long"));
                return c.close().await;
            }
            let idle = envelope.is_none();
            match c.fill(ctx.timeout, idle.then_some(&mut stop)).await {
                Read::Data => continue,
                Read::Gone => return,
                Read::Stop => {
                    c.reply(stopping);
                    return c.close().await;
                }
            }
        };
        let line: Vec<u8> = c.buf.drain(..=end).collect();
        if line.len() > MAX_LINE {
            c.reply(Reply::new(500, "5.5.6", "line too long"));
            continue;
        }
        if is_xforward(&line) {
            if envelope.is_some() {
                c.reply(Reply::new(503, "5.5.1", "XFORWARD within a transaction"));
            } else if xforward.len() >= MAX_XFORWARD {
                c.reply(Reply::new(421, "4.7.0", "too many XFORWARD commands"));
                return c.close().await;
            } else {
                let attrs = String::from_utf8_lossy(&line[9..]).trim().to_string();
                xforward.push(attrs);
                c.reply(Reply::new(250, "2.0.0", "Ok"));
            }
            continue;
        }
        let request = match Request::parse(&mut line.iter()) {
            Ok(r) => r.into_owned(),
            Err(e) => {
                c.reply(syntax_reply(&e));
                continue;
            }
        };
        match request {
            Request::Ehlo { .. } => {
                envelope = None;
                let ehlo = format!(
                    "250-{host}\r\n250-PIPELINING\r\n250-SIZE {}\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n\
                     250-ENHANCEDSTATUSCODES\r\n250 XFORWARD NAME ADDR PROTO HELO IDENT SOURCE\r\n",
                    ctx.max_message_bytes
                );
                c.out.extend_from_slice(ehlo.as_bytes());
            }
            Request::Helo { .. } => {
                envelope = None;
                c.reply(Reply::new(250, "2.0.0", host.clone()));
            }
            Request::Mail { from } => {
                if envelope.is_some() {
                    c.reply(Reply::new(503, "5.5.1", "nested MAIL command"));
                } else if *stop.borrow() {
                    c.reply(stopping);
                    return c.close().await;
                } else if from.size > ctx.max_message_bytes {
                    c.reply(Reply::new(
                        552,
                        "5.3.4",
                        format!(
                            "message of {} bytes is larger than the limit of {} bytes",
                            from.size, ctx.max_message_bytes
                        ),
                    ));
                } else if from.flags & MAIL_BODY_BINARYMIME != 0 {
                    c.reply(Reply::new(555, "5.5.4", "BODY=BINARYMIME is not offered"));
                } else {
                    envelope = Some(Envelope {
                        from: from.address,
                        recipients: Vec::new(),
                        options: super::MailOptions {
                            eight_bit: from.flags & MAIL_BODY_8BITMIME != 0,
                            smtputf8: from.flags & MAIL_SMTPUTF8 != 0,
                        },
                        ident: xforward.iter().find_map(|a| xforward_ident(a)),
                        xforward: std::mem::take(&mut xforward),
                    });
                    c.reply(Reply::new(250, "2.1.0", "Ok"));
                }
            }
            Request::Rcpt { to } => match envelope.as_mut() {
                None => c.reply(Reply::new(503, "5.5.1", "need MAIL command")),
                Some(e) if e.recipients.len() >= smimed_engine::MAX_ADDRESSES => {
                    c.reply(Reply::new(
                        452,
                        "4.5.3",
                        format!(
                            "too many recipients: at most {} per message",
                            smimed_engine::MAX_ADDRESSES
                        ),
                    ))
                }
                Some(e) => {
                    e.recipients.push(to.address);
                    c.reply(Reply::new(250, "2.1.5", "Ok"));
                }
            },
            Request::Data => {
                let Some(e) = envelope.take() else {
                    c.reply(Reply::new(503, "5.5.1", "need MAIL command"));
                    continue;
                };
                if e.recipients.is_empty() {
                    c.reply(Reply::new(554, "5.5.1", "no valid recipients"));
                    continue;
                }
                c.reply(Reply::new(354, "2.0.0", "End data with <CR><LF>.<CR><LF>"));
                let Some(message) = receive_data(&mut c, &ctx).await else {
                    return;
                };
                let reply = match message {
                    Err(size) => Reply::new(
                        552,
                        "5.3.4",
                        format!(
                            "message larger than the limit of {size} bytes; it was not processed"
                        ),
                    ),
                    Ok(message) => match direction {
                        Direction::Outgoing => outgoing::deliver(&ctx, &e, message).await,
                        Direction::Incoming => incoming::deliver(&ctx, &e, message).await,
                    },
                };
                c.reply(reply);
                if *stop.borrow() {
                    c.reply(stopping);
                    return c.close().await;
                }
            }
            Request::Rset => {
                envelope = None;
                xforward.clear();
                c.reply(Reply::new(250, "2.0.0", "Ok"));
            }
            Request::Noop { .. } => c.reply(Reply::new(250, "2.0.0", "Ok")),
            Request::Vrfy { .. } => {
                c.reply(Reply::new(252, "2.5.0", "cannot verify, but will try"));
            }
            Request::Quit => {
                c.reply(Reply::new(221, "2.0.0", "Bye"));
                return c.close().await;
            }
            other => c.reply(Reply::new(
                502,
                "5.5.1",
                format!("{} is not implemented", other.name()),
            )),
        }
    }
}

/// The DATA section, without the final dot: `Some(Ok)`, `Some(Err(limit))`
/// when larger than the limit (read to its end and dropped), `None` when
/// the connection ended first.
async fn receive_data(c: &mut Conn, ctx: &Context) -> Option<Result<Vec<u8>, usize>> {
    let limit = ctx.max_message_bytes;
    let mut receiver = DataReceiver::new();
    let mut message = Vec::new();
    let mut dropping: Option<DummyDataReceiver> = None;
    loop {
        let mut it = c.buf.iter();
        let done = match dropping.as_mut() {
            Some(d) => d.ingest(&mut it),
            None => receiver.ingest(&mut it, &mut message),
        };
        let used = c.buf.len() - it.as_slice().len();
        c.buf.drain(..used);
        if dropping.is_none() && message.len() > limit {
            dropping = Some(DummyDataReceiver::new_data(&receiver));
            message = Vec::new();
        }
        if done {
            return Some(match dropping {
                Some(_) => Err(limit),
                None => Ok(message),
            });
        }
        match c.fill(ctx.timeout, None).await {
            Read::Data => {}
            Read::Gone | Read::Stop => return None,
        }
    }
}

fn is_xforward(line: &[u8]) -> bool {
    line.len() > 9 && line[..8].eq_ignore_ascii_case(b"XFORWARD") && line[8] == b' '
}

/// IDENT=... of an XFORWARD command's attributes (Postfix's queue ID of
/// the original).
fn xforward_ident(attrs: &str) -> Option<String> {
    attrs.split_ascii_whitespace().find_map(|attr| {
        let (name, value) = attr.split_once('=')?;
        (name.eq_ignore_ascii_case("IDENT") && !value.eq_ignore_ascii_case("[UNAVAILABLE]"))
            .then(|| value.chars().take(64).collect())
    })
}

fn syntax_reply(e: &smtp_proto::Error) -> Reply {
    use smtp_proto::Error as E;
    match e {
        E::UnknownCommand => Reply::new(500, "5.5.2", "command not recognized"),
        E::InvalidSenderAddress => Reply::new(501, "5.1.7", "bad sender address syntax"),
        E::InvalidRecipientAddress => Reply::new(501, "5.1.3", "bad recipient address syntax"),
        E::SyntaxError { syntax } => Reply::new(501, "5.5.4", format!("syntax: {syntax}")),
        E::InvalidParameter { param } => {
            Reply::new(501, "5.5.4", format!("invalid parameter {param}"))
        }
        E::UnsupportedParameter { param } => {
            Reply::new(504, "5.5.4", format!("unsupported parameter {param}"))
        }
        _ => Reply::new(500, "5.5.2", "syntax error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xforward_gives_the_queue_id() {
        let line = b"XFORWARD NAME=spike.porcupine.org ADDR=168.100.189.2 IDENT=4QXyzT0abc\r\n";
        assert!(is_xforward(line));
        assert_eq!(
            xforward_ident("NAME=spike.porcupine.org IDENT=4QXyzT0abc").as_deref(),
            Some("4QXyzT0abc")
        );
        assert_eq!(xforward_ident("IDENT=[UNAVAILABLE]"), None);
        assert!(!is_xforward(b"XFORWARDX\r\n"));
    }
}
