//! Certificates an attacker (or a legacy PKI) would bring, made by OpenSSL
//! at test time: v1 certificates without extensions, contact certificates
//! that may also sign certificates, and user certificates from any issuer.
//! The regression tests of the trust rules build their inputs from these.

use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, PKeyRef, Private};
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
};
use openssl::x509::{X509, X509Name, X509Ref};

use crate::{DAY, YEAR, unix_now};

/// An issuer: its certificate and key.
pub type Issuer<'a> = (&'a X509Ref, &'a PKeyRef<Private>);

/// A new RSA key of `bits` bits.
pub fn rsa_key(bits: u32) -> Result<PKey<Private>, ErrorStack> {
    crate::rsa(bits)
}

/// An X.509 v1 certificate (no extensions at all) for `cn`, with `email`
/// in the subject DN if given; self-signed when `issuer` is `None`. Valid
/// from a day ago for ten years.
pub fn v1(
    cn: &str,
    email: Option<&str>,
    key: &PKeyRef<Private>,
    issuer: Option<Issuer<'_>>,
) -> Result<X509, ErrorStack> {
    let mut name = X509Name::builder()?;
    name.append_entry_by_nid(Nid::COMMONNAME, cn)?;
    if let Some(email) = email {
        name.append_entry_by_nid(Nid::PKCS9_EMAILADDRESS, email)?;
    }
    let mut b = crate::builder(0, &name.build(), key, issuer, ten_years())?;
    b.sign(issuer.map_or(key, |(_, k)| k), MessageDigest::sha256())?;
    Ok(b.build())
}

/// From a day ago for ten years (Unix seconds).
fn ten_years() -> (i64, i64) {
    let now = unix_now();
    (now - DAY, now + 10 * YEAR)
}

/// A contact's S/MIME certificate for `email` whose keyUsage also has
/// keyCertSign and which has no basicConstraints: OpenSSL's non-strict
/// path building accepts such a certificate as an issuer. Self-signed when
/// `issuer` is `None`.
pub fn contact_that_can_sign_certificates(
    email: &str,
    key: &PKeyRef<Private>,
    issuer: Option<Issuer<'_>>,
) -> Result<X509, ErrorStack> {
    let mut ku = KeyUsage::new();
    ku.critical()
        .digital_signature()
        .key_encipherment()
        .key_cert_sign();
    user_with(email, key, issuer, ku.build()?, ten_years())
}

/// An ordinary S/MIME user certificate for `email` (subjectAltName,
/// digitalSignature and keyEncipherment, emailProtection, no
/// basicConstraints) from any issuer: what an attacker mints for the
/// address they want to impersonate.
pub fn user(
    email: &str,
    key: &PKeyRef<Private>,
    issuer: Option<Issuer<'_>>,
) -> Result<X509, ErrorStack> {
    user_valid(email, key, issuer, ten_years())
}

/// [`user`] valid from `validity.0` to `validity.1` (Unix seconds).
pub fn user_valid(
    email: &str,
    key: &PKeyRef<Private>,
    issuer: Option<Issuer<'_>>,
    validity: (i64, i64),
) -> Result<X509, ErrorStack> {
    let mut ku = KeyUsage::new();
    ku.critical().digital_signature().key_encipherment();
    user_with(email, key, issuer, ku.build()?, validity)
}

/// A self-signed CA (basicConstraints CA:TRUE, keyCertSign) valid from
/// `validity.0` to `validity.1` (Unix seconds).
pub fn ca(cn: &str, key: &PKeyRef<Private>, validity: (i64, i64)) -> Result<X509, ErrorStack> {
    let mut name = X509Name::builder()?;
    name.append_entry_by_nid(Nid::COMMONNAME, cn)?;
    let mut b = crate::builder(2, &name.build(), key, None, validity)?;
    b.append_extension(BasicConstraints::new().critical().ca().build()?)?;
    let ku = KeyUsage::new()
        .critical()
        .key_cert_sign()
        .crl_sign()
        .build()?;
    b.append_extension(ku)?;
    crate::finish(b, key, None, MessageDigest::sha256())
}

fn user_with(
    email: &str,
    key: &PKeyRef<Private>,
    issuer: Option<Issuer<'_>>,
    ku: openssl::x509::X509Extension,
    validity: (i64, i64),
) -> Result<X509, ErrorStack> {
    let mut name = X509Name::builder()?;
    name.append_entry_by_nid(Nid::COMMONNAME, email)?;
    let mut b = crate::builder(2, &name.build(), key, issuer, validity)?;
    let mut san = SubjectAlternativeName::new();
    san.email(email);
    let san = san.build(&b.x509v3_context(None, None))?;
    b.append_extension(ku)?;
    b.append_extension(ExtendedKeyUsage::new().email_protection().build()?)?;
    b.append_extension(san)?;
    crate::finish(b, key, issuer, MessageDigest::sha256())
}

/// A SignedData written field by field, so that a test can choose what
/// OpenSSL's `CMS_sign` does not let it choose: the digest (MD5, SHA-1)
/// and the signingTime (backdated). RSA (PKCS#1 v1.5) or ECDSA signers.
pub struct SignedData<'a> {
    /// The signed bytes (a MIME entity, CRLF).
    pub content: &'a [u8],
    /// Leave the content out (the `multipart/signed` form).
    pub detached: bool,
    /// The signer's certificate and key.
    pub signer: Issuer<'a>,
    /// The message digest of the signed attributes and the content.
    pub digest: MessageDigest,
    /// The signingTime attribute, Unix seconds; `None`: no such attribute.
    pub signing_time: Option<i64>,
    /// The certificates to carry (the signer's is not added by itself).
    pub certificates: Vec<&'a X509Ref>,
}

impl SignedData<'_> {
    /// The ContentInfo, DER.
    pub fn to_der(&self) -> Result<Vec<u8>, ErrorStack> {
        use crate::der::encode;
        let oid = |text: &str| -> Result<Vec<u8>, ErrorStack> {
            let object = openssl::asn1::Asn1Object::from_str(text)?;
            Ok(encode(0x06, object.as_slice()))
        };
        let algorithm = |text: &str, null: bool| -> Result<Vec<u8>, ErrorStack> {
            let mut contents = oid(text)?;
            if null {
                contents.extend([0x05, 0x00]);
            }
            Ok(encode(0x30, &contents))
        };
        let digest_name = self
            .digest
            .type_()
            .short_name()
            .map_err(|_| ErrorStack::get())?;
        let digest_alg = algorithm(digest_name, false)?;
        let (cert, key) = self.signer;
        let signature_alg = match key.id() {
            openssl::pkey::Id::EC => algorithm(
                match digest_name {
                    "SHA1" => "1.2.840.10045.4.1",
                    "SHA384" => "1.2.840.10045.4.3.3",
                    "SHA512" => "1.2.840.10045.4.3.4",
                    _ => "1.2.840.10045.4.3.2",
                },
                false,
            )?,
            _ => algorithm("1.2.840.113549.1.1.1", true)?,
        };
        let data_oid = oid("1.2.840.113549.1.7.1")?;
        let attribute = |type_oid: &str, value: Vec<u8>| -> Result<Vec<u8>, ErrorStack> {
            Ok(encode(
                0x30,
                &[oid(type_oid)?, encode(0x31, &value)].concat(),
            ))
        };
        let mut attributes = vec![
            attribute("1.2.840.113549.1.9.3", data_oid.clone())?,
            attribute(
                "1.2.840.113549.1.9.4",
                encode(0x04, &openssl::hash::hash(self.digest, self.content)?),
            )?,
        ];
        if let Some(t) = self.signing_time {
            attributes.push(attribute("1.2.840.113549.1.9.5", utc_time(t))?);
        }
        attributes.sort();
        let signed_attrs = encode(0x31, &attributes.concat());
        let mut signer = openssl::sign::Signer::new(self.digest, key)?;
        signer.update(&signed_attrs)?;
        let signature = signer.sign_to_vec()?;

        let serial = cert.serial_number().to_bn()?.to_vec();
        let serial = if serial.first().is_none_or(|b| b & 0x80 != 0) {
            [&[0u8][..], &serial].concat()
        } else {
            serial
        };
        let sid = encode(
            0x30,
            &[cert.issuer_name().to_der()?, encode(0x02, &serial)].concat(),
        );
        let signer_info = encode(
            0x30,
            &[
                vec![0x02, 0x01, 0x01],
                sid,
                digest_alg.clone(),
                [&[0xa0][..], &signed_attrs[1..]].concat(),
                signature_alg,
                encode(0x04, &signature),
            ]
            .concat(),
        );
        let mut encap = data_oid;
        if !self.detached {
            encap.extend(encode(0xa0, &encode(0x04, self.content)));
        }
        let mut fields = vec![
            vec![0x02, 0x01, 0x01],
            encode(0x31, &digest_alg),
            encode(0x30, &encap),
        ];
        if !self.certificates.is_empty() {
            let mut ders = Vec::new();
            for c in &self.certificates {
                ders.extend(c.to_der()?);
            }
            fields.push(encode(0xa0, &ders));
        }
        fields.push(encode(0x31, &signer_info));
        let signed_data = encode(0x30, &fields.concat());
        Ok(encode(
            0x30,
            &[oid("1.2.840.113549.1.7.2")?, encode(0xa0, &signed_data)].concat(),
        ))
    }
}

/// UTCTime (years 1950 to 2049) of Unix seconds.
fn utc_time(unix: i64) -> Vec<u8> {
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let text = format!(
        "{:02}{month:02}{day:02}{:02}{:02}{:02}Z",
        year % 100,
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    crate::der::encode(0x17, text.as_bytes())
}
