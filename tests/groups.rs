//! Groups (`phones/**/group.yaml`), the precedence site → model → group (outer, inner) →
//! profile → phone, and the first-class settings (VLAN, DNS, directories, login names, outbound
//! proxy, per-line servers), read back as the phone ends up with them.

mod common;

use common::*;

/// Phones at each level of the inventory: the site's only, an outer group's, an inner group's,
/// the inner group's with a profile, and one setting everything itself.
const SITE_ONLY: &str = "001F9F16E849";
const OUTER: &str = "001F9F000001";
const INNER: &str = "001F9F000002";
const PROFILE: &str = "001F9F000003";
const PHONE: &str = "001F9F000004";

/// One overridable field: the YAML each level writes (a `key: value` line, or several), the key
/// the phone's files hold, and the value each level makes the phone end up with. The levels are
/// site, outer group, inner group, profile and phone; `None` where a level cannot set the field.
struct Case {
    field: &'static str,
    yaml: [Option<&'static str>; 5],
    key: (&'static str, &'static str),
    expect: [&'static str; 5],
}

fn zone(tz: &str) -> String {
    provsite::tables::ntp_zone_num(tz).unwrap().to_string()
}

fn lang(code: &str) -> String {
    provsite::tables::language(code)
        .unwrap()
        .language_type
        .to_string()
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            field: "timezone",
            yaml: [
                None, // the base site's Europe/Paris
                Some("timezone: America/New_York"),
                Some("timezone: Asia/Tokyo"),
                Some("timezone: Europe/London"),
                Some("timezone: Australia/Sydney"),
            ],
            key: ("ntp", "NtpZoneNum"),
            expect: ["", "", "", "", ""], // computed in `expected`
        },
        Case {
            field: "language",
            yaml: [
                None, // fr
                Some("language: en"),
                Some("language: es"),
                Some("language: de"),
                Some("language: fr"),
            ],
            key: ("ipp", "LanguageType"),
            expect: ["", "", "", "", ""],
        },
        Case {
            field: "country",
            yaml: [
                Some("country: FR"),
                Some("country: US"),
                Some("country: JP"),
                Some("country: GB"),
                Some("country: AU"),
            ],
            key: ("sys", "CountryCode"),
            expect: ["FR", "US", "JP", "GB", "AU"],
        },
        Case {
            field: "ntp",
            yaml: [
                None, // 192.0.2.10
                Some("ntp: 192.0.2.11"),
                Some("ntp: 192.0.2.12"),
                Some("ntp: 192.0.2.13"),
                Some("ntp: 192.0.2.14"),
            ],
            key: ("ntp", "NtpIP"),
            expect: [
                "192.0.2.10",
                "192.0.2.11",
                "192.0.2.12",
                "192.0.2.13",
                "192.0.2.14",
            ],
        },
        Case {
            field: "pbx.host",
            yaml: [
                None, // pbx.test
                Some("pbx: {host: outer.test}"),
                Some("pbx: {host: inner.test}"),
                Some("pbx: {host: profile.test}"),
                Some("pbx: {host: phone.test}"),
            ],
            key: ("sip", "RegisterServerMP1"),
            expect: [
                "pbx.test",
                "outer.test",
                "inner.test",
                "profile.test",
                "phone.test",
            ],
        },
        Case {
            field: "pbx.backup_host",
            yaml: [
                None, // none
                Some("pbx: {backup_host: bk1.test}"),
                Some("pbx: {backup_host: bk2.test}"),
                Some("pbx: {backup_host: bk3.test}"),
                Some("pbx: {backup_host: \"off\"}"),
            ],
            key: ("sip", "RegisterServerBK1"),
            expect: ["", "bk1.test", "bk2.test", "bk3.test", ""],
        },
        Case {
            field: "pbx.dtmf",
            yaml: [
                None, // rfc2833
                Some("pbx: {dtmf: inband}"),
                Some("pbx: {dtmf: info}"),
                Some("pbx: {dtmf: rfc2833}"),
                Some("pbx: {dtmf: info}"),
            ],
            key: ("sys", "dtmf_mode_flag"),
            expect: ["", "", "", "", ""], // computed in `expected`
        },
        Case {
            field: "pbx.port",
            yaml: [
                None, // 5060
                Some("pbx: {port: 5061}"),
                Some("pbx: {port: 5062}"),
                Some("pbx: {port: 5063}"),
                Some("pbx: {port: 5064}"),
            ],
            key: ("sip", "sip_reg_srv_portMP1"),
            expect: ["5060", "5061", "5062", "5063", "5064"],
        },
        Case {
            field: "pbx.transport",
            yaml: [
                None, // udp
                Some("pbx: {transport: tcp}"),
                Some("pbx: {transport: tls}"),
                Some("pbx: {transport: udp}"),
                Some("pbx: {transport: tcp}"),
            ],
            key: ("sip", "TransportFlgMP1"),
            expect: ["0", "1", "2", "0", "1"],
        },
        Case {
            field: "pbx.voicemail",
            yaml: [
                None, // *98
                Some("pbx: {voicemail: \"*91\"}"),
                Some("pbx: {voicemail: \"*92\"}"),
                Some("pbx: {voicemail: \"*93\"}"),
                Some("pbx: {voicemail: \"off\"}"),
            ],
            key: ("sip", "VoiceMailTelNum"),
            expect: ["*98", "*91", "*92", "*93", ""],
        },
        Case {
            field: "pbx.pickup",
            yaml: [
                None, // *8
                Some("pbx: {pickup: \"*81\"}"),
                Some("pbx: {pickup: \"*82\"}"),
                Some("pbx: {pickup: \"*83\"}"),
                Some("pbx: {pickup: \"*84\"}"),
            ],
            key: ("sip", "CallPkupSC"),
            expect: ["*8X", "*81X", "*82X", "*83X", "*84X"],
        },
        Case {
            field: "pbx.outbound_proxy",
            yaml: [
                None,
                Some("pbx: {outbound_proxy: proxy1.test}"),
                Some("pbx: {outbound_proxy: proxy2.test}"),
                Some("pbx: {outbound_proxy: proxy3.test}"),
                Some("pbx: {outbound_proxy: \"off\"}"),
            ],
            key: ("sip", "ProxyServerMP1"),
            // Without an outbound proxy the proxy is the registrar (here each level's host).
            expect: [
                "pbx.test",
                "proxy1.test",
                "proxy2.test",
                "proxy3.test",
                "phone.test",
            ],
        },
        Case {
            field: "admin_user",
            yaml: [
                Some("admin_user: siteadmin"),
                Some("admin_user: outeradmin"),
                Some("admin_user: inneradmin"),
                Some("admin_user: profileadmin"),
                Some("admin_user: phoneadmin"),
            ],
            key: ("sys", "TelnetID"),
            expect: [
                "siteadmin",
                "outeradmin",
                "inneradmin",
                "profileadmin",
                "phoneadmin",
            ],
        },
        Case {
            field: "user_id",
            yaml: [
                Some("user_id: siteuser"),
                Some("user_id: outeruser"),
                Some("user_id: inneruser"),
                Some("user_id: profileuser"),
                Some("user_id: phoneuser"),
            ],
            key: ("sys", "UserID"),
            expect: [
                "siteuser",
                "outeruser",
                "inneruser",
                "profileuser",
                "phoneuser",
            ],
        },
        Case {
            field: "user_password",
            yaml: [
                Some("user_password: Site-user-7431"),
                Some("user_password: Outer-user-7431"),
                Some("user_password: Inner-user-7431"),
                Some("user_password: Profile-user-7431"),
                Some("user_password: Phone-user-7431"),
            ],
            key: ("sys", "UserPWD"),
            expect: [
                "Site-user-7431",
                "Outer-user-7431",
                "Inner-user-7431",
                "Profile-user-7431",
                "Phone-user-7431",
            ],
        },
        Case {
            field: "admin_password",
            yaml: [
                None, // {env: TEST_ADMIN_PASSWORD}
                Some("admin_password: Outer-admin-7431"),
                Some("admin_password: Inner-admin-7431"),
                Some("admin_password: Profile-admin-7431"),
                Some("admin_password: Phone-admin-7431"),
            ],
            key: ("sys", "WebPWD"),
            expect: [
                ADMIN,
                "Outer-admin-7431",
                "Inner-admin-7431",
                "Profile-admin-7431",
                "Phone-admin-7431",
            ],
        },
        Case {
            field: "vlan",
            yaml: [
                Some("vlan: {voice: 10}"),
                Some("vlan: {voice: 11, pc: 30, priority: 5}"),
                Some("vlan: {voice: 12}"),
                Some("vlan: {voice: 13}"),
                Some("vlan: {voice: 14}"),
            ],
            key: ("qos", "VLANid1"),
            expect: ["10", "11", "12", "13", "14"],
        },
        Case {
            field: "dns",
            yaml: [
                Some("dns: [192.0.2.53]"),
                Some("dns: [192.0.2.54, 192.0.2.55]"),
                Some("dns: [192.0.2.56]"),
                Some("dns: [192.0.2.57]"),
                Some("dns: \"off\""),
            ],
            key: ("net", "DNSSrv1"),
            expect: [
                "192.0.2.53",
                "192.0.2.54",
                "192.0.2.56",
                "192.0.2.57",
                "0.0.0.0",
            ],
        },
        Case {
            field: "directory",
            yaml: [
                Some("directory: [{name: Site, url: \"http://dir.test/site.xml\"}]"),
                Some("directory: [{name: Outer, url: \"http://dir.test/outer.xml\"}]"),
                Some("directory: [{name: Inner, url: \"http://dir.test/inner.xml\"}]"),
                Some("directory: [{name: Profile, url: \"http://dir.test/p.xml\"}]"),
                Some("directory: [{name: Phone, url: \"http://dir.test/phone.xml\"}]"),
            ],
            key: ("sys", "Phonebook1_name"),
            expect: ["Site", "Outer", "Inner", "Profile", "Phone"],
        },
        Case {
            field: "autoprovision",
            yaml: [
                Some("autoprovision: {check_sync: 192.0.2.100}"),
                Some("autoprovision: {check_sync: 192.0.2.101}"),
                Some("autoprovision: {check_sync: pbx}"),
                Some("autoprovision: {check_sync: 192.0.2.103}"),
                Some("autoprovision: {check_sync: \"off\"}"),
            ],
            key: ("sip", "AuthNotifyCheckSync"),
            // `pbx`: the phone's PBX at that level (the inner group's host).
            expect: [
                "192.0.2.100",
                "192.0.2.101",
                "inner.test",
                "192.0.2.103",
                "",
            ],
        },
        Case {
            field: "settings",
            yaml: [
                Some("settings: {ipp: {AutoAnsTimer: \"1\"}}"),
                Some("settings: {ipp: {AutoAnsTimer: \"2\"}}"),
                Some("settings: {ipp: {AutoAnsTimer: \"3\"}}"),
                Some("settings: {ipp: {AutoAnsTimer: \"4\"}}"),
                Some("settings: {ipp: {AutoAnsTimer: \"5\"}}"),
            ],
            key: ("ipp", "AutoAnsTimer"),
            expect: ["1", "2", "3", "4", "5"],
        },
        Case {
            field: "codecs",
            yaml: [
                Some("codecs: [alaw]"),
                Some("codecs: [ulaw]"),
                Some("codecs: [g729, alaw]"),
                None, // profiles name no codecs: the inner group's
                Some("codecs: [alaw, ulaw]"),
            ],
            key: ("sys", "CodecPriority"),
            expect: [
                "g711a(1)",
                "g711mu(1)",
                "g729(1)g711a(2)",
                "g729(1)g711a(2)",
                "g711a(1)g711mu(2)",
            ],
        },
    ]
}

fn expected(c: &Case) -> Vec<String> {
    match c.field {
        "timezone" => [
            "Europe/Paris",
            "America/New_York",
            "Asia/Tokyo",
            "Europe/London",
            "Australia/Sydney",
        ]
        .iter()
        .map(|z| zone(z))
        .collect(),
        "language" => ["fr", "en", "es", "de", "fr"]
            .iter()
            .map(|l| lang(l))
            .collect(),
        "pbx.dtmf" => ["rfc2833", "inband", "info", "rfc2833", "info"]
            .iter()
            .map(|d| provsite::tables::Dtmf::parse(d).unwrap().flag().to_string())
            .collect(),
        _ => c.expect.iter().map(|s| s.to_string()).collect(),
    }
}

/// YAML lines at one level; `pbx:` patches of several cases merged into one mapping.
fn level_yaml(cases: &[Case], level: usize, indent: &str) -> String {
    let mut out = String::new();
    let mut pbx = Vec::new();
    for c in cases {
        if let Some(y) = c.yaml[level] {
            match y.strip_prefix("pbx: {") {
                Some(inner) => pbx.push(inner.trim_end_matches('}').to_string()),
                None => out.push_str(&format!("{indent}{y}\n")),
            }
        }
    }
    if !pbx.is_empty() {
        out.push_str(&format!("{indent}pbx: {{{}}}\n", pbx.join(", ")));
    }
    out
}

fn phone_item(mac: &str, user: &str, extra: &str) -> String {
    let mut s = format!("- mac: \"{mac}\"\n  model: ST2030\n  lines: [{{user: \"{user}\"}}]\n");
    for l in extra.lines() {
        s.push_str(&format!("  {l}\n"));
    }
    s
}

/// The base inventory with every case written at every level it can be.
fn precedence_repo(cases: &[Case]) -> Repo {
    let r = Repo::with_base();
    let mut site = r.read("inventory/site.yaml");
    // Site-level fields not in the base site (the site's pbx stays as it is).
    for c in cases {
        if let Some(y) = c.yaml[0] {
            if !y.starts_with("pbx:") {
                site.push_str(&format!("{y}\n"));
            }
        }
    }
    // The profile.
    site = site.replace(
        "profiles:\n",
        &format!("profiles:\n  p:\n{}", level_yaml(cases, 3, "    ")),
    );
    r.write("inventory/site.yaml", &site);
    r.write(
        "inventory/phones/outer/group.yaml",
        &level_yaml(cases, 1, ""),
    );
    r.write(
        "inventory/phones/outer/b.yaml",
        &phone_item(OUTER, "2001", ""),
    );
    r.write(
        "inventory/phones/outer/inner/group.yaml",
        &level_yaml(cases, 2, ""),
    );
    let own = level_yaml(cases, 4, "");
    r.write(
        "inventory/phones/outer/inner/c.yaml",
        &(phone_item(INNER, "2002", "")
            + &phone_item(PROFILE, "2003", "profile: p")
            + &phone_item(PHONE, "2004", &format!("profile: p\n{own}"))),
    );
    r.commit("groups");
    r
}

#[test]
fn each_level_overrides_the_one_before_for_every_field() {
    let cases = cases();
    let r = precedence_repo(&cases);
    r.build(&[]);
    let views: Vec<PhoneView> = [SITE_ONLY, OUTER, INNER, PROFILE, PHONE]
        .iter()
        .map(|m| boot30(&r, m))
        .collect();
    let names = ["site", "outer group", "inner group", "profile", "phone"];
    for c in &cases {
        let want = expected(c);
        for (level, view) in views.iter().enumerate() {
            assert_eq!(
                view.value(c.key.0, c.key.1).as_deref(),
                Some(want[level].as_str()),
                "{}: the {} level's phone, {}.{}",
                c.field,
                names[level],
                c.key.0,
                c.key.1
            );
        }
    }
    // What the levels switch on together: VLAN tagging with the outer group's PC port and
    // priority; the second DNS server only where a level gives two.
    let outer = &views[1];
    assert_eq!(outer.value("net", "VLAN").as_deref(), Some("1"));
    assert_eq!(outer.value("qos", "VLANid2").as_deref(), Some("30"));
    assert_eq!(outer.value("qos", "VLANTag1").as_deref(), Some("5"));
    assert_eq!(outer.value("net", "DNSSrv2").as_deref(), Some("192.0.2.55"));
    assert_eq!(views[2].value("net", "DNSSrv2").as_deref(), Some("0.0.0.0"));
    assert_eq!(
        outer.value("sys", "Phonebook1_url").as_deref(),
        Some("http://dir.test/outer.xml")
    );
    assert_eq!(outer.value("sys", "Phonebook2_name").as_deref(), Some(""));
    // The voicemail switched off is written off, MWI subscription included.
    assert_eq!(
        views[4].value("sip", "subscribe_event").as_deref(),
        Some("0")
    );
    assert_eq!(
        views[3].value("sip", "subscribe_event").as_deref(),
        Some("1")
    );
}

#[test]
fn settings_left_unset_are_written_off() {
    let r = Repo::with_base();
    r.build(&[]);
    let v = boot30(&r, SITE_ONLY);
    for (s, k, off) in [
        // Check-sync accepted from the PBX only, and no periodic check, unless told otherwise.
        ("sip", "sw_notify_autoprovision", "1"),
        ("sip", "AuthNotifyCheckSync", "pbx.test"),
        ("autoprovision", "AutoprovisionFlag", "0"),
        ("net", "VLAN", "0"),
        ("net", "DNSSrv1", "0.0.0.0"),
        ("net", "DNSSrv2", "0.0.0.0"),
        ("sys", "Phonebook1_name", ""),
        ("sys", "Phonebook8_url", ""),
    ] {
        assert_eq!(v.value(s, k).as_deref(), Some(off), "{s}.{k}");
    }
    // No login names unless the inventory gives them.
    assert_eq!(v.own.get("sys", "TelnetID"), None);
    assert_eq!(v.own.get("sys", "UserID"), None);
}

#[test]
fn a_model_sets_the_admin_password_of_its_phones_and_a_group_overrides_it() {
    let r = Repo::with_base();
    r.edit(
        "inventory/site.yaml",
        "  ST2022:\n    firmware: fw22\n",
        "  ST2022:\n    firmware: fw22\n    admin_password: Model-admin-7431\n",
    );
    r.write(
        "inventory/phones/desk/group.yaml",
        "models:\n  ST2022: {admin_password: Group-admin-7431}\n",
    );
    r.write(
        "inventory/phones/desk/d.yaml",
        "- mac: \"00:14:7F:00:00:01\"\n  model: ST2022\n  lines: [{user: \"3001\"}]\n",
    );
    r.commit("model password");
    r.build(&[]);
    assert_eq!(
        boot22(&r, "00147FE1FC6D").value("sys", "WebPWD").as_deref(),
        Some("Model-admin-7431")
    );
    assert_eq!(
        boot22(&r, "00147F000001").value("sys", "WebPWD").as_deref(),
        Some("Group-admin-7431")
    );
    // The ST2030s keep the site's.
    assert_eq!(
        boot30(&r, SITE_ONLY).value("sys", "WebPWD").as_deref(),
        Some(ADMIN)
    );
}

#[test]
fn a_line_can_register_with_a_server_of_its_own() {
    let r = Repo::with_base();
    r.edit(
        "inventory/phones/base.yaml",
        "{user: \"1002\", display_name: \"Zoé\"}",
        "{user: \"1002\", display_name: \"Zoé\"}, {user: \"7001\", host: other.test, port: 5070, transport: tcp, backup_host: \"off\"}",
    );
    r.edit(
        "inventory/site.yaml",
        "  pickup: \"*8\"\n",
        "  pickup: \"*8\"\n  backup_host: bk.test\n",
    );
    r.commit("a second PBX for line 2");
    r.build(&[]);
    let v = boot30(&r, "001F9F16E84A");
    for (k, want) in [
        ("RegisterServerMP1", "pbx.test"),
        ("RegisterServerBK1", "bk.test"),
        ("sip_reg_srv_portMP1", "5060"),
        ("TransportFlgMP1", "0"),
        ("RegisterServerMP2", "other.test"),
        ("ProxyServerMP2", "other.test"),
        ("RegisterServerBK2", ""),
        ("sip_reg_srv_portMP2", "5070"),
        ("sip_pxy_srv_portMP2", "5070"),
        ("TransportFlgMP2", "1"),
    ] {
        assert_eq!(v.value("sip", k).as_deref(), Some(want), "sip.{k}");
    }
}

fn check_fails_at(r: &Repo, file: &str, needle: &str) -> String {
    let out = r.provsite(&["check"]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "check passed:\n{err}");
    assert!(err.contains(needle), "no `{needle}` in:\n{err}");
    assert!(
        err.contains(&format!("--> {file}:")),
        "not located in {file}:\n{err}"
    );
    err
}

#[test]
fn bad_values_in_a_group_file_are_located_there() {
    for (yaml, needle, line) in [
        (
            "vlan: {voice: 5000}\n",
            "vlan.voice must be a whole number from 1 to 4094",
            1,
        ),
        (
            "vlan: {voice: 20, priority: 9}\n",
            "vlan.priority must be a whole number from 0 to 7",
            1,
        ),
        ("vlan: {pc: 30}\n", "vlan without its voice VLAN", 1),
        (
            "vlan: {voice: 20, colour: red}\n",
            "unknown field `colour` in vlan",
            1,
        ),
        (
            "dns: [192.0.2.1, dns.test]\n",
            "a DNS server is an IPv4 address",
            1,
        ),
        (
            "dns: [192.0.2.1, 192.0.2.2, 192.0.2.3]\n",
            "3 DNS servers: the phones take two",
            1,
        ),
        (
            "directory: [{name: A, url: \"ftp://x\"}]\n",
            "bad directory URL",
            1,
        ),
        (
            "directory: [{name: A}]\n",
            "a directory has a name and a url",
            1,
        ),
        (
            "# a comment\ntimezone: Europe/Pariss\n",
            "unknown time zone",
            2,
        ),
        ("language: xx\n", "unknown language", 1),
        ("pbx: {transport: sctp}\n", "unknown transport", 1),
        ("colour: red\n", "unknown field `colour`", 1),
        (
            "settings: {net: {VLAN: \"1\"}}\n",
            "net.VLAN is managed by provsite",
            1,
        ),
        ("profile: nosuch\n", "unknown profile `nosuch`", 1),
        (
            "models: {ST2040: {settings: {}}}\n",
            "unknown model `ST2040`",
            1,
        ),
        ("admin_password: \"784518\"\n", "factory admin password", 1),
        ("autoprovision: {check_sync: [a]}\n", "check_sync is `pbx`, an address, or `off`", 1),
        ("autoprovision: {periodic: {hour: 2}}\n", "unknown field `hour` in periodic", 1),
        ("autoprovision: {period: 2}\n", "unknown field `period` in autoprovision", 1),
        ("user_id: \"a b\"\n", "bad user_id", 1),
        ("pbx: {outbound_proxy: \"proxy;x\"}\n", "bad pbx.outbound_proxy", 1),
        ("pbx: {port: 0}\n", "port 0", 1),
        ("ntp_zone: 22\n", "ntp_zone without timezone", 1),
        ("models: {ST2030: {firmware: nosuch}}\n", "unknown firmware set `nosuch`", 1),
        (
            "directory:\n  - {name: a, url: \"http://d/1\"}\n  - {name: a, url: \"http://d/2\"}\n  - {name: a, url: \"http://d/3\"}\n  - {name: a, url: \"http://d/4\"}\n  - {name: a, url: \"http://d/5\"}\n  - {name: a, url: \"http://d/6\"}\n  - {name: a, url: \"http://d/7\"}\n  - {name: a, url: \"http://d/8\"}\n  - {name: a, url: \"http://d/9\"}\n",
            "9 directories: the phones take 8",
            2,
        ),
    ] {
        let r = Repo::with_base();
        r.write("inventory/phones/lyon/group.yaml", yaml);
        r.write(
            "inventory/phones/lyon/l.yaml",
            "- mac: \"00:1F:9F:00:00:10\"\n  model: ST2030\n  lines: [{user: \"4001\"}]\n",
        );
        r.commit("group");
        let err = check_fails_at(&r, "inventory/phones/lyon/group.yaml", needle);
        assert!(
            err.contains(&format!("inventory/phones/lyon/group.yaml:{line}:")),
            "{yaml}: not at line {line}:\n{err}"
        );
    }
}

#[test]
fn bad_values_on_the_site_and_a_phone_are_located_too() {
    let r = Repo::with_base();
    r.write(
        "inventory/site.yaml",
        &(r.read("inventory/site.yaml") + "vlan: {voice: 0}\n"),
    );
    r.commit("vlan 0");
    check_fails_at(
        &r,
        "inventory/site.yaml",
        "vlan.voice must be a whole number",
    );
    let r = Repo::with_base();
    r.edit(
        "inventory/phones/base.yaml",
        "  lines: [{user: \"1003\"}]",
        "  lines: [{user: \"1003\"}]\n  directory: \"not a list\"",
    );
    r.commit("bad directory");
    check_fails_at(
        &r,
        "inventory/phones/base.yaml",
        "directory is a list or `off`",
    );
}

#[test]
fn diff_shows_which_phones_a_group_change_reaches() {
    let r = Repo::with_base();
    r.write("inventory/phones/lyon/group.yaml", "ntp: 192.0.2.20\n");
    r.write(
        "inventory/phones/lyon/l.yaml",
        &(phone_item("001F9F000010", "4001", "") + &phone_item("001F9F000011", "4002", "")),
    );
    r.commit("lyon");
    r.write("inventory/phones/lyon/group.yaml", "ntp: 192.0.2.21\n");
    r.commit("lyon's own NTP server");
    let d: serde_json::Value =
        serde_json::from_str(&r.stdout(&["diff", "HEAD~1", "HEAD", "--format", "json"])).unwrap();
    let reload: Vec<&str> = d["reload"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(reload, ["001F9F000010", "001F9F000011"]);
    let change = &d["changed"][0]["changes"][0];
    assert_eq!(change["key"], "NtpIP");
    assert_eq!(change["after"], "192.0.2.21");
    // And the numbering agrees: only Lyon's phones get the new commit's config_sn.
    r.build(&[]);
    let lyon = boot30(&r, "001F9F000010").sn();
    let paris = boot30(&r, SITE_ONLY).sn();
    assert!(lyon > paris, "{lyon} vs {paris}");
}

#[test]
fn a_group_profile_is_the_default_of_its_phones() {
    let r = Repo::with_base();
    r.write("inventory/phones/sales/group.yaml", "profile: sales\n");
    r.write(
        "inventory/phones/sales/s.yaml",
        &phone_item("001F9F000020", "5001", ""),
    );
    r.commit("sales folder");
    r.build(&[]);
    // The sales profile's BLF key 1 and AutoAnsMode.
    let v = boot30(&r, "001F9F000020");
    assert_eq!(
        v.value("sys", "FeatureKeyExt01").as_deref(),
        Some("S/<sip:1002>")
    );
    assert_eq!(v.value("ipp", "AutoAnsMode").as_deref(), Some("0"));
}

#[test]
fn asterisk_writes_the_accounts_of_one_pbx_at_a_time() {
    let r = Repo::with_base();
    r.write(
        "inventory/phones/lyon/group.yaml",
        "pbx: {host: lyon-pbx.test}\n",
    );
    r.write(
        "inventory/phones/lyon/l.yaml",
        &phone_item("001F9F000010", "4001", ""),
    );
    r.commit("lyon has its own PBX");
    let out = r.provsite(&["asterisk"]);
    assert!(out.status.success());
    let paris = String::from_utf8(out.stdout).unwrap();
    let note = String::from_utf8(out.stderr).unwrap();
    assert!(
        paris.contains("[1001]") && !paris.contains("[4001]"),
        "{paris}"
    );
    assert!(
        note.contains("1 line(s) register with lyon-pbx.test instead")
            && note.contains("--pbx lyon-pbx.test"),
        "{note}"
    );
    let lyon = r.stdout(&["asterisk", "--pbx", "lyon-pbx.test"]);
    assert!(
        lyon.contains("[4001]") && !lyon.contains("[1001]"),
        "{lyon}"
    );
}

#[test]
fn a_line_without_voicemail_has_no_mailbox_and_a_phone_without_any_writes_it_off() {
    let r = Repo::with_base();
    r.edit(
        "inventory/phones/base.yaml",
        "  lines: [{user: \"1003\"}]",
        "  lines: [{user: \"1003\", voicemail: false}]",
    );
    r.edit(
        "inventory/phones/base.yaml",
        "{user: \"1002\", display_name: \"Zoé\"}",
        "{user: \"1002\", display_name: \"Zoé\"}, {user: \"1009\", voicemail: false}",
    );
    r.commit("no voicemail for 1003 and 1009");
    let conf = provsite::asterisk_conf::Config::parse(
        std::path::Path::new("generated.conf"),
        &r.stdout(&["asterisk"]),
    )
    .unwrap();
    let aor = |user: &str| conf_section(&conf, user, "aor");
    assert_eq!(aor("1002").get("mailboxes"), Some("1002@default"));
    assert_eq!(aor("1009").get("mailboxes"), None);
    assert_eq!(aor("1003").get("mailboxes"), None);
    r.build(&[]);
    // The ST2022's only line has none: its phone is told no voicemail, no message waiting.
    let v = boot22(&r, "00147FE1FC6D");
    assert_eq!(v.value("sip", "VoiceMailTelNum").as_deref(), Some(""));
    assert_eq!(v.value("sip", "subscribe_event").as_deref(), Some("0"));
    // A phone with one line still on voicemail keeps it.
    let v = boot30(&r, "001F9F16E84A");
    assert_eq!(v.value("sip", "VoiceMailTelNum").as_deref(), Some("*98"));
    assert_eq!(v.value("sip", "subscribe_event").as_deref(), Some("1"));
}

#[test]
fn check_warns_when_a_key_written_only_when_set_goes_away() {
    let r = Repo::with_base();
    r.write(
        "inventory/site.yaml",
        &(r.read("inventory/site.yaml") + "vlan: {voice: 20, pc: 30}\n"),
    );
    r.write(
        "inventory/phones/lyon/group.yaml",
        "admin_user: lyonadmin\n",
    );
    r.write(
        "inventory/phones/lyon/l.yaml",
        &phone_item("001F9F000010", "4001", ""),
    );
    r.commit("a PC VLAN and a login name");
    r.edit(
        "inventory/site.yaml",
        "vlan: {voice: 20, pc: 30}",
        "vlan: {voice: 20}",
    );
    r.write("inventory/phones/lyon/group.yaml", "ntp: 192.0.2.40\n");
    r.commit("both dropped");
    let out = r.provsite(&["check"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("qos.VLANid2") || err.contains("[qos] VLANid2"),
        "{err}"
    );
    assert!(err.contains("TelnetID"), "{err}");
}

#[test]
fn a_periodic_check_passes_the_vendors_values_through() {
    let r = Repo::with_base();
    r.write(
        "inventory/phones/night/group.yaml",
        "autoprovision:\n  check_sync: \"off\"\n  periodic: {days: \"127\", start: \"02:00\", span: \"60\"}\n",
    );
    r.write(
        "inventory/phones/night/n.yaml",
        &phone_item("001F9F000050", "8001", ""),
    );
    r.commit("a nightly check");
    r.build(&[]);
    let v = boot30(&r, "001F9F000050");
    for (s, k, want) in [
        ("autoprovision", "AutoprovisionFlag", "1"),
        ("autoprovision", "AutoprovisionTimeDays", "127"),
        ("autoprovision", "Autoprovisionstarttime", "02:00"),
        ("autoprovision", "AutoprovisionTimeSpan", "60"),
        ("sip", "sw_notify_autoprovision", "0"),
        ("sip", "AuthNotifyCheckSync", ""),
    ] {
        assert_eq!(v.value(s, k).as_deref(), Some(want), "{s}.{k}");
    }
    assert_eq!(v.own.get("autoprovision", "AutoprovisionRetryPeriod"), None);
    // Raw settings may not fight the field.
    r.write(
        "inventory/phones/night/group.yaml",
        "settings: {autoprovision: {AutoprovisionFlag: \"1\"}}\n",
    );
    r.commit("raw");
    check_fails_at(
        &r,
        "inventory/phones/night/group.yaml",
        "autoprovision.AutoprovisionFlag is managed by provsite",
    );
}

#[test]
fn a_groups_model_entry_goes_over_the_group_and_the_sites_model() {
    // site.yaml's ST2030 sets Ringer_default_vol 5; the group sets 6 for every model and, for the
    // ST2030, 7 and codecs of its own; the ST2022 in the same group takes the group's 6.
    let r = Repo::with_base();
    r.write(
        "inventory/phones/desk/group.yaml",
        "settings: {ipp: {Ringer_default_vol: \"6\"}}\ncodecs: [ulaw]\nmodels:\n  ST2030:\n    settings: {ipp: {Ringer_default_vol: \"7\"}}\n    codecs: [g729, alaw]\n",
    );
    r.write(
        "inventory/phones/desk/d.yaml",
        &(phone_item("001F9F000060", "9001", "")
            + "- mac: \"00:14:7F:00:00:61\"\n  model: ST2022\n  lines: [{user: \"9002\"}]\n"),
    );
    r.commit("a desk group");
    r.build(&[]);
    let st2030 = boot30(&r, "001F9F000060");
    assert_eq!(
        st2030.value("ipp", "Ringer_default_vol").as_deref(),
        Some("7")
    );
    assert_eq!(
        st2030.value("sys", "CodecPriority").as_deref(),
        Some("g729(1)g711a(2)")
    );
    let st2022 = boot22(&r, "00147F000061");
    assert_eq!(
        st2022.value("ipp", "Ringer_default_vol").as_deref(),
        Some("6")
    );
    assert_eq!(
        st2022.value("sys", "CodecPriority").as_deref(),
        Some("g711mu(1)")
    );
    // Outside the group, the site's model setting.
    assert_eq!(
        boot30(&r, SITE_ONLY)
            .value("ipp", "Ringer_default_vol")
            .as_deref(),
        Some("5")
    );
}
