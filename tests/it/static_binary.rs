//! The static build (`packaging/build-static.sh`, `dist/marquee`): these tests run only
//! when `MARQUEE_TEST_BIN` names the binary under test; otherwise they say so and pass.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{TEST_INGEST, TEST_TRANSCODE, bin, drop_into, get_with, make_clip, try_get};

fn binary_under_test() -> Option<&'static Path> {
    if std::env::var_os("MARQUEE_TEST_BIN").is_none() {
        eprintln!("skipped: MARQUEE_TEST_BIN does not name a static build to check");
        return None;
    }
    Some(bin())
}

fn output_of(program: &str, args: &[&str], file: &Path) -> String {
    let out = Command::new(program)
        .args(args)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_static_binary_names_no_shared_library_and_no_loader() {
    let Some(bin) = binary_under_test() else {
        return;
    };
    // Program headers: a dynamic executable has INTERP (the loader) and DYNAMIC (its
    // DT_NEEDED list); a static one has neither.
    let headers = output_of("readelf", &["--program-headers", "--wide"], bin);
    assert!(headers.contains("LOAD"), "not an ELF executable? {headers}");
    for kind in ["INTERP", "DYNAMIC"] {
        assert!(
            !headers.lines().any(|l| l.trim_start().starts_with(kind)),
            "{kind} program header present:\n{headers}"
        );
    }
    let described = output_of("file", &["--brief"], bin);
    assert!(described.contains("statically linked"), "{described}");
    let ldd = output_of("ldd", &[], bin);
    assert!(ldd.contains("not a dynamic executable"), "{ldd}");
    let version = output_of(bin.to_str().unwrap(), &["--version"], Path::new(""));
    assert!(version.contains("ffmpeg: linked in (static)"), "{version}");
}

/// A folder holding nothing but the binary, `/etc/hosts`, and empty `/proc`, `/tmp` and
/// `/data`: no loader, no libc, no FFmpeg, no NSS modules.
fn bare_root(root: &Path, bin: &Path) {
    for dir in ["etc", "proc", "tmp", "data/inbox"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    std::fs::copy(bin, root.join("marquee")).unwrap();
    // `localhost` is resolved through glibc's NSS `files` backend, which a static glibc
    // carries inside (2.34 and later), not as libnss_files.so.
    std::fs::write(root.join("etc/hosts"), "127.0.0.1 localhost\n").unwrap();
    std::fs::write(
        root.join("data/marquee.toml"),
        // New media's titles published at once, so the clip plays without an editor.
        format!(
            "[ingest]\n{TEST_INGEST}\n[transcode]\n{TEST_TRANSCODE}preset = \"ultrafast\"\n\n[catalog]\nnew_titles = \"published\"\n"
        ),
    )
    .unwrap();
}

/// `marquee ARGS` with `root` as its `/` (a private mount namespace, its own `/proc` so
/// the server can re-execute itself as `marquee worker`), killed when the test drops it.
/// `unshare` needs root, as CI has.
fn in_root(root: &Path, args: &[&str]) -> Command {
    let mut command = Command::new("unshare");
    command
        .arg("--mount-proc")
        .arg(format!("--root={}", root.display()))
        .args(["--fork", "--kill-child", "/marquee"])
        .args(args)
        .env_clear()
        .env("RUST_LOG", "info");
    command
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_static_binary_serves_and_transcodes_in_an_empty_root() {
    let Some(bin) = binary_under_test() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    bare_root(&root, bin);

    let out = in_root(
        &root,
        &["apikey", "create", "--name", "tests", "--data-dir", "/data"],
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "apikey create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();

    let log = root.join("data/test-server.log");
    let mut server = Killed(
        in_root(
            &root,
            &["serve", "--listen", "localhost:0", "--data-dir", "/data"],
        )
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap(),
    );
    let stdout = server.0.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("server printed nothing: {}", read(&log)))
        .unwrap();
    std::thread::spawn(move || for _ in lines {});
    let base = format!(
        "http://{}",
        first
            .split("http://")
            .nth(1)
            .unwrap_or_else(|| panic!("no URL in {first:?}"))
            .trim_end_matches('/')
    );
    // The URL is printed as the listener opens; requests are answered a moment later.
    let deadline = Instant::now() + Duration::from_secs(20);
    while try_get(&format!("{base}/healthz"), None).map(|r| r.0) != Some(200) {
        assert!(Instant::now() < deadline, "no /healthz: {}", read(&log));
        std::thread::sleep(Duration::from_millis(100));
    }

    // A transcode: the server re-executes itself as `marquee worker`, with FFmpeg and x264
    // from inside the binary.
    let clip = tmp.path().join("bare.mp4");
    make_clip(&clip, "320x240", 25, 2.0, true);
    drop_into(&root.join("data/inbox"), &clip);
    let deadline = Instant::now() + Duration::from_secs(120);
    let asset = loop {
        let (_, body) = get_with(&format!("{base}/api/v1/assets"), Some(&key));
        let asset = body["items"][0].clone();
        if asset["status"] == "ready" || asset["status"] == "failed" {
            break asset;
        }
        assert!(
            Instant::now() < deadline,
            "no finished asset: {body:#}\n{}",
            read(&log)
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(asset["status"], "ready", "{asset:#}\n{}", read(&log));
    let master = asset["playback_url"].as_str().unwrap();
    let master = if master.starts_with("http") {
        master.to_string()
    } else {
        format!("{base}{master}")
    };
    let mut response = ureq::get(&master).call().unwrap();
    let playlist = response.body_mut().read_to_string().unwrap();
    assert!(playlist.contains("#EXT-X-STREAM-INF"), "{playlist}");
    let package: PathBuf = root
        .join("data/library")
        .join(asset["id"].as_str().unwrap());
    assert!(package.join("video_240p/seg_00000.m4s").is_file());
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
