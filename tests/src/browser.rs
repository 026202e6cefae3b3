//! A real headless Chromium driven through chromedriver's W3C WebDriver HTTP API (Debian's
//! `chromium` and `chromium-driver`, installed by `make test`): just what the console test
//! needs — open a page, find, type, click, read text, upload a file, take a screenshot.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};
use tokio::process::{Child, Command};

/// The key under which WebDriver returns an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// One browser session; chromedriver (and Chromium with it) is killed on drop.
pub struct Browser {
    base: String,
    session: String,
    http: reqwest::Client,
    _driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium session, with the
    /// flags that keep it off the network (this machine has none) and a fresh profile.
    pub async fn start() -> Self {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
            listener.local_addr().unwrap().port()
        };
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver (make test installs chromium-driver)");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ready = http.get(format!("{base}/status")).send().await;
            if let Ok(response) = ready {
                if response.json::<Value>().await.is_ok_and(|status| status["value"]["ready"] == true) {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver did not become ready within 10 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().expect("a browser profile directory");
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--window-size=1500,1100".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args},
        }}});
        let answer: Value =
            http.post(format!("{base}/session")).json(&capabilities).send().await.unwrap().json().await.unwrap();
        let session =
            answer["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {answer}")).to_owned();
        Self { base, session, http, _driver: driver, _profile: profile }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.try_call(method, path, body).await.unwrap_or_else(|error| panic!("WebDriver {path}: {error}"))
    }

    /// A WebDriver call; `Err` with WebDriver's error object.
    async fn try_call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value, Value> {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let request = self.http.request(method, url);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        let answer: Value = request.send().await.expect("chromedriver answers").json().await.expect("JSON");
        match answer["value"].get("error") {
            Some(_) => Err(answer["value"].clone()),
            None => Ok(answer["value"].clone()),
        }
    }

    /// Runs `action` on the element `css` selects, finding it again when the page
    /// re-rendered it in between (the console redraws its tables every two seconds).
    async fn on_element(&self, css: &str, method: reqwest::Method, action: &str, body: Option<Value>) -> Value {
        for _ in 0..20 {
            let id = self.element(css).await;
            match self.try_call(method.clone(), &format!("/element/{id}{action}"), body.clone()).await {
                Ok(value) => return value,
                Err(error) if error["error"] == "stale element reference" => continue,
                Err(error) => panic!("WebDriver {action} on `{css}`: {error}"),
            }
        }
        panic!("`{css}` kept going stale");
    }

    /// Opens `url`.
    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url}))).await;
    }

    /// The element `css` selects, waiting up to 10 s for it to exist.
    async fn element(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let query = json!({"using": "css selector", "value": css});
            if let Ok(found) = self.try_call(reqwest::Method::POST, "/element", Some(query)).await {
                if let Some(id) = found[ELEMENT].as_str() {
                    return id.to_owned();
                }
            }
            assert!(Instant::now() < deadline, "no element `{css}` within 10 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Types `text` into the element `css` selects (for a file input: a file's path).
    pub async fn type_into(&self, css: &str, text: &str) {
        self.on_element(css, reqwest::Method::POST, "/value", Some(json!({"text": text}))).await;
    }

    /// Clicks the element `css` selects.
    pub async fn click(&self, css: &str) {
        self.on_element(css, reqwest::Method::POST, "/click", Some(json!({}))).await;
    }

    /// The visible text of the element `css` selects.
    pub async fn text(&self, css: &str) -> String {
        self.on_element(css, reqwest::Method::GET, "/text", None).await.as_str().unwrap_or_default().to_owned()
    }

    /// Waits until the text of `css` satisfies `check` (up to `timeout`); returns it.
    pub async fn wait_for_text(
        &self,
        css: &str,
        what: &str,
        timeout: Duration,
        check: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.text(css).await;
            if check(&text) {
                return text;
            }
            assert!(Instant::now() < deadline, "waited {timeout:?} for {what}; `{css}` shows:\n{text}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Saves a PNG of the window to `path`.
    pub async fn screenshot(&self, path: &Path) {
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap()).unwrap();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, bytes).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends the session (and Chromium) before chromedriver is killed.
        let url = format!("{}/session/{}", self.base, self.session);
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async { reqwest::Client::new().delete(url).send().await.ok() });
            }
        })
        .join();
    }
}
