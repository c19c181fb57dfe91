//! Certificate lists at 1,000 and at 100,000 certificates (issue 14),
//! measured side by side in one run.
//!
//! Run: `cargo bench -p smimed-store --bench lists`
//! (docs/benchmarks.md, "Certificate lists at scale", has the figures).
//!
//! Two SQLite stores are built through the real import path on the first
//! run and kept in `<target dir>/bench-data/lists-{1000,100000}-*.db` (a
//! `.done` file beside each marks it complete; delete both to rebuild).
//! Certificate `i` of the store of N is the same in both stores for
//! i < 1,000:
//!
//! - i < 150: the helpdesk's own agents, `agent{i}@support.example`, with
//!   their private key (one RSA-2048 key shared by all);
//! - i % 100 = 50 (i ≥ 150): an intermediate CA under the bench root, no
//!   address;
//! - the rest: contacts `user{i}@d{i % 100}.example`, `CN=Bench User {i}`,
//!   another shared RSA-2048 key, no private key.
//!
//! All are issued by one EC P-256 root (stored too), valid for ten years.
//!
//! Measured at both sizes, with `Store::certificates_page` (the SQL count
//! and page, read from the narrow list rows; nothing is parsed):
//!
//! - `filtered_page`: the issue's query, `email=support` (a substring of an
//!   address), `kind=end_entity`, `has_key=true`, 50 rows: 150 match at
//!   both sizes;
//! - `filtered_page_growing`: `email=@d4`, `kind=end_entity`,
//!   `has_key=false`, 50 rows, where the matches grow with the store
//!   (about 11 %: 99 and 10,890);
//! - `web_search/<needle>`: what the web table asks of the store per
//!   keystroke (the first 200 rows whose address or subject contains the
//!   needle, and their count up to 1,000; the total of all certificates is
//!   remembered by the engine), for a needle typed one character at a
//!   time.

mod common;

use std::fs;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName, SubjectKeyIdentifier,
};
use openssl::x509::{X509, X509Builder, X509Name, X509NameRef};
use smime::Kind;
use smimed_store::{CertificateQuery, CertificateSort, Store};

const SIZES: [usize; 2] = [1_000, 100_000];
/// Certificates per import: the real import path, in batches.
const IMPORT_BATCH: usize = 5_000;
/// Bumped when the data changes shape.
const VERSION: &str = "v1";
/// The web table's rows, and how far it counts matches
/// (`crates/server/src/web/admin_page.rs`).
const WEB_ROWS: usize = 200;
const WEB_COUNT: usize = 1_000;

struct Keys {
    root: PKey<Private>,
    root_cert: X509,
    sub_ca: PKey<Private>,
    agent: PKey<Private>,
    contact: PKey<Private>,
}

fn keys() -> Keys {
    let ec = || {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
    };
    let rsa = || PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let root = ec();
    let name = name("smimed Lists Bench Root");
    let root_cert = build(&name, &name, &root, &root, true, None);
    Keys {
        root,
        root_cert,
        sub_ca: ec(),
        agent: rsa(),
        contact: rsa(),
    }
}

fn name(cn: &str) -> openssl::x509::X509Name {
    let mut name = X509Name::builder().unwrap();
    name.append_entry_by_nid(Nid::ORGANIZATIONNAME, "smimed bench")
        .unwrap();
    name.append_entry_by_nid(Nid::COMMONNAME, cn).unwrap();
    name.build()
}

fn build(
    subject: &X509NameRef,
    issuer: &X509NameRef,
    key: &PKey<Private>,
    signer: &PKey<Private>,
    ca: bool,
    email: Option<&str>,
) -> X509 {
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    let mut serial = BigNum::new().unwrap();
    serial.rand(128, MsbOption::ONE, false).unwrap();
    b.set_serial_number(&serial.to_asn1_integer().unwrap())
        .unwrap();
    b.set_subject_name(subject).unwrap();
    b.set_issuer_name(issuer).unwrap();
    b.set_pubkey(key).unwrap();
    let now = smime::now();
    b.set_not_before(&Asn1Time::from_unix(now - 86_400).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::from_unix(now + 3650 * 86_400).unwrap())
        .unwrap();
    if ca {
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
    } else {
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
    }
    if let Some(email) = email {
        let san = SubjectAlternativeName::new()
            .email(email)
            .build(&b.x509v3_context(None, None))
            .unwrap();
        b.append_extension(san).unwrap();
    }
    let ski = SubjectKeyIdentifier::new()
        .build(&b.x509v3_context(None, None))
        .unwrap();
    b.append_extension(ski).unwrap();
    b.sign(signer, MessageDigest::sha256()).unwrap();
    b.build()
}

/// Certificate `i` as PEM.
fn certificate(keys: &Keys, i: usize) -> Vec<u8> {
    let root = keys.root_cert.subject_name();
    let cert = if i < 150 {
        let email = format!("agent{i}@support.example");
        let subject = name(&format!("Agent {i}"));
        build(&subject, root, &keys.agent, &keys.root, false, Some(&email))
    } else if i % 100 == 50 {
        let subject = name(&format!("Bench Sub CA {i}"));
        build(&subject, root, &keys.sub_ca, &keys.root, true, None)
    } else {
        let email = format!("user{i}@d{}.example", i % 100);
        let subject = name(&format!("Bench User {i}"));
        build(
            &subject,
            root,
            &keys.contact,
            &keys.root,
            false,
            Some(&email),
        )
    };
    cert.to_pem().unwrap()
}

/// Certificates `from..to` as one PEM file, made on two threads.
fn pem(keys: &Keys, from: usize, to: usize) -> Vec<u8> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per = (to - from).div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let mut out = Vec::new();
                    for i in (from + t * per)..(from + (t + 1) * per).min(to) {
                        out.extend(certificate(keys, i));
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    })
}

/// The store of `n` certificates (and the root), built once.
fn open_or_build(rt: &tokio::runtime::Runtime, n: usize) -> Store {
    let db = common::data_dir().join(format!("lists-{n}-{VERSION}.db"));
    let done = db.with_extension("db.done");
    let url = common::sqlite_url(&db);
    if done.exists() {
        match rt.block_on(Store::open(&url, common::master())) {
            Ok(store) => {
                eprintln!("store of {n}: reusing {}", db.display());
                return store;
            }
            Err(e) => eprintln!("store of {n}: cached database unusable ({e}); rebuilding"),
        }
        let _ = fs::remove_file(&done);
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = fs::remove_file(format!("{}{suffix}", db.display()));
    }
    eprintln!("store of {n}: building {} (once)", db.display());
    let started = Instant::now();
    let store = rt
        .block_on(Store::open(&url, common::master()))
        .expect("open store");
    let keys = keys();
    let import = |pem: &[u8]| {
        let bundle = smime::bundle::parse(pem, None).expect("parse");
        let report = rt
            .block_on(store.import(bundle, None, &|_| {}, "bench"))
            .expect("import");
        assert!(report.stored, "import refused");
    };
    import(&keys.root_cert.to_pem().unwrap());
    let mut from = 0;
    while from < n {
        let to = (from + IMPORT_BATCH).min(n);
        import(&pem(&keys, from, to));
        from = to;
    }
    // The agents' key: stored for each of their certificates.
    import(&keys.agent.private_key_to_pem_pkcs8().unwrap());
    eprintln!("store of {n}: built in {}", common::secs(started.elapsed()));
    common::write_atomically(&done, b"complete\n");
    store
}

fn filtered_page(now: i64) -> CertificateQuery {
    CertificateQuery {
        email: Some("support".into()),
        kind: Some(Kind::EndEntity),
        has_key: Some(true),
        per_page: 50,
        ..CertificateQuery::all(now)
    }
}

fn filtered_page_growing(now: i64) -> CertificateQuery {
    CertificateQuery {
        email: Some("@d4".into()),
        kind: Some(Kind::EndEntity),
        has_key: Some(false),
        per_page: 50,
        ..CertificateQuery::all(now)
    }
}

/// What the web table asks of the store per keystroke: the first rows
/// that match, their count up to its bound (the total of all certificates
/// is remembered by the engine per store generation).
fn web_search(rt: &tokio::runtime::Runtime, store: &Store, needle: &str, now: i64) -> usize {
    let page = rt
        .block_on(store.certificates_page(&web_query(needle, now)))
        .unwrap();
    page.items.len()
}

/// The web table's search: its rows, counted up to its bound.
fn web_query(needle: &str, now: i64) -> CertificateQuery {
    CertificateQuery {
        search: Some(needle.into()),
        per_page: WEB_ROWS,
        count_up_to: Some(WEB_COUNT),
        ..CertificateQuery::all(now)
    }
}

const NEEDLES: [&str; 8] = [
    "u", "us", "use", "user", "user4", "user42", "user424", "user4242",
];

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

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// The SQL alone and the cost of a cold page, printed beside criterion's
/// figures.
fn breakdown(rt: &tokio::runtime::Runtime, stores: &[(usize, Store)], now: i64) {
    const REPS: usize = 30;
    eprintln!("\nlists breakdown (median of {REPS} runs each):");
    for (n, store) in stores {
        for (what, q) in [
            ("filtered_page", filtered_page(now)),
            ("filtered_page_growing", filtered_page_growing(now)),
        ] {
            let rows = rt.block_on(store.certificates_page(&q)).unwrap();
            let total = rows.total;
            let sql = median_of(REPS, || {
                black_box(rt.block_on(store.certificates_page(&q)).unwrap());
            });
            eprintln!(
                "  {n:>7} {what:<24} total {total:>6}: SQL (count + page) {}",
                ms(sql)
            );
        }
        for needle in NEEDLES {
            let q = web_query(needle, now);
            let total = rt.block_on(store.certificates_page(&q)).unwrap().total;
            let sql = median_of(REPS, || {
                black_box(rt.block_on(store.certificates_page(&q)).unwrap());
            });
            eprintln!(
                "  {n:>7} web_search {needle:<13} total {total:>6}: SQL (count + page) {}",
                ms(sql)
            );
        }
    }
    eprintln!("  load average: {}\n", common::loadavg());
}

fn bench(c: &mut Criterion) {
    let rt = common::runtime();
    let stores: Vec<(usize, Store)> = SIZES.iter().map(|&n| (n, open_or_build(&rt, n))).collect();
    let now = smime::now();

    // The answers, checked before anything is timed.
    for (n, store) in &stores {
        let all = rt
            .block_on(store.certificates_page(&CertificateQuery {
                per_page: 1,
                ..CertificateQuery::all(now)
            }))
            .unwrap();
        assert_eq!(all.total, n + 1, "{n} certificates and the root");
        let page = rt
            .block_on(store.certificates_page(&filtered_page(now)))
            .unwrap();
        assert_eq!(page.total, 150, "store of {n}: the agents");
        assert_eq!(page.items.len(), 50);
        assert!(page.items.iter().all(|c| c.has_private_key
            && c.issues.is_empty()
            && c.info.email_addresses[0].ends_with("@support.example")));
        let growing = rt
            .block_on(store.certificates_page(&filtered_page_growing(now)))
            .unwrap();
        assert_eq!(growing.items.len(), 50);
        assert!(growing.total >= 50, "store of {n}: {}", growing.total);
        let by_date = rt
            .block_on(store.certificates_page(&CertificateQuery {
                sort: CertificateSort::NotAfter,
                per_page: 50,
                ..CertificateQuery::all(now)
            }))
            .unwrap();
        assert_eq!(by_date.items.len(), 50);
        assert!(web_search(&rt, store, "user4242", now) <= 11);
        assert_eq!(web_search(&rt, store, "u", now), WEB_ROWS);
    }
    breakdown(&rt, &stores, now);

    let mut group = c.benchmark_group("lists");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (n, store) in &stores {
        group.bench_with_input(BenchmarkId::new("filtered_page", n), store, |b, store| {
            let q = filtered_page(now);
            b.iter(|| rt.block_on(store.certificates_page(black_box(&q))).unwrap())
        });
        group.bench_with_input(
            BenchmarkId::new("filtered_page_growing", n),
            store,
            |b, store| {
                let q = filtered_page_growing(now);
                b.iter(|| rt.block_on(store.certificates_page(black_box(&q))).unwrap())
            },
        );
    }
    for needle in NEEDLES {
        for (n, store) in &stores {
            group.bench_with_input(
                BenchmarkId::new(format!("web_search/{needle}"), n),
                store,
                |b, store| b.iter(|| web_search(&rt, store, black_box(needle), now)),
            );
        }
    }
    group.finish();
    eprintln!("load average after the timed runs: {}", common::loadavg());
}

criterion_group!(benches, bench);
criterion_main!(benches);
