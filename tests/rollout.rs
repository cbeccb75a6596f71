//! A staged firmware rollout: a pilot group (and one phone by itself) on a newer firmware set,
//! through the entry points, DHCP (checked by the real servers), `provsite probe` and `diff`.

mod common;

use std::process::Command;

use common::http::*;
use common::*;

const PILOT_SET: &str = "fw30-pilot";
/// In the pilot group's folder.
const PILOT: &str = "001F9F000031";
/// In the base phones file, with `firmware:` of its own.
const SOLO: &str = "001F9F16E84A";
/// Stays on the model's set.
const STAYS: &str = "001F9F16E849";

const PILOT_APP: &[u8] = b"placeholder: the pilot application image\n";

/// The base fixture with a pilot firmware set, a pilot group and one phone moved by itself.
fn rollout_repo(base_url: &str) -> Repo {
    let r = Repo::with_base();
    r.edit(
        "inventory/site.yaml",
        "base_url: http://prov.test/p/",
        &format!("base_url: {base_url}"),
    );
    std::fs::write(
        r.path().join("inventory/firmware/app30-pilot.zz"),
        PILOT_APP,
    )
    .unwrap();
    let site = r.read("inventory/site.yaml");
    let fw30 = site
        .lines()
        .skip_while(|l| *l != "  fw30:")
        .take_while(|l| *l == "  fw30:" || l.starts_with("    "))
        .collect::<Vec<_>>()
        .join("\n");
    let app_line = fw30
        .lines()
        .find(|l| l.trim_start().starts_with("app:"))
        .unwrap()
        .to_string();
    let pilot = fw30.replace("  fw30:", &format!("  {PILOT_SET}:")).replace(
        &app_line,
        &format!(
            "    app: {{file: firmware/app30-pilot.zz, sha256: \"{}\"}}",
            provsite::hashing::sha256_hex(PILOT_APP)
        ),
    );
    r.write(
        "inventory/site.yaml",
        &site.replace("firmware:\n", &format!("firmware:\n{pilot}\n")),
    );
    r.write(
        "inventory/phones/pilot/group.yaml",
        &format!(
            "vlan: {{voice: 20, priority: 5}}\ndns: [192.0.2.53]\nmodels:\n  ST2030: {{firmware: {PILOT_SET}}}\n"
        ),
    );
    r.write(
        "inventory/phones/pilot/p.yaml",
        &format!("- mac: \"{PILOT}\"\n  model: ST2030\n  lines: [{{user: \"6001\"}}]\n"),
    );
    r.commit("pilot set and group");
    r.edit(
        "inventory/phones/base.yaml",
        "  profile: sales\n",
        &format!("  profile: sales\n  firmware: {PILOT_SET}\n"),
    );
    r.commit("one more phone on the pilot");
    r
}

fn app_url(entry: &provsite::family::ConfigFile) -> String {
    entry.get("application", "fwurl").unwrap().to_string()
}

#[test]
fn pilot_phones_get_an_entry_point_of_their_own_and_the_others_keep_theirs() {
    let r = rollout_repo("http://prov.test/p/");
    r.build(&[]);
    let root = r.public();
    let pilot_entry = format!("ST2030S-{PILOT_SET}.inf");
    let pilot_sha = provsite::hashing::sha256_hex(PILOT_APP);
    for mac in [PILOT, SOLO] {
        let v = boot(&root, BASE_URL, &pilot_entry, "ST2030S", mac);
        assert!(app_url(&v.entry).contains(&pilot_sha), "{mac}");
        assert_eq!(v.firmware[0].1, PILOT_APP);
    }
    let stays = boot30(&r, STAYS);
    assert!(!app_url(&stays.entry).contains(&pilot_sha));
    // The manifest says which entry point each phone is under.
    let m = manifest(&root);
    assert_eq!(
        m["models"][format!("ST2030@{PILOT_SET}")]["entry_point"],
        pilot_entry.as_str()
    );
    assert_eq!(m["phones"][PILOT]["variant"], format!("ST2030@{PILOT_SET}"));
    assert!(m["phones"][STAYS].get("variant").is_none());
    // A phone's number follows what it fetches: the last commit moved SOLO, and the ST2022
    // fetches nothing new from a rollout of the ST2030.
    let release_sn = m["config_sn"].as_str().unwrap();
    assert_eq!(m["phones"][SOLO]["config_sn"], release_sn);
    assert!(m["phones"]["00147FE1FC6D"]["config_sn"].as_str().unwrap() < release_sn);
}

#[test]
fn diff_says_who_moves_to_which_firmware() {
    let r = rollout_repo("http://prov.test/p/");
    let out = r.stdout(&["diff", "HEAD~1", "HEAD"]);
    assert!(
        out.contains(&format!("moves from firmware set fw30 to {PILOT_SET}")),
        "{out}"
    );
    let d: serde_json::Value =
        serde_json::from_str(&r.stdout(&["diff", "HEAD~1", "HEAD", "--format", "json"])).unwrap();
    assert_eq!(d["upgrade"], serde_json::json!([SOLO]));
    let changed = |mac: &str| {
        d["changed"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["mac"] == mac)
            .unwrap_or_else(|| panic!("{mac} did not change: {d}"))
            .clone()
    };
    let solo = changed(SOLO);
    assert_eq!(solo["firmware"], PILOT_SET);
    assert_eq!(solo["firmware_before"], "fw30");
    assert_eq!(solo["upgrades_firmware"], true);
    // The pilot's own phone does not flash again: its firmware did not change.
    assert_eq!(changed(PILOT)["upgrades_firmware"], false);
}

#[test]
fn dhcp_sends_the_pilot_phones_their_entry_point_and_the_servers_accept_it() {
    let r = rollout_repo("http://prov.test/p/");
    let pilot_url = format!("http://prov.test/p/ST2030S-{PILOT_SET}.inf");
    let run = |format: &str| {
        let out = r.provsite(&[
            "dhcp",
            "--format",
            format,
            "--subnet",
            "192.0.2.0/24",
            "--range",
            "192.0.2.100-192.0.2.199",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let isc = run("isc");
    assert!(
        isc.contains(&format!("class \"provsite-ST2030-{PILOT_SET}\"")),
        "{isc}"
    );
    assert!(isc.contains(&pilot_url), "{isc}");
    assert!(
        isc.contains("and not (hardware = 1:00:1f:9f:00:00:31"),
        "{isc}"
    );
    let kea = run("kea");
    assert!(kea.contains("and not (pkt4.mac == 0x001f9f000031"), "{kea}");
    assert!(kea.contains(&pilot_url), "{kea}");
    let dnsmasq = run("dnsmasq");
    assert!(
        dnsmasq.contains(&format!(
            "dhcp-host=00:1f:9f:00:00:31,set:provsite-ST2030-{PILOT_SET}"
        )),
        "{dnsmasq}"
    );
    assert!(
        dnsmasq.contains(&format!("tag:!provsite-ST2030-{PILOT_SET},43,")),
        "{dnsmasq}"
    );
    let have = [
        require("dhcpd", "isc-dhcp-server"),
        require("kea-dhcp4", "kea-dhcp4-server"),
        require("dnsmasq", "dnsmasq-base"),
    ];
    if have.contains(&false) {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let p = |n: &str| d.path().join(n);
    std::fs::write(p("dhcpd.conf"), &isc).unwrap();
    must_pass(
        "dhcpd -t",
        Command::new("dhcpd")
            .args(["-t", "-4", "-cf"])
            .arg(p("dhcpd.conf")),
    );
    std::fs::write(p("kea.conf"), &kea).unwrap();
    must_pass(
        "kea-dhcp4 -t",
        Command::new("kea-dhcp4").arg("-t").arg(p("kea.conf")),
    );
    std::fs::write(p("dnsmasq.conf"), &dnsmasq).unwrap();
    must_pass(
        "dnsmasq --test",
        Command::new("dnsmasq")
            .arg("--test")
            .arg(format!("--conf-file={}", p("dnsmasq.conf").display())),
    );
}

#[test]
fn probe_walks_the_pilot_entry_point_and_reports_firmware_per_phone() {
    let r = rollout_repo("http://prov.test/");
    r.build(&[]);
    open_up(r.path());
    let log = r.path().join("access.log");
    let server = provsite_serve(&r.public(), &[], &log);
    let pilot_url = format!("http://prov.test/ST2030S-{PILOT_SET}.inf");
    let out = probe(server.addr, &[&pilot_url, "--mac", PILOT, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let app = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["role"] == "firmware app")
        .unwrap();
    assert_eq!(app["sha256"], provsite::hashing::sha256_hex(PILOT_APP));
    assert_eq!(app["verified"], true);
    // What the pilot group gives its phones, as the phone ends up with it.
    assert_eq!(report["settings"]["vlan"], "voice 20, priority 5");
    assert_eq!(report["settings"]["dns"], "192.0.2.53");
    let text = probe(server.addr, &[&pilot_url, "--mac", PILOT]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("vlan: voice 20, priority 5"), "{text}");
    // Every phone, each through its own entry point, with the firmware it would get.
    let out = probe(server.addr, &["http://prov.test/", "--all", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let fw = |mac: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["mac"] == mac)
            .unwrap_or_else(|| panic!("{mac} not probed: {rows}"))["firmware"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(fw(PILOT), "app30-pilot.zz");
    assert_eq!(fw(SOLO), "app30-pilot.zz");
    assert_eq!(fw(STAYS), "app30.zz");
    assert!(
        rows.as_array().unwrap().iter().all(|r| r["result"] == "ok"),
        "{rows}"
    );
}

#[test]
fn a_firmware_choice_for_another_model_or_an_unknown_set_is_located() {
    let r = Repo::with_base();
    r.write(
        "inventory/phones/pilot/group.yaml",
        "models:\n  ST2030: {firmware: fw22}\n",
    );
    r.write(
        "inventory/phones/pilot/p.yaml",
        "- mac: \"001F9F000031\"\n  model: ST2030\n  lines: [{user: \"6001\"}]\n  firmware: fw99\n",
    );
    r.commit("bad choices");
    let out = r.provsite(&["check"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("unknown firmware set `fw99`"), "{err}");
    assert!(
        err.contains("--> inventory/phones/pilot/p.yaml:4:"),
        "{err}"
    );
    // A group's choice of a set made for another model.
    let r2 = Repo::with_base();
    r2.write(
        "inventory/phones/pilot/group.yaml",
        "models:\n  ST2030: {firmware: fw22}\n",
    );
    r2.write(
        "inventory/phones/pilot/p.yaml",
        "- mac: \"001F9F000031\"\n  model: ST2030\n  lines: [{user: \"6001\"}]\n",
    );
    r2.commit("a set of another model");
    let out = r2.provsite(&["check"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("firmware set `fw22` is for ST2022, not ST2030"),
        "{err}"
    );
    assert!(
        err.contains("--> inventory/phones/pilot/group.yaml:2:"),
        "{err}"
    );
}
