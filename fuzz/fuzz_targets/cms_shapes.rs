//! A structure-aware generator of hostile CMS shapes (issue 12): the input
//! chooses which repeated field of a valid structure to fill (digest
//! algorithms, certificates, CRLs, signers, signed or unsigned attributes,
//! recipients, the recipients of one key agreement, an OriginatorInfo's
//! certificates or CRLs), with what element and how many times (0 to
//! 40,000, as an attacker would, not only what fits in a small input),
//! in definite or indefinite length form, optionally cut or with one byte
//! changed, and the result goes through `incoming::process` as a message,
//! at the top or inside another S/MIME layer.
//!
//! The seeds are made once per process with the test PKI: a detached
//! SignedData by alice (`smime::sign`), an opaque one (OpenSSL's
//! `CMS_sign`), an EnvelopedData to alice (smimed's own encoder) and an
//! AuthEnvelopedData to alice and bob (OpenSSL: key transport and key
//! agreement). Each is checked to verify or decrypt before fuzzing starts.
//!
//! Besides "no panic, no hang, no OOM": when the structure is intact but
//! for the repeated field, a count over the policy's bound gives a
//! `malformed` layer whose comment names the field and the exact count,
//! and a count within the bound never gives that message. An outer layer
//! around the hostile one always succeeds.
//!
//! Input layout (missing bytes read as 0), see `Shape::decode`:
//! seed, field, count mode, count (2 bytes), element source, element
//! index, flags, cut position (3 bytes), change position (3 bytes), change
//! value, element tag or offset, then the element's own contents.

#![no_main]

mod common;

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::stack::Stack;
use smime::Certificate;
use smime::encrypt::{ContentCipher, EncryptOptions};
use smime::incoming::{DecryptCode, Layer, process};
use smime::sign::{Signer, sign};
use smime::verify::SignCode;
use testpki::der::{self, cms};

const ENTITY: &[u8] = b"Content-Type: text/plain; charset=us-ascii\r\n\r\nShapes.\r\n";
const HEADER: &[u8] =
    b"From: alice@example.org\r\nTo: alice@example.org\r\nSubject: shapes\r\nDate: Thu, 26 Nov 2026 10:00:00 +0000\r\n";

/// The most copies asked for.
const MAX_COUNT: usize = 40_000;
/// The repeated field holds at most this many bytes: 40,000 digest
/// algorithms (600 KB) fit, 40,000 certificates (33 MB) do not; their
/// count is cut to what fits (about 2,500 of alice's certificate, 6,100
/// key transport recipients), still far over every bound.
const MAX_FIELD_BYTES: usize = 2 << 20;
/// What every bound's message says.
const TOO_MANY: &str = "smimed accepts at most";

/// `CMS_SHAPES_DEBUG=1`: print each shape and its result to stderr (to
/// replay a corpus and see what it holds).
static DEBUG: LazyLock<bool> = LazyLock::new(|| std::env::var_os("CMS_SHAPES_DEBUG").is_some());

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seed {
    /// `multipart/signed`, by `smime::sign`.
    Detached,
    /// `application/pkcs7-mime; smime-type=signed-data`, by OpenSSL.
    Opaque,
    /// EnvelopedData to alice, AES-256-CBC, by smimed's encoder.
    Enveloped,
    /// AuthEnvelopedData to alice (RSA) and bob (EC, key agreement).
    AuthEnveloped,
}

impl Seed {
    fn signed(self) -> bool {
        matches!(self, Seed::Detached | Seed::Opaque)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    DigestAlgorithms,
    Certificates,
    Crls,
    SignerInfos,
    SignedAttrs,
    UnsignedAttrs,
    RecipientInfos,
    /// `recipientEncryptedKeys` of the key agreement recipient: counted one
    /// by one among the recipients.
    KariKeys,
    OriginatorCerts,
    OriginatorCrls,
}

const SIGNED_FIELDS: [Field; 6] = [
    Field::DigestAlgorithms,
    Field::Certificates,
    Field::Crls,
    Field::SignerInfos,
    Field::SignedAttrs,
    Field::UnsignedAttrs,
];
const ENVELOPED_FIELDS: [Field; 4] = [
    Field::RecipientInfos,
    Field::KariKeys,
    Field::OriginatorCerts,
    Field::OriginatorCrls,
];

impl Field {
    /// The name `shape.rs` gives the field in its message.
    fn name(self) -> &'static str {
        match self {
            Field::DigestAlgorithms => "digestAlgorithms",
            Field::Certificates => "certificates",
            Field::Crls => "crls",
            Field::SignerInfos => "signerInfos",
            Field::SignedAttrs => "signedAttrs",
            Field::UnsignedAttrs => "unsignedAttrs",
            Field::RecipientInfos | Field::KariKeys => "recipientInfos",
            Field::OriginatorCerts => "originatorInfo certs",
            Field::OriginatorCrls => "originatorInfo crls",
        }
    }

    fn bound(self, limits: &smime::policy::CmsLimits) -> usize {
        match self {
            Field::DigestAlgorithms => limits.digest_algorithms,
            Field::Certificates | Field::OriginatorCerts => limits.certificates,
            Field::Crls | Field::OriginatorCrls => limits.crls,
            Field::SignerInfos => limits.signers,
            Field::SignedAttrs | Field::UnsignedAttrs => limits.attributes,
            Field::RecipientInfos | Field::KariKeys => limits.recipients,
        }
    }
}

/// Where the repeated element comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// A child the field already has (the seed's own), by index.
    Existing,
    /// An element made for the field (a CRL, an attribute, a certificate,
    /// a recipient naming a stranger, an unknown digest).
    Made,
    /// An existing child with one byte changed among its last 32 contents
    /// bytes: its length, and so the count, stays.
    Changed,
    /// `SEQUENCE {}`.
    Tiny,
    /// The rest of the input as the contents of one element, tag chosen.
    Input,
}

/// What one input asks for.
#[derive(Debug)]
struct Shape<'a> {
    seed: Seed,
    field: Field,
    count: usize,
    source: Source,
    index: usize,
    /// Write the repeated field with an indefinite length (BER).
    indefinite: bool,
    /// Put the hostile layer inside another one: signed structures are
    /// encrypted to alice, encrypted ones signed by alice.
    wrap: bool,
    /// Cut the structure at this offset (modulo its length).
    cut: Option<usize>,
    /// XOR the byte at this offset (modulo the length) with this value.
    change: Option<(usize, u8)>,
    /// Element tag (`Input`) or offset (`Changed`).
    tag: u8,
    contents: &'a [u8],
}

struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> usize {
        usize::from(self.u8()) | usize::from(self.u8()) << 8
    }
    fn u24(&mut self) -> usize {
        self.u16() | usize::from(self.u8()) << 16
    }
}

impl<'a> Shape<'a> {
    fn decode(data: &'a [u8], limits: &smime::policy::CmsLimits) -> Self {
        let mut b = Bytes(data);
        let seed = [
            Seed::Detached,
            Seed::Opaque,
            Seed::Enveloped,
            Seed::AuthEnveloped,
        ][usize::from(b.u8() % 4)];
        let pick = usize::from(b.u8());
        let field = if seed.signed() {
            SIGNED_FIELDS[pick % SIGNED_FIELDS.len()]
        } else {
            ENVELOPED_FIELDS[pick % ENVELOPED_FIELDS.len()]
        };
        let mode = b.u8();
        let value = b.u16();
        let bound = field.bound(limits);
        // Counts around the bound come often, huge ones often enough.
        let count = match mode % 4 {
            0 => value % 256,
            1 => (bound + value % 7).saturating_sub(3),
            2 => value % (MAX_COUNT + 1),
            _ => MAX_COUNT - value % 256,
        };
        let source = [
            Source::Existing,
            Source::Made,
            Source::Changed,
            Source::Tiny,
            Source::Input,
        ][usize::from(b.u8() % 5)];
        let index = usize::from(b.u8());
        let flags = b.u8();
        let cut = b.u24();
        let change = (b.u24(), b.u8());
        let tag = b.u8();
        Shape {
            seed,
            field,
            count,
            source,
            index,
            indefinite: flags & 1 != 0,
            wrap: flags & 2 != 0,
            cut: (flags & 4 != 0).then_some(cut),
            change: (flags & 8 != 0).then_some((change.0, change.1.max(1))),
            tag,
            contents: b.0,
        }
    }
}

/// A seed: its DER and where its fields are.
struct Structure {
    der: Vec<u8>,
    /// The SignedData's or (Auth)EnvelopedData's children.
    fields: Vec<der::Tlv>,
}

impl Structure {
    fn new(der: Vec<u8>) -> Self {
        let fields = der::children(&der, der::at_path(&der, cms::CONTENT));
        Structure { der, fields }
    }
    /// The index of the first field with `tag`.
    fn field(&self, tag: u8) -> Option<usize> {
        self.fields.iter().position(|t| t.tag == tag)
    }
}

struct Seeds {
    detached: Structure,
    opaque: Structure,
    enveloped: Structure,
    auth_enveloped: Structure,
    /// alice's certificate, DER.
    certificate: Vec<u8>,
    /// A CRL of the intermediate CA (unsigned: OpenSSL parses CRLs in a
    /// SignedData, it checks them only when asked to).
    crl: Vec<u8>,
}

fn path(base: &[usize], more: &[usize]) -> Vec<usize> {
    [base, more].concat()
}

/// The DER inside a `multipart/signed` or `application/pkcs7-mime` entity
/// that smimed wrote.
fn der_of(entity: &[u8]) -> Vec<u8> {
    let (header, body) = smime::mime::split_header_body(entity);
    let header = String::from_utf8_lossy(header);
    let body = match header.split("boundary=\"").nth(1) {
        Some(rest) => {
            let boundary = &rest[..rest.find('"').expect("a quoted boundary")];
            let parts = smime::mime::split_multipart(body, boundary);
            smime::mime::split_header_body(parts[1]).1
        }
        None => body,
    };
    smime::mime::decode_base64_lines(body).expect("smimed writes base64")
}

/// A CRL of `issuer`, with a zero signature: OpenSSL parses the CRLs of a
/// SignedData and checks them only when asked to.
fn crl(issuer: &Certificate) -> Vec<u8> {
    let name = issuer.subject_name_der().expect("a subject");
    // sha256WithRSAEncryption, NULL parameters.
    let alg = der::encode(
        0x30,
        &[
            der::encode(
                0x06,
                &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b],
            ),
            vec![0x05, 0x00],
        ]
        .concat(),
    );
    let tbs = der::encode(
        0x30,
        &[
            vec![0x02, 0x01, 0x01],
            alg.clone(),
            name,
            der::encode(0x17, b"260101000000Z"),
            der::encode(0x17, b"360101000000Z"),
        ]
        .concat(),
    );
    der::encode(0x30, &[tbs, alg, der::encode(0x03, &[0u8; 257])].concat())
}

static SEEDS: LazyLock<Seeds> = LazyLock::new(|| {
    let pki = &*common::PKI;
    let (alice, alice_key) = pki.alice();
    let (bob, _) = pki.bob();
    let signer = Signer {
        certificate: alice,
        key: alice_key,
        chain: pki.chain(),
    };
    let detached = der_of(&sign(ENTITY, &signer).expect("alice signs"));
    let mut chain = Stack::new().expect("a stack");
    for c in pki.chain() {
        chain.push(c.x509().to_owned()).expect("push");
    }
    let opaque = CmsContentInfo::sign(
        Some(alice.x509()),
        Some(alice_key.pkey()),
        Some(&chain),
        Some(ENTITY),
        CMSOptions::BINARY,
    )
    .and_then(|c| c.to_der())
    .expect("OpenSSL signs");
    let encrypt = |to: &[&Certificate], cipher| {
        der_of(
            &smime::encrypt::encrypt(
                ENTITY,
                to,
                EncryptOptions {
                    cipher,
                    rsa_oaep: false,
                },
            )
            .expect("encrypts"),
        )
    };
    let seeds = Seeds {
        detached: Structure::new(detached),
        opaque: Structure::new(opaque),
        enveloped: Structure::new(encrypt(&[alice], ContentCipher::Aes256Cbc)),
        auth_enveloped: Structure::new(encrypt(&[alice, bob], ContentCipher::Aes256Gcm)),
        certificate: alice.der().to_vec(),
        crl: crl(&pki.chain()[0]),
    };
    // Every seed is good as it is, so that what the generator changes is
    // what makes the difference.
    for seed in [
        Seed::Detached,
        Seed::Opaque,
        Seed::Enveloped,
        Seed::AuthEnveloped,
    ] {
        let s = seeds.get(seed);
        let report = run(&message(seed, &s.der, false)).report;
        assert!(
            matches!(report.layers.as_slice(), [layer] if layer.success()),
            "{seed:?}: {report:?}"
        );
    }
    let kari = seeds.auth_enveloped.field(0x31).and_then(|ri| {
        let p = path(cms::CONTENT, &[ri]);
        let set = der::at_path(&seeds.auth_enveloped.der, &p);
        der::children(&seeds.auth_enveloped.der, set)
            .iter()
            .position(|t| t.tag == 0xa1)
    });
    assert!(kari.is_some(), "bob is a key agreement recipient");
    seeds
});

impl Seeds {
    fn get(&self, seed: Seed) -> &Structure {
        match seed {
            Seed::Detached => &self.detached,
            Seed::Opaque => &self.opaque,
            Seed::Enveloped => &self.enveloped,
            Seed::AuthEnveloped => &self.auth_enveloped,
        }
    }
}

/// Runs a message through the receiving side of the test PKI.
fn run(message: &[u8]) -> smime::incoming::Processed {
    let pki = &*common::PKI;
    let keys = pki.keys();
    let processed = process(message, &pki.context(&keys)).expect("a message with a From field");
    let report = &processed.report;
    serde_json::to_vec(report).expect("report serialises");
    assert!(
        report.layers.len() <= pki.policy.max_layers + 1,
        "{report:?}"
    );
    processed
}

/// `der` as the message that carries it; `wrap` puts it inside another
/// layer first.
fn message(seed: Seed, der: &[u8], wrap: bool) -> Vec<u8> {
    let entity = match seed {
        Seed::Detached => smime::mime::multipart_signed(b"", ENTITY, der, "sha-256"),
        Seed::Opaque => smime::mime::pkcs7_mime(b"", "signed-data", der),
        Seed::Enveloped => smime::mime::pkcs7_mime(b"", "enveloped-data", der),
        Seed::AuthEnveloped => smime::mime::pkcs7_mime(b"", "authEnveloped-data", der),
    };
    let entity = if !wrap {
        entity
    } else {
        let pki = &*common::PKI;
        let (alice, alice_key) = pki.alice();
        if seed.signed() {
            smime::encrypt::encrypt(&entity, &[alice], EncryptOptions::default()).expect("encrypts")
        } else {
            let signer = Signer {
                certificate: alice,
                key: alice_key,
                chain: pki.chain(),
            };
            sign(&entity, &signer).expect("signs")
        }
    };
    [HEADER, &entity].concat()
}

/// A container element: `tag`, then the elements, in DER or BER form.
fn container(tag: u8, elements: &[u8], indefinite: bool) -> Vec<u8> {
    if indefinite {
        [&[tag, 0x80][..], elements, &[0, 0]].concat()
    } else {
        der::encode(tag, elements)
    }
}

/// `der` with `new` inserted as the `index`th child of the element at
/// `parent`.
fn insert(der_: &[u8], parent: &[usize], index: usize, new: &[u8]) -> Vec<u8> {
    let p = der::at_path(der_, parent);
    let kids = der::children(der_, p);
    let at = kids.get(index).map_or(p.end, |t| t.start);
    let contents = [&der_[p.contents..at], new, &der_[at..p.end]].concat();
    der::replace(der_, parent, &der::encode(p.tag, &contents))
}

/// A signed attribute: a second signingTime (OpenSSL refuses it, and the
/// signature does not cover it anyway).
fn signed_attribute() -> Vec<u8> {
    der::encode(
        0x30,
        &[
            der::encode(
                0x06,
                &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x05],
            ),
            der::encode(0x31, &der::encode(0x17, b"261126100000Z")),
        ]
        .concat(),
    )
}

/// An unsigned attribute OpenSSL does not check: a private OID
/// (1.3.6.1.4.1.99999.1) with an OCTET STRING. (A signingTime there makes
/// OpenSSL refuse the signer: that attribute must be signed.)
fn unsigned_attribute() -> Vec<u8> {
    der::encode(
        0x30,
        &[
            der::encode(
                0x06,
                &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x86, 0x8d, 0x1f, 0x01],
            ),
            der::encode(0x31, &der::encode(0x04, b"shapes")),
        ]
        .concat(),
    )
}

/// A key transport recipient that names a stranger: `ktri` with the last
/// byte of its serial number changed.
fn stranger(ktri: &[u8]) -> Option<Vec<u8>> {
    if ktri.first() != Some(&0x30) {
        return None;
    }
    let rid = der::at_path(ktri, &[1]);
    let serial = *der::children(ktri, rid).get(1)?;
    let mut out = ktri.to_vec();
    out[serial.end - 1] ^= 0x5a;
    Some(out)
}

/// The structure with the field filled, and how many elements the bound
/// is checked against.
fn build(shape: &Shape<'_>, seeds: &Seeds) -> (Vec<u8>, usize) {
    let s = seeds.get(shape.seed);
    let d = &s.der;
    let content = cms::CONTENT;
    // The existing container of the field (its path), if the seed has one,
    // and how to put a new one in: (parent, index, tag).
    let last = s.fields.len() - 1;
    let signer = path(content, &[last, 0]);
    let recipients = s.field(0x31).map(|i| path(content, &[i]));
    let kari = recipients.as_ref().and_then(|p| {
        der::children(d, der::at_path(d, p))
            .iter()
            .position(|t| t.tag == 0xa1)
            .map(|i| path(p, &[i]))
    });
    let (existing, tag): (Option<Vec<usize>>, u8) = match shape.field {
        Field::DigestAlgorithms => (Some(path(content, &[1])), 0x31),
        Field::Certificates => (s.field(0xa0).map(|i| path(content, &[i])), 0xa0),
        Field::Crls => (s.field(0xa1).map(|i| path(content, &[i])), 0xa1),
        Field::SignerInfos => (Some(path(content, &[last])), 0x31),
        Field::SignedAttrs => (
            der::children(d, der::at_path(d, &signer))
                .iter()
                .position(|t| t.tag == 0xa0)
                .map(|i| path(&signer, &[i])),
            0xa0,
        ),
        Field::UnsignedAttrs => (
            der::children(d, der::at_path(d, &signer))
                .iter()
                .position(|t| t.tag == 0xa1)
                .map(|i| path(&signer, &[i])),
            0xa1,
        ),
        Field::RecipientInfos => (recipients.clone(), 0x31),
        // recipientEncryptedKeys is the last field of the key agreement;
        // the seed without one repeats its recipients instead.
        Field::KariKeys => match &kari {
            Some(k) => {
                let n = der::children(d, der::at_path(d, k)).len();
                (Some(path(k, &[n - 1])), 0x30)
            }
            None => (recipients.clone(), 0x31),
        },
        Field::OriginatorCerts | Field::OriginatorCrls => (None, 0),
    };
    let kids: Vec<Vec<u8>> = existing
        .as_ref()
        .map(|p| {
            der::children(d, der::at_path(d, p))
                .iter()
                .map(|t| d[t.start..t.end].to_vec())
                .collect()
        })
        .unwrap_or_default();
    let existing_child = (!kids.is_empty()).then(|| kids[shape.index % kids.len()].clone());
    let made = || match shape.field {
        // An unknown digest (1.2.3.4).
        Field::DigestAlgorithms => der::encode(0x30, &[0x06, 0x03, 0x2a, 0x03, 0x04]),
        Field::Certificates | Field::OriginatorCerts => seeds.certificate.clone(),
        Field::Crls | Field::OriginatorCrls => seeds.crl.clone(),
        Field::SignerInfos => der::encode(0x30, &[0x02, 0x01, 0x01]),
        Field::SignedAttrs => signed_attribute(),
        Field::UnsignedAttrs => unsigned_attribute(),
        Field::RecipientInfos => kids
            .first()
            .and_then(|k| stranger(k))
            .unwrap_or_else(|| der::encode(0x30, &[])),
        Field::KariKeys => der::encode(0x30, &[]),
    };
    let element = match shape.source {
        Source::Existing => existing_child.unwrap_or_else(made),
        Source::Made => made(),
        Source::Changed => {
            let mut e = existing_child.unwrap_or_else(made);
            let t = der::read(&e, 0);
            let span = (t.end - t.contents).min(32);
            if span > 0 {
                let at = t.end - 1 - usize::from(shape.tag) % span;
                e[at] ^= 0xa5;
            }
            e
        }
        Source::Tiny => der::encode(0x30, &[]),
        Source::Input => {
            // A tag smimed's reader takes: not a high tag number, and not
            // 0, which ends an indefinite length.
            let tag = match shape.tag {
                0 => 0x30,
                t if t & 0x1f == 0x1f => t & !1,
                t => t,
            };
            der::encode(tag, shape.contents)
        }
    };
    let count = shape.count.min(MAX_FIELD_BYTES / element.len().max(1));
    let elements = element.repeat(count);
    let edited = match shape.field {
        Field::OriginatorCerts | Field::OriginatorCrls => {
            let inner = if shape.field == Field::OriginatorCerts {
                0xa0
            } else {
                0xa1
            };
            let info = der::encode(0xa0, &container(inner, &elements, shape.indefinite));
            insert(d, content, 1, &info)
        }
        _ => {
            let new = container(tag, &elements, shape.indefinite);
            match existing {
                Some(p) => der::replace(d, &p, &new),
                // CRLs go before the signerInfos, unsigned attributes at
                // the end of the signer.
                None if shape.field == Field::Crls => insert(d, content, last, &new),
                None => insert(d, &signer, usize::MAX, &new),
            }
        }
    };
    // The recipients of a key agreement are counted with the others (one
    // each: key transport).
    let counted = match (shape.field, &kari, &recipients) {
        (Field::KariKeys, Some(_), Some(r)) => {
            der::children(d, der::at_path(d, r)).len() - 1 + count
        }
        _ => count,
    };
    (edited, counted)
}

fuzz_target!(|data: &[u8]| {
    let pki = &*common::PKI;
    let seeds = &*SEEDS;
    let limits = &pki.policy.limits;
    let shape = Shape::decode(data, limits);
    let (mut der_, counted) = build(&shape, seeds);
    let intact = shape.cut.is_none() && shape.change.is_none();
    if let Some((at, value)) = shape.change {
        let at = at % der_.len();
        der_[at] ^= value;
    }
    if let Some(at) = shape.cut {
        der_.truncate(at % der_.len());
    }
    let report = run(&message(shape.seed, &der_, shape.wrap)).report;
    if *DEBUG {
        eprintln!(
            "{shape:?}: {} bytes, {counted} counted; {:?}",
            der_.len(),
            report
                .layers
                .iter()
                .map(|l| format!("{}: {}", l.code(), l.comment()))
                .collect::<Vec<_>>()
        );
    }

    let layers = &report.layers;
    let hostile = if shape.wrap {
        let outer = layers.first().expect("the outer layer");
        assert!(outer.success(), "the outer layer: {report:?}");
        layers.get(1)
    } else {
        layers.first()
    };
    let hostile = hostile.unwrap_or_else(|| panic!("no hostile layer: {shape:?}\n{report:?}"));
    if !intact {
        return;
    }
    let (malformed, comment) = match hostile {
        Layer::Signed { result, .. } => (result.code == SignCode::Malformed, &result.comment),
        Layer::Encrypted(r) => (r.code == DecryptCode::Malformed, &r.comment),
        other => panic!("an unknown layer: {other:?}"),
    };
    assert_eq!(
        matches!(hostile, Layer::Signed { .. }),
        shape.seed.signed(),
        "{report:?}"
    );
    let bound = shape.field.bound(limits);
    if counted > bound {
        let named = format!("it lists {counted} ");
        let field = format!("({}); {TOO_MANY} {bound}", shape.field.name());
        assert!(
            malformed && comment.contains(&named) && comment.contains(&field),
            "{counted} elements of {} (bound {bound}) must be refused by name: {shape:?}\n{report:?}",
            shape.field.name()
        );
    } else {
        assert!(
            !comment.contains(TOO_MANY),
            "{counted} elements of {} are within the bound {bound}: {shape:?}\n{report:?}",
            shape.field.name()
        );
    }
});
