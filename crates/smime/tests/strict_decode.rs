//! Issue 13: every SignedData and (Auth)EnvelopedData that smimed writes,
//! decoded by RustCrypto's `cms` crate, a strict DER decoder, unlike
//! OpenSSL and gpgsm, which read BER and forgive unsorted sets.
//!
//! smimed writes the SignedData (`sign.rs`) and the AES-256-CBC
//! EnvelopedData to RSA recipients (`encrypt.rs`) byte by byte; OpenSSL's
//! encoder writes AuthEnvelopedData and every envelope with an EC
//! recipient. For each shape the checks are, in this order:
//!
//! 1. the `ContentInfo` and its content decode with `from_der` (strict DER:
//!    minimal lengths, no indefinite lengths, right tags, no trailing
//!    bytes), and `to_der` gives back exactly the same bytes. The decoder
//!    sorts a `SET OF` silently, so this is what catches an unsorted set;
//! 2. every field has the value RFC 5652 (and RFC 5083, 5084, 4055, 5753,
//!    8551) wants for this shape, attribute values decoded strictly too;
//! 3. the signature verifies over the signed attributes as a `SET`, and
//!    smimed's own `decrypt` opens the envelope for every recipient.
//!
//! The checks return the first failure as text, so the negative tests at
//! the end can show which step refused a damaged structure.

use std::fmt::Display;

use cms::authenveloped_data::AuthEnvelopedData;
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::der::asn1::{Int, ObjectIdentifier, OctetString};
use cms::der::{Any, Decode, Encode, Tagged};
use cms::enveloped_data::{
    EncryptedContentInfo, EnvelopedData, KeyAgreeRecipientIdentifier, OriginatorIdentifierOrKey,
    RecipientIdentifier, RecipientInfo, RecipientInfos,
};
use cms::signed_data::{SignedData, SignerIdentifier};
use cms::spki::AlgorithmIdentifierOwned;
use cms::x509_cert::Certificate as X509;
use cms::x509_cert::time::Time;
use openssl::hash::MessageDigest;
use openssl::pkey::Id;
use smime::encrypt::{ContentCipher, EncryptOptions};
use smime::mime;
use smime::policy::CmsLimits;
use smime::{Certificate, PrivateKey};
use testpki::files;

mod common;

/// The first failed check, as a sentence.
type Check<T = ()> = Result<T, String>;

macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err(format!($($arg)+));
        }
    };
}

const fn oid(text: &str) -> ObjectIdentifier {
    ObjectIdentifier::new_unwrap(text)
}

// RFC 5652 §4, §5.1, §6.1; RFC 5083 §1.1.
const ID_DATA: ObjectIdentifier = oid("1.2.840.113549.1.7.1");
const ID_SIGNED_DATA: ObjectIdentifier = oid("1.2.840.113549.1.7.2");
const ID_ENVELOPED_DATA: ObjectIdentifier = oid("1.2.840.113549.1.7.3");
const ID_AUTH_ENVELOPED_DATA: ObjectIdentifier = oid("1.2.840.113549.1.9.16.1.23");
// RFC 5652 §11, RFC 8551 §2.5.2.
const ID_CONTENT_TYPE: ObjectIdentifier = oid("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = oid("1.2.840.113549.1.9.4");
const ID_SIGNING_TIME: ObjectIdentifier = oid("1.2.840.113549.1.9.5");
const ID_SMIME_CAPABILITIES: ObjectIdentifier = oid("1.2.840.113549.1.9.15");
// RFC 5754, RFC 3370 §3.2, RFC 5758 §3.2.
const ID_SHA256: ObjectIdentifier = oid("2.16.840.1.101.3.4.2.1");
const ID_SHA384: ObjectIdentifier = oid("2.16.840.1.101.3.4.2.2");
const RSA_ENCRYPTION: ObjectIdentifier = oid("1.2.840.113549.1.1.1");
const ECDSA_WITH_SHA256: ObjectIdentifier = oid("1.2.840.10045.4.3.2");
const ECDSA_WITH_SHA384: ObjectIdentifier = oid("1.2.840.10045.4.3.3");
// RFC 4055 §4.1.
const ID_RSAES_OAEP: ObjectIdentifier = oid("1.2.840.113549.1.1.7");
const ID_MGF1: ObjectIdentifier = oid("1.2.840.113549.1.1.8");
// RFC 3565, RFC 5084.
const AES128_CBC: ObjectIdentifier = oid("2.16.840.1.101.3.4.1.2");
const AES192_CBC: ObjectIdentifier = oid("2.16.840.1.101.3.4.1.22");
const AES256_CBC: ObjectIdentifier = oid("2.16.840.1.101.3.4.1.42");
const AES128_GCM: ObjectIdentifier = oid("2.16.840.1.101.3.4.1.6");
const AES256_GCM: ObjectIdentifier = oid("2.16.840.1.101.3.4.1.46");
const AES256_WRAP: ObjectIdentifier = oid("2.16.840.1.101.3.4.1.45");
// RFC 5753 §7.1.
const ID_EC_PUBLIC_KEY: ObjectIdentifier = oid("1.2.840.10045.2.1");
const ECDH_STD_SHA1_KDF: ObjectIdentifier = oid("1.3.133.16.840.63.0.2");
const ECDH_STD_SHA224_KDF: ObjectIdentifier = oid("1.3.132.1.11.0");
const ECDH_STD_SHA256_KDF: ObjectIdentifier = oid("1.3.132.1.11.1");
const ECDH_STD_SHA384_KDF: ObjectIdentifier = oid("1.3.132.1.11.2");
const ECDH_STD_SHA512_KDF: ObjectIdentifier = oid("1.3.132.1.11.3");

/// Strict DER in both directions: `from_der` accepts `der`, and `to_der`
/// of what it read gives back exactly `der`.
fn strict<'a, T>(what: &str, der: &'a [u8]) -> Check<T>
where
    T: Decode<'a> + Encode,
    <T as Decode<'a>>::Error: Display,
{
    let value =
        T::from_der(der).map_err(|e| format!("{what}: the strict DER decoder rejects it: {e}"))?;
    let again = value
        .to_der()
        .map_err(|e| format!("{what}: cannot be re-encoded: {e}"))?;
    if again != der {
        let at = again
            .iter()
            .zip(der)
            .position(|(a, b)| a != b)
            .unwrap_or(again.len().min(der.len()));
        return Err(format!(
            "{what}: re-encoding gives other bytes, so it is not canonical DER \
             (an unsorted SET OF, say): {} bytes read, {} re-encoded, first difference at offset {at}",
            der.len(),
            again.len()
        ));
    }
    Ok(value)
}

/// [`strict`] for a SignedData or an (Auth)EnvelopedData, with one
/// allowance for a bug of the `cms` crate (0.3.0-rc.0): it orders the
/// elements of a SET OF a CHOICE type (`RecipientInfo`,
/// `CertificateChoices`, `SignerIdentifier`) by `to_der()?.der_cmp(..)`,
/// and `Vec<u8>`'s `DerOrd` compares the bytes as a SEQUENCE OF INTEGER,
/// not as octet strings: two elements of the same length come out ordered
/// first by how many of their bytes are 0x80 or more (each such byte
/// makes the INTEGER one byte longer). So when the re-encoding
/// differs, it still passes if and only if the only difference is the order
/// of the elements of the set tagged `set_tag` among the structure's
/// fields (`recipientInfos`, `certificates`), and the order as written is
/// the one X.690 §11.6 wants.
fn strict_cms<'a, T>(what: &str, der: &'a [u8], set_tag: u8) -> Check<T>
where
    T: Decode<'a> + Encode,
    <T as Decode<'a>>::Error: Display,
{
    let error = match strict::<T>(what, der) {
        Ok(value) => return Ok(value),
        Err(e) if e.contains("re-encoding gives other bytes") => e,
        Err(e) => return Err(e),
    };
    let value = T::from_der(der).map_err(|e| e.to_string())?;
    let again = value.to_der().map_err(|e| e.to_string())?;
    let (Some(written), Some(mut reencoded)) = (tlv::parse(der), tlv::parse(&again)) else {
        return Err(error);
    };
    let set = |node: &tlv::Node| {
        tlv::children(node)
            .iter()
            .position(|field| field.tag == set_tag)
    };
    let (Some(i), Some(j)) = (set(&written), set(&reencoded)) else {
        return Err(error);
    };
    let as_written = tlv::children(&tlv::children(&written)[i]).to_vec();
    let encoded: Vec<Vec<u8>> = as_written.iter().map(tlv::encode).collect();
    if !encoded.is_sorted() {
        return Err(format!(
            "{error}; the set tagged {set_tag:#04x} is not in DER SET OF order as written"
        ));
    }
    if let tlv::Body::Constructed(fields) = &mut reencoded.body {
        fields[j].body = tlv::Body::Constructed(as_written);
    }
    if tlv::encode(&reencoded) == der {
        Ok(value)
    } else {
        Err(error)
    }
}

/// [`strict`] for a value the decoder left as `ANY` (an attribute value,
/// algorithm parameters).
fn strict_any<T>(what: &str, any: &Any) -> Check<T>
where
    T: for<'a> Decode<'a, Error = cms::der::Error> + Encode,
{
    let der = any
        .to_der()
        .map_err(|e| format!("{what}: cannot be re-encoded: {e}"))?;
    strict(what, &der)
}

/// The ContentInfo around `der`: strict, of type `expected`; returns the
/// DER of its content.
fn content_info(der: &[u8], expected: ObjectIdentifier) -> Check<Vec<u8>> {
    let info: ContentInfo = strict("ContentInfo", der)?;
    ensure!(
        info.content_type == expected,
        "ContentInfo: content type {}, expected {expected}",
        info.content_type
    );
    info.content
        .to_der()
        .map_err(|e| format!("ContentInfo: content cannot be re-encoded: {e}"))
}

fn x509(cert: &Certificate) -> X509 {
    X509::from_der(cert.der()).expect("a test certificate in strict DER")
}

/// `IssuerAndSerialNumber` of a certificate, from its decoded fields.
fn issuer_and_serial(cert: &Certificate) -> IssuerAndSerialNumber {
    let x = x509(cert);
    IssuerAndSerialNumber {
        issuer: x.tbs_certificate().issuer().clone(),
        serial_number: x.tbs_certificate().serial_number().clone(),
    }
}

fn algorithm(oid: ObjectIdentifier, parameters: Option<Any>) -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned { oid, parameters }
}

/// A minimal DER reader and writer of its own, independent of `cms`: to
/// look at the elements of a set in the order they were written, and for
/// the negative tests to damage one element and fix every enclosing length.
mod tlv {
    #[derive(Clone, Debug)]
    pub struct Node {
        pub tag: u8,
        /// Write the length in long form with one byte more than needed
        /// (`0x81 0x05` for 5, `0x82 0x00 0xc8` for 200): valid BER, not DER.
        pub padded_length: bool,
        pub body: Body,
    }

    #[derive(Clone, Debug)]
    pub enum Body {
        Primitive(Vec<u8>),
        Constructed(Vec<Node>),
    }

    /// The one element `der` holds; `None` unless it is well formed (any
    /// length form, but definite).
    pub fn parse(der: &[u8]) -> Option<Node> {
        match parse_one(der)? {
            (node, []) => Some(node),
            _ => None,
        }
    }

    fn parse_one(der: &[u8]) -> Option<(Node, &[u8])> {
        let tag = *der.first()?;
        if tag & 0x1f == 0x1f {
            return None; // multi-byte tags are not used in CMS
        }
        let (len, at) = match *der.get(1)? {
            n if n < 0x80 => (n as usize, 2),
            0x80 => return None, // indefinite length
            n => {
                let k = (n & 0x7f) as usize;
                if k > 4 {
                    return None;
                }
                let len = der
                    .get(2..2 + k)?
                    .iter()
                    .fold(0usize, |acc, &b| acc << 8 | b as usize);
                (len, 2 + k)
            }
        };
        let contents = der.get(at..at.checked_add(len)?)?;
        let body = if tag & 0x20 != 0 {
            let mut children = Vec::new();
            let mut rest = contents;
            while !rest.is_empty() {
                let (child, r) = parse_one(rest)?;
                children.push(child);
                rest = r;
            }
            Body::Constructed(children)
        } else {
            Body::Primitive(contents.to_vec())
        };
        Some((
            Node {
                tag,
                padded_length: false,
                body,
            },
            &der[at + len..],
        ))
    }

    pub fn encode(node: &Node) -> Vec<u8> {
        let contents = match &node.body {
            Body::Primitive(bytes) => bytes.clone(),
            Body::Constructed(children) => children.iter().flat_map(encode).collect(),
        };
        let len = contents.len();
        let mut out = vec![node.tag];
        let minimal: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        if node.padded_length {
            out.push(0x80 | (minimal.len() as u8 + 1));
            out.push(0);
            out.extend_from_slice(&minimal);
        } else if len < 0x80 {
            out.push(len as u8);
        } else {
            out.push(0x80 | minimal.len() as u8);
            out.extend_from_slice(&minimal);
        }
        out.extend_from_slice(&contents);
        out
    }

    /// The node at `path`, each step a child index.
    pub fn at<'a>(node: &'a mut Node, path: &[usize]) -> &'a mut Node {
        path.iter().fold(node, |n, &i| match &mut n.body {
            Body::Constructed(children) => &mut children[i],
            Body::Primitive(_) => panic!("no children at {path:?}"),
        })
    }

    pub fn children(node: &Node) -> &[Node] {
        match &node.body {
            Body::Constructed(children) => children,
            Body::Primitive(_) => &[],
        }
    }
}

/// Paths in a ContentInfo: `[1, 0]` is the SignedData or EnvelopedData
/// inside `content [0] EXPLICIT`.
const SIGNED_DIGEST_ALGORITHMS: &[usize] = &[1, 0, 1];
const SIGNED_CERTIFICATES: &[usize] = &[1, 0, 3];
const SIGNED_ATTRIBUTES: &[usize] = &[1, 0, 4, 0, 3];
const ENVELOPED_RECIPIENT_INFOS: &[usize] = &[1, 0, 1];

/// The elements of the set at `path` in `der`, encoded, in the order
/// they were written.
fn set_elements(der: &[u8], path: &[usize]) -> Check<Vec<Vec<u8>>> {
    let mut root = tlv::parse(der).ok_or("not well-formed DER all through")?;
    let mut node = &mut root;
    for &i in path {
        node = match &mut node.body {
            tlv::Body::Constructed(children) if i < children.len() => &mut children[i],
            _ => return Err(format!("no element at {path:?}")),
        };
    }
    Ok(tlv::children(node).iter().map(tlv::encode).collect())
}

/// The elements of the set at `path` are in DER order as written
/// (X.690 §11.6: ascending as octet strings, the shorter padded with 0).
fn set_written_sorted(der: &[u8], path: &[usize], what: &str) -> Check {
    let elements = set_elements(der, path)?;
    ensure!(
        elements.is_sorted(),
        "{what}: the {} elements are not in DER SET OF order",
        elements.len()
    );
    Ok(())
}

// ---------------------------------------------------------------- MIME

/// The `Content-Type` field of a header block, unfolded.
fn content_type(header: &[u8]) -> Check<String> {
    let field = mime::fields(header)
        .into_iter()
        .find(|f| f.name.eq_ignore_ascii_case("content-type"))
        .ok_or("no Content-Type field")?;
    Ok(String::from_utf8_lossy(field.raw)
        .replace("\r\n", "")
        .to_string())
}

/// A parameter of a `Content-Type` value, unquoted.
fn parameter(content_type: &str, name: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (n, v) = p.trim().split_once('=')?;
        n.eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

/// The DER of the detached signature in a `multipart/signed` entity, and
/// its `micalg`. The first part must be exactly the signed entity.
fn signature_from_mime(signed: &[u8], entity: &[u8]) -> Check<(Vec<u8>, String)> {
    let (header, body) = mime::split_header_body(signed);
    let ct = content_type(header)?;
    ensure!(
        ct.contains("multipart/signed")
            && parameter(&ct, "protocol").as_deref() == Some("application/pkcs7-signature"),
        "not a multipart/signed with an application/pkcs7-signature: {ct}"
    );
    let boundary = parameter(&ct, "boundary").ok_or("no boundary")?;
    let micalg = parameter(&ct, "micalg").ok_or("no micalg")?;
    let parts = mime::split_multipart(body, &boundary);
    ensure!(parts.len() == 2, "{} parts, expected 2", parts.len());
    ensure!(
        parts[0] == entity,
        "the first part is not the signed entity"
    );
    let (header, body) = mime::split_header_body(parts[1]);
    let ct = content_type(header)?;
    ensure!(
        ct.contains("application/pkcs7-signature"),
        "second part: {ct}"
    );
    let der = mime::decode_base64_lines(body).ok_or("the signature is not base64")?;
    Ok((der, micalg))
}

/// The DER in an `application/pkcs7-mime` entity, and its `smime-type`.
fn envelope_from_mime(entity: &[u8]) -> Check<(Vec<u8>, String)> {
    let (header, body) = mime::split_header_body(entity);
    let ct = content_type(header)?;
    ensure!(ct.contains("application/pkcs7-mime"), "{ct}");
    let smime_type = parameter(&ct, "smime-type").ok_or("no smime-type")?;
    let der = mime::decode_base64_lines(body).ok_or("the body is not base64")?;
    Ok((der, smime_type))
}

// ---------------------------------------------------------- the entities

/// A canonical entity of exactly `len` bytes, as `mime::split_message`
/// makes it: CRLF lines of at most 78 characters.
fn entity_of_len(len: usize) -> Vec<u8> {
    let raw = "From: alice@example.org\r\nTo: bob@example.org\r\nSubject: strict\r\n\
               Content-Type: text/plain; charset=us-ascii\r\n\r\n";
    let header = mime::split_message(raw.as_bytes())
        .expect("a message")
        .entity;
    assert!(len >= header.len() + 2, "{len} is too short");
    let mut entity = header;
    let mut line = 0usize;
    while entity.len() < len {
        let room = len - entity.len();
        let n = room.min(78) - 2;
        entity.extend(std::iter::repeat_n(b'a' + (line % 26) as u8, n));
        entity.extend_from_slice(b"\r\n");
        line += 1;
        if len - entity.len() == 1 {
            // A last line of one byte cannot end in CRLF: lengthen this one.
            entity.truncate(entity.len() - 2);
            entity.push(b'z');
            entity.extend_from_slice(b"\r\n");
        }
    }
    assert_eq!(entity.len(), len);
    assert_eq!(mime::split_message(&entity).unwrap().entity, entity);
    entity
}

/// Entity lengths around the DER length forms: the ciphertext of a CBC
/// envelope and of a GCM one crosses 127/128 and 255/256 bytes (one length
/// byte, two, three), and the largest needs four (over 65,535 bytes).
const LENGTHS: [usize; 9] = [95, 111, 112, 127, 128, 240, 256, 4_000, 70_000];

// ---------------------------------------------------------- signatures

#[derive(Clone, Copy, Debug)]
enum Hash {
    Sha256,
    Sha384,
}

impl Hash {
    fn oid(self) -> ObjectIdentifier {
        match self {
            Hash::Sha256 => ID_SHA256,
            Hash::Sha384 => ID_SHA384,
        }
    }
    fn md(self) -> MessageDigest {
        match self {
            Hash::Sha256 => MessageDigest::sha256(),
            Hash::Sha384 => MessageDigest::sha384(),
        }
    }
    fn micalg(self) -> &'static str {
        match self {
            Hash::Sha256 => "sha-256",
            Hash::Sha384 => "sha-384",
        }
    }
    fn ecdsa(self) -> ObjectIdentifier {
        match self {
            Hash::Sha256 => ECDSA_WITH_SHA256,
            Hash::Sha384 => ECDSA_WITH_SHA384,
        }
    }
}

/// Everything that must hold of a detached SignedData by `signer` over
/// `content`, with `chain` sent along.
fn check_signed_data(
    der: &[u8],
    content: &[u8],
    signer: &Certificate,
    chain: &[Certificate],
    hash: Hash,
) -> Check {
    let inner = content_info(der, ID_SIGNED_DATA)?;
    let sd: SignedData = strict_cms("SignedData", &inner, 0xa0)?;

    // RFC 5652 §5.1: no attribute or other certificates, no other CRLs,
    // only version 1 SignerInfos, eContentType id-data: version 1.
    ensure!(
        sd.version == CmsVersion::V1,
        "SignedData version {:?}, expected V1",
        sd.version
    );
    let digest = algorithm(hash.oid(), None);
    ensure!(
        sd.digest_algorithms.as_slice() == [digest.clone()],
        "digestAlgorithms {:?}, expected only {digest:?}",
        sd.digest_algorithms
    );
    ensure!(
        sd.encap_content_info.econtent_type == ID_DATA,
        "eContentType {}",
        sd.encap_content_info.econtent_type
    );
    ensure!(
        sd.encap_content_info.econtent.is_none(),
        "eContent present in a detached signature"
    );

    // The signer's certificate and the chain, each once, and nothing else.
    let certificates = sd.certificates.as_ref().ok_or("no certificates")?;
    let mut carried = Vec::new();
    for choice in certificates.0.iter() {
        match choice {
            CertificateChoices::Certificate(c) => carried.push(c.to_der().unwrap()),
            other => return Err(format!("a certificate that is not X.509: {other:?}")),
        }
    }
    let mut expected: Vec<Vec<u8>> = Vec::new();
    for c in std::iter::once(signer).chain(chain) {
        if !expected.iter().any(|d| d == c.der()) {
            expected.push(c.der().to_vec());
        }
    }
    carried.sort();
    expected.sort();
    ensure!(
        carried == expected,
        "{} certificates carried, expected the signer's and the chain's {}",
        carried.len(),
        expected.len()
    );
    set_written_sorted(der, SIGNED_CERTIFICATES, "certificates")?;
    ensure!(sd.crls.is_none(), "CRLs present");

    // One SignerInfo, version 1, named by issuer and serial number.
    ensure!(
        sd.signer_infos.0.len() == 1,
        "{} SignerInfos",
        sd.signer_infos.0.len()
    );
    let si = &sd.signer_infos.0.as_slice()[0];
    ensure!(
        si.version == CmsVersion::V1,
        "SignerInfo version {:?}, expected V1 (issuerAndSerialNumber)",
        si.version
    );
    ensure!(
        si.sid == SignerIdentifier::IssuerAndSerialNumber(issuer_and_serial(signer)),
        "sid {:?} does not name the signer certificate",
        si.sid
    );
    ensure!(
        si.digest_alg == digest,
        "SignerInfo digestAlgorithm {:?}",
        si.digest_alg
    );

    // The four signed attributes of RFC 8551 §2.5, one value each, sorted.
    let attributes = si.signed_attrs.as_ref().ok_or("no signed attributes")?;
    set_written_sorted(der, SIGNED_ATTRIBUTES, "signed attributes")?;
    let mut types: Vec<String> = attributes.iter().map(|a| a.oid.to_string()).collect();
    types.sort();
    let mut wanted: Vec<String> = [
        ID_CONTENT_TYPE,
        ID_MESSAGE_DIGEST,
        ID_SIGNING_TIME,
        ID_SMIME_CAPABILITIES,
    ]
    .iter()
    .map(|o| o.to_string())
    .collect();
    wanted.sort();
    ensure!(types == wanted, "signed attribute types {types:?}");
    for attribute in attributes.iter() {
        ensure!(
            attribute.values.len() == 1,
            "attribute {} has {} values",
            attribute.oid,
            attribute.values.len()
        );
        let value = &attribute.values.as_slice()[0];
        let kind = attribute.oid;
        if kind == ID_CONTENT_TYPE {
            let ct: ObjectIdentifier = strict_any("contentType", value)?;
            ensure!(ct == ID_DATA, "contentType {ct}");
        } else if kind == ID_MESSAGE_DIGEST {
            let md: OctetString = strict_any("messageDigest", value)?;
            let want = openssl::hash::hash(hash.md(), content).unwrap();
            ensure!(
                md.as_bytes() == &*want,
                "messageDigest is not the {hash:?} of the content"
            );
        } else if kind == ID_SIGNING_TIME {
            let time: Time = strict_any("signingTime", value)?;
            // RFC 5652 §11.3: UTCTime up to 2049.
            ensure!(
                matches!(time, Time::UtcTime(_)),
                "signingTime {time:?} is not a UTCTime"
            );
            let at = time.to_unix_duration().as_secs() as i64;
            ensure!(
                (at - smime::now()).abs() < 600,
                "signingTime {time} is not now"
            );
        } else {
            let caps: Vec<AlgorithmIdentifierOwned> = strict_any("SMIMECapabilities", value)?;
            let want: Vec<AlgorithmIdentifierOwned> =
                [AES256_GCM, AES128_GCM, AES256_CBC, AES192_CBC, AES128_CBC]
                    .into_iter()
                    .map(|o| algorithm(o, None))
                    .collect();
            ensure!(caps == want, "SMIMECapabilities {caps:?}");
        }
    }

    // signatureAlgorithm (RFC 3370 §3.2: rsaEncryption with NULL; RFC 5758
    // §3.2: ecdsa-with-SHA*, parameters absent), and the signature, over the
    // signed attributes as a SET (RFC 5652 §5.4).
    let public = signer.public_key().unwrap();
    let signature_algorithm = match public.id() {
        Id::RSA => algorithm(RSA_ENCRYPTION, Some(Any::null())),
        _ => algorithm(hash.ecdsa(), None),
    };
    ensure!(
        si.signature_algorithm == signature_algorithm,
        "signatureAlgorithm {:?}, expected {signature_algorithm:?}",
        si.signature_algorithm
    );
    if public.id() == Id::EC {
        let rs: Vec<Int> = strict("ECDSA-Sig-Value", si.signature.as_bytes())?;
        ensure!(rs.len() == 2, "ECDSA-Sig-Value of {} integers", rs.len());
    }
    let signed = attributes.to_der().unwrap();
    ensure!(
        signed[0] == 0x31,
        "signed attributes re-tagged as {}",
        signed[0]
    );
    let mut verifier = openssl::sign::Verifier::new(hash.md(), &public).unwrap();
    verifier.update(&signed).unwrap();
    ensure!(
        verifier
            .verify(si.signature.as_bytes())
            .unwrap_or_else(|_| {
                let _ = openssl::error::ErrorStack::get();
                false
            }),
        "the signature does not verify over the signed attributes"
    );
    ensure!(si.unsigned_attrs.is_none(), "unsigned attributes present");
    Ok(())
}

struct SignerFiles {
    cert: &'static str,
    key: &'static str,
    hash: Hash,
}

const ALICE: SignerFiles = SignerFiles {
    cert: files::ALICE,
    key: files::ALICE_KEY,
    hash: Hash::Sha256,
};
const BOB: SignerFiles = SignerFiles {
    cert: files::BOB,
    key: files::BOB_KEY,
    hash: Hash::Sha256,
};
const CAROL: SignerFiles = SignerFiles {
    cert: files::CAROL,
    key: files::CAROL_KEY,
    hash: Hash::Sha384,
};

/// Signs entities of every length in [`LENGTHS`] (a few times each: ECDSA
/// signatures vary in length) and checks each result.
fn signatures_are_strict(signer: SignerFiles, with_chain: bool) {
    let certificate = common::certificate(signer.cert);
    let key = common::key(signer.key);
    let chain = if with_chain {
        common::certificates(files::CHAIN)
    } else {
        Vec::new()
    };
    for len in LENGTHS {
        let entity = entity_of_len(len);
        for _ in 0..3 {
            let signed = smime::sign::sign(
                &entity,
                &smime::sign::Signer {
                    certificate: &certificate,
                    key: &key,
                    chain: &chain,
                },
            )
            .unwrap();
            let (der, micalg) = signature_from_mime(&signed, &entity).unwrap();
            assert_eq!(micalg, signer.hash.micalg());
            if let Err(e) = check_signed_data(&der, &entity, &certificate, &chain, signer.hash) {
                panic!(
                    "{} (chain: {with_chain}), entity of {len} bytes: {e}\nDER: {}",
                    signer.cert,
                    hex(&der)
                );
            }
        }
    }
}

#[test]
fn signature_rsa_2048_is_strict_der() {
    signatures_are_strict(ALICE, false);
}

#[test]
fn signature_rsa_2048_with_chain_is_strict_der() {
    signatures_are_strict(ALICE, true);
}

#[test]
fn signature_ec_p256_is_strict_der() {
    signatures_are_strict(BOB, false);
}

#[test]
fn signature_ec_p256_with_chain_is_strict_der() {
    signatures_are_strict(BOB, true);
}

#[test]
fn signature_ec_p384_is_strict_der() {
    signatures_are_strict(CAROL, false);
}

#[test]
fn signature_ec_p384_with_chain_is_strict_der() {
    signatures_are_strict(CAROL, true);
}

// ----------------------------------------------------------- envelopes

/// Every recipient has exactly one RecipientInfo of the right kind.
fn check_recipient_infos(
    infos: &RecipientInfos,
    recipients: &[(&Certificate, &PrivateKey)],
    oaep: bool,
) -> Check {
    ensure!(
        infos.0.len() == recipients.len(),
        "{} RecipientInfos for {} recipients",
        infos.0.len(),
        recipients.len()
    );
    for (cert, _) in recipients {
        let isn = issuer_and_serial(cert);
        let name = cert.fingerprint();
        let named: Vec<&RecipientInfo> = infos
            .0
            .iter()
            .filter(|ri| match ri {
                RecipientInfo::Ktri(k) => {
                    k.rid == RecipientIdentifier::IssuerAndSerialNumber(isn.clone())
                }
                RecipientInfo::Kari(k) => k.recipient_enc_keys.iter().any(|r| {
                    r.rid == KeyAgreeRecipientIdentifier::IssuerAndSerialNumber(isn.clone())
                }),
                _ => false,
            })
            .collect();
        ensure!(
            named.len() == 1,
            "{} RecipientInfos name {name} by issuer and serial number",
            named.len()
        );
        let public = cert.public_key().unwrap();
        match (public.id(), named[0]) {
            (Id::RSA, RecipientInfo::Ktri(k)) => {
                ensure!(k.version == CmsVersion::V0, "ktri version {:?}", k.version);
                if oaep {
                    check_oaep(&k.key_enc_alg)?;
                } else {
                    ensure!(
                        k.key_enc_alg == algorithm(RSA_ENCRYPTION, Some(Any::null())),
                        "ktri keyEncryptionAlgorithm {:?}, expected rsaEncryption with NULL",
                        k.key_enc_alg
                    );
                }
                ensure!(
                    k.enc_key.as_bytes().len() == public.size(),
                    "encryptedKey of {} bytes for a {}-byte modulus",
                    k.enc_key.as_bytes().len(),
                    public.size()
                );
            }
            (Id::EC, RecipientInfo::Kari(k)) => {
                // RFC 5652 §6.2.2: version is always 3.
                ensure!(k.version == CmsVersion::V3, "kari version {:?}", k.version);
                let OriginatorIdentifierOrKey::OriginatorKey(key) = &k.originator else {
                    return Err(format!("kari originator {:?}", k.originator));
                };
                // RFC 5753 §3.1.1: id-ecPublicKey, parameters absent or NULL.
                ensure!(
                    key.algorithm.oid == ID_EC_PUBLIC_KEY
                        && key
                            .algorithm
                            .parameters
                            .as_ref()
                            .is_none_or(|p| p.is_null()),
                    "originatorKey algorithm {:?}",
                    key.algorithm
                );
                let field = (public.ec_key().unwrap().group().degree() as usize).div_ceil(8);
                let point = key.public_key.raw_bytes();
                ensure!(
                    key.public_key.unused_bits() == 0
                        && point.len() == 1 + 2 * field
                        && point[0] == 4,
                    "originator public key of {} bytes is no uncompressed point on a {}-byte curve",
                    point.len(),
                    field
                );
                ensure!(
                    [
                        ECDH_STD_SHA1_KDF,
                        ECDH_STD_SHA224_KDF,
                        ECDH_STD_SHA256_KDF,
                        ECDH_STD_SHA384_KDF,
                        ECDH_STD_SHA512_KDF
                    ]
                    .contains(&k.key_enc_alg.oid),
                    "kari keyEncryptionAlgorithm {}",
                    k.key_enc_alg.oid
                );
                let wrap: AlgorithmIdentifierOwned = strict_any(
                    "KeyWrapAlgorithm",
                    k.key_enc_alg
                        .parameters
                        .as_ref()
                        .ok_or("no KeyWrapAlgorithm")?,
                )?;
                // RFC 3565 §2.3.2: the wrap of a 256-bit key, no parameters.
                ensure!(
                    wrap == algorithm(AES256_WRAP, None),
                    "KeyWrapAlgorithm {wrap:?}"
                );
                ensure!(
                    k.recipient_enc_keys.len() == 1,
                    "{} recipientEncryptedKeys",
                    k.recipient_enc_keys.len()
                );
                let wrapped = k.recipient_enc_keys[0].enc_key.as_bytes().len();
                ensure!(wrapped == 40, "wrapped key of {wrapped} bytes, expected 40");
            }
            (kind, ri) => {
                return Err(format!("a {kind:?} recipient has the RecipientInfo {ri:?}"));
            }
        }
    }
    Ok(())
}

/// `id-RSAES-OAEP` with `RSAES-OAEP-params` (RFC 4055 §4.1, §4.3): SHA-256,
/// MGF1 with SHA-256, the default pSourceFunc left out as DER wants.
fn check_oaep(alg: &AlgorithmIdentifierOwned) -> Check {
    ensure!(
        alg.oid == ID_RSAES_OAEP,
        "keyEncryptionAlgorithm {}, expected id-RSAES-OAEP",
        alg.oid
    );
    let params: Vec<Any> = strict_any(
        "RSAES-OAEP-params",
        alg.parameters.as_ref().ok_or("OAEP without parameters")?,
    )?;
    ensure!(
        params.len() == 2,
        "RSAES-OAEP-params has {} fields",
        params.len()
    );
    let sha256 = algorithm(ID_SHA256, None);
    for (field, (number, expected)) in params.iter().zip([
        (0u32, sha256.clone()),
        (
            1,
            algorithm(ID_MGF1, Some(Any::encode_from(&sha256).unwrap())),
        ),
    ]) {
        let tag = field.tag();
        ensure!(
            tag == cms::der::Tag::ContextSpecific {
                constructed: true,
                number: cms::der::TagNumber(number),
            },
            "RSAES-OAEP-params field tagged {tag}, expected [{number}]"
        );
        let inner: AlgorithmIdentifierOwned = strict("OAEP parameter", field.value())?;
        ensure!(
            inner == expected,
            "OAEP [{number}] {inner:?}, expected {expected:?}"
        );
    }
    Ok(())
}

/// The content encryption: `id-data`, the algorithm and its parameters,
/// and the ciphertext length. Returns the GCM tag length.
fn check_encrypted_content(eci: &EncryptedContentInfo, gcm: bool, plain: usize) -> Check<usize> {
    ensure!(
        eci.content_type == ID_DATA,
        "encrypted contentType {}",
        eci.content_type
    );
    let params = eci
        .content_enc_alg
        .parameters
        .as_ref()
        .ok_or("content encryption without parameters")?;
    let ciphertext = eci
        .encrypted_content
        .as_ref()
        .ok_or("no encryptedContent")?
        .as_bytes()
        .len();
    if gcm {
        ensure!(
            eci.content_enc_alg.oid == AES256_GCM,
            "contentEncryptionAlgorithm {}, expected aes256-GCM",
            eci.content_enc_alg.oid
        );
        // RFC 5084 §3.2: GCMParameters ::= SEQUENCE { aes-nonce OCTET
        // STRING (12 recommended), aes-ICVlen INTEGER DEFAULT 12 }.
        let fields: Vec<Any> = strict_any("GCMParameters", params)?;
        ensure!(
            (1..=2).contains(&fields.len()),
            "GCMParameters of {} fields",
            fields.len()
        );
        let nonce: OctetString = strict_any("aes-nonce", &fields[0])?;
        ensure!(
            nonce.as_bytes().len() == 12,
            "aes-nonce of {} bytes",
            nonce.as_bytes().len()
        );
        let icv = match fields.get(1) {
            None => 12,
            Some(field) => {
                let icv: u8 = strict_any("aes-ICVlen", field)?;
                // DER leaves out a value equal to its DEFAULT (X.690 §11.5).
                ensure!(
                    icv != 12,
                    "aes-ICVlen 12 written although it is the DEFAULT"
                );
                ensure!([12, 13, 14, 15, 16].contains(&icv), "aes-ICVlen {icv}");
                icv
            }
        };
        ensure!(
            ciphertext == plain,
            "GCM ciphertext of {ciphertext} bytes for {plain} bytes"
        );
        Ok(icv as usize)
    } else {
        let iv: OctetString = strict_any("AES-IV", params)?;
        ensure!(
            eci.content_enc_alg.oid == AES256_CBC && iv.as_bytes().len() == 16,
            "contentEncryptionAlgorithm {} with an IV of {} bytes, expected aes256-CBC with 16",
            eci.content_enc_alg.oid,
            iv.as_bytes().len()
        );
        ensure!(
            ciphertext % 16 == 0 && ciphertext > plain && ciphertext <= plain + 16,
            "CBC ciphertext of {ciphertext} bytes for {plain} bytes"
        );
        Ok(0)
    }
}

/// Everything that must hold of the envelope `der` of `entity` to
/// `recipients`.
fn check_envelope(
    der: &[u8],
    entity: &[u8],
    recipients: &[(&Certificate, &PrivateKey)],
    options: EncryptOptions,
) -> Check {
    let all_ktri = recipients
        .iter()
        .all(|(c, _)| c.public_key().unwrap().id() == Id::RSA);
    match options.cipher {
        ContentCipher::Aes256Cbc => {
            let inner = content_info(der, ID_ENVELOPED_DATA)?;
            let ed: EnvelopedData = strict_cms("EnvelopedData", &inner, 0x31)?;
            // RFC 5652 §6.1: no originatorInfo, no unprotectedAttrs and
            // only version 0 RecipientInfos (ktri by issuer and serial):
            // 0; a kari (version 3) makes it 2.
            let version = if all_ktri {
                CmsVersion::V0
            } else {
                CmsVersion::V2
            };
            ensure!(
                ed.version == version,
                "EnvelopedData version {:?}, expected {version:?}",
                ed.version
            );
            ensure!(ed.originator_info.is_none(), "originatorInfo present");
            ensure!(ed.unprotected_attrs.is_none(), "unprotectedAttrs present");
            set_written_sorted(der, ENVELOPED_RECIPIENT_INFOS, "recipientInfos")?;
            check_recipient_infos(&ed.recip_infos, recipients, options.rsa_oaep)?;
            check_encrypted_content(&ed.encrypted_content, false, entity.len())?;
        }
        ContentCipher::Aes256Gcm => {
            let inner = content_info(der, ID_AUTH_ENVELOPED_DATA)?;
            let ad: AuthEnvelopedData = strict_cms("AuthEnvelopedData", &inner, 0x31)?;
            // RFC 5083 §2.1: version is always 0.
            ensure!(
                ad.version == CmsVersion::V0,
                "AuthEnvelopedData version {:?}",
                ad.version
            );
            ensure!(ad.originator_info.is_none(), "originatorInfo present");
            set_written_sorted(der, ENVELOPED_RECIPIENT_INFOS, "recipientInfos")?;
            check_recipient_infos(&ad.recip_infos, recipients, options.rsa_oaep)?;
            let icv = check_encrypted_content(&ad.auth_encrypted_content_info, true, entity.len())?;
            ensure!(
                ad.mac.as_bytes().len() == icv,
                "mac of {} bytes, aes-ICVlen {icv}",
                ad.mac.as_bytes().len()
            );
            // RFC 5083 §2.1: authAttrs MUST be present when the content
            // type is not id-data; smimed's is id-data.
            ensure!(ad.auth_attrs.is_none(), "authAttrs present");
            ensure!(ad.unauth_attrs.is_none(), "unauthAttrs present");
        }
    }
    for (cert, key) in recipients {
        match smime::decrypt::decrypt(der, &[(*cert, *key)], &CmsLimits::default()) {
            Ok(plain) => ensure!(
                plain == entity,
                "{} decrypts it to something else",
                cert.fingerprint()
            ),
            Err(e) => return Err(format!("{} cannot decrypt it: {e:?}", cert.fingerprint())),
        }
    }
    Ok(())
}

struct Keys {
    alice: (Certificate, PrivateKey),
    dave: (Certificate, PrivateKey),
    bob: (Certificate, PrivateKey),
    carol: (Certificate, PrivateKey),
}

fn keys() -> Keys {
    let load = |cert, key| (common::certificate(cert), common::key(key));
    Keys {
        alice: load(files::ALICE, files::ALICE_KEY),
        dave: load(files::DAVE_DN, files::DAVE_DN_KEY),
        bob: load(files::BOB, files::BOB_KEY),
        carol: load(files::CAROL, files::CAROL_KEY),
    }
}

fn encrypt(
    entity: &[u8],
    recipients: &[&(Certificate, PrivateKey)],
    options: EncryptOptions,
) -> Vec<u8> {
    let certs: Vec<&Certificate> = recipients.iter().map(|(c, _)| c).collect();
    let (der, smime_type) =
        envelope_from_mime(&smime::encrypt::encrypt(entity, &certs, options).unwrap()).unwrap();
    let expected = match options.cipher {
        ContentCipher::Aes256Cbc => "enveloped-data",
        ContentCipher::Aes256Gcm => "authEnveloped-data",
    };
    assert_eq!(smime_type, expected);
    der
}

/// Encrypts entities of every length in [`LENGTHS`] to `recipients`, with
/// PKCS#1 v1.5 and with OAEP for the RSA ones, and checks each result.
fn envelopes_are_strict(cipher: ContentCipher, recipients: &[&(Certificate, PrivateKey)]) {
    let pairs: Vec<(&Certificate, &PrivateKey)> = recipients.iter().map(|(c, k)| (c, k)).collect();
    let any_rsa = pairs
        .iter()
        .any(|(c, _)| c.public_key().unwrap().id() == Id::RSA);
    for rsa_oaep in if any_rsa {
        vec![false, true]
    } else {
        vec![false]
    } {
        let options = EncryptOptions { cipher, rsa_oaep };
        for len in LENGTHS {
            let entity = entity_of_len(len);
            let der = encrypt(&entity, recipients, options);
            if let Err(e) = check_envelope(&der, &entity, &pairs, options) {
                let names: Vec<&str> = pairs.iter().map(|(c, _)| c.fingerprint()).collect();
                panic!(
                    "{options:?} to {names:?}, entity of {len} bytes: {e}\nDER: {}",
                    hex(&der[..der.len().min(4096)])
                );
            }
        }
    }
}

#[test]
fn envelope_aes256_cbc_to_rsa_is_strict_der() {
    let k = keys();
    envelopes_are_strict(ContentCipher::Aes256Cbc, &[&k.alice]);
}

#[test]
fn envelope_aes256_cbc_to_two_rsa_recipients_is_strict_der() {
    let k = keys();
    envelopes_are_strict(ContentCipher::Aes256Cbc, &[&k.alice, &k.dave]);
    envelopes_are_strict(ContentCipher::Aes256Cbc, &[&k.dave, &k.alice]);
}

#[test]
fn envelope_aes256_cbc_to_ec_p256_is_strict_der() {
    let k = keys();
    envelopes_are_strict(ContentCipher::Aes256Cbc, &[&k.bob]);
}

#[test]
fn envelope_aes256_cbc_to_ec_p384_is_strict_der() {
    let k = keys();
    envelopes_are_strict(ContentCipher::Aes256Cbc, &[&k.carol]);
}

#[test]
fn envelope_aes256_cbc_to_rsa_and_ec_recipients_is_strict_der() {
    let k = keys();
    envelopes_are_strict(
        ContentCipher::Aes256Cbc,
        &[&k.alice, &k.bob, &k.carol, &k.dave],
    );
}

#[test]
fn envelope_aes256_gcm_to_rsa_is_strict_der() {
    let k = keys();
    envelopes_are_strict(ContentCipher::Aes256Gcm, &[&k.alice]);
}

#[test]
fn envelope_aes256_gcm_to_ec_p256_is_strict_der() {
    let k = keys();
    envelopes_are_strict(ContentCipher::Aes256Gcm, &[&k.bob]);
}

#[test]
fn envelope_aes256_gcm_to_ec_p384_is_strict_der() {
    let k = keys();
    envelopes_are_strict(ContentCipher::Aes256Gcm, &[&k.carol]);
}

#[test]
fn envelope_aes256_gcm_to_several_recipients_is_strict_der() {
    let k = keys();
    envelopes_are_strict(ContentCipher::Aes256Gcm, &[&k.alice, &k.dave]);
    envelopes_are_strict(
        ContentCipher::Aes256Gcm,
        &[&k.alice, &k.bob, &k.carol, &k.dave],
    );
}

// ------------------------------------------------------ negative checks

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A signature by alice with the chain, its entity, and what the check needs.
fn alice_signature() -> (Vec<u8>, Vec<u8>, Certificate, Vec<Certificate>) {
    let alice = common::certificate(files::ALICE);
    let key = common::key(files::ALICE_KEY);
    let chain = common::certificates(files::CHAIN);
    let entity = entity_of_len(300);
    let der = common::detached_signature(&entity, &alice, &key, &chain);
    (der, entity, alice, chain)
}

/// The check's verdict on `der` changed by `change`, which must be refused
/// by a step whose message starts with one of `steps`.
fn refused(
    der: &[u8],
    change: impl FnOnce(&mut tlv::Node),
    check: impl Fn(&[u8]) -> Check,
    steps: &[&str],
) -> String {
    let mut root = tlv::parse(der).unwrap();
    change(&mut root);
    let changed = tlv::encode(&root);
    assert_ne!(changed, der, "the change changed nothing");
    match check(&changed) {
        Ok(()) => panic!("the damaged structure passed the checks"),
        Err(e) => {
            assert!(
                steps.iter().any(|step| e.starts_with(step)),
                "refused by another step than {steps:?}: {e}"
            );
            e
        }
    }
}

#[test]
fn a_changed_length_byte_is_refused_by_the_strict_decoder() {
    let (der, entity, alice, chain) = alice_signature();
    let check = |d: &[u8]| check_signed_data(d, &entity, &alice, &chain, Hash::Sha256);
    assert_eq!(check(&der), Ok(()));
    // The low byte of the outer ContentInfo's length (30 82 HH LL), one
    // more and one less: a length running past the end, and one leaving a
    // byte over.
    assert_eq!(&der[..2], &[0x30, 0x82]);
    for delta in [1u8, 0xff] {
        let mut bad = der.clone();
        bad[3] = bad[3].wrapping_add(delta);
        let e = check(&bad).unwrap_err();
        assert!(
            e.starts_with("ContentInfo: the strict DER decoder rejects it"),
            "{e}"
        );
    }
    // The version INTEGER's length byte (02 01 01 → 02 02 01 ..) inside
    // the SignedData: now it swallows the digestAlgorithms' tag.
    let version_at = der
        .windows(3)
        .position(|w| w == [0x02, 0x01, 0x01])
        .unwrap();
    let mut bad = der.clone();
    bad[version_at + 1] = 0x02;
    let e = check(&bad).unwrap_err();
    assert!(e.contains("the strict DER decoder rejects it"), "{e}");
}

#[test]
fn a_length_in_long_form_is_refused_by_the_strict_decoder() {
    let (der, entity, alice, chain) = alice_signature();
    let check = |d: &[u8]| check_signed_data(d, &entity, &alice, &chain, Hash::Sha256);
    // digestAlgorithms `31 0d` written `31 81 0d`: valid BER, as OpenSSL
    // would read it, but not DER.
    for path in [SIGNED_DIGEST_ALGORITHMS, SIGNED_ATTRIBUTES, &[1, 0, 2][..]] {
        let e = refused(
            &der,
            |root| tlv::at(root, path).padded_length = true,
            check,
            &["SignedData: the strict DER decoder rejects it"],
        );
        eprintln!("long-form length at {path:?}: {e}");
    }
    // The same in the outer ContentInfo.
    refused(
        &der,
        |root| root.padded_length = true,
        check,
        &["ContentInfo: the strict DER decoder rejects it"],
    );
}

#[test]
fn a_wrong_tag_is_refused_by_the_strict_decoder() {
    let (der, entity, alice, chain) = alice_signature();
    let check = |d: &[u8]| check_signed_data(d, &entity, &alice, &chain, Hash::Sha256);
    // digestAlgorithms as a SEQUENCE (0x30) instead of a SET (0x31).
    refused(
        &der,
        |root| tlv::at(root, SIGNED_DIGEST_ALGORITHMS).tag = 0x30,
        check,
        &["SignedData: the strict DER decoder rejects it"],
    );
}

#[test]
fn swapped_set_elements_are_refused_by_the_re_encoding_check() {
    let (der, entity, alice, chain) = alice_signature();
    let check = |d: &[u8]| check_signed_data(d, &entity, &alice, &chain, Hash::Sha256);
    let swap = |path: &'static [usize]| {
        move |root: &mut tlv::Node| match &mut tlv::at(root, path).body {
            tlv::Body::Constructed(children) => children.swap(0, 1),
            tlv::Body::Primitive(_) => unreachable!(),
        }
    };
    // The certificates are not signed: OpenSSL's verify reads them in any
    // order, and so does the strict decoder, which sorts a SET OF as it
    // reads it. Only the comparison of the re-encoding sees it.
    let e = refused(
        &der,
        swap(SIGNED_CERTIFICATES),
        check,
        &[
            "SignedData: re-encoding gives other bytes",
            // Should the cms crate's own order (see `strict_cms`) be the
            // swapped one, for certificates of the same length:
            "certificates: the 3 elements are not in DER SET OF order",
        ],
    );
    eprintln!("swapped certificates: {e}");
    // Swapped signed attributes: refused before the signature is checked.
    refused(
        &der,
        swap(SIGNED_ATTRIBUTES),
        check,
        &["SignedData: re-encoding gives other bytes"],
    );

    // An envelope to two RSA recipients, its RecipientInfos swapped:
    // smimed's own (OpenSSL's) decrypt still opens it for both.
    let k = keys();
    let options = EncryptOptions {
        cipher: ContentCipher::Aes256Cbc,
        rsa_oaep: false,
    };
    let entity = entity_of_len(300);
    let der = encrypt(&entity, &[&k.alice, &k.dave], options);
    let pairs = [(&k.alice.0, &k.alice.1), (&k.dave.0, &k.dave.1)];
    assert_eq!(check_envelope(&der, &entity, &pairs, options), Ok(()));
    let mut root = tlv::parse(&der).unwrap();
    if let tlv::Body::Constructed(infos) = &mut tlv::at(&mut root, ENVELOPED_RECIPIENT_INFOS).body {
        infos.swap(0, 1);
    }
    let swapped = tlv::encode(&root);
    for (cert, key) in pairs {
        let plain = smime::decrypt::decrypt(&swapped, &[(cert, key)], &CmsLimits::default());
        assert_eq!(
            plain.as_deref(),
            Ok(&entity[..]),
            "the lenient reader opens it"
        );
    }
    // Refused by the re-encoding check, or, when the `cms` crate's own
    // (wrong, see `strict_cms`) order happens to be the swapped one, by
    // the check of the order as written.
    let e = check_envelope(&swapped, &entity, &pairs, options).unwrap_err();
    assert!(
        e.starts_with("EnvelopedData: re-encoding gives other bytes")
            || e.starts_with("recipientInfos: the 2 elements are not in DER SET OF order"),
        "{e}"
    );
    eprintln!("swapped RecipientInfos: {e}");
}

/// Every single byte of a signature and of two envelopes, XORed with 0x01
/// and with 0x80 in turn: each change must fail the checks, and most
/// already at the strict decoder or the re-encoding. The counts are
/// printed (`--nocapture`).
#[test]
fn every_changed_byte_fails_the_checks() {
    fn sweep(name: &str, der: &[u8], check: impl Fn(&[u8]) -> Check) {
        assert_eq!(check(der), Ok(()), "{name} unchanged");
        let (mut structural, mut other) = (0, 0);
        for at in 0..der.len() {
            for bit in [0x01, 0x80] {
                let mut bad = der.to_vec();
                bad[at] ^= bit;
                match check(&bad) {
                    Ok(()) => panic!("{name}: byte {at} ^ {bit:#04x} passes the checks"),
                    Err(e) if e.contains("strict DER decoder") || e.contains("re-encoding") => {
                        structural += 1
                    }
                    Err(_) => other += 1,
                }
            }
        }
        eprintln!(
            "{name}: {} bytes, {} changes: {structural} refused by the strict decoder or the \
             re-encoding, {other} by the field checks, the signature or decryption",
            der.len(),
            structural + other
        );
    }

    let (der, entity, alice, chain) = alice_signature();
    sweep("signature by alice with chain", &der, |d| {
        check_signed_data(d, &entity, &alice, &chain, Hash::Sha256)
    });

    let k = keys();
    let entity = entity_of_len(100);
    for (name, cipher, recipients) in [
        (
            "AES-256-CBC envelope to alice (smimed's encoder)",
            ContentCipher::Aes256Cbc,
            vec![&k.alice],
        ),
        (
            "AES-256-GCM envelope to bob (OpenSSL's encoder)",
            ContentCipher::Aes256Gcm,
            vec![&k.bob],
        ),
    ] {
        let options = EncryptOptions {
            cipher,
            rsa_oaep: false,
        };
        let der = encrypt(&entity, &recipients, options);
        let pairs: Vec<(&Certificate, &PrivateKey)> =
            recipients.iter().map(|(c, k)| (c, k)).collect();
        sweep(name, &der, |d| check_envelope(d, &entity, &pairs, options));
    }
}

/// The `cms` crate's bug that [`strict_cms`] allows for: it orders
/// RecipientInfos of the same length by their count of bytes 0x80 and
/// above first, not as octet strings. smimed's order is X.690's. Two key
/// transport infos for the same certificate always have the same length,
/// whatever the test PKI's serial numbers. If this test fails, a newer
/// `cms` sorts them right: drop the allowance in `strict_cms` and this test.
#[test]
fn the_cms_crate_misorders_recipient_infos_of_equal_length() {
    use cms::der::DerOrd;
    use std::cmp::Ordering;
    let k = keys();
    let options = EncryptOptions {
        cipher: ContentCipher::Aes256Cbc,
        rsa_oaep: false,
    };
    let entity = entity_of_len(100);
    let (mut agree, mut disagree) = (0, 0);
    for _ in 0..40 {
        let der = encrypt(&entity, &[&k.alice, &k.alice], options);
        let written = set_elements(&der, ENVELOPED_RECIPIENT_INFOS).unwrap();
        assert_eq!(written.len(), 2);
        assert_eq!(written[0].len(), written[1].len());
        assert!(written[0] < written[1], "smimed's order is X.690's");
        let (a, b) = (
            RecipientInfo::from_der(&written[0]).unwrap(),
            RecipientInfo::from_der(&written[1]).unwrap(),
        );
        let high = |v: &[u8]| v.iter().filter(|&&x| x >= 0x80).count();
        let by_high_bytes = high(&written[0]).cmp(&high(&written[1]));
        let cms_order = a.der_cmp(&b).unwrap();
        if by_high_bytes != Ordering::Equal {
            assert_eq!(cms_order, by_high_bytes);
        }
        if cms_order == Ordering::Less {
            agree += 1;
        } else {
            disagree += 1;
        }
        // The allowance: the structure passes, its order checked as written.
        let inner = content_info(&der, ID_ENVELOPED_DATA).unwrap();
        strict_cms::<EnvelopedData>("EnvelopedData", &inner, 0x31).unwrap();
    }
    eprintln!("cms agreed with X.690 on {agree} of 40 envelopes, disagreed on {disagree}");
    assert!(disagree > 0, "the cms crate sorted every pair right");
}
