//! Asterisk's manager interface (AMI), as far as `provsite notify` needs it: the banner, `Login`,
//! one `PJSIPNotify` (or `SIPnotify` for chan_sip) per phone, `Logoff`. Messages are blocks of
//! `Key: Value` lines ended by an empty line (CRLF); events may come between a request and its
//! response, which is recognised by its `ActionID`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::error::{Area, Error};

use super::Target;

/// The longest block read from the manager (a response is a few lines).
const MAX_BLOCK: usize = 64 * 1024;

/// A logged-in manager session.
pub struct Session {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    next_id: u64,
    chan_sip: bool,
}

/// One response: its fields in order.
pub type Block = Vec<(String, String)>;

fn get<'a>(b: &'a Block, key: &str) -> Option<&'a str> {
    b.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
}

/// A value sent in an action: one line, no CR or LF (they would start another field).
fn field(what: &str, v: &str) -> Result<String, Error> {
    if v.chars().any(|c| c.is_control()) {
        return Err(Error::of(
            Area::Usage,
            format!("{what} holds a control character: refused in an AMI action"),
        ));
    }
    Ok(v.to_string())
}

impl Session {
    /// Connects, reads the banner and logs in. The connection and every read are bounded by
    /// `timeout`.
    pub fn login(
        addr: &str,
        user: &str,
        secret: &str,
        chan_sip: bool,
        timeout: Duration,
    ) -> Result<Session, Error> {
        let sock: SocketAddr = addr
            .to_socket_addrs()
            .map_err(|e| Error::caused(Area::Usage, format!("--ami {addr}"), e))?
            .next()
            .ok_or_else(|| Error::of(Area::Usage, format!("--ami {addr} names no address")))?;
        let stream = TcpStream::connect_timeout(&sock, timeout).map_err(|e| {
            Error::caused(Area::Usage, format!("cannot reach the AMI at {addr}"), e)
                .hint("is manager.conf enabled, and is the port (5038) reachable from here?")
        })?;
        stream
            .set_read_timeout(Some(timeout))
            .and_then(|_| stream.set_write_timeout(Some(timeout)))
            .map_err(|e| Error::caused(Area::Usage, "AMI socket", e))?;
        let writer = stream
            .try_clone()
            .map_err(|e| Error::caused(Area::Usage, "AMI socket", e))?;
        let mut s = Session {
            reader: BufReader::new(stream),
            writer,
            next_id: 1,
            chan_sip,
        };
        let mut banner = String::new();
        s.reader
            .by_ref()
            .take(1024)
            .read_line(&mut banner)
            .map_err(|e| Error::caused(Area::Usage, "reading the AMI banner", e))?;
        if !banner.starts_with("Asterisk Call Manager") {
            return Err(Error::of(
                Area::Usage,
                format!(
                    "{addr} is not an Asterisk manager (it said `{}`)",
                    crate::text_rules::shown(banner.trim())
                ),
            ));
        }
        let reply = s.action(&[
            ("Action", "Login"),
            ("Username", &field("PROVSITE_AMI_USER", user)?),
            ("Secret", &field("PROVSITE_AMI_SECRET", secret)?),
            ("Events", "off"),
        ])?;
        if get(&reply, "Response") != Some("Success") {
            return Err(Error::of(
                Area::Usage,
                format!(
                    "the AMI refused the login: {}",
                    crate::text_rules::shown(get(&reply, "Message").unwrap_or("no message"))
                ),
            )
            .hint("check PROVSITE_AMI_USER / PROVSITE_AMI_SECRET against manager.conf"));
        }
        Ok(s)
    }

    /// Sends an action and returns its response (events in between are skipped).
    pub fn action(&mut self, fields: &[(&str, &str)]) -> Result<Block, Error> {
        let id = self.next_id.to_string();
        self.next_id += 1;
        let mut text = String::new();
        for (k, v) in fields {
            text.push_str(&format!("{k}: {v}\r\n"));
        }
        text.push_str(&format!("ActionID: {id}\r\n\r\n"));
        self.writer
            .write_all(text.as_bytes())
            .map_err(|e| Error::caused(Area::Usage, "writing to the AMI", e))?;
        loop {
            let block = self.read_block()?;
            if get(&block, "Response").is_some() && get(&block, "ActionID") == Some(&id) {
                return Ok(block);
            }
        }
    }

    fn read_block(&mut self) -> Result<Block, Error> {
        let mut block = Vec::new();
        let mut read = 0;
        loop {
            let mut line = String::new();
            let n = self
                .reader
                .by_ref()
                .take(MAX_BLOCK as u64)
                .read_line(&mut line)
                .map_err(|e| Error::caused(Area::Usage, "reading from the AMI", e))?;
            if n == 0 {
                return Err(Error::of(Area::Usage, "the AMI closed the connection"));
            }
            read += n;
            if read > MAX_BLOCK {
                return Err(Error::of(Area::Usage, "the AMI sent an oversized message"));
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if block.is_empty() {
                    continue;
                }
                return Ok(block);
            }
            if let Some((k, v)) = line.split_once(':') {
                block.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
    }

    /// Asks Asterisk to send the phone's NOTIFY; the response says whether it did.
    pub fn notify(&mut self, t: &Target) -> Result<(bool, String), Error> {
        let event = format!("Event={}", t.event);
        let reply = if self.chan_sip {
            self.action(&[
                ("Action", "SIPnotify"),
                ("Channel", &t.user),
                ("Variable", &event),
            ])?
        } else {
            self.action(&[
                ("Action", "PJSIPNotify"),
                ("Endpoint", &t.user),
                ("Variable", &event),
            ])?
        };
        let ok = get(&reply, "Response") == Some("Success");
        let message = get(&reply, "Message").unwrap_or("").to_string();
        Ok((
            ok,
            format!("{}: {message}", get(&reply, "Response").unwrap_or("?")),
        ))
    }

    pub fn logoff(mut self) {
        let _ = self.action(&[("Action", "Logoff")]);
    }
}
