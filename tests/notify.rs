//! `provsite notify`: which phones (from the live and new manifests), printed lines, a real SIP
//! NOTIFY received by SIPp playing the phone, and the manager interface against a test server
//! that speaks AMI's framing.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::http::require;
use common::*;

const M1: &str = "001F9F16E849";

/// The base inventory built once, its manifest saved as the live one, then M1's display name
/// changed and built again: the web root holds the new release.
fn changed_repo() -> (Repo, std::path::PathBuf) {
    let r = Repo::with_base();
    r.build(&[]);
    let live = r.path().join("live-manifest.json");
    std::fs::copy(r.public().join("manifest.json"), &live).unwrap();
    r.edit(
        "inventory/phones/base.yaml",
        "Hélène Dupont",
        "Hélène Martin",
    );
    r.commit("a new name on line 1001");
    r.build(&[]);
    (r, live)
}

fn notify(r: &Repo, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut a = vec!["notify"];
    a.extend_from_slice(args);
    run_provsite(r.path(), &a, env)
}

#[test]
fn only_the_phones_whose_files_changed_are_notified() {
    let (r, live) = changed_repo();
    let live = live.to_str().unwrap();
    let out = notify(&r, &["--print", "--previous", live], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "asterisk -rx 'pjsip send notify provsite-check-sync endpoint 1001'\n"
    );
    // chan_sip's command, and every phone with --all.
    let out = notify(&r, &["--print", "--all", "--chan-sip"], &[]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.contains("asterisk -rx 'sip notify provsite-check-sync 1003'"));
    // Without the live manifest there is no telling which phones changed.
    let out = notify(&r, &["--print"], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--previous"));
}

#[test]
fn phones_that_will_flash_firmware_get_the_reboot_variant() {
    let r = Repo::with_base();
    r.build(&[]);
    let live = r.path().join("live.json");
    std::fs::copy(r.public().join("manifest.json"), &live).unwrap();
    // A new ST2030 application image.
    let app = b"placeholder: a newer ST2030 application\n";
    std::fs::write(r.path().join("inventory/firmware/app30-new.zz"), app).unwrap();
    let site = r.read("inventory/site.yaml");
    let old_line = site
        .lines()
        .find(|l| l.contains("firmware/app30.zz"))
        .unwrap()
        .to_string();
    r.write(
        "inventory/site.yaml",
        &site.replace(
            &old_line,
            &format!(
                "    app: {{file: firmware/app30-new.zz, sha256: \"{}\"}}",
                provsite::hashing::sha256_hex(app)
            ),
        ),
    );
    r.commit("new ST2030 firmware");
    r.build(&[]);
    let out = notify(
        &r,
        &[
            "--sip",
            "--dry-run",
            "--json",
            "--previous",
            live.to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let events: Vec<(String, String)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["mac"].as_str().unwrap().to_string(),
                o["event"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            (M1.to_string(), "check-sync;reboot=true".to_string()),
            (
                "001F9F16E84A".to_string(),
                "check-sync;reboot=true".to_string()
            ),
        ],
        "the ST2022 fetches nothing new"
    );
    assert!(v
        .as_array()
        .unwrap()
        .iter()
        .all(|o| o["result"] == "not sent"));
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn sipp_playing_the_phone_receives_a_well_formed_notify() {
    if !require("sipp", "sip-tester") {
        return;
    }
    let (r, live) = changed_repo();
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let scenario = dir.path().join("phone.xml");
    // The phone: the NOTIFY must carry Event: check-sync and a Request-URI to line 1001 at the
    // phone's address; SIPp fails the call otherwise (check_it), and answers 200 OK.
    std::fs::write(
        &scenario,
        format!(
            r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="phone">
  <recv request="NOTIFY" crlf="true">
    <action>
      <ereg regexp="^ *check-sync *$" search_in="hdr" header="Event:" check_it="true" assign_to="ev"/>
      <ereg regexp="^NOTIFY sip:1001@127\.0\.0\.1:{port} SIP/2\.0" search_in="msg" check_it="true" assign_to="ruri"/>
      <ereg regexp="terminated" search_in="hdr" header="Subscription-State:" check_it="true" assign_to="ss"/>
      <ereg regexp="z9hG4bK" search_in="hdr" header="Via:" check_it="true" assign_to="via"/>
    </action>
  </recv>
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <Reference variables="ev,ruri,ss,via"/>
</scenario>
"#
        ),
    )
    .unwrap();
    let messages = dir.path().join("messages.log");
    let mut sipp = Command::new("sipp")
        .args(["-sf"])
        .arg(&scenario)
        .args([
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-m",
            "1",
            "-nostdin",
        ])
        .args(["-timeout", "30s", "-trace_msg", "-message_file"])
        .arg(&messages)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // SIPp binds its port before it reads anything: wait for it.
    let t0 = Instant::now();
    while std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
        assert!(t0.elapsed() < Duration::from_secs(10), "sipp did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let address = format!("{M1}=127.0.0.1:{port}");
    let out = notify(
        &r,
        &[
            "--sip",
            "--address",
            &address,
            "--previous",
            live.to_str().unwrap(),
            "--json",
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["mac"], M1);
    assert_eq!(v[0]["ok"], true);
    assert!(v[0]["result"].as_str().unwrap().ends_with("200 OK"), "{v}");
    let status = sipp.wait().unwrap();
    let log = std::fs::read_to_string(&messages).unwrap_or_default();
    assert!(status.success(), "sipp refused the NOTIFY:\n{log}");
    assert!(log.contains("Event: check-sync"), "{log}");
}

#[test]
fn a_phone_with_no_address_is_reported_not_skipped() {
    let (r, live) = changed_repo();
    let out = notify(&r, &["--sip", "--previous", live.to_str().unwrap()], &[]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("FAIL") && text.contains("no address"),
        "{text}"
    );
}

/// An AMI test server: the banner, then for each action block a response with its ActionID (an
/// event first, for the first notification, as Asterisk may interleave them). Records the actions
/// and when they came.
/// The actions the test server received, each with when it came.
type Seen = Arc<Mutex<Vec<(Instant, Vec<(String, String)>)>>>;

fn ami_server(secret: &'static str) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen: Seen = Arc::default();
    let record = seen.clone();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut w = stream.try_clone().unwrap();
        w.write_all(b"Asterisk Call Manager/9.0.0\r\n").unwrap();
        let mut reader = BufReader::new(stream);
        let mut block: Vec<(String, String)> = Vec::new();
        let mut notifies = 0;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if !line.is_empty() {
                let (k, v) = line.split_once(": ").unwrap();
                block.push((k.to_string(), v.to_string()));
                continue;
            }
            let get = |k: &str| {
                block
                    .iter()
                    .find(|(key, _)| key == k)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            let id = get("ActionID");
            let reply = match get("Action").as_str() {
                "Login" if get("Secret") == secret => {
                    "Response: Success\r\nMessage: Authentication accepted".to_string()
                }
                "Login" => "Response: Error\r\nMessage: Authentication failed".to_string(),
                "PJSIPNotify" => {
                    notifies += 1;
                    if notifies == 1 {
                        w.write_all(b"Event: FullyBooted\r\nPrivilege: system,all\r\n\r\n")
                            .unwrap();
                    }
                    "Response: Success\r\nMessage: NOTIFY sent".to_string()
                }
                "Logoff" => "Response: Goodbye\r\nMessage: Thanks for all the fish.".to_string(),
                other => format!("Response: Error\r\nMessage: Invalid/unknown command: {other}"),
            };
            record
                .lock()
                .unwrap()
                .push((Instant::now(), std::mem::take(&mut block)));
            w.write_all(format!("{reply}\r\nActionID: {id}\r\n\r\n").as_bytes())
                .unwrap();
        }
    });
    (addr, seen)
}

#[test]
fn ami_login_then_one_paced_pjsipnotify_per_phone() {
    let r = Repo::with_base();
    r.build(&[]);
    let (addr, seen) = ami_server("s3cret");
    let env = [
        ("PROVSITE_AMI_USER", "provsite"),
        ("PROVSITE_AMI_SECRET", "s3cret"),
    ];
    let out = notify(&r, &["--ami", &addr, "--all", "--rate", "5"], &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = seen.lock().unwrap();
    let actions: Vec<String> = seen
        .iter()
        .map(|(_, b)| b.iter().find(|(k, _)| k == "Action").unwrap().1.clone())
        .collect();
    assert_eq!(
        actions,
        [
            "Login",
            "PJSIPNotify",
            "PJSIPNotify",
            "PJSIPNotify",
            "Logoff"
        ]
    );
    let login = &seen[0].1;
    assert!(login.contains(&("Username".into(), "provsite".into())));
    let endpoints: Vec<String> = seen[1..4]
        .iter()
        .map(|(_, b)| {
            assert!(
                b.contains(&("Variable".into(), "Event=check-sync".into())),
                "{b:?}"
            );
            b.iter().find(|(k, _)| k == "Endpoint").unwrap().1.clone()
        })
        .collect();
    // In MAC order: the ST2022 (00147F...) first.
    assert_eq!(endpoints, ["1003", "1001", "1002"]);
    // Paced: at 5 a second, a notification at most every 200 ms (the sleep is a lower bound).
    for w in seen[1..4].windows(2) {
        let gap = w[1].0 - w[0].0;
        assert!(gap >= Duration::from_millis(180), "{gap:?}");
    }
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("3 phone(s), 3 ok, 0 failed"), "{text}");
}

#[test]
fn ami_credentials_come_from_the_environment_and_a_refusal_is_clear() {
    let r = Repo::with_base();
    r.build(&[]);
    let out = notify(&r, &["--ami", "127.0.0.1:1", "--all"], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("PROVSITE_AMI_USER"));
    let (addr, _) = ami_server("right");
    let env = [
        ("PROVSITE_AMI_USER", "provsite"),
        ("PROVSITE_AMI_SECRET", "wrong"),
    ];
    let out = notify(&r, &["--ami", &addr, "--all"], &env);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("the AMI refused the login: Authentication failed"),
        "{err}"
    );
}
