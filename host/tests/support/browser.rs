//! Debian's Chromium driven over WebDriver (chromedriver, `fantoccini`),
//! for the browser tests. Included with `#[path]` by the tests that use it.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::ClientBuilder;

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Chromium and chromedriver, or why the test cannot run (it fails under CI).
pub fn browser_installed() -> bool {
    let installed = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if !installed {
        assert!(std::env::var_os("CI").is_none(), "install Chromium: apt-get install chromium chromium-driver");
        eprintln!("skipped: no {CHROMIUM} or {CHROMEDRIVER} (apt-get install chromium chromium-driver)");
    }
    installed
}

/// The emulator with its demo org, for a page to work against.
pub async fn demo_emulator() -> casebridge_emulator::RunningEmulator {
    let options = casebridge_emulator::EmulatorOptions {
        seed: casebridge_emulator::Seed::Demo,
        ..casebridge_emulator::EmulatorOptions::default()
    };
    casebridge_emulator::start(options).await.expect("the emulator starts")
}

/// chromedriver on a free port, stopped when dropped.
pub struct Driver(Child, u16);

impl Driver {
    pub fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver listens");
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver(child, port)
    }

    /// A headless browser session with a window of `width`×`height`.
    pub async fn browser(&self, width: u32, height: u32) -> fantoccini::Client {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({"binary": CHROMIUM, "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", format!("--window-size={width},{height}")]}),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", self.1))
            .await
            .expect("a browser session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
