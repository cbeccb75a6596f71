//! Where the phones are, for a NOTIFY sent straight to them: given on the command line
//! (`MAC=IP[:PORT]`), read from DHCP leases (ISC dhcpd's `dhcpd.leases`, dnsmasq's lease file), or
//! from a web server's access log (the last address each phone's User-Agent came from).

use std::collections::BTreeMap;
use std::io::{BufReader, Read};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use crate::error::{Area, Error};
use crate::mac::Mac;

/// The SIP port a phone listens on unless told otherwise.
pub const SIP_PORT: u16 = 5060;

/// The most a leases file or log is read (a year of a large site's log is far less).
const MAX_READ: u64 = 4 << 30;

/// MAC → where to send its NOTIFY.
pub type Addresses = BTreeMap<String, SocketAddr>;

/// `MAC=IP[:PORT]` (an IPv6 address with a port in brackets).
pub fn parse_given(s: &str) -> Result<(String, SocketAddr), Error> {
    let bad = || {
        Error::of(Area::Usage, format!("--address `{s}`"))
            .hint("write MAC=IP or MAC=IP:PORT, e.g. 00:1F:9F:16:E8:49=192.0.2.50:5060")
    };
    let (mac, addr) = s.split_once('=').ok_or_else(bad)?;
    let mac = Mac::parse(mac).ok_or_else(bad)?;
    let addr = addr
        .parse::<SocketAddr>()
        .or_else(|_| {
            addr.parse::<IpAddr>()
                .map(|ip| SocketAddr::new(ip, SIP_PORT))
        })
        .map_err(|_| bad())?;
    Ok((mac.to_string(), addr))
}

fn open(path: &Path) -> Result<BufReader<std::io::Take<std::fs::File>>, Error> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    Ok(BufReader::new(f.take(MAX_READ)))
}

/// DHCP leases: ISC dhcpd (`lease IP { ... hardware ethernet MAC; ... }`, the last lease of a MAC
/// wins) or dnsmasq (`EXPIRY MAC IP NAME CLIENT-ID`), told apart line by line.
pub fn from_leases(path: &Path) -> Result<Addresses, Error> {
    let mut out = Addresses::new();
    let mut current_ip: Option<IpAddr> = None;
    crate::status::each_line(open(path)?, path, |line| {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix("lease ") {
            current_ip = rest
                .split_whitespace()
                .next()
                .and_then(|ip| ip.parse().ok());
            return;
        }
        if let Some(rest) = l.strip_prefix("hardware ethernet ") {
            if let (Some(ip), Some(mac)) = (current_ip, Mac::parse(rest.trim_end_matches(';'))) {
                out.insert(mac.to_string(), SocketAddr::new(ip, SIP_PORT));
            }
            return;
        }
        if l == "}" {
            current_ip = None;
            return;
        }
        // dnsmasq: expiry, MAC, IP, name, client id.
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() >= 3 && f[0].bytes().all(|b| b.is_ascii_digit()) {
            if let (Some(mac), Ok(ip)) = (Mac::parse(f[1]), f[2].parse::<IpAddr>()) {
                out.insert(mac.to_string(), SocketAddr::new(ip, SIP_PORT));
            }
        }
    })?;
    Ok(out)
}

/// The last address each phone came from in an access log: `provsite serve`'s (`... ADDR ...
/// mac=MAC`) or the combined format with the phone's User-Agent (`ADDR - - [...] "..." ... "UA"`).
pub fn from_log(path: &Path) -> Result<Addresses, Error> {
    let mut out = Addresses::new();
    crate::status::each_line(open(path)?, path, |line| {
        if let Some((mac, ip)) = log_entry(line) {
            out.insert(mac, SocketAddr::new(ip, SIP_PORT));
        }
    })?;
    Ok(out)
}

/// A log line's phone (MAC) and client address, if it is a phone's request.
pub fn log_entry(line: &str) -> Option<(String, IpAddr)> {
    let words: Vec<&str> = line.split_whitespace().collect();
    // provsite serve: TIME ADDR METHOD PATH STATUS BYTES ... mac=MAC ...
    if let Some(mac) = words
        .iter()
        .take_while(|w| **w != "|")
        .find_map(|w| w.strip_prefix("mac="))
    {
        let ip = words.get(1)?.parse().ok()?;
        return Some((Mac::parse(mac)?.to_string(), ip));
    }
    // Combined: ADDR IDENT USER [TIME] "REQUEST" STATUS BYTES "REFERER" "USER-AGENT"
    let ip: IpAddr = words.first()?.parse().ok()?;
    let ua = line.rsplit('"').nth(1)?;
    let agent = crate::family::parse_agent(ua)?;
    Some((agent.mac, ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_that_is_not_utf8_is_passed_over_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let dm = dir.path().join("dnsmasq.leases");
        std::fs::write(
            &dm,
            b"1795700000 00:1f:9f:16:e8:4b 192.0.2.61 caf\xe9 *\r\n1795700000 00:1f:9f:16:e8:4a 192.0.2.60 st2030 *\n",
        )
        .unwrap();
        let a = from_leases(&dm).unwrap();
        assert_eq!(a["001F9F16E84B"], "192.0.2.61:5060".parse().unwrap());
        assert_eq!(a["001F9F16E84A"], "192.0.2.60:5060".parse().unwrap());
        let log = dir.path().join("access.log");
        std::fs::write(
            &log,
            b"192.0.2.9 - - [x] \"GET /\xff HTTP/1.1\" 404 1 \"-\" \"\xc3\x28\"\n192.0.2.78 - - [26/Nov/2026:15:11:19 +0000] \"GET /ST2030S.inf HTTP/1.1\" 200 608 \"-\" \"THOMSON ST2030 hw5 fw2.74 00-1F-9F-00-00-02\"\n",
        )
        .unwrap();
        let a = from_log(&log).unwrap();
        assert_eq!(a["001F9F000002"], "192.0.2.78:5060".parse().unwrap());
    }

    #[test]
    fn reads_isc_and_dnsmasq_leases_and_both_logs() {
        let dir = tempfile::tempdir().unwrap();
        let isc = dir.path().join("dhcpd.leases");
        std::fs::write(
            &isc,
            "lease 192.0.2.51 {\n  starts 4 2026/11/26 10:00:00;\n  hardware ethernet 00:1f:9f:16:e8:49;\n}\nlease 192.0.2.52 {\n  hardware ethernet 00:1f:9f:16:e8:49;\n}\n",
        )
        .unwrap();
        let a = from_leases(&isc).unwrap();
        assert_eq!(a["001F9F16E849"], "192.0.2.52:5060".parse().unwrap());
        let dm = dir.path().join("dnsmasq.leases");
        std::fs::write(&dm, "1795700000 00:1f:9f:16:e8:4a 192.0.2.60 st2030 *\n").unwrap();
        assert_eq!(
            from_leases(&dm).unwrap()["001F9F16E84A"],
            "192.0.2.60:5060".parse().unwrap()
        );
        assert_eq!(
            log_entry("2026-11-26T15:11:19Z 192.0.2.77 GET /ST2030S.inf 200 608 model=ST2030 hw=5 fw=2.74 mac=001F9F000001"),
            Some(("001F9F000001".into(), "192.0.2.77".parse().unwrap()))
        );
        assert_eq!(
            log_entry("192.0.2.78 - - [26/Nov/2026:15:11:19 +0000] \"GET /ST2030S.inf HTTP/1.1\" 200 608 \"-\" \"THOMSON ST2030 hw5 fw2.74 00-1F-9F-00-00-02\""),
            Some(("001F9F000002".into(), "192.0.2.78".parse().unwrap()))
        );
        assert_eq!(
            log_entry("192.0.2.9 - - [x] \"GET / HTTP/1.1\" 200 1 \"-\" \"curl/8\""),
            None
        );
        assert_eq!(
            parse_given("00:1F:9F:16:E8:49=127.0.0.1:5070").unwrap(),
            ("001F9F16E849".into(), "127.0.0.1:5070".parse().unwrap())
        );
        assert!(parse_given("nonsense").is_err());
    }
}
