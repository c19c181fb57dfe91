//! What is inside an uploaded or pasted file: certificates and private
//! keys, whatever the format. Formats are detected by content, never by
//! file name: PEM (any mix of blocks), DER, PKCS#7 and PKCS#12.

use openssl::pkcs7::Pkcs7;
use openssl::pkcs12::Pkcs12;
use openssl::x509::X509;

use crate::cert::first_reason;
use crate::key::{from_der, from_pem_block, is_key_label};
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
    crate::init();
    if input.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::Empty);
    }
    if crate::pem::is_pem(input) {
        parse_pem(&String::from_utf8_lossy(input), passphrase)
    } else {
        parse_der(input, passphrase)
    }
}

fn parse_pem(text: &str, passphrase: Option<&str>) -> Result<Bundle> {
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
                bundle.keys.push(from_pem_block(&block, passphrase)?);
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

fn parse_der(der: &[u8], passphrase: Option<&str>) -> Result<Bundle> {
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
        return parse_pkcs12(&p12, passphrase);
    }
    match from_der(der, passphrase)? {
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
        Err(e) if first_reason(&e).contains("mac verify failure") => {
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
