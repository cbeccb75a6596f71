//! `provsite dhcp`: the DHCP side of the inventory for ISC dhcpd, Kea and dnsmasq.
//!
//! Each model present in the inventory gets a class recognised by option 77 (user class,
//! `Thomson ST2030S`) or by a substring of option 60 (vendor class, `Thomson&ST2030` from its third
//! byte on; what the first two bytes hold is not known), and optionally by the MACs of the
//! inventory's phones. The class sends option 43 with the model's entry-point URL as plain text
//! (the payload is `dhcp.option43` in site.yaml). Options 66, 67 and 150 are never sent: with
//! them the phone takes the TFTP workflow.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use crate::error::{Area, Error};
use crate::family::ModelId;
use crate::inventory::Inventory;
use crate::syntax::comment_block;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Isc,
    Kea,
    Dnsmasq,
}

impl crate::Choice for Format {
    const ALL: &'static [(&'static str, Self)] = &[
        ("isc", Format::Isc),
        ("kea", Format::Kea),
        ("dnsmasq", Format::Dnsmasq),
    ];
}

/// A whole configuration rather than a snippet: the subnet, its dynamic range, and optionally the
/// interface to serve.
#[derive(Debug, Clone)]
pub struct Network {
    pub network: Ipv4Addr,
    pub prefix: u8,
    pub first: Ipv4Addr,
    pub last: Ipv4Addr,
    pub interface: Option<String>,
}

impl Network {
    pub fn parse(subnet: &str, range: &str, interface: Option<String>) -> Result<Network, Error> {
        let bad = |what: &str| Error::of(Area::Generate, what.to_string());
        let (addr, prefix) = subnet.split_once('/').ok_or_else(|| {
            bad(&format!(
                "--subnet `{subnet}`: write it as ADDRESS/PREFIX, e.g. 192.0.2.0/24"
            ))
        })?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| {
            bad(&format!(
                "--subnet `{subnet}`: `{addr}` is not an IPv4 address"
            ))
        })?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| (8..=30).contains(p))
            .ok_or_else(|| bad(&format!("--subnet `{subnet}`: the prefix must be 8 to 30")))?;
        let mask = u32::MAX << (32 - prefix);
        if u32::from(addr) & !mask != 0 {
            return Err(bad(&format!(
                "--subnet `{subnet}` has host bits set; the network is {}/{prefix}",
                Ipv4Addr::from(u32::from(addr) & mask)
            )));
        }
        let (first, last) = range.split_once('-').ok_or_else(|| {
            bad(&format!(
                "--range `{range}`: write it as FIRST-LAST, e.g. 192.0.2.100-192.0.2.199"
            ))
        })?;
        let parse = |s: &str| -> Result<Ipv4Addr, Error> {
            s.trim()
                .parse()
                .map_err(|_| bad(&format!("--range `{range}`: `{s}` is not an IPv4 address")))
        };
        let (first, last) = (parse(first)?, parse(last)?);
        let net = Network {
            network: addr,
            prefix,
            first,
            last,
            interface,
        };
        for a in [first, last] {
            if !net.contains(a) || a == net.network || a == net.broadcast() {
                return Err(bad(&format!(
                    "--range `{range}`: {a} is not a host address of {subnet}"
                )));
            }
        }
        if u32::from(first) > u32::from(last) {
            return Err(bad(&format!(
                "--range `{range}`: the first address is after the last"
            )));
        }
        if let Some(i) = &net.interface {
            if i.is_empty()
                || !i
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
            {
                return Err(bad(&format!("--interface `{i}` is not an interface name")));
            }
        }
        Ok(net)
    }

    fn mask(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::MAX << (32 - self.prefix))
    }

    fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !(u32::MAX << (32 - self.prefix)))
    }

    pub fn contains(&self, a: Ipv4Addr) -> bool {
        let mask = u32::MAX << (32 - self.prefix);
        u32::from(a) & mask == u32::from(self.network)
    }

    fn in_range(&self, a: Ipv4Addr) -> bool {
        (u32::from(self.first)..=u32::from(self.last)).contains(&u32::from(a))
    }
}

/// One model's class (or a rollout's): what recognises it and what it is sent.
struct Class {
    name: String,
    /// The model's classes; empty for a rollout, which goes by MAC alone.
    user_class: String,
    vendor_class: String,
    payload: String,
    macs: Vec<String>,
    /// Phones of the model that a rollout class serves instead.
    except: Vec<String>,
}

impl Class {
    fn by_mac_only(&self) -> bool {
        self.user_class.is_empty()
    }
}

/// A phone with a fixed address.
struct Fixed {
    mac: String,
    ip: Ipv4Addr,
}

fn colon_mac(mac: &str) -> String {
    crate::phone_http::separated_mac(mac, ":").to_ascii_lowercase()
}

fn classes(inv: &Inventory) -> Vec<Class> {
    let site = &inv.site;
    let mut models: Vec<ModelId> = inv.phones.iter().map(|p| p.model).collect();
    models.extend(site.models.keys().copied());
    models.sort();
    models.dedup();
    let mut out = Vec::new();
    for m in models {
        let Some(cfg) = site.models.get(&m) else {
            continue;
        };
        // Phones on another firmware set than their model's: a class of their own, by MAC, sends
        // them that set's entry point; the model's class leaves them out.
        let mut rollouts: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
        for p in inv
            .phones
            .iter()
            .filter(|p| p.model == m && p.firmware != cfg.firmware)
        {
            rollouts
                .entry(&p.firmware)
                .or_default()
                .push(p.mac.to_string());
        }
        let url = format!("{}{}", site.base_url, cfg.entry_point);
        let matched = m.family().dhcp_match(m);
        out.push(Class {
            name: format!("provsite-{}", m.name()),
            user_class: matched.user_class,
            vendor_class: matched.vendor_class,
            payload: site.dhcp.option43.replace("{url}", &url),
            macs: if site.dhcp.by_mac {
                inv.phones
                    .iter()
                    .filter(|p| p.model == m && p.firmware == cfg.firmware)
                    .map(|p| p.mac.to_string())
                    .collect()
            } else {
                Vec::new()
            },
            except: rollouts.values().flatten().cloned().collect(),
        });
        for (set, macs) in rollouts {
            let variant = crate::inventory::Variant {
                model: m,
                firmware: set.to_string(),
            };
            let url = format!(
                "{}{}",
                site.base_url,
                crate::render::entry_point_name(cfg, &variant)
            );
            out.push(Class {
                name: format!("provsite-{}-{set}", m.name()),
                user_class: String::new(),
                vendor_class: String::new(),
                payload: site.dhcp.option43.replace("{url}", &url),
                macs,
                except: Vec::new(),
            });
        }
    }
    out
}

fn fixed(inv: &Inventory, net: Option<&Network>) -> Result<Vec<Fixed>, Error> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for p in &inv.phones {
        let Some(addr) = p.ip else { continue };
        if let Some(other) = seen.insert(addr, p.mac.clone()) {
            return Err(Error::of(
                Area::Generate,
                format!(
                    "phones {other} and {} both have ip {addr}; give each phone its own address",
                    p.mac
                ),
            ));
        }
        if let Some(n) = net {
            if !n.contains(addr) {
                return Err(Error::of(
                    Area::Generate,
                    format!(
                        "phone {}: ip {addr} is outside --subnet {}/{}",
                        p.mac, n.network, n.prefix
                    ),
                ));
            }
            if n.in_range(addr) {
                return Err(Error::of(Area::Generate, format!(
                    "phone {}: ip {addr} is inside the dynamic --range {}-{}; fixed addresses must be outside it",
                    p.mac, n.first, n.last
                )));
            }
        }
        out.push(Fixed {
            mac: p.mac.to_string(),
            ip: addr,
        });
    }
    Ok(out)
}

/// The configuration text for `format`: a snippet, or a whole configuration with `net`.
pub fn render(
    inv: &Inventory,
    format: Format,
    net: Option<&Network>,
    origin: &str,
) -> Result<String, Error> {
    let classes = classes(inv);
    // The payload goes inside double quotes in dhcpd.conf and dnsmasq.conf (Kea's is JSON): the
    // inventory's rules keep quotes and backslashes out of it; this refuses any that got through.
    for c in &classes {
        crate::syntax::dhcp::quoted("option 43", &c.payload, "a DHCP configuration")?;
    }
    let fixed = fixed(inv, net)?;
    Ok(match format {
        Format::Isc => isc(&classes, &fixed, net, origin),
        Format::Kea => kea(&classes, &fixed, net, origin),
        Format::Dnsmasq => dnsmasq(&classes, &fixed, net, origin),
    })
}

const NO_TFTP: &str = "Never send these phones options 66 (TFTP server name), 67 (boot file name) or 150 (TFTP\nserver address): with any of them the phone takes the TFTP workflow and ignores option 43.";

fn isc(classes: &[Class], fixed: &[Fixed], net: Option<&Network>, origin: &str) -> String {
    let mut t = String::new();
    let what = if net.is_some() {
        "A complete dhcpd.conf"
    } else {
        "A snippet for dhcpd.conf: include it at the top level, before your subnets:\n  include \"/etc/dhcp/provsite.conf\";\nNothing has to go inside your subnet or pool. To give the phones a pool of their own, put\n  allow members of \"provsite-ST2030\";   (one line per class below)\nin that pool and `deny members of` in the others."
    };
    t.push_str(&comment_block(
        "#",
        &format!("provsite: DHCP for the Technicolor phones, generated by `provsite dhcp --format isc`\nfrom {origin}. Regenerate it rather than editing it.\n\n{what}\n\nEach class sends its model the entry point's URL in option 43 (vendor-encapsulated-options)\nas plain text.
{NO_TFTP}"),
    ));
    if net.is_some() {
        t.push_str("\nauthoritative;\ndefault-lease-time 3600;\nmax-lease-time 86400;\n");
    }
    for c in classes {
        let mut tests: Vec<String> = Vec::new();
        if !c.by_mac_only() {
            tests.push(format!("option user-class = \"{}\"", c.user_class));
            tests.push(format!(
                "substring(option vendor-class-identifier, 2, {}) = \"{}\"",
                c.vendor_class.len(),
                c.vendor_class
            ));
        }
        for m in &c.macs {
            tests.push(format!("hardware = 1:{}", colon_mac(m)));
        }
        let mut test = tests.join("\n    or ");
        if !c.except.is_empty() {
            let except: Vec<String> = c
                .except
                .iter()
                .map(|m| format!("hardware = 1:{}", colon_mac(m)))
                .collect();
            test = format!("({test})\n    and not ({})", except.join("\n      or "));
        }
        let _ = writeln!(
            t,
            "\nclass \"{}\" {{\n  match if {test};\n  option vendor-encapsulated-options \"{}\";\n}}",
            c.name, c.payload
        );
    }
    if let Some(n) = net {
        let _ = writeln!(
            t,
            "\nsubnet {} netmask {} {{\n  range {} {};\n}}",
            n.network,
            n.mask(),
            n.first,
            n.last
        );
    }
    if !fixed.is_empty() {
        t.push_str("\n# Fixed addresses (`ip:` in the inventory).\n");
        for f in fixed {
            let _ = writeln!(
                t,
                "host provsite-{} {{ hardware ethernet {}; fixed-address {}; }}",
                f.mac,
                colon_mac(&f.mac),
                f.ip
            );
        }
    }
    t
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialise")
}

fn kea(classes: &[Class], fixed: &[Fixed], net: Option<&Network>, origin: &str) -> String {
    let mut t = String::new();
    let what = if net.is_some() {
        "A complete kea-dhcp4.conf."
    } else {
        "A snippet for kea-dhcp4.conf: merge \"client-classes\" into the \"Dhcp4\" object, and the\n\"reservations\" (if any) into the subnet4 entry of the phones' network."
    };
    t.push_str(&comment_block(
        "//",
        &format!("provsite: DHCP for the Technicolor phones, generated by `provsite dhcp --format kea`\nfrom {origin}. Regenerate it rather than editing it.\n\n{what}\n\nEach class sends its model the entry point's URL in option 43 as plain text: the class\nredefines option 43 as a string for its members only.
{NO_TFTP}"),
    ));
    let class_json: Vec<String> = classes
        .iter()
        .map(|c| {
            let mut tests: Vec<String> = Vec::new();
            if !c.by_mac_only() {
                tests.push(format!(
                    "option[77].hex == '{}' or substring(option[60].hex, 2, {}) == '{}'",
                    c.user_class,
                    c.vendor_class.len(),
                    c.vendor_class
                ));
            }
            for m in &c.macs {
                tests.push(format!("pkt4.mac == 0x{}", m.to_ascii_lowercase()));
            }
            let mut test = tests.join(" or ");
            if !c.except.is_empty() {
                let except: Vec<String> = c
                    .except
                    .iter()
                    .map(|m| format!("pkt4.mac == 0x{}", m.to_ascii_lowercase()))
                    .collect();
                test = format!("({test}) and not ({})", except.join(" or "));
            }
            format!(
                "    {{\n      \"name\": {},\n      \"test\": {},\n      \"option-def\": [ {{ \"name\": \"vendor-encapsulated-options\", \"code\": 43, \"type\": \"string\" }} ],\n      \"option-data\": [ {{ \"name\": \"vendor-encapsulated-options\", \"code\": 43, \"data\": {}, \"always-send\": true }} ]\n    }}",
                json_str(&c.name),
                json_str(&test),
                json_str(&c.payload)
            )
        })
        .collect();
    let reservations: Vec<String> = fixed
        .iter()
        .map(|f| {
            format!(
                "{{ \"hw-address\": {}, \"ip-address\": {} }}",
                json_str(&colon_mac(&f.mac)),
                json_str(&f.ip.to_string())
            )
        })
        .collect();
    let classes_block = format!("\"client-classes\": [\n{}\n  ]", class_json.join(",\n"));
    match net {
        None => {
            let _ = write!(t, "{{\n  {classes_block}");
            if !reservations.is_empty() {
                let _ = write!(
                    t,
                    ",\n  \"reservations\": [\n    {}\n  ]",
                    reservations.join(",\n    ")
                );
            }
            t.push_str("\n}\n");
        }
        Some(n) => {
            let iface = n.interface.clone().unwrap_or_else(|| "*".to_string());
            let _ = write!(
                t,
                "{{\n\"Dhcp4\": {{\n  \"interfaces-config\": {{ \"interfaces\": [ {} ] }},\n  \"lease-database\": {{ \"type\": \"memfile\", \"lfc-interval\": 3600 }},\n  \"valid-lifetime\": 3600,\n  \"authoritative\": true,\n  {},\n  \"subnet4\": [\n    {{\n      \"id\": 1,\n      \"subnet\": {},\n      \"pools\": [ {{ \"pool\": {} }} ]",
                json_str(&iface),
                classes_block.replace("\n", "\n  "),
                json_str(&format!("{}/{}", n.network, n.prefix)),
                json_str(&format!("{} - {}", n.first, n.last)),
            );
            if !reservations.is_empty() {
                let _ = write!(
                    t,
                    ",\n      \"reservations\": [\n        {}\n      ]",
                    reservations.join(",\n        ")
                );
            }
            t.push_str("\n    }\n  ]\n}\n}\n");
        }
    }
    t
}

fn dnsmasq(classes: &[Class], fixed: &[Fixed], net: Option<&Network>, origin: &str) -> String {
    let mut t = String::new();
    let what = if net.is_some() {
        "A complete dnsmasq.conf (DHCP only: port=0 turns its DNS server off)."
    } else {
        "A snippet for dnsmasq: save it as /etc/dnsmasq.d/provsite.conf, or add\n  conf-file=/etc/dnsmasq.d/provsite.conf\nto dnsmasq.conf."
    };
    t.push_str(&comment_block(
        "#",
        &format!("provsite: DHCP for the Technicolor phones, generated by `provsite dhcp --format dnsmasq`\nfrom {origin}. Regenerate it rather than editing it.\n\n{what}\n\nThe user and vendor classes are substring matches (dnsmasq's own rule). Each tag sends\nits model the entry point's URL in option 43 as plain text.
{NO_TFTP}"),
    ));
    if let Some(n) = net {
        t.push_str("\nport=0\ndhcp-authoritative\n");
        if let Some(i) = &n.interface {
            let _ = writeln!(t, "interface={i}\nbind-interfaces");
        }
        let _ = writeln!(t, "dhcp-range={},{},{},1h", n.first, n.last, n.mask());
    }
    for c in classes {
        // A rollout's phones carry its tag (dhcp-host below); the model's option leaves them out.
        let not_rollouts: String = classes
            .iter()
            .filter(|r| r.by_mac_only() && r.macs.iter().any(|m| c.except.contains(m)))
            .map(|r| format!("tag:!{},", r.name))
            .collect();
        if c.by_mac_only() {
            let _ = writeln!(t, "\ndhcp-option=tag:{},43,\"{}\"", c.name, c.payload);
        } else {
            let _ = writeln!(
                t,
                "\ndhcp-userclass=set:{name},{}\ndhcp-vendorclass=set:{name},{}\ndhcp-option=tag:{name},{not_rollouts}43,\"{}\"",
                c.user_class,
                c.vendor_class,
                c.payload,
                name = c.name
            );
        }
    }
    // One dhcp-host line per MAC: the class tag (by_mac) and the fixed address together.
    let mut hosts: std::collections::BTreeMap<String, (Option<String>, Option<Ipv4Addr>)> =
        Default::default();
    for c in classes {
        for m in &c.macs {
            hosts.entry(m.clone()).or_default().0 = Some(c.name.clone());
        }
    }
    for f in fixed {
        hosts.entry(f.mac.clone()).or_default().1 = Some(f.ip);
    }
    if !hosts.is_empty() {
        t.push('\n');
        for (mac, (tag, ip)) in hosts {
            let mut line = format!("dhcp-host={}", colon_mac(&mac));
            if let Some(tag) = tag {
                let _ = write!(line, ",set:{tag}");
            }
            if let Some(ip) = ip {
                let _ = write!(line, ",{ip}");
            }
            t.push_str(&line);
            t.push('\n');
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_are_checked() {
        let n = Network::parse("192.0.2.0/24", "192.0.2.100-192.0.2.199", None).unwrap();
        assert_eq!(n.mask().to_string(), "255.255.255.0");
        assert!(n.contains("192.0.2.5".parse().unwrap()));
        assert!(!n.contains("192.0.3.5".parse().unwrap()));
        for (subnet, range, why) in [
            ("192.0.2.1/24", "192.0.2.100-192.0.2.199", "host bits"),
            ("192.0.2.0", "192.0.2.100-192.0.2.199", "ADDRESS/PREFIX"),
            ("192.0.2.0/24", "192.0.2.100", "FIRST-LAST"),
            ("192.0.2.0/24", "192.0.2.199-192.0.2.100", "after the last"),
            (
                "192.0.2.0/24",
                "192.0.2.100-192.0.3.1",
                "not a host address",
            ),
            ("192.0.2.0/24", "192.0.2.0-192.0.2.10", "not a host address"),
        ] {
            let e = Network::parse(subnet, range, None).unwrap_err().to_string();
            assert!(e.contains(why), "{subnet} {range}: {e}");
        }
    }

    #[test]
    fn macs_in_colon_form() {
        assert_eq!(colon_mac("001F9F16E849"), "00:1f:9f:16:e8:49");
    }
}
