//! A CA run by the `openssl ca` command, as admins run one: it issues
//! users and intermediates, revokes them and publishes CRLs (`-gencrl`).
//! Tests of revocation use it so that the CRLs are OpenSSL's own, not
//! smimed's idea of one. The `openssl` command must be on PATH
//! ([`available`]).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether the `openssl` command can be run.
pub fn available() -> bool {
    Command::new("openssl").arg("version").output().is_ok()
}

/// The `openssl ca` configuration: CA, user and CRL extension sections.
pub const CONFIG: &str = r#"
[ ca ]
default_ca = CA_default

[ CA_default ]
dir = .
database = $dir/index.txt
new_certs_dir = $dir/newcerts
certificate = $dir/ca.pem
private_key = $dir/ca.key
serial = $dir/serial
crlnumber = $dir/crlnumber
default_md = sha256
default_days = 365
default_crl_days = 30
policy = policy_any
unique_subject = no
copy_extensions = none

[ policy_any ]
commonName = supplied
emailAddress = optional

[ req ]
distinguished_name = req_dn

[ req_dn ]

[ v3_ca ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash

[ v3_ca_no_crl_sign ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign
subjectKeyIdentifier = hash

[ usr_cert ]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyAgreement
extendedKeyUsage = emailProtection
subjectAltName = email:$ENV::USER_EMAIL
authorityKeyIdentifier = keyid
crlDistributionPoints = URI:http://crl.example.org/ca.crl,URI:ldap://ldap.example.org/cn=CA?certificateRevocationList,URI:HTTPS://crl.example.org/ca.crl,URI:http://crl.example.org/ca.crl

[ usr_cert_cdp ]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyAgreement
extendedKeyUsage = emailProtection
subjectAltName = email:$ENV::USER_EMAIL
authorityKeyIdentifier = keyid
crlDistributionPoints = URI:$ENV::CRL_URL

[ crl_partitioned ]
issuingDistributionPoint = critical, @idp

[ idp ]
fullname = URI:http://crl.example.org/users.crl
onlyuser = TRUE

[ crl_delta ]
2.5.29.27 = critical, DER:02:01:01

[ crl_unknown_critical ]
1.3.6.1.4.1.99999.1 = critical, DER:05:00

[ crl_unknown ]
1.3.6.1.4.1.99999.1 = DER:05:00
"#;

/// A CA directory that `openssl ca` works in.
pub struct OpensslCa {
    /// The directory: `ca.pem`, `ca.key`, and what it issued as `NAME.pem`, `NAME.key`.
    pub dir: PathBuf,
}

/// Runs `openssl` in `dir`; panics with its error output on failure.
pub fn openssl(dir: &Path, args: &[&str]) {
    openssl_env(dir, args, "nobody@example.org");
}

/// [`openssl`] with `USER_EMAIL` (the user certificate's address) set.
pub fn openssl_env(dir: &Path, args: &[&str], email: &str) {
    openssl_with(dir, args, email, "http://crl.example.org/ca.crl");
}

/// [`openssl_env`] with `CRL_URL` (the distribution point of
/// `usr_cert_cdp`) set too.
fn openssl_with(dir: &Path, args: &[&str], email: &str, crl_url: &str) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .env("USER_EMAIL", email)
        .env("CRL_URL", crl_url)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl OpensslCa {
    /// A self-signed CA with this subject, made in `root/name`.
    pub fn new(root: &Path, name: &str, subject: &str, extensions: &str) -> OpensslCa {
        let dir = root.join(name);
        std::fs::create_dir_all(dir.join("newcerts")).unwrap();
        std::fs::write(dir.join("openssl.cnf"), CONFIG).unwrap();
        std::fs::write(dir.join("index.txt"), "").unwrap();
        std::fs::write(dir.join("serial"), "1000\n").unwrap();
        std::fs::write(dir.join("crlnumber"), "01\n").unwrap();
        #[rustfmt::skip]
        openssl(&dir, &[
            "req", "-x509", "-config", "openssl.cnf", "-extensions", extensions,
            "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-subj", subject, "-days", "3650",
        ]);
        OpensslCa { dir }
    }

    /// An intermediate CA that this one issues with `openssl ca`, in
    /// `root/name` (the issued certificate also stays here as `name.pem`).
    pub fn subordinate(&self, root: &Path, name: &str, subject: &str) -> OpensslCa {
        let dir = root.join(name);
        std::fs::create_dir_all(dir.join("newcerts")).unwrap();
        std::fs::write(dir.join("openssl.cnf"), CONFIG).unwrap();
        std::fs::write(dir.join("index.txt"), "").unwrap();
        std::fs::write(dir.join("serial"), "2000\n").unwrap();
        std::fs::write(dir.join("crlnumber"), "01\n").unwrap();
        #[rustfmt::skip]
        openssl(&dir, &[
            "req", "-new", "-config", "openssl.cnf", "-newkey", "ec",
            "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.csr", "-subj", subject,
        ]);
        let csr = dir.join("ca.csr");
        #[rustfmt::skip]
        openssl(&self.dir, &[
            "ca", "-batch", "-config", "openssl.cnf", "-extensions", "v3_ca",
            "-notext", "-in", csr.to_str().unwrap(), "-out", &format!("{name}.pem"),
        ]);
        std::fs::copy(self.dir.join(format!("{name}.pem")), dir.join("ca.pem")).unwrap();
        OpensslCa { dir }
    }

    /// The CA certificate (PEM).
    pub fn certificate_path(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// A user certificate for `email`, signed with `openssl ca`: the
    /// certificate's and the key's paths (PEM).
    pub fn issue(&self, name: &str, email: &str) -> (PathBuf, PathBuf) {
        self.issue_with(name, email, "usr_cert", "http://crl.example.org/ca.crl")
    }

    /// [`OpensslCa::issue`] with the distribution point `crl_url` alone.
    pub fn issue_pointing_to(&self, name: &str, email: &str, crl_url: &str) -> (PathBuf, PathBuf) {
        self.issue_with(name, email, "usr_cert_cdp", crl_url)
    }

    fn issue_with(
        &self,
        name: &str,
        email: &str,
        extensions: &str,
        crl_url: &str,
    ) -> (PathBuf, PathBuf) {
        let subject = format!("/CN={name}/emailAddress={email}");
        let (key, csr, pem) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
        );
        #[rustfmt::skip]
        openssl(&self.dir, &[
            "req", "-new", "-config", "openssl.cnf", "-newkey", "ec",
            "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", &key, "-out", &csr, "-subj", &subject,
        ]);
        #[rustfmt::skip]
        openssl_with(&self.dir, &[
            "ca", "-batch", "-config", "openssl.cnf", "-extensions", extensions,
            "-notext", "-in", &csr, "-out", &pem,
        ], email, crl_url);
        (self.dir.join(pem), self.dir.join(key))
    }

    /// Revokes what it issued as `name` (key compromise).
    pub fn revoke(&self, name: &str) {
        #[rustfmt::skip]
        openssl(&self.dir, &[
            "ca", "-config", "openssl.cnf", "-revoke", &format!("{name}.pem"),
            "-crl_reason", "keyCompromise",
        ]);
    }

    /// A CRL as `openssl ca -gencrl` writes it (PEM), valid for `hours`.
    pub fn crl(&self, file: &str, hours: u32) -> Vec<u8> {
        #[rustfmt::skip]
        openssl(&self.dir, &[
            "ca", "-config", "openssl.cnf", "-gencrl", "-crlhours", &hours.to_string(),
            "-out", file,
        ]);
        std::fs::read(self.dir.join(file)).unwrap()
    }

    /// A CRL with the extensions of a config section.
    pub fn crl_with(&self, file: &str, section: &str) -> Vec<u8> {
        #[rustfmt::skip]
        openssl(&self.dir, &[
            "ca", "-config", "openssl.cnf", "-gencrl", "-crlexts", section, "-out", file,
        ]);
        std::fs::read(self.dir.join(file)).unwrap()
    }
}

/// A shop's CA (`/O=Shop/CN=Shop CA`) that issued `user@shop.example` and
/// revoked it, and the CRL that says so (`ca.crl` in the CA's directory).
pub struct RevokedUser {
    /// The CA.
    pub ca: OpensslCa,
    /// The user's certificate (PEM).
    pub user: PathBuf,
    /// The CRL listing the user (PEM), valid for a day.
    pub crl: Vec<u8>,
}

impl RevokedUser {
    /// Made in `root/ca`.
    pub fn new(root: &Path) -> RevokedUser {
        let ca = OpensslCa::new(root, "ca", "/O=Shop/CN=Shop CA", "v3_ca");
        let (user, _) = ca.issue("user", "user@shop.example");
        ca.revoke("user");
        let crl = ca.crl("ca.crl", 24);
        RevokedUser { ca, user, crl }
    }

    /// The CA's and the user's certificates, one PEM file's content.
    pub fn certificates(&self) -> Vec<u8> {
        let mut pem = std::fs::read(self.ca.certificate_path()).unwrap();
        pem.extend(std::fs::read(&self.user).unwrap());
        pem
    }
}
