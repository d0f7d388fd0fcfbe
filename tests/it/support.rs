//! Test harness: the real `marquee` binary on a loopback port with a temp data dir, media
//! made by the Debian `ffmpeg` program, and a small JSON client.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary under test: `MARQUEE_TEST_BIN` when set (the static build:
/// `MARQUEE_TEST_BIN=dist/marquee cargo test --test it -- sources origin`), else the one
/// cargo built for this test run.
pub fn bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| match std::env::var_os("MARQUEE_TEST_BIN") {
        Some(path) => std::path::absolute(PathBuf::from(path)).expect("MARQUEE_TEST_BIN"),
        None => PathBuf::from(env!("CARGO_BIN_EXE_marquee")),
    })
}

/// Whether the binary under test has the debug build's test hooks (the `x-marquee-path`
/// header, `MARQUEE_TEST_PUBLISH_PAUSE_MS`), as its `--version` says. A release binary
/// has none; the assertions that need them are skipped for it, and only for it.
pub fn has_test_hooks() -> bool {
    static HOOKS: OnceLock<bool> = OnceLock::new();
    *HOOKS.get_or_init(|| {
        let out = Command::new(bin()).arg("--version").output().unwrap();
        let version = String::from_utf8_lossy(&out.stdout).into_owned();
        match version.lines().find_map(|l| l.strip_prefix("build: ")) {
            Some("debug") => true,
            Some("release") => false,
            _ => panic!(
                "{} --version names no build kind: {version}",
                bin().display()
            ),
        }
    })
}

/// Keys of `[ingest]` in every test server's config: a small settle time keeps tests quick;
/// still longer than the gaps in the slow-copy test.
pub const TEST_INGEST: &str = "settle_secs = 2\nrescan_secs = 5\n";
/// Keys of `[transcode]` in every test server's config: retries wait 1 s (not 30) so crash
/// and failure tests finish quickly.
pub const TEST_TRANSCODE: &str = "retry_delay_secs = 1\n";

pub struct Server {
    child: Option<Child>,
    pub base: String,
    /// `https://…` when the server runs with `--tls` (`base` then only redirects).
    pub https: Option<String>,
    pub data: PathBuf,
    pub key: String,
    options: Options,
}

/// How a test server differs from the default one. Each config part is a run of
/// `key = value` lines added to its table.
#[derive(Default, Clone)]
pub struct Options {
    /// Top-level keys.
    pub top: String,
    /// Keys of `[ingest]`.
    pub ingest: String,
    /// Keys of `[transcode]`; the x264 preset is `ultrafast` unless given.
    pub transcode: String,
    /// Further tables, appended to the config file as they are.
    pub tables: String,
    /// Environment variables for the server process.
    pub env: Vec<(String, String)>,
    /// Run the server as an unprivileged user (`nobody` when the tests run as root), so
    /// file permissions apply to it.
    pub unprivileged: bool,
    /// `serve --tls`, HTTPS on a free loopback port.
    pub tls: bool,
    /// `--listen` (plain HTTP) instead of a free loopback port.
    pub listen: Option<String>,
    /// New media's titles start as drafts (the product's default). Without it a test
    /// server publishes them (`[catalog] new_titles = "published"`), so the tests of the
    /// media path play what they drop without an editor's step.
    pub draft_titles: bool,
}

impl Server {
    /// Starts a server on a fresh data dir with the test defaults plus `transcode_config`
    /// (keys of its `[transcode]` table; the x264 preset is `ultrafast` unless given).
    pub fn start(data: &Path, transcode_config: &str) -> Server {
        Self::start_with(
            data,
            Options {
                transcode: transcode_config.into(),
                ..Options::default()
            },
        )
    }

    pub fn start_with(data: &Path, options: Options) -> Server {
        std::fs::create_dir_all(data).unwrap();
        let preset = if options.transcode.contains("preset") {
            ""
        } else {
            "preset = \"ultrafast\"\n"
        };
        let catalog = if options.draft_titles {
            ""
        } else {
            "\n[catalog]\nnew_titles = \"published\"\n"
        };
        // Top-level keys must come before the first table.
        let config = format!(
            "{}\n[ingest]\n{TEST_INGEST}{}\n[transcode]\n{TEST_TRANSCODE}{preset}{}{catalog}\n{}",
            options.top, options.ingest, options.transcode, options.tables
        );
        std::fs::write(data.join("marquee.toml"), config).unwrap();
        let key = create_api_key(data);
        let mut server = Server {
            child: None,
            base: String::new(),
            https: None,
            data: data.to_path_buf(),
            key,
            options,
        };
        server.restart();
        server
    }

    /// (Re)starts the binary on the same data dir and waits until it accepts requests.
    pub fn restart(&mut self) {
        let mut command = if self.options.unprivileged && unsafe { libc::geteuid() } == 0 {
            unprivileged_command(&self.data)
        } else {
            Command::new(bin())
        };
        let listen = self.options.listen.as_deref().unwrap_or("127.0.0.1:0");
        command.args(["serve", "--listen", listen]);
        if self.options.tls {
            command
                .arg("--tls")
                .env("MARQUEE_TLS__LISTEN", "127.0.0.1:0");
        }
        command.envs(self.options.env.iter().map(|(k, v)| (k, v)));
        let mut child = command
            .arg("--data-dir")
            .arg(&self.data)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file(&self.data)))
            .spawn()
            .expect("start marquee serve");
        let Some((https, plain)) = listening_addresses(&mut child) else {
            let _ = child.wait();
            panic!(
                "marquee serve ended before listening; its log:\n{}",
                self.log()
            );
        };
        self.https = https.map(|addr| format!("https://{addr}"));
        self.base = format!("http://{plain}");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while agent()
            .get(format!("{}/healthz", self.url()))
            .call()
            .is_err()
        {
            assert!(Instant::now() < deadline, "server never answered /healthz");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("server running");
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        child.wait().unwrap()
    }

    pub fn inbox(&self) -> PathBuf {
        self.data.join("inbox")
    }

    pub fn healthy(&self) -> bool {
        agent()
            .get(format!("{}/healthz", self.url()))
            .call()
            .is_ok()
    }

    /// Where the application is: `https` under `--tls`, else `base`.
    pub fn url(&self) -> &str {
        self.https.as_deref().unwrap_or(&self.base)
    }

    /// GET with the API key; returns status and JSON body (errors included).
    pub fn get(&self, path: &str) -> (u16, Value) {
        get_with(&format!("{}{path}", self.url()), Some(&self.key))
    }

    /// `method path` with the test's API key and a JSON body; status and JSON answer.
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_as(&self.key, method, path, body)
    }

    /// `method path` with `key` (a narrower one than the test's) and a JSON body; status
    /// and JSON answer.
    pub fn call_as(
        &self,
        key: &str,
        method: &str,
        path: &str,
        body: impl Into<Option<Value>>,
    ) -> (u16, Value) {
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.url()))
            .header("Authorization", format!("Bearer {key}"))
            .header("Content-Type", "application/json");
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent();
        let mut resp = match body.into() {
            Some(b) => agent.run(request.body(b.to_string()).unwrap()),
            None => agent.run(request.body(()).unwrap()),
        }
        .unwrap();
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_json().unwrap_or(Value::Null))
    }

    /// A page without signing in: status and body.
    pub fn page(&self, path: &str) -> (u16, String) {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .new_agent();
        let mut resp = agent.get(format!("{}{path}", self.url())).call().unwrap();
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_to_string().unwrap_or_default())
    }

    pub fn assets(&self) -> Vec<Value> {
        let (status, body) = self.get("/api/v1/assets?limit=200");
        assert_eq!(status, 200, "{body}");
        body["items"].as_array().cloned().unwrap_or_default()
    }

    pub fn asset_titled(&self, title: &str) -> Option<Value> {
        self.assets().into_iter().find(|a| a["title"] == title)
    }

    /// Waits until the asset with `title` exists and is `ready` or `failed`.
    pub fn wait_finished(&self, title: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(a) = self.asset_titled(title)
                && (a["status"] == "ready" || a["status"] == "failed")
            {
                return a;
            }
            assert!(
                Instant::now() < deadline,
                "{title} did not finish in {timeout:?}; assets: {:#?}",
                self.assets()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    pub fn package_dir(&self, asset: &Value) -> PathBuf {
        self.data
            .join("library")
            .join(asset["id"].as_str().unwrap())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.join("test-server.log")).unwrap_or_default()
    }
}

/// The `host:port` a starting `marquee serve` prints on its first line; the rest of its
/// standard output is drained so the server never blocks on a full pipe.
pub fn listening_address(child: &mut Child) -> String {
    listening_addresses(child)
        .expect("server printed nothing")
        .1
}

/// The HTTPS address (printed first under `--tls`) and the plain one.
/// `None` when the server ends without printing (it could not start).
fn listening_addresses(child: &mut Child) -> Option<(Option<String>, String)> {
    let stdout = child.stdout.take().expect("stdout piped");
    let mut lines = BufReader::new(stdout).lines();
    let mut line = lines.next()?.ok()?;
    let after = |line: &str, scheme: &str| {
        line.split(scheme)
            .nth(1)
            .map(|url| url.trim_end_matches('/').to_string())
    };
    let https = after(&line, "https://");
    if https.is_some() {
        line = lines.next().expect("no plain address").unwrap();
    }
    let plain = after(&line, "http://").expect("no URL in the line");
    std::thread::spawn(move || for _ in lines {});
    Some((https, plain))
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The binary run as `nobody` through `setpriv`: a copy of it next to the data dir (the
/// build folder may not be readable by others), and the data dir handed to that user.
fn unprivileged_command(data: &Path) -> Command {
    const NOBODY: u32 = 65534;
    let parent = data.parent().unwrap();
    let exe = parent.join("marquee-unprivileged");
    if !exe.exists() {
        std::fs::copy(bin(), &exe).unwrap();
    }
    for dir in [parent, data] {
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    let status = Command::new("chown")
        .args(["-R", &format!("{NOBODY}:{NOBODY}")])
        .arg(data)
        .status()
        .unwrap();
    assert!(status.success());
    let mut command = Command::new("setpriv");
    command
        .args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
        ])
        .arg(&exe);
    command
}

fn log_file(data: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data.join("test-server.log"))
        .unwrap()
}

pub fn get_with(url: &str, key: Option<&str>) -> (u16, Value) {
    try_get(url, key).expect("request failed")
}

/// Like [`get_with`], but `None` when the server cannot be reached.
pub fn try_get(url: &str, key: Option<&str>) -> Option<(u16, Value)> {
    let mut req = agent()
        .get(url)
        .config()
        .http_status_as_error(false)
        .build();
    if let Some(key) = key {
        req = req.header("Authorization", &format!("Bearer {key}"));
    }
    let mut resp = req.call().ok()?;
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_json::<Value>().unwrap_or(Value::Null);
    Some((status, body))
}

/// The test client; it trusts any certificate (the TLS tests check certificates themselves).
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .disable_verification(true)
                .build(),
        )
        .build()
        .new_agent()
}

pub fn create_api_key(data: &Path) -> String {
    apikey_create(data, &["--name", "tests"])
}

/// `marquee apikey create` for `data` with `args` (`--name`, `--scope`, `--expires-in`):
/// the key it prints on its last line.
pub fn apikey_create(data: &Path, args: &[&str]) -> String {
    let out = Command::new(bin())
        .args(["apikey", "create"])
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "apikey create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string()
}

/// A key with only `scope` (named after it), as an operator would hand an editor's tool.
pub fn key_with(data: &Path, scope: &str) -> String {
    apikey_create(data, &["--name", scope, "--scope", scope])
}

/// Runs the Debian `ffmpeg` program (a test-only tool; Marquee never runs it).
pub fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A small test clip: `secs` seconds of `size` test pattern at `rate` fps, with a tone unless `audio` is false.
pub fn make_clip(path: &Path, size: &str, rate: u32, secs: f64, audio: bool) {
    let video = format!("testsrc2=size={size}:rate={rate}:duration={secs}");
    let tone = format!("sine=frequency=440:sample_rate=48000:duration={secs}");
    let p = path.to_str().unwrap();
    if audio {
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &video,
            "-f",
            "lavfi",
            "-i",
            &tone,
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
            "-movflags",
            "+faststart",
            p,
        ]);
    } else {
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &video,
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "+faststart",
            p,
        ]);
    }
}

/// Writes a file into the inbox atomically (write elsewhere, then rename in), as a careful
/// operator or `mv` would.
pub fn drop_into(inbox: &Path, source: &Path) -> PathBuf {
    let name = source.file_name().unwrap();
    let target = inbox.join(name);
    let staging = inbox
        .parent()
        .unwrap()
        .join(format!(".drop-{}", name.to_string_lossy()));
    std::fs::copy(source, &staging).unwrap();
    std::fs::rename(&staging, &target).unwrap();
    target
}

/// Child processes of `pid` (all threads), from /proc.
pub fn children_of(pid: u32) -> Vec<u32> {
    let mut kids = Vec::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            if let Ok(text) = std::fs::read_to_string(task.path().join("children")) {
                kids.extend(
                    text.split_whitespace()
                        .filter_map(|p| p.parse::<u32>().ok()),
                );
            }
        }
    }
    kids
}

pub fn process_exists(pid: u32) -> bool {
    // A zombie still has a /proc entry; count it as gone.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.split_whitespace().nth(2).is_none_or(|state| state != "Z"))
        .unwrap_or(false)
}

pub fn blake3_of(path: &Path) -> String {
    blake3::hash(&std::fs::read(path).unwrap())
        .to_hex()
        .to_string()
}

/// The URL path of a ready asset's first video segment, and its file in the library.
pub fn first_video_segment(server: &Server, asset: &Value) -> (String, PathBuf) {
    let dir = server.package_dir(asset);
    let rendition = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("video_"))
        .expect("a video rendition");
    let url = format!(
        "/p/public/{}/{rendition}/seg_00000.m4s",
        asset["id"].as_str().unwrap()
    );
    (url, dir.join(rendition).join("seg_00000.m4s"))
}

/// A field of `/proc/<pid>/status`, e.g. `VmRSS:` (in KiB).
pub fn proc_status(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// How far the resident memory of `pid` rises above `before_kib` (in MiB) at its peak over
/// the next two seconds.
pub fn rss_growth_mib(pid: u32, before_kib: u64) -> u64 {
    let mut peak = 0;
    for _ in 0..40 {
        peak = peak.max(proc_status(pid, "VmRSS:"));
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("RSS {before_kib} KiB before, {peak} KiB at the peak");
    peak.saturating_sub(before_kib) / 1024
}

/// Reads one response: the head (lower-cased) and as many body bytes as Content-Length says.
pub fn read_response(stream: &mut impl std::io::Read) -> (String, Vec<u8>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "{head:?}");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap().to_ascii_lowercase();
    let len = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .map_or(0, |v| v.trim().parse().unwrap());
    let mut body = vec![0; len];
    stream.read_exact(&mut body).unwrap();
    (head, body)
}

/// One email the capture server took.
#[derive(Debug, Clone)]
pub struct CapturedMail {
    pub from: String,
    pub to: Vec<String>,
    /// Headers and body as sent, dot-stuffing undone.
    pub data: String,
    /// The sign-in the client made before sending (`AUTH PLAIN`): `user password`.
    pub auth: Option<String>,
}

/// A small SMTP server on 127.0.0.1 (plain TCP; takes any `AUTH PLAIN` and notes it) that
/// keeps what it is sent: the outside mail server, for tests of email.
pub struct SmtpCapture {
    pub port: u16,
    mails: std::sync::Arc<std::sync::Mutex<Vec<CapturedMail>>>,
}

impl SmtpCapture {
    pub fn start() -> SmtpCapture {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mails: std::sync::Arc<std::sync::Mutex<Vec<CapturedMail>>> = Default::default();
        let kept = std::sync::Arc::clone(&mails);
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let kept = kept.clone();
                std::thread::spawn(move || smtp_session(conn, &kept));
            }
        });
        SmtpCapture { port, mails }
    }

    /// The `[smtp]` table that sends to this server.
    pub fn config(&self) -> String {
        format!(
            "[smtp]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\nfrom = \"Marquee <tv@example.com>\"\n",
            self.port
        )
    }

    pub fn mails(&self) -> Vec<CapturedMail> {
        self.mails.lock().unwrap().clone()
    }

    /// Waits (up to 10 s) until at least `n` emails have arrived.
    pub fn wait_for(&self, n: usize) -> Vec<CapturedMail> {
        for _ in 0..100 {
            let mails = self.mails();
            if mails.len() >= n {
                return mails;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{} emails arrived, not {n}", self.mails().len());
    }
}

fn smtp_session(conn: std::net::TcpStream, kept: &std::sync::Mutex<Vec<CapturedMail>>) {
    use std::io::Write;
    let mut out = conn.try_clone().unwrap();
    let mut lines = BufReader::new(conn);
    let mut reply = |text: &str| out.write_all(format!("{text}\r\n").as_bytes()).is_ok();
    reply("220 capture ESMTP");
    let (mut from, mut to, mut auth) = (String::new(), Vec::new(), None);
    let mut line = String::new();
    while lines.read_line(&mut line).unwrap_or(0) > 0 {
        let command = line.trim_end().to_string();
        line.clear();
        let verb = command.get(..4).unwrap_or_default().to_ascii_uppercase();
        let ok = match verb.as_str() {
            "EHLO" => reply("250-capture\r\n250 AUTH PLAIN"),
            "HELO" | "RSET" | "NOOP" => reply("250 capture"),
            "AUTH" => {
                use base64::Engine;
                let plain = command.split_whitespace().nth(2).unwrap_or_default();
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(plain)
                    .unwrap_or_default();
                let text = String::from_utf8_lossy(&decoded);
                auth = Some(text.trim_start_matches('\0').replace('\0', " "));
                reply("235 welcome")
            }
            "MAIL" => {
                from = command.get(10..).unwrap_or_default().to_string();
                reply("250 ok")
            }
            "RCPT" => {
                to.push(command.get(8..).unwrap_or_default().to_string());
                reply("250 ok")
            }
            "DATA" => {
                reply("354 go on");
                let mut data = String::new();
                while lines.read_line(&mut line).unwrap_or(0) > 0 && line != ".\r\n" {
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                    line.clear();
                }
                line.clear();
                let mail = CapturedMail {
                    from: std::mem::take(&mut from),
                    to: std::mem::take(&mut to),
                    data,
                    auth: auth.clone(),
                };
                kept.lock().unwrap().push(mail);
                reply("250 kept")
            }
            "QUIT" => {
                reply("221 bye");
                return;
            }
            _ => reply("502 not here"),
        };
        if !ok {
            return;
        }
    }
}

/// Seconds since the Unix epoch, as the server's clock reads them.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
