//! Importing a PEM bundle of 10,000 S/MIME certificates, compared in the
//! same run with OpenSSL's command line reading the same file.
//!
//! Run: `cargo bench -p smimed-store --bench import_10k`
//! (docs/benchmarks.md has the figures and the machine).
//!
//! - `smime_parse`: `smime::bundle::parse` of the bytes, already in memory.
//! - `smimed_import`: read the file, parse, `Store::import` into a fresh
//!   SQLite database (opened, migrated, before the clock starts): what a
//!   user waits for.
//! - `openssl_crl2pkcs7`: `openssl crl2pkcs7 -nocrl -certfile FILE -out
//!   /dev/null` as a process: reads every certificate, writes them again.
//! - `openssl_storeutl`: `openssl storeutl -noout -certs FILE`, when this
//!   OpenSSL has it.
//! - `openssl_version`: `openssl version`, the cost of starting the
//!   process alone, to read the two above.
//!
//! Before the timed runs, a breakdown of one import (median of three) is
//! printed to stderr: where the time goes, phase by phase. Set
//! `SMIMED_BENCH_NO_BREAKDOWN=1` to skip it (e.g. under `perf record`).

mod common;

use std::hint::black_box;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use openssl::hash::{MessageDigest, hash};
use openssl::x509::X509;
use smime::Certificate;
use smimed_store::{Outcome, Store};

const N: usize = 10_000;

fn openssl(args: &[&str]) -> Command {
    let mut cmd = Command::new("openssl");
    cmd.args(args).stdout(Stdio::null()).stderr(Stdio::null());
    cmd
}

fn run_ok(mut cmd: Command) {
    let status = cmd.status().expect("spawn openssl");
    assert!(status.success(), "{cmd:?} failed: {status}");
}

/// A fresh, migrated store in its own temporary directory.
fn fresh_store(rt: &tokio::runtime::Runtime) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir_in(common::data_dir()).expect("tempdir");
    let url = common::sqlite_url(&dir.path().join("smimed.db"));
    let store = rt
        .block_on(Store::open(&url, common::master()))
        .expect("open store");
    (dir, store)
}

fn import(rt: &tokio::runtime::Runtime, store: &Store, pem: &[u8]) {
    let bundle = smime::bundle::parse(pem, None).expect("parse");
    let report = rt
        .block_on(store.import(bundle, None, &|_| {}, "test"))
        .expect("import");
    assert!(report.stored, "import refused");
    assert_eq!(report.certificates.len(), N);
    assert!(
        report
            .certificates
            .iter()
            .all(|c| c.outcome == Outcome::Imported)
    );
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Times the phases of one import separately and prints them.
fn breakdown(path: &std::path::Path) {
    let rt = common::runtime();
    let runs = 3;
    let mut rows: Vec<(&str, Vec<Duration>)> = Vec::new();
    let mut record = |name: &'static str, d: Duration| match rows.iter_mut().find(|r| r.0 == name) {
        Some(row) => row.1.push(d),
        None => rows.push((name, vec![d])),
    };
    for _ in 0..runs {
        let t = Instant::now();
        let pem = std::fs::read(path).expect("read bundle");
        record("read the file", t.elapsed());

        let t = Instant::now();
        let bundle = smime::bundle::parse(&pem, None).expect("parse");
        record("smime::bundle::parse, total", t.elapsed());

        // Parts of the parse, redone on the same data.
        let ders: Vec<Vec<u8>> = bundle
            .certificates
            .iter()
            .map(|c| c.der().to_vec())
            .collect();
        let t = Instant::now();
        let x509s: Vec<X509> = ders.iter().map(|d| X509::from_der(d).unwrap()).collect();
        record("  X509::from_der (d2i_X509) alone", t.elapsed());
        let t = Instant::now();
        let certs: Vec<Certificate> = x509s
            .iter()
            .map(|x| Certificate::from_x509(x.clone()).unwrap())
            .collect();
        record("  Certificate::from_x509 (to_der + classify)", t.elapsed());
        drop(certs);

        // Per-certificate work inside Store::import before the SQL.
        let t = Instant::now();
        for c in &bundle.certificates {
            let spki = c.public_key().unwrap().public_key_to_der().unwrap();
            black_box(hash(MessageDigest::sha256(), &spki).unwrap());
        }
        record(
            "  SPKI: public_key_to_der (i2d_PUBKEY) + SHA-256",
            t.elapsed(),
        );
        let t = Instant::now();
        for c in &bundle.certificates {
            black_box(hash(MessageDigest::sha256(), &c.subject_name_der().unwrap()).unwrap());
            black_box(hash(MessageDigest::sha256(), &c.issuer_name_der().unwrap()).unwrap());
        }
        record("  subject/issuer name DER + SHA-256", t.elapsed());

        let (_dir, store) = fresh_store(&rt);
        let t = Instant::now();
        let report = rt
            .block_on(store.import(bundle, None, &|_| {}, "test"))
            .expect("import");
        record("Store::import, total (fresh SQLite)", t.elapsed());
        assert!(report.stored);
    }
    let medians: Vec<(&str, Duration)> = rows.into_iter().map(|(n, t)| (n, median(t))).collect();
    let get = |name: &str| medians.iter().find(|r| r.0 == name).unwrap().1;
    let rest = get("Store::import, total (fresh SQLite)")
        .saturating_sub(get("  SPKI: public_key_to_der (i2d_PUBKEY) + SHA-256"))
        .saturating_sub(get("  subject/issuer name DER + SHA-256"));
    eprintln!("\nimport_10k breakdown (median of {runs} runs, {N} certificates):");
    let print = |name: &str, m: Duration| {
        eprintln!(
            "  {name:<52} {:>9}  ({:.1} µs per certificate)",
            common::secs(m),
            m.as_secs_f64() * 1e6 / N as f64
        )
    };
    // Parse rows first, then the import rows under their total.
    let (import_rows, parse_rows): (Vec<_>, Vec<_>) = medians.iter().partition(|r| {
        r.0.starts_with("Store::import")
            || r.0.starts_with("  SPKI")
            || r.0.starts_with("  subject")
    });
    for (name, m) in parse_rows {
        print(name, m);
    }
    let (total, parts): (Vec<_>, Vec<_>) = import_rows
        .into_iter()
        .partition(|r| r.0.starts_with("Store::import"));
    for (name, m) in total.into_iter().chain(parts) {
        print(name, m);
    }
    print("  rest: SQL and bookkeeping (total minus the above)", rest);
    eprintln!("  load average: {}\n", common::loadavg());
}

fn bench(c: &mut Criterion) {
    let path = common::bundle(N);
    let path_str = path.to_str().expect("UTF-8 path").to_string();
    let pem = std::fs::read(&path).expect("read bundle");
    eprintln!(
        "bundle: {} ({:.1} MB, {N} certificates)",
        path.display(),
        pem.len() as f64 / 1e6
    );
    if std::env::var_os("SMIMED_BENCH_NO_BREAKDOWN").is_none() {
        breakdown(&path);
    }

    eprintln!("load average before the timed runs: {}", common::loadavg());
    let rt = common::runtime();
    let mut group = c.benchmark_group("import_10k");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));

    group.bench_function("smime_parse", |b| {
        b.iter(|| smime::bundle::parse(black_box(&pem), None).expect("parse"))
    });

    group.bench_function("smimed_import", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (dir, store) = fresh_store(&rt);
                let t = Instant::now();
                let bytes = std::fs::read(&path).expect("read bundle");
                import(&rt, &store, &bytes);
                total += t.elapsed();
                drop(store);
                drop(dir);
            }
            total
        })
    });

    let crl2pkcs7 = [
        "crl2pkcs7",
        "-nocrl",
        "-certfile",
        &path_str,
        "-out",
        "/dev/null",
    ];
    run_ok(openssl(&crl2pkcs7));
    group.bench_function("openssl_crl2pkcs7", |b| {
        b.iter(|| run_ok(openssl(&crl2pkcs7)))
    });

    let storeutl = ["storeutl", "-noout", "-certs", &path_str];
    let probe = Command::new("openssl").args(storeutl).output();
    match probe {
        Ok(out)
            if out.status.success()
                && String::from_utf8_lossy(&out.stdout).contains(&format!("Total found: {N}")) =>
        {
            group.bench_function("openssl_storeutl", |b| {
                b.iter(|| run_ok(openssl(&storeutl)))
            });
        }
        _ => eprintln!("openssl storeutl does not read this bundle here: skipped"),
    }

    group.bench_function("openssl_version", |b| {
        b.iter(|| run_ok(openssl(&["version"])))
    });
    group.finish();
    eprintln!("load average after the timed runs: {}", common::loadavg());
}

criterion_group!(benches, bench);
criterion_main!(benches);
