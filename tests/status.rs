//! `provsite status` from real requests (`provsite serve`'s log, driven by `provsite probe` with
//! several User-Agents), combined-format lines as nginx writes them, a synthetic flash loop and an
//! unknown MAC; the HTML page checked in a real headless browser.

mod common;

use std::process::Command;

use common::http::*;
use common::*;

const M1: &str = "001F9F16E849";
const M2: &str = "001F9F16E84A";
const UNKNOWN: &str = "001F9F0000FF";

fn status(r: &Repo, args: &[&str]) -> String {
    let mut a = vec!["status"];
    a.extend_from_slice(args);
    r.stdout(&a)
}

/// A built site, served and probed: M1 boots, an unknown phone asks; M2 then loops on its
/// firmware (synthetic lines), and the ST2022 shows up in an nginx log having fetched an older
/// release.
fn fleet() -> (Repo, std::path::PathBuf, std::path::PathBuf) {
    let r = built_repo();
    let log = r.path().join("serve.log");
    let server = provsite_serve(&r.public(), &[], &log);
    let out = probe(server.addr, &["http://prov.test/ST2030S.inf", "--mac", M1]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // An unknown phone: its own file is a 404.
    let out = probe(
        server.addr,
        &["http://prov.test/ST2030S.inf", "--mac", UNKNOWN],
    );
    assert!(!out.status.success());
    drop(server);
    let m = manifest(&r.public());
    let app = model_file(&m, "ST2030", "app");
    let mut serve_log = std::fs::read_to_string(&log).unwrap();
    for i in 0..4 {
        serve_log.push_str(&format!(
            "2026-11-27T10:0{i}:00Z 192.0.2.62 GET /ST2030S.inf 200 600 model=ST2030 hw=5 fw=2.74 mac={M2}\n2026-11-27T10:0{i}:05Z 192.0.2.62 GET /{app} 200 100 model=ST2030 hw=5 fw=2.74 mac={M2}\n"
        ));
    }
    std::fs::write(&log, serve_log).unwrap();
    let nginx = r.path().join("access.log");
    std::fs::write(
        &nginx,
        "192.0.2.63 - - [27/Nov/2026:09:00:00 +0000] \"GET /releases/202601010001-000000000000/config/ST2022S_00147FE1FC6D.txt HTTP/1.1\" 200 900 \"-\" \"THOMSON ST2022 hw2 fw4.78 00-14-7F-E1-FC-6D\"\n192.0.2.9 - - [27/Nov/2026:09:00:01 +0000] \"GET /nothing HTTP/1.1\" 404 10 \"-\" \"curl/8.0\"\n",
    )
    .unwrap();
    (r, log, nginx)
}

#[test]
fn each_phone_gets_its_state_and_the_oddities_are_listed() {
    let (r, log, nginx) = fleet();
    let (log, nginx) = (log.to_str().unwrap(), nginx.to_str().unwrap());
    let v: serde_json::Value =
        serde_json::from_str(&status(&r, &["--log", log, "--log", nginx, "--json"])).unwrap();
    let state = |mac: &str| {
        v["phones"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["mac"] == mac)
            .unwrap()["state"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(state(M1), "up-to-date");
    assert_eq!(state(M2), "stuck");
    assert_eq!(state("00147FE1FC6D"), "pending");
    let m1 = v["phones"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["mac"] == M1)
        .unwrap();
    assert_eq!(m1["address"], "127.0.0.1");
    assert_eq!(m1["firmware_running"], "2.74");
    assert_eq!(m1["release_fetched"], v["release"]);
    assert_eq!(v["counts"]["up-to-date"], 1);
    assert_eq!(v["counts"]["stuck"], 1);
    assert_eq!(v["counts"]["pending"], 1);
    assert_eq!(v["unknown"][0][0], UNKNOWN);
    let failed: Vec<&str> = v["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f[2].as_str().unwrap())
        .collect();
    assert!(
        failed
            .iter()
            .any(|p| p.ends_with(&format!("ST2030S_{UNKNOWN}.txt"))),
        "{failed:?}"
    );
    assert!(failed.contains(&"/nothing"));
    assert!(
        !failed.iter().any(|p| p.ends_with(".ser")),
        "a 404 on .ser is normal"
    );
    // The table says the same, with the hint for the unknown phone.
    let text = status(&r, &["--log", log, "--log", nginx]);
    assert!(text.contains(&format!("unknown phone {UNKNOWN}")), "{text}");
    assert!(text.contains("add it to the inventory"), "{text}");
}

#[test]
fn a_phone_never_seen_is_said_so() {
    let r = built_repo();
    let empty = r.path().join("empty.log");
    std::fs::write(&empty, "").unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&status(&r, &["--log", empty.to_str().unwrap(), "--json"])).unwrap();
    assert_eq!(v["counts"]["never-seen"], 3);
}

fn chromium() -> Option<&'static str> {
    for b in ["chromium-headless-shell", "chromium"] {
        if Command::new(b).arg("--version").output().is_ok() {
            return Some(b);
        }
    }
    require("chromium-headless-shell", "chromium-headless-shell");
    None
}

/// The page as Chromium leaves it after its script ran.
fn dom(browser: &str, page: &std::path::Path, hash: &str) -> String {
    let out = Command::new(browser)
        .args(["--no-sandbox", "--disable-gpu", "--headless", "--dump-dom"])
        .arg(format!("file://{}{hash}", page.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_html_page_renders_counts_and_filters_in_a_real_browser() {
    let Some(browser) = chromium() else {
        return;
    };
    let (r, log, nginx) = fleet();
    let page = r.path().join("status.html");
    status(
        &r,
        &[
            "--log",
            log.to_str().unwrap(),
            "--log",
            nginx.to_str().unwrap(),
            "--html",
            page.to_str().unwrap(),
        ],
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no external assets"
    );
    // Unfiltered: every phone shown, and the script ran.
    let all = dom(browser, &page, "");
    assert!(all.contains("3 shown"), "{all}");
    assert!(all.contains("<span class=\"count stuck\" data-state=\"stuck\"><b>1</b>stuck</span>"));
    assert!(all.contains(
        "<span class=\"count up-to-date\" data-state=\"up-to-date\"><b>1</b>up-to-date</span>"
    ));
    // Filtered by state: only the stuck phone's row stays visible.
    let stuck = dom(browser, &page, "#state=stuck");
    assert!(stuck.contains("1 shown"), "{stuck}");
    let visible: Vec<&str> = stuck
        .lines()
        .filter(|l| l.starts_with("<tr data-state") && !l.contains(" hidden"))
        .collect();
    assert_eq!(visible.len(), 1, "{visible:?}");
    assert!(visible[0].contains(M2));
}

#[test]
fn a_line_of_raw_bytes_does_not_hide_the_rest_of_the_log() {
    // Anyone can send a request, and not every log format escapes what it writes of one.
    let r = built_repo();
    let log = r.path().join("access.log");
    let mut bytes = b"192.0.2.9 - - [27/Nov/2026:08:59:59 +0000] \"GET /\xff\xfe HTTP/1.1\" 404 10 \"-\" \"\xc3\x28\"\n".to_vec();
    bytes.extend_from_slice(b"192.0.2.63 - - [27/Nov/2026:09:00:00 +0000] \"GET /releases/202601010001-000000000000/config/ST2022S_00147FE1FC6D.txt HTTP/1.1\" 200 900 \"-\" \"THOMSON ST2022 hw2 fw4.78 00-14-7F-E1-FC-6D\"\n");
    std::fs::write(&log, bytes).unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&status(&r, &["--log", log.to_str().unwrap(), "--json"])).unwrap();
    let st2022 = v["phones"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["mac"] == "00147FE1FC6D")
        .unwrap();
    assert_eq!(st2022["state"], "pending", "{v}");
    assert_eq!(v["failed"].as_array().unwrap().len(), 1, "{v}");
}

#[test]
fn a_bad_manifest_is_blamed_on_the_option_that_named_it() {
    let r = built_repo();
    let empty = r.path().join("empty.log");
    std::fs::write(&empty, "").unwrap();
    let saved = r.path().join("saved.json");
    std::fs::write(&saved, "{\"format\": 1,\n \"phones\": [}\n").unwrap();
    let out = r.provsite(&[
        "status",
        "--log",
        empty.to_str().unwrap(),
        "--manifest",
        saved.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("--manifest ") && err.contains("saved.json") && err.contains("line 2"),
        "{err}"
    );
    assert!(!err.contains("--previous"), "{err}");
    assert!(
        err.contains("a manifest.json that provsite build wrote"),
        "{err}"
    );
    // The web root given by --out is named as such.
    std::fs::write(r.public().join("manifest.json"), "[]").unwrap();
    let out = r.provsite(&["status", "--log", empty.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--out ") && !err.contains("--previous"),
        "{err}"
    );
}
