//! A SIP `NOTIFY` sent straight to a phone over UDP (RFC 3261 non-INVITE transaction: retransmitted
//! at 0.5, 1, 2, 4 s until a final response or the timeout), with the `Event` header the phone's
//! check-sync support reads (RFC 6665: an unsolicited NOTIFY, `Subscription-State: terminated`).

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use super::Target;

/// The request for a phone at `to`, sent from `from`.
pub fn request(
    t: &Target,
    to: SocketAddr,
    from: SocketAddr,
    call_id: &str,
    branch: &str,
) -> String {
    let host = |a: SocketAddr| match a {
        SocketAddr::V4(v) => format!("{}:{}", v.ip(), v.port()),
        SocketAddr::V6(v) => format!("[{}]:{}", v.ip(), v.port()),
    };
    let uri = format!("sip:{}@{}", t.user, host(to));
    format!(
        "NOTIFY {uri} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {};branch={branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:provsite@{}>;tag={}\r\n\
         To: <{uri}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 NOTIFY\r\n\
         Contact: <sip:provsite@{}>\r\n\
         Event: {}\r\n\
         Subscription-State: terminated\r\n\
         User-Agent: provsite\r\n\
         Content-Length: 0\r\n\r\n",
        host(from),
        host(from),
        &branch[branch.len().saturating_sub(8)..],
        host(from),
        t.event
    )
}

/// A response's status code and reason, if `bytes` is one for this Call-ID.
pub fn status(bytes: &[u8], call_id: &str) -> Option<(u16, String)> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut lines = text.split("\r\n");
    let first = lines.next()?;
    let rest = first.strip_prefix("SIP/2.0 ")?;
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    let code: u16 = code.parse().ok()?;
    let same_call = lines.any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            (k.eq_ignore_ascii_case("Call-ID") || k.eq_ignore_ascii_case("i"))
                && v.trim() == call_id
        })
    });
    same_call.then(|| (code, reason.to_string()))
}

/// Sends the NOTIFY and waits for a final response: `Ok(status line)` or `Err(why)`.
pub fn send(t: &Target, to: SocketAddr, timeout: Duration) -> Result<(u16, String), String> {
    let bind: SocketAddr = if to.is_ipv4() {
        "0.0.0.0:0".parse().expect("an address")
    } else {
        "[::]:0".parse().expect("an address")
    };
    let sock = UdpSocket::bind(bind).map_err(|e| format!("no UDP socket: {e}"))?;
    sock.connect(to).map_err(|e| format!("{to}: {e}"))?;
    // The address the phone sees us at, for Via and Contact.
    let from = sock.local_addr().map_err(|e| e.to_string())?;
    let nonce =
        crate::hashing::sha256_hex(format!("{}{:?}{}", t.mac, Instant::now(), from).as_bytes());
    let call_id = format!("{}@provsite", &nonce[..24]);
    let branch = format!("z9hG4bK{}", &nonce[24..40]);
    let msg = request(t, to, from, &call_id, &branch);
    let start = Instant::now();
    let mut interval = Duration::from_millis(500);
    let mut buf = [0u8; 4096];
    loop {
        sock.send(msg.as_bytes())
            .map_err(|e| format!("{to}: {e}"))?;
        let resend_at = Instant::now() + interval;
        loop {
            let now = Instant::now();
            let deadline = resend_at.min(start + timeout);
            if now >= deadline {
                break;
            }
            sock.set_read_timeout(Some(deadline - now))
                .map_err(|e| e.to_string())?;
            match sock.recv(&mut buf) {
                Ok(n) => {
                    if let Some((code, reason)) = status(&buf[..n], &call_id) {
                        // 1xx are provisional: keep waiting for the final response.
                        if code >= 200 {
                            return Ok((code, reason));
                        }
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                // An ICMP port unreachable shows as a refused connection on a connected socket.
                Err(e) => return Err(format!("{to}: {e}")),
            }
        }
        if start.elapsed() >= timeout {
            return Err(format!("no answer from {to} in {}s", timeout.as_secs()));
        }
        interval = (interval * 2).min(Duration::from_secs(4));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_a_well_formed_unsolicited_notify() {
        let t = Target {
            mac: "001F9F16E849".into(),
            model: "ST2030".into(),
            user: "1001".into(),
            event: super::super::CHECK_SYNC.into(),
        };
        let m = request(
            &t,
            "192.0.2.50:5060".parse().unwrap(),
            "192.0.2.1:40000".parse().unwrap(),
            "abc@provsite",
            "z9hG4bKdeadbeef01",
        );
        assert!(m.starts_with("NOTIFY sip:1001@192.0.2.50:5060 SIP/2.0\r\n"));
        assert!(m.contains("\r\nEvent: check-sync\r\n"));
        assert!(
            m.contains("\r\nVia: SIP/2.0/UDP 192.0.2.1:40000;branch=z9hG4bKdeadbeef01;rport\r\n")
        );
        assert!(m.ends_with("Content-Length: 0\r\n\r\n"));
        assert_eq!(
            status(
                b"SIP/2.0 200 OK\r\nCall-ID: abc@provsite\r\n\r\n",
                "abc@provsite"
            ),
            Some((200, "OK".into()))
        );
        assert_eq!(
            status(b"SIP/2.0 200 OK\r\nCall-ID: other\r\n\r\n", "abc@provsite"),
            None
        );
    }
}
