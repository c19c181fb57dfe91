//! Crash safety: the real `smimed` binary is killed with SIGKILL
//! (`Child::kill`) in the middle of a 10,000-certificate import, of
//! concurrent key imports and of a settings change. Then the store is
//! opened again and must be consistent: each file is wholly there or not at
//! all, no private key exists without its certificate, every stored key
//! still opens, nothing that was reported as stored is lost, and the store
//! takes new imports. On SQLite, and on PostgreSQL when
//! `SMIMED_TEST_POSTGRES_URL` names a server (`.ci/run` starts one).
//!
//! The kill times are random (the seed is printed; set `SMIMED_CRASH_SEED`
//! to repeat a run). Where the test can see that the import's write
//! transaction has begun (SQLite: the write lock is taken; PostgreSQL: the
//! session holds a transaction id), it kills inside that transaction.
//! Nothing here asserts a duration.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use openssl::hash::{MessageDigest, hash};
use openssl::symm::Cipher;
use openssl::x509::X509;
use serde_json::Value;
use sqlx::{AnyConnection, AssertSqlSafe, Connection, Executor};
use testpki::{BulkCa, ec_p256};

/// Certificates in the big bundle (the CA and 9,999 users).
const BUNDLE: usize = 10_000;

// ---------------------------------------------------------------------------
// Backends and stores

#[derive(Clone)]
enum Backend {
    Sqlite,
    /// The server's URL from `SMIMED_TEST_POSTGRES_URL`.
    Postgres(String),
}

impl Backend {
    fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres(_) => "PostgreSQL",
        }
    }
}

/// SQLite always; PostgreSQL when a server is given (CI must give one).
fn backends(what: &str) -> Vec<Backend> {
    let mut out = vec![Backend::Sqlite];
    match std::env::var("SMIMED_TEST_POSTGRES_URL") {
        Ok(url) => out.push(Backend::Postgres(url)),
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("CI must run the crash tests on PostgreSQL too: set SMIMED_TEST_POSTGRES_URL")
        }
        Err(_) => {
            println!("skipped: {what} on PostgreSQL: SMIMED_TEST_POSTGRES_URL is not set")
        }
    }
    out
}

fn rt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    })
}

fn block<F: std::future::Future>(f: F) -> F::Output {
    rt().block_on(f)
}

/// One fresh store: its own data dir and, on PostgreSQL, its own database.
struct Site {
    dir: tempfile::TempDir,
    backend: Backend,
    /// What the test connects to.
    url: String,
    /// `--database-url` for smimed (PostgreSQL only).
    database_url: Option<String>,
    /// PostgreSQL: the database's name.
    db_name: String,
}

impl Site {
    fn new(backend: &Backend) -> Site {
        static N: AtomicUsize = AtomicUsize::new(0);
        sqlx::any::install_default_drivers();
        let dir = tempfile::tempdir().unwrap();
        let db_name = format!(
            "smimed_crash_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let (url, database_url) = match backend {
            Backend::Sqlite => (
                format!(
                    "sqlite://{}",
                    dir.path().join("data").join("smimed.db").display()
                ),
                None,
            ),
            Backend::Postgres(admin_url) => {
                block(async {
                    let mut admin = AnyConnection::connect(admin_url).await.unwrap();
                    admin
                        .execute(AssertSqlSafe(format!("CREATE DATABASE {db_name}")))
                        .await
                        .unwrap();
                });
                let url = pg_url(admin_url, &db_name);
                (url.clone(), Some(url))
            }
        };
        let site = Site {
            dir,
            backend: backend.clone(),
            url,
            database_url,
            db_name,
        };
        // First start: data dir, master key, schema.
        site.ok(&["status"]);
        site
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_smimed"));
        cmd.arg("--data-dir").arg(self.data_dir());
        if let Some(url) = &self.database_url {
            cmd.arg("--database-url").arg(url);
        }
        cmd.args(args)
            .env_remove("SMIMED_DATA_DIR")
            .env_remove("SMIMED_DATABASE_URL")
            .env_remove("SMIMED_MASTER_KEY_FILE")
            .env_remove("SMIMED_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.command(args).spawn().unwrap()
    }

    /// Runs to the end and expects success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.command(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}: smimed {args:?} failed:\n{}{}",
            self.backend.name(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }

    async fn connect(&self) -> AnyConnection {
        AnyConnection::connect(&self.url).await.unwrap()
    }

    /// A connection that sees a busy SQLite writer at once instead of
    /// waiting for it.
    async fn probe(&self) -> AnyConnection {
        let mut conn = self.connect().await;
        if let Backend::Sqlite = self.backend {
            conn.execute("PRAGMA busy_timeout = 0").await.unwrap();
        }
        conn
    }

    fn count(&self, sql: &'static str) -> i64 {
        block(async {
            let mut conn = self.connect().await;
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&mut conn)
                .await
                .unwrap()
        })
    }

    fn strings(&self, sql: &'static str) -> HashSet<String> {
        block(async {
            let mut conn = self.connect().await;
            sqlx::query_scalar::<_, String>(sql)
                .fetch_all(&mut conn)
                .await
                .unwrap()
                .into_iter()
                .collect()
        })
    }

    /// Whether a write transaction is open right now: on SQLite someone
    /// holds the write lock, on PostgreSQL a session of this database has
    /// written (it has a transaction id).
    async fn writer_active(&self, probe: &mut AnyConnection) -> bool {
        match self.backend {
            Backend::Sqlite => match probe.execute("BEGIN IMMEDIATE").await {
                Ok(_) => {
                    probe.execute("ROLLBACK").await.unwrap();
                    false
                }
                Err(_) => {
                    let _ = probe.execute("ROLLBACK").await;
                    true
                }
            },
            Backend::Postgres(_) => {
                sqlx::query_scalar::<_, i64>(
                    "SELECT COUNT(*) FROM pg_stat_activity \
                     WHERE datname = $1 AND backend_xid IS NOT NULL",
                )
                .bind(self.db_name.clone())
                .fetch_one(&mut *probe)
                .await
                .unwrap()
                    > 0
            }
        }
    }

    /// Polls until the `nth` write transaction seen has begun (true), or
    /// `finished` says the processes watched have all exited (false).
    /// Back-to-back transactions may count as one.
    fn wait_for_writer(&self, nth: usize, mut finished: impl FnMut() -> bool) -> bool {
        block(async {
            let mut probe = self.probe().await;
            let (mut seen, mut was_active) = (0, false);
            loop {
                if finished() {
                    return false;
                }
                let active = self.writer_active(&mut probe).await;
                if active && !was_active {
                    seen += 1;
                    if seen >= nth {
                        return true;
                    }
                }
                was_active = active;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    }

    /// The rows hang together: no private key and no email address
    /// without its certificate. Returns (certificates, private keys).
    fn check_rows(&self) -> (i64, i64) {
        let what = self.backend.name();
        assert_eq!(
            self.count(
                "SELECT COUNT(*) FROM private_keys k LEFT JOIN certificates c \
                 ON c.fingerprint = k.fingerprint WHERE c.fingerprint IS NULL"
            ),
            0,
            "{what}: a private key without its certificate"
        );
        assert_eq!(
            self.count(
                "SELECT COUNT(*) FROM certificate_emails e LEFT JOIN certificates c \
                 ON c.fingerprint = e.fingerprint WHERE c.fingerprint IS NULL"
            ),
            0,
            "{what}: an email address without its certificate"
        );
        (
            self.count("SELECT COUNT(*) FROM certificates"),
            self.count("SELECT COUNT(*) FROM private_keys"),
        )
    }

    /// The checks every crash is followed by: [`Self::check_rows`], and the
    /// store opens again and every stored key unseals, opens and belongs to
    /// its certificate. Returns (certificates, private keys).
    fn check_consistent(&self) -> (i64, i64) {
        let what = self.backend.name();
        let (certs, keys) = self.check_rows();
        // Every stored key unseals, opens and belongs to its certificate.
        let location = smimed_store::Location {
            data_dir: self.data_dir(),
            database_url: self.database_url.clone(),
            master_key_file: None,
        };
        let opened = block(async {
            let store = smimed_store::Store::open_location(&location).await.unwrap();
            let fps = store.private_key_fingerprints().await.unwrap();
            for fp in &fps {
                let key = store
                    .load_key(fp)
                    .await
                    .unwrap_or_else(|e| panic!("{what}: the key of {fp} does not open: {e}"));
                let cert = store.find_certificate(fp).await.unwrap();
                assert!(key.matches(&cert.certificate), "{what}: key {fp}");
            }
            fps.len() as i64
        });
        assert_eq!(opened, keys);
        (certs, keys)
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        if let Backend::Postgres(admin_url) = &self.backend {
            let (admin_url, name) = (admin_url.clone(), self.db_name.clone());
            // Best effort; a fresh runtime, as this may run during a panic.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(mut admin) = AnyConnection::connect(&admin_url).await {
                        let _ = admin
                            .execute(AssertSqlSafe(format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            )))
                            .await;
                    }
                });
            })
            .join();
        }
    }
}

fn pg_url(admin_url: &str, name: &str) -> String {
    match admin_url.rfind('/') {
        Some(slash) if admin_url[..slash].ends_with(|c: char| c != '/') => {
            format!("{}/{name}", &admin_url[..slash])
        }
        _ => format!("{admin_url}/{name}"),
    }
}

/// SIGKILL, then what the process had written to stdout, and whether it
/// had finished with success before the signal.
fn kill(mut child: Child) -> (bool, Output) {
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), out)
}

/// True when an import's `--json` output says every file was stored.
fn reported_stored(success: bool, out: &Output) -> bool {
    success
        && serde_json::from_slice::<Value>(&out.stdout).is_ok_and(|v| {
            v.as_array()
                .is_some_and(|files| files.iter().all(|f| f["stored"] == true))
        })
}

// ---------------------------------------------------------------------------
// Randomness (no crate needed): xorshift64*, seed printed.

struct Rng(u64);

impl Rng {
    fn new(test: &str) -> Rng {
        let seed = std::env::var("SMIMED_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                let t = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64;
                t ^ (u64::from(std::process::id()) << 32)
            });
        println!("{test}: seed {seed} (SMIMED_CRASH_SEED={seed} repeats it)");
        Rng(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `lo..=hi`.
    fn between(&mut self, lo: Duration, hi: Duration) -> Duration {
        let span = hi.saturating_sub(lo).as_micros() as u64;
        lo + Duration::from_micros(self.next() % (span + 1))
    }
}

// ---------------------------------------------------------------------------
// Certificates: an EC P-256 CA and users, made in the test (ECDSA signing
// is fast, so 10,000 take about a second).

fn fingerprint(cert: &X509) -> String {
    hash(MessageDigest::sha256(), &cert.to_der().unwrap())
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes the CA and `BUNDLE - 1` users (one shared key) as one PEM file,
/// and a one-certificate file to import after each crash.
fn write_bundles(dir: &Path) -> (PathBuf, PathBuf) {
    let ca = BulkCa::new("smimed Crash Test CA").unwrap();
    let key = ec_p256().unwrap();
    let users = BUNDLE - 1;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let parts: Vec<Vec<u8>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (ca, key) = (&ca, &key);
                s.spawn(move || {
                    let mut pem = Vec::new();
                    for i in (t..users).step_by(threads) {
                        let cert = ca.issue(key, &format!("user{i}@bundle.example")).unwrap();
                        pem.extend(cert.to_pem().unwrap());
                    }
                    pem
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut big = ca.cert.to_pem().unwrap();
    for part in parts {
        big.extend(part);
    }
    let big_path = dir.join("big.pem");
    std::fs::write(&big_path, big).unwrap();
    let small_path = dir.join("small.pem");
    std::fs::write(
        &small_path,
        ca.issue(&ec_p256().unwrap(), "after.crash@bundle.example")
            .unwrap()
            .to_pem()
            .unwrap(),
    )
    .unwrap();
    (big_path, small_path)
}

// ---------------------------------------------------------------------------
// (a) A 10,000-certificate import

#[test]
fn sigkill_during_a_10000_certificate_import_leaves_all_or_nothing() {
    let mut rng = Rng::new("bundle import");
    let work = tempfile::tempdir().unwrap();
    let (big, small) = write_bundles(work.path());
    let (big, small) = (big.to_str().unwrap(), small.to_str().unwrap());
    let import = ["cert", "import", "--json", big];

    for backend in backends("the 10,000-certificate import crash test") {
        let what = backend.name();
        // A whole run first: the file is stored, and the run shows when the
        // write transaction begins and how long it lasts.
        let site = Site::new(&backend);
        let started = Instant::now();
        let mut child = site.spawn(&import);
        let seen = site.wait_for_writer(1, || child.try_wait().unwrap().is_some());
        let write_at = started.elapsed();
        let out = child.wait_with_output().unwrap();
        let total = started.elapsed();
        assert!(
            reported_stored(out.status.success(), &out),
            "{what}: the whole import: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(site.check_consistent(), (BUNDLE as i64, 0));
        assert!(seen, "{what}: the import's write transaction was seen");
        let write_len = total.saturating_sub(write_at);
        println!(
            "{what}: a whole import took {total:?}, writing from {write_at:?} ({write_len:?})"
        );
        drop(site);

        // Then kills: once before the transaction (parsing), then inside it.
        let rounds = 3;
        for round in 0..rounds {
            let site = Site::new(&backend);
            let started = Instant::now();
            let mut child = site.spawn(&import);
            let at = if round == 0 {
                std::thread::sleep(rng.between(Duration::ZERO, write_at));
                "a random point before the transaction"
            } else {
                match site.wait_for_writer(1, || child.try_wait().unwrap().is_some()) {
                    true => {
                        std::thread::sleep(rng.between(Duration::ZERO, write_len * 7 / 10));
                        "a random point in the write transaction"
                    }
                    false => "the end (the transaction was never seen)",
                }
            };
            let killed_after = started.elapsed();
            let (success, out) = kill(child);
            let reported = reported_stored(success, &out);
            let (certs, keys) = site.check_consistent();
            println!(
                "{what} round {round}: killed after {killed_after:?} at {at}: \
                 reported stored {reported}, {certs} certificates in the store"
            );
            assert!(
                certs == 0 || certs == BUNDLE as i64,
                "{what}: a killed import left {certs} of {BUNDLE} certificates"
            );
            assert_eq!(keys, 0);
            if reported {
                assert_eq!(certs, BUNDLE as i64, "{what}: reported stored, then lost");
            }
            // One email row per user certificate, all or nothing as well.
            let emails = site.count("SELECT COUNT(*) FROM certificate_emails");
            assert_eq!(emails, (certs - 1).max(0), "{what}: email rows");

            // The store opens again and takes new imports.
            let v = site.json(&["cert", "import", "--json", small]);
            assert_eq!(v[0]["stored"], true, "{what}: {v}");
            assert_eq!(site.count("SELECT COUNT(*) FROM certificates"), certs + 1);
            if round == rounds - 1 {
                // And the interrupted file can be imported again, whole.
                let v = site.json(&import);
                assert_eq!(v[0]["stored"], true);
                assert_eq!(site.check_consistent(), (BUNDLE as i64 + 1, 0));
            }
        }
    }
}

// ---------------------------------------------------------------------------
// (b) Concurrent key imports

/// One `smimed key import` file: keys whose certificates are stored
/// beforehand, and certificate + key pairs that come in the file itself.
struct KeyFile {
    path: PathBuf,
    /// Fingerprints of the certificates of every key in the file.
    keys: Vec<String>,
    /// Fingerprints of the certificates the file itself brings.
    certs: Vec<String>,
    passphrase_file: Option<PathBuf>,
}

const KEY_FILES: usize = 4;
const KEYS_PER_FILE: usize = 60;

/// Writes the files, and `pre.pem` with the CA and the certificates that
/// are stored before the key imports. The last file's keys are encrypted.
fn write_key_files(dir: &Path) -> (PathBuf, Vec<KeyFile>) {
    let ca = BulkCa::new("smimed Crash Test CA").unwrap();
    let mut pre = ca.cert.to_pem().unwrap();
    let mut files = Vec::new();
    for f in 0..KEY_FILES {
        let encrypted = f == KEY_FILES - 1;
        let passphrase = format!("passphrase of file {f}");
        let (mut pem, mut keys, mut certs) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..KEYS_PER_FILE {
            let key = ec_p256().unwrap();
            let cert = ca.issue(&key, &format!("key{f}-{i}@keys.example")).unwrap();
            let fp = fingerprint(&cert);
            if i % 2 == 0 {
                pre.extend(cert.to_pem().unwrap());
            } else {
                pem.extend(cert.to_pem().unwrap());
                certs.push(fp.clone());
            }
            pem.extend(if encrypted {
                key.private_key_to_pem_pkcs8_passphrase(
                    Cipher::aes_256_cbc(),
                    passphrase.as_bytes(),
                )
                .unwrap()
            } else {
                key.private_key_to_pem_pkcs8().unwrap()
            });
            keys.push(fp);
        }
        let path = dir.join(format!("keys{f}.pem"));
        std::fs::write(&path, pem).unwrap();
        let passphrase_file = encrypted.then(|| {
            let p = dir.join(format!("keys{f}.pass"));
            std::fs::write(&p, format!("{passphrase}\n")).unwrap();
            p
        });
        files.push(KeyFile {
            path,
            keys,
            certs,
            passphrase_file,
        });
    }
    let pre_path = dir.join("pre.pem");
    std::fs::write(&pre_path, pre).unwrap();
    (pre_path, files)
}

impl KeyFile {
    fn args(&self) -> Vec<&str> {
        let mut args = vec!["key", "import", "--json"];
        if let Some(p) = &self.passphrase_file {
            args.extend(["--passphrase-file", p.to_str().unwrap()]);
        }
        args.push(self.path.to_str().unwrap());
        args
    }
}

#[test]
fn sigkill_during_concurrent_key_imports_loses_nothing_reported() {
    let mut rng = Rng::new("key imports");
    let work = tempfile::tempdir().unwrap();
    let (pre, files) = write_key_files(work.path());
    let pre = pre.to_str().unwrap();

    for backend in backends("the concurrent key import crash test") {
        let what = backend.name();
        // How long one key import takes alone, to spread the kills over.
        let site = Site::new(&backend);
        site.ok(&["cert", "import", pre]);
        let started = Instant::now();
        let v = site.json(&files[0].args());
        let alone = started.elapsed();
        assert_eq!(v[0]["stored"], true, "{what}: {v}");
        drop(site);

        for round in 0..3 {
            let site = Site::new(&backend);
            let pre_fps = {
                site.ok(&["cert", "import", pre]);
                site.strings("SELECT fingerprint FROM certificates")
            };
            let started = Instant::now();
            let children: Vec<Child> = files.iter().map(|f| site.spawn(&f.args())).collect();
            let mut children: Vec<Option<Child>> = children.into_iter().map(Some).collect();
            let mut results = vec![false; files.len()];
            let mut kill_one = |children: &mut Vec<Option<Child>>, i: usize| {
                if let Some(child) = children[i].take() {
                    let (success, out) = kill(child);
                    results[i] = reported_stored(success, &out);
                }
            };
            let how = if round == 0 {
                // Each at its own random moment; some may finish first.
                let mut plan: Vec<(Duration, usize)> = (0..files.len())
                    .map(|i| (rng.between(Duration::ZERO, alone * 4), i))
                    .collect();
                plan.sort();
                for (at, i) in plan {
                    std::thread::sleep((started + at).saturating_duration_since(Instant::now()));
                    kill_one(&mut children, i);
                }
                "each at a random moment".to_string()
            } else {
                // All that still run, the moment one of them is writing.
                let nth = 1 + (rng.next() % 3) as usize;
                let seen = site.wait_for_writer(nth, || {
                    children
                        .iter_mut()
                        .flatten()
                        .all(|c| c.try_wait().unwrap().is_some())
                });
                std::thread::sleep(rng.between(Duration::ZERO, Duration::from_millis(3)));
                for i in 0..files.len() {
                    kill_one(&mut children, i);
                }
                if seen {
                    format!("all at once in write transaction {nth}")
                } else {
                    "after all had finished".to_string()
                }
            };

            let keys = site.strings("SELECT fingerprint FROM private_keys");
            let certs = site.strings("SELECT fingerprint FROM certificates");
            assert!(
                pre_fps.is_subset(&certs),
                "{what}: stored certificates lost"
            );
            let mut summary = Vec::new();
            for (f, file) in files.iter().enumerate() {
                let k = file.keys.iter().filter(|fp| keys.contains(*fp)).count();
                let c = file.certs.iter().filter(|fp| certs.contains(*fp)).count();
                summary.push(format!("file {f}: reported {}, {k} keys", results[f]));
                assert!(
                    (k == 0 && c == 0) || (k == file.keys.len() && c == file.certs.len()),
                    "{what}: file {f} is partly stored: {k} of {} keys, {c} of {} certificates",
                    file.keys.len(),
                    file.certs.len()
                );
                if results[f] {
                    assert_eq!(k, file.keys.len(), "{what}: file {f} was reported stored");
                }
            }
            let (_, stored_keys) = site.check_consistent();
            println!(
                "{what} round {round} (one import alone: {alone:?}), killed {how}: {}",
                summary.join("; ")
            );
            assert_eq!(stored_keys as usize, keys.len());

            // Restarted: every file goes in, concurrently, and all is there.
            let children: Vec<Child> = files.iter().map(|f| site.spawn(&f.args())).collect();
            for (f, child) in children.into_iter().enumerate() {
                let out = child.wait_with_output().unwrap();
                assert!(
                    reported_stored(out.status.success(), &out),
                    "{what}: file {f} after the crash: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let (certs, keys) = site.check_rows();
            assert_eq!(keys as usize, KEY_FILES * KEYS_PER_FILE);
            assert_eq!(certs as usize, 1 + KEY_FILES * KEYS_PER_FILE);
        }
    }
}

// ---------------------------------------------------------------------------
// (c) A settings change

/// The outgoing encryption settings and the switch, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Settings {
    gcm: bool,
    oaep: bool,
    enabled: bool,
}

impl Settings {
    fn read(site: &Site) -> Settings {
        block(async { Settings::read_with(&mut site.connect().await).await })
    }

    async fn read_with(conn: &mut AnyConnection) -> Settings {
        let mut value = async |name: &str| -> Option<String> {
            sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
                .bind(name.to_string())
                .fetch_optional(&mut *conn)
                .await
                .unwrap()
        };
        Settings {
            gcm: value("cipher").await.as_deref() == Some("aes-256-gcm"),
            oaep: value("rsa_oaep").await.as_deref() == Some("true"),
            enabled: value("enabled").await.as_deref() == Some("true"),
        }
    }

    /// `smimed settings` arguments that set both encryption settings.
    fn args(self) -> [&'static str; 6] {
        [
            "settings",
            "--json",
            "--cipher",
            if self.gcm {
                "aes-256-gcm"
            } else {
                "aes-256-cbc"
            },
            "--rsa-oaep",
            if self.oaep { "yes" } else { "no" },
        ]
    }

    fn switch(self) -> &'static str {
        if self.enabled { "enable" } else { "disable" }
    }
}

#[test]
fn sigkill_during_a_settings_change_applies_all_of_it_or_none() {
    let mut rng = Rng::new("settings");
    // The two settings always change together (both on or both off), so a
    // change applied in part shows as a mixed pair.
    let off = Settings {
        gcm: false,
        oaep: false,
        enabled: false,
    };
    for backend in backends("the settings crash test") {
        let what = backend.name();
        let site = Site::new(&backend);
        let started = Instant::now();
        site.ok(&off.args());
        let alone = started.elapsed();
        site.ok(&[off.switch()]);
        let mut now = Settings::read(&site);
        assert_eq!(now, off);

        for round in 0..8 {
            let target = Settings {
                gcm: !now.gcm,
                oaep: !now.oaep,
                enabled: !now.enabled,
            };
            let started = Instant::now();
            let change = site.spawn(&target.args());
            let switch = site.spawn(&[target.switch()]);
            let mut plan = [
                (rng.between(Duration::ZERO, alone * 2), Some(change)),
                (rng.between(Duration::ZERO, alone * 2), Some(switch)),
            ];
            let mut reported = [false; 2];
            for (i, (at, child)) in plan.iter_mut().enumerate() {
                std::thread::sleep((started + *at).saturating_duration_since(Instant::now()));
                reported[i] = kill(child.take().unwrap()).0;
            }
            let after = Settings::read(&site);
            println!(
                "{what} round {round}: {now:?} -> {target:?}, reported {reported:?}, now {after:?}"
            );
            assert_eq!(
                after.gcm, after.oaep,
                "{what}: a settings change applied in part"
            );
            assert!(
                after.gcm == now.gcm || after.gcm == target.gcm,
                "{what}: settings"
            );
            if reported[0] {
                assert_eq!(after.gcm, target.gcm, "{what}: reported set, then lost");
            }
            if reported[1] {
                assert_eq!(
                    after.enabled, target.enabled,
                    "{what}: reported switched, then lost"
                );
            }
            // The restarted binary reads what is stored.
            let shown = site.json(&["settings", "--json"]);
            assert_eq!(shown["rsa_oaep"], after.oaep);
            assert_eq!(shown["enabled"], after.enabled);
            site.check_consistent();
            now = after;
        }

        // PostgreSQL: the change is made to wait on a row the test holds
        // locked, so the kill lands between its two writes every time.
        if let Backend::Postgres(_) = backend {
            for locked in ["rsa_oaep", "cipher"] {
                let target = Settings {
                    gcm: !now.gcm,
                    oaep: !now.oaep,
                    enabled: now.enabled,
                };
                block(async {
                    let mut holder = site.connect().await;
                    holder.execute("BEGIN").await.unwrap();
                    sqlx::query("SELECT value FROM settings WHERE name = $1 FOR UPDATE")
                        .bind(locked)
                        .fetch_all(&mut holder)
                        .await
                        .unwrap();
                    let mut child = site.spawn(&target.args());
                    let mut watch = site.connect().await;
                    loop {
                        assert!(
                            child.try_wait().unwrap().is_none(),
                            "{what}: the change finished although {locked} was locked"
                        );
                        let waiting: i64 = sqlx::query_scalar(
                            "SELECT COUNT(*) FROM pg_stat_activity \
                             WHERE datname = $1 AND wait_event_type = 'Lock'",
                        )
                        .bind(site.db_name.clone())
                        .fetch_one(&mut watch)
                        .await
                        .unwrap();
                        if waiting > 0 {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    let (success, _) = kill(child);
                    assert!(!success);
                    // What a reader sees while the dead client's session
                    // still waits for the lock: nothing of the change.
                    let seen = Settings::read_with(&mut watch).await;
                    assert_eq!(
                        seen, now,
                        "{what}: {locked} locked: part of the change is visible"
                    );
                    holder.execute("ROLLBACK").await.unwrap();
                    // Its session goes once it finds the client gone.
                    loop {
                        let open: i64 = sqlx::query_scalar(
                            "SELECT COUNT(*) FROM pg_stat_activity \
                             WHERE datname = $1 AND pid <> pg_backend_pid() \
                             AND backend_xid IS NOT NULL",
                        )
                        .bind(site.db_name.clone())
                        .fetch_one(&mut watch)
                        .await
                        .unwrap();
                        if open == 0 {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                });
                let after = Settings::read(&site);
                println!("{what}: killed while waiting for {locked}: now {after:?}");
                assert_eq!(
                    after, now,
                    "{what}: {locked} locked: the killed change went in"
                );
            }
        }
    }
}
