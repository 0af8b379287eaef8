//! A private `mongod` that a test may stop and restart.

use std::{
    net::TcpListener as StdListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// A private `mongod` on a free port with its own data directory, which a test can stop and
/// restart to watch a service lose and regain its database.
pub struct Mongod {
    binary: PathBuf,
    port: u16,
    data: tempfile::TempDir,
    child: Option<Child>,
    replica_set: bool,
}

impl Mongod {
    /// Starts a standalone server (no replica set, so no change streams) and waits until it
    /// accepts connections.
    pub async fn start_standalone() -> Self {
        Self::start(false).await
    }

    /// Starts a single-node replica set with test commands enabled (fail points), and waits until
    /// it is a writable primary.
    pub async fn start_replica_set() -> Self {
        let mongod = Self::start(true).await;
        let client = mongodb::Client::with_uri_str(mongod.uri()).await.unwrap();
        let admin = client.database("admin");
        let config = mongodb::bson::doc! {
            "_id": "rs0",
            "members": [{ "_id": 0, "host": format!("127.0.0.1:{}", mongod.port) }],
        };
        admin
            .run_command(mongodb::bson::doc! { "replSetInitiate": config })
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let hello = admin
                .run_command(mongodb::bson::doc! { "hello": 1 })
                .await
                .unwrap();
            if hello.get_bool("isWritablePrimary").unwrap_or(false) {
                break;
            }
            assert!(Instant::now() < deadline, "no primary within 30 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        mongod
    }

    async fn start(replica_set: bool) -> Self {
        let binary = std::env::var_os("MONGOD_BIN").map(PathBuf::from).expect(
            "MONGOD_BIN must name a mongod binary; scripts/test.sh sets it \
             (scripts/mongodb.sh install prints the path)",
        );
        let port = free_port();
        let data = tempfile::tempdir().expect("a temporary directory");
        let mut mongod = Self {
            binary,
            port,
            data,
            child: None,
            replica_set,
        };
        mongod.restart().await;
        mongod
    }

    /// The connection string of this server.
    pub fn uri(&self) -> String {
        format!("mongodb://127.0.0.1:{}/?directConnection=true", self.port)
    }

    /// Kills the server, as a crash or an outage would.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and data, and waits until it accepts connections.
    pub async fn restart(&mut self) {
        self.stop();
        let mut command = Command::new(&self.binary);
        if self.replica_set {
            command.args(["--replSet", "rs0", "--setParameter", "enableTestCommands=1"]);
        }
        let child = command
            .args(["--port", &self.port.to_string(), "--bind_ip", "127.0.0.1"])
            .arg("--dbpath")
            .arg(self.data.path())
            .args([
                "--wiredTigerCacheSizeGB",
                "0.25",
                "--wiredTigerEngineConfigString",
                "log=(prealloc=false,file_max=10MB)",
                "--setParameter",
                "diagnosticDataCollectionEnabled=false",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("could not start {}: {err}", self.binary.display()));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "mongod did not start within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Mongod {
    fn drop(&mut self) {
        self.stop();
    }
}

pub(crate) fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}
