//! The engine end to end on SQLite: the composer's options, outgoing with
//! defaults and overrides (fail closed), and incoming with every result
//! code, including retry after the missing certificate or key arrives.

use smime::encrypt::ContentCipher;
use smime::incoming::DecryptCode;
use smime::verify::SignCode;
use smimed_engine::{Actor, Engine, Error, GroupPatch, OutgoingRequest, Sender, SettingsPatch};
use smimed_store::{Group, MasterKey, Store};

/// The command line's actor: an admin.
fn actor() -> Actor {
    Actor::cli()
}

/// S/MIME on or off, as an admin switches it.
async fn switch(engine: &Engine, on: bool) {
    let patch = SettingsPatch {
        enabled: Some(on),
        ..SettingsPatch::default()
    };
    engine.update_settings(&actor(), &patch).await.unwrap();
}
use testpki::{P12_PASSWORD, files};

struct Side {
    engine: Engine,
    store: Store,
    _dir: tempfile::TempDir,
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(testpki::Pki::committed().path(name)).expect("fixture")
}

async fn side(imports: &[(&str, Option<&str>)]) -> Side {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("db").display());
    let store = Store::open(&url, MasterKey::from_bytes([3; 32]))
        .await
        .unwrap();
    let engine = Engine::new(store.clone(), 8);
    for (name, pass) in imports {
        import(&store, name, *pass).await;
    }
    store.set_enabled(true, "test").await.unwrap();
    Side {
        engine,
        store,
        _dir: dir,
    }
}

async fn import(store: &Store, name: &str, pass: Option<&str>) {
    let bundle = smime::bundle::parse(&fixture(name), pass).unwrap();
    let report = store.import(bundle, pass, &|_| {}, "test").await.unwrap();
    assert!(report.stored, "{name}");
}

/// Alice's side: her certificate and key, the chain, and her contacts.
async fn alice() -> Side {
    let s = side(&[
        (files::ALICE_P12, Some(P12_PASSWORD)),
        (files::BOB, None),
        (files::CAROL, None),
        (files::EXPIRED, None),
        (files::NOTYET, None),
        (files::SIGNONLY, None),
    ])
    .await;
    group(&s.engine, "support", "alice@example.org", None, None).await;
    s
}

/// Bob's side: the chain and Bob's key (EC P-256).
async fn bob() -> Side {
    side(&[
        (files::CHAIN, None),
        (files::BOB, None),
        (files::BOB_KEY, None),
    ])
    .await
}

async fn group(
    engine: &Engine,
    name: &str,
    email: &str,
    sign: Option<bool>,
    encrypt: Option<bool>,
) {
    let patch = GroupPatch {
        email: Some(email.into()),
        default_sign: sign,
        default_encrypt: encrypt,
    };
    engine.put_group(&actor(), name, &patch).await.unwrap();
}

fn message(from: &str, to: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: Ticket #42\r\nMessage-ID: <42@example.org>\r\n\r\nHello,\r\nyour ticket is solved. Grüße\r\n"
    )
    .into_bytes()
}

fn support() -> Sender {
    Sender::Group("support".into())
}

fn asked(sign: Option<bool>, encrypt: Option<bool>) -> OutgoingRequest {
    OutgoingRequest {
        sign,
        encrypt,
        ..Default::default()
    }
}

#[tokio::test]
async fn options_follow_certificates_defaults_and_the_switch() {
    let a = alice().await;
    let e = &a.engine;
    let o = e
        .security_options(&actor(), &support(), &["bob@example.org".into()])
        .await
        .unwrap();
    assert!(o.sign.possible && o.sign.default, "{o:?}");
    assert!(o.encryption.possible && o.encryption.default, "{o:?}");

    let o = e
        .security_options(
            &actor(),
            &support(),
            &[
                "bob@example.org".into(),
                "nobody@example.org".into(),
                "expired@example.org".into(),
                "notyet@example.org".into(),
                "signonly@example.org".into(),
            ],
        )
        .await
        .unwrap();
    assert!(!o.encryption.possible && !o.encryption.default);
    let m = &o.encryption.message;
    assert!(m.contains("nobody@example.org has no certificate"), "{m}");
    assert!(
        m.contains("expired@example.org has only expired certificates"),
        "{m}"
    );
    assert!(
        m.contains("notyet@example.org has only certificates that are not valid yet"),
        "{m}"
    );
    assert!(
        m.contains("signonly@example.org has no certificate usable for encryption"),
        "{m}"
    );
    assert!(!m.contains("bob@"), "{m}");

    // Only a group's address sends; a group's address in any written form.
    match e
        .security_options(&actor(), &Sender::Address("bob@example.org".into()), &[])
        .await
    {
        Err(Error::NotAGroupAddress(a)) => assert_eq!(a, "bob@example.org"),
        other => panic!("{other:?}"),
    }
    let named = e
        .security_options(
            &actor(),
            &Sender::Address("Support <Alice@Example.org>".into()),
            &["Bob <bob@example.org>".into()],
        )
        .await
        .unwrap();
    assert!(
        named.sign.possible && named.encryption.possible,
        "{named:?}"
    );
    assert!(matches!(
        e.security_options(&actor(), &support(), &["not an address".into()])
            .await,
        Err(Error::InvalidAddress(a)) if a == "not an address"
    ));

    // A sender without a key cannot sign; a group can switch defaults off.
    group(e, "bob-desk", "bob@example.org", None, None).await;
    let o = e
        .security_options(&actor(), &Sender::Address("bob@example.org".into()), &[])
        .await
        .unwrap();
    assert!(!o.sign.possible);
    assert!(
        o.sign.message.contains("no private key"),
        "{}",
        o.sign.message
    );
    assert!(!o.encryption.possible, "no recipients");
    group(e, "quiet", "alice@example.org", Some(false), Some(false)).await;
    let o = e
        .security_options(
            &actor(),
            &Sender::Group("quiet".into()),
            &["bob@example.org".into()],
        )
        .await
        .unwrap();
    assert!(o.sign.possible && !o.sign.default);
    assert!(o.encryption.possible && !o.encryption.default);

    switch(e, false).await;
    let o = e
        .security_options(&actor(), &support(), &["bob@example.org".into()])
        .await
        .unwrap();
    assert!(!o.sign.possible && !o.encryption.possible);
    assert!(o.sign.message.contains("disabled"));
    assert!(matches!(
        e.security_options(&actor(), &Sender::Group("nope".into()), &[])
            .await,
        Err(Error::Store(smimed_store::Error::NoGroup(_)))
    ));
}

#[tokio::test]
async fn expired_certificates_are_ignored_when_a_valid_one_exists() {
    // Two certificates for one address: an expired one and a valid one.
    let dir = tempfile::tempdir().unwrap();
    let now = smime::now();
    let old = testpki::generate_at(&dir.path().join("old"), now - 11 * 365 * 86_400).unwrap();
    let s = side(&[]).await;
    // In the old PKI, "alice" expired a year ago; the committed alice is valid.
    let old_alice = std::fs::read(old.path(files::ALICE)).unwrap();
    let bundle = smime::bundle::parse(&old_alice, None).unwrap();
    assert!(bundle.certificates[0].info().not_after < now);
    s.store.import(bundle, None, &|_| {}, "test").await.unwrap();
    import(&s.store, files::ALICE, None).await;
    import(&s.store, files::CHAIN, None).await;
    group(&s.engine, "x", "x@example.org", None, None).await;
    let o = s
        .engine
        .security_options(
            &actor(),
            &Sender::Address("x@example.org".into()),
            &["alice@example.org".into()],
        )
        .await
        .unwrap();
    assert!(o.encryption.possible, "{o:?}");
}

#[tokio::test]
async fn outgoing_defaults_sign_and_encrypt_and_bob_reads_it() {
    let a = alice().await;
    let b = bob().await;
    let out = a
        .engine
        .outgoing(
            &actor(),
            (message("alice@example.org", "Bob <bob@example.org>")).to_vec(),
            &support(),
            &asked(None, None),
        )
        .await
        .unwrap();
    assert!(out.signed && out.encrypted);
    let text = String::from_utf8_lossy(&out.message);
    assert!(text.starts_with("From: alice@example.org\r\nTo: Bob <bob@example.org>\r\nSubject: Ticket #42\r\nMessage-ID: <42@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data"), "{text}");
    assert!(
        !text.contains("Grüße") && !text.contains("solved"),
        "content is hidden"
    );

    let read = b
        .engine
        .incoming(&actor(), (out.message).to_vec())
        .await
        .unwrap()
        .processed;
    let r = &read.report;
    assert_eq!(r.kind, Some("S/MIME"));
    assert!(r.encrypted && r.signed);
    assert_eq!(r.encryption.as_ref().unwrap().code, DecryptCode::Decrypted);
    let sign = r.sign.as_ref().unwrap();
    assert_eq!(sign.code, SignCode::Verified, "{sign:?}");
    assert_eq!(
        sign.signer.as_ref().unwrap().email_addresses,
        ["alice@example.org"]
    );
    let readable = String::from_utf8(read.message).unwrap();
    assert!(readable.contains("Subject: Ticket #42"));
    assert!(readable.contains("solved. Gr=C3=BC=C3=9Fe"), "{readable}");
    assert!(!readable.contains("pkcs7"), "{readable}");

    // The sent copy stays readable: Alice's own certificate is a recipient.
    let own = side(&[(files::ALICE_P12, Some(P12_PASSWORD))]).await;
    let mine = own
        .engine
        .incoming(&actor(), (out.message).to_vec())
        .await
        .unwrap()
        .processed;
    assert_eq!(mine.report.encryption.unwrap().code, DecryptCode::Decrypted);

    // Keys are opened once, then served from the cache.
    a.engine
        .outgoing(
            &actor(),
            (message("alice@example.org", "bob@example.org")).to_vec(),
            &support(),
            &asked(Some(true), Some(false)),
        )
        .await
        .unwrap();
    assert_eq!(a.engine.cached_keys(), 1);
}

#[tokio::test]
async fn agents_override_and_fail_closed() {
    let a = alice().await;
    let e = &a.engine;
    let to_bob = message("alice@example.org", "bob@example.org");
    let only_sign = e
        .outgoing(
            &actor(),
            (to_bob).to_vec(),
            &support(),
            &asked(None, Some(false)),
        )
        .await
        .unwrap();
    assert!(only_sign.signed && !only_sign.encrypted);
    assert!(String::from_utf8_lossy(&only_sign.message).contains("multipart/signed"));
    let plain = e
        .outgoing(
            &actor(),
            (to_bob).to_vec(),
            &support(),
            &asked(Some(false), Some(false)),
        )
        .await
        .unwrap();
    assert_eq!(plain.message, to_bob, "neither: unchanged");

    // Asked for encryption to someone without a certificate: an error
    // naming the address, and no message.
    let to_nobody = message("alice@example.org", "bob@example.org, nobody@example.org");
    match e
        .outgoing(
            &actor(),
            (to_nobody).to_vec(),
            &support(),
            &asked(None, Some(true)),
        )
        .await
    {
        Err(Error::NotPossible { operation, message }) => {
            assert_eq!(operation, "encrypt");
            assert!(
                message.contains("nobody@example.org has no certificate"),
                "{message}"
            );
        }
        other => panic!("expected NotPossible, got {:?}", other.map(|o| o.signed)),
    }
    // Not asked: the default applies only where possible (sign only).
    let auto = e
        .outgoing(
            &actor(),
            (to_nobody).to_vec(),
            &support(),
            &asked(None, None),
        )
        .await
        .unwrap();
    assert!(auto.signed && !auto.encrypted);
    // A sender that cannot sign, asked to sign: refused.
    group(e, "carol-desk", "carol@example.org", None, None).await;
    let err = e
        .outgoing(
            &actor(),
            (to_bob).to_vec(),
            &Sender::Address("carol@example.org".into()),
            &asked(Some(true), Some(false)),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("carol@example.org has no private key"),
        "{err}"
    );

    // Switched off: pass-through without flags, error with them.
    switch(e, false).await;
    let through = e
        .outgoing(&actor(), (to_bob).to_vec(), &support(), &asked(None, None))
        .await
        .unwrap();
    assert_eq!(through.message, to_bob);
    assert!(through.notes[0].contains("disabled"));
    assert!(matches!(
        e.outgoing(
            &actor(),
            (to_bob).to_vec(),
            &support(),
            &asked(Some(true), None)
        )
        .await,
        Err(Error::Disabled)
    ));
}

#[tokio::test]
async fn ec_keys_gcm_and_oaep_round_trip() {
    // Bob (EC P-256) signs and encrypts to Carol (EC P-384) and Alice (RSA, OAEP).
    let sender = side(&[
        (files::CHAIN, None),
        (files::BOB, None),
        (files::BOB_KEY, None),
        (files::CAROL, None),
        (files::ALICE, None),
    ])
    .await;
    group(&sender.engine, "ec", "bob@example.org", None, None).await;
    let raw = message("bob@example.org", "carol@example.org, alice@example.org");
    for (cipher, oaep) in [
        (ContentCipher::Aes256Cbc, false),
        (ContentCipher::Aes256Gcm, false),
        (ContentCipher::Aes256Cbc, true),
    ] {
        let out = sender
            .engine
            .outgoing(
                &actor(),
                (raw).to_vec(),
                &Sender::Group("ec".into()),
                &OutgoingRequest {
                    sign: Some(true),
                    encrypt: Some(true),
                    cipher: Some(cipher),
                    rsa_oaep: Some(oaep),
                    recipients: None,
                },
            )
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&out.message);
        if cipher == ContentCipher::Aes256Gcm {
            assert!(text.contains("smime-type=authEnveloped-data"));
        }
        for (keys, who) in [
            (
                vec![
                    (files::CHAIN, None),
                    (files::CAROL, None),
                    (files::CAROL_KEY, None),
                ],
                "carol",
            ),
            (
                vec![(files::CHAIN, None), (files::ALICE_BUNDLE, None)],
                "alice",
            ),
        ] {
            let reader = side(&keys).await;
            let read = reader
                .engine
                .incoming(&actor(), (out.message).to_vec())
                .await
                .unwrap()
                .processed;
            let enc = read.report.encryption.unwrap();
            assert_eq!(
                enc.code,
                DecryptCode::Decrypted,
                "{who} {cipher:?} oaep={oaep}"
            );
            let sign = read.report.sign.unwrap();
            assert_eq!(sign.code, SignCode::Verified, "{who}: {sign:?}");
        }
    }
}

#[tokio::test]
async fn incoming_codes_and_retry() {
    let a = alice().await;
    let signed = a
        .engine
        .outgoing(
            &actor(),
            (message("alice@example.org", "bob@example.org")).to_vec(),
            &support(),
            &asked(Some(true), Some(false)),
        )
        .await
        .unwrap()
        .message;
    let encrypted = a
        .engine
        .outgoing(
            &actor(),
            (message("alice@example.org", "bob@example.org")).to_vec(),
            &support(),
            &asked(Some(true), Some(true)),
        )
        .await
        .unwrap()
        .message;

    // A receiver that knows nobody: unknown signer, no key.
    let r = side(&[]).await;
    let report = r
        .engine
        .incoming(&actor(), (signed).to_vec())
        .await
        .unwrap()
        .processed
        .report;
    assert_eq!(report.sign.as_ref().unwrap().code, SignCode::UnknownSigner);
    assert!(report.sign.unwrap().comment.contains("not trusted"));
    let report = r
        .engine
        .incoming(&actor(), (encrypted).to_vec())
        .await
        .unwrap()
        .processed
        .report;
    assert_eq!(report.encryption.as_ref().unwrap().code, DecryptCode::NoKey);
    assert!(!report.signed, "the signature inside is out of reach");

    // Retry after the CA and the key were imported.
    import(&r.store, files::CA, None).await;
    let report = r
        .engine
        .incoming(&actor(), (signed).to_vec())
        .await
        .unwrap()
        .processed
        .report;
    assert_eq!(report.sign.unwrap().code, SignCode::Verified);
    import(&r.store, files::BOB, None).await;
    import(&r.store, files::BOB_KEY, None).await;
    let report = r
        .engine
        .incoming(&actor(), (encrypted).to_vec())
        .await
        .unwrap()
        .processed
        .report;
    assert_eq!(report.encryption.unwrap().code, DecryptCode::Decrypted);
    assert_eq!(report.sign.unwrap().code, SignCode::Verified);

    // Trusting the signer's own certificate is enough too.
    let direct = side(&[(files::ALICE, None)]).await;
    let report = direct
        .engine
        .incoming(&actor(), (signed).to_vec())
        .await
        .unwrap()
        .processed
        .report;
    assert_eq!(report.sign.unwrap().code, SignCode::Verified);

    // Changed after signing.
    let text = String::from_utf8(signed.clone()).unwrap();
    let tampered = text.replace("solved", "unsolved");
    assert_ne!(tampered, text);
    let report = r
        .engine
        .incoming(&actor(), (tampered.as_bytes()).to_vec())
        .await
        .unwrap()
        .processed
        .report;
    let sign = report.sign.unwrap();
    assert_eq!(sign.code, SignCode::BadSignature);
    assert_eq!(sign.signer.unwrap().email_addresses, ["alice@example.org"]);

    // Someone else's From.
    let forged = text.replacen("From: alice@example.org", "From: ceo@example.org", 1);
    let report = r
        .engine
        .incoming(&actor(), (forged.as_bytes()).to_vec())
        .await
        .unwrap()
        .processed
        .report;
    let sign = report.sign.unwrap();
    assert_eq!(sign.code, SignCode::SignerNotSender);
    assert!(sign.comment.contains("ceo@example.org"), "{}", sign.comment);

    // LF-only copies verify (canonicalised before checking).
    let lf = text.replace("\r\n", "\n");
    let report = r
        .engine
        .incoming(&actor(), (lf.as_bytes()).to_vec())
        .await
        .unwrap()
        .processed
        .report;
    assert_eq!(report.sign.unwrap().code, SignCode::Verified);

    // Broken encryption. Damage to the recipient info: the same uniform
    // failure for any cause. Damage to the CBC content: never "decrypted
    // and verified".
    // Encrypted to Bob alone (a sender without a certificate of its own).
    group(&a.engine, "helpdesk", "helpdesk@example.org", None, None).await;
    let to_bob_only = a
        .engine
        .outgoing(
            &actor(),
            (message("helpdesk@example.org", "bob@example.org")).to_vec(),
            &Sender::Address("helpdesk@example.org".into()),
            &asked(Some(false), Some(true)),
        )
        .await
        .unwrap()
        .message;
    let enc_text = String::from_utf8(to_bob_only).unwrap();
    let body_at = enc_text.find("\r\n\r\n").unwrap() + 4;
    let damage = |at: usize| {
        let mut bytes = enc_text.clone().into_bytes();
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        bytes
    };
    for at in [100, 150, 200] {
        let report = r
            .engine
            .incoming(&actor(), (damage(body_at + at)).to_vec())
            .await
            .unwrap()
            .processed
            .report;
        let enc = report.encryption.unwrap();
        assert!(
            matches!(
                enc.code,
                DecryptCode::DecryptionFailed | DecryptCode::Malformed
            ),
            "damage at {at}: {enc:?}"
        );
    }
    let late = damage(body_at + (enc_text.len() - body_at) / 2);
    let report = r
        .engine
        .incoming(&actor(), (late).to_vec())
        .await
        .unwrap()
        .processed
        .report;
    let all_good = report.encryption.as_ref().is_some_and(|e| e.success)
        && report.sign.as_ref().is_some_and(|s| s.success);
    assert!(!all_good, "{report:?}");

    // Not S/MIME: passed through with type null; not a message: an error.
    let plain = message("x@example.org", "y@example.org");
    let p = r
        .engine
        .incoming(&actor(), (plain).to_vec())
        .await
        .unwrap()
        .processed;
    assert_eq!(p.report.kind, None);
    assert_eq!(p.message, plain);
    assert!(r.engine.incoming(&actor(), (b"").to_vec()).await.is_err());

    // Switched off: nothing is processed, and the report says why.
    switch(&r.engine, false).await;
    let p = r
        .engine
        .incoming(&actor(), (signed).to_vec())
        .await
        .unwrap()
        .processed;
    assert_eq!(p.report.sign.unwrap().code, SignCode::Disabled);
    assert_eq!(p.message, signed);
}

#[tokio::test]
async fn nested_layers_are_all_reported() {
    // Sign+encrypt, then sign again (as a list server might): three layers.
    let a = alice().await;
    let inner = a
        .engine
        .outgoing(
            &actor(),
            (message("alice@example.org", "bob@example.org")).to_vec(),
            &support(),
            &asked(Some(true), Some(true)),
        )
        .await
        .unwrap()
        .message;
    let outer = a
        .engine
        .outgoing(
            &actor(),
            (inner).to_vec(),
            &support(),
            &asked(Some(true), Some(false)),
        )
        .await
        .unwrap();
    let b = bob().await;
    let read = b
        .engine
        .incoming(&actor(), (outer.message).to_vec())
        .await
        .unwrap()
        .processed;
    let kinds: Vec<&str> = read.report.layers.iter().map(|l| l.kind()).collect();
    assert_eq!(kinds, ["signed", "encrypted", "signed"]);
    assert!(read.report.layers.iter().all(|l| l.success()));
    assert!(String::from_utf8_lossy(&read.message).contains("solved"));
}

/// The engine remembers its store lookups per store generation; a change
/// made through another handle to the same database (another instance)
/// must count from the next message on, and fail closed where it should.
#[tokio::test]
async fn remembered_lookups_end_with_any_change_on_any_instance() {
    let a = alice().await;
    let url = format!("sqlite://{}?mode=rwc", a._dir.path().join("db").display());
    let other = Store::open(&url, MasterKey::from_bytes([3; 32]))
        .await
        .unwrap();
    let to_bob = message("alice@example.org", "bob@example.org");
    let both = asked(Some(true), Some(true));
    let out = a
        .engine
        .outgoing(&actor(), (to_bob).to_vec(), &support(), &both)
        .await
        .unwrap();
    assert!(out.signed && out.encrypted);
    let remembered = a.engine.remembered_lookups();
    assert!(
        remembered >= 4,
        "group, settings, two addresses: {remembered}"
    );
    a.engine
        .outgoing(&actor(), (to_bob).to_vec(), &support(), &both)
        .await
        .unwrap();
    assert_eq!(
        a.engine.remembered_lookups(),
        remembered,
        "served from memory"
    );

    // Bob's certificate goes on the other instance: encryption is refused.
    let bob = other.candidates_for_email("bob@example.org").await.unwrap();
    other
        .delete_certificate(bob[0].certificate.fingerprint(), "test")
        .await
        .unwrap();
    match a
        .engine
        .outgoing(&actor(), (to_bob).to_vec(), &support(), &both)
        .await
    {
        Err(Error::NotPossible { operation, message }) => {
            assert_eq!(operation, "encrypt");
            assert!(message.contains("bob@example.org"), "{message}");
        }
        other => panic!("must fail closed, got {:?}", other.map(|o| o.encrypted)),
    }

    // A group default changed there is the composer's preset here.
    group_on(&other, "support", "alice@example.org", Some(false), None).await;
    let options = a
        .engine
        .security_options(&actor(), &support(), &["carol@example.org".into()])
        .await
        .unwrap();
    assert!(options.sign.possible && !options.sign.default);

    // A token is remembered once found; revoked there, it is refused here
    // at the next request, and a new one made there is known here.
    let secret = other
        .create_token("desk", smimed_store::Role::Agent, "test")
        .await
        .unwrap();
    let first = a.engine.authenticate(&secret).await.unwrap();
    assert_eq!(first.map(|t| t.name().to_string()).as_deref(), Some("desk"));
    let remembered = a.engine.remembered_lookups();
    assert!(a.engine.authenticate(&secret).await.unwrap().is_some());
    assert_eq!(a.engine.remembered_lookups(), remembered, "from memory");
    other.revoke_token("desk", "test").await.unwrap();
    assert!(a.engine.authenticate(&secret).await.unwrap().is_none());
    let again = other
        .create_token("desk", smimed_store::Role::Admin, "test")
        .await
        .unwrap();
    assert!(a.engine.authenticate(&secret).await.unwrap().is_none());
    let renewed = a.engine.authenticate(&again).await.unwrap().unwrap();
    assert_eq!(renewed.role(), smimed_store::Role::Admin);

    // S/MIME switched off there: nothing is signed here.
    other.set_enabled(false, "test").await.unwrap();
    let out = a
        .engine
        .outgoing(&actor(), (to_bob).to_vec(), &support(), &asked(None, None))
        .await
        .unwrap();
    assert!(!out.signed && !out.encrypted && !out.notes.is_empty());
}

/// A request's message sees the store at the generation its token was
/// checked at (one generation query per request, not two), as if it had
/// started then (what is remembered for that generation, or newer); a
/// moment only: after a second, it reads the generation again.
#[tokio::test]
async fn a_request_sees_the_store_as_its_token_was_checked_for_a_moment_only() {
    let a = alice().await;
    let url = format!("sqlite://{}?mode=rwc", a._dir.path().join("db").display());
    let other = Store::open(&url, MasterKey::from_bytes([3; 32]))
        .await
        .unwrap();
    let secret = other
        .create_token("desk", smimed_store::Role::Agent, "test")
        .await
        .unwrap();
    let desk = a.engine.authenticate(&secret).await.unwrap().unwrap();
    let to_bob = message("alice@example.org", "bob@example.org");
    let both = asked(Some(true), Some(true));
    let out = a
        .engine
        .outgoing(&desk, to_bob.to_vec(), &support(), &both)
        .await
        .unwrap();
    assert!(out.signed && out.encrypted);
    other.set_enabled(false, "test").await.unwrap();

    // Checked before the switch: the request is as old as its check, and
    // what was remembered then answers it.
    let out = a
        .engine
        .outgoing(&desk, to_bob.to_vec(), &support(), &both)
        .await
        .unwrap();
    assert!(out.signed && out.encrypted);
    // A request checked after it, and the same one a second later, see it.
    let now = a.engine.authenticate(&secret).await.unwrap().unwrap();
    for who in [&now, &actor()] {
        assert!(matches!(
            a.engine
                .outgoing(who, to_bob.to_vec(), &support(), &both)
                .await,
            Err(Error::Disabled)
        ));
    }
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert!(matches!(
        a.engine
            .outgoing(&desk, to_bob.to_vec(), &support(), &both)
            .await,
        Err(Error::Disabled)
    ));
}

async fn group_on(
    store: &Store,
    name: &str,
    email: &str,
    sign: Option<bool>,
    encrypt: Option<bool>,
) {
    let group = Group {
        name: name.into(),
        email: email.into(),
        default_sign: sign,
        default_encrypt: encrypt,
    };
    store.set_group(&group, "test", "").await.unwrap();
}

/// A message signed by Alice (sign only), carrying her intermediate CA.
async fn signed_by_alice() -> Vec<u8> {
    let a = alice().await;
    a.engine
        .outgoing(
            &actor(),
            message("alice@example.org", "bob@example.org"),
            &support(),
            &asked(Some(true), Some(false)),
        )
        .await
        .unwrap()
        .message
}

/// How many certificates wait for an admin's decision.
async fn waiting(engine: &Engine) -> i64 {
    engine
        .pending_certificates(&actor(), 1, 50)
        .await
        .unwrap()
        .total
}

/// The audit actions recorded, oldest first.
async fn audit_actions(store: &Store) -> Vec<String> {
    let mut entries = store.audit_entries(1000, 0).await.unwrap();
    entries.reverse();
    entries.into_iter().map(|e| e.action).collect()
}

fn fingerprint_of(name: &str) -> String {
    smime::bundle::parse(&fixture(name), None)
        .unwrap()
        .certificates[0]
        .fingerprint()
        .to_string()
}

#[tokio::test]
async fn a_signer_a_stored_ca_vouches_for_becomes_a_contact_trusted_only_through_it() {
    let signed = signed_by_alice().await;
    let alice_fp = fingerprint_of(files::ALICE);
    let r = side(&[(files::CA, None)]).await;

    let received = r.engine.incoming(&actor(), signed.clone()).await.unwrap();
    let report = &received.processed.report;
    assert_eq!(report.sign.as_ref().unwrap().code, SignCode::Verified);
    assert_eq!(report.learned, std::slice::from_ref(&alice_fp));
    assert!(report.pending.is_empty());
    let json = serde_json::to_value(report).unwrap();
    assert_eq!(json["learned"][0], alice_fp.as_str());
    // Alice's certificate is kept; the intermediate CA she carried is not
    // (a message never adds trust).
    let stored: Vec<String> = r
        .store
        .list_certificates()
        .await
        .unwrap()
        .iter()
        .map(|c| c.certificate.info().subject.clone())
        .collect();
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert!(stored.iter().any(|s| s.contains("Alice")), "{stored:?}");
    let candidates = r
        .store
        .candidates_for_email("alice@example.org")
        .await
        .unwrap();
    assert_eq!(candidates.len(), 1);
    assert!(candidates[0].learned);
    let listed = r
        .engine
        .certificates(&actor(), &Default::default(), 1, 50)
        .await
        .unwrap();
    let alice_row = listed
        .items
        .iter()
        .find(|c| c.info.fingerprint == alice_fp)
        .unwrap();
    assert!(alice_row.learned);
    assert_eq!(serde_json::to_value(alice_row).unwrap()["learned"], true);
    assert!(
        audit_actions(&r.store)
            .await
            .contains(&"certificate.learn".to_string())
    );

    // Known now: the next message from her learns nothing, and verifies.
    let report = r.engine.incoming(&actor(), signed.clone()).await.unwrap();
    let report = report.processed.report;
    assert_eq!(report.sign.unwrap().code, SignCode::Verified);
    assert!(report.learned.is_empty());

    // Without the CA, the learned certificate vouches for nothing: it was
    // trusted through the CA, never as itself; and it does not go pending.
    let ca_fp = fingerprint_of(files::CA);
    r.engine.delete_certificate(&actor(), &ca_fp).await.unwrap();
    let report = r.engine.incoming(&actor(), signed.clone()).await.unwrap();
    let report = report.processed.report;
    assert_eq!(report.sign.unwrap().code, SignCode::UnknownSigner);
    assert!(report.pending.is_empty());
    assert_eq!(waiting(&r.engine).await, 0);

    // An admin's import of the same certificate makes it trusted as itself.
    import(&r.store, files::ALICE, None).await;
    let report = r.engine.incoming(&actor(), signed).await.unwrap();
    assert_eq!(
        report.processed.report.sign.unwrap().code,
        SignCode::Verified
    );
}

#[tokio::test]
async fn a_valid_signature_without_a_trusted_path_waits_for_an_admin() {
    let signed = signed_by_alice().await;
    let alice_fp = fingerprint_of(files::ALICE);
    let r = side(&[]).await;

    let first = r.engine.incoming(&actor(), signed.clone()).await.unwrap();
    let report = &first.processed.report;
    assert_eq!(report.sign.as_ref().unwrap().code, SignCode::UnknownSigner);
    assert_eq!(report.pending, std::slice::from_ref(&alice_fp));
    assert!(report.learned.is_empty());
    // Waiting is not trusting: nothing is stored.
    assert!(r.store.list_certificates().await.unwrap().is_empty());
    let second = r.engine.incoming(&actor(), signed.clone()).await.unwrap();
    assert_eq!(
        second.processed.report.pending,
        std::slice::from_ref(&alice_fp)
    );

    let page = r
        .engine
        .pending_certificates(&actor(), 1, 50)
        .await
        .unwrap();
    assert_eq!(page.total, 1);
    let p = &page.items[0];
    assert_eq!(p.fingerprint, alice_fp);
    assert_eq!(p.sender, "alice@example.org");
    assert_eq!((p.messages_seen, p.messages_kept), (2, 2));
    // Agents cannot decide.
    let agent = Actor::token("agent", smimed_store::Role::Agent);
    assert!(matches!(
        r.engine.accept_pending(&agent, &alice_fp).await,
        Err(Error::Forbidden)
    ));
    // A prefix does not name it.
    assert!(matches!(
        r.engine.accept_pending(&actor(), &alice_fp[..16]).await,
        Err(Error::Invalid(_))
    ));

    // Accepting stores it and checks both kept messages again.
    let upper = alice_fp.to_uppercase();
    let accepted = r.engine.accept_pending(&actor(), &upper).await.unwrap();
    assert_eq!(accepted.fingerprint, alice_fp);
    let mut ids: Vec<&str> = accepted.retried.iter().map(|m| m.id.as_str()).collect();
    ids.sort();
    let mut expected = [first.id.as_str(), second.id.as_str()];
    expected.sort();
    assert_eq!(ids, expected);
    assert!(accepted.retried.iter().all(|m| m.sign == Some("verified")));
    let kept = r.store.incoming_message(&first.id).await.unwrap();
    assert!(kept.report.contains("\"verified\""), "{}", kept.report);
    assert_eq!(r.store.list_certificates().await.unwrap().len(), 1);
    assert_eq!(waiting(&r.engine).await, 0);
    assert!(
        audit_actions(&r.store)
            .await
            .contains(&"certificate.accept".to_string())
    );
    // Decided: a second accept finds nothing.
    assert!(matches!(
        r.engine.accept_pending(&actor(), &alice_fp).await,
        Err(Error::Store(smimed_store::Error::NoPending(_)))
    ));
    let report = r.engine.incoming(&actor(), signed).await.unwrap();
    let report = report.processed.report;
    assert_eq!(report.sign.unwrap().code, SignCode::Verified);
    assert!(report.pending.is_empty() && report.learned.is_empty());
}

#[tokio::test]
async fn a_rejected_certificate_is_not_offered_again() {
    let signed = signed_by_alice().await;
    let alice_fp = fingerprint_of(files::ALICE);
    let r = side(&[]).await;
    r.engine.incoming(&actor(), signed.clone()).await.unwrap();
    r.engine.reject_pending(&actor(), &alice_fp).await.unwrap();
    assert!(
        audit_actions(&r.store)
            .await
            .contains(&"certificate.reject".to_string())
    );
    let report = r.engine.incoming(&actor(), signed).await.unwrap();
    let report = report.processed.report;
    assert_eq!(report.sign.unwrap().code, SignCode::UnknownSigner);
    assert!(report.pending.is_empty());
    assert_eq!(waiting(&r.engine).await, 0);
    assert!(r.store.list_certificates().await.unwrap().is_empty());
    assert!(matches!(
        r.engine.accept_pending(&actor(), &alice_fp).await,
        Err(Error::Store(smimed_store::Error::NoPending(_)))
    ));
}

#[tokio::test]
async fn nothing_is_learned_from_failed_or_foreign_signatures_or_when_switched_off() {
    let signed = signed_by_alice().await;
    let text = String::from_utf8(signed.clone()).unwrap();
    let tampered = text.replace("solved", "unsolved").into_bytes();
    let forged = text
        .replacen("From: alice@example.org", "From: ceo@example.org", 1)
        .into_bytes();
    for with_ca in [false, true] {
        let imports: &[(&str, Option<&str>)] = if with_ca { &[(files::CA, None)] } else { &[] };
        let r = side(imports).await;
        for (what, message, code) in [
            ("changed", &tampered, SignCode::BadSignature),
            ("another author", &forged, SignCode::SignerNotSender),
        ] {
            let report = r.engine.incoming(&actor(), message.clone()).await.unwrap();
            let report = report.processed.report;
            let sign = report.sign.unwrap();
            // Without the CA, the forged From is found before the author.
            if with_ca || code == SignCode::BadSignature {
                assert_eq!(sign.code, code, "{what}");
            }
            assert!(report.learned.is_empty(), "{what}, CA {with_ca}");
            assert!(report.pending.is_empty(), "{what}, CA {with_ca}");
        }
        assert_eq!(
            r.store.list_certificates().await.unwrap().len(),
            imports.len()
        );
        assert_eq!(waiting(&r.engine).await, 0);

        // Switched off: a good signature keeps nothing either.
        let patch = SettingsPatch {
            learn_certificates: Some(false),
            ..SettingsPatch::default()
        };
        let settings = r.engine.update_settings(&actor(), &patch).await.unwrap();
        assert!(!settings.learn_certificates);
        let report = r.engine.incoming(&actor(), signed.clone()).await.unwrap();
        let report = report.processed.report;
        assert!(report.learned.is_empty() && report.pending.is_empty());
        assert_eq!(
            r.store.list_certificates().await.unwrap().len(),
            imports.len()
        );
        assert_eq!(waiting(&r.engine).await, 0);
    }
}

/// Imports the files at `paths` into `store` whole (as the CLI would).
async fn import_paths(store: &Store, paths: &[&std::path::Path]) {
    let mut pem = Vec::new();
    for p in paths {
        pem.extend(std::fs::read(p).unwrap());
    }
    import_pem(store, &pem).await;
}

/// Imports the certificates of `pem` into `store` whole.
async fn import_pem(store: &Store, pem: &[u8]) {
    let bundle = smime::bundle::parse(pem, None).unwrap();
    assert!(
        store
            .import(bundle, None, &|_| {}, "test")
            .await
            .unwrap()
            .stored
    );
}

#[tokio::test]
async fn a_crl_revokes_a_signer_and_a_recipient_and_marks_the_certificate() {
    if !testpki::openssl_ca::available() {
        eprintln!("SKIPPED: the openssl command is needed to run a CA (openssl ca)");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let ca = testpki::openssl_ca::OpensslCa::new(root.path(), "ca", "/O=Shop/CN=Shop CA", "v3_ca");
    let (user_pem, user_key) = ca.issue("user", "user@shop.example");
    let crl_before = ca.crl("before.crl", 24);

    // The user signs with smimed of their own.
    let u = side(&[]).await;
    import_paths(&u.store, &[&ca.certificate_path(), &user_pem, &user_key]).await;
    group(&u.engine, "shop", "user@shop.example", None, None).await;
    let signed = u
        .engine
        .outgoing(
            &actor(),
            message("user@shop.example", "help@example.net"),
            &Sender::Group("shop".into()),
            &asked(Some(true), Some(false)),
        )
        .await
        .unwrap()
        .message;

    // The helpdesk trusts the CA and holds its CRL from before.
    let r = side(&[]).await;
    import_paths(&r.store, &[&ca.certificate_path()]).await;
    let imported = r
        .engine
        .import_crl(&actor(), crl_before.clone(), "import")
        .await
        .unwrap();
    assert!(imported.revoked.is_empty() && !imported.replaced);
    let report = r.engine.incoming(&actor(), signed.clone()).await.unwrap();
    let report = report.processed.report;
    assert_eq!(report.sign.unwrap().code, SignCode::Verified);
    let user_fp = report.learned[0].clone();
    group(&r.engine, "help", "help@example.net", None, None).await;
    let reply = message("help@example.net", "user@shop.example");
    let to_user = asked(Some(false), Some(true));
    let help = Sender::Group("help".into());
    r.engine
        .outgoing(&actor(), reply.clone(), &help, &to_user)
        .await
        .unwrap();

    // The same CRL again changes nothing; garbage and a CRL of nobody
    // stored are refused.
    let again = r.engine.import_crl(&actor(), crl_before, "import").await;
    assert!(
        matches!(&again, Err(Error::Invalid(m)) if m.contains("not newer")),
        "{again:?}"
    );
    assert!(
        r.engine
            .import_crl(&actor(), b"garbage".to_vec(), "import")
            .await
            .is_err()
    );
    let stranger =
        testpki::openssl_ca::OpensslCa::new(root.path(), "other", "/CN=Other CA", "v3_ca");
    let foreign = r
        .engine
        .import_crl(&actor(), stranger.crl("other.crl", 24), "import")
        .await;
    assert!(foreign.is_err(), "{foreign:?}");

    // The user is revoked: the new CRL names the stored certificate.
    ca.revoke("user");
    let imported = r
        .engine
        .import_crl(&actor(), ca.crl("after.crl", 24), "import")
        .await
        .unwrap();
    assert_eq!(imported.revoked, std::slice::from_ref(&user_fp));
    assert!(imported.replaced);
    let crls = r.engine.crls(&actor()).await.unwrap();
    assert_eq!((crls.len(), crls[0].revoked_stored), (1, 1));

    // A message that verified before is revoked now, naming the CRL.
    let report = r.engine.incoming(&actor(), signed.clone()).await.unwrap();
    let sign = report.processed.report.sign.unwrap();
    assert_eq!(sign.code, SignCode::Revoked);
    assert!(sign.comment.contains("CRL of"), "{}", sign.comment);
    // Another certificate stored (a new generation): the parsed CRLs are
    // kept, and still revoke.
    import(&r.store, files::BOB, None).await;
    let report = r.engine.incoming(&actor(), signed).await.unwrap();
    assert_eq!(
        report.processed.report.sign.unwrap().code,
        SignCode::Revoked
    );

    // Never encrypted to, and the reason says why.
    let refused = r.engine.outgoing(&actor(), reply, &help, &to_user).await;
    match refused {
        Err(Error::NotPossible { message, .. }) => {
            assert!(message.contains("revoked"), "{message}")
        }
        other => panic!("{:?}", other.map(|o| o.message.len())),
    }
    // The list shows it, and filters it among those with issues.
    let filter = smimed_engine::CertificateFilter {
        has_issues: Some(true),
        ..Default::default()
    };
    let page = r
        .engine
        .certificates(&actor(), &filter, 1, 50)
        .await
        .unwrap();
    let row = page
        .items
        .iter()
        .find(|c| c.info.fingerprint == user_fp)
        .expect("the revoked certificate among those with issues");
    assert!(
        row.issues.iter().any(|i| i.code() == "revoked"),
        "{:?}",
        row.issues
    );

    // A certificate that arrives after its CRL is marked at once.
    let late = side(&[]).await;
    import_paths(&late.store, &[&ca.certificate_path()]).await;
    late.engine
        .import_crl(&actor(), ca.crl("late.crl", 24), "import")
        .await
        .unwrap();
    let bundle = smime::bundle::parse(&std::fs::read(&user_pem).unwrap(), None).unwrap();
    late.engine
        .import(
            &actor(),
            zeroize::Zeroizing::new(std::fs::read(&user_pem).unwrap()),
            None,
            smimed_engine::ImportKind::Certificates,
            &|_| {},
        )
        .await
        .unwrap();
    let listed = late.engine.certificate(&actor(), &user_fp).await.unwrap();
    assert_eq!(bundle.certificates[0].fingerprint(), user_fp);
    assert!(listed.issues.iter().any(|i| i.code() == "revoked"));

    // Without the CA, its CRL goes too.
    r.engine
        .delete_certificate(&actor(), ca_fp(&ca).as_str())
        .await
        .unwrap();
    assert!(r.engine.crls(&actor()).await.unwrap().is_empty());
}

fn ca_fp(ca: &testpki::openssl_ca::OpensslCa) -> String {
    smime::bundle::parse(&std::fs::read(ca.certificate_path()).unwrap(), None)
        .unwrap()
        .certificates[0]
        .fingerprint()
        .to_string()
}

#[tokio::test]
async fn a_crl_finds_the_few_it_revokes_among_ten_thousand_stored_certificates() {
    if !testpki::openssl_ca::available() {
        eprintln!("SKIPPED: the openssl command is needed to run a CA (openssl ca)");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let ca = testpki::openssl_ca::OpensslCa::new(root.path(), "ca", "/O=Big/CN=Big CA", "v3_ca");
    let bulk = testpki::BulkCa::from_pem(
        &std::fs::read(ca.certificate_path()).unwrap(),
        &std::fs::read(ca.dir.join("ca.key")).unwrap(),
    )
    .unwrap();
    let key = testpki::ec_p256().unwrap();
    let mut pem = std::fs::read(ca.certificate_path()).unwrap();
    let mut revoked = Vec::new();
    for i in 0..10_000 {
        let cert = bulk.issue(&key, &format!("user{i}@big.example")).unwrap();
        let cert_pem = cert.to_pem().unwrap();
        if i % 3_333 == 7 {
            // Revoked with the CA's own tool, as an admin would.
            let file = format!("revoked{i}.pem");
            std::fs::write(ca.dir.join(&file), &cert_pem).unwrap();
            ca.revoke(file.trim_end_matches(".pem"));
            let der = cert.to_der().unwrap();
            revoked.push(
                smime::Certificate::from_der(&der)
                    .unwrap()
                    .fingerprint()
                    .to_string(),
            );
        }
        pem.extend(cert_pem);
    }
    let crl = ca.crl("big.crl", 24);
    let r = side(&[]).await;
    import_pem(&r.store, &pem).await;

    let imported = r.engine.import_crl(&actor(), crl, "import").await.unwrap();
    let mut found = imported.revoked.clone();
    found.sort();
    revoked.sort();
    assert_eq!(revoked.len(), 3);
    assert_eq!(found, revoked);
    assert_eq!(imported.entries, 3);
}
