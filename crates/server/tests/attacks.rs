//! Attacks on "verified" and "encrypted", through the HTTP API (issue 12).
//! Every hostile input is built here, in code, with OpenSSL: signatures
//! with thousands of repeated elements, contacts that mint certificates,
//! signed content that claims another author, backdated signatures by an
//! expired key, weak algorithms. docs/security.md has a section per class.

use axum::http::{Method, StatusCode};
use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::stack::Stack;
use openssl::symm::Cipher;
use openssl::x509::X509;
use serde_json::{Value, json};
use testpki::der::{self, cms};
use testpki::files;
use testpki::hostile::{self, SignedData};

mod common;

type Svc = common::Service;

/// The signed (or encrypted) entity of every test message.
const ENTITY: &[u8] =
    b"Content-Type: text/plain; charset=utf-8\r\n\r\nPlease pay invoice 4711 today.\r\n";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(testpki::Pki::committed().path(name)).unwrap()
}

fn cert(name: &str) -> X509 {
    X509::from_pem(&fixture(name)).unwrap()
}

fn key(name: &str) -> PKey<Private> {
    PKey::private_key_from_pem(&fixture(name)).unwrap()
}

/// S/MIME on; the test PKI's chain, Alice with her key, Bob, Expired and
/// Weak; the group `support` sends as Alice.
async fn svc() -> Svc {
    let s = common::service().await;
    s.import_fixtures(&[
        files::CHAIN,
        files::ALICE,
        files::ALICE_KEY,
        files::BOB,
        files::EXPIRED,
        files::WEAK,
    ])
    .await;
    s.enable_with_group("support", "alice@example.org").await;
    s
}

async fn settings(s: &Svc, patch: Value) {
    let (status, body) = s
        .admin(
            Method::PUT,
            "/api/v1/settings",
            "application/json",
            patch.to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn import_pem(s: &Svc, pem: Vec<u8>) -> Value {
    let (status, body) = s.admin(Method::POST, "/api/v1/certificates", "", pem).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn stack(certs: &[&X509]) -> Stack<X509> {
    let mut stack = Stack::new().unwrap();
    for c in certs {
        stack.push((*c).clone()).unwrap();
    }
    stack
}

/// A detached signature over [`ENTITY`] made by OpenSSL, carrying the
/// signer and `extra`.
fn detached(signer: &X509, key: &PKey<Private>, extra: &[&X509]) -> Vec<u8> {
    let flags = CMSOptions::DETACHED | CMSOptions::BINARY;
    CmsContentInfo::sign(
        Some(signer),
        Some(key),
        Some(&stack(extra)),
        Some(ENTITY),
        flags,
    )
    .unwrap()
    .to_der()
    .unwrap()
}

/// An opaque signature (signed-data with the content inside).
fn opaque(signer: &X509, key: &PKey<Private>, carry_certificates: bool) -> Vec<u8> {
    let mut flags = CMSOptions::BINARY;
    if !carry_certificates {
        flags |= CMSOptions::CMS_NOCERTS;
    }
    CmsContentInfo::sign(Some(signer), Some(key), None, Some(ENTITY), flags)
        .unwrap()
        .to_der()
        .unwrap()
}

/// `header` (CRLF lines) around a `multipart/signed` of [`ENTITY`].
fn clear_signed(header: &str, signature: &[u8]) -> Vec<u8> {
    smime::mime::multipart_signed(header.as_bytes(), ENTITY, signature, "sha-256")
}

/// `header` around an `application/pkcs7-mime` part.
fn pkcs7(header: &str, smime_type: &str, der: &[u8]) -> Vec<u8> {
    smime::mime::pkcs7_mime(header.as_bytes(), smime_type, der)
}

fn header(from: &str) -> String {
    format!("From: {from}\r\nTo: support@example.org\r\nSubject: Invoice\r\n")
}

/// The report's outermost signature result.
async fn sign_result(s: &Svc, message: Vec<u8>) -> Value {
    let (status, v) = s.incoming(message).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v["report"]["sign"].clone()
}

fn code(result: &Value) -> &str {
    result["code"].as_str().unwrap_or("")
}

fn comment(result: &Value) -> &str {
    result["comment"].as_str().unwrap_or("")
}

fn readable(v: &Value) -> String {
    let b64 = v["message"].as_str().unwrap();
    String::from_utf8(openssl::base64::decode_block(b64).unwrap()).unwrap()
}

async fn healthy(s: &Svc) {
    let (status, _) = s.request(Method::GET, "/healthz", None, "", vec![]).await;
    assert_eq!(status, StatusCode::OK);
}

// ---------------------------------------------------------------------------
// 1. Counted before parsed: one mail must not crash the process.

#[tokio::test]
async fn fifteen_thousand_digest_algorithms_are_malformed_and_the_service_stays_up() {
    let s = svc().await;
    let (alice, alice_key) = (cert(files::ALICE), key(files::ALICE_KEY));
    let from = header("alice@example.org");

    // At the bound the signature is as good as ever: digestAlgorithms is
    // not covered by the signature.
    let sixteen = der::repeat_first_child(
        &detached(&alice, &alice_key, &[]),
        cms::DIGEST_ALGORITHMS,
        16,
    );
    let r = sign_result(&s, clear_signed(&from, &sixteen)).await;
    assert_eq!(code(&r), "verified", "{r}");

    let detached_sig = der::repeat_first_child(
        &detached(&alice, &alice_key, &[]),
        cms::DIGEST_ALGORITHMS,
        15_000,
    );
    assert!(detached_sig.len() > 150_000, "{}", detached_sig.len());
    let opaque_sig = der::repeat_first_child(
        &opaque(&alice, &alice_key, true),
        cms::DIGEST_ALGORITHMS,
        15_000,
    );
    for message in [
        clear_signed(&from, &detached_sig),
        pkcs7(&from, "signed-data", &opaque_sig),
    ] {
        let r = sign_result(&s, message).await;
        assert_eq!(code(&r), "malformed", "{r}");
        assert!(
            comment(&r).contains("digestAlgorithms") && comment(&r).contains("15000"),
            "{r}"
        );
        healthy(&s).await;
    }
}

#[tokio::test]
async fn signers_certificates_and_recipients_are_bounded_by_name() {
    let s = svc().await;
    let (alice, alice_key) = (cert(files::ALICE), key(files::ALICE_KEY));
    let from = header("alice@example.org");
    let sig = detached(&alice, &alice_key, &[]);
    let signed_data = der::at_path(&sig, cms::CONTENT);
    let fields = der::children(&sig, signed_data);
    let certs = fields.iter().position(|t| t.tag == 0xa0).unwrap();
    let signers = fields
        .iter()
        .position(|t| t.tag == 0x31 && t.start > fields[2].start)
        .unwrap();
    for (index, n, field) in [(certs, 65, "certificates"), (signers, 17, "signerInfos")] {
        let path = [cms::CONTENT, &[index]].concat();
        let hostile = der::repeat_first_child(&sig, &path, n);
        let r = sign_result(&s, clear_signed(&from, &hostile)).await;
        assert_eq!(code(&r), "malformed", "{field}: {r}");
        assert!(comment(&r).contains(field), "{r}");
    }

    // 20,000 recipient infos naming nobody stored: refused by count,
    // before OpenSSL reads (or anyone tries) a single one.
    let env = CmsContentInfo::encrypt(
        &stack(&[&alice]),
        ENTITY,
        Cipher::aes_256_cbc(),
        CMSOptions::BINARY,
    )
    .unwrap()
    .to_der()
    .unwrap();
    let recipients = [cms::CONTENT, &[1]].concat();
    let many = der::repeat_first_child(&env, &recipients, 20_000);
    let (status, v) = s.incoming(pkcs7(&from, "enveloped-data", &many)).await;
    assert_eq!(status, StatusCode::OK);
    let enc = &v["report"]["encryption"];
    assert_eq!(enc["code"], "malformed", "{v}");
    assert!(
        enc["comment"].as_str().unwrap().contains("recipientInfos"),
        "{enc}"
    );
    // At the bound it is an ordinary message to Alice.
    let thousand = der::repeat_first_child(&env, &recipients, 1000);
    let (_, v) = s.incoming(pkcs7(&from, "enveloped-data", &thousand)).await;
    assert_eq!(v["report"]["encryption"]["code"], "decrypted", "{v}");
    healthy(&s).await;
}

// ---------------------------------------------------------------------------
// 2. A stored contact certificate is trusted as itself and never issues.

#[tokio::test]
async fn a_stored_contact_certificate_never_issues() {
    let s = svc().await;
    let ceo_key = hostile::rsa_key(2048).unwrap();

    // (a) A self-signed contact whose keyUsage allows keyCertSign.
    let partner_key = hostile::rsa_key(2048).unwrap();
    let partner =
        hostile::contact_that_can_sign_certificates("partner@partner.example", &partner_key, None)
            .unwrap();
    // (b) A v1 self-signed contact (no extensions, address in the DN).
    let legacy_key = hostile::rsa_key(2048).unwrap();
    let legacy = hostile::v1("Legacy", Some("legacy@partner.example"), &legacy_key, None).unwrap();
    for contact in [&partner, &legacy] {
        let report = import_pem(&s, contact.to_pem().unwrap()).await;
        assert_eq!(report["certificates"][0]["outcome"], "imported");
    }
    let legacy_fp = smime::Certificate::from_x509(legacy.clone()).unwrap();
    let path = format!("/api/v1/certificates/{}", legacy_fp.fingerprint());
    let (_, stored) = s.admin(Method::GET, &path, "", vec![]).await;
    assert_eq!(
        stored["kind"], "end_entity",
        "a v1 contact is no CA: {stored}"
    );

    for (issuer, issuer_key, sender) in [
        (&partner, &partner_key, "partner@partner.example"),
        (&legacy, &legacy_key, "legacy@partner.example"),
    ] {
        let ceo = hostile::user("ceo@example.org", &ceo_key, Some((issuer, issuer_key))).unwrap();
        let sig = detached(&ceo, &ceo_key, &[issuer]);
        // The Sender field names the contact: it must not pick an anchor.
        let head = format!("{}Sender: {sender}\r\n", header("ceo@example.org"));
        let r = sign_result(&s, clear_signed(&head, &sig)).await;
        assert_eq!(code(&r), "unknown_signer", "issued by {sender}: {r}");
        assert_eq!(r["success"], false);

        // The contact signing as itself is fine.
        let own = detached(issuer, issuer_key, &[]);
        let r = sign_result(&s, clear_signed(&header(sender), &own)).await;
        assert_eq!(code(&r), "verified", "{sender} as itself: {r}");
    }

    // (c) A certificate issued by the stored intermediate CA that is no CA
    // itself (keyCertSign, no basicConstraints), carried in the message as
    // an intermediate: OpenSSL alone would accept the path.
    let (int, int_key) = (cert(files::INTERMEDIATE), key(files::INTERMEDIATE_KEY));
    let sub_key = hostile::rsa_key(2048).unwrap();
    let sub = hostile::contact_that_can_sign_certificates(
        "sub@example.org",
        &sub_key,
        Some((&int, &int_key)),
    )
    .unwrap();
    let ceo = hostile::user("ceo@example.org", &ceo_key, Some((&sub, &sub_key))).unwrap();
    let sig = detached(&ceo, &ceo_key, &[&sub, &int]);
    let r = sign_result(&s, clear_signed(&header("ceo@example.org"), &sig)).await;
    assert_eq!(code(&r), "unknown_signer", "{r}");
    // OpenSSL 3 refuses it itself ("invalid CA certificate"), and smimed
    // checks every issuer's basicConstraints after it too.
    assert!(comment(&r).contains("CA"), "{r}");
}

// ---------------------------------------------------------------------------
// 3. Header fields beside a valid signature.

#[tokio::test]
async fn signed_content_cannot_speak_for_the_outer_header() {
    let s = svc().await;
    // Bob's certificate is stored; his key signs content that claims to
    // come from the CEO about something urgent.
    let (bob, bob_key) = (cert(files::BOB), key(files::BOB_KEY));
    let inner = b"From: The CEO <ceo@example.org>\r\nSubject: URGENT: pay now\r\nContent-Type: text/plain\r\n\r\nPay 50,000 to the account below.\r\n";
    let sig = CmsContentInfo::sign(
        Some(&bob),
        Some(&bob_key),
        None,
        Some(inner),
        CMSOptions::DETACHED | CMSOptions::BINARY,
    )
    .unwrap()
    .to_der()
    .unwrap();
    let outer = "From: bob@example.org\r\nTo: support@example.org\r\nSubject: hello\r\n";
    let message = smime::mime::multipart_signed(outer.as_bytes(), inner, &sig, "sha-256");
    let (_, v) = s.incoming(message).await;
    assert_eq!(v["report"]["sign"]["code"], "verified", "{v}");
    assert_eq!(v["report"]["header_mismatch"], json!(["from", "subject"]));
    let text = readable(&v);
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.contains("From: bob@example.org") && head.contains("Subject: hello"));
    assert!(!head.contains("ceo@") && !head.contains("URGENT"), "{head}");
    assert!(body.contains("Pay 50,000"));

    // Two From fields, or two Sender fields: never verified.
    let (alice, alice_key) = (cert(files::ALICE), key(files::ALICE_KEY));
    let sig = detached(&alice, &alice_key, &[]);
    for (head, fields) in [
        (
            "From: alice@example.org\r\nFrom: ceo@example.org\r\n",
            "2 From fields",
        ),
        (
            "From: ceo@example.org\r\nFrom: alice@example.org\r\n",
            "2 From fields",
        ),
        (
            "From: alice@example.org\r\nSender: alice@example.org\r\nSender: ceo@example.org\r\n",
            "2 Sender fields",
        ),
    ] {
        let r = sign_result(&s, clear_signed(head, &sig)).await;
        assert_eq!(code(&r), "signer_not_sender", "{head}: {r}");
        assert!(comment(&r).contains(fields), "{r}");
    }
    // Sender alone never makes a signature verified.
    let head = "From: ceo@example.org\r\nSender: alice@example.org\r\n";
    let r = sign_result(&s, clear_signed(head, &sig)).await;
    assert_eq!(code(&r), "signer_not_sender", "{r}");
    assert!(comment(&r).contains("Sender field"), "{r}");
}

// ---------------------------------------------------------------------------
// 4. An expired key signs "in the past".

#[tokio::test]
async fn an_expired_key_cannot_sign_by_backdating() {
    let s = svc().await;
    // A CA valid for years around now, stored; a user certificate from it
    // that expired a year ago. Its key signs today, claiming a signingTime
    // inside the validity, when the whole path was valid.
    const YEAR: i64 = 365 * 86_400;
    let now = smime::now();
    let ca_key = hostile::rsa_key(2048).unwrap();
    let ca = hostile::ca("Old Partner CA", &ca_key, (now - 5 * YEAR, now + 5 * YEAR)).unwrap();
    import_pem(&s, ca.to_pem().unwrap()).await;
    let key = hostile::rsa_key(2048).unwrap();
    let validity = (now - 3 * YEAR, now - YEAR);
    let expired = hostile::user_valid(
        "former@partner.example",
        &key,
        Some((&ca, &ca_key)),
        validity,
    )
    .unwrap();
    let claimed = now - 2 * YEAR;
    let der = SignedData {
        content: ENTITY,
        detached: true,
        signer: (&expired, &key),
        digest: MessageDigest::sha256(),
        signing_time: Some(claimed),
        certificates: vec![&expired],
    }
    .to_der()
    .unwrap();
    let r = sign_result(&s, clear_signed(&header("former@partner.example"), &der)).await;
    assert_eq!(code(&r), "expired_signer", "{r}");
    let day = &smime::rfc3339(claimed)[..10];
    assert!(
        comment(&r).contains(day) && comment(&r).contains("cannot be checked"),
        "{r}"
    );
}

// ---------------------------------------------------------------------------
// 5. Whose identity and whose key.

#[tokio::test]
async fn only_a_group_address_signs_and_a_key_opens_only_its_own_mail() {
    let s = svc().await;
    let message =
        b"From: ceo@example.org\r\nTo: bob@example.org\r\nSubject: x\r\n\r\nhi\r\n".to_vec();
    let (status, v) = s.outgoing("from=ceo@example.org&sign=true", message).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["code"], "not_a_group_address");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ceo@example.org")
    );
    let ok = b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: x\r\n\r\nhi\r\n".to_vec();
    let (status, _) = s
        .outgoing("from=Support%20%3Calice@example.org%3E&sign=true", ok)
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the group's address, written with a name"
    );

    // A certificate with Alice's key that is not stored (say, from another
    // CA): mail to it is not opened with her stored key.
    let alice_key = key(files::ALICE_KEY);
    let other = hostile::user("alice@example.org", &alice_key, None).unwrap();
    let env = CmsContentInfo::encrypt(
        &stack(&[&other]),
        ENTITY,
        Cipher::aes_256_cbc(),
        CMSOptions::BINARY,
    )
    .unwrap()
    .to_der()
    .unwrap();
    let (_, v) = s
        .incoming(pkcs7(&header("bob@example.org"), "enveloped-data", &env))
        .await;
    assert_eq!(v["report"]["encryption"]["code"], "no_key", "{v}");
}

// ---------------------------------------------------------------------------
// 6. Real certificates, read right.

#[tokio::test]
async fn a_v1_root_is_a_ca_when_stored_and_real_results_are_named_right() {
    let s = svc().await;
    let root_key = hostile::rsa_key(2048).unwrap();
    let root = hostile::v1("Legacy Root CA", None, &root_key, None).unwrap();
    let report = import_pem(&s, root.to_pem().unwrap()).await;
    assert_eq!(report["certificates"][0]["outcome"], "imported", "{report}");
    assert_eq!(report["certificates"][0]["issues"], json!(["v1_root"]));
    let fp = smime::Certificate::from_x509(root.clone()).unwrap();
    let (_, listed) = s
        .admin(
            Method::GET,
            &format!("/api/v1/certificates/{}", fp.fingerprint()),
            "",
            vec![],
        )
        .await;
    assert_eq!(listed["kind"], "ca", "{listed}");
    let user_key = hostile::rsa_key(2048).unwrap();
    let user = hostile::user("legacy@example.org", &user_key, Some((&root, &root_key))).unwrap();
    let r = sign_result(
        &s,
        clear_signed(
            &header("legacy@example.org"),
            &detached(&user, &user_key, &[]),
        ),
    )
    .await;
    assert_eq!(code(&r), "verified", "{r}");

    // A stored certificate (self-signed: trusted as itself only) whose
    // address is not the sender's.
    let (alice, alice_key) = (cert(files::ALICE), key(files::ALICE_KEY));
    let partner_key = hostile::rsa_key(2048).unwrap();
    let partner = hostile::user("partner@partner.example", &partner_key, None).unwrap();
    import_pem(&s, partner.to_pem().unwrap()).await;
    let sig = detached(&partner, &partner_key, &[]);
    let r = sign_result(&s, clear_signed(&header("bob@example.org"), &sig)).await;
    assert_eq!(code(&r), "signer_not_sender", "{r}");
    assert!(comment(&r).contains("partner@partner.example"), "{r}");

    // An opaque signature by a stranger who sends no certificate: the
    // content is shown, unverified.
    let stranger_key = hostile::rsa_key(2048).unwrap();
    let stranger = hostile::user("stranger@else.example", &stranger_key, None).unwrap();
    let der = opaque(&stranger, &stranger_key, false);
    let (_, v) = s
        .incoming(pkcs7(&header("stranger@else.example"), "signed-data", &der))
        .await;
    assert_eq!(v["report"]["sign"]["code"], "unknown_signer", "{v}");
    assert!(readable(&v).contains("Please pay invoice 4711"), "{v}");

    // A truncated opaque signature: a failed signed layer of the opaque form.
    let der = opaque(&alice, &alice_key, true);
    let (_, v) = s
        .incoming(pkcs7(
            &header("alice@example.org"),
            "signed-data",
            &der[..der.len() / 2],
        ))
        .await;
    let report = &v["report"];
    assert_eq!(report["signed"], true, "{report}");
    assert_eq!(report["layers"][0]["opaque"], true, "{report}");
    assert_eq!(report["sign"]["code"], "malformed", "{report}");

    // RSA-1024 and TLS-only certificates do not spoil a bundle; they are
    // stored with their issues and never used.
    let bundle = [
        fixture(files::ALICE),
        fixture(files::WRONG_EKU),
        fixture(files::WEAK),
    ]
    .concat();
    let report = import_pem(&s, bundle).await;
    assert_eq!(report["stored"], true, "{report}");
    let issues: Vec<&Value> = report["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["issues"])
        .collect();
    assert!(
        issues[1]
            .as_array()
            .unwrap()
            .contains(&json!("not_usable_for_smime"))
    );
    assert!(issues[2].as_array().unwrap().contains(&json!("weak_key")));
    for (to, why) in [
        (
            "wrongeku@example.org",
            "no certificate usable for encryption",
        ),
        ("weak@example.org", "weak key"),
    ] {
        let body = json!({"group": "support", "to": [to]}).to_string();
        let (status, o) = s
            .call(
                Method::POST,
                "/api/v1/security-options",
                &s.agent,
                "application/json",
                body.into_bytes(),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(o["encryption"]["possible"], false, "{to}: {o}");
        assert!(
            o["encryption"]["message"].as_str().unwrap().contains(why),
            "{o}"
        );
    }
}

// ---------------------------------------------------------------------------
// 7. Weak algorithms.

#[tokio::test]
async fn weak_algorithms_are_named_and_never_verified() {
    let s = svc().await;
    let (alice, alice_key) = (cert(files::ALICE), key(files::ALICE_KEY));
    let signed_with = |digest| {
        SignedData {
            content: ENTITY,
            detached: true,
            signer: (&alice, &alice_key),
            digest,
            signing_time: Some(smime::now()),
            certificates: vec![&alice],
        }
        .to_der()
        .unwrap()
    };
    let from = header("alice@example.org");
    // Control: the same construction with SHA-256 verifies.
    let r = sign_result(
        &s,
        clear_signed(&from, &signed_with(MessageDigest::sha256())),
    )
    .await;
    assert_eq!(code(&r), "verified", "{r}");

    let r = sign_result(&s, clear_signed(&from, &signed_with(MessageDigest::md5()))).await;
    assert_eq!(code(&r), "weak_signature", "{r}");
    assert!(comment(&r).contains("MD5"), "{r}");

    let sha1 = clear_signed(&from, &signed_with(MessageDigest::sha1()));
    let r = sign_result(&s, sha1.clone()).await;
    assert_eq!(code(&r), "verified", "{r}");
    assert!(comment(&r).contains("SHA-1"), "{r}");
    settings(&s, json!({"reject_sha1": true})).await;
    let r = sign_result(&s, sha1).await;
    assert_eq!(code(&r), "weak_signature", "{r}");
    settings(&s, json!({"reject_sha1": false})).await;

    // An RSA-1024 signer, although its certificate chains to the stored CA.
    let (weak, weak_key) = (cert(files::WEAK), key(files::WEAK_KEY));
    let r = sign_result(
        &s,
        clear_signed(
            &header("weak@example.org"),
            &detached(&weak, &weak_key, &[]),
        ),
    )
    .await;
    assert_eq!(code(&r), "weak_signature", "{r}");
    assert!(comment(&r).contains("1024"), "{r}");

    // Never encrypted to: a weak key, a certificate whose issuer is missing.
    let orphan = import_pem(&s, fixture(files::ORPHAN)).await;
    assert_eq!(orphan["stored"], true);
    for (to, why) in [
        ("weak@example.org", "weak key"),
        ("orphan@example.org", "issuer is not in the store"),
    ] {
        let msg = format!("From: alice@example.org\r\nTo: {to}\r\nSubject: x\r\n\r\nhi\r\n");
        let (status, v) = s
            .outgoing("group=support&encrypt=true&sign=false", msg.into_bytes())
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{to}: {v}");
        assert!(v["error"]["message"].as_str().unwrap().contains(why), "{v}");
    }
}

// ---------------------------------------------------------------------------
// 8. The composer's API: defaults that cannot be honoured, addresses.

#[tokio::test]
async fn an_unhonoured_default_is_a_note_and_addresses_are_understood() {
    let s = svc().await;
    // The group encrypts by default; the recipient has no certificate.
    let msg = b"From: alice@example.org\r\nTo: nobody@example.net\r\nSubject: x\r\n\r\nhi\r\n";
    let body = json!({"group": "support", "message": openssl::base64::encode_block(msg)});
    let (status, v) = s
        .call(
            Method::POST,
            "/api/v1/outgoing",
            &s.agent,
            "application/json",
            body.to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        (v["signed"].clone(), v["encrypted"].clone()),
        (json!(true), json!(false))
    );
    let notes = v["notes"].to_string();
    assert!(
        notes.contains("default is to encrypt") && notes.contains("nobody@example.net"),
        "{notes}"
    );

    let options = |to: &str| {
        json!({"group": "support", "to": [to]})
            .to_string()
            .into_bytes()
    };
    let (status, o) = s
        .call(
            Method::POST,
            "/api/v1/security-options",
            &s.agent,
            "application/json",
            options("Bob <Bob@Example.org>"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(o["encryption"]["possible"], true, "{o}");
    let (status, e) = s
        .call(
            Method::POST,
            "/api/v1/security-options",
            &s.agent,
            "application/json",
            options("bob at example"),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(e["error"]["code"], "invalid_address");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"bob at example\""),
        "{e}"
    );
}
