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
use smimed_store::Store;

const N: usize = 100_000;
const TARGET: usize = 54_321;

fn open_or_build(rt: &tokio::runtime::Runtime) -> Store {
    let dir = common::data_dir();
    let db = dir.join("lookup-100k-v1.db");
    let done = db.with_extension("db.done");
    let url = common::sqlite_url(&db);
    if done.exists() {
        eprintln!("store: reusing {}", db.display());
        return rt
            .block_on(Store::open(&url, common::master()))
            .expect("open store");
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
        .block_on(store.import(bundle, None, &|_| {}))
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
}

criterion_group!(benches, bench);
criterion_main!(benches);
