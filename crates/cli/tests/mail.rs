//! `smimed group|options|outgoing|incoming` as a helpdesk backend drives them.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;
use testpki::{P12_PASSWORD, files};

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Self {
        Dir(tempfile::tempdir().unwrap())
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }
    /// `smimed` on the data directory `data`, untouched by the caller's
    /// environment.
    fn command(&self, data: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_smimed"));
        cmd.arg("--data-dir")
            .arg(self.path(data))
            .env_remove("SMIMED_DATA_DIR")
            .env_remove("SMIMED_DATABASE_URL")
            .env_remove("SMIMED_MASTER_KEY_FILE")
            .env_remove("SMIMED_CONFIG")
            .env_remove("SMIMED_MAX_MESSAGE_MIB")
            .args(args);
        cmd
    }
    fn run(&self, data: &str, args: &[&str]) -> Output {
        self.command(data, args).output().unwrap()
    }
    fn ok(&self, data: &str, args: &[&str]) -> String {
        let out = self.run(data, args);
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

fn pki(name: &str) -> String {
    testpki::Pki::committed().path(name).display().to_string()
}

const MESSAGE: &str = "From: Support <alice@example.org>\nTo: bob@example.org\nSubject: Your ticket\n\nIt is solved.\n";

#[test]
fn outgoing_then_incoming_with_reports() {
    let d = Dir::new();
    std::fs::write(d.path("p12.pass"), P12_PASSWORD).unwrap();
    std::fs::write(d.path("msg.eml"), MESSAGE).unwrap();
    let pass = d.path("p12.pass").display().to_string();
    d.ok(
        "alice",
        &[
            "cert",
            "import",
            "--passphrase-file",
            &pass,
            &pki(files::ALICE_P12),
            &pki(files::BOB),
        ],
    );
    d.ok(
        "alice",
        &[
            "group",
            "set",
            "support",
            "--email",
            "Alice@Example.org",
            "--default-encrypt",
            "no",
        ],
    );
    let groups: Value = serde_json::from_str(&d.ok("alice", &["group", "list", "--json"])).unwrap();
    assert_eq!(groups[0]["email"], "alice@example.org");
    assert_eq!(groups[0]["default_sign"], Value::Null);
    assert_eq!(groups[0]["default_encrypt"], false);

    // Disabled: passed through with a note; asking for signing is an error.
    let out = d.run(
        "alice",
        &[
            "outgoing",
            "--group",
            "support",
            "-i",
            d.path("msg.eml").to_str().unwrap(),
        ],
    );
    assert!(out.status.success());
    assert_eq!(out.stdout, MESSAGE.as_bytes());
    assert!(String::from_utf8_lossy(&out.stderr).contains("disabled"));
    assert!(
        !d.run(
            "alice",
            &[
                "outgoing",
                "--group",
                "support",
                "--sign",
                "-i",
                d.path("msg.eml").to_str().unwrap()
            ]
        )
        .status
        .success()
    );

    d.ok("alice", &["enable"]);
    let options: Value = serde_json::from_str(&d.ok(
        "alice",
        &[
            "options",
            "--group",
            "support",
            "--to",
            "bob@example.org",
            "--cc",
            "nobody@example.org",
            "--json",
        ],
    ))
    .unwrap();
    assert_eq!(options["sign"]["possible"], true);
    assert_eq!(options["sign"]["default"], true);
    assert_eq!(options["encryption"]["possible"], false);
    assert!(
        options["encryption"]["message"]
            .as_str()
            .unwrap()
            .contains("nobody@example.org")
    );

    // Fail closed: nothing is written.
    std::fs::write(d.path("nobody.eml"), MESSAGE.replace("bob@", "nobody@")).unwrap();
    let out = d.run(
        "alice",
        &[
            "outgoing",
            "--group",
            "support",
            "--encrypt",
            "-i",
            d.path("nobody.eml").to_str().unwrap(),
            "-o",
            d.path("never.eml").to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nobody@example.org has no certificate"));
    assert!(!d.path("never.eml").exists());

    // Group default: sign, not encrypt; the agent adds encryption.
    let signed = d.ok(
        "alice",
        &[
            "outgoing",
            "--group",
            "support",
            "-i",
            d.path("msg.eml").to_str().unwrap(),
        ],
    );
    assert!(signed.contains("multipart/signed") && !signed.contains("enveloped-data"));
    d.ok(
        "alice",
        &[
            "outgoing",
            "--group",
            "support",
            "--encrypt",
            "--cipher",
            "aes-256-gcm",
            "-i",
            d.path("msg.eml").to_str().unwrap(),
            "-o",
            d.path("out.eml").to_str().unwrap(),
        ],
    );
    assert!(
        std::fs::read_to_string(d.path("out.eml"))
            .unwrap()
            .contains("authEnveloped-data")
    );

    // Bob's side reads it.
    d.ok(
        "bob",
        &["cert", "import", &pki(files::CHAIN), &pki(files::BOB)],
    );
    d.ok("bob", &["key", "import", &pki(files::BOB_KEY)]);
    d.ok("bob", &["enable"]);
    let report_path = d.path("report.json");
    let readable = d.ok(
        "bob",
        &[
            "incoming",
            "-i",
            d.path("out.eml").to_str().unwrap(),
            "--report",
            report_path.to_str().unwrap(),
        ],
    );
    assert!(readable.contains("It is solved."), "{readable}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(report_path).unwrap()).unwrap();
    assert_eq!(report["type"], "S/MIME");
    assert_eq!(report["encrypted"], true);
    assert_eq!(report["encryption"]["code"], "decrypted");
    assert_eq!(report["sign"]["code"], "verified");
    assert_eq!(
        report["sign"]["signer"]["email_addresses"][0],
        "alice@example.org"
    );

    // A failed verification still exits 0: the message was read.
    std::fs::write(
        d.path("plain.eml"),
        signed.replace("It is solved.", "It is not solved."),
    )
    .unwrap();
    let out = d.run(
        "bob",
        &[
            "incoming",
            "-i",
            d.path("plain.eml").to_str().unwrap(),
            "--report",
            "-",
        ],
    );
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad_signature"));

    // Not a message at all: an error.
    std::fs::write(d.path("empty.eml"), "").unwrap();
    let out = d.run(
        "bob",
        &["incoming", "-i", d.path("empty.eml").to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an RFC 5322 message"));
}

/// A signature that repeats its digestAlgorithms entry 15,000 times (about
/// 270 KB) once overflowed OpenSSL's stack and killed the process. Now it
/// is counted first: the report says malformed and names the field, for the
/// detached and the opaque form alike.
#[test]
fn fifteen_thousand_digest_algorithms_are_reported_not_fatal() {
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::x509::X509;
    use testpki::der;

    let d = Dir::new();
    d.ok(
        "bob",
        &["cert", "import", &pki(files::CHAIN), &pki(files::ALICE)],
    );
    d.ok("bob", &["enable"]);
    let alice = X509::from_pem(&std::fs::read(pki(files::ALICE)).unwrap()).unwrap();
    let key = PKey::private_key_from_pem(&std::fs::read(pki(files::ALICE_KEY)).unwrap()).unwrap();
    let entity = b"Content-Type: text/plain\r\n\r\nhello\r\n";
    let header = b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: x\r\n";
    for detached in [true, false] {
        let der = testpki::hostile::SignedData {
            content: entity,
            detached,
            signer: (&alice, &key),
            digest: MessageDigest::sha256(),
            signing_time: None,
            certificates: vec![&alice],
        }
        .to_der()
        .unwrap();
        let hostile = der::repeat_first_child(&der, der::cms::DIGEST_ALGORITHMS, 15_000);
        let message = if detached {
            smime::mime::multipart_signed(header, entity, &hostile, "sha-256")
        } else {
            smime::mime::pkcs7_mime(header, "signed-data", &hostile)
        };
        assert!(message.len() > 260_000, "{}", message.len());
        std::fs::write(d.path("in.eml"), &message).unwrap();
        let input = d.path("in.eml").display().to_string();
        let report = d.path("report.json").display().to_string();
        let out = d.path("out.eml").display().to_string();
        d.ok(
            "bob",
            &["incoming", "-i", &input, "-o", &out, "--report", &report],
        );
        let v: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        assert_eq!(v["sign"]["code"], "malformed", "{v}");
        let comment = v["sign"]["comment"].as_str().unwrap();
        assert!(comment.contains("digestAlgorithms"), "{comment}");
    }
}

/// A message larger than the service accepts (`max_message_mib`) is not
/// read whole: a file is refused by its size, a stream one byte past the
/// limit.
#[test]
fn a_message_over_max_message_mib_is_refused_before_it_is_read() {
    use std::io::Write as _;
    use std::process::Stdio;

    let d = Dir::new();
    let config = d.path("smimed.toml");
    std::fs::write(&config, "max_message_mib = 1\n").unwrap();
    let config = config.to_str().unwrap();
    d.ok("alice", &["enable"]);
    let refused = |out: Output, what: &str| {
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{err}");
        assert!(
            err.contains(what) && err.contains("max_message_mib = 1"),
            "{err}"
        );
        assert!(out.stdout.is_empty());
    };

    // A file of 50 MiB (sparse: refused by its size, never read).
    let huge = d.path("huge.eml");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(50 << 20)
        .unwrap();
    let huge = huge.to_str().unwrap();
    for command in ["incoming", "outgoing"] {
        let mut args = vec!["--config", config, command, "-i", huge];
        if command == "outgoing" {
            args.extend(["--from", "alice@example.org"]);
        }
        refused(d.run("alice", &args), "52428800 bytes");
    }
    // A device that never ends, and standard input one byte over 1 MiB.
    refused(
        d.run(
            "alice",
            &["--config", config, "incoming", "-i", "/dev/zero"],
        ),
        "/dev/zero: more than 1048576 bytes",
    );
    let mut child = d
        .command("alice", &["--config", config, "incoming"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut message = MESSAGE.as_bytes().to_vec();
    message.resize((1 << 20) + 1, b'x');
    // The CLI stops reading at the limit: the rest of the write may fail.
    let _ = stdin.write_all(&message);
    drop(stdin);
    refused(
        child.wait_with_output().unwrap(),
        "standard input: more than 1048576 bytes",
    );

    // One byte less is read and processed.
    message.truncate(1 << 20);
    let exact = d.path("exact.eml");
    std::fs::write(&exact, &message).unwrap();
    let out = d.ok(
        "alice",
        &[
            "--config",
            config,
            "incoming",
            "-i",
            exact.to_str().unwrap(),
        ],
    );
    assert!(out.starts_with("From: Support"), "{}", &out[..80]);
}
