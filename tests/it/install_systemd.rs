//! The systemd path of install.sh for real: a fresh Debian 12 with systemd booted by
//! systemd-nspawn (this machine's own PID 1 is not systemd), install.sh run inside it, and
//! the installed unit checked: notify start, the hardened transcoder, restart after a crash,
//! the watchdog, upgrade and uninstall.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::install::{
    assert_https_works, build_deb, copy_release_layout, free_ports, healthy, is_static, prepare,
    run, unpack_rootfs, with_fresh_environment,
};

/// The owner's password in tests/browser/dashboard.mjs.
const DASHBOARD_PASSWORD: &str = "a long enough owner password";

/// A booted container; shut down (SIGTERM to systemd-nspawn) when dropped.
struct Booted {
    nspawn: Child,
    init: u32,
    log: PathBuf,
}

impl Booted {
    /// None when systemd-nspawn cannot boot a system on this machine (the reason is printed).
    fn boot(root: &Path, log: PathBuf) -> Option<Booted> {
        let out = std::fs::File::create(&log).unwrap();
        let nspawn = Command::new("systemd-nspawn")
            // This machine mixes cgroup v1 controllers with a v2 tree; nspawn 252 fails to
            // copy that layout ("Failed to read link /sys/fs/cgroup/net_cls") unless the
            // container gets the unified hierarchy.
            .env("SYSTEMD_NSPAWN_UNIFIED_HIERARCHY", "1")
            .args(["--boot", "--register=no", "--keep-unit", "--quiet", "-D"])
            .arg(root)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn();
        let Ok(nspawn) = nspawn else {
            eprintln!(
                "\n!!! SKIPPED: systemd-nspawn is not installed (package systemd-container) !!!\n"
            );
            return None;
        };
        let mut booted = Booted {
            nspawn,
            init: 0,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Ok(Some(status)) = booted.nspawn.try_wait() {
                eprintln!(
                    "\n!!! SKIPPED: systemd-nspawn cannot boot a container here ({status}):\n{} !!!\n",
                    std::fs::read_to_string(&booted.log).unwrap_or_default()
                );
                return None;
            }
            if booted.init == 0 {
                booted.init = init_pid(booted.nspawn.id()).unwrap_or(0);
            }
            if booted.init != 0 {
                let state = booted.output(&["systemctl", "is-system-running"]);
                if state.starts_with("running") || state.starts_with("degraded") {
                    return Some(booted);
                }
            }
            assert!(
                Instant::now() < deadline,
                "the container did not finish booting:\n{}",
                booted.log()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `args` run inside the container as root.
    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut command = Command::new("nsenter");
        command
            .args([
                "-t",
                &self.init.to_string(),
                "-m",
                "-u",
                "-i",
                "-n",
                "-p",
                "-r",
                "-w",
            ])
            .args(args);
        with_fresh_environment(&mut command, env);
        command
    }

    fn output(&self, args: &[&str]) -> String {
        let out = self.command(args, &[]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn show(&self) -> HashMap<String, String> {
        self.output(&[
            "systemctl",
            "show",
            "marquee.service",
            "-p",
            "Type",
            "-p",
            "ActiveState",
            "-p",
            "StatusText",
            "-p",
            "NRestarts",
            "-p",
            "MainPID",
            "-p",
            "LoadState",
            "-p",
            "WatchdogUSec",
        ])
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// Waits until the service is active, answers, and `check` holds for its properties.
    fn wait_for(&self, port: u16, what: &str, check: impl Fn(&HashMap<String, String>) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let show = self.show();
            if show["ActiveState"] == "active" && check(&show) && healthy(port) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: {show:?}\n{}",
                self.output(&["journalctl", "-u", "marquee", "--no-pager", "-n", "40"])
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Booted {
    fn drop(&mut self) {
        // SIGTERM makes systemd-nspawn shut the container down cleanly.
        unsafe { libc::kill(self.nspawn.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Ok(None) = self.nspawn.try_wait() {
            if Instant::now() > deadline {
                let _ = self.nspawn.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.nspawn.wait();
    }
}

/// The container's systemd: the process under systemd-nspawn named `systemd`.
fn init_pid(nspawn: u32) -> Option<u32> {
    let mut pending = vec![nspawn];
    while let Some(pid) = pending.pop() {
        for task in std::fs::read_dir(format!("/proc/{pid}/task"))
            .ok()?
            .flatten()
        {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in children
                .split_whitespace()
                .filter_map(|c| c.parse::<u32>().ok())
            {
                let comm =
                    std::fs::read_to_string(format!("/proc/{child}/comm")).unwrap_or_default();
                if comm.trim() == "systemd" {
                    return Some(child);
                }
                pending.push(child);
            }
        }
    }
    None
}

#[test]
fn install_sh_runs_marquee_as_a_hardened_systemd_service() {
    let Some((binary, tmp, root)) =
        prepare("install_sh_runs_marquee_as_a_hardened_systemd_service")
    else {
        return;
    };
    let mut options = vec!["--with-systemd"];
    if !is_static(&binary) {
        options.push("--with-ffmpeg-libs");
    }
    unpack_rootfs(&root, &options);
    copy_release_layout(&root, &binary);
    let Some(machine) = Booted::boot(&root, tmp.path().join("nspawn.log")) else {
        return;
    };
    let (port, tls_port) = free_ports();
    let listen = format!("127.0.0.1:{port}");
    let tls_listen = format!("127.0.0.1:{tls_port}");
    let install = |args: &[&str]| {
        let mut all = vec!["/bin/bash", "/root/marquee/install.sh"];
        all.extend_from_slice(args);
        let env = [
            ("MARQUEE_LISTEN", listen.as_str()),
            ("MARQUEE_TLS__LISTEN", tls_listen.as_str()),
        ];
        let out = run(machine.command(&all, &env));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };

    // Install: the service is started, notify-type, and reports where it listens.
    let text = install(&[]);
    assert!(
        text.contains("It runs as the systemd service marquee"),
        "{text}"
    );
    assert!(!text.contains("foreground"), "{text}");
    let show = machine.show();
    assert_eq!(show["Type"], "notify");
    assert_eq!(show["ActiveState"], "active");
    assert_eq!(show["StatusText"], format!("listening on {listen}"));
    assert_eq!(show["WatchdogUSec"], "1min");
    assert!(healthy(port));
    // HTTPS out of the box, with a certificate made inside the sandbox.
    assert_https_works(&root, port, tls_port, &text);
    // The issue's acceptance walk in Chromium against the installed service, from the
    // printed link: owner, upload, ready, invite an editor, rename the site.
    let setup = text
        .split_whitespace()
        .find(|w| w.starts_with("https://") && w.contains("/setup/"))
        .unwrap();
    let (base, path) = setup.split_at(setup.find("/setup/").unwrap());
    let upload = tmp.path().join("Acceptance_clip.mp4");
    crate::support::make_clip(&upload, "160x120", 25, 1.0, true);
    let report = crate::player::browser_check(&[
        "dashboard.mjs",
        base,
        path,
        upload.to_str().unwrap(),
        "Acceptance clip",
    ]);
    assert_eq!(
        crate::player::step_names(&report),
        [
            "owner created",
            "uploaded",
            "ready",
            "invited",
            "published",
            "site renamed",
            "editor signed in"
        ],
        "{report}"
    );
    // As installed, new media waits for an editor: the walk published a draft.
    assert_eq!(report["steps"][4]["was"], "draft", "{report}");
    let main_pid = show["MainPID"].clone();
    let owner = machine.output(&["stat", "-c", "%U", &format!("/proc/{main_pid}")]);
    assert_eq!(owner.trim(), "marquee");

    // The transcoder (the same binary as `marquee worker`) works inside the sandbox: three
    // videos dropped into the inbox become ready.
    let inbox = root.join("var/lib/marquee/inbox");
    for (name, secs) in crate::storefront::CLIPS {
        let file = crate::storefront::clip_file(name);
        let clip = tmp.path().join(&file);
        crate::support::make_clip(&clip, "160x120", 25, secs, true);
        let part = format!("{file}.part");
        std::fs::copy(&clip, inbox.join(&part)).unwrap();
        run(machine.command(
            &[
                "chown",
                "marquee:marquee",
                &format!("/var/lib/marquee/inbox/{part}"),
            ],
            &[],
        ));
        std::fs::rename(inbox.join(&part), inbox.join(&file)).unwrap();
    }
    let db = rusqlite::Connection::open(root.join("var/lib/marquee/marquee.db")).unwrap();
    let ready = || -> i64 {
        db.query_row(
            "SELECT count(*) FROM assets WHERE status = 'ready'",
            [],
            |r| r.get(0),
        )
        .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while ready() < 1 + crate::storefront::CLIPS.len() as i64 {
        assert!(
            Instant::now() < deadline,
            "the dropped videos did not become ready in the sandbox:\n{}",
            machine.output(&["journalctl", "-u", "marquee", "--no-pager", "-n", "40"])
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    drop(db);
    // The catalog acceptance walk on the installed service, as its owner, from the
    // dashboard only: a series with its cast, a movie, a hero and rails; then a visitor
    // browses, searches and plays.
    let mut walk = vec![
        "storefront.mjs",
        base,
        "owner@example.com",
        DASHBOARD_PASSWORD,
    ];
    walk.extend(crate::storefront::CLIPS.iter().map(|(name, _)| *name));
    crate::storefront::check_walk(&crate::player::browser_check(&walk));

    // A crash is followed by a restart.
    run(machine.command(&["/bin/bash", "-c", &format!("kill -9 {main_pid}")], &[]));
    machine.wait_for(port, "no restart after kill -9", |s| s["NRestarts"] == "1");

    // The watchdog: with the database locked, the pings stop and systemd restarts Marquee.
    let dropin = root.join("etc/systemd/system/marquee.service.d");
    std::fs::create_dir_all(&dropin).unwrap();
    std::fs::write(dropin.join("watchdog.conf"), "[Service]\nWatchdogSec=4\n").unwrap();
    run(machine.command(&["systemctl", "daemon-reload"], &[]));
    run(machine.command(&["systemctl", "restart", "marquee"], &[]));
    machine.wait_for(port, "restart with WatchdogSec=4", |s| {
        s["WatchdogUSec"] == "4s"
    });
    let restarts_before: u32 = machine.show()["NRestarts"].parse().unwrap();
    let db = rusqlite::Connection::open(root.join("var/lib/marquee/marquee.db")).unwrap();
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    db.execute_batch("BEGIN IMMEDIATE").unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while machine.show()["NRestarts"].parse::<u32>().unwrap() == restarts_before {
        assert!(Instant::now() < deadline, "the watchdog never fired");
        std::thread::sleep(Duration::from_millis(250));
    }
    db.execute_batch("COMMIT").unwrap();
    let journal = machine.output(&["journalctl", "-u", "marquee", "--no-pager"]);
    assert!(journal.contains("Watchdog timeout"), "{journal}");
    assert!(journal.contains("watchdog ping skipped"), "{journal}");
    std::fs::remove_dir_all(&dropin).unwrap();
    run(machine.command(&["systemctl", "daemon-reload"], &[]));

    // A second install upgrades in place and restarts.
    let before = machine.show()["MainPID"].clone();
    let text = install(&[]);
    assert!(text.contains("upgraded in place"), "{text}");
    machine.wait_for(port, "no restart on upgrade", |s| s["MainPID"] != before);

    // Uninstall stops and removes the service and keeps the data.
    install(&["--uninstall"]);
    assert_eq!(machine.show()["LoadState"], "not-found");
    assert!(!healthy(port));
    assert!(root.join("var/lib/marquee/marquee.db").is_file());

    // The .deb's maintainer scripts start the packaged service (keeping the settings file
    // install.sh left, with its port) and stop it on purge.
    let deb = build_deb(&binary, tmp.path());
    std::fs::copy(&deb, root.join("root/marquee.deb")).unwrap();
    let out = run(machine.command(&["dpkg", "-i", "--force-confold", "/root/marquee.deb"], &[]));
    machine.wait_for(port, "the .deb did not start the service", |s| {
        s["Type"] == "notify"
    });
    // The postinst says where it answers, with the certificate's fingerprint.
    assert_https_works(&root, port, tls_port, &String::from_utf8_lossy(&out.stdout));
    let exec = machine.output(&["systemctl", "show", "marquee", "-p", "ExecStart"]);
    assert!(exec.contains("path=/usr/bin/marquee"), "{exec}");
    run(machine.command(&["dpkg", "--purge", "marquee"], &[]));
    assert!(!healthy(port));
    assert_eq!(machine.show()["LoadState"], "not-found");
}
