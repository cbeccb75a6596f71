//! The phone's point of view: a phone applies what its files say and keeps everything else, so
//! a setting turned off must be written as off, a key no longer written is reported, and what the
//! files promise (message waiting, pickup from a BLF key, codecs) has its Asterisk half.

mod common;

use std::path::Path;

use common::{boot22, boot30, conf_section, Repo};
use provsite::asterisk_conf::Config;

const M1: &str = "001F9F16E849";
const M2: &str = "001F9F16E84A";
const M22: &str = "00147FE1FC6D";

/// A change committed and built; what phone M1 then has.
fn after(r: &Repo, file: &str, from: &str, to: &str) -> common::PhoneView {
    r.edit(file, from, to);
    r.commit("change");
    r.build(&[]);
    boot30(r, M1)
}

#[test]
fn turning_ntp_and_pickup_off_writes_them_off() {
    let r = Repo::with_base();
    r.build(&[]);
    let on = boot30(&r, M1);
    assert_eq!(on.value("ntp", "NTPFlag").as_deref(), Some("1"));
    assert_eq!(on.value("ntp", "NtpIP").as_deref(), Some("192.0.2.10"));
    // The vendor's placeholder: the number to pick up goes where X is.
    assert_eq!(on.value("sip", "CallPkupFlg").as_deref(), Some("sc"));
    assert_eq!(on.value("sip", "CallPkupSC").as_deref(), Some("*8X"));

    let off = after(&r, "inventory/site.yaml", "ntp: 192.0.2.10\n", "");
    assert_eq!(off.own.get("ntp", "NTPFlag"), Some("0"));
    assert_eq!(off.own.get("ntp", "NtpIP"), Some(""));
    let off = after(&r, "inventory/site.yaml", "  pickup: \"*8\"\n", "");
    // The factory's values: local pickup, no code.
    assert_eq!(off.own.get("sip", "CallPkupFlg"), Some("local"));
    assert_eq!(off.own.get("sip", "CallPkupSC"), Some(""));
    // `off` in so many words: the same off values.
    let off = after(
        &r,
        "inventory/site.yaml",
        "  voicemail:",
        "  pickup: \"off\"\n  voicemail:",
    );
    assert_eq!(off.own.get("sip", "CallPkupFlg"), Some("local"));
    let v = after(&r, "inventory/site.yaml", "pbx:", "ntp: off\npbx:");
    assert_eq!(v.own.get("ntp", "NTPFlag"), Some("0"));
    r.edit("inventory/site.yaml", "  pickup: \"off\"\n", "");
    // Written as `*8X` in the inventory, the same file.
    let again = after(
        &r,
        "inventory/site.yaml",
        "  voicemail:",
        "  pickup: \"*8X\"\n  voicemail:",
    );
    assert_eq!(again.own.get("sip", "CallPkupSC"), Some("*8X"));
}

#[test]
fn the_user_password_is_always_stated() {
    let r = Repo::with_base();
    r.edit(
        "inventory/site.yaml",
        "admin_password:",
        "user_password: {env: TEST_ADMIN_PASSWORD}\nadmin_password:",
    );
    r.commit("a user password");
    r.build(&[]);
    let given = boot30(&r, M1)
        .own
        .get("sys", "UserPWD")
        .unwrap()
        .to_string();
    assert_eq!(given, common::ADMIN);
    // Removed from the inventory: a derived one replaces it, never the old one kept.
    let v = after(
        &r,
        "inventory/site.yaml",
        "user_password: {env: TEST_ADMIN_PASSWORD}\n",
        "",
    );
    let now = v.own.get("sys", "UserPWD").unwrap();
    assert!(!now.is_empty() && now != given, "{now}");
}

#[test]
fn a_raw_key_no_longer_set_is_reported_by_check_and_diff() {
    let r = Repo::with_base();
    let site = r.read("inventory/site.yaml");
    r.write(
        "inventory/site.yaml",
        &format!("{site}settings: {{sys: {{VOIPDialPlan: \"0x.T\"}}}}\n"),
    );
    r.commit("a dial plan");
    r.write("inventory/site.yaml", &site);
    r.commit("no dial plan");
    let out = r.provsite(&["check"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("[sys] VOIPDialPlan is no longer written for 3 phone(s)"),
        "{err}"
    );
    assert!(err.contains(M1) && err.contains(M22), "{err}");
    assert!(err.contains("settings: {sys: {VOIPDialPlan:"), "{err}");
    let text = r.stdout(&["diff", "HEAD~1", "HEAD"]);
    assert!(text.contains("Kept by the phones"), "{text}");
    assert!(text.contains("[sys] VOIPDialPlan: 3 phone(s)"), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&r.stdout(&["diff", "HEAD~1", "HEAD", "--format", "json"])).unwrap();
    assert_eq!(json["kept"][0]["key"], "VOIPDialPlan");
    assert_eq!(json["kept"][0]["value"], "0x.T");

    // A phone's own raw key: reported for that phone alone, whose file changed while the others'
    // stayed the same.
    let r = Repo::with_base();
    let (plain, with_plan) = (
        "  model: ST2022\n",
        "  model: ST2022\n  settings: {sys: {VOIPDialPlan: \"9x.T\"}}\n",
    );
    r.edit("inventory/phones/base.yaml", plain, with_plan);
    r.commit("a dial plan for one phone");
    r.edit("inventory/phones/base.yaml", with_plan, plain);
    r.commit("no dial plan for it");
    let err = String::from_utf8_lossy(&r.provsite(&["check"]).stderr).into_owned();
    assert!(
        err.contains(&format!(
            "[sys] VOIPDialPlan is no longer written for 1 phone(s) ({M22})"
        )),
        "{err}"
    );

    // A key the vendor's common file still states goes back to its value: not reported.
    let r = Repo::with_base();
    r.edit(
        "inventory/site.yaml",
        "    settings: {ipp: {Ringer_default_vol: \"5\"}}\n",
        "",
    );
    r.commit("back to the vendor's ringer volume");
    let err = String::from_utf8_lossy(&r.provsite(&["check"]).stderr).into_owned();
    assert!(!err.contains("no longer written"), "{err}");

    // Dropping ntp or pickup is no such case: they are written off.
    let r = Repo::with_base();
    r.edit("inventory/site.yaml", "ntp: 192.0.2.10\n", "");
    r.commit("no ntp");
    let err = String::from_utf8_lossy(&r.provsite(&["check"]).stderr).into_owned();
    assert!(!err.contains("no longer written"), "{err}");
}

#[test]
fn the_st2022_takes_two_lines_and_line_keys_are_refused() {
    let r = Repo::with_base();
    r.edit(
        "inventory/phones/base.yaml",
        "lines: [{user: \"1003\"}]",
        "lines: [{user: \"1003\"}, {user: \"1004\"}, {user: \"1005\"}]",
    );
    r.commit("three lines on an ST2022");
    let out = r.provsite(&["check"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("3 lines, but a ST2022 takes 2"), "{err}");
    assert!(err.contains("--> inventory/phones/base.yaml:"), "{err}");

    let r = Repo::with_base();
    r.edit(
        "inventory/phones/base.yaml",
        "lines: [{user: \"1003\"}]",
        "lines: [{user: \"1003\"}, {user: \"1004\"}]",
    );
    r.commit("two lines");
    r.build(&[]);
    let v = boot22(&r, M22);
    assert_eq!(v.own.get("sip", "TEL02Use"), Some("1"));
    assert_eq!(v.own.get("sip", "TEL03Use"), Some("0"));

    let r = Repo::with_base();
    r.edit(
        "inventory/phones/base.yaml",
        "2: {speed_dial: \"0612345678\"}",
        "2: {line: \"1001\"}",
    );
    r.commit("a line key");
    let out = r.provsite(&["check"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("`line:` keys are not supported"), "{err}");
}

#[test]
fn function_keys_land_on_their_numbers_and_every_other_slot_is_written_unused() {
    let r = Repo::with_base();
    r.build(&[]);
    assert_eq!(
        boot30(&r, M1).own.get("sys", "FeatureKeyExt01"),
        Some("S/<sip:1002>")
    );
    // Moved to other slots, given out of order, with gaps between them.
    let v = after(
        &r,
        "inventory/phones/base.yaml",
        "    1: {blf: \"1002\"}\n    2: {speed_dial: \"0612345678\"}\n",
        "    5: {speed_dial: \"0612345678\"}\n    2: {blf: \"1002\"}\n",
    );
    let slot = |n: u32| v.own.get("sys", &format!("FeatureKeyExt{n:02}"));
    assert_eq!(slot(2), Some("S/<sip:1002>"));
    assert_eq!(slot(5), Some("L/<sip:0612345678>"));
    for n in [1, 3, 4, 6] {
        assert_eq!(slot(n), Some("L/<sip:>"), "key {n}");
    }
}

#[test]
fn display_names_get_their_usual_latin1_spelling_with_a_warning() {
    let r = Repo::with_base();
    r.edit(
        "inventory/phones/base.yaml",
        "display_name: \"Zoé\"",
        "display_name: \"Zoé Œuvre – Łódź\"",
    );
    r.commit("names");
    let out = r.provsite(&["build"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("is written `Zoé OEuvre - Lódz`")
            && err.contains("--> inventory/phones/base.yaml:"),
        "{err}"
    );
    let v = boot30(&r, M2);
    assert_eq!(v.own.get("sip", "DisplayName1"), Some("Zoé OEuvre - Lódz"));
}

#[test]
fn message_waiting_pickup_and_codecs_have_their_asterisk_half() {
    let r = Repo::with_base();
    r.edit(
        "inventory/site.yaml",
        "models:\n",
        "codecs: [g722, alaw]\nasterisk: {voicemail_context: office}\nmodels:\n",
    );
    r.edit(
        "inventory/phones/base.yaml",
        "lines: [{user: \"1003\"}]",
        "lines: [{user: \"1003\"}]\n  codecs: [ulaw, g729]",
    );
    r.commit("codecs and voicemail context");
    r.build(&[]);
    let pjsip = r.stdout(&["asterisk", "--format", "pjsip"]);
    let c = Config::parse(Path::new("pjsip.conf"), &pjsip).unwrap();
    // Message waiting: the phones subscribe (subscribe_event=1), the AOR answers.
    let v = boot30(&r, M1);
    assert_eq!(v.own.get("sip", "subscribe_event"), Some("1"));
    assert_eq!(
        conf_section(&c, "1001", "aor").get("mailboxes"),
        Some("1001@office")
    );
    // Codecs: the same list, in the same order, on both sides; per phone where set.
    assert_eq!(
        v.value("sys", "CodecPriority").as_deref(),
        Some("g722(1)g711a(2)")
    );
    assert_eq!(
        conf_section(&c, "1001", "endpoint").get("allow"),
        Some("g722,alaw")
    );
    let v22 = boot22(&r, M22);
    assert_eq!(
        v22.own.get("sys", "CodecPriority"),
        Some("g711mu(1)g729(2)")
    );
    assert_eq!(
        conf_section(&c, "1003", "endpoint").get("allow"),
        Some("ulaw,g729")
    );
    let sip = r.stdout(&["asterisk", "--format", "sip"]);
    assert!(sip.contains("mailbox=1001@office"), "{sip}");
    // Pickup: what a BLF key dials (*8 then the number) reaches Pickup() for that extension.
    let hints = r.stdout(&["asterisk", "--hints"]);
    let c = Config::parse(Path::new("hints.conf"), &format!("[phones]\n{hints}")).unwrap();
    let pickup = c.sections[0]
        .entries
        .iter()
        .find(|e| e.value.starts_with("_*8X."))
        .unwrap_or_else(|| panic!("{hints}"));
    assert_eq!(pickup.value, "_*8X.,1,Pickup(${EXTEN:2}@phones)");

    // No voicemail: no mailbox.
    r.edit("inventory/site.yaml", "  voicemail: \"*98\"\n", "");
    r.commit("no voicemail");
    let pjsip = r.stdout(&["asterisk", "--format", "pjsip"]);
    assert!(!pjsip.contains("mailboxes="), "{pjsip}");
}

#[test]
fn a_codec_one_side_cannot_do_is_a_located_error() {
    for (list, want) in [
        (
            "[alaw, opus]",
            "codec `opus`: Asterisk can do it, the phones cannot",
        ),
        (
            "[gsmwbamr]",
            "codec `gsmwbamr`: the phones can do it, Asterisk cannot",
        ),
        ("[alaw, alwa]", "unknown codec `alwa`"),
    ] {
        let r = Repo::with_base();
        r.edit(
            "inventory/site.yaml",
            "models:\n",
            &format!("codecs: {list}\nmodels:\n"),
        );
        r.commit("codecs");
        let out = r.provsite(&["check"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(want), "{err}");
        assert!(err.contains("--> inventory/site.yaml:"), "{err}");
    }
}
