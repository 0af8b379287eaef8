//! A real SMTP server for tests: aiosmtpd (from PyPI, installed by `scripts/test.sh` into the
//! folder `AIOSMTPD_PATH` names) on a free loopback port, storing what it receives in a maildir
//! of its own, which a test may stop and start again on the same port; and what it received,
//! parsed enough for tests (headers, the text and HTML parts decoded, links' tokens).

use std::{
    net::TcpStream,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant, SystemTime},
};

use crate::mongod::free_port;

mod received;

pub use received::{ReceivedMail, link_token};

/// How long the server may take to accept connections.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// An SMTP server that keeps every message it accepts.
pub struct SmtpServer {
    aiosmtpd: PathBuf,
    port: u16,
    folder: tempfile::TempDir,
    child: Option<Child>,
}

impl SmtpServer {
    /// Starts a server on a free port and waits until it accepts connections.
    pub async fn start() -> Self {
        let aiosmtpd = std::env::var_os("AIOSMTPD_PATH")
            .filter(|path| !path.is_empty())
            .map(PathBuf::from)
            .expect(
                "AIOSMTPD_PATH must name a folder with aiosmtpd installed; scripts/test.sh sets \
                 it (it installs the `mail` group of scripts/lib/tools.txt), or run \
                 `pip install --target /tmp/aiosmtpd aiosmtpd==1.4.6` and set \
                 AIOSMTPD_PATH=/tmp/aiosmtpd",
            );
        let mut server = Self {
            aiosmtpd,
            port: free_port(),
            folder: tempfile::tempdir().expect("a temporary directory"),
            child: None,
        };
        server.restart().await;
        server
    }

    /// `smtp://127.0.0.1:<port>`, for `SMTP_URL`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Kills the server, as an outage would; what it received is kept.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again (stopping it first if it runs) on the same port and maildir, and
    /// waits until it accepts connections.
    pub async fn restart(&mut self) {
        self.stop();
        let log = self.folder.path().join("aiosmtpd.log");
        let stderr = std::fs::File::create(&log).expect("a log file for aiosmtpd");
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{}", self.port))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(self.maildir())
            .env("PYTHONPATH", &self.aiosmtpd)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|err| panic!("could not start python3 -m aiosmtpd: {err}"));
        self.child = Some(child);
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!(
                    "aiosmtpd exited ({status}) before accepting connections (AIOSMTPD_PATH={}): {}",
                    self.aiosmtpd.display(),
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not accept connections within {START_DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Where the server stores messages (created by it).
    fn maildir(&self) -> PathBuf {
        self.folder.path().join("maildir")
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        let mut files: Vec<(SystemTime, PathBuf)> = ["new", "cur"]
            .iter()
            .filter_map(|sub| std::fs::read_dir(self.maildir().join(sub)).ok())
            .flatten()
            .filter_map(|entry| {
                let entry = entry.ok()?;
                Some((entry.metadata().ok()?.modified().ok()?, entry.path()))
            })
            .collect();
        files.sort();
        files
            .iter()
            .map(|(_, path)| ReceivedMail::read(path))
            .collect()
    }

    /// The messages received once there are at least `count`; fails the test, showing those
    /// received, if that takes longer than `within`.
    pub async fn wait_for(&self, count: usize, within: Duration) -> Vec<ReceivedMail> {
        let deadline = Instant::now() + within;
        loop {
            let messages = self.messages();
            if messages.len() >= count {
                return messages;
            }
            assert!(
                Instant::now() < deadline,
                "{count} messages expected within {within:?}, {} received: {messages:#?}",
                messages.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}
