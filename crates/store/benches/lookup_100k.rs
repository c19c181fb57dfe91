//! Finding the certificates of one address in a store of 100,000.
//!
//! Run: `cargo bench -p smimed-store --bench lookup_100k`
//! (docs/benchmarks.md has the figures and the machine).
//!
//! The SQLite database (the bench CA plus 100,000 end-entity certificates,
//! `user0@bench.example` .. `user99999@bench.example`) is built on the first
//! run and kept in `<target dir>/bench-data/lookup-100k-*.db`; a `.done`
//! file beside it marks it complete. Delete both to rebuild.
//!
//! - `certificates_for_email_hit`: `user54321@bench.example`, one
//!   certificate, whose issuer (the CA) is in the store: the full answer,
//!   with the certificate parsed and its issues computed (which verifies its
//!   signature against the stored CA).
//! - `certificates_for_email_miss`: an address with no certificate.

mod common;

use std::fs;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use openssl::hash::{MessageDigest, hash};
use openssl::x509::X509;
use smime::Certificate;
use smimed_store::Store;

const N: usize = 100_000;
const TARGET: usize = 54_321;

fn open_or_build(rt: &tokio::runtime::Runtime) -> Store {
    let dir = common::data_dir();
    let db = dir.join("lookup-100k-v1.db");
    let done = db.with_extension("db.done");
    let url = common::sqlite_url(&db);
    if done.exists() {
        // A schema change (an edited migration) makes the cache unusable.
        match rt.block_on(Store::open(&url, common::master())) {
            Ok(store) => {
                eprintln!("store: reusing {}", db.display());
                return store;
            }
            Err(e) => eprintln!("store: cached database unusable ({e}); rebuilding"),
        }
        let _ = fs::remove_file(&done);
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let pem_path = common::bundle(N);
    let ca = common::ca();
    eprintln!("store: building {} (once)", db.display());
    let store = rt
        .block_on(Store::open(&url, common::master()))
        .expect("open store");

    let t = Instant::now();
    let pem = fs::read(&pem_path).expect("read bundle");
    let mut bundle = smime::bundle::parse(&fs::read(&ca.pem_path).unwrap(), None).unwrap();
    bundle.certificates.extend(
        smime::bundle::parse(&pem, None)
            .expect("parse")
            .certificates,
    );
    let parsed = t.elapsed();
    let t = Instant::now();
    let report = rt
        .block_on(store.import(bundle, None, &|_| {}, "test"))
        .expect("import");
    assert!(report.stored, "import refused");
    assert_eq!(report.certificates.len(), N + 1);
    eprintln!(
        "store: {} certificates parsed in {}, imported in {}",
        N + 1,
        common::secs(parsed),
        common::secs(t.elapsed())
    );
    common::write_atomically(&done, b"complete\n");
    store
}

fn median_of(reps: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[reps / 2]
}

/// What one hit costs, part by part: the two SQL queries
/// `certificates_for_email` runs (through sqlx's Any driver, like the
/// store), and the certificate work done on their answers.
fn breakdown(rt: &tokio::runtime::Runtime, store: &Store, target: &str) {
    const REPS: usize = 200;
    let db = common::data_dir().join("lookup-100k-v1.db");
    sqlx::any::install_default_drivers();
    let pool = rt
        .block_on(
            sqlx::any::AnyPoolOptions::new()
                .max_connections(1)
                .connect(&format!("sqlite://{}?mode=ro", db.display())),
        )
        .expect("open the database read-only");
    let leaf = rt.block_on(store.certificates_for_email(target)).unwrap()[0]
        .certificate
        .clone();
    let issuer_hash =
        smime::cert::hex(&hash(MessageDigest::sha256(), &leaf.issuer_name_der().unwrap()).unwrap());
    let ca_der: Vec<u8> = rt
        .block_on(
            sqlx::query_scalar("SELECT der FROM certificates WHERE subject_name_sha256 = $1")
                .bind(issuer_hash.clone())
                .fetch_one(&pool),
        )
        .unwrap();
    let ca = Certificate::from_der(&ca_der).unwrap();

    let rows: Vec<(&str, Duration)> = vec![
        (
            "certificates_for_email, total",
            median_of(REPS, || {
                black_box(rt.block_on(store.certificates_for_email(target)).unwrap());
            }),
        ),
        (
            "  SQL: address -> certificate (join)",
            median_of(REPS, || {
                black_box(
                    rt.block_on(
                        sqlx::query(
                            "SELECT c.der, k.fingerprint FROM certificate_emails e \
                             JOIN certificates c ON c.fingerprint = e.fingerprint \
                             LEFT JOIN private_keys k ON k.fingerprint = c.fingerprint \
                             WHERE e.email = $1",
                        )
                        .bind(target.to_string())
                        .fetch_all(&pool),
                    )
                    .unwrap(),
                );
            }),
        ),
        (
            "  SQL: issuer candidates by subject name hash",
            median_of(REPS, || {
                black_box(
                    rt.block_on(
                        sqlx::query_scalar::<_, Vec<u8>>(
                            "SELECT der FROM certificates WHERE subject_name_sha256 = $1",
                        )
                        .bind(issuer_hash.clone())
                        .fetch_all(&pool),
                    )
                    .unwrap(),
                );
            }),
        ),
        (
            "  Certificate::from_der, the found certificate",
            median_of(REPS, || {
                black_box(Certificate::from_der(leaf.der()).unwrap());
            }),
        ),
        (
            "    of which X509::from_der (d2i_X509)",
            median_of(REPS, || {
                black_box(X509::from_der(leaf.der()).unwrap());
            }),
        ),
        (
            "  Certificate::from_der, the CA (issuer check)",
            median_of(REPS, || {
                black_box(Certificate::from_der(&ca_der).unwrap());
            }),
        ),
        (
            "  is_issued_by (names + RSA signature check)",
            median_of(REPS, || {
                black_box(leaf.is_issued_by(&ca));
            }),
        ),
    ];
    eprintln!("\nlookup_100k breakdown (median of {REPS} runs each):");
    for (name, m) in rows {
        eprintln!("  {name:<48} {:>8.1} µs", m.as_secs_f64() * 1e6);
    }
    eprintln!("  load average: {}\n", common::loadavg());
}

fn bench(c: &mut Criterion) {
    let rt = common::runtime();
    let store = open_or_build(&rt);

    // The answer is the one certificate, found whole, with no issue.
    let target = common::email(TARGET);
    let found = rt
        .block_on(store.certificates_for_email(&target))
        .expect("lookup");
    assert_eq!(found.len(), 1, "{target}: expected one certificate");
    assert_eq!(
        found[0].certificate.info().email_addresses,
        vec![target.clone()]
    );
    assert!(
        found[0].issues.is_empty(),
        "unexpected issues: {:?}",
        found[0].issues
    );

    breakdown(&rt, &store, &target);

    let mut group = c.benchmark_group("lookup_100k");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group.bench_function("certificates_for_email_hit", |b| {
        b.iter(|| {
            rt.block_on(store.certificates_for_email(black_box(&target)))
                .expect("lookup")
        })
    });
    group.bench_function("certificates_for_email_miss", |b| {
        b.iter(|| {
            rt.block_on(store.certificates_for_email(black_box("nobody@bench.example")))
                .expect("lookup")
        })
    });
    group.finish();
    eprintln!("load average after the timed runs: {}", common::loadavg());
}

criterion_group!(benches, bench);
criterion_main!(benches);
