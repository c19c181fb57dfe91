//! Regression tests for what the fuzz targets in `fuzz/` and the property
//! tests in `tests/prop.rs` found (see `docs/robustness.md`). Each test
//! names where it was found and the input shape.

use smime::incoming::{Context, Layer, Processed, process};
use smime::trust::TrustStore;
use smime::verify::SignCode;
use smime::{Certificate, PrivateKey};
use testpki::files;

mod common;

fn alice() -> (Certificate, PrivateKey) {
    (
        common::certificate(files::ALICE),
        common::key(files::ALICE_KEY),
    )
}

/// What the engine does for a signed message: split, sign the entity, put
/// the outer fields back on; then what the receiving side reads of it.
fn sign_and_receive(raw: &[u8]) -> (smime::mime::Split, Vec<u8>, Processed) {
    let (cert, key) = alice();
    let chain = common::certificates(files::CHAIN);
    let split = smime::mime::split_message(raw).unwrap();
    let signed = smime::sign::sign(
        &split.entity,
        &smime::sign::Signer {
            certificate: &cert,
            key: &key,
            chain: &chain,
        },
    )
    .unwrap();
    let mut message = split.outer.clone();
    message.extend_from_slice(&signed);
    let trust = TrustStore::new(chain.iter());
    let ctx = Context {
        keys: &[],
        trust: &trust,
        policy: &smime::Policy::now(),
    };
    let processed = process(&message, &ctx)
        .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&message)));
    (split, message, processed)
}

fn assert_verified(processed: &Processed, message: &[u8]) {
    let sign = processed.report.sign.as_ref();
    assert_eq!(
        sign.map(|s| s.code),
        Some(SignCode::Verified),
        "{:?}\n{}",
        processed.report,
        String::from_utf8_lossy(message)
    );
    assert_eq!(processed.report.layers.len(), 1, "{:?}", processed.report);
}

/// outgoing_parse: a bare CR in the header was read as a line end only when
/// the header was made canonical, after the split. `\r\r` then became an
/// empty line inside the outer header fields, which ended the sent
/// message's header before its `Content-Type: multipart/signed`.
#[test]
fn bare_cr_in_outgoing_header_cannot_end_the_header() {
    let raw = b"From: alice@example.org\r\rSubject: x\n\nbody\n";
    let (split, message, processed) = sign_and_receive(raw);
    assert!(
        !split.outer.windows(4).any(|w| w == b"\r\n\r\n"),
        "{:?}",
        String::from_utf8_lossy(&split.outer)
    );
    assert_verified(&processed, &message);
}

/// outgoing_parse: a bare CR inside a field hid the next line from the
/// field split, so `Content-Type` stayed in the outer fields, and the sent
/// message carried two Content-Type fields.
#[test]
fn bare_cr_cannot_smuggle_a_content_field_into_the_outer_header() {
    let raw = b"From: alice@example.org\rContent-Type: text/html\nSubject: x\n\n<p>hi</p>\n";
    let (split, message, processed) = sign_and_receive(raw);
    let outer = String::from_utf8_lossy(&split.outer).to_ascii_lowercase();
    assert!(!outer.contains("content-type"), "{outer:?}");
    assert!(
        String::from_utf8_lossy(&split.entity).starts_with("Content-Type: text/html\r\n"),
        "{:?}",
        String::from_utf8_lossy(&split.entity)
    );
    assert_verified(&processed, &message);
}

/// outgoing_parse: a message that is all header and ends without a line
/// break glued its last field to the `MIME-Version` field put after it.
#[test]
fn header_without_final_line_break_stays_a_field() {
    let raw = b"Subject: x\nFrom: alice@example.org";
    let (split, message, processed) = sign_and_receive(raw);
    assert!(split.outer.ends_with(b"From: alice@example.org\r\n"));
    assert_verified(&processed, &message);
}

/// outgoing_parse: an input whose only header line is a bare CR has no
/// header fields; it used to give a message starting with an empty line.
#[test]
fn bare_cr_alone_is_not_a_message() {
    assert!(smime::mime::split_message(b"\r").is_err());
    assert!(smime::mime::split_message(b"\rFrom: a@example.org\n\nx").is_err());
}

/// outgoing_parse and incoming: signed content holding a multipart without
/// its close delimiter swallowed the signature part when the received
/// multipart/signed was split by the MIME parser ("it has 1 parts instead
/// of 2"); RFC 2046 splits at the outer boundary.
#[test]
fn unclosed_multipart_in_signed_content_still_verifies() {
    let raw = b"From: alice@example.org\r\nContent-Type: multipart/mixed; boundary=inner\r\n\r\n--inner\r\nContent-Type: text/plain\r\n\r\nhello\r\n";
    let (split, message, processed) = sign_and_receive(raw);
    assert_verified(&processed, &message);
    assert!(processed.message.ends_with(&split.entity));
    assert!(matches!(
        processed.report.layers[0],
        Layer::Signed { opaque: false, .. }
    ));
}

#[test]
fn split_multipart_follows_rfc_2046() {
    use smime::mime::split_multipart;
    let body =
        b"preamble\r\n--b\r\nA\r\n--bb\r\n--b \r\nB\r\n\r\n--b--\r\nepilogue\r\n--b\r\nC\r\n";
    assert_eq!(
        split_multipart(body, "b"),
        [&b"A\r\n--bb"[..], &b"B\r\n"[..]]
    );
    // Unclosed: the last part runs to the end.
    assert_eq!(
        split_multipart(b"--b\nA\n--b\nB\n", "b"),
        [&b"A"[..], &b"B\n"[..]]
    );
    assert!(split_multipart(b"no delimiter\r\n", "b").is_empty());
}

/// prop.rs (encrypt_then_decrypt): a `binary` attachment whose bytes are
/// all 7-bit was kept unencoded, and canonical form then turned its bare LF
/// and CR bytes into CRLF. Non-text content with bare line ends is now
/// base64-encoded; text is still made canonical.
#[test]
fn seven_bit_binary_attachment_keeps_its_bare_line_ends() {
    use mail_parser::MessageParser;
    let raw = b"From: alice@example.org\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nline 1\nline 2\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\nab\ncd\ref\r\n--b--\r\n";
    let (split, message, processed) = sign_and_receive(raw);
    assert_verified(&processed, &message);
    let entity = MessageParser::default().parse(&split.entity).unwrap();
    assert_eq!(entity.parts.len(), 3);
    assert_eq!(entity.parts[1].contents(), b"line 1\r\nline 2");
    assert_eq!(entity.parts[2].contents(), b"ab\ncd\ref");
    let text = String::from_utf8_lossy(&split.entity);
    assert!(text.contains("Content-Transfer-Encoding: base64"), "{text}");
}

/// A multipart nested `depth` levels deep around an 8-bit text part (so
/// that the entity is re-encoded, part by part).
fn nested(depth: usize) -> Vec<u8> {
    let mut m = String::from("From: alice@example.org\r\n");
    for i in 0..depth {
        m.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n"
        ));
    }
    m.push_str("Content-Type: text/plain; charset=utf-8\r\n\r\nGr\u{fc}\u{df}e\r\n");
    for i in (0..depth).rev() {
        m.push_str(&format!("--b{i}--\r\n"));
    }
    m.into_bytes()
}

/// Found while probing what outgoing_parse cannot reach with its 8 KB
/// inputs: re-encoding recursed once per multipart level, and 10,000
/// levels (about 500 KB) overflowed a 2 MiB thread stack (the size of a
/// tokio worker's), aborting the process. Deeper than `MAX_NESTING` is now
/// a clear error.
#[test]
fn deeply_nested_outgoing_message_is_refused_not_a_stack_overflow() {
    let raw = nested(10_000);
    let result = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || smime::mime::split_message(&raw).map(|s| s.entity.len()))
        .unwrap()
        .join()
        .expect("no panic");
    let err = result.expect_err("refused").to_string();
    assert!(err.contains("nested more than 100 levels"), "{err}");

    // At the limit it still works.
    let depth = smime::mime::MAX_NESTING - 1;
    let (_, message, processed) = sign_and_receive(&nested(depth));
    assert_verified(&processed, &message);
}

/// A message that needs no rewriting is not parsed at all on the way out
/// (issue 14); one nested deeper than `MAX_NESTING` is still refused, and
/// one at the limit still goes out as it came.
#[test]
fn deeply_nested_message_that_needs_no_rewriting_is_still_refused() {
    let clean = |depth: usize| {
        let mut m = String::from("From: alice@example.org\r\n");
        for i in 0..depth {
            m.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n"
            ));
        }
        m.push_str("Content-Type: text/plain\r\n\r\nplain\r\n");
        for i in (0..depth).rev() {
            m.push_str(&format!("--b{i}--\r\n"));
        }
        m.into_bytes()
    };
    let err = smime::mime::split_message(&clean(smime::mime::MAX_NESTING + 5))
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("nested more than 100 levels"), "{err}");
    let raw = clean(smime::mime::MAX_NESTING - 1);
    let split = smime::mime::split_message(&raw).unwrap();
    assert_eq!(&raw[raw.len() - split.entity.len()..], &split.entity[..]);
}

/// outgoing_parse (crash-e42f1c8a): a header line of white space only
/// (here a form feed) ends the header for the MIME parser, but was kept
/// among the outer fields, so the sent message's own `Content-Type` ended
/// up in its body and the receiver saw no S/MIME at all. Such a line now
/// ends the header when the message is split, too.
#[test]
fn whitespace_only_header_line_ends_the_header() {
    let raw = b"Content-Type: text/plain; charset=utf-8; format=flowed\r\nContenu-Transfer-Encoding: quoted-printable\r\nContent-Language: en-US\r\x0c\r\nThis is a test message from Alice to Bob.\r\n";
    let (split, _, processed) = sign_and_receive(raw);
    assert_eq!(
        processed.report.kind,
        Some("S/MIME"),
        "{:?}",
        processed.report
    );
    assert_eq!(processed.report.layers.len(), 1, "{:?}", processed.report);
    assert!(!split.outer.contains(&0x0c));

    let raw = b"From: alice@example.org\r\n \t\r\nSubject: x\r\n\r\nbody\r\n";
    let (split, message, processed) = sign_and_receive(raw);
    assert_eq!(split.outer, b"From: alice@example.org\r\n");
    assert_verified(&processed, &message);
}

/// outgoing_parse: a header line without a field name and colon (or a
/// continuation line with no field before it) ends the header for some
/// readers and is skipped by others; it is dropped from what is sent.
#[test]
fn header_line_that_is_no_field_is_not_sent() {
    let raw = b" folded: nothing\r\nFrom: alice@example.org\r\nno field here\r\nBad Name: x\r\nSubject: x\r\n\r\nbody\r\n";
    let (split, message, processed) = sign_and_receive(raw);
    assert_eq!(
        String::from_utf8_lossy(&split.outer),
        "From: alice@example.org\r\nSubject: x\r\n"
    );
    assert_verified(&processed, &message);
}

/// outgoing_parse (crash-b87df3cf): a line without a colon followed by a
/// continuation line holding one took its name from the continuation, so
/// the line stayed among the outer fields, and the sent message had no
/// header field the parser could read ("not an RFC 5322 message").
#[test]
fn field_name_comes_from_the_first_line() {
    let raw = b"MIME-VersionD.01\r\n :ate: Mon, 26 Jan 2026 14:38:03 +0000\r\nFrom: alice@example.org\r\n\r\nbody\r\n";
    let fields = smime::mime::fields(smime::mime::split_header_body(raw).0);
    assert_eq!(fields[0].name, "");
    let (split, message, processed) = sign_and_receive(raw);
    assert_eq!(split.outer, b"From: alice@example.org\r\n");
    assert_verified(&processed, &message);
}

/// outgoing_parse (crash-cc530557): a field line starting with a form feed
/// was kept (its name was trimmed); a message starting with it has no
/// header fields for the MIME parser.
#[test]
fn field_starting_with_white_space_is_not_sent() {
    let raw = b"\x0cding: x\r\nFrom: alice@example.org\r\n\r\nbody\r\n";
    let (split, message, processed) = sign_and_receive(raw);
    assert_eq!(split.outer, b"From: alice@example.org\r\n");
    assert_verified(&processed, &message);
    // Blanks before the colon are the obsolete syntax, and still a field.
    let split = smime::mime::split_message(b"Subject \t: x\r\n\r\nbody").unwrap();
    assert_eq!(split.outer, b"Subject \t: x\r\n");
}
