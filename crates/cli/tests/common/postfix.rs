//! A private Postfix instance for gateway tests.
//!
//! [`Postfix::start`] writes a complete configuration into a temporary
//! directory (queue, data, Maildirs and log included), adds the
//! `<!-- postfix:main.cf -->` and `<!-- postfix:master.cf -->` blocks of
//! `docs/gateway.md` (so the documented configuration is the tested one, with
//! its ports replaced by free loopback ports) and starts Postfix with
//! `postfix -c DIR start`. Nothing system-wide is read or changed: the system
//! `/etc/postfix` may hold no `main.cf` at all. Dropping the [`Postfix`] stops
//! it.
//!
//! Mail for `<local>@example.org` and `<local>@example.net` (the locals in
//! [`MAILBOXES`]) is delivered by Postfix's `virtual` agent to Maildirs that
//! [`Postfix::wait_for_mail`] reads.
//!
//! Needs root (Postfix's master runs as root) and the Debian `postfix`
//! package. Without them, `start` returns `None` after saying the test is
//! skipped, unless `CI` is set: then it panics.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The gateway documentation the Postfix configuration is read from.
const GATEWAY_DOC: &str = include_str!("../../../../docs/gateway.md");

const POSTFIX: &str = "/usr/sbin/postfix";
const POSTQUEUE: &str = "/usr/sbin/postqueue";

/// The local parts that have a mailbox in each of `example.org` and
/// `example.net` (Postfix refuses regexp substitution in
/// `virtual_mailbox_maps`, so the addresses are listed).
pub const MAILBOXES: &[&str] = &[
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "grace",
    "mallory",
    "helpdesk",
    "postmaster",
];
const DOMAINS: &[&str] = &["example.org", "example.net"];

/// The documented ports, replaced by the test's.
const DOC_SUBMISSION: &str = "127.0.0.1:2525";
const DOC_FILTER_OUTGOING: &str = "[127.0.0.1]:10025";
const DOC_FILTER_INCOMING: &str = "[127.0.0.1]:10027";
const DOC_REINJECT: &str = "127.0.0.1:10026";

/// Postfix's `myhostname` in the private instance.
pub const HOSTNAME: &str = "postfix.test";

/// A running private Postfix. Stopped on drop.
pub struct Postfix {
    dir: tempfile::TempDir,
    /// Helpdesk submission smtpd (the doc's `127.0.0.1:2525`): filtered
    /// through `filter_outgoing`.
    pub submission: u16,
    /// Internet-facing smtpd (the doc's `smtp inet`, port 25): filtered
    /// through `filter_incoming`.
    pub mx: u16,
    /// Reinjection smtpd (the doc's `127.0.0.1:10026`): no filter, delivers.
    pub reinject: u16,
    /// Where Postfix delivers submission mail for filtering (the doc's 10025).
    pub filter_outgoing: u16,
    /// Where Postfix delivers MX mail for filtering (the doc's 10027).
    pub filter_incoming: u16,
    filters_outgoing: Vec<u16>,
    filters_incoming: Vec<u16>,
}

impl Postfix {
    /// Writes the configuration and starts Postfix. `filter_outgoing` and
    /// `filter_incoming` are where smimed (or a test filter) listens,
    /// `reinject` the port Postfix's reinjection smtpd listens on. The
    /// submission and MX ports are picked here.
    ///
    /// `None` (with a "skipped" line on stderr) when Postfix is not installed
    /// or we are not root, and `CI` is unset; a panic when `CI` is set.
    pub fn start(filter_outgoing: u16, filter_incoming: u16, reinject: u16) -> Option<Postfix> {
        Postfix::start_instances(&[filter_outgoing], &[filter_incoming], reinject)
    }

    /// The same with several smimed instances: the documented nexthop is
    /// replaced by a list (`[127.0.0.1]:P1,[127.0.0.1]:P2`), which Postfix
    /// (3.5 and later) tries in order, as docs/gateway.md says for several
    /// instances. `filter_outgoing` and `filter_incoming` are the first.
    pub fn start_instances(
        filters_outgoing: &[u16],
        filters_incoming: &[u16],
        reinject: u16,
    ) -> Option<Postfix> {
        if let Some(why) = unavailable() {
            if std::env::var_os("CI").is_some() {
                panic!("postfix is required in CI: {why}");
            }
            eprintln!("skipped: {why}");
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("smimed-postfix.")
            .tempdir()
            .unwrap();
        let pf = Postfix {
            dir,
            submission: super::free_port(),
            mx: super::free_port(),
            reinject,
            filter_outgoing: filters_outgoing[0],
            filter_incoming: filters_incoming[0],
            filters_outgoing: filters_outgoing.to_vec(),
            filters_incoming: filters_incoming.to_vec(),
        };
        pf.write_config();
        pf.postfix(&["check"]);
        pf.postfix(&["start"]);
        pf.wait_listening();
        Some(pf)
    }

    /// The temporary directory: `etc/` (configuration), `queue/`, `data/`,
    /// `mail/` (Maildirs) and `maillog`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn config_dir(&self) -> PathBuf {
        self.dir().join("etc")
    }

    fn write_config(&self) {
        let root = self.dir();
        // Postfix's unprivileged daemons (user postfix) must reach data/ and
        // mail/ below the temporary directory, which tempfile makes 0700.
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
        let (uid, gid) = postfix_ids();
        let etc = root.join("etc");
        std::fs::create_dir(&etc).unwrap();
        // The queue directory must exist and belong to root; `postfix check`
        // creates its subdirectories with the right owners.
        std::fs::create_dir(root.join("queue")).unwrap();
        let mail = root.join("mail");
        std::fs::create_dir(&mail).unwrap();
        std::os::unix::fs::chown(&mail, Some(uid), Some(gid)).unwrap();

        let mut mailboxes = String::new();
        for domain in DOMAINS {
            for local in MAILBOXES {
                mailboxes.push_str(&format!("{local}@{domain} {domain}/{local}/\n"));
            }
        }
        std::fs::write(etc.join("vmailbox"), mailboxes).unwrap();

        let r = root.display();
        let main = format!(
            "# Private test instance (crates/cli/tests/common/postfix.rs).\n\
             compatibility_level = 3.6\n\
             queue_directory = {r}/queue\n\
             data_directory = {r}/data\n\
             command_directory = /usr/sbin\n\
             daemon_directory = /usr/lib/postfix/sbin\n\
             meta_directory = /etc/postfix\n\
             shlib_directory = /usr/lib/postfix\n\
             mail_owner = postfix\n\
             setgid_group = postdrop\n\
             inet_interfaces = 127.0.0.1\n\
             inet_protocols = ipv4\n\
             myhostname = {HOSTNAME}\n\
             mydomain = {HOSTNAME}\n\
             myorigin = {HOSTNAME}\n\
             mydestination =\n\
             mynetworks = 127.0.0.0/8\n\
             relay_domains =\n\
             alias_maps =\n\
             alias_database =\n\
             biff = no\n\
             smtputf8_enable = no\n\
             virtual_mailbox_domains = {domains}\n\
             virtual_mailbox_base = {r}/mail\n\
             virtual_mailbox_maps = texthash:{r}/etc/vmailbox\n\
             virtual_uid_maps = static:{uid}\n\
             virtual_gid_maps = static:{gid}\n\
             # No syslog here: postlogd writes this file (maillog_file must\n\
             # be below one of maillog_file_prefixes).\n\
             maillog_file = {r}/maillog\n\
             maillog_file_prefixes = {r}\n\
             # Retries within a test's patience.\n\
             minimal_backoff_time = 1s\n\
             maximal_backoff_time = 2s\n\
             queue_run_delay = 1s\n\
             smtp_connect_timeout = 5s\n\
             delay_warning_time = 0\n\
             maximal_queue_lifetime = 1h\n\
             bounce_queue_lifetime = 1h\n\
             smtpd_error_sleep_time = 0\n\
             # Not the Postfix of a real site: anything unknown fails loudly.\n\
             default_transport = error:no delivery outside the test domains\n\
             relay_transport = error:no relay in tests\n\
             \n\
             # --- docs/gateway.md, postfix:main.cf ---\n\
             {doc}",
            domains = DOMAINS.join(" "),
            doc = doc_block("postfix:main.cf"),
        );
        std::fs::write(etc.join("main.cf"), main).unwrap();

        let master = format!(
            "# Private test instance (crates/cli/tests/common/postfix.rs): the\n\
             # Debian services Postfix needs, not chrooted.\n\
             {BASE_MASTER_CF}\n\
             # --- docs/gateway.md, postfix:master.cf (test ports) ---\n\
             {doc}",
            doc = self.master_cf_block(),
        );
        std::fs::write(etc.join("master.cf"), master).unwrap();
    }

    /// The doc's master.cf block with the test's ports.
    fn master_cf_block(&self) -> String {
        let mut block = String::new();
        for line in doc_block("postfix:master.cf").lines() {
            let mut words = line.split_whitespace();
            if !line.starts_with(char::is_whitespace)
                && words.next() == Some("smtp")
                && words.next() == Some("inet")
            {
                // The internet-facing `smtp inet` (port 25) on a loopback port.
                block.push_str(&format!("127.0.0.1:{}{}\n", self.mx, &line[4..]));
            } else {
                block.push_str(line);
                block.push('\n');
            }
        }
        assert!(
            block.contains(&format!("127.0.0.1:{}", self.mx)),
            "docs/gateway.md: no `smtp inet` service in the master.cf block"
        );
        for (doc, ports) in [
            (DOC_SUBMISSION, &[self.submission][..]),
            (DOC_FILTER_OUTGOING, &self.filters_outgoing[..]),
            (DOC_FILTER_INCOMING, &self.filters_incoming[..]),
            (DOC_REINJECT, &[self.reinject][..]),
        ] {
            assert!(
                block.contains(doc),
                "docs/gateway.md: the master.cf block lacks {doc}"
            );
            let (host, _) = doc.rsplit_once(':').unwrap();
            let list: Vec<String> = ports.iter().map(|p| format!("{host}:{p}")).collect();
            block = block.replace(doc, &list.join(","));
        }
        block
    }

    /// Runs `postfix -c DIR <args>`, panicking with its output and the
    /// maillog when it fails.
    fn postfix(&self, args: &[&str]) {
        let out = Command::new(POSTFIX)
            .arg("-c")
            .arg(self.config_dir())
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "postfix {args:?} failed ({}): {}{}\nmaillog:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
    }

    /// Waits until the smtpds accept connections.
    fn wait_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        for port in [self.submission, self.mx, self.reinject] {
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "postfix does not listen on 127.0.0.1:{port}\nmaillog:\n{}",
                    self.log()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Sends one message over SMTP to `127.0.0.1:port` (see [`smtp_send`]).
    pub fn send(&self, port: u16, from: &str, to: &[&str], message: &[u8]) -> Result<(), String> {
        smtp_send(port, from, to, message)
    }

    /// The messages in `address`'s Maildir (`new/`), oldest first, once
    /// `count` have arrived; after `timeout`, whatever is there (so the
    /// caller's assert shows what did arrive).
    pub fn wait_for_mail(&self, address: &str, count: usize, timeout: Duration) -> Vec<Vec<u8>> {
        let (local, domain) = address.split_once('@').expect("an address local@domain");
        let new = self.dir().join("mail").join(domain).join(local).join("new");
        let deadline = Instant::now() + timeout;
        loop {
            let mut files: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(&new)
                .map(|entries| {
                    entries
                        .filter_map(|e| e.ok())
                        .map(|e| {
                            let modified = e.metadata().and_then(|m| m.modified()).unwrap();
                            (modified, e.path())
                        })
                        .collect()
                })
                .unwrap_or_default();
            if files.len() >= count || Instant::now() >= deadline {
                files.sort();
                return files
                    .into_iter()
                    .map(|(_, path)| std::fs::read(path).unwrap())
                    .collect();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Asks Postfix to retry every deferred message now (`postqueue -f`).
    pub fn flush(&self) {
        let out = Command::new(POSTQUEUE)
            .arg("-c")
            .arg(self.config_dir())
            .arg("-f")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "postqueue -f: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Messages in the queue (incoming, active, deferred, hold), from
    /// `postqueue -j`.
    pub fn queue_len(&self) -> usize {
        let out = Command::new(POSTQUEUE)
            .arg("-c")
            .arg(self.config_dir())
            .arg("-j")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "postqueue -j: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
            .split(|&b| b == b'\n')
            .filter(|line| line.starts_with(b"{"))
            .count()
    }

    /// Waits until the maillog contains `needle`; whether it did.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.log().contains(needle) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Postfix's log so far (for assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir().join("maillog")).unwrap_or_default()
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let pid = std::fs::read_to_string(self.dir().join("queue/pid/master.pid"))
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok());
        let _ = Command::new(POSTFIX)
            .arg("-c")
            .arg(self.config_dir())
            .arg("stop")
            .output();
        // `postfix stop` signals the master; wait for it to be gone before
        // the temporary directory is removed.
        if let Some(pid) = pid {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            if Path::new(&format!("/proc/{pid}")).exists() {
                let _ = Command::new(POSTFIX)
                    .arg("-c")
                    .arg(self.config_dir())
                    .arg("abort")
                    .output();
            }
        }
    }
}

/// Why Postfix cannot run here, if it cannot.
fn unavailable() -> Option<String> {
    if !Path::new(POSTFIX).exists() {
        return Some(format!(
            "postfix is not installed ({POSTFIX} is missing; Debian: \
             `apt-get install postfix`, \"No configuration\")"
        ));
    }
    if std::fs::metadata("/proc/self").map(|m| m.uid()).ok() != Some(0) {
        return Some("postfix tests need root (Postfix's master runs as root)".into());
    }
    None
}

/// The uid and gid of the `postfix` user (mail_owner), from /etc/passwd:
/// the owner of the Maildirs.
fn postfix_ids() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    passwd
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.len() > 3 && fields[0] == "postfix")
                .then(|| (fields[2].parse().unwrap(), fields[3].parse().unwrap()))
        })
        .expect("no postfix user in /etc/passwd")
}

/// The fenced block right after `<!-- name -->` in docs/gateway.md.
fn doc_block(name: &str) -> String {
    let marker = format!("<!-- {name} -->");
    let mut lines = GATEWAY_DOC
        .lines()
        .skip_while(|l| l.trim() != marker)
        .skip(1);
    assert!(
        lines.next().is_some_and(|l| l.starts_with("```")),
        "docs/gateway.md: no fenced block right after {marker}"
    );
    let mut block = String::new();
    for line in lines.by_ref() {
        if line.starts_with("```") {
            return block;
        }
        block.push_str(line);
        block.push('\n');
    }
    panic!("docs/gateway.md: the block after {marker} is not closed");
}

/// A tiny blocking SMTP client: EHLO, MAIL, RCPT for each of `to`, DATA (line
/// ends made CRLF, dot-stuffed), QUIT. `Err` with the command and the
/// server's reply when a step is not accepted.
pub fn smtp_send(port: u16, from: &str, to: &[&str], message: &[u8]) -> Result<(), String> {
    let stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut step = |command: Option<&[u8]>, expect: u16| -> Result<(), String> {
        let shown = command.map_or("greeting".to_string(), |c| {
            String::from_utf8_lossy(c.strip_suffix(b"\r\n").unwrap_or(c))
                .chars()
                .take(80)
                .collect()
        });
        if let Some(c) = command {
            writer.write_all(c).map_err(|e| format!("{shown}: {e}"))?;
        }
        let (code, text) = read_reply(&mut reader).map_err(|e| format!("{shown}: {e}"))?;
        if code != expect {
            return Err(format!("{shown}: {text}"));
        }
        Ok(())
    };
    step(None, 220)?;
    step(Some(b"EHLO client.test\r\n"), 250)?;
    step(Some(format!("MAIL FROM:<{from}>\r\n").as_bytes()), 250)?;
    for rcpt in to {
        step(Some(format!("RCPT TO:<{rcpt}>\r\n").as_bytes()), 250)?;
    }
    step(Some(b"DATA\r\n"), 354)?;
    step(Some(&dot_stuff(message)), 250)?;
    step(Some(b"QUIT\r\n"), 221)?;
    Ok(())
}

/// `message` as DATA content: CRLF line ends, leading dots doubled, and the
/// final `.` line.
pub fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 64);
    let mut start_of_line = true;
    for (i, &b) in message.iter().enumerate() {
        if start_of_line && b == b'.' {
            out.push(b'.');
        }
        if b == b'\n' && (i == 0 || message[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
        start_of_line = b == b'\n';
    }
    if !start_of_line {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// One SMTP reply (all lines of a multi-line one): its code and text.
pub fn read_reply(reader: &mut impl BufRead) -> Result<(u16, String), String> {
    let mut text = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            return Err(format!("connection closed after {text:?}"));
        }
        text.push_str(&line);
        let bytes = line.as_bytes();
        if bytes.len() < 4 || bytes[3] != b'-' {
            let code = line
                .get(..3)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| format!("bad reply {text:?}"))?;
            return Ok((code, text.trim_end().to_string()));
        }
    }
}

/// The stock Debian master.cf services Postfix itself needs (chroot off:
/// the queue is in a temporary directory), plus postlogd for `maillog_file`.
const BASE_MASTER_CF: &str = "\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
";
