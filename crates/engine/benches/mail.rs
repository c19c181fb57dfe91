//! The S/MIME engine per message, compared in the same run with OpenSSL's
//! RSA/ECDSA ceiling (`openssl speed`) and with the `openssl cms` command
//! line doing the same work one process per message, as Znuny and RT do.
//!
//! Run (everything, about five minutes on two cores):
//! `CARGO_TARGET_DIR=/work/target-bench cargo bench -p smimed-engine --bench mail`
//! (docs/benchmarks.md, "Mail engine", has the figures and the machine).
//!
//! Cases, each for RSA-2048 (alice signs, alice is the one recipient) and
//! P-256 (bob signs, bob is the one recipient), for a 4 KiB text message
//! and a 1 MiB message (text plus a base64 PDF-sized attachment):
//!
//! - `mail_sign`: `smime::sign::sign` of the canonical entity (split once,
//!   outside the clock), chain = `chain.pem` (intermediate and root).
//! - `mail_encrypt`: `smime::encrypt::encrypt` of the same entity, AES-256-CBC.
//! - `mail_sign_encrypt`: sign, encrypt the result, put the outer header
//!   fields back: the message as sent.
//! - `mail_decrypt_verify`: `smime::incoming::process` of that message with
//!   the recipient's key and a trust store of `chain.pem`.
//! - `mail_engine_sign_encrypt`, `mail_engine_decrypt_verify` (RSA, 4 KiB):
//!   `Engine::outgoing` and `Engine::incoming` on a SQLite store, key cache
//!   warm, so the database's share is visible; `mail_engine_options` is the
//!   composer's `security_options` alone (database lookups, no crypto).
//! - `mail_openssl_cms_sign_encrypt` (4 KiB): `openssl cms -sign -in
//!   msg.eml -signer C -inkey K -certfile chain.pem | openssl cms -encrypt
//!   -aes256 C`, two processes per message.
//! - `mail_openssl_cms_decrypt_verify` (4 KiB): `openssl cms -decrypt -in
//!   sent.eml -recip C -inkey K | openssl cms -verify -CAfile chain.pem -out
//!   /dev/null` on the message `mail_sign_encrypt` made.
//! - `mail_openssl_process/version`: `openssl version`, the cost of starting
//!   one process, to read the two above.
//! - `mail_large_sign_encrypt`, `mail_large_decrypt_verify` (RSA-2048,
//!   1 MiB and 24 MiB, issue 14): `smime::outgoing::protect` (split and
//!   7-bit check inside the clock) and `smime::incoming::process`, compared
//!   with `openssl speed -evp aes-256-cbc -bytes 16384` of the same run;
//!   then the peak RSS growth of one such message in each direction, and
//!   the whole process's peak RSS, each in a fresh process (this binary
//!   again, with `SMIMED_BENCH_RSS` set to `incoming PATH` or `outgoing
//!   PATH`; it then prints the RSS before and the peak after, in kB).
//!
//! Around the criterion runs: `openssl speed -seconds 3 rsa2048`,
//! `ecdsap256`, and `-evp aes-256-cbc` and `-evp sha256` (16 KiB) before
//! and after (the higher sign/s is the ceiling), a
//! phase-by-phase breakdown of where the time goes, engine store calls
//! included (stderr), CPU time per 4 KiB message in process and for the
//! command line (this process plus its children, from `/proc/self/stat`:
//! the per-core comparison), and a summary in Markdown with the ratios
//! against the targets (stdout), read from criterion's estimates of this
//! run (medians). Under `--test`, `--list` or `--profile-time` only the
//! cases run.

use std::hint::black_box;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use mail_parser::MessageParser;
use smime::encrypt::EncryptOptions;
use smime::incoming::{Context, DecryptCode, Processed};
use smime::outgoing::Protection;
use smime::sign::Signer;
use smime::trust::TrustStore;
use smime::verify::SignCode;
use smime::{Certificate, PrivateKey};
use smimed_engine::{Actor, Engine, OutgoingRequest, Sender};
use smimed_store::{Group, MasterKey, Store};
use testpki::files;

// ---------------------------------------------------------------------------
// Fixtures

fn fixture_path(name: &str) -> PathBuf {
    testpki::Pki::committed().path(name)
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture_path(name)).expect("fixture")
}

/// One side of the test: signs with its key and is the one recipient.
struct Identity {
    /// `rsa2048` or `p256`.
    label: &'static str,
    email: &'static str,
    cert_file: &'static str,
    key_file: &'static str,
    cert: Certificate,
    key: PrivateKey,
}

impl Identity {
    /// Signs as this identity, sending `chain` along.
    fn signer<'a>(&'a self, chain: &'a [Certificate]) -> Signer<'a> {
        Signer {
            certificate: &self.cert,
            key: &self.key,
            chain,
        }
    }

    /// This identity's one key, for decryption.
    fn keys(&self) -> [(&Certificate, &PrivateKey); 1] {
        [(&self.cert, &self.key)]
    }
}

fn identity(
    label: &'static str,
    email: &'static str,
    cert_file: &'static str,
    key_file: &'static str,
) -> Identity {
    let mut certs = smime::bundle::parse(&fixture(cert_file), None).expect("certificate");
    let mut keys = smime::bundle::parse(&fixture(key_file), None).expect("key");
    let cert = certs.certificates.remove(0);
    let key = keys.keys.remove(0);
    assert!(key.matches(&cert), "{key_file} belongs to {cert_file}");
    Identity {
        label,
        email,
        cert_file,
        key_file,
        cert,
        key,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Size {
    K4,
    M1,
}

impl Size {
    fn label(self) -> &'static str {
        match self {
            Size::K4 => "4KiB",
            Size::M1 => "1MiB",
        }
    }
    fn bytes(self) -> usize {
        match self {
            Size::K4 => 4096,
            Size::M1 => 1 << 20,
        }
    }
}

/// Exactly `len` bytes of ASCII text in CRLF lines of at most 72
/// characters, nothing a 7-bit check would re-encode.
fn text(len: usize) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "the", "printer", "on", "floor", "three", "is", "out", "of", "toner", "again", "and",
        "ticket", "queue", "shows", "no", "change", "since", "Monday", "please", "check",
        "whether", "order", "was", "placed", "with", "supplier", "thanks", "regards", "helpdesk",
        "team",
    ];
    let mut out = Vec::with_capacity(len);
    let mut i = 0usize;
    loop {
        let left = len - out.len();
        if left <= 80 {
            if left >= 2 {
                out.extend(std::iter::repeat_n(b'-', left - 2));
                out.extend_from_slice(b"\r\n");
            } else {
                out.extend(std::iter::repeat_n(b'-', left));
            }
            return out;
        }
        let mut line = String::new();
        while line.len() < 62 {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(WORDS[(i * 7 + i / WORDS.len()) % WORDS.len()]);
            i += 1;
        }
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

/// Deterministic bytes that do not compress (an attachment).
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A helpdesk reply of exactly `size` bytes, CRLF: plain text for 4 KiB;
/// for 1 MiB a short text and a base64 PDF in `multipart/mixed`.
fn message(from: &str, to: &str, size: Size) -> Vec<u8> {
    let head = format!(
        "From: Helpdesk <{from}>\r\nTo: <{to}>\r\nSubject: [Ticket#2026042110000042] Printer on floor 3\r\nDate: Tue, 21 Apr 2026 10:00:00 +0000\r\nMessage-ID: <bench-{}@example.org>\r\nMIME-Version: 1.0\r\n",
        size.label()
    );
    let mut out = head.into_bytes();
    match size {
        Size::K4 => {
            out.extend_from_slice(
                b"Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n",
            );
            let body = text(size.bytes() - out.len());
            out.extend_from_slice(&body);
        }
        Size::M1 => with_attachment(&mut out, size.bytes()),
    }
    assert_eq!(out.len(), size.bytes());
    out
}

/// Completes `out` (header fields so far) to exactly `len` bytes: a short
/// text and a base64 PDF in `multipart/mixed`, CRLF, 7-bit clean.
fn with_attachment(out: &mut Vec<u8>, len: usize) {
    let attachment = smime::mime::base64_lines(&noise((len - 4096) * 57 / 78));
    let top = b"Content-Type: multipart/mixed; boundary=\"=_bench\"\r\n\r\n--=_bench\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n";
    let middle = b"\r\n--=_bench\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"report.pdf\"\r\n\r\n";
    let tail = b"--=_bench--\r\n";
    let fixed = out.len() + top.len() + middle.len() + attachment.len() + tail.len();
    out.extend_from_slice(top);
    out.extend_from_slice(&text(len - fixed));
    out.extend_from_slice(middle);
    out.extend_from_slice(&attachment);
    out.extend_from_slice(tail);
}

/// The large messages (issue 14): helpdesk mail with an attachment.
const LARGE: [(&str, usize); 2] = [("1MiB", 1 << 20), ("24MiB", 24 << 20)];

/// A message of exactly `len` bytes like the 1 MiB one (alice to alice).
fn large_message(email: &str, label: &str, len: usize) -> Vec<u8> {
    let mut out = format!(
        "From: Helpdesk <{email}>\r\nTo: <{email}>\r\nSubject: [Ticket#2026042110000042] Scan of the invoice\r\nDate: Tue, 21 Apr 2026 10:00:00 +0000\r\nMessage-ID: <bench-{label}@example.org>\r\nMIME-Version: 1.0\r\n"
    )
    .into_bytes();
    with_attachment(&mut out, len);
    assert_eq!(out.len(), len);
    out
}

/// What `Engine::outgoing` computes: split (7-bit check included), sign,
/// encrypt, with the outer fields around.
fn protection<'a>(signer: Signer<'a>, to: &'a [&'a Certificate]) -> Protection<'a> {
    Protection {
        sign: Some(signer),
        encrypt: Some((to, EncryptOptions::default())),
    }
}

/// Sign, encrypt, outer fields back on: what `Engine::outgoing` does
/// after its database lookups.
fn sign_encrypt(split: &smime::mime::Split, signer: &Signer<'_>, to: &Certificate) -> Vec<u8> {
    let signed = smime::sign::sign(&split.entity, signer).expect("sign");
    let enveloped =
        smime::encrypt::encrypt(&signed, &[to], EncryptOptions::default()).expect("encrypt");
    let mut out = split.outer.clone();
    out.extend_from_slice(&enveloped);
    out
}

fn assert_read(p: &Processed, what: &str) {
    let r = &p.report;
    let enc = r.encryption.as_ref().expect("encryption layer");
    assert_eq!(enc.code, DecryptCode::Decrypted, "{what}: {enc:?}");
    let sign = r.sign.as_ref().expect("signature layer");
    assert_eq!(sign.code, SignCode::Verified, "{what}: {sign:?}");
}

// ---------------------------------------------------------------------------
// The `openssl` command line

fn openssl(args: &[&str]) -> Command {
    let mut cmd = Command::new("openssl");
    cmd.args(args);
    cmd
}

/// `a | b`, as a shell would run it (without the shell); panics on failure.
fn pipe(mut a: Command, mut b: Command) {
    let mut first = a
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn openssl");
    let mut second = b
        .stdin(Stdio::from(first.stdout.take().expect("stdout")))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn openssl");
    let s1 = first.wait().expect("wait");
    let s2 = second.wait().expect("wait");
    assert!(s1.success() && s2.success(), "{a:?} | {b:?}: {s1} / {s2}");
}

/// The two `openssl cms` pipelines for one identity, on files in `dir`.
struct CmsCli {
    sign: Vec<String>,
    encrypt: Vec<String>,
    decrypt: Vec<String>,
    verify: Vec<String>,
}

impl CmsCli {
    fn new(id: &Identity, msg: &Path, sent: &Path) -> Self {
        let p = |f: &str| fixture_path(f).display().to_string();
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        CmsCli {
            sign: s(&[
                "cms",
                "-sign",
                "-in",
                &msg.display().to_string(),
                "-signer",
                &p(id.cert_file),
                "-inkey",
                &p(id.key_file),
                "-certfile",
                &p(files::CHAIN),
            ]),
            encrypt: s(&["cms", "-encrypt", "-aes256", &p(id.cert_file)]),
            decrypt: s(&[
                "cms",
                "-decrypt",
                "-in",
                &sent.display().to_string(),
                "-recip",
                &p(id.cert_file),
                "-inkey",
                &p(id.key_file),
            ]),
            verify: s(&[
                "cms",
                "-verify",
                "-CAfile",
                &p(files::CHAIN),
                "-out",
                "/dev/null",
            ]),
        }
    }

    fn cmd(args: &[String]) -> Command {
        let mut cmd = Command::new("openssl");
        cmd.args(args);
        cmd
    }

    fn sign_encrypt(&self) {
        pipe(Self::cmd(&self.sign), Self::cmd(&self.encrypt));
    }

    fn decrypt_verify(&self) {
        pipe(Self::cmd(&self.decrypt), Self::cmd(&self.verify));
    }

    /// Once, with stderr, to be sure the pipelines do what they claim.
    fn check(&self) {
        let signed = Self::cmd(&self.sign).output().expect("openssl cms -sign");
        assert!(signed.status.success(), "{:?}", signed);
        let dec = Self::cmd(&self.decrypt)
            .output()
            .expect("openssl cms -decrypt");
        assert!(dec.status.success(), "{dec:?}");
        let mut verify = Self::cmd(&self.verify)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("openssl cms -verify");
        verify
            .stdin
            .take()
            .expect("stdin")
            .write_all(&dec.stdout)
            .expect("write");
        let out = verify.wait_with_output().expect("wait");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && err.contains("Verification successful"),
            "{err}"
        );
        self.sign_encrypt();
        self.decrypt_verify();
    }
}

/// `openssl speed -seconds 3 ALG`: (sign/s, verify/s).
fn openssl_speed(alg: &str, line_marker: &str) -> (f64, f64) {
    let out = openssl(&["speed", "-seconds", "3", alg])
        .stderr(Stdio::null())
        .output()
        .expect("openssl speed");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains(line_marker))
        .unwrap_or_else(|| panic!("no `{line_marker}` in openssl speed output:\n{text}"));
    let nums: Vec<f64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let n = nums.len();
    assert!(n >= 2, "{line}");
    (nums[n - 2], nums[n - 1])
}

/// `openssl speed -seconds 3 -bytes 16384 -evp ALG`: bytes per second.
fn openssl_speed_bytes(alg: &str, line_marker: &str) -> f64 {
    let out = openssl(&["speed", "-seconds", "3", "-bytes", "16384", "-evp", alg])
        .stderr(Stdio::null())
        .output()
        .expect("openssl speed");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with(line_marker))
        .unwrap_or_else(|| panic!("no `{line_marker}` in openssl speed output:\n{text}"));
    // "AES-256-CBC     885541.77k": thousands of bytes per second.
    let k = line
        .split_whitespace()
        .last()
        .and_then(|w| w.strip_suffix('k'))
        .and_then(|w| w.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("{line}"));
    k * 1000.0
}

#[derive(Clone, Copy, Default)]
struct Speed {
    rsa_sign: f64,
    rsa_verify: f64,
    ec_sign: f64,
    ec_verify: f64,
    /// AES-256-CBC encryption, bytes/s, 16 KiB blocks.
    aes: f64,
    /// SHA-256, bytes/s, 16 KiB blocks.
    sha256: f64,
}

fn speed() -> Speed {
    let (rsa_sign, rsa_verify) = openssl_speed("rsa2048", "rsa 2048 bits");
    let (ec_sign, ec_verify) = openssl_speed("ecdsap256", "ecdsa (nistp256)");
    Speed {
        rsa_sign,
        rsa_verify,
        ec_sign,
        ec_verify,
        aes: openssl_speed_bytes("aes-256-cbc", "AES-256-CBC"),
        sha256: openssl_speed_bytes("sha256", "sha256"),
    }
}

// ---------------------------------------------------------------------------
// The in-process goals, measured interleaved with their reference

/// `openssl speed -seconds 1 rsa2048` sign/s.
fn rsa_sign_rate_1s() -> f64 {
    let out = openssl(&["speed", "-seconds", "1", "rsa2048"])
        .stderr(Stdio::null())
        .output()
        .expect("openssl speed");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|l| l.contains("rsa 2048 bits"))
        .and_then(|l| {
            let nums: Vec<f64> = l
                .split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect();
            (nums.len() >= 2).then(|| nums[nums.len() - 2])
        })
        .unwrap_or_else(|| panic!("no rsa 2048 line in openssl speed output:\n{text}"))
}

/// Calls of `f` per second of this thread's CPU time, over one second.
fn rate_1s(f: &mut dyn FnMut()) -> f64 {
    f();
    let cpu0 = thread_cpu();
    let t = Instant::now();
    let mut n = 0u32;
    while t.elapsed() < Duration::from_secs(1) {
        f();
        n += 1;
    }
    f64::from(n) / (thread_cpu() - cpu0).as_secs_f64()
}

/// This thread's time on a CPU, in nanoseconds, from the first field of
/// `/proc/thread-self/schedstat` (`openssl speed` divides by CPU time too).
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").expect("schedstat");
    let ns = stat
        .split_whitespace()
        .next()
        .and_then(|w| w.parse().ok())
        .expect("schedstat's first field");
    Duration::from_nanos(ns)
}

/// One round of the interleaved measurement.
struct Round {
    /// `openssl speed` sign/s before and after the round's work.
    speed: (f64, f64),
    sign_encrypt: f64,
    decrypt_verify: f64,
}

/// The host's speed moves by 10–20 % within minutes, as much as the
/// distance to the goals: a ceiling measured before and after a run of
/// several minutes does not compare with what ran in between. Here each
/// second of our work is flanked by `openssl speed -seconds 1 rsa2048`,
/// and each round's ratio takes the higher of its two flanks.
fn interleaved(rounds: usize, se: &mut dyn FnMut(), dv: &mut dyn FnMut()) -> Vec<Round> {
    let mut last = rsa_sign_rate_1s();
    (0..rounds)
        .map(|_| {
            let sign_encrypt = rate_1s(se);
            let decrypt_verify = rate_1s(dv);
            let next = rsa_sign_rate_1s();
            let round = Round {
                speed: (last, next),
                sign_encrypt,
                decrypt_verify,
            };
            last = next;
            round
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Memory: peak RSS growth of one message, in a fresh process

/// The environment variable that makes the bench binary measure one
/// message's memory instead of benchmarking: `outgoing PATH` or
/// `incoming PATH`.
const RSS_ENV: &str = "SMIMED_BENCH_RSS";

/// A field of `/proc/self/status` in kB.
fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

/// In the child: reads the message, warms up on a 4 KiB one (OpenSSL's
/// providers, the caches), resets the peak (`clear_refs` 5), processes the
/// message once and prints the RSS before and the peak after, in kB.
fn rss_child(spec: &str) {
    let (op, path) = spec.split_once(' ').expect("op path");
    let input = std::fs::read(path).expect("input");
    smime::init();
    let alice = identity(
        "rsa2048",
        "alice@example.org",
        files::ALICE,
        files::ALICE_KEY,
    );
    let chain = smime::bundle::parse(&fixture(files::CHAIN), None)
        .expect("chain")
        .certificates;
    let trust = TrustStore::new(chain.iter());
    let policy = smime::Policy::now();
    let to = [&alice.cert];
    let signer = alice.signer(&chain);
    let protection = protection(signer, &to);
    let keys = alice.keys();
    let ctx = Context {
        keys: &keys,
        trust: &trust,
        policy: &policy,
    };
    let small = message(alice.email, alice.email, Size::K4);
    let sent = smime::outgoing::protect(&small, &protection).expect("protect");
    assert_read(
        &smime::incoming::process(&sent, &ctx).expect("process"),
        "warm-up",
    );
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak RSS");
    let before = status_kb("VmRSS");
    let out = match op {
        "outgoing" => smime::outgoing::protect(&input, &protection).expect("protect"),
        "incoming" => {
            let p = smime::incoming::process(&input, &ctx).expect("process");
            assert_read(&p, "memory");
            p.message
        }
        other => panic!("{other}"),
    };
    let peak = status_kb("VmHWM");
    black_box(&out);
    println!("{before} {peak}");
}

/// Peak RSS growth in bytes of one `op` of `input`, in a fresh process,
/// and that process's peak RSS in bytes (input, warm-up and all).
fn rss_growth(op: &str, input: &Path) -> (u64, u64) {
    let out = Command::new(std::env::current_exe().expect("current_exe"))
        .env(RSS_ENV, format!("{op} {}", input.display()))
        .stderr(Stdio::inherit())
        .output()
        .expect("memory child");
    assert!(out.status.success(), "memory child: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let nums: Vec<u64> = text
        .lines()
        .last()
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert_eq!(nums.len(), 2, "{text}");
    (nums[1].saturating_sub(nums[0]) * 1024, nums[1] * 1024)
}

/// One row of the memory table.
struct RssRow {
    op: &'static str,
    label: &'static str,
    input: usize,
    growth: u64,
    /// The whole process's peak RSS.
    peak: u64,
}

// ---------------------------------------------------------------------------
// Machine facts

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn openssl_version() -> String {
    openssl(&["version"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

// ---------------------------------------------------------------------------
// Engine on SQLite

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A store with the chain, alice's certificate and key, group `support`
/// (alice@example.org), S/MIME on.
fn engine(rt: &tokio::runtime::Runtime, dir: &Path) -> (Engine, Store) {
    rt.block_on(async {
        let url = format!("sqlite://{}?mode=rwc", dir.join("smimed.db").display());
        let store = Store::open(&url, MasterKey::from_bytes([7; 32]))
            .await
            .expect("store");
        for name in [files::CHAIN, files::ALICE, files::ALICE_KEY, files::BOB] {
            let bundle = smime::bundle::parse(&fixture(name), None).expect("parse");
            let report = store
                .import(bundle, None, &|_| {}, "test")
                .await
                .expect("import");
            assert!(report.stored, "{name}");
        }
        let group = Group {
            name: "support".into(),
            email: "alice@example.org".into(),
            default_sign: None,
            default_encrypt: None,
        };
        store.set_group(&group, "bench", "").await.expect("group");
        store.set_enabled(true, "bench").await.expect("enable");
        // As `serve` runs it: operation log entries queued for one writer.
        (Engine::new(store.clone(), 8).with_queued_log(), store)
    })
}

// ---------------------------------------------------------------------------
// Phase breakdown

/// Median time of one call, over 5 batches of about 100 ms.
fn per_call(mut f: impl FnMut()) -> Duration {
    f();
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < Duration::from_millis(50) {
        f();
        n += 1;
    }
    let one = start.elapsed() / n;
    let batch = (Duration::from_millis(100).as_nanos() / one.as_nanos().max(1)).max(1) as u32;
    let mut v: Vec<Duration> = (0..5)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..batch {
                f();
            }
            t.elapsed() / batch
        })
        .collect();
    v.sort();
    v[2]
}

fn us(d: Duration) -> String {
    format!("{:>9.1} µs", d.as_secs_f64() * 1e6)
}

fn us_signed(ns: f64) -> String {
    format!("{:>9.1} µs", ns / 1e3)
}

/// Where the time of one sign+encrypt and one decrypt+verify goes.
fn breakdown(
    id: &Identity,
    chain: &[Certificate],
    trust: &TrustStore,
    size: Size,
    private_op: f64,
) {
    let raw = message(id.email, id.email, size);
    let signer = id.signer(chain);
    let split = smime::mime::split_message(&raw).expect("split");
    let signed = smime::sign::sign(&split.entity, &signer).expect("sign");
    let enveloped =
        smime::encrypt::encrypt(&signed, &[&id.cert], EncryptOptions::default()).expect("encrypt");
    let mut sent = split.outer.clone();
    sent.extend_from_slice(&enveloped);

    // The DER inside each wrapper, as mail-parser decodes it.
    let parsed_signed = MessageParser::default().parse(&signed).expect("signed");
    let sig_part = parsed_signed.parts[0]
        .sub_parts()
        .expect("multipart/signed")[1];
    let sig_der = parsed_signed.parts[sig_part as usize].contents().to_vec();
    let parsed_env = MessageParser::default()
        .parse(&enveloped)
        .expect("enveloped");
    let env_der = parsed_env.parts[0].contents().to_vec();
    drop((parsed_signed, parsed_env));

    let keys = id.keys();
    let policy = smime::Policy::now();
    let now = policy.now;
    let ctx = Context {
        keys: &keys,
        trust,
        policy: &policy,
    };
    let limits = policy.limits;
    let plain = smime::decrypt::decrypt(&env_der, &keys, &limits).expect("decrypt");
    let plain = smime::mime::to_crlf(&plain);
    let (content, sig2) = {
        let m = MessageParser::default().parse(&plain).expect("plain");
        let kids = m.parts[0].sub_parts().expect("multipart/signed").to_vec();
        let first = &m.parts[kids[0] as usize];
        (
            plain[first.offset_header as usize..first.offset_end as usize].to_vec(),
            m.parts[kids[1] as usize].contents().to_vec(),
        )
    };
    assert_eq!(sig2, sig_der);
    let senders = smime::incoming::senders(&sent).expect("senders");

    let t_split = per_call(|| {
        black_box(smime::mime::split_message(black_box(&raw)).unwrap());
    });
    let t_sign = per_call(|| {
        black_box(smime::sign::sign(black_box(&split.entity), &signer).unwrap());
    });
    let t_sign_wrap = per_call(|| {
        black_box(smime::mime::multipart_signed(
            b"",
            black_box(&split.entity),
            &sig_der,
            "sha-256",
        ));
    });
    let t_encrypt = per_call(|| {
        black_box(
            smime::encrypt::encrypt(black_box(&signed), &[&id.cert], EncryptOptions::default())
                .unwrap(),
        );
    });
    let t_env_wrap = per_call(|| {
        black_box(smime::mime::pkcs7_mime(
            b"",
            "enveloped-data",
            black_box(&env_der),
        ));
    });
    let t_b64_env = per_call(|| {
        black_box(smime::mime::base64_lines(black_box(&env_der)));
    });
    let t_concat = per_call(|| {
        let mut out = split.outer.clone();
        out.extend_from_slice(black_box(&enveloped));
        black_box(out);
    });

    let t_process = per_call(|| {
        black_box(smime::incoming::process(black_box(&sent), &ctx).unwrap());
    });
    let t_crlf1 = per_call(|| {
        black_box(smime::mime::to_crlf(black_box(&sent)));
    });
    let t_senders = per_call(|| {
        black_box(smime::incoming::senders(black_box(&sent)).unwrap());
    });
    let t_parse1 = per_call(|| {
        let m = MessageParser::default().parse(black_box(&sent)).unwrap();
        black_box(m.parts[0].contents().to_vec());
    });
    let t_decrypt = per_call(|| {
        black_box(smime::decrypt::decrypt(black_box(&env_der), &keys, &limits).unwrap());
    });
    let t_crlf2 = per_call(|| {
        black_box(smime::mime::to_crlf(black_box(&plain)));
    });
    let t_parse2 = per_call(|| {
        let m = MessageParser::default().parse(black_box(&plain)).unwrap();
        let kids = m.parts[0].sub_parts().unwrap().to_vec();
        let first = &m.parts[kids[0] as usize];
        black_box(plain[first.offset_header as usize..first.offset_end as usize].to_vec());
        black_box(m.parts[kids[1] as usize].contents().to_vec());
    });
    let t_verify = per_call(|| {
        black_box(smime::verify::verify(
            black_box(&sig_der),
            Some(&content),
            trust,
            Some(&senders),
            &policy,
        ));
    });
    // After the first call the path comes from `TrustStore`'s memory of
    // valid paths: this is what a known correspondent costs.
    let t_validate = per_call(|| {
        black_box(trust.validate(&id.cert, &[], now).unwrap());
    });
    // What the certificates a signature carries cost to parse: the same
    // signature with fewer of them, one certificate alone, and a CMS
    // structure without certificates (the EnvelopedData, rejected by
    // `verify` right after parsing because it is not signed-data).
    let sig_with = |chain: &[Certificate]| {
        let signed = smime::sign::sign(&split.entity, &id.signer(chain)).expect("sign");
        let m = MessageParser::default().parse(&signed).expect("signed");
        let part = m.parts[0].sub_parts().expect("multipart/signed")[1];
        m.parts[part as usize].contents().to_vec()
    };
    let sig_signer_only = sig_with(&[]);
    let sig_intermediate = sig_with(&chain[..1]);
    let t_verify_1 = per_call(|| {
        let (r, _) = smime::verify::verify(
            black_box(&sig_signer_only),
            Some(&content),
            trust,
            Some(&senders),
            &policy,
        );
        assert_eq!(r.code, SignCode::Verified);
    });
    let t_verify_2 = per_call(|| {
        let (r, _) = smime::verify::verify(
            black_box(&sig_intermediate),
            Some(&content),
            trust,
            Some(&senders),
            &policy,
        );
        assert_eq!(r.code, SignCode::Verified);
    });
    let t_cert = per_call(|| {
        black_box(Certificate::from_der(black_box(chain[0].der())).unwrap());
    });
    let t_env_parse = per_call(|| {
        black_box(smime::verify::verify(
            black_box(&env_der),
            None,
            trust,
            None,
            &policy,
        ));
    });
    let t_parse3 = per_call(|| {
        black_box(MessageParser::default().parse(black_box(&content)).unwrap());
    });
    let t_outer = per_call(|| {
        black_box(smime::mime::with_outer(&split.outer, black_box(&content)));
    });

    let ns = |d: Duration| d.as_secs_f64() * 1e9;
    let floor = 1e9 / private_op;
    eprintln!();
    eprintln!(
        "breakdown {} {} (median of 5 batches, one call each):",
        id.label,
        size.label()
    );
    eprintln!("  outgoing, sign+encrypt");
    eprintln!(
        "    mime::split_message (split, 7-bit check)  {}",
        us(t_split)
    );
    eprintln!(
        "    sign::sign                                {}",
        us(t_sign)
    );
    eprintln!(
        "      of which multipart_signed (wrap, b64)   {}",
        us(t_sign_wrap)
    );
    eprintln!(
        "      of which CMS SignedData (rest)          {}",
        us_signed(ns(t_sign) - ns(t_sign_wrap))
    );
    eprintln!(
        "    encrypt::encrypt                          {}",
        us(t_encrypt)
    );
    eprintln!(
        "      of which pkcs7_mime (wrap, b64)         {}",
        us(t_env_wrap)
    );
    eprintln!(
        "        of which base64_lines alone           {}",
        us(t_b64_env)
    );
    eprintln!(
        "      of which CMS EnvelopedData (rest)       {}",
        us_signed(ns(t_encrypt) - ns(t_env_wrap))
    );
    eprintln!(
        "    outer fields + entity                     {}",
        us(t_concat)
    );
    eprintln!(
        "    sum                                       {}",
        us(t_split + t_sign + t_encrypt + t_concat)
    );
    eprintln!("  incoming, decrypt+verify");
    eprintln!(
        "    incoming::process total                   {}",
        us(t_process)
    );
    eprintln!(
        "      to_crlf (message)                       {}",
        us(t_crlf1)
    );
    eprintln!(
        "      senders (header parse)                  {}",
        us(t_senders)
    );
    eprintln!(
        "      parse layer 1 (mail-parser, b64 decode) {}",
        us(t_parse1)
    );
    eprintln!(
        "      decrypt::decrypt (CMS, private op)      {}",
        us(t_decrypt)
    );
    eprintln!(
        "      to_crlf (decrypted entity)              {}",
        us(t_crlf2)
    );
    eprintln!(
        "      parse layer 2 (multipart/signed)        {}",
        us(t_parse2)
    );
    eprintln!(
        "      verify::verify                          {}",
        us(t_verify)
    );
    eprintln!(
        "        of which TrustStore::validate (path remembered after the first call) {}",
        us(t_validate)
    );
    eprintln!(
        "        same, signature with signer + intermediate {}",
        us(t_verify_2)
    );
    eprintln!(
        "        same, signature with the signer cert only  {}",
        us(t_verify_1)
    );
    eprintln!(
        "        Certificate::from_der, one certificate     {}",
        us(t_cert)
    );
    eprintln!(
        "        CMS parse without certificates (envelope)  {}",
        us(t_env_parse)
    );
    eprintln!(
        "      parse layer 3 (inner entity)            {}",
        us(t_parse3)
    );
    eprintln!(
        "      with_outer                              {}",
        us(t_outer)
    );
    let parts = t_crlf1
        + t_senders
        + t_parse1
        + t_decrypt
        + t_crlf2
        + t_parse2
        + t_verify
        + t_parse3
        + t_outer;
    eprintln!(
        "      rest (header fields, copies)            {}",
        us_signed(ns(t_process) - ns(parts))
    );
    eprintln!(
        "  reference: one private-key operation, openssl speed  {}",
        us_signed(floor)
    );
}

/// Where `Engine::outgoing` and `Engine::incoming` spend their time
/// outside the S/MIME operations: each store call they make, alone.
fn engine_breakdown(rt: &tokio::runtime::Runtime, store: &Store, alice: &Identity, raw: &[u8]) {
    let fp = alice.cert.fingerprint().to_string();
    let email = alice.email;
    let t_setting = per_call(|| {
        black_box(rt.block_on(store.setting("cipher")).unwrap());
    });
    let t_enabled = per_call(|| {
        black_box(rt.block_on(store.enabled()).unwrap());
    });
    let t_group = per_call(|| {
        black_box(rt.block_on(store.group("support")).unwrap());
    });
    let t_for_email = per_call(|| {
        black_box(rt.block_on(store.certificates_for_email(email)).unwrap());
    });
    let t_chain = per_call(|| {
        black_box(rt.block_on(store.issuer_chain(&alice.cert)).unwrap());
    });
    let t_fps = per_call(|| {
        black_box(rt.block_on(store.private_key_fingerprints()).unwrap());
    });
    let t_find = per_call(|| {
        black_box(rt.block_on(store.find_certificate(&fp)).unwrap());
    });
    let t_cas = per_call(|| {
        black_box(rt.block_on(store.ca_certificates()).unwrap());
    });
    let t_parse = per_call(|| {
        black_box(Certificate::from_der(black_box(alice.cert.der())).unwrap());
    });
    let t_split = per_call(|| {
        black_box(smime::mime::split_message(black_box(raw)).unwrap());
    });
    let t_rcpt = per_call(|| {
        black_box(smimed_engine::recipients_of(black_box(raw)).unwrap());
    });
    eprintln!();
    eprintln!("breakdown engine on SQLite (median of 5 batches, one call each):");
    eprintln!(
        "  Store::setting (one SELECT, no certificate)    {}",
        us(t_setting)
    );
    eprintln!(
        "  Store::enabled                                 {}",
        us(t_enabled)
    );
    eprintln!(
        "  Store::group                                   {}",
        us(t_group)
    );
    eprintln!(
        "  Store::certificates_for_email (1 match)        {}",
        us(t_for_email)
    );
    eprintln!(
        "  Store::issuer_chain (intermediate, root)       {}",
        us(t_chain)
    );
    eprintln!(
        "  Store::private_key_fingerprints                {}",
        us(t_fps)
    );
    eprintln!(
        "  Store::find_certificate                        {}",
        us(t_find)
    );
    eprintln!(
        "  Store::ca_certificates (2 CAs)                 {}",
        us(t_cas)
    );
    eprintln!(
        "  Certificate::from_der, no database             {}",
        us(t_parse)
    );
    eprintln!(
        "  mime::split_message                            {}",
        us(t_split)
    );
    eprintln!(
        "  recipients_of                                  {}",
        us(t_rcpt)
    );
    eprintln!(
        "  outgoing's store calls (group, enabled, 2x for_email, issuer_chain, 2x setting) {}",
        us(t_group + t_enabled + 2 * t_for_email + t_chain + 2 * t_setting)
    );
    eprintln!(
        "  incoming's store calls (enabled, key fingerprints, find, CAs, for_email)        {}",
        us(t_enabled + t_fps + t_find + t_cas + t_for_email)
    );
}

// ---------------------------------------------------------------------------
// CPU time per message ("per core")

/// CPU time (user + system) of this process, and of its children that
/// were waited for, from `/proc/self/stat` (clock ticks, usually 10 ms).
fn cpu_times() -> (Duration, Duration) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rfind(')').map_or("", |i| &stat[i + 1..]);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|w| w.parse().unwrap_or(0))
        .collect();
    // Fields after the command name start at 3 (state): utime is 14,
    // stime 15, cutime 16, cstime 17 (proc(5)).
    let at = |n: usize| f.get(n - 3).copied().unwrap_or(0);
    let hz = clk_tck();
    let d = |t: u64| Duration::from_secs_f64(t as f64 / hz);
    (d(at(14) + at(15)), d(at(16) + at(17)))
}

fn clk_tck() -> f64 {
    static HZ: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *HZ.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

const CPU_SE: &str = "sign+encrypt, in process";
const CPU_DV: &str = "decrypt+verify, in process";
const CPU_CLI_SE: &str = "`openssl cms -sign \\| openssl cms -encrypt`";
const CPU_CLI_DV: &str = "`openssl cms -decrypt \\| openssl cms -verify`";

/// One row of the CPU table: wall time and CPU time per message.
struct CpuRow {
    what: &'static str,
    key: &'static str,
    wall: Duration,
    cpu: Duration,
}

/// Runs `f` `runs` times; wall time and CPU time (this process plus its
/// children: spawning is part of the command line's cost) per run.
fn cpu_per_message(runs: u32, mut f: impl FnMut()) -> (Duration, Duration) {
    f();
    let (s0, c0) = cpu_times();
    let t = Instant::now();
    for _ in 0..runs {
        f();
    }
    let wall = t.elapsed() / runs;
    let (s1, c1) = cpu_times();
    let cpu = (s1.saturating_sub(s0) + c1.saturating_sub(c0)) / runs;
    (wall, cpu)
}

// ---------------------------------------------------------------------------
// Criterion's estimates of this run

/// Median time per iteration in ns, from `<criterion>/GROUP/FN/PARAM/new/
/// estimates.json`, if that file was written by this run.
fn estimate(
    dir: &Path,
    group: &str,
    function: &str,
    param: &str,
    since: SystemTime,
) -> Option<f64> {
    let path = dir
        .join(group)
        .join(function)
        .join(param)
        .join("new")
        .join("estimates.json");
    let modified = std::fs::metadata(&path).ok()?.modified().ok()?;
    if modified < since {
        return None;
    }
    let json = std::fs::read_to_string(&path).ok()?;
    let median = &json[json.find("\"median\":{")?..];
    let value = &median[median.find("\"point_estimate\":")? + "\"point_estimate\":".len()..];
    let end = value.find([',', '}'])?;
    value[..end].trim().parse().ok()
}

fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    // The bench binary is <target>/release/deps/mail-HASH.
    let exe = std::env::current_exe().expect("current_exe");
    exe.ancestors()
        .nth(3)
        .expect("<target>/<profile>/deps")
        .join("criterion")
}

fn fmt_time(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.0} µs", ns / 1e3)
    }
}

fn met(ok: bool) -> &'static str {
    if ok { "**met**" } else { "**missed**" }
}

/// A Targets row: the median, lowest and highest ratio of the rounds.
fn interleaved_row(what: &str, rounds: &[Round], rate: fn(&Round) -> f64, goal: f64) {
    if rounds.is_empty() {
        return;
    }
    let mut ratios: Vec<f64> = rounds
        .iter()
        .map(|r| rate(r) / r.speed.0.max(r.speed.1))
        .collect();
    ratios.sort_by(f64::total_cmp);
    let median = ratios[ratios.len() / 2];
    let mut rates: Vec<f64> = rounds.iter().map(rate).collect();
    rates.sort_by(f64::total_cmp);
    println!(
        "| {what}, interleaved with `openssl speed -seconds 1 rsa2048` ({} rounds, CPU time; ratio median, lowest–highest) | {:.0} msg/s (median) | {:.0} % ({:.0}–{:.0} %) | ≥ {:.0} % | {} |",
        rounds.len(),
        rates[rates.len() / 2],
        median * 100.0,
        ratios[0] * 100.0,
        ratios[ratios.len() - 1] * 100.0,
        goal * 100.0,
        met(median >= goal)
    );
}

#[allow(clippy::too_many_arguments)]
fn summary(
    dir: &Path,
    since: SystemTime,
    before: Speed,
    after: Speed,
    load_start: &str,
    load_end: &str,
    cpu: &[CpuRow],
    rss: &[RssRow],
    rounds: &[Round],
) {
    let get = |g: &str, f: &str, p: &str| estimate(dir, g, f, p, since);
    let ceiling = Speed {
        rsa_sign: before.rsa_sign.max(after.rsa_sign),
        rsa_verify: before.rsa_verify.max(after.rsa_verify),
        ec_sign: before.ec_sign.max(after.ec_sign),
        ec_verify: before.ec_verify.max(after.ec_verify),
        aes: before.aes.max(after.aes),
        sha256: before.sha256.max(after.sha256),
    };
    println!();
    println!("## Summary (medians of this run; paste into docs/benchmarks.md)");
    println!();
    println!(
        "Machine: {} CPUs ({}), {}; load average {load_start} at start, {load_end} at end.",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
        openssl_version()
    );
    println!();
    println!("| case | key | message | time per message | messages/s |");
    println!("|---|---|---|---:|---:|");
    let rows: &[(&str, &str, &[&str], &[&str])] = &[
        (
            "mail_sign",
            "sign (`smime::sign::sign`)",
            &["rsa2048", "p256"],
            &["4KiB", "1MiB"],
        ),
        (
            "mail_encrypt",
            "encrypt (`smime::encrypt::encrypt`)",
            &["rsa2048", "p256"],
            &["4KiB", "1MiB"],
        ),
        (
            "mail_sign_encrypt",
            "sign+encrypt, in process",
            &["rsa2048", "p256"],
            &["4KiB", "1MiB"],
        ),
        (
            "mail_decrypt_verify",
            "decrypt+verify (`incoming::process`)",
            &["rsa2048", "p256"],
            &["4KiB", "1MiB"],
        ),
        (
            "mail_engine_sign_encrypt",
            "`Engine::outgoing` on SQLite",
            &["rsa2048"],
            &["4KiB"],
        ),
        (
            "mail_engine_decrypt_verify",
            "`Engine::incoming` on SQLite",
            &["rsa2048"],
            &["4KiB"],
        ),
        (
            "mail_engine_options",
            "`Engine::security_options` alone",
            &["rsa2048"],
            &["4KiB"],
        ),
        (
            "mail_openssl_cms_sign_encrypt",
            "`openssl cms -sign \\| openssl cms -encrypt`",
            &["rsa2048", "p256"],
            &["4KiB"],
        ),
        (
            "mail_openssl_cms_decrypt_verify",
            "`openssl cms -decrypt \\| openssl cms -verify`",
            &["rsa2048", "p256"],
            &["4KiB"],
        ),
    ];
    for (group, what, keys, sizes) in rows {
        for key in *keys {
            for size in *sizes {
                if let Some(ns) = get(group, key, size) {
                    println!(
                        "| {what} | {key} | {size} | {} | {:.0} |",
                        fmt_time(ns),
                        1e9 / ns
                    );
                }
            }
        }
    }
    if let Some(ns) = get("mail_openssl_process", "version", "-") {
        println!(
            "| `openssl version` (process start only) | – | – | {} | {:.0} |",
            fmt_time(ns),
            1e9 / ns
        );
    }
    println!();
    println!(
        "openssl speed -seconds 3 (before / after the criterion runs; the higher is the ceiling):"
    );
    println!();
    println!("| operation | before | after | ceiling |");
    println!("|---|---:|---:|---:|");
    for (what, b, a, c) in [
        (
            "rsa2048 sign/s",
            before.rsa_sign,
            after.rsa_sign,
            ceiling.rsa_sign,
        ),
        (
            "rsa2048 verify/s",
            before.rsa_verify,
            after.rsa_verify,
            ceiling.rsa_verify,
        ),
        (
            "ecdsap256 sign/s",
            before.ec_sign,
            after.ec_sign,
            ceiling.ec_sign,
        ),
        (
            "ecdsap256 verify/s",
            before.ec_verify,
            after.ec_verify,
            ceiling.ec_verify,
        ),
    ] {
        println!("| {what} | {b:.1} | {a:.1} | {c:.1} |");
    }
    for (what, b, a, c) in [
        (
            "aes-256-cbc MB/s (`-evp`, 16 KiB)",
            before.aes,
            after.aes,
            ceiling.aes,
        ),
        (
            "sha256 MB/s (`-evp`, 16 KiB)",
            before.sha256,
            after.sha256,
            ceiling.sha256,
        ),
    ] {
        println!(
            "| {what} | {:.1} | {:.1} | {:.1} |",
            b / 1e6,
            a / 1e6,
            c / 1e6
        );
    }
    println!();
    if !cpu.is_empty() {
        println!(
            "CPU time per message, 4 KiB (user + system of this process and its children, over a run of several hundred messages; the command line's two processes partly overlap on two cores, so its wall time is below its CPU time):"
        );
        println!();
        println!("| case | key | wall per message | CPU per message | messages/s per core |");
        println!("|---|---|---:|---:|---:|");
        for r in cpu {
            println!(
                "| {} | {} | {} | {} | {:.0} |",
                r.what,
                r.key,
                fmt_time(r.wall.as_secs_f64() * 1e9),
                fmt_time(r.cpu.as_secs_f64() * 1e9),
                1.0 / r.cpu.as_secs_f64()
            );
        }
        println!();
    }
    let cpu_of = |what: &str, key: &str| {
        cpu.iter()
            .find(|r| r.what == what && r.key == key)
            .map(|r| r.cpu.as_secs_f64())
    };
    let rate = |g: &str, k: &str| get(g, k, "4KiB").map(|ns| 1e9 / ns);
    let se = rate("mail_sign_encrypt", "rsa2048");
    let dv = rate("mail_decrypt_verify", "rsa2048");
    let cli_se = rate("mail_openssl_cms_sign_encrypt", "rsa2048");
    let cli_dv = rate("mail_openssl_cms_decrypt_verify", "rsa2048");
    let eng_se = rate("mail_engine_sign_encrypt", "rsa2048");
    let eng_dv = rate("mail_engine_decrypt_verify", "rsa2048");
    println!("Targets (4 KiB, RSA-2048, one recipient, one core):");
    println!();
    println!("| target | measured | ratio | goal | |");
    println!("|---|---:|---:|---:|---|");
    if let Some(se) = se {
        let r = se / ceiling.rsa_sign;
        println!(
            "| in-process sign+encrypt vs `openssl speed rsa2048` sign/s | {se:.0} / {:.0} msg/s | {:.0} % | ≥ 85 % | {} |",
            ceiling.rsa_sign,
            r * 100.0,
            met(r >= 0.85)
        );
    }
    if let Some(mine) = cpu_of(CPU_SE, "rsa2048") {
        let r = 1.0 / mine / ceiling.rsa_sign;
        println!(
            "| same, by CPU time per message | {:.0} / {:.0} msg/s | {:.0} % | ≥ 85 % | {} |",
            1.0 / mine,
            ceiling.rsa_sign,
            r * 100.0,
            met(r >= 0.85)
        );
    }
    interleaved_row("sign+encrypt", rounds, |r| r.sign_encrypt, 0.85);
    if let (Some(se), Some(cli)) = (se, cli_se) {
        let r = se / cli;
        println!(
            "| in-process sign+encrypt vs `openssl cms` sign\\|encrypt | {se:.0} / {cli:.1} msg/s | {r:.1}× | ≥ 30× | {} |",
            met(r >= 30.0)
        );
        if let (Some(mine), Some(theirs)) =
            (cpu_of(CPU_SE, "rsa2048"), cpu_of(CPU_CLI_SE, "rsa2048"))
        {
            let r = theirs / mine;
            println!(
                "| same, per core (CPU time per message) | {:.0} / {:.1} msg/s per core | {r:.1}× | ≥ 30× | {} |",
                1.0 / mine,
                1.0 / theirs,
                met(r >= 30.0)
            );
        }
        // What 100 % of the RSA ceiling would give against the CLI.
        println!(
            "| (bound: `openssl speed` sign/s vs `openssl cms` sign\\|encrypt) | {:.0} / {cli:.1} | {:.1}× | – | the most any implementation doing one RSA-2048 signature per message could reach |",
            ceiling.rsa_sign,
            ceiling.rsa_sign / cli
        );
    }
    if let Some(dv) = dv {
        let r = dv / ceiling.rsa_sign;
        println!(
            "| in-process decrypt+verify vs `openssl speed rsa2048` sign/s | {dv:.0} / {:.0} msg/s | {:.0} % | ≥ 80 % | {} |",
            ceiling.rsa_sign,
            r * 100.0,
            met(r >= 0.80)
        );
    }
    if let Some(mine) = cpu_of(CPU_DV, "rsa2048") {
        let r = 1.0 / mine / ceiling.rsa_sign;
        println!(
            "| same, by CPU time per message | {:.0} / {:.0} msg/s | {:.0} % | ≥ 80 % | {} |",
            1.0 / mine,
            ceiling.rsa_sign,
            r * 100.0,
            met(r >= 0.80)
        );
    }
    interleaved_row("decrypt+verify", rounds, |r| r.decrypt_verify, 0.80);
    if let (Some(dv), Some(cli)) = (dv, cli_dv) {
        println!(
            "| (info) in-process decrypt+verify vs `openssl cms` decrypt\\|verify | {dv:.0} / {cli:.1} msg/s | {:.1}× | – | |",
            dv / cli
        );
    }
    if let (Some(mine), Some(theirs)) = (cpu_of(CPU_DV, "rsa2048"), cpu_of(CPU_CLI_DV, "rsa2048")) {
        println!(
            "| (info) same, per core (CPU time per message) | {:.0} / {:.1} msg/s per core | {:.1}× | – | |",
            1.0 / mine,
            1.0 / theirs,
            theirs / mine
        );
    }
    if let Some(e) = eng_se {
        println!(
            "| (info) `Engine::outgoing` vs rsa2048 sign/s | {e:.0} / {:.0} msg/s | {:.0} % | – | |",
            ceiling.rsa_sign,
            e / ceiling.rsa_sign * 100.0
        );
        if let Some(cli) = cli_se {
            println!(
                "| (info) `Engine::outgoing` vs `openssl cms` sign\\|encrypt | {e:.0} / {cli:.1} msg/s | {:.1}× | – | |",
                e / cli
            );
        }
    }
    if let Some(e) = eng_dv {
        println!(
            "| (info) `Engine::incoming` vs rsa2048 sign/s | {e:.0} / {:.0} msg/s | {:.0} % | – | |",
            ceiling.rsa_sign,
            e / ceiling.rsa_sign * 100.0
        );
    }
    if let Some(p) = rate("mail_sign_encrypt", "p256") {
        println!(
            "| (info) P-256 sign+encrypt vs `openssl speed ecdsap256` sign/s | {p:.0} / {:.0} msg/s | {:.0} % | – | |",
            ceiling.ec_sign,
            p / ceiling.ec_sign * 100.0
        );
    }
    if let Some(p) = rate("mail_decrypt_verify", "p256") {
        println!(
            "| (info) P-256 decrypt+verify vs `openssl speed ecdsap256` sign/s | {p:.0} / {:.0} msg/s | {:.0} % | – | |",
            ceiling.ec_sign,
            p / ceiling.ec_sign * 100.0
        );
    }
    if let (Some(p), Some(cli)) = (
        rate("mail_sign_encrypt", "p256"),
        rate("mail_openssl_cms_sign_encrypt", "p256"),
    ) {
        println!(
            "| (info) P-256 sign+encrypt vs `openssl cms` sign\\|encrypt | {p:.0} / {cli:.1} msg/s | {:.1}× | – | |",
            p / cli
        );
    }
    println!();
    println!(
        "Large messages (RSA-2048, AES-256-CBC; the whole computation of `Engine::outgoing` and `Engine::incoming`: `smime::outgoing::protect` and `smime::incoming::process`), against `openssl speed -evp aes-256-cbc -bytes 16384` ({:.0} MB/s in this run; SHA-256 {:.0} MB/s):",
        ceiling.aes / 1e6,
        ceiling.sha256 / 1e6
    );
    println!();
    println!("| case | message | time per message | MB/s | ÷ AES-256-CBC | goal | |");
    println!("|---|---|---:|---:|---:|---:|---|");
    for (group, what) in [
        (
            "mail_large_sign_encrypt",
            "sign+encrypt (`outgoing::protect`)",
        ),
        (
            "mail_large_decrypt_verify",
            "decrypt+verify (`incoming::process`)",
        ),
    ] {
        for (label, len) in LARGE {
            if let Some(ns) = get(group, "rsa2048", label) {
                let rate = len as f64 / (ns / 1e9);
                let r = rate / ceiling.aes;
                println!(
                    "| {what} | {label} | {} | {:.0} | {:.0} % | ≥ 30 % | {} |",
                    fmt_time(ns),
                    rate / 1e6,
                    r * 100.0,
                    met(r >= 0.30)
                );
            }
        }
    }
    if !rss.is_empty() {
        println!();
        println!(
            "Memory: peak RSS growth while one message is processed, in a fresh process (`VmHWM` after, `VmRSS` before, peak reset with `clear_refs`; the input is read before, the output counts):"
        );
        println!();
        println!(
            "| direction | message | input bytes | peak RSS growth | × input | goal | process peak RSS |"
        );
        println!("|---|---|---:|---:|---:|---:|---:|");
        for r in rss {
            println!(
                "| {} | {} | {} | {:.1} MB | {:.2}× | about 2× | {:.1} MB |",
                r.op,
                r.label,
                r.input,
                r.growth as f64 / 1e6,
                r.growth as f64 / r.input as f64,
                r.peak as f64 / 1e6
            );
        }
    }
}

// ---------------------------------------------------------------------------
// The benchmarks

fn main() {
    if let Ok(spec) = std::env::var(RSS_ENV) {
        rss_child(&spec);
        return;
    }
    let mut c = Criterion::default()
        .sample_size(15)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .output_directory(&criterion_dir())
        .configure_from_args();
    let args: Vec<String> = std::env::args().collect();
    // Not under `--test`, `--list` or `--profile-time`: those only exercise.
    let measuring = args.iter().any(|a| a == "--bench")
        && !args
            .iter()
            .any(|a| a == "--test" || a == "--list" || a.starts_with("--profile-time"));
    let since = SystemTime::now();

    smime::init();
    let alice = identity(
        "rsa2048",
        "alice@example.org",
        files::ALICE,
        files::ALICE_KEY,
    );
    let bob = identity("p256", "bob@example.org", files::BOB, files::BOB_KEY);
    let chain = smime::bundle::parse(&fixture(files::CHAIN), None)
        .expect("chain")
        .certificates;
    let trust = TrustStore::new(chain.iter());
    let policy = smime::Policy::now();
    let ids = [&alice, &bob];

    let load_start = loadavg();
    let before = if measuring {
        eprintln!(
            "machine: {} CPUs, {}, {}; load average {load_start}",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model(),
            openssl_version()
        );
        let s = speed();
        eprintln!(
            "openssl speed (before): rsa2048 {:.1} sign/s {:.1} verify/s; ecdsap256 {:.1} sign/s {:.1} verify/s",
            s.rsa_sign, s.rsa_verify, s.ec_sign, s.ec_verify
        );
        breakdown(&alice, &chain, &trust, Size::K4, s.rsa_sign);
        breakdown(&alice, &chain, &trust, Size::M1, s.rsa_sign);
        breakdown(&bob, &chain, &trust, Size::K4, s.ec_sign);
        eprintln!();
        s
    } else {
        Speed::default()
    };

    // Messages, split once; the sent form of each (input of decrypt+verify).
    struct Case<'a> {
        id: &'a Identity,
        size: Size,
        raw: Vec<u8>,
        split: smime::mime::Split,
        sent: Vec<u8>,
    }
    let mut cases = Vec::new();
    for size in [Size::K4, Size::M1] {
        for id in ids {
            let raw = message(id.email, id.email, size);
            let split = smime::mime::split_message(&raw).expect("split");
            let signer = id.signer(&chain);
            let sent = sign_encrypt(&split, &signer, &id.cert);
            let keys = id.keys();
            let ctx = Context {
                keys: &keys,
                trust: &trust,
                policy: &policy,
            };
            let read = smime::incoming::process(&sent, &ctx).expect("process");
            assert_read(&read, id.label);
            cases.push(Case {
                id,
                size,
                raw,
                split,
                sent,
            });
        }
    }

    // The two in-process goals, each second flanked by the reference.
    let rounds = if measuring {
        let case = cases
            .iter()
            .find(|c| c.id.label == "rsa2048" && c.size == Size::K4)
            .expect("the 4 KiB RSA case");
        let signer = alice.signer(&chain);
        let keys = alice.keys();
        let ctx = Context {
            keys: &keys,
            trust: &trust,
            policy: &policy,
        };
        let rounds = interleaved(
            10,
            &mut || {
                black_box(sign_encrypt(black_box(&case.split), &signer, &alice.cert));
            },
            &mut || {
                black_box(smime::incoming::process(black_box(&case.sent), &ctx).unwrap());
            },
        );
        for r in &rounds {
            eprintln!(
                "interleaved: openssl speed {:.0} / {:.0} sign/s; sign+encrypt {:.0}/s; decrypt+verify {:.0}/s",
                r.speed.0, r.speed.1, r.sign_encrypt, r.decrypt_verify
            );
        }
        rounds
    } else {
        Vec::new()
    };

    for (group_name, op) in [
        ("mail_sign", 0),
        ("mail_encrypt", 1),
        ("mail_sign_encrypt", 2),
        ("mail_decrypt_verify", 3),
    ] {
        let mut group = c.benchmark_group(group_name);
        group.throughput(Throughput::Elements(1));
        for case in &cases {
            let id = case.id;
            let signer = id.signer(&chain);
            let keys = id.keys();
            let ctx = Context {
                keys: &keys,
                trust: &trust,
                policy: &policy,
            };
            if case.size == Size::M1 {
                group.sample_size(10);
            } else {
                group.sample_size(15);
            }
            let bid = BenchmarkId::new(id.label, case.size.label());
            let entity = &case.split.entity;
            match op {
                0 => group.bench_function(bid, |b| {
                    b.iter(|| smime::sign::sign(black_box(entity), &signer).unwrap())
                }),
                1 => group.bench_function(bid, |b| {
                    b.iter(|| {
                        smime::encrypt::encrypt(
                            black_box(entity),
                            &[&id.cert],
                            EncryptOptions::default(),
                        )
                        .unwrap()
                    })
                }),
                2 => group.bench_function(bid, |b| {
                    b.iter(|| sign_encrypt(black_box(&case.split), &signer, &id.cert))
                }),
                _ => group.bench_function(bid, |b| {
                    b.iter(|| smime::incoming::process(black_box(&case.sent), &ctx).unwrap())
                }),
            };
        }
        group.finish();
    }

    // Large messages (issue 14): the whole outgoing computation (split and
    // 7-bit check included) and the whole incoming one, RSA-2048.
    let mut rss_rows: Vec<RssRow> = Vec::new();
    {
        let dir = tempfile::tempdir().expect("tempdir");
        let to = [&alice.cert];
        let signer = alice.signer(&chain);
        let protection = protection(signer, &to);
        let keys = alice.keys();
        let ctx = Context {
            keys: &keys,
            trust: &trust,
            policy: &policy,
        };
        let large: Vec<(&str, Vec<u8>, Vec<u8>)> = LARGE
            .iter()
            .map(|&(label, len)| {
                let raw = large_message(alice.email, label, len);
                let sent = smime::outgoing::protect(&raw, &protection).expect("protect");
                assert_read(
                    &smime::incoming::process(&sent, &ctx).expect("process"),
                    label,
                );
                (label, raw, sent)
            })
            .collect();
        for (group_name, outgoing) in [
            ("mail_large_sign_encrypt", true),
            ("mail_large_decrypt_verify", false),
        ] {
            let mut group = c.benchmark_group(group_name);
            group.sample_size(10);
            for (label, raw, sent) in &large {
                group.throughput(Throughput::Bytes(raw.len() as u64));
                let bid = BenchmarkId::new("rsa2048", label);
                if outgoing {
                    group.bench_function(bid, |b| {
                        b.iter(|| smime::outgoing::protect(black_box(raw), &protection).unwrap())
                    });
                } else {
                    group.bench_function(bid, |b| {
                        b.iter(|| smime::incoming::process(black_box(sent), &ctx).unwrap())
                    });
                }
            }
            group.finish();
        }
        if measuring {
            for (label, raw, sent) in &large {
                let raw_path = dir.path().join(format!("{label}.eml"));
                let sent_path = dir.path().join(format!("{label}-sent.eml"));
                std::fs::write(&raw_path, raw).expect("write");
                std::fs::write(&sent_path, sent).expect("write");
                for (op, path, input) in [
                    ("outgoing", &raw_path, raw.len()),
                    ("incoming", &sent_path, sent.len()),
                ] {
                    let (growth, peak) = rss_growth(op, path);
                    eprintln!(
                        "memory: {op} {label} ({input} bytes): peak RSS grew by {growth} bytes, {:.2}x; process peak {peak} bytes",
                        growth as f64 / input as f64
                    );
                    rss_rows.push(RssRow {
                        op,
                        label,
                        input,
                        growth,
                        peak,
                    });
                }
            }
        }
    }

    // The engine on SQLite, RSA-2048, 4 KiB.
    {
        let rt = runtime();
        let dir = tempfile::tempdir().expect("tempdir");
        let (engine, store) = engine(&rt, dir.path());
        let actor = Actor::cli();
        let raw = &cases
            .iter()
            .find(|k| k.id.label == "rsa2048" && k.size == Size::K4)
            .expect("case")
            .raw;
        let sender = Sender::Group("support".into());
        let request = OutgoingRequest {
            sign: Some(true),
            encrypt: Some(true),
            ..Default::default()
        };
        // Warms the key cache and checks the result.
        let out = rt
            .block_on(engine.outgoing(&actor, raw.to_vec(), &sender, &request))
            .expect("outgoing");
        assert!(out.signed && out.encrypted);
        assert_eq!(engine.cached_keys(), 1);
        let read = rt
            .block_on(engine.incoming(&actor, out.message.clone()))
            .expect("incoming")
            .processed;
        assert_read(&read, "engine");
        let to = vec!["alice@example.org".to_string()];
        if measuring {
            engine_breakdown(&rt, &store, &alice, raw);
            eprintln!();
        }

        let mut group = c.benchmark_group("mail_engine_sign_encrypt");
        group.throughput(Throughput::Elements(1)).sample_size(15);
        group.bench_function(BenchmarkId::new("rsa2048", "4KiB"), |b| {
            b.iter(|| {
                rt.block_on(engine.outgoing(&actor, black_box(raw).to_vec(), &sender, &request))
                    .unwrap()
            })
        });
        group.finish();
        let mut group = c.benchmark_group("mail_engine_decrypt_verify");
        group.throughput(Throughput::Elements(1)).sample_size(15);
        group.bench_function(BenchmarkId::new("rsa2048", "4KiB"), |b| {
            b.iter(|| {
                rt.block_on(engine.incoming(&actor, black_box(&out.message).clone()))
                    .unwrap()
            })
        });
        group.finish();
        let mut group = c.benchmark_group("mail_engine_options");
        group.throughput(Throughput::Elements(1)).sample_size(15);
        group.bench_function(BenchmarkId::new("rsa2048", "4KiB"), |b| {
            b.iter(|| {
                rt.block_on(engine.security_options(&actor, &sender, black_box(&to)))
                    .unwrap()
            })
        });
        group.finish();
    }

    // The `openssl cms` command line, one pair of processes per message.
    let mut cpu_rows: Vec<CpuRow> = Vec::new();
    {
        let dir = tempfile::tempdir().expect("tempdir");
        let clis: Vec<(&Identity, CmsCli)> = cases
            .iter()
            .filter(|k| k.size == Size::K4)
            .map(|k| {
                let msg = dir.path().join(format!("msg4k-{}.eml", k.id.label));
                let sent = dir.path().join(format!("sent4k-{}.eml", k.id.label));
                std::fs::write(&msg, &k.raw).expect("write");
                std::fs::write(&sent, &k.sent).expect("write");
                let cli = CmsCli::new(k.id, &msg, &sent);
                (k.id, cli)
            })
            .collect();
        for (_, cli) in &clis {
            cli.check();
        }
        // One process per message: few, flat samples.
        fn process_group<'a>(
            c: &'a mut Criterion,
            name: &str,
        ) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
            let mut group = c.benchmark_group(name.to_string());
            group
                .throughput(Throughput::Elements(1))
                .sample_size(10)
                .sampling_mode(SamplingMode::Flat);
            group
        }
        for (name, run) in [
            (
                "mail_openssl_cms_sign_encrypt",
                CmsCli::sign_encrypt as fn(&CmsCli),
            ),
            ("mail_openssl_cms_decrypt_verify", CmsCli::decrypt_verify),
        ] {
            let mut group = process_group(&mut c, name);
            for (id, cli) in &clis {
                group.bench_function(BenchmarkId::new(id.label, "4KiB"), |b| b.iter(|| run(cli)));
            }
            group.finish();
        }
        let mut group = process_group(&mut c, "mail_openssl_process");
        group.bench_function(BenchmarkId::new("version", "-"), |b| {
            b.iter(|| {
                let s = openssl(&["version"])
                    .stdout(Stdio::null())
                    .status()
                    .expect("openssl version");
                assert!(s.success());
            })
        });
        group.finish();

        // CPU time per message, for the per-core comparison.
        if measuring {
            for case in cases.iter().filter(|k| k.size == Size::K4) {
                let id = case.id;
                let signer = id.signer(&chain);
                let keys = id.keys();
                let ctx = Context {
                    keys: &keys,
                    trust: &trust,
                    policy: &policy,
                };
                let cli = &clis
                    .iter()
                    .find(|(c, _)| c.label == id.label)
                    .expect("cli")
                    .1;
                let (runs_se, runs_dv) = if id.label == "rsa2048" {
                    (3000, 1200)
                } else {
                    (4000, 1200)
                };
                let (wall, cpu) = cpu_per_message(runs_se, || {
                    black_box(sign_encrypt(&case.split, &signer, &id.cert));
                });
                cpu_rows.push(CpuRow {
                    what: CPU_SE,
                    key: id.label,
                    wall,
                    cpu,
                });
                let (wall, cpu) = cpu_per_message(runs_dv, || {
                    black_box(smime::incoming::process(&case.sent, &ctx).unwrap());
                });
                cpu_rows.push(CpuRow {
                    what: CPU_DV,
                    key: id.label,
                    wall,
                    cpu,
                });
                let (wall, cpu) = cpu_per_message(150, || cli.sign_encrypt());
                cpu_rows.push(CpuRow {
                    what: CPU_CLI_SE,
                    key: id.label,
                    wall,
                    cpu,
                });
                let (wall, cpu) = cpu_per_message(150, || cli.decrypt_verify());
                cpu_rows.push(CpuRow {
                    what: CPU_CLI_DV,
                    key: id.label,
                    wall,
                    cpu,
                });
            }
            let (wall, cpu) = cpu_per_message(300, || {
                let s = openssl(&["version"])
                    .stdout(Stdio::null())
                    .status()
                    .expect("openssl version");
                assert!(s.success());
            });
            cpu_rows.push(CpuRow {
                what: "`openssl version` (process start only)",
                key: "–",
                wall,
                cpu,
            });
        }
    }

    c.final_summary();
    if measuring {
        let after = speed();
        eprintln!(
            "openssl speed (after): rsa2048 {:.1} sign/s {:.1} verify/s; ecdsap256 {:.1} sign/s {:.1} verify/s",
            after.rsa_sign, after.rsa_verify, after.ec_sign, after.ec_verify
        );
        summary(
            &criterion_dir(),
            since,
            before,
            after,
            &load_start,
            &loadavg(),
            &cpu_rows,
            &rss_rows,
            &rounds,
        );
    }
}
