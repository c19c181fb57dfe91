//! Handing processed mail back to Postfix (its reinjection `smtpd`): a
//! plain SMTP client over loopback. Replies are parsed by `smtp-proto`, as
//! the requests the gateway receives are. A new connection per delivery:
//! on loopback it costs well under a millisecond, and no connection state
//! outlives a failure.

use std::net::SocketAddr;
use std::time::Duration;

use smtp_proto::Response;
use smtp_proto::response::parser::ResponseReceiver;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Why a forward did not complete; the gateway answers Postfix 4xx with it.
#[derive(Debug)]
pub(crate) struct Refused(pub String);

/// Where and how mail is handed on.
#[derive(Debug, Clone)]
pub(crate) struct Forward {
    pub addr: SocketAddr,
    pub helo: String,
    pub timeout: Duration,
}

/// The MAIL FROM options to pass on.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct MailOptions {
    pub eight_bit: bool,
    pub smtputf8: bool,
}

/// One message to hand on, with its envelope.
#[derive(Clone, Copy)]
pub(crate) struct Delivery<'a> {
    pub from: &'a str,
    pub recipients: &'a [String],
    pub options: MailOptions,
    /// The original client's XFORWARD attributes, passed on if offered.
    pub xforward: &'a [String],
    pub message: &'a [u8],
}

impl Forward {
    /// Sends one message to `recipients`, all within the timeout; Ok only
    /// once the reinjection server answered 250 to the end of its data.
    pub(crate) async fn send(&self, delivery: &Delivery<'_>) -> Result<(), Refused> {
        tokio::time::timeout(self.timeout, self.session(delivery))
            .await
            .map_err(|_| {
                Refused(format!(
                    "the forward server {} did not answer within {} s",
                    self.addr,
                    self.timeout.as_secs()
                ))
            })?
    }

    async fn session(&self, delivery: &Delivery<'_>) -> Result<(), Refused> {
        let Delivery {
            from,
            recipients,
            options,
            xforward,
            message,
        } = *delivery;
        let stream = TcpStream::connect(self.addr).await.map_err(|e| {
            Refused(format!(
                "cannot connect to the forward server {}: {e}",
                self.addr
            ))
        })?;
        let _ = stream.set_nodelay(true);
        let mut c = Client {
            stream,
            buf: Vec::with_capacity(1024),
        };
        c.expect(None, 220).await?;
        let ehlo = c
            .expect(Some(format!("EHLO {}\r\n", self.helo).as_bytes()), 250)
            .await?;
        // The original client, for the reinjection's Received: field and
        // logs (Postfix's smtpd offers XFORWARD to authorized clients).
        if ehlo.message.to_ascii_uppercase().contains("XFORWARD") {
            for attrs in xforward {
                c.expect(Some(format!("XFORWARD {attrs}\r\n").as_bytes()), 250)
                    .await?;
            }
        }
        let mut mail = format!("MAIL FROM:<{from}>");
        if options.eight_bit {
            mail.push_str(" BODY=8BITMIME");
        }
        if options.smtputf8 {
            mail.push_str(" SMTPUTF8");
        }
        mail.push_str("\r\n");
        c.expect(Some(mail.as_bytes()), 250).await?;
        for r in recipients {
            c.expect(Some(format!("RCPT TO:<{r}>\r\n").as_bytes()), 250)
                .await?;
        }
        c.expect(Some(b"DATA\r\n"), 354).await?;
        c.stream
            .write_all(&dot_stuffed(message))
            .await
            .map_err(io_refused)?;
        c.expect(None, 250).await?;
        let _ = c.stream.write_all(b"QUIT\r\n").await;
        Ok(())
    }
}

struct Client {
    stream: TcpStream,
    /// Bytes read but not yet parsed.
    buf: Vec<u8>,
}

impl Client {
    /// Sends `command` (if any) and wants a reply of class `code`'s.
    async fn expect(
        &mut self,
        command: Option<&[u8]>,
        code: u16,
    ) -> Result<Response<String>, Refused> {
        if let Some(command) = command {
            self.stream.write_all(command).await.map_err(io_refused)?;
        }
        let reply = self.reply().await?;
        if reply.code / 100 != code / 100 {
            let sent = command
                .map(|c| String::from_utf8_lossy(c).trim_end().to_string())
                .unwrap_or_else(|| "the end of the data".into());
            let sent = if sent.len() > 80 { "DATA".into() } else { sent };
            return Err(Refused(format!(
                "the forward server answered {} {} to {sent}",
                reply.code,
                reply.message.trim()
            )));
        }
        Ok(reply)
    }

    async fn reply(&mut self) -> Result<Response<String>, Refused> {
        let mut parser = ResponseReceiver::default();
        let mut chunk = [0u8; 1024];
        loop {
            if !self.buf.is_empty() {
                let mut it = self.buf.iter();
                match parser.parse(&mut it) {
                    Ok(reply) => {
                        let used = self.buf.len() - it.as_slice().len();
                        self.buf.drain(..used);
                        return Ok(reply);
                    }
                    Err(smtp_proto::Error::NeedsMoreData { .. }) => self.buf.clear(),
                    Err(e) => {
                        return Err(Refused(format!(
                            "the forward server's reply cannot be read: {e:?}"
                        )));
                    }
                }
            }
            let n = self.stream.read(&mut chunk).await.map_err(io_refused)?;
            if n == 0 {
                return Err(Refused("the forward server closed the connection".into()));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

fn io_refused(e: std::io::Error) -> Refused {
    Refused(format!("the connection to the forward server failed: {e}"))
}

/// The message as DATA sends it: CRLF line ends, a leading dot doubled,
/// and the final `CRLF.CRLF`.
pub(crate) fn dot_stuffed(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 64 + 8);
    let mut line_start = true;
    let mut prev = 0u8;
    for &b in message {
        if line_start && b == b'.' {
            out.push(b'.');
        }
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        line_start = b == b'\n';
        prev = b;
    }
    if !message.is_empty() && !line_start {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::dot_stuffed;

    #[test]
    fn data_is_dot_stuffed_with_crlf_and_ends_once() {
        assert_eq!(dot_stuffed(b"a\n.b\r\n..c"), b"a\r\n..b\r\n...c\r\n.\r\n");
        assert_eq!(dot_stuffed(b"x\r\n"), b"x\r\n.\r\n");
    }
}
