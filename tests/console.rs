//! The moderation console in a real browser: Debian's Chromium, headless, driven over
//! WebDriver by `chromedriver` (a few JSON calls, written here rather than pulled in as a
//! client crate). `tools/test.sh` installs both; without them the test is skipped, except
//! under CI, where it fails.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{near_duplicate, repo, stockroom};
use serde_json::{Value, json};

/// A console session lasts this long here, so that the test can watch one expire.
const SESSION_SECS: u64 = 40;

/// One HTTP/1.1 exchange, read to the connection's end: status, headers, body.
fn http(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    stream.write_all(&bytes).expect("send");
    // Read the head, then exactly `Content-Length` bytes (chromedriver keeps connections
    // open whatever the request says), or to the end when there is no length.
    let mut raw = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let end = loop {
        if let Some(end) = raw.windows(4).position(|window| window == b"\r\n\r\n") {
            break end;
        }
        let read = stream.read(&mut chunk).expect("read");
        assert!(read > 0, "connection closed before a response head");
        raw.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("status");
    let length = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse::<usize>().ok())
            .flatten()
    });
    let mut body = raw[end + 4..].to_vec();
    match length {
        Some(length) => {
            while body.len() < length {
                let read = stream.read(&mut chunk).expect("read");
                assert!(read > 0, "connection closed mid-body");
                body.extend_from_slice(&chunk[..read]);
            }
            body.truncate(length);
        }
        None => {
            let _ = stream.read_to_end(&mut body);
        }
    }
    (status, head, body)
}

/// A WebDriver session on a chromedriver.
struct Browser {
    driver: Child,
    address: SocketAddr,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|body| body.to_string()).unwrap_or_default();
        let (status, _, answer) = http(
            self.address,
            method,
            &format!("/session/{}{path}", self.session),
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        let answer: Value = serde_json::from_slice(&answer).expect("WebDriver JSON");
        assert_eq!(status, 200, "{method} {path}: {answer}");
        answer["value"].clone()
    }

    fn start(driver_binary: &Path) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(driver_binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let address: SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(address).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        }}});
        let (status, _, answer) = http(
            address,
            "POST",
            "/session",
            &[("Content-Type", "application/json")],
            capabilities.to_string().as_bytes(),
        );
        let answer: Value = serde_json::from_slice(&answer).expect("JSON");
        assert_eq!(status, 200, "new session: {answer}");
        Browser {
            driver,
            address,
            session: answer["value"]["sessionId"]
                .as_str()
                .expect("session id")
                .to_string(),
            _profile: profile,
        }
    }

    fn go(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })));
    }

    fn url(&self) -> String {
        self.call("GET", "/url", None)
            .as_str()
            .expect("url")
            .to_string()
    }

    /// Waits (up to 10 s) until `script` returns `true` on a loaded page.
    fn wait_until(&self, script: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.script(script) != json!(true) {
            assert!(Instant::now() < deadline, "never true: {script}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits (up to 10 s) for the page's address to end with `suffix`: a form's submission
    /// and its redirect may still be under way when a click returns.
    fn wait_for(&self, suffix: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let url = self.url();
            let ready = self.script("return document.readyState");
            if url.ends_with(suffix) && ready == json!("complete") {
                return;
            }
            assert!(Instant::now() < deadline, "still at {url}, not …{suffix}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn find(&self, css: &str) -> String {
        let found = self.call(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        found["element-6066-11e4-a52e-4f735466cecf"]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_string()
    }

    fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css);
        self.call(
            "POST",
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        );
    }

    fn click(&self, css: &str) {
        let element = self.find(css);
        self.call(
            "POST",
            &format!("/element/{element}/click"),
            Some(json!({})),
        );
    }

    fn script(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
    }

    fn text(&self) -> String {
        self.script("return document.body.innerText")
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Saves a screenshot (for `docs/`) when `STOCKROOM_SCREENSHOTS` names a directory.
    fn screenshot(&self, name: &str) {
        let Ok(dir) = std::env::var("STOCKROOM_SCREENSHOTS") else {
            return;
        };
        let encoded = self.call("GET", "/screenshot", None);
        let png = base64(encoded.as_str().expect("base64"));
        std::fs::write(Path::new(&dir).join(name), png).expect("write screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = http(
            self.address,
            "DELETE",
            &format!("/session/{}", self.session),
            &[],
            b"",
        );
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let digits: Vec<u8> = text.bytes().filter(|c| *c != b'=').map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let mut word = 0u32;
        for (i, digit) in chunk.iter().enumerate() {
            word |= u32::from(*digit) << (18 - 6 * i);
        }
        out.extend_from_slice(&word.to_be_bytes()[1..chunk.len()]);
    }
    out
}

/// The server, killed when the test ends, passed or not.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A new member's id and owner key.
fn member(data: &Path, name: &str, role: &str) -> (String, String) {
    let output = stockroom()
        .args([
            "members",
            "add",
            "--name",
            name,
            "--role",
            role,
            "--tier",
            "registered",
            "--data",
        ])
        .arg(data)
        .output()
        .expect("members add");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let created: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    (
        created["id"].as_str().expect("id").to_string(),
        created["keys"][0].as_str().expect("key").to_string(),
    )
}

/// Issue 23: a moderator signs in with their key, sees each held upload beside its near
/// duplicate (both images load), approves one and rejects the other (each takes effect
/// over the API); a form without the CSRF token is refused; a non-moderator key is
/// refused; the page fits a phone's width; an expired session goes back to sign-in.
#[test]
fn a_moderator_works_the_queue_in_a_real_browser() {
    let driver = Path::new("/usr/bin/chromedriver");
    if !driver.exists() || !Path::new("/usr/bin/chromium").exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have chromium and chromium-driver (tools/test.sh installs them)"
        );
        eprintln!("skipped: install chromium and chromium-driver to run the browser test");
        return;
    }
    let data = tempfile::tempdir().expect("temp dir");
    let config = data.path().join("stockroom.toml");
    std::fs::write(
        &config,
        format!("[server]\nconsole_session_secs = {SESSION_SECS}\n[guard]\nenabled = false\n"),
    )
    .expect("config");
    let ingest = stockroom()
        .args(["ingest", "--manifest"])
        .arg(repo().join("corpus/manifest.jsonl"))
        .arg("--data")
        .arg(data.path())
        .output()
        .expect("ingest");
    assert!(
        ingest.status.success(),
        "{}",
        String::from_utf8_lossy(&ingest.stderr)
    );
    let (_, author) = member(data.path(), "Held Author", "author");
    let (_, moderator) = member(data.path(), "Console Moderator", "moderator");
    let (_, customer) = member(data.path(), "Just Customer", "customer");
    // A member the stockpiling detector flagged (written as the guard's sync writes it).
    let (hoarder_id, hoarder) = member(data.path(), "Hoarding Customer", "customer");
    stockroom_catalog::SqlCatalog::open(
        &data.path().join("catalog"),
        stockroom_catalog::Options::default(),
    )
    .expect("catalogue")
    .flag(&hoarder_id, "stockpiling: 900 originals in a day")
    .expect("flag");
    let mut server = stockroom()
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data")
        .arg(data.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("serve");
    let stdout = server.stdout.take().expect("stdout");
    let _server = Server(server);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("listening line");
    let listening: Value = serde_json::from_str(&line).expect("JSON");
    let address: SocketAddr = listening["listening"]
        .as_str()
        .expect("address")
        .parse()
        .expect("socket address");
    let base = format!("http://{address}");
    let as_author = format!("Bearer {author}");
    let mut held = Vec::new();
    for file in ["greenmeadow.jpg", "aqua.jpg"] {
        let (status, _, body) = http(
            address,
            "POST",
            &format!("/v1/assets?title=Copy%20of%20{file}"),
            &[("Authorization", &as_author)],
            &near_duplicate(file),
        );
        let body: Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(status, 202, "{body}");
        held.push(body["id"].as_str().expect("id").to_string());
    }

    let browser = Browser::start(driver);
    browser.go(&format!("{base}/console/"));
    assert!(
        browser.url().ends_with("/console/sign-in"),
        "{}",
        browser.url()
    );
    browser.type_into("#key", &customer);
    browser.click("button[type=submit]");
    // A click does not wait for the page it submits to: wait for the answer (under load
    // the old page was read).
    browser.wait_until(
        "return document.readyState === 'complete' && \
         document.body.innerText.includes('does not belong to a moderator')",
    );
    browser.type_into("#key", &moderator);
    browser.click("button[type=submit]");
    browser.wait_for("/console/");
    let signed_in = Instant::now();
    let page = browser.text();
    assert!(page.contains("Held uploads"), "{page}");
    for id in &held {
        assert!(page.contains(id.as_str()), "{id} in {page}");
    }
    // Every image of every pair has loaded.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let sizes = browser.script(
            "return Array.from(document.images).map(i => i.complete ? i.naturalWidth : -1)",
        );
        let sizes: Vec<i64> = sizes
            .as_array()
            .expect("sizes")
            .iter()
            .filter_map(Value::as_i64)
            .collect();
        assert!(sizes.len() >= 4, "two pairs: {sizes:?}");
        if sizes.iter().all(|width| *width > 0) {
            break;
        }
        assert!(
            Instant::now() < deadline && !sizes.contains(&0),
            "images that do not load: {sizes:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    browser.screenshot("console-queue.png");
    // At a phone's width nothing runs off the side.
    browser.call(
        "POST",
        "/window/rect",
        Some(json!({"width": 375, "height": 800})),
    );
    let wider = browser.script(
        "const w = document.documentElement.clientWidth; \
         return Array.from(document.querySelectorAll('body *')) \
           .filter(e => e.getBoundingClientRect().right > w + 1) \
           .map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right) + '/' + w)",
    );
    assert_eq!(wider, json!([]), "the queue fits 375 px");
    browser.call(
        "POST",
        "/window/rect",
        Some(json!({"width": 1280, "height": 900})),
    );

    // A form posted without the session's CSRF token is refused.
    let cookie = browser.call("GET", "/cookie/stockroom_console", None);
    assert_eq!(cookie["httpOnly"], true, "{cookie}");
    assert_eq!(cookie["sameSite"], "Strict", "{cookie}");
    let session = format!(
        "stockroom_console={}",
        cookie["value"].as_str().expect("value")
    );
    let (status, _, _) = http(
        address,
        "POST",
        &format!("/console/queue/{}/approve", held[0]),
        &[
            ("Cookie", &session),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        b"csrf=not-the-token",
    );
    assert_eq!(status, 403);

    // Approve the first, reject the second with a reason.
    browser.click(&format!(
        "form[action='/console/queue/{}/approve'] button",
        held[0]
    ));
    browser.wait_until(&format!(
        "return document.readyState === 'complete' && \
         !document.querySelector(\"form[action='/console/queue/{}/approve']\")",
        held[0]
    ));
    let page = browser.text();
    assert!(page.contains(held[1].as_str()), "{page}");
    browser.type_into(&format!("#reason-{}", held[1]), "Too close to the original");
    browser.click(&format!(
        "form[action='/console/queue/{}/reject'] button",
        held[1]
    ));
    browser.wait_until(
        "return document.readyState === 'complete' && \
         document.body.innerText.includes('Nothing is held')",
    );
    assert!(
        browser.text().contains("Nothing is held"),
        "{}",
        browser.text()
    );
    let (status, _, card) = http(address, "GET", &format!("/v1/assets/{}", held[0]), &[], b"");
    assert_eq!(status, 200, "approved: public");
    let card: Value = serde_json::from_slice(&card).expect("JSON");
    assert_eq!(card["status"], "active");
    let (status, _, card) = http(
        address,
        "GET",
        &format!("/v1/assets/{}", held[1]),
        &[("Authorization", &as_author)],
        b"",
    );
    assert_eq!(status, 200);
    let card: Value = serde_json::from_slice(&card).expect("JSON");
    assert_eq!(card["status"], "rejected");
    assert_eq!(card["rejection"], "Too close to the original");

    // The duplicate check: an image chosen in the browser, beside what it looks like.
    let photo = data.path().join("meadow-copy.jpg");
    std::fs::write(&photo, near_duplicate("greenmeadow.jpg")).expect("photo");
    browser.go(&format!("{base}/console/check"));
    browser.type_into("#image", &photo.display().to_string());
    browser.click("form[action='/console/check'] button");
    browser.wait_until(
        "return document.readyState === 'complete' && \
         document.body.innerText.includes('look like it')",
    );
    let sizes = browser
        .script("return Array.from(document.images).map(i => i.complete ? i.naturalWidth : -1)");
    let sizes = sizes.as_array().expect("sizes");
    assert!(
        sizes.len() >= 2 && sizes.iter().all(|width| width.as_i64() > Some(0)),
        "the checked image and its match: {sizes:?}"
    );
    browser.screenshot("console-check.png");

    // The audit history names both decisions, newest first; the other pages answer.
    browser.go(&format!("{base}/console/audit?action=reject"));
    let audit = browser.text();
    assert!(
        audit.contains("Too close to the original") && !audit.contains("approve\t"),
        "{audit}"
    );
    browser.go(&format!("{base}/console/audit"));
    assert!(browser.text().contains("approve"), "{}", browser.text());
    // The flagged member, blocked with a reason: it takes effect over the API.
    browser.go(&format!("{base}/console/members"));
    let page = browser.text();
    assert!(
        page.contains("Hoarding Customer") && page.contains("900 originals in a day"),
        "{page}"
    );
    browser.type_into(
        &format!("#block-{hoarder_id}"),
        "Bulk downloading for resale",
    );
    browser.click(&format!(
        "form[action='/console/members/{hoarder_id}/block'] button"
    ));
    let as_hoarder = format!("Bearer {hoarder}");
    let blocked = || {
        let (status, _, me) = http(
            address,
            "GET",
            "/v1/members/me",
            &[("Authorization", &as_hoarder)],
            b"",
        );
        assert_eq!(status, 200);
        serde_json::from_slice::<Value>(&me).expect("JSON")["status"] == "blocked"
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !blocked() {
        assert!(Instant::now() < deadline, "the block took effect");
        std::thread::sleep(Duration::from_millis(100));
    }

    // A shared list imported over the API; one entry lifted in the console with a reason.
    let as_moderator = format!("Bearer {moderator}");
    let list = format!("{}\n", "5a".repeat(32));
    let (status, _, imported) = http(
        address,
        "POST",
        "/v1/moderation/blocklist?source=shared-list",
        &[("Authorization", &as_moderator)],
        list.as_bytes(),
    );
    assert_eq!(status, 201);
    let entry = serde_json::from_slice::<Value>(&imported).expect("JSON")["first"].clone();
    browser.go(&format!("{base}/console/blocklist"));
    assert!(browser.text().contains("shared-list"), "{}", browser.text());
    browser.type_into(&format!("#lift-{entry}"), "The list's owner withdrew it");
    browser.click(&format!(
        "form[action='/console/blocklist/{entry}/lift'] button"
    ));
    browser.wait_until(
        "return document.readyState === 'complete' && \
         document.body.innerText.includes('The list\\'s owner withdrew it')",
    );
    let (status, _, entries) = http(
        address,
        "GET",
        "/v1/moderation/blocklist",
        &[("Authorization", &as_moderator)],
        b"",
    );
    assert_eq!(status, 200);
    let entries: Value = serde_json::from_slice(&entries).expect("JSON");
    let lifted = entries["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|item| item["id"] == entry)
        .expect("the entry")
        .clone();
    assert_eq!(
        lifted["lift_reason"], "The list's owner withdrew it",
        "{lifted}"
    );

    // The audit history, filtered by action, names the block and the lift with their reasons.
    browser.go(&format!("{base}/console/audit?action=block"));
    assert!(
        browser.text().contains("Bulk downloading for resale"),
        "{}",
        browser.text()
    );
    browser.go(&format!("{base}/console/audit?action=lift"));
    let audit = browser.text();
    assert!(
        audit.contains("The list's owner withdrew it") && !audit.contains("Bulk downloading"),
        "{audit}"
    );

    // Once the session has expired, the console sends the browser back to sign-in.
    let expiry = Duration::from_secs(SESSION_SECS + 1);
    if let Some(left) = expiry.checked_sub(signed_in.elapsed()) {
        std::thread::sleep(left);
    }
    browser.go(&format!("{base}/console/"));
    assert!(
        browser.url().ends_with("/console/sign-in"),
        "{}",
        browser.url()
    );
}
