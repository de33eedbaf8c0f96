//! A real S3 API for tests: moto's server, started on a free port as a child
//! process and killed when dropped. Not installed means the test fails and
//! says how to install it; it never skips.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const INSTALL_HINT: &str =
    "moto's S3 server is needed: run `pip install 'moto[server]'` (cargo xtask test does it)";

pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:<port>`, what the engine is given as `media.s3_endpoint`.
    pub endpoint: String,
    log: tempfile::NamedTempFile,
}

impl Moto {
    pub async fn start() -> Moto {
        let importable = Command::new("python3")
            .args(["-c", "import moto.server"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(importable, "{INSTALL_HINT}");

        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log = tempfile::NamedTempFile::new().expect("moto log file");
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(log.reopen().expect("moto log"))
            .stderr(log.reopen().expect("moto log"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start moto ({e}); {INSTALL_HINT}"));
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            log,
        };
        let http = reqwest::Client::new();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if http.get(&moto.endpoint).send().await.is_ok() {
                return moto;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "moto did not answer on {}; its log:\n{}",
            moto.endpoint,
            moto.log()
        );
    }

    /// Makes a bucket (moto checks no signature, so a plain PUT does).
    pub async fn create_bucket(&self, bucket: &str) {
        let response = reqwest::Client::new()
            .put(format!("{}/{bucket}", self.endpoint))
            .send()
            .await
            .expect("create bucket");
        assert!(
            response.status().is_success(),
            "create bucket: {}",
            response.status()
        );
    }

    /// A client of its own for `bucket`: what the tests see in the store is
    /// read past the engine. (Moto refuses unsigned reads of objects.)
    pub fn client(&self, bucket: &str) -> object_store::aws::AmazonS3 {
        object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region("us-east-1")
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_access_key_id("moto")
            .with_secret_access_key("moto")
            .build()
            .expect("S3 client for moto")
    }

    /// The object under `key`, if there is one.
    pub async fn object(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        use object_store::ObjectStore;
        match self.client(bucket).get(&key.into()).await {
            Ok(found) => Some(found.bytes().await.expect("object bytes").to_vec()),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => panic!("reading {key} from moto: {e}"),
        }
    }

    /// Every key in the bucket.
    pub async fn keys(&self, bucket: &str) -> Vec<String> {
        use futures_util::TryStreamExt;
        use object_store::ObjectStore;
        let listed: Vec<_> = self
            .client(bucket)
            .list(None)
            .try_collect()
            .await
            .expect("listing the bucket");
        listed.into_iter().map(|o| o.location.to_string()).collect()
    }

    /// Takes the store away, as an outage would.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}
