//! Certificate lists filtered, sorted, counted and paged in SQL (issue 14),
//! held against the Rust filtering they replace; run against SQLite and,
//! where a server is given in `SMIMED_TEST_POSTGRES_URL`, PostgreSQL too.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};

use openssl::hash::{MessageDigest, hash};
use smime::bundle::parse;
use smime::{Certificate, Kind};
use smimed_store::{CertificateQuery, CertificateSort, MasterKey, Store};
use sqlx::{AssertSqlSafe, Connection, Executor};
use testpki::{BulkCa, ec_p256, files};

const MASTER: [u8; 32] = [42; 32];

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(testpki::Pki::committed().path(name)).expect("fixture")
}

/// URLs of fresh, empty databases (nothing migrated yet): a SQLite file
/// (its directory kept alive in the second field) and, when a server is
/// given, a new PostgreSQL database.
/// A listed row as compared: fingerprint, issue codes, has a key.
type PageRow = (String, Vec<&'static str>, bool);

async fn fresh_urls() -> Vec<(String, Option<tempfile::TempDir>)> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = tempfile::tempdir().unwrap();
    let mut urls = vec![(
        format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("smimed.db").display()
        ),
        Some(dir),
    )];
    match std::env::var("SMIMED_TEST_POSTGRES_URL") {
        Ok(admin_url) => {
            let name = format!(
                "smimed_lists_{}_{}",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            );
            sqlx::any::install_default_drivers();
            let mut admin = sqlx::AnyConnection::connect(&admin_url).await.unwrap();
            admin
                .execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .await
                .unwrap();
            let url = match admin_url.rfind('/') {
                Some(slash) if admin_url[..slash].ends_with(|c: char| c != '/') => {
                    format!("{}/{name}", &admin_url[..slash])
                }
                _ => format!("{admin_url}/{name}"),
            };
            urls.push((url, None));
        }
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("CI must run the store tests on PostgreSQL too: set SMIMED_TEST_POSTGRES_URL")
        }
        Err(_) => eprintln!(
            "note: PostgreSQL list tests skipped: SMIMED_TEST_POSTGRES_URL is not set \
             (e.g. postgres://postgres@127.0.0.1:5432/postgres); .ci/run sets it"
        ),
    }
    urls
}

async fn open(url: &str) -> Store {
    Store::open(url, MasterKey::from_bytes(MASTER))
        .await
        .unwrap()
}

async fn import_file(store: &Store, name: &str) {
    let bundle = parse(&fixture(name), None).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(
        store
            .import(bundle, None, &|_| {}, "test")
            .await
            .unwrap()
            .stored,
        "{name}"
    );
}

async fn import_x509(store: &Store, certs: &[openssl::x509::X509]) {
    let mut pem = Vec::new();
    for c in certs {
        pem.extend(c.to_pem().unwrap());
    }
    let bundle = parse(&pem, None).unwrap();
    assert!(
        store
            .import(bundle, None, &|_| {}, "test")
            .await
            .unwrap()
            .stored
    );
}

/// The store, read the way the lists were made before issue 14: every
/// certificate parsed, its issuer searched among all the others by
/// signature, filtered and sorted in Rust.
struct Reference {
    certs: Vec<RefCert>,
}

struct RefCert {
    cert: Certificate,
    has_key: bool,
    key_problem: bool,
    issuer_known: bool,
    created_at: i64,
}

impl Reference {
    async fn read(url: &str) -> Reference {
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
        let rows: Vec<(Vec<u8>, i64)> = sqlx::query_as("SELECT der, created_at FROM certificates")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        let keys: HashSet<String> = sqlx::query_scalar("SELECT fingerprint FROM private_keys")
            .fetch_all(&mut conn)
            .await
            .unwrap()
            .into_iter()
            .collect();
        let problems: HashSet<String> = sqlx::query_scalar("SELECT fingerprint FROM key_problems")
            .fetch_all(&mut conn)
            .await
            .unwrap()
            .into_iter()
            .collect();
        let parsed: Vec<(Certificate, i64)> = rows
            .iter()
            .map(|(der, at)| (Certificate::from_der(der).unwrap(), *at))
            .collect();
        let mut by_subject: HashMap<Vec<u8>, Vec<&Certificate>> = HashMap::new();
        for (cert, _) in &parsed {
            by_subject
                .entry(cert.subject_name_der().unwrap())
                .or_default()
                .push(cert);
        }
        let certs = parsed
            .iter()
            .map(|(cert, at)| RefCert {
                issuer_known: cert.info().self_signed
                    || by_subject
                        .get(&cert.issuer_name_der().unwrap())
                        .is_some_and(|issuers| issuers.iter().any(|i| cert.is_issued_by(i))),
                has_key: keys.contains(cert.fingerprint()),
                key_problem: problems.contains(cert.fingerprint()),
                cert: cert.clone(),
                created_at: *at,
            })
            .collect();
        Reference { certs }
    }

    fn codes(&self, c: &RefCert, now: i64) -> Vec<&'static str> {
        c.cert
            .info()
            .issues(now, c.issuer_known)
            .iter()
            .map(|i| i.code())
            .chain(c.key_problem.then_some("key_unusable"))
            .collect()
    }

    /// Fingerprints of the page, and the total.
    fn page(&self, q: &CertificateQuery) -> (Vec<PageRow>, usize) {
        let lower = |s: &Option<String>| {
            s.as_ref()
                .map(|s| s.trim().to_lowercase())
                .filter(|s| !s.is_empty())
        };
        let (email, search) = (lower(&q.email), lower(&q.search));
        let in_address = |c: &RefCert, needle: &str| {
            !needle.contains('\n')
                && c.cert
                    .info()
                    .email_addresses
                    .iter()
                    .any(|e| e.to_lowercase().contains(needle))
        };
        let mut hits: Vec<&RefCert> = self
            .certs
            .iter()
            .filter(|c| email.as_deref().is_none_or(|n| in_address(c, n)))
            .filter(|c| {
                search.as_deref().is_none_or(|n| {
                    in_address(c, n)
                        || (!n.contains('\n') && c.cert.info().subject.to_lowercase().contains(n))
                })
            })
            .filter(|c| q.kind.is_none_or(|k| c.cert.info().kind == k))
            .filter(|c| q.has_key.is_none_or(|k| c.has_key == k))
            .filter(|c| {
                q.has_issues
                    .is_none_or(|i| self.codes(c, q.now).is_empty() != i)
            })
            .collect();
        match q.sort {
            CertificateSort::Subject => hits.sort_by(|a, b| {
                (&a.cert.info().subject, a.cert.fingerprint())
                    .cmp(&(&b.cert.info().subject, b.cert.fingerprint()))
            }),
            CertificateSort::NotAfter => hits.sort_by(|a, b| {
                (a.cert.info().not_after, a.cert.fingerprint())
                    .cmp(&(b.cert.info().not_after, b.cert.fingerprint()))
            }),
            CertificateSort::Imported => hits.sort_by(|a, b| {
                (b.created_at, b.cert.fingerprint()).cmp(&(a.created_at, a.cert.fingerprint()))
            }),
            CertificateSort::OwnFirst => {
                let role = |c: &RefCert| match (c.has_key, c.cert.info().kind) {
                    (true, _) => 0,
                    (false, Kind::Ca) => 1,
                    (false, _) => 2,
                };
                hits.sort_by(|a, b| {
                    (role(a), &a.cert.info().subject, a.cert.fingerprint()).cmp(&(
                        role(b),
                        &b.cert.info().subject,
                        b.cert.fingerprint(),
                    ))
                })
            }
            CertificateSort::Address => hits.sort_by(|a, b| {
                (
                    a.cert.info().email_addresses.join("\n"),
                    a.cert.fingerprint(),
                )
                    .cmp(&(
                        b.cert.info().email_addresses.join("\n"),
                        b.cert.fingerprint(),
                    ))
            }),
            _ => unreachable!("a new order needs its reference here"),
        }
        let total = hits.len();
        let page = hits
            .into_iter()
            .skip((q.page.max(1) - 1) * q.per_page.max(1))
            .take(q.per_page.max(1))
            .map(|c| {
                (
                    c.cert.fingerprint().to_string(),
                    self.codes(c, q.now),
                    c.has_key,
                )
            })
            .collect();
        (page, total)
    }
}

/// Fingerprints, issue codes and key flags of a page from the store.
async fn store_page(store: &Store, q: &CertificateQuery) -> (Vec<PageRow>, usize) {
    let list = store.certificates_page(q).await.unwrap();
    let items = list
        .items
        .iter()
        .map(|c| {
            let codes: Vec<&'static str> = c
                .issues
                .iter()
                .map(|i| i.code())
                .chain(c.key_problem.as_ref().map(|_| "key_unusable"))
                .collect();
            (c.info.fingerprint.clone(), codes, c.has_private_key)
        })
        .collect();
    (items, list.total)
}

/// A mixed store: the committed PKI (CAs, contacts with every kind of
/// issue, keys, a key that would not open) and certificates whose
/// addresses hold LIKE's metacharacters, upper case and short pieces.
async fn mixed(store: &Store) {
    for name in [
        files::ALL_VALID,
        files::ORPHAN,
        files::EXPIRED,
        files::NOTYET,
        files::SOON,
        files::WRONG_EKU,
        files::NOEMAIL,
        files::WEAK,
        files::WRONG_KU,
        files::SIGNONLY,
        files::SHA1,
        files::CAROL_KEY,
        files::ALICE_KEY,
        files::SOON_KEY,
        files::EXPIRED_KEY,
    ] {
        import_file(store, name).await;
    }
    let bulk = BulkCa::new("smimed List Test CA").unwrap();
    let key = ec_p256().unwrap();
    let mut certs = vec![bulk.cert.clone()];
    for email in [
        "a%b@meta.example",
        "a_b@meta.example",
        "axb@meta.example",
        "100%@meta.example",
        "back\\slash@meta.example",
        "quote\"d@meta.example",
        "MiXeD.Case@Meta.Example",
        "x@y.example",
    ] {
        certs.push(bulk.issue(&key, email).unwrap());
    }
    import_x509(store, &certs).await;
    // A contact whose issuer is missing, from a CA that is never stored.
    let absent = BulkCa::new("smimed Absent CA").unwrap();
    import_x509(store, &[absent.issue(&key, "lost@meta.example").unwrap()]).await;
    let carol = store
        .certificates_for_email("carol@example.org")
        .await
        .unwrap()[0]
        .certificate
        .fingerprint()
        .to_string();
    store
        .set_key_problem(&carol, "it would not open")
        .await
        .unwrap();
}

#[tokio::test]
async fn lists_filter_sort_and_page_in_sql_as_rust_did() {
    for (url, _dir) in fresh_urls().await {
        let store = open(&url).await;
        mixed(&store).await;
        let reference = Reference::read(&url).await;
        assert!(reference.certs.len() >= 25, "{}", reference.certs.len());
        let now = smime::now();

        let needles = [
            "",
            " ",
            "%",
            "_",
            "a_b",
            "a%b",
            "100%",
            "\\",
            "quote\"d",
            "\"",
            "x",
            "ab",
            "a",
            "@",
            "meta",
            "META.EX",
            "mixed.case",
            "example.org",
            "carol",
            "cn=",
            "smimed test",
            "intermediate",
            "nobody",
            "e\nx",
            " carol ",
        ];
        let mut checked = 0;
        let check = |q: CertificateQuery, store: &Store| {
            let expected = reference.page(&q);
            let store = store.clone();
            async move {
                let got = store_page(&store, &q).await;
                assert_eq!(got, expected, "{q:?}");
                got
            }
        };
        for needle in needles {
            for (email, search) in [(Some(needle), None), (None, Some(needle))] {
                let q = CertificateQuery {
                    email: email.map(str::to_string),
                    search: search.map(str::to_string),
                    ..CertificateQuery::all(now)
                };
                check(q, &store).await;
                checked += 1;
            }
        }
        for kind in [None, Some(Kind::Ca), Some(Kind::EndEntity)] {
            for has_key in [None, Some(true), Some(false)] {
                for has_issues in [None, Some(true), Some(false)] {
                    for sort in CertificateSort::ALL {
                        for (page, per_page) in [(1, 1000), (1, 4), (2, 4), (5, 4), (99, 4)] {
                            for email in [None, Some("example".to_string())] {
                                let q = CertificateQuery {
                                    email,
                                    kind,
                                    has_key,
                                    has_issues,
                                    sort,
                                    page,
                                    per_page,
                                    ..CertificateQuery::all(now)
                                };
                                check(q, &store).await;
                                checked += 1;
                            }
                        }
                    }
                }
            }
        }
        assert!(checked > 500);

        // The cases the reference could get wrong in the same way.
        let emails = |q: CertificateQuery| {
            let store = store.clone();
            async move {
                let mut found: Vec<String> = store
                    .certificates_page(&q)
                    .await
                    .unwrap()
                    .items
                    .iter()
                    .flat_map(|c| c.info.email_addresses.clone())
                    .collect();
                found.sort();
                found
            }
        };
        let by_email = |needle: &str| CertificateQuery {
            email: Some(needle.into()),
            ..CertificateQuery::all(now)
        };
        assert_eq!(
            emails(by_email("_")).await,
            ["a_b@meta.example"],
            "_ is literal"
        );
        assert_eq!(
            emails(by_email("a_b")).await,
            ["a_b@meta.example"],
            "_ is literal"
        );
        assert_eq!(
            emails(by_email("%")).await,
            ["100%@meta.example", "a%b@meta.example"],
            "% is literal"
        );
        assert_eq!(emails(by_email("a%b")).await, ["a%b@meta.example"]);
        assert_eq!(emails(by_email("\\")).await, ["back\\slash@meta.example"]);
        assert_eq!(emails(by_email("\"")).await, ["quote\"d@meta.example"]);
        assert_eq!(
            emails(by_email("Xb")).await,
            ["axb@meta.example"],
            "two characters, any case"
        );
        assert_eq!(emails(by_email("%@")).await, ["100%@meta.example"]);
        assert!(
            emails(by_email("b@m"))
                .await
                .contains(&"a%b@meta.example".to_string())
        );
        let subject = CertificateQuery {
            search: Some("Intermediate".into()),
            ..CertificateQuery::all(now)
        };
        let found = store.certificates_page(&subject).await.unwrap();
        assert!(
            found
                .items
                .iter()
                .any(|c| c.info.subject.contains("Intermediate CA")),
            "the subject is searched"
        );
        assert!(
            store
                .certificates_page(&by_email("Intermediate"))
                .await
                .unwrap()
                .items
                .is_empty(),
            "email= searches addresses only"
        );
        let short = CertificateQuery {
            search: Some("Y".into()),
            ..CertificateQuery::all(now)
        };
        assert!(
            store
                .certificates_page(&short)
                .await
                .unwrap()
                .items
                .iter()
                .any(|c| c.info.email_addresses == ["x@y.example"]),
            "one character"
        );
    }
}

/// `issuer_known` is computed at import, and recomputed in the same
/// transaction when an issuer arrives after what it issued, or leaves.
#[tokio::test]
async fn issuer_known_follows_the_issuer_in_and_out() {
    let missing = |store: &Store, email: &'static str| {
        let store = store.clone();
        async move {
            let stored = store.certificates_for_email(email).await.unwrap();
            let via_list = store
                .certificates_page(&CertificateQuery {
                    email: Some(email.into()),
                    ..CertificateQuery::all(smime::now())
                })
                .await
                .unwrap();
            let candidate = &store.candidates_for_email(email).await.unwrap()[0];
            let missing = stored[0]
                .issues
                .iter()
                .any(|i| i.code() == "issuer_not_in_store");
            assert_eq!(
                via_list.items[0]
                    .issues
                    .iter()
                    .any(|i| i.code() == "issuer_not_in_store"),
                missing
            );
            assert_eq!(candidate.issuer_known, !missing);
            missing
        }
    };
    for (url, _dir) in fresh_urls().await {
        let store = open(&url).await;
        // The committed PKI: the leaf first, its CA later.
        import_file(&store, files::ORPHAN).await;
        assert!(missing(&store, "orphan@example.org").await);
        let generation = store.generation().await.unwrap();
        import_file(&store, files::OTHER_CA).await;
        assert!(
            !missing(&store, "orphan@example.org").await,
            "the CA arrived"
        );
        assert!(store.generation().await.unwrap() > generation);

        // Two CAs of the same name: only the one that signed counts.
        let (real, namesake) = (
            BulkCa::new("smimed Twin CA").unwrap(),
            BulkCa::new("smimed Twin CA").unwrap(),
        );
        let key = ec_p256().unwrap();
        import_x509(
            &store,
            &[
                real.issue(&key, "twin1@example.org").unwrap(),
                real.issue(&key, "twin2@example.org").unwrap(),
            ],
        )
        .await;
        import_x509(&store, std::slice::from_ref(&namesake.cert)).await;
        assert!(
            missing(&store, "twin1@example.org").await,
            "same name, other key"
        );
        import_x509(&store, std::slice::from_ref(&real.cert)).await;
        assert!(!missing(&store, "twin1@example.org").await);
        assert!(!missing(&store, "twin2@example.org").await);
        let fp = |c: &openssl::x509::X509| {
            smime::cert::hex(&hash(MessageDigest::sha256(), &c.to_der().unwrap()).unwrap())
        };
        // The real one leaves while its namesake stays: checked by signature.
        store
            .delete_certificate(&fp(&real.cert), "test")
            .await
            .unwrap();
        assert!(missing(&store, "twin1@example.org").await, "the CA left");
        assert!(missing(&store, "twin2@example.org").await);
        import_x509(&store, std::slice::from_ref(&real.cert)).await;
        assert!(!missing(&store, "twin2@example.org").await);
        // The namesake leaves: nothing changes.
        store
            .delete_certificate(&fp(&namesake.cert), "test")
            .await
            .unwrap();
        assert!(!missing(&store, "twin2@example.org").await);
        // The last of that name leaves.
        store
            .delete_certificate(&fp(&real.cert), "test")
            .await
            .unwrap();
        assert!(missing(&store, "twin2@example.org").await);
        // A CA with its leaves in one file.
        let both = BulkCa::new("smimed Together CA").unwrap();
        import_x509(
            &store,
            &[
                both.issue(&key, "together@example.org").unwrap(),
                both.cert.clone(),
            ],
        )
        .await;
        assert!(!missing(&store, "together@example.org").await);

        // The SQL columns agree with a full recomputation.
        let reference = Reference::read(&url).await;
        let q = CertificateQuery::all(smime::now());
        assert_eq!(store_page(&store, &q).await, reference.page(&q));
        // Deleted rows leave the search index.
        let gone = CertificateQuery {
            email: Some("twin".into()),
            ..CertificateQuery::all(smime::now())
        };
        assert_eq!(store_page(&store, &gone).await, reference.page(&gone));
    }
}

/// Certificates stored before migration 0010 get their list rows when the
/// store opens: in batches, and only once.
#[tokio::test]
async fn rows_stored_before_the_lists_are_filled_in_at_open() {
    for (url, _dir) in fresh_urls().await {
        let backend = if url.starts_with("sqlite:") {
            "sqlite"
        } else {
            "postgres"
        };
        // The schema as it was: migrations 0001 to 0009.
        let old = tempfile::tempdir().unwrap();
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(backend);
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            if name.as_str() < "0010" {
                std::fs::copy(&path, old.path().join(&name)).unwrap();
            }
        }
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        sqlx::migrate::Migrator::new(old.path())
            .await
            .unwrap()
            .run(&pool)
            .await
            .unwrap();

        // Rows written as the import wrote them then: 2,100 contacts of a
        // CA that comes later (enough for a search that finds more rows
        // than the trigram index is used for), and the committed PKI.
        let bulk = BulkCa::new("smimed Old CA").unwrap();
        let key = ec_p256().unwrap();
        let mut certs: Vec<Certificate> = (0..2100)
            .map(|i| {
                let x = bulk.issue(&key, &format!("old{i}@before.example")).unwrap();
                Certificate::from_der(&x.to_der().unwrap()).unwrap()
            })
            .collect();
        certs.push(Certificate::from_der(&bulk.cert.to_der().unwrap()).unwrap());
        for name in [files::ALL_VALID, files::ORPHAN, files::EXPIRED] {
            certs.extend(parse(&fixture(name), None).unwrap().certificates);
        }
        let sha = |d: &[u8]| smime::cert::hex(&hash(MessageDigest::sha256(), d).unwrap());
        let mut tx = pool.begin().await.unwrap();
        for (i, c) in certs.iter().enumerate() {
            let info = c.info();
            sqlx::query(
                "INSERT INTO certificates (fingerprint, der, subject, spki_sha256, \
                 subject_name_sha256, issuer_name_sha256, is_ca, not_before, not_after, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(info.fingerprint.clone())
            .bind(c.der().to_vec())
            .bind(info.subject.clone())
            .bind(sha(&c.spki_der().unwrap()))
            .bind(sha(&c.subject_name_der().unwrap()))
            .bind(sha(&c.issuer_name_der().unwrap()))
            .bind(info.kind == Kind::Ca)
            .bind(info.not_before)
            .bind(info.not_after)
            .bind(1_700_000_000 + i as i64)
            .execute(&mut *tx)
            .await
            .unwrap();
            for email in &info.email_addresses {
                sqlx::query("INSERT INTO certificate_emails (email, fingerprint) VALUES ($1, $2)")
                    .bind(email.clone())
                    .bind(info.fingerprint.clone())
                    .execute(&mut *tx)
                    .await
                    .unwrap();
            }
        }
        tx.commit().await.unwrap();
        pool.close().await;

        let store = open(&url).await;
        let reference = Reference::read(&url).await;
        let now = smime::now();
        for q in [
            CertificateQuery::all(now),
            CertificateQuery {
                email: Some("old10".into()),
                sort: CertificateSort::Imported,
                ..CertificateQuery::all(now)
            },
            CertificateQuery {
                search: Some("alice".into()),
                ..CertificateQuery::all(now)
            },
            CertificateQuery {
                has_issues: Some(true),
                per_page: 7,
                page: 2,
                ..CertificateQuery::all(now)
            },
            // Found by the trigram index, and too many for it.
            CertificateQuery {
                search: Some("old1".into()),
                per_page: 10,
                page: 3,
                ..CertificateQuery::all(now)
            },
            CertificateQuery {
                email: Some("before.EXAMPLE".into()),
                sort: CertificateSort::NotAfter,
                per_page: 10,
                page: 7,
                ..CertificateQuery::all(now)
            },
            CertificateQuery {
                search: Some("old".into()),
                has_issues: Some(false),
                kind: Some(Kind::EndEntity),
                per_page: 50,
                page: 2,
                ..CertificateQuery::all(now)
            },
        ] {
            let got = store_page(&store, &q).await;
            assert_eq!(got, reference.page(&q), "{q:?}");
            assert!(got.1 > 0, "{q:?}");
        }
        assert_eq!(store.status(30).await.unwrap().certificates, certs.len());
        assert!(
            !store
                .candidates_for_email("old7@before.example")
                .await
                .unwrap()[0]
                .certificate
                .info()
                .self_signed
        );
        assert!(
            store
                .candidates_for_email("old7@before.example")
                .await
                .unwrap()[0]
                .issuer_known,
            "filled in against the whole store"
        );

        // Opening again leaves the rows alone.
        let generation = store.generation().await.unwrap();
        let again = open(&url).await;
        assert_eq!(again.generation().await.unwrap(), generation);
        assert_eq!(
            store_page(&again, &CertificateQuery::all(now))
                .await
                .0
                .len(),
            certs.len()
        );
    }
}

/// The counts of `smimed status` come from the same columns.
#[tokio::test]
async fn status_counts_agree_with_the_list() {
    for (url, _dir) in fresh_urls().await {
        let store = open(&url).await;
        mixed(&store).await;
        let now = smime::now();
        let all = store_page(&store, &CertificateQuery::all(now)).await.0;
        let status = store.status(30).await.unwrap();
        assert_eq!(status.certificates, all.len());
        assert_eq!(
            status.certificates_with_issues,
            all.iter().filter(|(_, codes, _)| !codes.is_empty()).count()
        );
        assert_eq!(
            status.private_keys,
            all.iter().filter(|(_, _, key)| *key).count()
        );
        let cas: HashMap<String, bool> = store
            .certificates_page(&CertificateQuery {
                kind: Some(Kind::Ca),
                ..CertificateQuery::all(now)
            })
            .await
            .unwrap()
            .items
            .iter()
            .map(|c| (c.info.fingerprint.clone(), true))
            .collect();
        assert_eq!(status.ca_certificates, cas.len());
        assert!(status.ca_certificates >= 3);
    }
}

/// A count bounded by `count_up_to` stops one past the bound (meaning
/// "more than"), and never changes the page; under the bound it is exact.
#[tokio::test]
async fn a_bounded_count_says_more_than_and_keeps_the_page() {
    for (url, _dir) in fresh_urls().await {
        let store = open(&url).await;
        mixed(&store).await;
        let now = smime::now();
        let exact = store
            .certificates_page(&CertificateQuery {
                per_page: 2,
                ..CertificateQuery::all(now)
            })
            .await
            .unwrap();
        assert!(exact.total > 4, "{}", exact.total);
        for (bound, counted) in [(3, 4), (exact.total, exact.total), (1_000, exact.total)] {
            let page = store
                .certificates_page(&CertificateQuery {
                    per_page: 2,
                    count_up_to: Some(bound),
                    ..CertificateQuery::all(now)
                })
                .await
                .unwrap();
            assert_eq!(page.total, counted, "bound {bound}");
            assert_eq!(page.items, exact.items, "bound {bound}");
        }
    }
}
