//! The generated nginx, Apache and Caddy configurations, checked by the real servers (`nginx -t`,
//! `apache2ctl -t`, `caddy validate`) and then run on loopback: a probe of every phone passes,
//! traversal and listing fail, the content types and cache policies are right, and the phone
//! check refuses another phone's file.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use common::http::*;

fn webserver_config(root: &Path, format: &str, port: u16, phone_check: bool) -> String {
    let listen = format!("127.0.0.1:{port}");
    let mut args = vec![
        "webserver",
        "--format",
        format,
        "--listen",
        &listen,
        "--server-name",
        HOST,
        "--root",
    ];
    let root = root.to_str().unwrap();
    args.push(root);
    if phone_check {
        args.push("--phone-check");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_provsite"))
        .args(&args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What every server must do with the web root, as a phone and as an attacker see it.
fn check_served(addr: SocketAddr, repo: &common::Repo) {
    let root = repo.public();
    std::fs::write(repo.path().join("outside.txt"), "outside the web root\n").unwrap();

    let all = probe(addr, &[ROOT_URL, "--all"]);
    let table = String::from_utf8_lossy(&all.stdout);
    assert!(
        all.status.success(),
        "{table}{}",
        String::from_utf8_lossy(&all.stderr)
    );
    assert!(
        table.contains("3 phone(s) probed, 3 ok, 0 failed"),
        "{table}"
    );

    for path in [
        "/../outside.txt",
        "/%2e%2e/outside.txt",
        "/releases/..%2f..%2foutside.txt",
        "/releases/%2E%2E/%2E%2E/outside.txt",
    ] {
        let r = get(addr, path);
        assert!(
            r.status == 400 || r.status == 403 || r.status == 404,
            "{path}: {}",
            r.status
        );
        assert!(
            !String::from_utf8_lossy(&r.body).contains("outside the web root"),
            "{path}"
        );
    }
    let release = manifest(&root)["release"].as_str().unwrap().to_string();
    std::fs::write(
        root.join(format!("releases/{release}/.hidden")),
        "a dot-file\n",
    )
    .unwrap();
    common::http::open_up(&root);
    for path in [
        format!("/releases/{release}/.hidden"),
        "/.git/config".to_string(),
    ] {
        let r = get(addr, &path);
        assert!(r.status == 403 || r.status == 404, "{path}: {}", r.status);
        assert!(
            !String::from_utf8_lossy(&r.body).contains("a dot-file"),
            "{path}"
        );
    }
    for path in [
        "/releases/",
        &format!("/releases/{release}/config/"),
        "/firmware/",
        "/",
    ] {
        let r = get(addr, path);
        assert!(
            r.status == 403 || r.status == 404,
            "listing {path}: {}",
            r.status
        );
        let body = String::from_utf8_lossy(&r.body);
        assert!(
            !body.contains(&release) && !body.contains("ST2030S_"),
            "listing {path}: {body}"
        );
    }

    let entry = get(addr, "/ST2030S.inf");
    assert_eq!(entry.status, 200);
    assert!(
        entry.header("content-type").starts_with("text/plain"),
        "{:?}",
        entry.headers
    );
    assert_eq!(entry.header("cache-control"), "no-cache");
    let m = get(addr, "/manifest.json");
    assert!(
        m.header("content-type").starts_with("application/json"),
        "{:?}",
        m.headers
    );
    assert_eq!(m.header("cache-control"), "no-cache");

    let mine = format!("/{}", phone_path(&root, M1));
    let own = request(addr, "GET", &mine, &[("User-Agent", UA_M1)]);
    assert_eq!(own.status, 200);
    assert_eq!(own.body, std::fs::read(root.join(&mine[1..])).unwrap());
    assert!(
        own.header("content-type").starts_with("text/plain"),
        "{:?}",
        own.headers
    );
    assert_eq!(
        own.header("cache-control"),
        "public, max-age=31536000, immutable"
    );
    let fw = model_file(&manifest(&root), "ST2030", "app");
    let firmware = get(addr, &format!("/{fw}"));
    assert_eq!(firmware.status, 200);
    assert_eq!(firmware.header("content-type"), "application/octet-stream");
    assert_eq!(
        firmware.header("cache-control"),
        "public, max-age=31536000, immutable"
    );

    // The shared files of common/ are immutable too: their name follows their content.
    for role in ["common", "telcfg"] {
        let path = model_file(&manifest(&root), "ST2030", role);
        assert!(path.starts_with("common/"), "{path}");
        let shared = get(addr, &format!("/{path}"));
        assert_eq!(shared.status, 200, "{path}");
        assert_eq!(
            shared.header("cache-control"),
            "public, max-age=31536000, immutable",
            "{path}"
        );
    }

    // The phone check (generated with --phone-check).
    let theirs = format!("/{}", phone_path(&root, M2));
    assert_eq!(
        request(addr, "GET", &theirs, &[("User-Agent", UA_M1)]).status,
        403
    );
    assert_eq!(
        request(addr, "GET", &theirs, &[("User-Agent", "curl/8")]).status,
        403
    );
}

#[test]
fn nginx_serves_the_web_root() {
    if !require("nginx", "nginx-light") {
        return;
    }
    let r = built_repo();
    let conf = tempfile::tempdir().unwrap();
    let port = free_port();
    let d = conf.path();
    std::fs::create_dir_all(d.join("logs")).unwrap();
    std::fs::create_dir_all(d.join("tmp")).unwrap();
    let main = |site: &str| {
        format!(
            "worker_processes 1;\ndaemon off;\nerror_log {d}/logs/error.log;\npid {d}/nginx.pid;\nevents {{ worker_connections 256; }}\nhttp {{\n  access_log {d}/logs/access.log;\n  client_body_temp_path {d}/tmp/body;\n  proxy_temp_path {d}/tmp/proxy;\n  fastcgi_temp_path {d}/tmp/fastcgi;\n  uwsgi_temp_path {d}/tmp/uwsgi;\n  scgi_temp_path {d}/tmp/scgi;\n  include {d}/{site};\n}}\n",
            d = d.display()
        )
    };
    // The commented form and the checked form both pass `nginx -t`.
    for (site, check) in [("plain.conf", false), ("site.conf", true)] {
        std::fs::write(
            d.join(site),
            webserver_config(&r.public(), "nginx", port, check),
        )
        .unwrap();
        std::fs::write(d.join(format!("main-{site}")), main(site)).unwrap();
        must_pass(
            "nginx -t",
            Command::new("nginx")
                .arg("-t")
                .arg("-p")
                .arg(d)
                .arg("-c")
                .arg(d.join(format!("main-{site}"))),
        );
    }
    let mut child = Command::new("nginx")
        .arg("-p")
        .arg(d)
        .arg("-c")
        .arg(d.join("main-site.conf"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_for_port(addr, &mut child, "nginx");
    let _server = Server { child, addr };
    check_served(addr, &r);
    // nginx's own access log (its default combined format) read by `provsite status`: a phone
    // that boots through nginx is up to date, from the address nginx saw.
    let out = probe(
        addr,
        &["http://prov.test/ST2030S.inf", "--mac", "001F9F16E849"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(env!("CARGO_BIN_EXE_provsite"))
        .args(["status", "--json", "--log"])
        .arg(d.join("logs/access.log"))
        .arg("--out")
        .arg(r.public())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let m1 = v["phones"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["mac"] == "001F9F16E849")
        .unwrap();
    assert_eq!(m1["state"], "up-to-date", "{v}");
    assert_eq!(m1["address"], "127.0.0.1");
    assert_eq!(m1["firmware_running"], "2.74");
}

#[test]
fn apache_serves_the_web_root() {
    if !require("apache2", "apache2") {
        return;
    }
    let r = built_repo();
    let conf = tempfile::tempdir().unwrap();
    let port = free_port();
    let d = conf.path();
    let modules = "/usr/lib/apache2/modules";
    let root_user = unsafe { libc::geteuid() } == 0;
    let main = |site: &str| {
        let mut t = format!(
            "ServerRoot {d}\nPidFile {d}/httpd.pid\nErrorLog {d}/error.log\nServerName localhost\n",
            d = d.display()
        );
        for (name, file) in [
            ("mpm_event_module", "mod_mpm_event.so"),
            ("authz_core_module", "mod_authz_core.so"),
            ("mime_module", "mod_mime.so"),
            ("headers_module", "mod_headers.so"),
            ("rewrite_module", "mod_rewrite.so"),
            ("dir_module", "mod_dir.so"),
        ] {
            t.push_str(&format!("LoadModule {name} {modules}/{file}\n"));
        }
        if root_user {
            t.push_str("User www-data\nGroup www-data\n");
        }
        t.push_str(&format!(
            "TypesConfig /etc/mime.types\nLogFormat \"%h %t \\\"%r\\\" %>s %b \\\"%{{User-Agent}}i\\\"\" provsite\nCustomLog {d}/access.log provsite\nInclude {d}/{site}\n",
            d = d.display()
        ));
        t
    };
    for (site, check) in [("plain.conf", false), ("site.conf", true)] {
        std::fs::write(
            d.join(site),
            webserver_config(&r.public(), "apache", port, check),
        )
        .unwrap();
        std::fs::write(d.join(format!("main-{site}")), main(site)).unwrap();
        must_pass(
            "apache2ctl -t",
            Command::new("apache2ctl")
                .arg("-f")
                .arg(d.join(format!("main-{site}")))
                .arg("-t"),
        );
    }
    let mut child = Command::new("apache2")
        .arg("-f")
        .arg(d.join("main-site.conf"))
        .arg("-DFOREGROUND")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_for_port(addr, &mut child, "apache2");
    let _server = Server { child, addr };
    check_served(addr, &r);
}

#[test]
fn caddy_serves_the_web_root() {
    if !require("caddy", "caddy") {
        return;
    }
    let r = built_repo();
    let conf = tempfile::tempdir().unwrap();
    let port = free_port();
    let d = conf.path();
    let caddy = |args: &[&str]| {
        let mut c = Command::new("caddy");
        c.args(args)
            .env("HOME", d)
            .env("XDG_DATA_HOME", d.join("data"))
            .env("XDG_CONFIG_HOME", d.join("config"));
        c
    };
    for (site, check) in [("plain.caddy", false), ("site.caddy", true)] {
        std::fs::write(
            d.join(site),
            webserver_config(&r.public(), "caddy", port, check),
        )
        .unwrap();
        // The site block imported from a main Caddyfile, as the generated comment says.
        std::fs::write(
            d.join(format!("Caddyfile-{site}")),
            format!("{{\n\tadmin off\n}}\nimport {}\n", d.join(site).display()),
        )
        .unwrap();
        let main = d.join(format!("Caddyfile-{site}"));
        must_pass(
            "caddy validate",
            &mut caddy(&[
                "validate",
                "--adapter",
                "caddyfile",
                "--config",
                main.to_str().unwrap(),
            ]),
        );
    }
    let main = d.join("Caddyfile-site.caddy");
    let mut child = caddy(&[
        "run",
        "--adapter",
        "caddyfile",
        "--config",
        main.to_str().unwrap(),
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_for_port(addr, &mut child, "caddy");
    // Caddy logs to stderr: drain it so the pipe never fills.
    let mut err = child.stderr.take().unwrap();
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    let _server = Server { child, addr };
    check_served(addr, &r);
}
