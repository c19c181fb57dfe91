//! Generator for smimed's test PKI.
//!
//! Certificates in committed fixtures expire, and a test that starts
//! failing years later for that reason alone is a silent trap. So every
//! certificate, key and bundle the tests use is produced here, by code:
//! one command (`cargo run -p testpki -- tests/data/pki`) regenerates the
//! committed files in `tests/data/pki/`, and tests that care about "now"
//! (for example the certificate that expires in ten days) call
//! [`generate`] into a temporary directory at test time.
//!
//! The file names are the constants in [`files`]; [`Pki::path`] joins them
//! to the directory. Passphrases are [`ALICE_KEY_PASSPHRASE`],
//! [`BOB_KEY_PASSPHRASE`] and [`P12_PASSWORD`].

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkcs7::Pkcs7;
use openssl::pkcs12::Pkcs12;
use openssl::pkey::{PKey, PKeyRef, Private};
use openssl::provider::Provider;
use openssl::rsa::Rsa;
use openssl::stack::Stack;
use openssl::symm::Cipher;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509, X509Builder, X509Extension, X509Name, X509NameRef, X509Ref};

pub mod der;
pub mod hostile;
pub mod openssl_ca;

/// Passphrase of `alice.key.enc.pem` and `alice.key.legacy.pem`.
pub const ALICE_KEY_PASSPHRASE: &str = "alice-secret";
/// Passphrase of `bob.key.enc.pem`.
pub const BOB_KEY_PASSPHRASE: &str = "bob-secret";
/// Password of `alice.p12` and `alice.legacy.p12`.
pub const P12_PASSWORD: &str = "p12-secret";

/// File names written by [`generate`] (PEM unless the name says otherwise).
/// `tests/data/pki/README.md` describes each one.
pub mod files {
    pub const CA: &str = "ca.pem";
    pub const CA_KEY: &str = "ca.key.pem";
    pub const INTERMEDIATE: &str = "intermediate.pem";
    pub const INTERMEDIATE_KEY: &str = "intermediate.key.pem";
    pub const OTHER_CA: &str = "other-ca.pem";

    pub const ALICE: &str = "alice.pem";
    pub const ALICE_DER: &str = "alice.der";
    pub const ALICE_KEY: &str = "alice.key.pem";
    pub const ALICE_KEY_RSA: &str = "alice.key.rsa.pem";
    pub const ALICE_KEY_ENC: &str = "alice.key.enc.pem";
    pub const ALICE_KEY_LEGACY: &str = "alice.key.legacy.pem";
    pub const ALICE_KEY_DER: &str = "alice.key.der";
    pub const ALICE_P12: &str = "alice.p12";
    pub const ALICE_LEGACY_P12: &str = "alice.legacy.p12";
    pub const ALICE_BUNDLE: &str = "alice.bundle.pem";

    pub const BOB: &str = "bob.pem";
    pub const BOB_KEY: &str = "bob.key.pem";
    pub const BOB_KEY_ENC: &str = "bob.key.enc.pem";
    pub const CAROL: &str = "carol.pem";
    pub const CAROL_KEY: &str = "carol.key.pem";
    pub const DAVE_DN: &str = "dave-dn.pem";
    pub const DAVE_DN_KEY: &str = "dave-dn.key.pem";

    pub const EXPIRED: &str = "expired.pem";
    pub const EXPIRED_KEY: &str = "expired.key.pem";
    pub const NOTYET: &str = "notyet.pem";
    pub const NOTYET_KEY: &str = "notyet.key.pem";
    pub const SOON: &str = "soon.pem";
    pub const SOON_KEY: &str = "soon.key.pem";
    pub const WRONG_EKU: &str = "wrong-eku.pem";
    pub const WRONG_EKU_KEY: &str = "wrong-eku.key.pem";
    pub const NOEMAIL: &str = "noemail.pem";
    pub const NOEMAIL_KEY: &str = "noemail.key.pem";
    pub const WEAK: &str = "weak.pem";
    pub const WEAK_KEY: &str = "weak.key.pem";
    pub const WRONG_KU: &str = "wrong-ku.pem";
    pub const WRONG_KU_KEY: &str = "wrong-ku.key.pem";
    pub const SIGNONLY: &str = "signonly.pem";
    pub const SIGNONLY_KEY: &str = "signonly.key.pem";
    pub const SHA1: &str = "sha1.pem";
    pub const SHA1_KEY: &str = "sha1.key.pem";
    pub const ORPHAN: &str = "orphan.pem";
    pub const ORPHAN_KEY: &str = "orphan.key.pem";
    pub const STRAY_KEY: &str = "stray.key.pem";

    pub const CHAIN: &str = "chain.pem";
    pub const ALL_VALID: &str = "all-valid.pem";
    pub const BROKEN_BUNDLE: &str = "broken-bundle.pem";
    pub const TRUNCATED: &str = "truncated.pem";
    pub const CHAIN_P7B: &str = "chain.p7b";
    pub const CHAIN_P7B_PEM: &str = "chain.p7b.pem";
}

/// A generated PKI: the directory and the files written into it.
#[derive(Debug, Clone)]
pub struct Pki {
    pub dir: PathBuf,
    /// Every file name written, in the order written.
    pub files: Vec<&'static str>,
}

impl Pki {
    /// The path of one file, e.g. `pki.path(files::ALICE_P12)`.
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// The committed fixtures in `tests/data/pki` of this workspace
    /// (`files` is left empty; use the names in [`files`]).
    pub fn committed() -> Pki {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/pki");
        Pki {
            dir,
            files: Vec::new(),
        }
    }
}

/// Why generation failed.
#[derive(Debug)]
pub enum Error {
    OpenSsl(ErrorStack),
    Io(PathBuf, std::io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::OpenSsl(e) => write!(f, "openssl: {e}"),
            Error::Io(path, e) => write!(f, "{}: {e}", path.display()),
        }
    }
}

impl std::error::Error for Error {}

impl From<ErrorStack> for Error {
    fn from(e: ErrorStack) -> Self {
        Error::OpenSsl(e)
    }
}

/// Loads OpenSSL's `default` and `legacy` providers into the default
/// library context, once per process, and keeps them loaded. Needed to
/// write or read `alice.legacy.p12` (RC2-40).
pub fn load_legacy_providers() -> Result<(), ErrorStack> {
    static PROVIDERS: OnceLock<Result<[Provider; 2], ErrorStack>> = OnceLock::new();
    PROVIDERS
        .get_or_init(|| {
            Ok([
                Provider::load(None, "default")?,
                Provider::load(None, "legacy")?,
            ])
        })
        .as_ref()
        .map(|_| ())
        .map_err(Clone::clone)
}

const DAY: i64 = 24 * 60 * 60;
const YEAR: i64 = 365 * DAY;

/// Writes the test PKI into `dir` (created if missing), valid from now.
pub fn generate(dir: &Path) -> Result<Pki, Error> {
    generate_at(dir, unix_now())
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A throw-away CA for tests that need many certificates (bulk imports,
/// crash tests). EC P-256 keys, so that issuing thousands is quick; valid
/// from a day ago for ten years.
pub struct BulkCa {
    /// The self-signed CA certificate.
    pub cert: X509,
    key: PKey<Private>,
}

impl BulkCa {
    /// A new CA called `cn`.
    pub fn new(cn: &str) -> Result<BulkCa, ErrorStack> {
        let key = ec_p256()?;
        let now = unix_now();
        let cert = ca_cert(&key, cn, None, (now - DAY, now + 10 * YEAR))?;
        Ok(BulkCa { cert, key })
    }

    /// A CA made elsewhere (an [`openssl_ca::OpensslCa`]'s `ca.pem` and
    /// `ca.key`), to issue in bulk what that CA's tools then revoke.
    pub fn from_pem(cert: &[u8], key: &[u8]) -> Result<BulkCa, ErrorStack> {
        Ok(BulkCa {
            cert: X509::from_pem(cert)?,
            key: PKey::private_key_from_pem(key)?,
        })
    }

    /// An S/MIME user certificate on `key` for `email` (subjectAltName,
    /// digitalSignature and keyAgreement, emailProtection), like `bob.pem`.
    pub fn issue(&self, key: &PKeyRef<Private>, email: &str) -> Result<X509, ErrorStack> {
        let now = unix_now();
        Leaf::new(email, &[email], (now - DAY, now + 10 * YEAR))
            .ku(Ku::Agree)
            .issue(key, (&self.cert, &self.key))
    }
}

/// A new EC P-256 key.
pub fn ec_p256() -> Result<PKey<Private>, ErrorStack> {
    ec(Nid::X9_62_PRIME256V1)
}

/// Writes the test PKI into `dir`, with `now_unix` (seconds since the
/// epoch) as "now" for every validity period.
pub fn generate_at(dir: &Path, now_unix: i64) -> Result<Pki, Error> {
    use files::*;
    let now = now_unix;
    let valid = (now - DAY, now + 10 * YEAR);
    fs::create_dir_all(dir).map_err(|e| Error::Io(dir.to_owned(), e))?;
    let mut out = Out {
        pki: Pki {
            dir: dir.to_owned(),
            files: Vec::new(),
        },
    };

    // Certification authorities.
    let root_key = rsa(2048)?;
    let root = ca_cert(&root_key, "smimed Test Root CA", None, valid)?;
    let int_key = rsa(2048)?;
    let int = ca_cert(
        &int_key,
        "smimed Test Intermediate CA",
        Some((&*root, &*root_key)),
        valid,
    )?;
    let other_key = rsa(2048)?;
    let other = ca_cert(&other_key, "smimed Test Other CA", None, valid)?;
    out.write(CA, root.to_pem()?)?;
    out.write(CA_KEY, root_key.private_key_to_pem_pkcs8()?)?;
    out.write(INTERMEDIATE, int.to_pem()?)?;
    out.write(INTERMEDIATE_KEY, int_key.private_key_to_pem_pkcs8()?)?;
    out.write(OTHER_CA, other.to_pem()?)?;
    let (by_int, by_other) = ((&*int, &*int_key), (&*other, &*other_key));
    let leaf = |cn, emails: &'static [&'static str]| Leaf::new(cn, emails, valid);

    // Alice: RSA, in every key and container format.
    let alice_key = rsa(2048)?;
    let alice = leaf("Alice", &["alice@example.org"]).issue(&alice_key, by_int)?;
    let alice_pkcs8 = alice_key.private_key_to_pem_pkcs8()?;
    let alice_rsa = alice_key.rsa()?;
    let chain = [&int, &root];
    out.write(ALICE, alice.to_pem()?)?;
    out.write(ALICE_DER, alice.to_der()?)?;
    out.write(ALICE_KEY, &alice_pkcs8)?;
    out.write(ALICE_KEY_RSA, alice_rsa.private_key_to_pem()?)?;
    out.write(
        ALICE_KEY_ENC,
        alice_key.private_key_to_pem_pkcs8_passphrase(
            Cipher::aes_256_cbc(),
            ALICE_KEY_PASSPHRASE.as_bytes(),
        )?,
    )?;
    out.write(
        ALICE_KEY_LEGACY,
        alice_rsa.private_key_to_pem_passphrase(
            Cipher::aes_256_cbc(),
            ALICE_KEY_PASSPHRASE.as_bytes(),
        )?,
    )?;
    out.write(ALICE_KEY_DER, alice_key.private_key_to_pkcs8()?)?;
    let mut p12 = Pkcs12::builder();
    p12.name("Alice")
        .pkey(&alice_key)
        .cert(&alice)
        .ca(stack(&chain)?);
    out.write(ALICE_P12, p12.build2(P12_PASSWORD)?.to_der()?)?;
    load_legacy_providers()?;
    p12.key_algorithm(Nid::PBE_WITHSHA1AND3_KEY_TRIPLEDES_CBC)
        .cert_algorithm(Nid::PBE_WITHSHA1AND40BITRC2_CBC)
        .mac_md(MessageDigest::sha1());
    out.write(ALICE_LEGACY_P12, p12.build2(P12_PASSWORD)?.to_der()?)?;
    out.write(
        ALICE_BUNDLE,
        [
            "Alice's certificate (CN=Alice, alice@example.org)\n",
            &pem_str(alice.to_pem()?),
            "Alice's private key, unencrypted PKCS#8\n",
            &pem_str(alice_pkcs8),
        ]
        .concat(),
    )?;

    // Bob (P-256) and Carol (P-384).
    let bob_key = ec(Nid::X9_62_PRIME256V1)?;
    let bob = leaf("Bob", &["bob@example.org"]).ku(Ku::Agree);
    let bob = bob.issue(&bob_key, by_int)?;
    out.write(BOB, bob.to_pem()?)?;
    out.write(BOB_KEY, bob_key.ec_key()?.private_key_to_pem()?)?;
    out.write(
        BOB_KEY_ENC,
        bob_key.private_key_to_pem_pkcs8_passphrase(
            Cipher::aes_256_cbc(),
            BOB_KEY_PASSPHRASE.as_bytes(),
        )?,
    )?;
    let carol = leaf("Carol", &["carol@example.org", "Carol.Second@Example.org"]);
    let carol_key = ec(Nid::SECP384R1)?;
    let carol = out.leaf(CAROL, CAROL_KEY, carol.ku(Ku::Agree), &carol_key, by_int)?;

    // Dave: address only in the subject DN.
    let dave = leaf("Dave", &[]).dn_email("Dave@Example.org");
    let dave = out.leaf(DAVE_DN, DAVE_DN_KEY, dave, &rsa(2048)?, by_int)?;

    // One defect each.
    let expired = leaf("Expired", &["expired@example.org"]);
    let expired = expired.valid(now - 2 * YEAR, now - YEAR);
    out.leaf(EXPIRED, EXPIRED_KEY, expired, &rsa(2048)?, by_int)?;
    let notyet = leaf("Not Yet Valid", &["notyet@example.org"]);
    let notyet = notyet.valid(now + YEAR, now + 2 * YEAR);
    out.leaf(NOTYET, NOTYET_KEY, notyet, &rsa(2048)?, by_int)?;
    let soon = leaf("Expires Soon", &["soon@example.org"]).valid(now - DAY, now + 10 * DAY);
    out.leaf(SOON, SOON_KEY, soon, &rsa(2048)?, by_int)?;
    let wrong_eku = leaf("Wrong EKU", &["wrongeku@example.org"]).server_auth();
    out.leaf(WRONG_EKU, WRONG_EKU_KEY, wrong_eku, &rsa(2048)?, by_int)?;
    let noemail = leaf("No Email", &[]);
    out.leaf(NOEMAIL, NOEMAIL_KEY, noemail, &rsa(2048)?, by_int)?;
    let weak = leaf("Weak Key", &["weak@example.org"]);
    out.leaf(WEAK, WEAK_KEY, weak, &rsa(1024)?, by_int)?;
    let wrong_ku = leaf("Wrong KU", &["wrongku@example.org"]).ku(Ku::DataOnly);
    out.leaf(WRONG_KU, WRONG_KU_KEY, wrong_ku, &rsa(2048)?, by_int)?;
    let signonly = leaf("Sign Only", &["signonly@example.org"]).ku(Ku::SignOnly);
    out.leaf(SIGNONLY, SIGNONLY_KEY, signonly, &rsa(2048)?, by_int)?;
    let sha1 = leaf("SHA-1", &["sha1@example.org"]).sha1();
    out.leaf(SHA1, SHA1_KEY, sha1, &rsa(2048)?, by_int)?;
    let orphan = leaf("Orphan", &["orphan@example.org"]);
    out.leaf(ORPHAN, ORPHAN_KEY, orphan, &rsa(2048)?, by_other)?;
    out.write(STRAY_KEY, rsa(2048)?.private_key_to_pem_pkcs8()?)?;

    // Bundles.
    out.write(
        CHAIN,
        [
            "Intermediate: smimed Test Intermediate CA\n",
            &pem_str(int.to_pem()?),
            "\nRoot: smimed Test Root CA\n",
            &pem_str(root.to_pem()?),
        ]
        .concat(),
    )?;
    let mut all = String::new();
    for cert in [&root, &int, &alice, &bob, &carol, &dave] {
        all += &pem_str(cert.to_pem()?);
    }
    out.write(ALL_VALID, all)?;
    out.write(
        BROKEN_BUNDLE,
        [
            pem_str(alice.to_pem()?),
            corrupt(&pem_str(carol.to_pem()?)),
            pem_str(bob.to_pem()?),
        ]
        .concat(),
    )?;
    let alice_pem = pem_str(alice.to_pem()?);
    out.write(TRUNCATED, &alice_pem[..alice_pem.len() / 2])?;
    let p7 = certs_only_pkcs7(&[&int, &root, &alice])?;
    out.write(CHAIN_P7B, p7.to_der()?)?;
    out.write(CHAIN_P7B_PEM, p7.to_pem()?)?;

    Ok(out.pki)
}

/// Writes files into the PKI directory and records their names.
struct Out {
    pki: Pki,
}

impl Out {
    fn write(&mut self, name: &'static str, data: impl AsRef<[u8]>) -> Result<(), Error> {
        let path = self.pki.path(name);
        fs::write(&path, data).map_err(|e| Error::Io(path, e))?;
        self.pki.files.push(name);
        Ok(())
    }

    /// Issues `leaf`, then writes it and its unencrypted PKCS#8 key.
    fn leaf(
        &mut self,
        cert_name: &'static str,
        key_name: &'static str,
        leaf: Leaf,
        key: &PKey<Private>,
        issuer: (&X509Ref, &PKeyRef<Private>),
    ) -> Result<X509, Error> {
        let cert = leaf.issue(key, issuer)?;
        self.write(cert_name, cert.to_pem()?)?;
        self.write(key_name, key.private_key_to_pem_pkcs8()?)?;
        Ok(cert)
    }
}

/// keyUsage of an end-entity certificate (always critical).
#[derive(Clone, Copy)]
enum Ku {
    /// digitalSignature, nonRepudiation, keyEncipherment (RSA mail).
    RsaMail,
    /// digitalSignature, keyAgreement (EC mail).
    Agree,
    SignOnly,
    DataOnly,
}

/// What varies between end-entity certificates.
#[derive(Clone, Copy)]
struct Leaf<'a> {
    cn: &'a str,
    /// `emailAddress` in the subject DN.
    dn_email: Option<&'a str>,
    /// rfc822Name entries of subjectAltName (none: no extension).
    emails: &'a [&'a str],
    ku: Ku,
    /// EKU serverAuth instead of emailProtection.
    server_auth: bool,
    validity: (i64, i64),
    sha1: bool,
}

impl<'a> Leaf<'a> {
    fn new(cn: &'a str, emails: &'a [&'a str], validity: (i64, i64)) -> Self {
        Leaf {
            cn,
            dn_email: None,
            emails,
            ku: Ku::RsaMail,
            server_auth: false,
            validity,
            sha1: false,
        }
    }

    fn dn_email(self, email: &'a str) -> Self {
        Leaf {
            dn_email: Some(email),
            ..self
        }
    }

    fn ku(self, ku: Ku) -> Self {
        Leaf { ku, ..self }
    }

    fn server_auth(self) -> Self {
        Leaf {
            server_auth: true,
            ..self
        }
    }

    fn valid(self, not_before: i64, not_after: i64) -> Self {
        Leaf {
            validity: (not_before, not_after),
            ..self
        }
    }

    fn sha1(self) -> Self {
        Leaf { sha1: true, ..self }
    }

    fn issue(
        &self,
        key: &PKeyRef<Private>,
        issuer: (&X509Ref, &PKeyRef<Private>),
    ) -> Result<X509, ErrorStack> {
        let mut name = X509Name::builder()?;
        name.append_entry_by_nid(Nid::COMMONNAME, self.cn)?;
        if let Some(email) = self.dn_email {
            name.append_entry_by_nid(Nid::PKCS9_EMAILADDRESS, email)?;
        }
        let mut ku = KeyUsage::new();
        ku.critical();
        match self.ku {
            Ku::RsaMail => ku.digital_signature().non_repudiation().key_encipherment(),
            Ku::Agree => ku.digital_signature().key_agreement(),
            Ku::SignOnly => ku.digital_signature(),
            Ku::DataOnly => ku.data_encipherment(),
        };
        let mut eku = ExtendedKeyUsage::new();
        if self.server_auth {
            eku.server_auth();
        } else {
            eku.email_protection();
        }
        let mut exts = vec![
            BasicConstraints::new().critical().build()?,
            ku.build()?,
            eku.build()?,
        ];
        if !self.emails.is_empty() {
            let mut san = SubjectAlternativeName::new();
            for email in self.emails {
                san.email(email);
            }
            // The context is unused for rfc822Name entries.
            exts.push(san.build(&X509Builder::new()?.x509v3_context(None, None))?);
        }
        let digest = if self.sha1 {
            MessageDigest::sha1()
        } else {
            MessageDigest::sha256()
        };
        cert(
            key,
            &name.build(),
            Some(issuer),
            self.validity,
            digest,
            exts,
        )
    }
}

fn ca_cert(
    key: &PKeyRef<Private>,
    cn: &str,
    issuer: Option<(&X509Ref, &PKeyRef<Private>)>,
    validity: (i64, i64),
) -> Result<X509, ErrorStack> {
    let mut name = X509Name::builder()?;
    name.append_entry_by_nid(Nid::COMMONNAME, cn)?;
    let mut bc = BasicConstraints::new();
    bc.critical().ca();
    if issuer.is_some() {
        bc.pathlen(0);
    }
    let ku = KeyUsage::new()
        .critical()
        .key_cert_sign()
        .crl_sign()
        .build()?;
    let exts = vec![bc.build()?, ku];
    cert(
        key,
        &name.build(),
        issuer,
        validity,
        MessageDigest::sha256(),
        exts,
    )
}

/// A v3 certificate with a random 128-bit serial, subjectKeyIdentifier and
/// (unless self-signed, `issuer` None) authorityKeyIdentifier.
fn cert(
    key: &PKeyRef<Private>,
    subject: &X509NameRef,
    issuer: Option<(&X509Ref, &PKeyRef<Private>)>,
    validity: (i64, i64),
    digest: MessageDigest,
    extensions: Vec<X509Extension>,
) -> Result<X509, ErrorStack> {
    let mut b = builder(2, subject, key, issuer, validity)?;
    for ext in extensions {
        b.append_extension(ext)?;
    }
    finish(b, key, issuer, digest)
}

/// A certificate of `version` (0 for v1, 2 for v3) for `subject` on `key`,
/// issued by `issuer` (self-signed when `None`), valid from `not_before`
/// to `not_after`, with a random 128-bit serial number; not yet signed.
pub(crate) fn builder(
    version: i32,
    subject: &X509NameRef,
    key: &PKeyRef<Private>,
    issuer: Option<(&X509Ref, &PKeyRef<Private>)>,
    (not_before, not_after): (i64, i64),
) -> Result<X509Builder, ErrorStack> {
    let mut b = X509Builder::new()?;
    b.set_version(version)?;
    let mut serial = BigNum::new()?;
    serial.rand(128, MsbOption::ONE, false)?;
    let serial = serial.to_asn1_integer()?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(subject)?;
    b.set_issuer_name(issuer.map_or(subject, |(ca, _)| ca.subject_name()))?;
    b.set_pubkey(key)?;
    let (not_before, not_after) = (
        Asn1Time::from_unix(not_before)?,
        Asn1Time::from_unix(not_after)?,
    );
    b.set_not_before(&not_before)?;
    b.set_not_after(&not_after)?;
    Ok(b)
}

/// Adds subjectKeyIdentifier and, when the issuer has a key identifier,
/// authorityKeyIdentifier, then signs (with the issuer's key, or `key`).
pub(crate) fn finish(
    mut b: X509Builder,
    key: &PKeyRef<Private>,
    issuer: Option<(&X509Ref, &PKeyRef<Private>)>,
    digest: MessageDigest,
) -> Result<X509, ErrorStack> {
    let ski = SubjectKeyIdentifier::new().build(&b.x509v3_context(None, None))?;
    b.append_extension(ski)?;
    // An issuer without a key identifier (a v1 root) gets none named.
    if let Some((ca, _)) = issuer.filter(|(ca, _)| ca.subject_key_id().is_some()) {
        let aki = AuthorityKeyIdentifier::new()
            .keyid(true)
            .build(&b.x509v3_context(Some(ca), None))?;
        b.append_extension(aki)?;
    }
    b.sign(issuer.map_or(key, |(_, ca_key)| ca_key), digest)?;
    Ok(b.build())
}

fn rsa(bits: u32) -> Result<PKey<Private>, ErrorStack> {
    PKey::from_rsa(Rsa::generate(bits)?)
}

fn ec(curve: Nid) -> Result<PKey<Private>, ErrorStack> {
    let group = EcGroup::from_curve_name(curve)?;
    PKey::from_ec_key(EcKey::generate(&group)?)
}

fn stack(certs: &[&X509]) -> Result<Stack<X509>, ErrorStack> {
    let mut stack = Stack::new()?;
    for cert in certs {
        stack.push((*cert).clone())?;
    }
    Ok(stack)
}

/// PEM output of the openssl crate is ASCII.
fn pem_str(pem: Vec<u8>) -> String {
    String::from_utf8_lossy(&pem).into_owned()
}

/// Keeps the PEM armour but puts characters that are not base64 in the
/// middle line of the body.
fn corrupt(pem: &str) -> String {
    let mut lines: Vec<String> = pem.lines().map(str::to_owned).collect();
    let middle = lines.len() / 2;
    lines[middle] = "*** corrupted on purpose: this line is not base64 ***".to_owned();
    lines.join("\n") + "\n"
}

/// A degenerate (certs-only) PKCS#7 SignedData, as written by
/// `openssl crl2pkcs7 -nocrl`: the crate has no builder for it, so it is
/// assembled in DER and then parsed (which validates it).
fn certs_only_pkcs7(certs: &[&X509]) -> Result<Pkcs7, ErrorStack> {
    use der::encode as der;
    const OID_SIGNED_DATA: &[u8] = &[6, 9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 7, 2];
    const OID_DATA: &[u8] = &[6, 9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 7, 1];
    let mut cert_ders = Vec::new();
    for cert in certs {
        cert_ders.extend(cert.to_der()?);
    }
    let signed_data = der(
        0x30,
        &[
            &[2, 1, 1][..],         // version 1
            &der(0x31, &[]),        // digestAlgorithms: none
            &der(0x30, OID_DATA),   // encapContentInfo: data, absent
            &der(0xa0, &cert_ders), // [0] certificates
            &der(0x31, &[]),        // signerInfos: none
        ]
        .concat(),
    );
    Pkcs7::from_der(&der(
        0x30,
        &[OID_SIGNED_DATA, &der(0xa0, &signed_data)].concat(),
    ))
}

#[cfg(test)]
mod tests {
    use super::files::*;
    use super::*;
    use openssl::x509::X509StoreContext;
    use openssl::x509::store::X509StoreBuilder;

    fn temp_dir() -> PathBuf {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        std::env::temp_dir().join(format!("testpki-{}-{nanos}", std::process::id()))
    }

    fn load(pki: &Pki, name: &str) -> X509 {
        X509::from_pem(&fs::read(pki.path(name)).unwrap()).unwrap()
    }

    fn verifies(root: &X509, intermediate: &X509, leaf: &X509) -> bool {
        let mut store = X509StoreBuilder::new().unwrap();
        store.add_cert(root.clone()).unwrap();
        let store = store.build();
        let chain = stack(&[intermediate]).unwrap();
        let mut ctx = X509StoreContext::new().unwrap();
        ctx.init(&store, leaf, &chain, |c| c.verify_cert()).unwrap()
    }

    #[test]
    fn generated_pki_is_what_it_claims() {
        let dir = temp_dir();
        let pki = generate(&dir).unwrap();
        for name in &pki.files {
            assert!(pki.path(name).is_file(), "{name} missing");
        }

        let (root, int) = (load(&pki, CA), load(&pki, INTERMEDIATE));
        assert!(verifies(&root, &int, &load(&pki, ALICE)));
        assert!(verifies(&root, &int, &load(&pki, BOB)));
        assert!(!verifies(&root, &int, &load(&pki, ORPHAN)));
        assert!(!verifies(&root, &int, &load(&pki, EXPIRED)));

        let now = Asn1Time::days_from_now(0).unwrap();
        assert!(load(&pki, EXPIRED).not_after() < now);
        assert!(load(&pki, NOTYET).not_before() > now);
        assert!(load(&pki, DAVE_DN).subject_alt_names().is_none());
        let carol_sans = load(&pki, CAROL).subject_alt_names().unwrap();
        assert_eq!(carol_sans[1].email(), Some("Carol.Second@Example.org"));

        let alice = load(&pki, ALICE);
        load_legacy_providers().unwrap();
        for p12 in [ALICE_P12, ALICE_LEGACY_P12] {
            let parsed = Pkcs12::from_der(&fs::read(pki.path(p12)).unwrap())
                .unwrap()
                .parse2(P12_PASSWORD)
                .unwrap();
            assert_eq!(
                parsed.cert.unwrap().to_der().unwrap(),
                alice.to_der().unwrap()
            );
            assert!(parsed.pkey.unwrap().public_eq(&alice.public_key().unwrap()));
            assert_eq!(parsed.ca.unwrap().len(), 2);
        }
        let enc = fs::read(pki.path(ALICE_KEY_ENC)).unwrap();
        PKey::private_key_from_pem_passphrase(&enc, ALICE_KEY_PASSPHRASE.as_bytes()).unwrap();
        let legacy = fs::read(pki.path(ALICE_KEY_LEGACY)).unwrap();
        Rsa::private_key_from_pem_passphrase(&legacy, ALICE_KEY_PASSPHRASE.as_bytes()).unwrap();
        let p7 = Pkcs7::from_der(&fs::read(pki.path(CHAIN_P7B)).unwrap()).unwrap();
        assert_eq!(p7.signed().unwrap().certificates().unwrap().len(), 3);

        fs::remove_dir_all(&dir).unwrap();

        // The committed copy has every file, and the README describes each.
        let committed = Pki::committed();
        let readme = fs::read_to_string(committed.path("README.md")).unwrap();
        for name in &pki.files {
            assert!(
                committed.path(name).is_file(),
                "tests/data/pki/{name} missing"
            );
            assert!(
                readme.contains(&format!("`{name}`")),
                "README.md misses {name}"
            );
        }
    }

    /// Fails a year before the committed fixtures expire: regenerate them
    /// with `cargo run -p testpki -- tests/data/pki`.
    #[test]
    fn committed_fixtures_are_fresh() {
        let in_a_year = Asn1Time::days_from_now(365).unwrap();
        assert!(
            load(&Pki::committed(), ALICE).not_after() > in_a_year,
            "fixtures expire within a year: cargo run -p testpki -- tests/data/pki"
        );
    }
}
