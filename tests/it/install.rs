//! install.sh and the .deb on a fresh Debian 12: a debootstrapped root filesystem (cached
//! by packaging/test/rootfs.sh outside the clone), unpacked into a temp folder and entered
//! with chroot in a private mount namespace, so nothing it mounts outlives the test.
//! Systemd is not PID 1 here, so install.sh takes its container path: the server runs in the
//! foreground.

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// The binary to install and an empty folder for the root filesystem (in a temp dir), or
/// None, loudly, when there is no binary to install.
pub fn prepare(test: &str) -> Option<(PathBuf, tempfile::TempDir, PathBuf)> {
    let Some(binary) = binary_to_install() else {
        eprintln!(
            "\n!!! SKIPPED {test}: no binary to install (packaging/test.sh runs it with the \
             static build; or set MARQUEE_TEST_BIN=dist/marquee or MARQUEE_INSTALL_BINARY) !!!\n"
        );
        return None;
    };
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "chroot and systemd-nspawn need root"
    );
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir(&root).unwrap();
    Some((binary, tmp, root))
}

/// The binary to install: `MARQUEE_INSTALL_BINARY`, else `MARQUEE_TEST_BIN` (the binary
/// the other tests run; `packaging/test.sh` sets it to the static build). Never a
/// `dist/marquee` left from an earlier build: it may predate the install.sh under test.
fn binary_to_install() -> Option<PathBuf> {
    std::env::var_os("MARQUEE_INSTALL_BINARY")
        .or_else(|| std::env::var_os("MARQUEE_TEST_BIN"))
        .map(PathBuf::from)
        .filter(|p| p.is_file())
}

pub fn is_static(binary: &Path) -> bool {
    let out = Command::new("ldd").arg(binary).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    text.contains("not a dynamic executable") || text.contains("statically linked")
}

/// A fresh Debian 12 (Ubuntu 24.04 with `MARQUEE_TEST_DISTRO=ubuntu-noble`) unpacked into
/// `root` (`packaging/test/rootfs.sh` options: Debian's
/// FFmpeg libraries for a dynamic binary, systemd for booting it).
pub fn unpack_rootfs(root: &Path, options: &[&str]) {
    let mut script = Command::new("bash");
    script
        .arg(Path::new(REPO).join("packaging/test/rootfs.sh"))
        .args(options);
    let out = script.stderr(Stdio::inherit()).output().unwrap();
    assert!(out.status.success(), "packaging/test/rootfs.sh failed");
    let tarball = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .to_string();
    let status = Command::new("tar")
        .args(["-xf", &tarball, "-C"])
        .arg(root)
        .status()
        .unwrap();
    assert!(status.success());
}

/// `args` run as root inside `root`, with /proc mounted and a clean environment.
fn in_chroot(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new("unshare");
    command
        .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg(r#"mount -t proc proc "$0/proc" && exec chroot "$0" "$@""#)
        .arg(root)
        .args(args);
    with_fresh_environment(&mut command, env);
    command
}

/// A root login's environment on a fresh system plus `env`, nothing from the test's own.
pub fn with_fresh_environment(command: &mut Command, env: &[(&str, &str)]) {
    command
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("HOME", "/root")
        .env("LANG", "C.UTF-8")
        .envs(env.iter().copied());
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Two different free loopback ports: plain HTTP and HTTPS.
pub fn free_ports() -> (u16, u16) {
    let plain = free_port();
    loop {
        let secure = free_port();
        if secure != plain {
            return (plain, secure);
        }
    }
}

/// The installed server's HTTPS, checked from outside the root filesystem: its self-signed
/// certificate (`/var/lib/marquee/tls/cert.pem`) is the only CA curl trusts and `localhost`
/// the name it checks, `GET /healthz` there answers 200, plain HTTP on `port` redirects to
/// it, and the certificate names localhost and every address of this network namespace.
/// `printed` is what install.sh said: the HTTPS URL and the certificate's fingerprint.
pub fn assert_https_works(root: &Path, port: u16, tls_port: u16, printed: &str) {
    use x509_parser::prelude::*;

    let cert = root.join("var/lib/marquee/tls/cert.pem");
    let out = Command::new("curl")
        .args(["-sS", "--fail", "-o", "/dev/null", "-w", "%{http_code}"])
        .args(["--resolve", &format!("localhost:{tls_port}:127.0.0.1")])
        .arg("--cacert")
        .arg(&cert)
        .arg(format!("https://localhost:{tls_port}/healthz"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "200",
        "HTTPS /healthz: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The first-run setup link is printed and opens the owner's form over HTTPS; once
    // the owner exists, where to sign in is printed instead.
    let link = printed
        .split_whitespace()
        .find(|word| word.starts_with("https://") && word.contains("/setup/"))
        .or_else(|| {
            printed
                .split_whitespace()
                .find(|word| word.starts_with("https://") && word.ends_with("/login"))
                .filter(|_| printed.contains("The owner account exists"))
        })
        .unwrap_or_else(|| panic!("no setup link printed:\n{printed}"));
    let out = Command::new("curl")
        .args(["-sS", "--fail", "--cacert"])
        .arg(&cert)
        .arg(link)
        .output()
        .unwrap();
    let form = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && form.contains("name=\"password\""),
        "{link}: {form}{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let no_redirects: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .build()
        .into();
    let answer = no_redirects
        .get(&format!("http://127.0.0.1:{port}/watch?x=1"))
        .call()
        .unwrap();
    assert_eq!(answer.status(), 301);
    assert_eq!(
        answer.headers()["location"],
        format!("https://127.0.0.1:{tls_port}/watch?x=1").as_str()
    );

    let pem = std::fs::read(&cert).unwrap();
    let (_, block) = parse_x509_pem(&pem).unwrap();
    let parsed = block.parse_x509().unwrap();
    let mut names = Vec::new();
    for name in &parsed
        .subject_alternative_name()
        .unwrap()
        .expect("no subjectAltName")
        .value
        .general_names
    {
        match name {
            GeneralName::DNSName(dns) => names.push(dns.to_string()),
            GeneralName::IPAddress(bytes) => names.push(match bytes.len() {
                4 => std::net::IpAddr::from(<[u8; 4]>::try_from(*bytes).unwrap()).to_string(),
                _ => std::net::IpAddr::from(<[u8; 16]>::try_from(*bytes).unwrap()).to_string(),
            }),
            _ => {}
        }
    }
    // The server found these itself with getifaddrs(3), which under the unit's sandbox
    // needs AF_NETLINK; the test shares its network namespace.
    let mut expected = vec!["localhost".to_string()];
    expected.extend(
        if_addrs::get_if_addrs()
            .unwrap()
            .iter()
            .map(|i| i.ip().to_string()),
    );
    for name in &expected {
        assert!(
            names.contains(name),
            "{name} not in the certificate's {names:?}"
        );
    }

    let fingerprint = sha256_fingerprint(&block.contents);
    for expected in [
        format!("https://127.0.0.1:{tls_port}/"),
        "self-signed".to_string(),
        fingerprint,
    ] {
        assert!(printed.contains(&expected), "{expected} not in:\n{printed}");
    }
}

/// `AB:CD:…`, as browsers and `openssl x509 -fingerprint -sha256` show a certificate's
/// SHA-256 (of its DER bytes).
pub fn sha256_fingerprint(der: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

pub fn healthy(port: u16) -> bool {
    ureq::get(&format!("http://127.0.0.1:{port}/healthz"))
        .call()
        .is_ok_and(|r| r.status() == 200)
}

/// install.sh in the foreground: started, then stopped with SIGTERM once it answers.
struct Foreground {
    child: Child,
    output: PathBuf,
}

impl Foreground {
    fn start(root: &Path, (port, tls_port): (u16, u16), output: PathBuf) -> Foreground {
        let listen = format!("127.0.0.1:{port}");
        let tls_listen = format!("127.0.0.1:{tls_port}");
        let log = std::fs::File::create(&output).unwrap();
        let child = in_chroot(
            root,
            &["/bin/bash", "/root/marquee/install.sh"],
            &[
                ("MARQUEE_LISTEN", &listen),
                ("MARQUEE_TLS__LISTEN", &tls_listen),
            ],
        )
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
        let mut foreground = Foreground { child, output };
        // install.sh prints the URLs once /healthz answers, and this line after them; the
        // test checks for itself.
        let deadline = Instant::now() + Duration::from_secs(120);
        while !(healthy(port) && foreground.text().contains("Marquee runs in the foreground")) {
            if let Some(status) = foreground.child.try_wait().unwrap() {
                panic!("install.sh exited ({status}):\n{}", foreground.text());
            }
            assert!(
                Instant::now() < deadline,
                "install.sh did not bring up a server:\n{}",
                foreground.text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        foreground
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.output).unwrap_or_default()
    }

    /// SIGTERM to install.sh, which passes it on to the server.
    fn stop(mut self) -> (ExitStatus, String) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().unwrap();
        (status, self.text())
    }
}

impl Drop for Foreground {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
            let _ = self.child.wait();
        }
    }
}

pub fn run(mut command: Command) -> Output {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The `marquee` entry of the chroot's /etc/passwd: (uid, home, shell).
fn service_user(root: &Path) -> Option<(u32, String, String)> {
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields[0] == "marquee").then(|| {
            (
                fields[2].parse().unwrap(),
                fields[5].to_string(),
                fields[6].to_string(),
            )
        })
    })
}

pub fn copy_release_layout(root: &Path, binary: &Path) {
    let dir = root.join("root/marquee");
    for (from, to) in [
        ("install.sh", "install.sh"),
        ("systemd/marquee.service", "systemd/marquee.service"),
        ("packaging/marquee.toml", "packaging/marquee.toml"),
    ] {
        let to = dir.join(to);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(Path::new(REPO).join(from), to).unwrap();
    }
    // A release download: the static binary next to install.sh.
    std::fs::copy(binary, dir.join("marquee")).unwrap();
}

#[test]
fn install_sh_installs_upgrades_and_uninstalls_on_a_fresh_debian_12() {
    let Some((binary, tmp, root)) =
        prepare("install_sh_installs_upgrades_and_uninstalls_on_a_fresh_debian_12")
    else {
        return;
    };
    let options: &[&str] = if is_static(&binary) {
        &[]
    } else {
        &["--with-ffmpeg-libs"]
    };
    unpack_rootfs(&root, options);
    copy_release_layout(&root, &binary);
    let (port, tls_port) = free_ports();
    let data = root.join("var/lib/marquee");
    let config = root.join("etc/marquee/marquee.toml");
    let installed = root.join("usr/local/bin/marquee");

    // First run: user, settings, data dir, binary; the server answers as the service user.
    let first = Foreground::start(&root, (port, tls_port), tmp.path().join("first.log"));
    let (uid, home, shell) = service_user(&root).expect("no marquee user");
    assert!(uid < 1000, "not a system user: {uid}");
    assert_eq!(
        (home.as_str(), shell.as_str()),
        ("/var/lib/marquee", "/usr/sbin/nologin")
    );
    let settings = std::fs::read_to_string(&config).unwrap();
    assert!(
        settings.contains(&format!("\nlisten = \"127.0.0.1:{port}\"\n")),
        "{settings}"
    );
    assert!(
        settings.contains("\n[tls]\n")
            && settings.contains(&format!(
                "\nenabled = true\nlisten = \"127.0.0.1:{tls_port}\"\n"
            )),
        "HTTPS on: {settings}"
    );
    assert!(
        settings.contains("#settle_secs = 3"),
        "the commented defaults: {settings}"
    );
    let settings_meta = std::fs::metadata(&config).unwrap();
    assert_eq!(
        (settings_meta.uid(), settings_meta.mode() & 0o777),
        (0, 0o640)
    );
    // The database was made by the server itself: it runs as the service user.
    assert_eq!(
        std::fs::metadata(data.join("marquee.db")).unwrap().uid(),
        uid
    );
    assert_eq!(std::fs::metadata(&data).unwrap().mode() & 0o777, 0o750);
    assert_https_works(&root, port, tls_port, &first.text());
    let (status, text) = first.stop();
    assert!(status.success(), "{status}:\n{text}");
    assert!(text.contains("systemd is not running here"), "{text}");
    assert!(
        text.contains(&format!("http://127.0.0.1:{port}/")),
        "{text}"
    );

    // Second run upgrades in place: a new file under the same name (renamed into place),
    // the operator's settings and the data untouched.
    let edited = format!("{settings}# edited by the operator\n");
    std::fs::write(&config, &edited).unwrap();
    std::fs::write(data.join("inbox/keep.txt"), b"mine").unwrap();
    let old_inode = std::fs::metadata(&installed).unwrap().ino();
    let second = Foreground::start(&root, (port, tls_port), tmp.path().join("second.log"));
    assert_ne!(std::fs::metadata(&installed).unwrap().ino(), old_inode);
    assert_eq!(std::fs::read_to_string(&config).unwrap(), edited);
    let (status, text) = second.stop();
    assert!(status.success(), "{status}:\n{text}");
    assert!(text.contains("keeping the settings"), "{text}");
    assert!(!installed.with_extension("new").exists());

    // --uninstall keeps the data and the settings; --purge deletes them.
    let out = run(in_chroot(
        &root,
        &["/bin/bash", "/root/marquee/install.sh", "--uninstall"],
        &[],
    ));
    assert!(!installed.exists());
    assert!(
        service_user(&root).is_none(),
        "the marquee user is still there"
    );
    assert!(data.join("marquee.db").is_file() && data.join("inbox/keep.txt").is_file());
    assert_eq!(std::fs::read_to_string(&config).unwrap(), edited);
    assert!(String::from_utf8_lossy(&out.stdout).contains("are kept"));
    run(in_chroot(
        &root,
        &["/bin/bash", "/root/marquee/install.sh", "--purge"],
        &[],
    ));
    assert!(!data.exists() && !config.exists());

    // The .deb installs into the same system: the user, the data dir, the settings.
    let deb = build_deb(&binary, tmp.path());
    if is_static(&binary) {
        // A static binary needs no FFmpeg package.
        assert_eq!(dpkg_deb(&deb, "-f", Some("Depends")).trim(), "passwd");
    }
    std::fs::copy(&deb, root.join("root/marquee.deb")).unwrap();
    let out = run(in_chroot(&root, &["dpkg", "-i", "/root/marquee.deb"], &[]));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("systemd is not running"),
        "{out:?}"
    );
    let (uid, _, _) = service_user(&root).expect("the .deb made no marquee user");
    assert_eq!(std::fs::metadata(&data).unwrap().uid(), uid);
    assert!(root.join("usr/bin/marquee").is_file() && config.is_file());
    let version = run(in_chroot(&root, &["/usr/bin/marquee", "--version"], &[]));
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("marquee "));
    run(in_chroot(&root, &["dpkg", "--purge", "marquee"], &[]));
    assert!(service_user(&root).is_none() && !config.exists());
    assert!(data.is_dir(), "purging the .deb keeps the videos");
}

pub fn build_deb(binary: &Path, out: &Path) -> PathBuf {
    let output = run({
        let mut c = Command::new("bash");
        c.arg(Path::new(REPO).join("packaging/deb/build.sh"))
            .arg(binary)
            .env("MARQUEE_DEB_OUT", out)
            // Compressing a debug binary takes minutes; the layout is what is tested.
            .env("MARQUEE_DEB_COMPRESSION", "none");
        c
    });
    PathBuf::from(
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .last()
            .unwrap(),
    )
}

/// `dpkg-deb OPTION DEB [MEMBER]`'s output.
fn dpkg_deb(deb: &Path, option: &str, member: Option<&str>) -> String {
    let mut command = Command::new("dpkg-deb");
    command.arg(option).arg(deb).args(member);
    String::from_utf8_lossy(&run(command).stdout).into_owned()
}

/// dpkg-deb's view of a file in the package.
fn deb_file(deb: &Path, path: &str) -> String {
    let mut child = Command::new("dpkg-deb")
        .args(["--fsys-tarfile"])
        .arg(deb)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut tar = Command::new("tar")
        .args(["-xO", path])
        .stdin(child.stdout.take().unwrap())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut text = String::new();
    tar.stdout
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    assert!(tar.wait().unwrap().success() && child.wait().unwrap().success());
    text
}

#[test]
fn the_deb_holds_the_binary_the_unit_and_the_settings() {
    let tmp = tempfile::tempdir().unwrap();
    let deb = build_deb(crate::support::bin(), tmp.path());
    assert!(
        deb.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("marquee_0.")
    );

    let contents = dpkg_deb(&deb, "-c", None);
    for (mode, path) in [
        ("-rwxr-xr-x root/root", "./usr/bin/marquee"),
        (
            "-rw-r--r-- root/root",
            "./lib/systemd/system/marquee.service",
        ),
        ("-rw-r----- root/root", "./etc/marquee/marquee.toml"),
    ] {
        assert!(
            contents
                .lines()
                .any(|l| l.starts_with(mode) && l.ends_with(path)),
            "{mode} {path} not in:\n{contents}"
        );
    }

    let info = dpkg_deb(&deb, "-I", None);
    for expected in [
        "Package: marquee",
        &format!("Version: {}", env!("CARGO_PKG_VERSION")),
        "Depends: passwd",
        "postinst",
        "postrm",
        "conffiles",
    ] {
        assert!(info.contains(expected), "{expected} not in:\n{info}");
    }
    let conffiles = dpkg_deb(&deb, "-I", Some("conffiles"));
    assert_eq!(conffiles.trim(), "/etc/marquee/marquee.toml");
    let postinst = dpkg_deb(&deb, "-I", Some("postinst"));
    assert!(postinst.contains("useradd --system"), "{postinst}");

    // The unit runs the packaged binary, not install.sh's /usr/local/bin one.
    let unit = deb_file(&deb, "./lib/systemd/system/marquee.service");
    assert!(
        unit.contains("\nExecStart=/usr/bin/marquee serve --config /etc/marquee/marquee.toml"),
        "{unit}"
    );
    assert!(!unit.contains("/usr/local/bin"), "{unit}");
    assert_eq!(
        deb_file(&deb, "./etc/marquee/marquee.toml"),
        std::fs::read_to_string(Path::new(REPO).join("packaging/marquee.toml")).unwrap()
    );
}
