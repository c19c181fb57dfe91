//! The store's behaviour, run against SQLite and, where a server is given in
//! `SMIMED_TEST_POSTGRES_URL`, against PostgreSQL too (`.ci/run` gives one).

use std::sync::atomic::{AtomicUsize, Ordering};

use smime::bundle::parse;
use smimed_store::{Backend, Error, MasterKey, Outcome, Store};
use sqlx::{AssertSqlSafe, Connection, Executor};
use testpki::{ALICE_KEY_PASSPHRASE, P12_PASSWORD, files};

const MASTER: [u8; 32] = [42; 32];

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(testpki::Pki::committed().path(name)).expect("fixture")
}

/// A fresh, empty store on one backend.
struct TestDb {
    store: Store,
    url: String,
    sqlite_dir: Option<tempfile::TempDir>,
}

async fn fresh_databases() -> Vec<TestDb> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let mut dbs = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("smimed.db").display()
    );
    dbs.push(TestDb {
        store: Store::open(&url, MasterKey::from_bytes(MASTER))
            .await
            .unwrap(),
        url,
        sqlite_dir: Some(dir),
    });
    match std::env::var("SMIMED_TEST_POSTGRES_URL") {
        Ok(admin_url) => {
            let name = format!(
                "smimed_test_{}_{}",
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
            dbs.push(TestDb {
                store: Store::open(&url, MasterKey::from_bytes(MASTER))
                    .await
                    .unwrap(),
                url,
                sqlite_dir: None,
            });
        }
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("CI must run the store tests on PostgreSQL too: set SMIMED_TEST_POSTGRES_URL")
        }
        Err(_) => eprintln!(
            "note: PostgreSQL store tests skipped: SMIMED_TEST_POSTGRES_URL is not set \
             (e.g. postgres://postgres@127.0.0.1:5432/postgres); .ci/run sets it"
        ),
    }
    dbs
}

/// Lowercase hex, as PostgreSQL prints BYTEA.
fn hex(bytes: &[u8]) -> Vec<u8> {
    bytes
        .iter()
        .flat_map(|b| format!("{b:02x}").into_bytes())
        .collect()
}

async fn import(store: &Store, name: &str, pass: Option<&str>) -> smimed_store::ImportReport {
    let bundle = parse(&fixture(name), pass).unwrap_or_else(|e| panic!("{name}: {e}"));
    store.import(bundle, pass, &|_| {}, "test").await.unwrap()
}

#[tokio::test]
async fn a_file_is_stored_whole_or_not_at_all() {
    for db in fresh_databases().await {
        let store = &db.store;
        // alice is fine, and a key without its certificate in the same
        // file: nothing of the two is stored.
        let mut bundle = parse(&fixture(files::ALICE), None).unwrap();
        bundle
            .keys
            .extend(parse(&fixture(files::STRAY_KEY), None).unwrap().keys);
        let report = store.import(bundle, None, &|_| {}, "test").await.unwrap();
        assert!(!report.stored);
        assert_eq!(report.certificates[0].outcome, Outcome::NotImported);
        assert_eq!(report.private_keys[0].outcome, Outcome::Rejected);
        assert!(store.list_certificates().await.unwrap().is_empty());

        // A key without its certificate rejects the whole file.
        let report = import(store, files::STRAY_KEY, None).await;
        assert!(!report.stored);
        assert_eq!(report.private_keys[0].outcome, Outcome::Rejected);
        assert!(
            report.private_keys[0]
                .reason
                .as_deref()
                .unwrap()
                .contains("import the certificate first")
        );
        assert_eq!(store.status(30).await.unwrap().certificates, 0);
    }
}

#[tokio::test]
async fn reimport_is_reported_as_already_present() {
    for db in fresh_databases().await {
        let store = &db.store;
        let first = import(store, files::ALL_VALID, None).await;
        assert!(first.stored);
        assert!(
            first
                .certificates
                .iter()
                .all(|c| c.outcome == Outcome::Imported)
        );
        let second = import(store, files::CHAIN_P7B, None).await;
        assert!(second.stored);
        assert!(
            second
                .certificates
                .iter()
                .all(|c| c.outcome == Outcome::AlreadyPresent)
        );
        let status = store.status(30).await.unwrap();
        assert_eq!((status.certificates, status.ca_certificates), (6, 2));
    }
}

#[tokio::test]
async fn keys_match_certificates_and_come_back_as_uploaded() {
    for db in fresh_databases().await {
        let store = &db.store;
        import(store, files::CHAIN, None).await;
        // The key alone is refused until its certificate is there.
        assert!(
            !import(store, files::ALICE_KEY_ENC, Some(ALICE_KEY_PASSPHRASE))
                .await
                .stored
        );
        import(store, files::ALICE, None).await;
        let report = import(store, files::ALICE_KEY_ENC, Some(ALICE_KEY_PASSPHRASE)).await;
        assert!(report.stored);
        assert_eq!(report.private_keys[0].outcome, Outcome::Imported);
        assert!(report.private_keys[0].protected);
        let fp = report.private_keys[0].certificates[0].clone();

        let alice = store.find_certificate(&fp[..10]).await.unwrap();
        assert!(alice.has_private_key);
        assert!(alice.issues.is_empty(), "{:?}", alice.issues);
        let key = store.unseal_key(&fp).await.unwrap();
        assert_eq!(
            key.original.as_slice(),
            fixture(files::ALICE_KEY_ENC).as_slice()
        );
        assert_eq!(
            key.passphrase.as_deref().map(|p| p.as_str()),
            Some(ALICE_KEY_PASSPHRASE)
        );
        assert!(
            store
                .load_key(&fp)
                .await
                .unwrap()
                .matches(&alice.certificate)
        );

        // Same key again, unprotected: already present, the first upload stays.
        let again = import(store, files::ALICE_KEY, None).await;
        assert_eq!(again.private_keys[0].outcome, Outcome::AlreadyPresent);

        // Deleting the key keeps the certificate; deleting the certificate
        // takes its key along.
        store.delete_key(&fp, "test").await.unwrap();
        assert!(!store.find_certificate(&fp).await.unwrap().has_private_key);
        assert!(matches!(
            store.delete_key(&fp, "test").await,
            Err(Error::NoPrivateKey(_))
        ));
        import(store, files::ALICE_KEY, None).await;
        assert!(
            store.delete_certificate(&fp, "test").await.unwrap(),
            "key went too"
        );
        assert!(matches!(
            store.unseal_key(&fp).await,
            Err(Error::NoPrivateKey(_))
        ));
        assert!(matches!(
            store.find_certificate(&fp).await,
            Err(Error::NotFound(_))
        ));
    }
}

#[tokio::test]
async fn pkcs12_imports_certificate_chain_and_key() {
    for db in fresh_databases().await {
        let store = &db.store;
        let report = import(store, files::ALICE_LEGACY_P12, Some(P12_PASSWORD)).await;
        assert!(report.stored);
        assert_eq!(report.certificates.len(), 3);
        let certs = store.list_certificates().await.unwrap();
        let with_key: Vec<_> = certs.iter().filter(|c| c.has_private_key).collect();
        assert_eq!(with_key.len(), 1);
        assert!(certs.iter().all(|c| c.issues.is_empty()), "chain complete");
        let key = store
            .unseal_key(with_key[0].certificate.fingerprint())
            .await
            .unwrap();
        assert!(
            key.original
                .starts_with(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        );
        assert_eq!(
            key.passphrase.as_deref().map(|p| p.as_str()),
            Some(P12_PASSWORD)
        );
    }
}

#[tokio::test]
async fn issues_include_a_missing_issuer_and_expiry() {
    for db in fresh_databases().await {
        let store = &db.store;
        import(store, files::ORPHAN, None).await;
        import(store, files::EXPIRED, None).await;
        import(store, files::CHAIN, None).await;
        let certs = store.list_certificates().await.unwrap();
        let codes = |email: &str| -> Vec<&'static str> {
            certs
                .iter()
                .find(|c| {
                    c.certificate
                        .info()
                        .email_addresses
                        .iter()
                        .any(|e| e == email)
                })
                .unwrap()
                .issues
                .iter()
                .map(|i| i.code())
                .collect()
        };
        assert_eq!(codes("orphan@example.org"), ["issuer_not_in_store"]);
        assert_eq!(codes("expired@example.org"), ["expired"]);
        assert_eq!(store.status(30).await.unwrap().certificates_with_issues, 2);
    }
}

#[tokio::test]
async fn lookup_by_email_ignores_case() {
    for db in fresh_databases().await {
        let store = &db.store;
        import(store, files::ALL_VALID, None).await;
        let carol = store
            .certificates_for_email("Carol.SECOND@example.org")
            .await
            .unwrap();
        assert_eq!(carol.len(), 1);
        let dave = store
            .certificates_for_email("dave@EXAMPLE.org")
            .await
            .unwrap();
        assert_eq!(dave.len(), 1);
        assert!(dave[0].issues.is_empty());
        assert!(
            store
                .certificates_for_email("nobody@example.org")
                .await
                .unwrap()
                .is_empty()
        );
        let light = store
            .candidates_for_email("CAROL@example.org")
            .await
            .unwrap();
        assert_eq!(light.len(), 1);
        assert_eq!(
            light[0].certificate.fingerprint(),
            carol[0].certificate.fingerprint()
        );
        assert!(!light[0].has_private_key, "no key yet");
        import(store, files::CAROL_KEY, None).await;
        assert!(
            store
                .candidates_for_email("carol@example.org")
                .await
                .unwrap()[0]
                .has_private_key
        );
        let with_keys = store.certificates_with_keys().await.unwrap();
        assert_eq!(with_keys.len(), 1);
        assert_eq!(
            with_keys[0].fingerprint(),
            carol[0].certificate.fingerprint()
        );
    }
}

#[tokio::test]
async fn ids_are_fingerprints_or_unique_prefixes() {
    for db in fresh_databases().await {
        let store = &db.store;
        let report = import(store, files::ALICE, None).await;
        let fp = report.certificates[0].fingerprint.clone();
        assert_eq!(store.resolve_id(&fp[..8].to_uppercase()).await.unwrap(), fp);
        assert!(matches!(
            store.resolve_id(&fp[..7]).await,
            Err(Error::InvalidId(_))
        ));
        assert!(matches!(
            store.resolve_id("zzzzzzzzzz").await,
            Err(Error::InvalidId(_))
        ));
        assert!(matches!(
            store.resolve_id("00000000").await,
            Err(Error::NotFound(_))
        ));
        // A second row sharing the first 8 characters makes the prefix ambiguous.
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&db.url).await.unwrap();
        let twin = format!("{}{}", &fp[..8], "0".repeat(56));
        sqlx::query(
            "INSERT INTO certificates (fingerprint, der, subject, spki_sha256, subject_name_sha256, \
             issuer_name_sha256, is_ca, not_before, not_after, created_at) \
             SELECT $1, der, subject, spki_sha256, subject_name_sha256, issuer_name_sha256, is_ca, \
             not_before, not_after, created_at FROM certificates WHERE fingerprint = $2",
        )
        .bind(twin)
        .bind(fp.clone())
        .execute(&mut conn)
        .await
        .unwrap();
        let err = store.resolve_id(&fp[..8]).await.unwrap_err();
        assert!(matches!(err, Error::AmbiguousId { count: 2, .. }), "{err}");
        assert_eq!(store.resolve_id(&fp[..9]).await.unwrap(), fp);
    }
}

#[tokio::test]
async fn switch_is_off_by_default_and_persists() {
    for db in fresh_databases().await {
        assert!(!db.store.enabled().await.unwrap());
        db.store.set_enabled(true, "test").await.unwrap();
        let reopened = Store::open(&db.url, MasterKey::from_bytes(MASTER))
            .await
            .unwrap();
        assert!(reopened.enabled().await.unwrap());
        reopened.set_enabled(false, "test").await.unwrap();
        assert!(!db.store.enabled().await.unwrap());
    }
}

#[tokio::test]
async fn secrets_are_sealed_at_rest() {
    for db in fresh_databases().await {
        let store = &db.store;
        import(store, files::ALL_VALID, None).await;
        import(store, files::ALICE_KEY_ENC, Some(ALICE_KEY_PASSPHRASE)).await;
        import(store, files::BOB_KEY, None).await;
        import(store, files::CAROL_KEY, None).await;

        // What must not appear anywhere in the database: the key files'
        // base64 bodies, their DER, and the passphrase.
        let mut needles: Vec<Vec<u8>> = vec![ALICE_KEY_PASSPHRASE.as_bytes().to_vec()];
        for name in [files::ALICE_KEY_ENC, files::BOB_KEY, files::CAROL_KEY] {
            let pem = String::from_utf8(fixture(name)).unwrap();
            let line = pem.lines().nth(1).unwrap().as_bytes().to_vec();
            needles.push(line);
            let key = smime::PrivateKey::load(pem.as_bytes(), Some(ALICE_KEY_PASSPHRASE)).unwrap();
            // The secret number itself (the DER also holds the public half,
            // which the certificate legitimately carries).
            let secret = match key.pkey().rsa() {
                Ok(rsa) => rsa.d().to_vec(),
                Err(_) => key.pkey().ec_key().unwrap().private_key().to_vec(),
            };
            needles.push(secret[..24].to_vec());
        }

        let haystack: Vec<u8> = match store.backend() {
            Backend::Sqlite => {
                let dir = db.sqlite_dir.as_ref().unwrap().path();
                let mut all = Vec::new();
                for entry in std::fs::read_dir(dir).unwrap() {
                    all.extend(std::fs::read(entry.unwrap().path()).unwrap());
                }
                assert!(all.len() > 10_000, "the database files were read");
                all
            }
            _ => {
                // What a dump holds: every row of every table, as text.
                let mut conn = sqlx::AnyConnection::connect(&db.url).await.unwrap();
                let tables: Vec<String> = sqlx::query_scalar(
                    "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
                     WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
                )
                .fetch_all(&mut conn)
                .await
                .unwrap();
                assert!(tables.len() >= 8, "{tables:?}");
                let mut all = Vec::new();
                for table in &tables {
                    let rows: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
                        "SELECT CAST(t AS TEXT) FROM {table} t"
                    )))
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
                    for row in rows {
                        all.extend(row.into_bytes());
                        all.push(b'\n');
                    }
                }
                // The dump is real: the sealed keys are in it (BYTEA as hex).
                let sealed: Vec<Vec<u8>> =
                    sqlx::query_scalar("SELECT sealed_key FROM private_keys")
                        .fetch_all(&mut conn)
                        .await
                        .unwrap();
                assert_eq!(sealed.len(), 3);
                for key in &sealed {
                    let hex = hex(key);
                    assert!(all.windows(hex.len()).any(|w| w == hex.as_slice()));
                }
                all
            }
        };
        // BYTEA columns come out of a PostgreSQL dump as hex: look for the
        // secrets in hex too.
        let hex_needles: Vec<Vec<u8>> = needles.iter().map(|n| hex(n)).collect();
        needles.extend(hex_needles);
        for (i, needle) in needles.iter().enumerate() {
            assert!(
                !haystack
                    .windows(needle.len())
                    .any(|w| w == needle.as_slice()),
                "secret {i} found in clear"
            );
        }
        // And the keys still open: the seal holds what went in.
        assert_eq!(store.status(30).await.unwrap().private_keys, 3);
    }
}

#[tokio::test]
async fn a_wrong_master_key_cannot_open_keys() {
    for db in fresh_databases().await {
        import(&db.store, files::ALICE_BUNDLE, None).await;
        let fp = db.store.list_certificates().await.unwrap()[0]
            .certificate
            .fingerprint()
            .to_string();
        let other = Store::open(&db.url, MasterKey::from_bytes([1; 32]))
            .await
            .unwrap();
        assert!(matches!(other.unseal_key(&fp).await, Err(Error::Unseal)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_lose_nothing() {
    for db in fresh_databases().await {
        // Two stores on one database stand for two processes.
        let other = Store::open(&db.url, MasterKey::from_bytes(MASTER))
            .await
            .unwrap();
        let names = [
            files::ALICE,
            files::BOB,
            files::CAROL,
            files::DAVE_DN,
            files::EXPIRED,
            files::SIGNONLY,
            files::ORPHAN,
            files::CHAIN,
        ];
        let run = |store: &'static Store, reverse: bool| async move {
            let mut order: Vec<&str> = names.to_vec();
            if reverse {
                order.reverse();
            }
            for name in order {
                let report = import(store, name, None).await;
                assert!(report.stored, "{name}");
            }
        };
        let a: &'static Store = Box::leak(Box::new(db.store));
        let b: &'static Store = Box::leak(Box::new(other));
        let (ra, rb) = tokio::join!(tokio::spawn(run(a, false)), tokio::spawn(run(b, true)));
        ra.unwrap();
        rb.unwrap();
        assert_eq!(a.list_certificates().await.unwrap().len(), 9);
        assert_eq!(
            b.certificates_for_email("carol@example.org")
                .await
                .unwrap()
                .len(),
            1
        );
    }
}

#[tokio::test]
async fn tokens_logs_and_kept_messages() {
    use smimed_store::{Operation, Role};
    for db in fresh_databases().await {
        let store = &db.store;
        let secret = store
            .create_token("ops", Role::Admin, "test")
            .await
            .unwrap();
        assert!(secret.starts_with("smimed_") && secret.len() > 60);
        assert!(matches!(
            store.create_token("ops", Role::Agent, "test").await,
            Err(Error::TokenExists(_))
        ));
        let who = store.authenticate(&secret).await.unwrap().unwrap();
        assert_eq!((who.name.as_str(), who.role), ("ops", Role::Admin));
        assert!(store.authenticate("smimed_wrong").await.unwrap().is_none());
        assert_eq!(store.tokens().await.unwrap().len(), 1);
        store.revoke_token("ops", "test").await.unwrap();
        assert!(store.authenticate(&secret).await.unwrap().is_none());
        assert!(matches!(
            store.revoke_token("ops", "test").await,
            Err(Error::NoToken(_))
        ));

        for i in 0..3 {
            store
                .log_operation(&Operation {
                    direction: "outgoing".into(),
                    operation: "sign".into(),
                    status: "success".into(),
                    message_id: format!("<{i}@x>"),
                    token_name: "ops".into(),
                    ..Default::default()
                })
                .await
                .unwrap();
        }
        let ops = store.operations(2, 0).await.unwrap();
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[0].message_id, "<2@x>", "newest first");
        store
            .audit("ops", "settings.update", "enabled", "true")
            .await
            .unwrap();
        assert_eq!(
            store.audit_entries(10, 0).await.unwrap()[0].action,
            "settings.update"
        );

        let id = store.save_incoming(b"raw message", "{}").await.unwrap();
        store
            .update_incoming_report(&id, "{\"x\":1}", "test")
            .await
            .unwrap();
        let kept = store.incoming_message(&id).await.unwrap();
        assert_eq!(
            (kept.raw.as_slice(), kept.report.as_str()),
            (&b"raw message"[..], "{\"x\":1}")
        );
        let actions: Vec<String> = store
            .audit_entries(10, 0)
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.action)
            .collect();
        assert_eq!(
            actions,
            [
                "incoming.retry",
                "settings.update",
                "token.revoke",
                "token.create"
            ],
            "each change audited, newest first"
        );
        assert_eq!(store.expire(30).await.unwrap(), 0, "nothing is old yet");
        assert_eq!(
            store.expire(-1).await.unwrap(),
            8,
            "3 operations, 4 audit entries, 1 message"
        );
        assert!(matches!(
            store.incoming_message(&id).await,
            Err(Error::NoMessage(_))
        ));
        store.ping().await.unwrap();
    }
}

/// The engine's lookups are remembered under `Store::generation`: every
/// change to what it reads must move the number on, on every handle to the
/// database (another instance included), and reads must not.
#[tokio::test]
async fn every_change_the_engine_reads_moves_the_generation_on() {
    for db in fresh_databases().await {
        let store = &db.store;
        let other = Store::open(&db.url, MasterKey::from_bytes(MASTER))
            .await
            .unwrap();
        let last = std::cell::Cell::new(store.generation().await.unwrap());
        let moved = |what: &str, now: i64| {
            assert!(
                now > last.get(),
                "{what}: generation {now} after {}",
                last.get()
            );
            last.set(now);
        };
        import(store, files::ALICE, None).await;
        moved("certificate import", other.generation().await.unwrap());
        import(store, files::ALICE_KEY_ENC, Some(ALICE_KEY_PASSPHRASE)).await;
        moved("key import", store.generation().await.unwrap());
        store.set_enabled(true, "test").await.unwrap();
        moved("setting", other.generation().await.unwrap());
        let group = smimed_store::Group {
            name: "support".into(),
            email: "support@example.org".into(),
            default_sign: None,
            default_encrypt: Some(false),
        };
        store.set_group(&group, "test", "").await.unwrap();
        moved("group", store.generation().await.unwrap());

        // Reads leave it alone.
        store.list_certificates().await.unwrap();
        store
            .candidates_for_email("alice@example.org")
            .await
            .unwrap();
        store.group("support").await.unwrap();
        store.settings().await.unwrap();
        assert_eq!(store.generation().await.unwrap(), last.get(), "reads");

        let fp = store.certificates_with_keys().await.unwrap()[0]
            .fingerprint()
            .to_string();
        other.delete_key(&fp, "test").await.unwrap();
        moved(
            "key deletion on another handle",
            store.generation().await.unwrap(),
        );
        other.delete_group("support", "test").await.unwrap();
        moved("group deletion", store.generation().await.unwrap());
        other.delete_certificate(&fp, "test").await.unwrap();
        moved("certificate deletion", store.generation().await.unwrap());
    }
}

/// The master key is never remade under sealed keys, a wrong one is
/// refused at once, and rotation re-seals everything under a new one, safe
/// at every point of a crash.
#[tokio::test]
async fn the_master_key_is_never_lost_and_rotates_whole() {
    use smimed_store::Location;
    let dir = tempfile::tempdir().unwrap();
    let location = Location {
        data_dir: dir.path().join("data"),
        ..Location::default()
    };
    let key_path = location.data_dir.join("master.key");
    let store = Store::open_location(&location).await.unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let db = location.data_dir.join("smimed.db");
        let mode = std::fs::metadata(&db).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the SQLite file is private");
    }
    assert!(
        import(&store, files::ALICE_P12, Some(testpki::P12_PASSWORD))
            .await
            .stored
    );
    let fp = store.list_certificates().await.unwrap()[0]
        .certificate
        .fingerprint()
        .to_string();
    drop(store);

    // Missing while sealed keys exist: refused, nothing made.
    let saved = std::fs::read(&key_path).unwrap();
    std::fs::remove_file(&key_path).unwrap();
    match Store::open_location(&location).await {
        Err(e @ Error::MasterKeyMissing { keys: 1, .. }) => {
            assert!(e.to_string().contains("will not make a new key"), "{e}")
        }
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("opened without its master key"),
    }
    assert!(!key_path.exists(), "no new key was made");
    // Another key: refused.
    std::fs::write(&key_path, [5u8; 32]).unwrap();
    assert!(matches!(
        Store::open_location(&location).await,
        Err(Error::WrongMasterKey { .. })
    ));
    std::fs::write(&key_path, &saved).unwrap();

    // Rotation: every key re-sealed, the old key kept beside, audited.
    let store = Store::open_location(&location).await.unwrap();
    assert_eq!(store.rotate_master_key(&key_path, "test").await.unwrap(), 1);
    assert_ne!(std::fs::read(&key_path).unwrap(), saved);
    assert_eq!(
        std::fs::read(key_path.with_file_name("master.key.old")).unwrap(),
        saved
    );
    let audit = store.audit_entries(1, 0).await.unwrap();
    assert_eq!(audit[0].action, "master_key.rotate");
    drop(store);
    let store = Store::open_location(&location).await.unwrap();
    store.load_key(&fp).await.expect("opens under the new key");
    drop(store);

    // A crash after the re-sealing committed but before the new key was put
    // in place: the next start finds the store sealed under `.new`.
    let current = std::fs::read(&key_path).unwrap();
    let store = Store::open_location(&location).await.unwrap();
    store.rotate_master_key(&key_path, "test").await.unwrap();
    drop(store);
    let newest = std::fs::read(&key_path).unwrap();
    std::fs::write(&key_path, &current).unwrap();
    std::fs::write(key_path.with_file_name("master.key.new"), &newest).unwrap();
    let store = Store::open_location(&location).await.unwrap();
    store
        .load_key(&fp)
        .await
        .expect("the interrupted rotation is finished");
    assert_eq!(std::fs::read(&key_path).unwrap(), newest);
    drop(store);
    // A crash before the re-sealing committed: `.new` opens nothing and goes.
    std::fs::write(key_path.with_file_name("master.key.new"), [6u8; 32]).unwrap();
    let store = Store::open_location(&location).await.unwrap();
    store.load_key(&fp).await.expect("the old key stands");
    assert!(!key_path.with_file_name("master.key.new").exists());
}

/// Readers that ask at the same time share one generation read, but never
/// one that started before they asked: whoever reads after a change has
/// committed sees the change, however many reads are in flight meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_generation_read_never_predates_the_caller() {
    for db in fresh_databases().await {
        let store = db.store.clone();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let readers: Vec<_> = (0..8)
            .map(|_| {
                let (store, stop) = (store.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut reads = 0u64;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        store.generation().await.unwrap();
                        reads += 1;
                    }
                    reads
                })
            })
            .collect();
        let mut last = store.generation().await.unwrap();
        for i in 0..200 {
            store.set_enabled(i % 2 == 0, "test").await.unwrap();
            let now = store.generation().await.unwrap();
            assert!(
                now > last,
                "{:?}: change {i}: read {now} after {last}",
                store.backend()
            );
            last = now;
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for reader in readers {
            assert!(reader.await.unwrap() > 0);
        }
    }
}

#[tokio::test]
async fn pending_certificates_are_bounded_per_sender_and_in_total() {
    use smimed_store::{MAX_PENDING, MAX_PENDING_MESSAGES, MAX_PENDING_PER_SENDER};
    let ca = testpki::BulkCa::new("Spam CA").unwrap();
    let key = testpki::ec_p256().unwrap();
    let cert = |email: &str| {
        let x = ca.issue(&key, email).unwrap();
        smime::Certificate::from_der(&x.to_der().unwrap()).unwrap()
    };
    // One flood, shared by both backends: a certificate per message.
    let flood: Vec<smime::Certificate> = (0..=MAX_PENDING)
        .map(|i| cert(&format!("spam{i}@example.net")))
        .collect();
    let one_sender: Vec<smime::Certificate> = (0..MAX_PENDING_PER_SENDER + 2)
        .map(|_| cert("eve@example.net"))
        .collect();
    for db in fresh_databases().await {
        let store = &db.store;
        let kept = store.save_incoming(b"From: x\r\n\r\n", "{}").await.unwrap();

        // One sender, six new certificates: the four seen last wait.
        for c in &one_sender {
            assert!(
                store
                    .add_pending(c, "Eve@Example.net", &kept)
                    .await
                    .unwrap()
            );
        }
        let (items, total) = store.pending_certificates(100, 0).await.unwrap();
        assert_eq!(total, MAX_PENDING_PER_SENDER);
        let newest: Vec<&str> = one_sender
            .iter()
            .rev()
            .take(MAX_PENDING_PER_SENDER as usize)
            .map(|c| c.fingerprint())
            .collect();
        let listed: Vec<&str> = items.iter().map(|p| p.fingerprint.as_str()).collect();
        assert_eq!(listed, newest);
        assert!(items.iter().all(|p| p.sender == "eve@example.net"));

        // Messages per certificate: the last MAX_PENDING_MESSAGES.
        let last = one_sender.last().unwrap();
        for _ in 0..MAX_PENDING_MESSAGES + 3 {
            let id = store.save_incoming(b"From: x\r\n\r\n", "{}").await.unwrap();
            store
                .add_pending(last, "eve@example.net", &id)
                .await
                .unwrap();
        }
        let p = store.pending_certificate(last.fingerprint()).await.unwrap();
        assert_eq!(p.messages_kept, MAX_PENDING_MESSAGES);
        assert_eq!(p.messages_seen, MAX_PENDING_MESSAGES + 4);

        // A flood from many senders: at most MAX_PENDING in all, the least
        // recently seen gone first (Eve's, then the flood's first).
        for c in &flood {
            store
                .add_pending(c, c.info().email_addresses[0].as_str(), &kept)
                .await
                .unwrap();
        }
        let (items, total) = store.pending_certificates(1, 0).await.unwrap();
        assert_eq!(total, MAX_PENDING);
        assert_eq!(items[0].fingerprint, flood.last().unwrap().fingerprint());
        assert!(matches!(
            store.pending_certificate(last.fingerprint()).await,
            Err(Error::NoPending(_))
        ));
        assert!(matches!(
            store.pending_certificate(flood[0].fingerprint()).await,
            Err(Error::NoPending(_))
        ));
        store
            .pending_certificate(flood[1].fingerprint())
            .await
            .unwrap();

        // Accepting stores it, audited, and ends the wait; rejecting keeps
        // it out of the list and out of waiting again.
        let accepted = store
            .accept_pending(flood[1].fingerprint(), "admin")
            .await
            .unwrap();
        assert_eq!(accepted.messages, std::slice::from_ref(&kept));
        assert_eq!(store.list_certificates().await.unwrap().len(), 1);
        assert!(
            !store
                .add_pending(&flood[1], "spam1@example.net", &kept)
                .await
                .unwrap()
        );
        store
            .reject_pending(flood[2].fingerprint(), "admin")
            .await
            .unwrap();
        assert!(store.rejected(flood[2].fingerprint()).await.unwrap());
        assert!(
            !store
                .add_pending(&flood[2], "spam2@example.net", &kept)
                .await
                .unwrap()
        );
        let (_, total) = store.pending_certificates(1, 0).await.unwrap();
        assert_eq!(total, MAX_PENDING - 2);
        let actions: Vec<String> = store
            .audit_entries(10, 0)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(actions, ["certificate.reject", "certificate.accept"]);

        // A kept message pruned away leaves no link behind.
        store.prune_incoming(0).await.unwrap();
        let p = store
            .pending_certificate(flood[3].fingerprint())
            .await
            .unwrap();
        assert_eq!(p.messages_kept, 0);
    }
}

#[tokio::test]
async fn a_crl_replaces_the_older_of_its_ca_and_goes_with_it() {
    use smimed_store::{NewCrl, Revoked};
    for db in fresh_databases().await {
        let store = &db.store;
        import(store, files::CHAIN, None).await;
        import(store, files::ALICE, None).await;
        let certs = store.list_certificates().await.unwrap();
        let fp_of = |needle: &str| {
            certs
                .iter()
                .find(|c| c.certificate.info().subject.contains(needle))
                .unwrap_or_else(|| panic!("{needle}"))
                .certificate
                .fingerprint()
                .to_string()
        };
        let (intermediate, alice) = (fp_of("Intermediate"), fp_of("Alice"));
        // What a fetch would read: the recent certificates of stored CAs'
        // issues, the intermediate and Alice, never the self-issued root.
        let recent = store.recent_per_stored_issuer(4).await.unwrap();
        let mut names: Vec<String> = recent.iter().map(|c| c.info().subject.clone()).collect();
        names.sort();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names.iter().any(|n| n.contains("Alice")), "{names:?}");

        let crl = |this_update: i64, revoked: Vec<Revoked>| NewCrl {
            ca_fingerprint: intermediate.clone(),
            issuer: "CN=Intermediate".into(),
            der: vec![0x30, 0x00],
            this_update,
            next_update: Some(this_update + 86_400),
            number: None,
            entries: revoked.len() as i64,
            source: "import".into(),
            revoked,
        };
        store.put_crl(&crl(1, Vec::new()), "admin").await.unwrap();
        let revoked = Revoked {
            fingerprint: alice.clone(),
            at: 2,
            reason: "revoked on 1970-01-01".into(),
        };
        store
            .put_crl(&crl(2, vec![revoked]), "admin")
            .await
            .unwrap();
        let crls = store.crls().await.unwrap();
        assert_eq!(crls.len(), 1, "one per CA");
        assert_eq!((crls[0].this_update, crls[0].revoked_stored), (2, 1));
        let alice_now = store.find_certificate(&alice).await.unwrap();
        assert!(alice_now.issues.iter().any(|i| i.code() == "revoked"));
        let candidates = store
            .candidates_for_email("alice@example.org")
            .await
            .unwrap();
        assert!(candidates[0].revoked.is_some());
        // The CA goes: its CRL and what it revoked go too.
        store
            .delete_certificate(&intermediate, "admin")
            .await
            .unwrap();
        assert!(store.crls().await.unwrap().is_empty());
        let alice_now = store.find_certificate(&alice).await.unwrap();
        assert!(!alice_now.issues.iter().any(|i| i.code() == "revoked"));
    }
}
