//! The private Postfix of `common::postfix`, checked on its own (no smimed):
//! what the gateway tests rely on must work before they can mean anything.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::free_port;
use common::postfix::{Postfix, read_reply, smtp_send};

fn message(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: alice@example.org\r\nTo: bob@example.org\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@client.test>\r\n\r\n{body}"
    )
    .into_bytes()
}

#[test]
fn reinjection_port_delivers_to_the_maildir() {
    let Some(pf) = Postfix::start(free_port(), free_port(), free_port()) else {
        return;
    };
    // A body with a leading dot (dot-stuffing both ways), a bare LF and 8-bit.
    let body = "first line\r\n.a line starting with a dot\r\n..two dots\r\nbare lf\nend \u{e9}\r\n";
    pf.send(
        pf.reinject,
        "alice@example.org",
        &["bob@example.org"],
        &message("direct", body),
    )
    .unwrap();
    let mail = pf.wait_for_mail("bob@example.org", 1, Duration::from_secs(20));
    assert_eq!(mail.len(), 1, "log:\n{}", pf.log());
    let text = String::from_utf8(mail[0].clone()).unwrap();
    // Maildir files have LF line ends.
    let expected = body.replace("\r\n", "\n");
    assert!(
        text.ends_with(&format!("\n\n{expected}")),
        "body changed:\n{text}"
    );
    assert!(text.contains("Subject: direct\n"), "{text}");
    assert!(text.contains("Delivered-To: bob@example.org\n"), "{text}");
    assert_eq!(pf.queue_len(), 0, "log:\n{}", pf.log());
    // The MX refuses unknown addresses of the test domains at RCPT, before
    // any filter (the reinjection port does not check: its mail was checked).
    let err = pf
        .send(
            pf.mx,
            "alice@example.org",
            &["nobody@example.org"],
            b"Subject: x\r\n\r\nx\r\n",
        )
        .unwrap_err();
    assert!(err.contains("550") || err.contains("5.1.1"), "{err}");
}

/// A pass-through content filter on `port`: every message received is sent on,
/// unchanged, to the reinjection port; 250 only once that accepted it, 451
/// otherwise. Counts the messages passed on.
fn pass_through_filter(port: u16, reinject: u16) -> Arc<AtomicUsize> {
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let passed = Arc::new(AtomicUsize::new(0));
    let counter = passed.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let counter = counter.clone();
            std::thread::spawn(move || {
                let _ = serve_filter(stream, reinject, &counter);
            });
        }
    });
    passed
}

fn serve_filter(stream: TcpStream, reinject: u16, passed: &AtomicUsize) -> std::io::Result<()> {
    let mut out = stream.try_clone()?;
    let mut input = BufReader::new(stream);
    out.write_all(b"220 filter.test ESMTP test filter\r\n")?;
    let (mut from, mut to) = (String::new(), Vec::<String>::new());
    loop {
        let mut line = String::new();
        if input.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let upper = line.to_ascii_uppercase();
        let address = |l: &str| {
            let start = l.find('<').map_or(0, |i| i + 1);
            let end = l[start..].find('>').map_or(l.len(), |i| start + i);
            l[start..end].to_string()
        };
        if upper.starts_with("EHLO") {
            out.write_all(b"250-filter.test\r\n250 8BITMIME\r\n")?;
        } else if upper.starts_with("MAIL FROM:") {
            from = address(&line);
            to.clear();
            out.write_all(b"250 2.1.0 Ok\r\n")?;
        } else if upper.starts_with("RCPT TO:") {
            to.push(address(&line));
            out.write_all(b"250 2.1.5 Ok\r\n")?;
        } else if upper.starts_with("DATA") {
            out.write_all(b"354 go on\r\n")?;
            let mut data = Vec::new();
            loop {
                let mut l = Vec::new();
                if input.read_until(b'\n', &mut l)? == 0 {
                    return Ok(());
                }
                if l == b".\r\n" {
                    break;
                }
                // Undo the dot-stuffing; smtp_send redoes it.
                data.extend_from_slice(l.strip_prefix(b".").unwrap_or(&l));
            }
            let rcpts: Vec<&str> = to.iter().map(String::as_str).collect();
            match smtp_send(reinject, &from, &rcpts, &data) {
                Ok(()) => {
                    passed.fetch_add(1, Ordering::SeqCst);
                    out.write_all(b"250 2.0.0 passed on\r\n")?;
                }
                Err(e) => out.write_all(format!("451 4.3.0 reinjection: {e}\r\n").as_bytes())?,
            }
        } else if upper.starts_with("QUIT") {
            out.write_all(b"221 2.0.0 bye\r\n")?;
            return Ok(());
        } else {
            // RSET, NOOP and anything else.
            out.write_all(b"250 2.0.0 Ok\r\n")?;
        }
    }
}

#[test]
fn mail_waits_in_the_queue_until_the_filter_is_back() {
    let (filter_outgoing, reinject) = (free_port(), free_port());
    let Some(pf) = Postfix::start(filter_outgoing, free_port(), reinject) else {
        return;
    };
    // Nothing listens on the filter port: accepted, but not delivered.
    pf.send(
        pf.submission,
        "alice@example.org",
        &["bob@example.org"],
        &message("queued", "held until the filter is there\r\n"),
    )
    .unwrap();
    assert!(
        pf.wait_for_log("status=deferred", Duration::from_secs(20)),
        "no deferral logged:\n{}",
        pf.log()
    );
    assert!(pf.queue_len() >= 1, "log:\n{}", pf.log());
    assert!(
        pf.wait_for_mail("bob@example.org", 1, Duration::from_secs(2))
            .is_empty(),
        "delivered without the filter:\n{}",
        pf.log()
    );

    let passed = pass_through_filter(filter_outgoing, reinject);
    pf.flush();
    let mail = pf.wait_for_mail("bob@example.org", 1, Duration::from_secs(30));
    assert_eq!(mail.len(), 1, "log:\n{}", pf.log());
    let text = String::from_utf8_lossy(&mail[0]).to_string();
    assert!(text.contains("Subject: queued\n"), "{text}");
    assert!(
        text.ends_with("\n\nheld until the filter is there\n"),
        "{text}"
    );

    // Exactly once: nothing else arrives, nothing is left to retry.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        pf.wait_for_mail("bob@example.org", 2, Duration::ZERO).len(),
        1,
        "log:\n{}",
        pf.log()
    );
    assert_eq!(passed.load(Ordering::SeqCst), 1, "log:\n{}", pf.log());
    assert_eq!(pf.queue_len(), 0, "log:\n{}", pf.log());
}

#[test]
fn smtp_replies_are_read_whole() {
    let reply = b"250-first\r\n250-second\r\n250 last\r\n".to_vec();
    let (code, text) = read_reply(&mut &reply[..]).unwrap();
    assert_eq!(code, 250);
    assert_eq!(text, "250-first\r\n250-second\r\n250 last");
    assert_eq!(
        common::postfix::dot_stuff(b".a\nb\r\n..c"),
        b"..a\r\nb\r\n...c\r\n.\r\n"
    );
}
