//! Bench data shared by the store benchmarks: one test CA and PEM bundles of
//! N S/MIME end-entity certificates, made once and cached under
//! `<target dir>/bench-data/` (delete that folder to regenerate).
//!
//! Every certificate uses the same RSA-2048 key (only the CA signature is
//! computed per certificate, so 100,000 of them take seconds, not hours)
//! but has its own random 128-bit serial, subject `CN=Bench User {i}` and
//! subjectAltName `user{i}@bench.example`, with keyUsage digitalSignature +
//! keyEncipherment and extendedKeyUsage emailProtection, valid for ten
//! years from the day it was made.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509, X509Builder, X509Name};

/// Bumped when the generated data changes shape, so old caches are ignored.
const VERSION: &str = "v1";

/// The address of leaf `i`.
pub fn email(i: usize) -> String {
    format!("user{i}@bench.example")
}

/// `<target dir>/bench-data`: the bench binary lives in
/// `<target dir>/release/deps/`.
pub fn data_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let target = exe
        .ancestors()
        .nth(3)
        .expect("bench binary is in <target>/<profile>/deps")
        .to_path_buf();
    let dir = target.join("bench-data");
    fs::create_dir_all(&dir).expect("create bench-data");
    dir
}

/// A single-threaded tokio runtime, as the brief asks.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// `sqlite://PATH?mode=rwc`.
pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// The all-zero master key (nothing is sealed in these benchmarks).
pub fn master() -> smimed_store::MasterKey {
    smimed_store::MasterKey::from_bytes([0; 32])
}

/// The bench CA: certificate and key, loaded from the cache or made.
pub struct Ca {
    pub cert: X509,
    pub key: PKey<Private>,
    pub pem_path: PathBuf,
}

pub fn ca() -> Ca {
    let dir = data_dir();
    let cert_path = dir.join(format!("ca-{VERSION}.pem"));
    let key_path = dir.join(format!("ca-{VERSION}.key.pem"));
    if let (Ok(c), Ok(k)) = (fs::read(&cert_path), fs::read(&key_path)) {
        return Ca {
            cert: X509::from_pem(&c).expect("cached CA"),
            key: PKey::private_key_from_pem(&k).expect("cached CA key"),
            pem_path: cert_path,
        };
    }
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut name = X509Name::builder().unwrap();
    name.append_entry_by_nid(Nid::ORGANIZATIONNAME, "smimed bench")
        .unwrap();
    name.append_entry_by_nid(Nid::COMMONNAME, "smimed Bench CA")
        .unwrap();
    let name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&random_serial()).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    let (nb, na) = validity();
    b.set_not_before(&nb).unwrap();
    b.set_not_after(&na).unwrap();
    b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
        .unwrap();
    b.append_extension(
        KeyUsage::new()
            .critical()
            .key_cert_sign()
            .crl_sign()
            .build()
            .unwrap(),
    )
    .unwrap();
    let ski = SubjectKeyIdentifier::new()
        .build(&b.x509v3_context(None, None))
        .unwrap();
    b.append_extension(ski).unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    let cert = b.build();
    write_atomically(&key_path, &key.private_key_to_pem_pkcs8().unwrap());
    write_atomically(&cert_path, &cert.to_pem().unwrap());
    Ca {
        cert,
        key,
        pem_path: cert_path,
    }
}

/// The path of a PEM bundle of `n` leaf certificates (`user0` .. `user{n-1}`),
/// made on first use.
pub fn bundle(n: usize) -> PathBuf {
    let path = data_dir().join(format!("certs-{n}-{VERSION}.pem"));
    if path.exists() {
        return path;
    }
    let ca = ca();
    let leaf_key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let started = Instant::now();
    eprintln!(
        "bench data: making {n} certificates into {}",
        path.display()
    );
    // Two cores: split the signing across two threads.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per = n.div_ceil(threads);
    let parts: Vec<Vec<u8>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (ca, leaf_key) = (&ca, &leaf_key);
                s.spawn(move || {
                    let mut out = Vec::new();
                    for i in (t * per)..((t + 1) * per).min(n) {
                        out.extend(leaf(ca, leaf_key, i).to_pem().unwrap());
                    }
                    out
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    write_atomically(&path, &parts.concat());
    eprintln!(
        "bench data: {n} certificates made in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    path
}

fn leaf(ca: &Ca, key: &PKey<Private>, i: usize) -> X509 {
    let mut name = X509Name::builder().unwrap();
    name.append_entry_by_nid(Nid::ORGANIZATIONNAME, "smimed bench")
        .unwrap();
    name.append_entry_by_nid(Nid::COMMONNAME, &format!("Bench User {i}"))
        .unwrap();
    let name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&random_serial()).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(ca.cert.subject_name()).unwrap();
    b.set_pubkey(key).unwrap();
    let (nb, na) = validity();
    b.set_not_before(&nb).unwrap();
    b.set_not_after(&na).unwrap();
    b.append_extension(BasicConstraints::new().critical().build().unwrap())
        .unwrap();
    b.append_extension(
        KeyUsage::new()
            .critical()
            .digital_signature()
            .key_encipherment()
            .build()
            .unwrap(),
    )
    .unwrap();
    b.append_extension(ExtendedKeyUsage::new().email_protection().build().unwrap())
        .unwrap();
    let san = SubjectAlternativeName::new()
        .email(&email(i))
        .build(&b.x509v3_context(Some(&ca.cert), None))
        .unwrap();
    b.append_extension(san).unwrap();
    let ski = SubjectKeyIdentifier::new()
        .build(&b.x509v3_context(Some(&ca.cert), None))
        .unwrap();
    b.append_extension(ski).unwrap();
    let aki = AuthorityKeyIdentifier::new()
        .keyid(true)
        .build(&b.x509v3_context(Some(&ca.cert), None))
        .unwrap();
    b.append_extension(aki).unwrap();
    b.sign(&ca.key, MessageDigest::sha256()).unwrap();
    b.build()
}

fn random_serial() -> openssl::asn1::Asn1Integer {
    let mut serial = BigNum::new().unwrap();
    serial.rand(128, MsbOption::ONE, false).unwrap();
    serial.to_asn1_integer().unwrap()
}

/// From a day ago to ten years on.
fn validity() -> (Asn1Time, Asn1Time) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    (
        Asn1Time::from_unix(now - 86_400).unwrap(),
        Asn1Time::from_unix(now + 3650 * 86_400).unwrap(),
    )
}

/// Writes to a temporary name and renames, so an interrupted run never
/// leaves a half-written cache behind.
pub fn write_atomically(path: &Path, data: &[u8]) {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, data).expect("write bench data");
    fs::rename(&tmp, path).expect("rename bench data");
}

/// Seconds with three decimals, for the printed breakdowns.
pub fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

/// `/proc/loadavg`'s first three fields: the machine has 2 cores and is
/// shared, so a figure taken under load says so.
pub fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}
