//! What is inside an uploaded or pasted file: certificates and private
//! keys, whatever the format. Formats are detected by content, never by
//! file name: PEM (any mix of blocks), DER, PKCS#7 and PKCS#12.

use std::borrow::Cow;

use openssl::pkcs7::Pkcs7;
use openssl::pkcs12::Pkcs12;
use openssl::x509::X509;
use zeroize::Zeroizing;

use crate::cert::first_reason;
use crate::der;
use crate::key::{from_der, from_pem_block, is_key_label};
use crate::policy::{KdfBudget, KdfLimits};
use crate::{Certificate, Error, PrivateKey, Result};

/// Everything one input holds, in input order.
#[derive(Debug, Default)]
pub struct Bundle {
    /// Certificates, including the chain of a PKCS#12 file.
    pub certificates: Vec<Certificate>,
    /// Private keys.
    pub keys: Vec<PrivateKey>,
}

/// Parses a whole input, or fails naming the first part that is wrong.
/// `passphrase` opens PKCS#12 files and encrypted keys.
pub fn parse(input: &[u8], passphrase: Option<&str>) -> Result<Bundle> {
    parse_with(input, passphrase, &KdfLimits::default())
}

/// [`parse`] with these bounds on key derivation.
pub fn parse_with(input: &[u8], passphrase: Option<&str>, kdf: &KdfLimits) -> Result<Bundle> {
    let kdf = &KdfBudget::new(*kdf);
    crate::init();
    if input.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::Empty);
    }
    if crate::pem::is_pem(input) {
        // A copy is made only for input that is not UTF-8; it may hold a
        // key, so it is zeroed too.
        match String::from_utf8_lossy(input) {
            Cow::Borrowed(text) => parse_pem(text, passphrase, kdf),
            Cow::Owned(text) => parse_pem(&Zeroizing::new(text), passphrase, kdf),
        }
    } else {
        parse_der(input, passphrase, kdf)
    }
}

fn parse_pem(text: &str, passphrase: Option<&str>, kdf: &KdfBudget) -> Result<Bundle> {
    // The whole file's key derivation work is counted before the first
    // key is opened: a file over its total is refused without running any.
    let total = kdf.fresh();
    for block in crate::pem::scan(text)? {
        if block.label == "ENCRYPTED PRIVATE KEY" {
            check_pkcs8_iterations(&block.der()?, &block.describe(), &total)?;
        }
    }
    let mut bundle = Bundle::default();
    let mut recognised = false;
    for block in crate::pem::scan(text)? {
        let malformed = |e: Error| match e {
            Error::Malformed { reason, .. } => Error::Malformed {
                item: block.describe(),
                reason,
            },
            other => other,
        };
        match block.label {
            "CERTIFICATE" | "TRUSTED CERTIFICATE" | "X509 CERTIFICATE" => {
                recognised = true;
                let cert = Certificate::from_der(&block.der()?).map_err(malformed)?;
                bundle.certificates.push(cert);
            }
            "PKCS7" | "CMS" => {
                recognised = true;
                let mut inner = pkcs7_certificates(&block.der()?).map_err(malformed)?;
                bundle.certificates.append(&mut inner);
            }
            label if is_key_label(label) => {
                recognised = true;
                bundle.keys.push(from_pem_block(&block, passphrase, kdf)?);
            }
            // CRLs, CSRs, public keys: text around what we read.
            _ => {}
        }
    }
    if !recognised {
        return Err(Error::Unreadable);
    }
    Ok(bundle)
}

fn parse_der(der: &[u8], passphrase: Option<&str>, kdf: &KdfBudget) -> Result<Bundle> {
    if der.first() != Some(&0x30) {
        return Err(Error::Unreadable);
    }
    if let Ok(x509) = X509::from_der(der) {
        return Ok(Bundle {
            certificates: vec![Certificate::from_x509(x509)?],
            keys: Vec::new(),
        });
    }
    if Pkcs7::from_der(der).is_ok() {
        return Ok(Bundle {
            certificates: pkcs7_certificates(der)?,
            keys: Vec::new(),
        });
    }
    if let Ok(p12) = Pkcs12::from_der(der) {
        check_pkcs12_iterations(der, kdf)?;
        return parse_pkcs12(&p12, passphrase);
    }
    match from_der(der, passphrase, kdf)? {
        Some(key) => Ok(Bundle {
            certificates: Vec::new(),
            keys: vec![key],
        }),
        None => Err(Error::Unreadable),
    }
}

fn pkcs7_certificates(der: &[u8]) -> Result<Vec<Certificate>> {
    let malformed = |reason: String| Error::Malformed {
        item: "the PKCS#7 bundle".into(),
        reason,
    };
    let p7 = Pkcs7::from_der(der).map_err(|e| malformed(first_reason(&e)))?;
    let certs = p7
        .signed()
        .and_then(|signed| signed.certificates())
        .ok_or_else(|| malformed("it holds no certificates".into()))?;
    certs
        .iter()
        .map(|c| Certificate::from_x509(c.to_owned()))
        .collect()
}

fn parse_pkcs12(p12: &Pkcs12, passphrase: Option<&str>) -> Result<Bundle> {
    let what = || "the PKCS#12 file".to_string();
    let pass = passphrase.unwrap_or_default();
    let parsed = match p12.parse2(pass) {
        Ok(parsed) => parsed,
        Err(_) if passphrase.is_none() => return Err(Error::PassphraseRequired { what: what() }),
        Err(e) if crate::ffi::has_reason(&e, crate::ffi::MAC_VERIFY_FAILURE) => {
            return Err(Error::WrongPassphrase { what: what() });
        }
        Err(e) => {
            return Err(Error::Malformed {
                item: what(),
                reason: first_reason(&e),
            });
        }
    };
    let mut bundle = Bundle::default();
    if let Some(cert) = parsed.cert {
        bundle.certificates.push(Certificate::from_x509(cert)?);
    }
    for ca in parsed.ca.into_iter().flatten() {
        bundle.certificates.push(Certificate::from_x509(ca)?);
    }
    if let Some(pkey) = parsed.pkey {
        bundle.keys.push(PrivateKey::from_pkcs12(pkey, pass)?);
    }
    Ok(bundle)
}

/// The default bound on the work of one key derivation ([`KdfLimits`]).
pub const MAX_ITERATIONS: u64 = 1_000_000;

/// Charges `kdf` with the key derivations of a PKCS#12 file (its MAC and
/// every password-encrypted part), before OpenSSL derives any key from the
/// passphrase. Parts whose structure cannot be followed are left to OpenSSL.
fn check_pkcs12_iterations(der: &[u8], kdf: &KdfBudget) -> Result<()> {
    for (what, work) in pkcs12_iterations(der) {
        kdf.charge("the PKCS#12 file", what, work)?;
    }
    Ok(())
}

/// The same for an encrypted PKCS#8 key: `EncryptedPrivateKeyInfo ::=
/// SEQUENCE { encryptionAlgorithm, encryptedData OCTET STRING }`. Anything
/// of another shape passes (it is no encrypted key).
pub(crate) fn check_pkcs8_iterations(der: &[u8], item: &str, kdf: &KdfBudget) -> Result<()> {
    let work = der::read(der, 0)
        .and_then(|(info, _)| der::children(info.contents, 1))
        .filter(|f| f.len() == 2 && f[0].tag == 0x30 && f[1].tag == 0x04)
        .and_then(|fields| alg_iterations(&fields[0], 2))
        .unwrap_or(0);
    kdf.charge(item, "its encryption", work)
}

const OID_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
const OID_ENCRYPTED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x06];
const OID_SHROUDED_KEY_BAG: &[u8] = &[
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x0a, 0x01, 0x02,
];
const OID_SAFE_CONTENTS_BAG: &[u8] = &[
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x0a, 0x01, 0x06,
];

/// Every iteration count a PKCS#12 file names (RFC 7292): the MAC's, and
/// that of each password-encrypted part (encryptedData, shrouded key bags).
fn pkcs12_iterations(der: &[u8]) -> Vec<(&'static str, u64)> {
    let mut out = Vec::new();
    let Some(fields) = der::read(der, 0).and_then(|(pfx, _)| der::children(pfx.contents, 1)) else {
        return out;
    };
    // PFX ::= SEQUENCE { version, authSafe ContentInfo, macData MacData OPTIONAL }
    // MacData ::= SEQUENCE { mac, macSalt, iterations INTEGER DEFAULT 1 }
    if let Some(mac) = fields.get(2).and_then(|m| der::children(m.contents, 2)) {
        out.push(("its MAC", mac.get(2).and_then(integer).unwrap_or(1)));
    }
    let Some(auth_safe) = fields.get(1).and_then(|a| data_octets(a, 2)) else {
        return out;
    };
    // AuthenticatedSafe ::= SEQUENCE OF ContentInfo
    let Some(infos) =
        der::read(&auth_safe, 3).and_then(|(safe, _)| der::children(safe.contents, 4))
    else {
        return out;
    };
    for info in &infos {
        let Some(parts) = der::children(info.contents, 5) else {
            continue;
        };
        let Some(content) = parts
            .get(1)
            .and_then(|explicit| der::children(explicit.contents, 6))
            .and_then(|c| c.into_iter().next())
        else {
            continue;
        };
        match parts.first().map(|oid| oid.contents) {
            Some(OID_DATA) => {
                if let Some(bags) = der::octets(&content, 7) {
                    bag_iterations(&bags, 8, &mut out);
                }
            }
            Some(OID_ENCRYPTED_DATA) => {
                // EncryptedData ::= SEQUENCE { version, EncryptedContentInfo
                // SEQUENCE { contentType, contentEncryptionAlgorithm, .. } }
                let n = der::children(content.contents, 7)
                    .and_then(|ed| der::children(ed.get(1)?.contents, 8))
                    .and_then(|eci| alg_iterations(eci.get(1)?, 9));
                if let Some(n) = n {
                    out.push(("its encrypted part", n));
                }
            }
            _ => {}
        }
    }
    out
}

/// `ContentInfo` of type data: the bytes of its OCTET STRING.
fn data_octets(info: &der::Tlv<'_>, depth: usize) -> Option<Vec<u8>> {
    let parts = der::children(info.contents, depth)?;
    if parts.first()?.contents != OID_DATA {
        return None;
    }
    let explicit = der::children(parts.get(1)?.contents, depth + 1)?;
    der::octets(explicit.first()?, depth + 2).map(Cow::into_owned)
}

/// SafeContents ::= SEQUENCE OF SafeBag { bagId, [0] bagValue, attrs }.
fn bag_iterations(der: &[u8], depth: usize, out: &mut Vec<(&'static str, u64)>) {
    let Some(bags) = der::read(der, depth).and_then(|(s, _)| der::children(s.contents, depth + 1))
    else {
        return;
    };
    for bag in bags {
        let Some(parts) = der::children(bag.contents, depth + 2) else {
            continue;
        };
        let Some(value) = parts
            .get(1)
            .and_then(|explicit| der::children(explicit.contents, depth + 3))
            .and_then(|v| v.into_iter().next())
        else {
            continue;
        };
        match parts.first().map(|oid| oid.contents) {
            Some(OID_SHROUDED_KEY_BAG) => {
                // EncryptedPrivateKeyInfo ::= SEQUENCE { algorithm, data }
                let n = der::children(value.contents, depth + 4)
                    .and_then(|epki| alg_iterations(epki.first()?, depth + 5));
                if let Some(n) = n {
                    out.push(("its private key", n));
                }
            }
            Some(OID_SAFE_CONTENTS_BAG) if depth < 16 => {
                bag_iterations(value.whole, depth + 4, out);
            }
            _ => {}
        }
    }
}

/// `1.3.6.1.4.1.11591.4.11` id-scrypt (RFC 7914).
const OID_SCRYPT: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0xda, 0x47, 0x04, 0x0b];

/// The work of a password-based encryption AlgorithmIdentifier: PKCS#12
/// PBE and PBES1 parameters are `{ salt, iterations }`, PBKDF2's `{ salt,
/// iterationCount, .. }`, scrypt's `{ salt, N, r, p, .. }` (work N·r·p),
/// and PBES2's `{ keyDerivationFunc, encryptionScheme }` hold one of the
/// last two. 0 when there is none.
fn alg_iterations(alg: &der::Tlv<'_>, depth: usize) -> Option<u64> {
    let parts = der::children(alg.contents, depth)?;
    let Some(params) = parts.get(1) else {
        return Some(0);
    };
    let fields = der::children(params.contents, depth + 1)?;
    if parts.first().map(|oid| oid.contents) == Some(OID_SCRYPT) {
        let n = fields.get(1).and_then(integer)?;
        let r = fields.get(2).and_then(integer)?;
        let p = fields.get(3).and_then(integer)?;
        return Some(n.saturating_mul(r).saturating_mul(p));
    }
    match (fields.first(), fields.get(1)) {
        (Some(salt), Some(n)) if salt.tag == 0x04 && n.tag == 0x02 => integer(n),
        (Some(kdf), _) if kdf.tag == 0x30 && depth < 16 => alg_iterations(kdf, depth + 2),
        _ => Some(0),
    }
}

/// A non-negative INTEGER; saturates at `u64::MAX`, negative counts as 0.
fn integer(t: &der::Tlv<'_>) -> Option<u64> {
    if t.tag != 0x02 || t.contents.is_empty() {
        return None;
    }
    if t.contents[0] & 0x80 != 0 {
        return Some(0);
    }
    let digits: Vec<u8> = t.contents.iter().copied().skip_while(|&b| b == 0).collect();
    if digits.len() > 8 {
        return Some(u64::MAX);
    }
    Some(digits.iter().fold(0u64, |n, &b| (n << 8) | u64::from(b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pki(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/../../tests/data/pki/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    /// DER with every INTEGER 2048 made `to`, lengths redone; with
    /// `octets`, also inside OCTET STRINGs that hold DER.
    fn bump(der: &[u8], to: u64, octets: bool) -> Vec<u8> {
        let (t, rest) = der::read(der, 0).unwrap();
        assert!(rest.is_empty());
        let inner = |c: &[u8]| {
            der::children(c, 0)
                .unwrap()
                .iter()
                .map(|child| bump(child.whole, to, octets))
                .collect::<Vec<_>>()
                .concat()
        };
        match t.tag {
            0x02 if t.contents == [0x08, 0x00] => {
                let mut n = to.to_be_bytes().to_vec();
                while n.len() > 1 && n[0] == 0 && n[1] & 0x80 == 0 {
                    n.remove(0);
                }
                der::encode(0x02, &n)
            }
            tag if tag & 0x20 != 0 => der::encode(tag, &inner(t.contents)),
            0x04 if octets
                && t.contents.first() == Some(&0x30)
                && der::read(t.contents, 0).is_some_and(|(_, r)| r.is_empty()) =>
            {
                der::encode(0x04, &bump(t.contents, to, octets))
            }
            _ => t.whole.to_vec(),
        }
    }

    /// The same value in BER: indefinite lengths, and OCTET STRINGs that
    /// hold DER sent in two pieces (their bytes unchanged: the MAC covers
    /// them).
    fn to_ber(der: &[u8]) -> Vec<u8> {
        let (t, _) = der::read(der, 0).unwrap();
        let inner = |c: &[u8]| {
            der::children(c, 0)
                .unwrap()
                .iter()
                .map(|child| to_ber(child.whole))
                .collect::<Vec<_>>()
                .concat()
        };
        match t.tag {
            tag if tag & 0x20 != 0 => [&[tag, 0x80][..], &inner(t.contents), &[0, 0]].concat(),
            0x04 if t.contents.first() == Some(&0x30)
                && der::read(t.contents, 0).is_some_and(|(_, r)| r.is_empty()) =>
            {
                let (a, z) = t.contents.split_at(t.contents.len() / 2);
                [
                    &[0x24, 0x80][..],
                    &der::encode(0x04, a),
                    &der::encode(0x04, z),
                    &[0, 0],
                ]
                .concat()
            }
            _ => t.whole.to_vec(),
        }
    }

    #[test]
    fn pkcs12_iteration_counts_are_read_in_der_and_ber() {
        crate::init();
        let expected = vec![
            ("its MAC", 2048),
            ("its encrypted part", 2048),
            ("its private key", 2048),
        ];
        for name in ["alice.p12", "alice.legacy.p12"] {
            let der = pki(name);
            assert_eq!(pkcs12_iterations(&der), expected, "{name}");
            let ber = to_ber(&der);
            assert_ne!(ber, der);
            assert_eq!(pkcs12_iterations(&ber), expected, "{name} as BER");
            // OpenSSL reads the BER form too, so it is a fair test.
            let bundle = parse(&ber, Some(testpki::P12_PASSWORD)).unwrap();
            assert_eq!(bundle.keys.len(), 1, "{name} as BER");
        }
    }

    #[test]
    fn too_many_iterations_are_refused_before_openssl_runs_them() {
        crate::init();
        let der = pki("alice.p12");
        for (octets, part) in [(false, "its MAC"), (true, "its private key")] {
            let huge = bump(&der, 10_000_000, octets);
            let e = parse(&huge, Some(testpki::P12_PASSWORD)).unwrap_err();
            let text = e.to_string();
            assert!(
                text.contains("10000000") && text.contains("the PKCS#12 file"),
                "{text}"
            );
            assert!(
                !octets
                    || ["its MAC", part, "encrypted part"]
                        .iter()
                        .any(|p| text.contains(p)),
                "{text}"
            );
        }
        // At the limit it is still read (and here fails on its MAC, which
        // the edit broke, not on the count).
        let at_limit = bump(&der, MAX_ITERATIONS, false);
        assert!(pkcs12_iterations(&at_limit).contains(&("its MAC", MAX_ITERATIONS)));
        let budget = KdfBudget::new(KdfLimits::default());
        assert!(check_pkcs12_iterations(&at_limit, &budget).is_ok());

        // An encrypted PKCS#8 key, PEM and DER.
        let pem = String::from_utf8(pki("alice.key.enc.pem")).unwrap();
        let block = &crate::pem::scan(&pem).unwrap()[0];
        let epki = block.der().unwrap();
        let budget = KdfBudget::new(KdfLimits::default());
        assert!(check_pkcs8_iterations(&epki, "k", &budget).is_ok());
        let huge = bump(&epki, 10_000_000, false);
        let e = parse(&huge, Some(testpki::ALICE_KEY_PASSPHRASE)).unwrap_err();
        assert!(e.to_string().contains("10000000"), "{e}");
        let huge_pem = format!(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\n{}\n-----END ENCRYPTED PRIVATE KEY-----\n",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &huge)
        );
        let e = parse(huge_pem.as_bytes(), Some(testpki::ALICE_KEY_PASSPHRASE)).unwrap_err();
        assert!(e.to_string().contains("PEM block 1"), "{e}");
        assert!(e.to_string().contains("10000000"), "{e}");
    }

    #[test]
    fn scrypt_work_and_the_total_of_a_file_are_bounded() {
        crate::init();
        // OpenSSL's own scrypt-encrypted PKCS#8 (N 16384, r 8, p 1), then
        // the same with p raised until N·r·p passes the bound.
        let key =
            openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
        let pem = key
            .private_key_to_pem_pkcs8_passphrase(openssl::symm::Cipher::aes_256_cbc(), b"pw")
            .unwrap();
        assert!(parse(&pem, Some("pw")).is_ok());
        let scrypt = |n: u64, r: u64, p: u64| -> Vec<u8> {
            let params = der::constructed(
                0x30,
                &[
                    &der::encode(0x04, b"saltsalt"),
                    &integer_der(n),
                    &integer_der(r),
                    &integer_der(p),
                ],
            );
            let alg = der::constructed(0x30, &[&der::encode(0x06, OID_SCRYPT), &params]);
            let pbes2 = der::constructed(
                0x30,
                &[
                    &alg,
                    &der::algorithm(
                        &crate::der::tests::oid("2.16.840.1.101.3.4.1.42"),
                        Some(&der::encode(0x04, &[0; 16])),
                    ),
                ],
            );
            let alg = der::constructed(
                0x30,
                &[
                    &der::encode(0x06, &crate::der::tests::oid("1.2.840.113549.1.5.13")),
                    &pbes2,
                ],
            );
            der::constructed(0x30, &[&alg, &der::encode(0x04, &[0; 64])])
        };
        let cost = |d: &[u8]| {
            let (info, _) = der::read(d, 0).unwrap();
            alg_iterations(&der::children(info.contents, 1).unwrap()[0], 2).unwrap()
        };
        assert_eq!(cost(&scrypt(16384, 8, 1)), 131_072);
        let fine = KdfBudget::new(KdfLimits::default());
        assert!(check_pkcs8_iterations(&scrypt(16384, 8, 7), "k", &fine).is_ok());
        let e = check_pkcs8_iterations(&scrypt(16384, 8, 8), "k", &fine).unwrap_err();
        assert!(e.to_string().contains("1048576"), "{e}");
        assert!(e.to_string().contains("scrypt"), "{e}");
        // Each within the bound, too many together.
        let budget = KdfBudget::new(KdfLimits::default());
        // 34 × 917,504 is within the 32,000,000 of a file; the 35th is not.
        for _ in 0..34 {
            check_pkcs8_iterations(&scrypt(16384, 8, 7), "k", &budget).unwrap();
        }
        let e = check_pkcs8_iterations(&scrypt(16384, 8, 7), "k", &budget).unwrap_err();
        assert!(e.to_string().contains("in all"), "{e}");
    }

    fn integer_der(n: u64) -> Vec<u8> {
        let bytes = n.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count().min(7);
        let mut body = bytes[skip..].to_vec();
        if body[0] & 0x80 != 0 {
            body.insert(0, 0);
        }
        der::encode(0x02, &body)
    }
}
