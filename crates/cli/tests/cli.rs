//! The `smimed` binary, driven as an admin would drive it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use testpki::{ALICE_KEY_PASSPHRASE, P12_PASSWORD, files};

struct Smimed {
    dir: tempfile::TempDir,
}

impl Smimed {
    fn new() -> Self {
        Smimed {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_smimed"));
        cmd.arg("--data-dir").arg(self.data_dir());
        cmd.env_remove("SMIMED_DATA_DIR")
            .env_remove("SMIMED_DATABASE_URL")
            .env_remove("SMIMED_MASTER_KEY_FILE");
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().unwrap()
    }

    /// Runs and expects success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "smimed {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs and expects failure; returns stdout + stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "smimed {args:?} should fail");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }

    fn list(&self) -> Vec<Value> {
        self.json(&["cert", "list", "--json"])
            .as_array()
            .unwrap()
            .clone()
    }

    /// The store's SQLite database and a runtime to drive queries on it,
    /// for tests that look at or change rows directly.
    fn sqlite(&self) -> (tokio::runtime::Runtime, sqlx::AnyConnection) {
        use sqlx::Connection;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let url = format!("sqlite://{}", self.data_dir().join("smimed.db").display());
        sqlx::any::install_default_drivers();
        let conn = rt.block_on(sqlx::AnyConnection::connect(&url)).unwrap();
        (rt, conn)
    }

    fn secret_file(&self, name: &str, content: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, format!("{content}\n")).unwrap();
        path.display().to_string()
    }
}

fn pki(name: &str) -> String {
    testpki::Pki::committed().path(name).display().to_string()
}

fn thunderbird(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/thunderbird")
        .join(name)
        .display()
        .to_string()
}

fn by_email<'a>(list: &'a [Value], email: &str) -> &'a Value {
    list.iter()
        .find(|c| {
            c["email_addresses"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e == email)
        })
        .unwrap_or_else(|| panic!("no certificate for {email}"))
}

#[test]
fn switch_is_off_by_default_and_status_counts() {
    let s = Smimed::new();
    let status = s.ok(&["status"]);
    assert!(status.contains("S/MIME: disabled"), "{status}");
    assert!(s.data_dir().join("master.key").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(s.data_dir().join("master.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Certificates can be managed while S/MIME is off.
    let pass = s.secret_file("p12.pass", P12_PASSWORD);
    s.ok(&[
        "cert",
        "import",
        "--passphrase-file",
        &pass,
        &pki(files::ALICE_P12),
    ]);
    s.ok(&["cert", "import", &pki(files::EXPIRED)]);
    s.ok(&["enable"]);
    let status = s.json(&["status", "--json"]);
    assert_eq!(status["enabled"], true);
    assert_eq!(status["certificates"], 4);
    assert_eq!(status["ca_certificates"], 2);
    assert_eq!(status["private_keys"], 1);
    assert_eq!(status["certificates_with_issues"], 1);
    // Alice's own certificate is years from expiry; the expired one has no
    // key here (a contact's): nothing is said of either.
    assert_eq!(status["expiring"], serde_json::json!([]));
    assert!(!s.ok(&["status"]).contains("own certificate"));
    // Soon, with its key: listed, with the days left.
    s.ok(&["cert", "import", &pki("soon.pem")]);
    s.ok(&["key", "import", &pki("soon.key.pem")]);
    let expiring = s.json(&["status", "--json"])["expiring"].clone();
    assert_eq!(expiring.as_array().unwrap().len(), 1, "{expiring}");
    assert_eq!(expiring[0]["emails"][0], "soon@example.org");
    let text = s.ok(&["status"]);
    assert!(
        text.contains("own certificate CN=Expires Soon (soon@example.org, ")
            && text.contains("expires in "),
        "{text}"
    );
    // The window is a setting: one day leaves Soon out (it has days left).
    let refused = s.fails(&["settings", "--expiry-warning-days", "400"]);
    assert!(refused.contains("between 1 and 365"), "{refused}");
    s.ok(&["settings", "--expiry-warning-days", "1"]);
    assert_eq!(
        s.json(&["status", "--json"])["expiring"],
        serde_json::json!([])
    );
    assert_eq!(s.json(&["settings", "--json"])["expiry_warning_days"], 1);
    s.ok(&["disable"]);
    assert!(s.ok(&["status"]).contains("disabled"));
}

#[test]
fn import_list_export_delete() {
    let s = Smimed::new();
    let report = s.json(&[
        "cert",
        "import",
        "--json",
        &pki(files::CHAIN),
        &pki(files::CHAIN_P7B),
    ]);
    assert_eq!(report[0]["stored"], true);
    assert_eq!(
        report[1]["certificates"][2]["outcome"], "imported",
        "alice is new"
    );
    assert_eq!(report[1]["certificates"][0]["outcome"], "already_present");

    // Standard input, DER.
    let mut child = s
        .command()
        .args(["cert", "import", "--json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&std::fs::read(pki(files::BOB)).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report[0]["certificates"][0]["email_addresses"][0],
        "bob@example.org"
    );

    let pass = s.secret_file("alice.pass", ALICE_KEY_PASSPHRASE);
    let keys = s.json(&[
        "key",
        "import",
        "--json",
        "--passphrase-file",
        &pass,
        &pki(files::ALICE_KEY_ENC),
    ]);
    assert_eq!(keys[0]["private_keys"][0]["outcome"], "imported");
    assert_eq!(keys[0]["private_keys"][0]["protected"], true);

    let list = s.list();
    assert_eq!(list.len(), 4);
    let alice = by_email(&list, "alice@example.org");
    for field in [
        "fingerprint",
        "subject",
        "issuer",
        "serial",
        "email_addresses",
        "not_before",
        "not_after",
        "kind",
        "usage",
        "key_algorithm",
        "has_private_key",
        "issues",
    ] {
        assert!(!alice[field].is_null(), "field {field}");
    }
    assert_eq!(alice["has_private_key"], true);
    assert_eq!(alice["kind"], "end_entity");
    assert_eq!(alice["usage"], "both");
    assert_eq!(alice["key_algorithm"], "RSA 2048");
    assert!(alice["not_after"].as_str().unwrap().ends_with('Z'));
    assert_eq!(alice["issues"].as_array().unwrap().len(), 0);
    let bob = by_email(&list, "bob@example.org");
    assert_eq!(bob["has_private_key"], false);
    assert_eq!(bob["key_algorithm"], "EC P-256");
    let human = s.ok(&["cert", "list"]);
    assert_eq!(human.matches("[PRIVATE KEY]").count(), 1, "{human}");

    let alice_fp = alice["fingerprint"].as_str().unwrap().to_string();
    let prefix = &alice_fp[..12];
    let pem = s.ok(&["cert", "export", prefix]);
    assert_eq!(pem.as_bytes(), std::fs::read(pki(files::ALICE)).unwrap());
    let der_file = s.dir.path().join("alice.der");
    s.ok(&[
        "cert",
        "export",
        prefix,
        "--der",
        "-o",
        der_file.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read(&der_file).unwrap(),
        std::fs::read(pki(files::ALICE_DER)).unwrap()
    );

    // The key comes back as uploaded: still encrypted, same bytes.
    let key_file = s.dir.path().join("alice.key");
    s.ok(&["key", "export", prefix, "-o", key_file.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(&key_file).unwrap(),
        std::fs::read(pki(files::ALICE_KEY_ENC)).unwrap()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let deleted = s.ok(&["key", "delete", prefix]);
    assert!(deleted.contains("certificate stays"), "{deleted}");
    assert_eq!(
        by_email(&s.list(), "alice@example.org")["has_private_key"],
        false
    );
    s.ok(&["key", "import", &pki(files::ALICE_BUNDLE)]);
    let deleted = s.ok(&["cert", "delete", prefix]);
    assert!(deleted.contains("private key was deleted too"), "{deleted}");
    assert_eq!(s.list().len(), 3);
    let gone = s.fails(&["key", "export", prefix]);
    assert!(gone.contains("no certificate matches"), "{gone}");
}

#[test]
fn bad_input_is_refused_clearly_and_nothing_is_stored() {
    let s = Smimed::new();
    s.ok(&["cert", "import", &pki(files::CHAIN)]);
    let before = s.list().len();
    let empty = s.secret_file("empty.pem", "");
    let garbage = s.dir.path().join("garbage.bin");
    std::fs::write(
        &garbage,
        (0..=255u8).cycle().skip(3).take(1000).collect::<Vec<_>>(),
    )
    .unwrap();
    let corrupt = s.secret_file(
        "corrupt.pem",
        "-----BEGIN CERTIFICATE-----\nMIIB!!notbase64!!\n-----END CERTIFICATE-----",
    );
    let wrong = s.secret_file("wrong.pass", "not-the-passphrase");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["cert".into(), "import".into(), empty],
            "the input is empty",
        ),
        (
            vec![
                "cert".into(),
                "import".into(),
                garbage.display().to_string(),
            ],
            "not a certificate or private key in PEM, DER, PKCS#7 or PKCS#12 form",
        ),
        (
            vec!["cert".into(), "import".into(), pki(files::TRUNCATED)],
            "truncated",
        ),
        (
            vec!["cert".into(), "import".into(), corrupt],
            "base64 body is corrupted",
        ),
        (
            vec!["cert".into(), "import".into(), pki(files::BROKEN_BUNDLE)],
            "PEM block 2",
        ),
        (
            vec!["key".into(), "import".into(), pki(files::STRAY_KEY)],
            "import the certificate first",
        ),
        (
            vec!["key".into(), "import".into(), pki(files::ALICE_KEY_ENC)],
            "protected by a passphrase, and none was given",
        ),
        (
            vec![
                "key".into(),
                "import".into(),
                "--passphrase-file".into(),
                wrong.clone(),
                pki(files::ALICE_KEY_ENC),
            ],
            "wrong passphrase",
        ),
        (
            vec!["cert".into(), "import".into(), pki(files::ALICE_P12)],
            "PKCS#12 file is protected by a passphrase",
        ),
        (
            vec![
                "cert".into(),
                "import".into(),
                "--passphrase-file".into(),
                wrong,
                pki(files::ALICE_P12),
            ],
            "wrong passphrase for the PKCS#12 file",
        ),
        (
            vec!["cert".into(), "export".into(), "1234".into()],
            "at least 8 hex characters",
        ),
        (
            vec!["cert".into(), "delete".into(), "00000000".into()],
            "no certificate matches",
        ),
    ];
    for (args, needle) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = s.fails(&args);
        assert!(
            out.contains(needle),
            "{args:?}: expected {needle:?} in:\n{out}"
        );
        assert!(!out.contains("panicked"), "{out}");
        assert!(!out.contains("not-the-passphrase"), "passphrase printed");
    }
    assert_eq!(s.list().len(), before, "nothing stored");
    assert_eq!(s.json(&["status", "--json"])["private_keys"], 0);
}

#[test]
fn thunderbird_corpus_certificates_and_keys() {
    let s = Smimed::new();
    s.ok(&["cert", "import", &thunderbird("TestCA.pem")]);
    let pass = s.secret_file("nss.pass", "nss");
    let p12s = [
        "Alice.p12",
        "Alice-ec.p12",
        "Bob.p12",
        "Dave.p12",
        "Eve.p12",
        "Fran.p12",
        "Fran-ec.p12",
    ];
    let mut args = vec!["cert", "import", "--passphrase-file", pass.as_str()];
    let paths: Vec<String> = p12s.iter().map(|p| thunderbird(p)).collect();
    args.extend(paths.iter().map(String::as_str));
    s.ok(&args);
    let list = s.list();
    for email in [
        "alice@example.com",
        "alice-ec@example.com",
        "bob@example.com",
        "dave@example.com",
        "eve@example.com",
        "fran@example.com",
        "fran-ec@example.com",
    ] {
        assert_eq!(by_email(&list, email)["has_private_key"], true, "{email}");
    }
    // Alice, Bob and Dave: the address only in the subject DN.
    for email in ["alice@example.com", "bob@example.com", "dave@example.com"] {
        let cert = by_email(&list, email);
        assert_eq!(
            cert["email_addresses"].as_array().unwrap().len(),
            1,
            "{email}"
        );
        assert!(cert["subject"].as_str().unwrap().contains("emailAddress="));
    }
    // Eve: subjectAltName differs from her subject DN; both count.
    let eve = by_email(&list, "eve@example.org");
    let eve_emails: Vec<&str> = eve["email_addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(
        eve_emails,
        [
            "eve@example.net",
            "eve@example.org",
            "beve@example.com",
            "eve@example.com"
        ]
    );
    assert_eq!(eve["issues"].as_array().unwrap().len(), 0);
    assert_eq!(
        by_email(&list, "fran@example.com")["issues"][0],
        "issuer_not_in_store"
    );
}

#[test]
fn two_processes_importing_at_once_lose_nothing() {
    let s = Smimed::new();
    s.ok(&["status"]);
    let pass = s.secret_file("p12.pass", P12_PASSWORD);
    let left = [files::CHAIN, files::BOB, files::CAROL, files::DAVE_DN];
    let right = [files::SIGNONLY, files::EXPIRED, files::ORPHAN, files::SHA1];
    for round in 0..3 {
        let spawn = |names: &[&str]| {
            let mut cmd = s.command();
            cmd.args([
                "cert",
                "import",
                "--passphrase-file",
                &pass,
                &pki(files::ALICE_P12),
            ]);
            cmd.args(names.iter().map(|n| pki(n)));
            cmd.stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn(&left), spawn(&right));
        for child in [a, b] {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "round {round}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    // root, intermediate, alice + 3 left + 4 right
    assert_eq!(s.list().len(), 10);
    assert_eq!(s.json(&["status", "--json"])["private_keys"], 1);
}

#[test]
fn master_key_file_can_live_outside_the_data_dir() {
    let s = Smimed::new();
    let key_file = s.dir.path().join("outside.key");
    std::fs::write(&key_file, [9u8; 32]).unwrap();
    let with_key = |args: &[&str]| {
        s.command()
            .env("SMIMED_MASTER_KEY_FILE", &key_file)
            .args(args)
            .output()
            .unwrap()
    };
    assert!(
        with_key(&["key", "import", &pki(files::ALICE_BUNDLE)])
            .status
            .success()
    );
    assert!(!s.data_dir().join("master.key").exists());
    let list = with_key(&["cert", "list", "--json"]);
    let list: Value = serde_json::from_slice(&list.stdout).unwrap();
    let fp = list[0]["fingerprint"].as_str().unwrap().to_string();
    let out = with_key(&["key", "export", &fp]);
    assert!(out.status.success());
    // Without that key file nothing starts, and no other key is made.
    let err = s.fails(&["key", "export", &fp]);
    assert!(err.contains("is missing"), "{err}");
    assert!(!s.data_dir().join("master.key").exists());
    std::fs::write(&key_file, b"short").unwrap();
    let out = with_key(&["status"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("exactly 32 bytes"));
}

#[test]
fn config_file_sets_defaults_and_flags_win() {
    let s = Smimed::new();
    let from_file = s.dir.path().join("from-file");
    let config = s.dir.path().join("smimed.toml");
    std::fs::write(
        &config,
        format!("data_dir = {:?}\n", from_file.display().to_string()),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_smimed"))
        .env_remove("SMIMED_DATA_DIR")
        .args(["--config", config.to_str().unwrap(), "status"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        from_file.join("smimed.db").exists(),
        "the file's data_dir was used"
    );
    // A flag wins over the file.
    s.ok(&["--config", config.to_str().unwrap(), "status"]);
    assert!(s.data_dir().join("smimed.db").exists());
    // Unknown keys are refused with the file's name.
    std::fs::write(&config, "data_dri = \"x\"\n").unwrap();
    let err = s.fails(&["--config", config.to_str().unwrap(), "status"]);
    assert!(
        err.contains("smimed.toml") && err.contains("data_dri"),
        "{err}"
    );
}

#[test]
fn an_ambiguous_prefix_is_refused_with_a_count() {
    let s = Smimed::new();
    s.ok(&["cert", "import", &pki(files::ALICE)]);
    let fp = s.list()[0]["fingerprint"].as_str().unwrap().to_string();
    // A second row whose fingerprint shares the first 8 characters.
    let twin = format!("{}{}", &fp[..8], "0".repeat(56));
    let (rt, mut conn) = s.sqlite();
    rt.block_on(async {
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
        });
    let err = s.fails(&["cert", "export", &fp[..8]]);
    assert!(err.contains("matches 2 certificates"), "{err}");
    assert!(
        s.ok(&["cert", "export", &fp[..9]])
            .contains("BEGIN CERTIFICATE")
    );
}

/// Every admin action of the CLI writes its audit entry as `cli:<user>`,
/// with what it acted on (the API's twin is in crates/server/tests/api.rs).
#[test]
fn every_admin_action_is_audited_as_the_cli_user() {
    let s = Smimed::new();
    let fp = {
        s.ok(&["status"]);
        let pem = std::fs::read(pki(files::ALICE)).unwrap();
        let der = openssl::x509::X509::from_pem(&pem)
            .unwrap()
            .to_der()
            .unwrap();
        openssl::hash::hash(openssl::hash::MessageDigest::sha256(), &der)
            .unwrap()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let key_out = s.dir.path().join("key.pem").display().to_string();
    let alice = pki(files::ALICE);
    let alice_key = pki(files::ALICE_KEY);
    let steps: Vec<(Vec<&str>, &str, &str)> = vec![
        (vec!["cert", "import", &alice], "certificate.import", &fp),
        (vec!["key", "import", &alice_key], "private_key.import", &fp),
        (
            vec!["key", "export", &fp, "-o", &key_out],
            "private_key.download",
            &fp,
        ),
        (vec!["key", "delete", &fp], "private_key.delete", &fp),
        (vec!["enable"], "settings.update", "settings"),
        (
            vec!["settings", "--reject-sha1", "yes"],
            "settings.update",
            "settings",
        ),
        (
            vec!["group", "set", "support", "--email", "alice@example.org"],
            "group.update",
            "support",
        ),
        (
            vec!["group", "delete", "support"],
            "group.delete",
            "support",
        ),
        (
            vec!["token", "create", "--role", "agent", "--name", "desk"],
            "token.create",
            "desk",
        ),
        (vec!["token", "revoke", "desk"], "token.revoke", "desk"),
        (
            vec!["master-key", "rotate"],
            "master_key.rotate",
            "master key",
        ),
        (vec!["cert", "delete", &fp], "certificate.delete", &fp),
    ];
    let newest = || -> (String, String, String) {
        let (rt, mut conn) = s.sqlite();
        rt.block_on(
            sqlx::query_as(
                "SELECT action, token_name, subject FROM audit_log ORDER BY id DESC LIMIT 1",
            )
            .fetch_one(&mut conn),
        )
        .unwrap()
    };
    for (args, action, subject) in steps {
        let out = s
            .command()
            .env("USER", "tester")
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            newest(),
            (action.into(), "cli:tester".into(), subject.into()),
            "{args:?}"
        );
    }
}

/// Every command refuses to start when the master key is gone while sealed
/// keys exist, and says how to fix it; nothing is made in its place.
#[test]
fn a_missing_master_key_stops_every_command_and_is_not_remade() {
    let s = Smimed::new();
    let pass = s.secret_file("p12.pass", P12_PASSWORD);
    s.ok(&[
        "cert",
        "import",
        "--passphrase-file",
        &pass,
        &pki(files::ALICE_P12),
    ]);
    let key = s.data_dir().join("master.key");
    let saved = std::fs::read(&key).unwrap();
    std::fs::remove_file(&key).unwrap();
    for args in [&["status"][..], &["cert", "list"], &["serve"]] {
        let err = s.fails(args);
        assert!(
            err.contains("is missing") && err.contains("master-key-file"),
            "{args:?}: {err}"
        );
        assert!(!key.exists(), "{args:?} made a new key");
    }
    std::fs::write(&key, &saved).unwrap();
    s.ok(&["status"]);
}

#[test]
fn pending_certificates_are_listed_accepted_and_rejected() {
    let s = Smimed::new();
    s.ok(&["enable"]);
    let eml = thunderbird("alice.dsig.SHA256.multipart.eml");
    let report = s.data_dir().join("report.json");
    let out = s.data_dir().join("out.eml");
    let run_incoming = || {
        s.ok(&[
            "incoming",
            "-i",
            &eml,
            "-o",
            out.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
        ]);
        serde_json::from_slice::<Value>(&std::fs::read(&report).unwrap()).unwrap()
    };
    let v = run_incoming();
    assert_eq!(v["sign"]["code"], "unknown_signer", "{v}");
    let fp = v["pending"][0].as_str().unwrap().to_string();

    let text = s.ok(&["cert", "pending"]);
    let groups = fp.to_uppercase();
    assert!(text.contains(&groups[..4]), "{text}");
    assert!(text.contains("from alice@example.com"), "{text}");
    let listed = s.json(&["cert", "pending", "--json"]);
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["items"][0]["fingerprint"], fp.as_str());
    // A prefix is not enough to decide.
    let err = s.fails(&["cert", "accept", &fp[..12]]);
    assert!(err.contains("64 hex"), "{err}");

    // Read aloud with blanks: accepted all the same.
    let spaced = smimed_engine::fingerprint_groups(&fp).join(" ");
    let accepted = s.json(&["cert", "accept", &spaced, "--json"]);
    assert_eq!(accepted["fingerprint"], fp.as_str());
    assert_eq!(accepted["retried"][0]["sign"], "verified");
    assert!(s.ok(&["cert", "list"]).contains(&fp[..16]));
    assert!(
        s.ok(&["cert", "pending"])
            .contains("No certificate from signed mail waits")
    );
    let err = s.fails(&["cert", "reject", &fp]);
    assert!(err.contains("no pending certificate"), "{err}");
    assert_eq!(run_incoming()["sign"]["code"], "verified");

    // Switched off: nothing waits.
    let s2 = Smimed::new();
    s2.ok(&["enable"]);
    let set = s2.ok(&["settings", "--learn-certificates", "no"]);
    assert!(set.contains("learn-certificates: no"), "{set}");
    s2.ok(&["incoming", "-i", &eml, "-o", out.to_str().unwrap()]);
    assert_eq!(s2.json(&["cert", "pending", "--json"])["total"], 0);
}

#[test]
fn crls_are_imported_listed_and_bad_ones_refused() {
    if !testpki::openssl_ca::available() {
        eprintln!("SKIPPED: the openssl command is needed to run a CA (openssl ca)");
        return;
    }
    let s = Smimed::new();
    let root = tempfile::tempdir().unwrap();
    let shop = testpki::openssl_ca::RevokedUser::new(root.path());
    let crl = shop.ca.dir.join("ca.crl");
    let crl = crl.to_str().unwrap();
    // Its CA is not stored yet: refused, and the command fails.
    let err = s.fails(&["crl", "import", crl]);
    assert!(err.contains("Shop CA"), "{err}");
    let garbage = s.secret_file("garbage.crl", "not a CRL");
    let err = s.fails(&["crl", "import", &garbage]);
    assert!(err.contains("garbage.crl"), "{err}");
    let huge = root.path().join("huge.crl");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(50 << 20)
        .unwrap();
    let err = s.fails(&["crl", "import", huge.to_str().unwrap()]);
    assert!(
        err.contains("52428800 bytes") && err.contains("not read"),
        "{err}"
    );
    // Streams have no size to read first: they are cut at the limit. A
    // device that never ends, and standard input one byte over 10 MiB.
    let err = s.fails(&["crl", "import", "/dev/zero"]);
    assert!(err.contains("/dev/zero: more than 10485760 bytes"), "{err}");
    let mut child = s
        .command()
        .args(["crl", "import", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // The CLI stops reading at the limit: the rest of the write may fail.
    let _ = stdin.write_all(&vec![0x30; (10 << 20) + 1]);
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("standard input: more than 10485760 bytes"),
        "{err}"
    );

    s.ok(&[
        "cert",
        "import",
        shop.ca.certificate_path().to_str().unwrap(),
        shop.user.to_str().unwrap(),
    ]);
    let out = s.ok(&["crl", "import", crl]);
    assert!(out.contains("1 stored certificate(s) revoked"), "{out}");
    let list = s.ok(&["crl", "list"]);
    assert!(
        list.contains("Shop CA") && list.contains("from import"),
        "{list}"
    );
    assert_eq!(s.json(&["crl", "list", "--json"])[0]["revoked_stored"], 1);
    let certs = s.ok(&["cert", "list"]);
    assert!(certs.contains("revoked"), "{certs}");
    // The same CRL again: not newer, so refused.
    let err = s.fails(&["crl", "import", crl]);
    assert!(err.contains("not newer"), "{err}");

    let set = s.ok(&["settings", "--require-crl", "yes", "--crl-fetch", "yes"]);
    assert!(
        set.contains("require-crl: yes") && set.contains("crl-fetch: yes"),
        "{set}"
    );
}
