//! smimed with its SMTP gateway, for the gateway tests and bench: the
//! helpdesk's store and `smimed serve` with both listeners.
#![allow(dead_code)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use testpki::{P12_PASSWORD, files};

/// The authserv-id the tests give smimed.
pub const AUTHSERV: &str = "smimed.test";

pub fn pki(name: &str) -> String {
    testpki::Pki::committed().path(name).display().to_string()
}

/// Where a store is: a data dir, and the global options that put its
/// database elsewhere (PostgreSQL, a shared master key).
#[derive(Debug, Clone)]
pub struct Store {
    pub data: PathBuf,
    pub global: Vec<String>,
}

impl Store {
    /// SQLite in `data`.
    pub fn at(data: impl Into<PathBuf>) -> Store {
        Store {
            data: data.into(),
            global: Vec::new(),
        }
    }

    /// `smimed` with this store's options.
    fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_smimed"));
        c.arg("--data-dir")
            .arg(&self.data)
            .args(&self.global)
            .env_remove("SMIMED_DATA_DIR")
            .env_remove("SMIMED_DATABASE_URL")
            .env_remove("SMIMED_MASTER_KEY_FILE");
        c
    }
}

/// Runs `smimed ARGS` on `store`; its output, or a panic with the error.
pub fn smimed(store: &Store, args: &[&str]) -> String {
    let out = store.command().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "smimed {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The helpdesk's store: the group support <alice@example.org> with
/// Alice's key, the CAs, and the contacts Bob and Carol (not Dave).
pub fn helpdesk_store(dir: &Path) -> Store {
    helpdesk_store_in(Store::at(dir.join("helpdesk")), dir)
}

/// The same in `data` (a PostgreSQL database shared by two instances).
pub fn helpdesk_store_in(data: Store, dir: &Path) -> Store {
    let pass = dir.join("p12.pass");
    std::fs::write(&pass, P12_PASSWORD).unwrap();
    smimed(
        &data,
        &[
            "cert",
            "import",
            "--passphrase-file",
            &pass.display().to_string(),
            &pki(files::ALICE_P12),
            &pki(files::CHAIN),
            &pki(files::BOB),
            &pki(files::CAROL),
        ],
    );
    smimed(
        &data,
        &["group", "set", "support", "--email", "alice@example.org"],
    );
    smimed(&data, &["enable"]);
    data
}

/// `smimed serve` with both SMTP listeners.
pub struct Gateway {
    pub child: Child,
    pub http: u16,
    pub store: Store,
    /// The outgoing and incoming listeners' ports and the forward's.
    pub postfix_ports: (u16, u16, u16),
}

impl Gateway {
    /// Not started yet: the outgoing and incoming ports, and the forward.
    pub fn new(store: &Store, ports: (u16, u16, u16)) -> Gateway {
        Gateway {
            child: Command::new("true").spawn().unwrap(),
            http: 0,
            store: store.clone(),
            postfix_ports: ports,
        }
    }

    /// Started, as `pf`'s filter.
    pub fn start(store: &Store, pf: &super::postfix::Postfix) -> Gateway {
        let mut g = Gateway::new(store, (pf.filter_outgoing, pf.filter_incoming, pf.reinject));
        g.restart();
        g
    }

    pub fn restart(&mut self) {
        self.restart_with(&[]);
    }

    pub fn restart_with(&mut self, extra: &[&str]) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (out, inc, fwd) = self.postfix_ports;
        let http = super::free_port();
        self.http = http;
        self.child = self
            .store
            .command()
            .args(["serve", "--listen", &format!("127.0.0.1:{http}")])
            .args(["--smtp-outgoing", &format!("127.0.0.1:{out}")])
            .args(["--smtp-incoming", &format!("127.0.0.1:{inc}")])
            .args(["--smtp-forward", &format!("127.0.0.1:{fwd}")])
            .args(["--smtp-hostname", AUTHSERV])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", out)).is_err()
            || TcpStream::connect(("127.0.0.1", inc)).is_err()
        {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("smimed exited before its SMTP listeners were up: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "smimed's SMTP listeners did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn signal(&mut self, signal: &str) {
        Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A small message with a Message-ID made from `subject`.
pub fn message(from: &str, to: &str, subject: &str, extra: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{subject}@gateway.test>\r\n{extra}\r\n{body}\r\n"
    )
    .into_bytes()
}

/// smimed on the helpdesk's store behind a private Postfix (its filter and
/// reinjection ports free ones). Dropped in order: smimed, Postfix, files.
pub struct Chain {
    pub smimed: Gateway,
    pub pf: super::postfix::Postfix,
    pub store: Store,
    pub dir: tempfile::TempDir,
}

impl Chain {
    /// Started; `None` where Postfix cannot run (said on stderr; in CI a
    /// failure instead).
    pub fn start() -> Option<Chain> {
        let mut chain = Chain::prepared()?;
        chain.smimed.restart();
        Some(chain)
    }

    /// Postfix running, smimed not yet (`chain.smimed.restart()`).
    pub fn prepared() -> Option<Chain> {
        let ports = (super::free_port(), super::free_port(), super::free_port());
        let pf = super::postfix::Postfix::start(ports.0, ports.1, ports.2)?;
        let dir = tempfile::tempdir().unwrap();
        let store = helpdesk_store(dir.path());
        Some(Chain {
            smimed: Gateway::new(&store, ports),
            pf,
            store,
            dir,
        })
    }
}
