//! `provsite webserver`: a configuration for nginx, Apache or Caddy that serves the web root as
//! `provsite serve` does. The templates live in `site-template/webserver/`.

use std::path::{Path, PathBuf};

use minijinja::{context, Environment};

use crate::error::{Area, Error};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Nginx,
    Apache,
    Caddy,
}

impl crate::Choice for Format {
    const ALL: &'static [(&'static str, Self)] = &[
        ("nginx", Format::Nginx),
        ("apache", Format::Apache),
        ("caddy", Format::Caddy),
    ];
}

#[derive(Debug, Clone)]
pub struct WebserverOptions {
    pub format: Format,
    pub root: PathBuf,
    pub server_name: Option<String>,
    /// `PORT`, `HOST:PORT` or `[V6]:PORT`.
    pub listen: String,
    pub phone_check: bool,
}

/// A listen address split: host (None = all addresses) and port.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Listen {
    host: Option<String>,
    port: u16,
}

fn parse_listen(s: &str) -> Result<Listen, Error> {
    let bad = || {
        Error::of(
            Area::Generate,
            format!(
            "--listen `{s}`: give a port (80), an address and port (127.0.0.1:8080) or [::1]:8080"
        ),
        )
    };
    if let Ok(port) = s.parse::<u16>() {
        return Ok(Listen { host: None, port });
    }
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let port = port.parse::<u16>().map_err(|_| bad())?;
    let host = host.trim();
    if host.is_empty() || host == "*" {
        return Ok(Listen { host: None, port });
    }
    let valid = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        v6.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        host.parse::<std::net::Ipv4Addr>().is_ok()
            || host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    };
    if !valid {
        return Err(bad());
    }
    Ok(Listen {
        host: Some(host.to_string()),
        port,
    })
}

/// Characters that would break out of a quoted path or a directive in one of the three formats.
fn check_config_text(what: &str, s: &str) -> Result<(), Error> {
    if let Some(c) = s
        .chars()
        .find(|c| matches!(c, '"' | '\\' | '$' | '{' | '}' | ';' | '`' | '#') || c.is_control())
    {
        return Err(Error::of(Area::Generate, format!(
            "{what} `{s}` holds `{}`, which the server configurations cannot quote safely; choose another",
            c.escape_default()
        )));
    }
    Ok(())
}

/// The configuration text.
pub fn render(opts: &WebserverOptions) -> Result<String, Error> {
    let listen = parse_listen(&opts.listen)?;
    let root = absolute(&opts.root);
    let root_text = root.to_string_lossy().trim_end_matches('/').to_string();
    let root_text = if root_text.is_empty() {
        "/".to_string()
    } else {
        root_text
    };
    check_config_text("the web root", &root_text)?;
    if let Some(n) = &opts.server_name {
        if n.is_empty()
            || !n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '*'))
        {
            return Err(Error::of(
                Area::Generate,
                format!("--server-name `{n}` is not a host name (letters, digits, `.`, `-`)"),
            ));
        }
    }
    let (name, source) = match opts.format {
        Format::Nginx => (
            "nginx.conf",
            include_str!("../site-template/webserver/nginx.conf"),
        ),
        Format::Apache => (
            "apache.conf",
            include_str!("../site-template/webserver/apache.conf"),
        ),
        Format::Caddy => (
            "Caddyfile",
            include_str!("../site-template/webserver/Caddyfile"),
        ),
    };
    let host = listen.host.clone();
    let nginx_listen = match &host {
        Some(h) => format!("{h}:{}", listen.port),
        None => listen.port.to_string(),
    };
    let vhost = match &host {
        Some(h) => format!("{h}:{}", listen.port),
        None => format!("*:{}", listen.port),
    };
    // Debian's ports.conf already listens on 80 (and 443 with mod_ssl): a second Listen for the
    // same port stops Apache from starting.
    let listen_directive = if listen.port == 80 || listen.port == 443 {
        None
    } else {
        Some(match &host {
            Some(h) => format!("{h}:{}", listen.port),
            None => listen.port.to_string(),
        })
    };
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(true);
    env.add_template(name, source)
        .map_err(|e| Error::caused(Area::Generate, format!("template {name}"), e))?;
    let text = env
        .get_template(name)
        .and_then(|t| {
            t.render(context! {
                generator => format!("provsite {}", env!("CARGO_PKG_VERSION")),
                root => root_text,
                server_name => opts.server_name.clone(),
                listen => nginx_listen,
                vhost => vhost,
                listen_directive => listen_directive,
                port => listen.port,
                bind => host.clone(),
                caddy_host => opts.server_name.clone().unwrap_or_default(),
                phone_check => opts.phone_check,
            })
        })
        .map_err(|e| Error::caused(Area::Generate, format!("template {name}"), e))?;
    Ok(text)
}

fn absolute(p: &Path) -> PathBuf {
    if let Ok(c) = p.canonicalize() {
        return c;
    }
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(format: Format, listen: &str) -> WebserverOptions {
        WebserverOptions {
            format,
            root: PathBuf::from("/srv/provsite/public"),
            server_name: Some("prov.example.com".into()),
            listen: listen.into(),
            phone_check: false,
        }
    }

    #[test]
    fn listen_forms() {
        assert_eq!(
            parse_listen("80").unwrap(),
            Listen {
                host: None,
                port: 80
            }
        );
        assert_eq!(
            parse_listen("127.0.0.1:8080").unwrap(),
            Listen {
                host: Some("127.0.0.1".into()),
                port: 8080
            }
        );
        assert_eq!(
            parse_listen("[::1]:81").unwrap().host.as_deref(),
            Some("[::1]")
        );
        assert_eq!(parse_listen("*:81").unwrap().host, None);
        assert!(parse_listen("nope").is_err());
        assert!(parse_listen("1.2.3.4:99999").is_err());
    }

    #[test]
    fn nginx_has_the_two_cache_policies_and_no_listing() {
        let t = render(&opts(Format::Nginx, "127.0.0.1:8080")).unwrap();
        assert!(t.contains("listen 127.0.0.1:8080;"));
        assert!(t.contains("root \"/srv/provsite/public\";"));
        assert!(t.contains("autoindex off;"));
        assert!(t.contains("immutable"));
        assert!(t.contains("\"no-cache\""));
        assert!(!t.contains("map $http_user_agent $provsite_ua_mac {"));
        let checked = render(&WebserverOptions {
            phone_check: true,
            ..opts(Format::Nginx, "80")
        })
        .unwrap();
        assert!(checked.contains("map $http_user_agent $provsite_ua_mac"));
        assert!(checked.contains("listen 80;"));
    }

    #[test]
    fn apache_listen_line_only_off_the_debian_ports() {
        let t = render(&opts(Format::Apache, "80")).unwrap();
        assert!(!t.contains("\nListen "));
        assert!(t.contains("<VirtualHost *:80>"));
        let t = render(&opts(Format::Apache, "127.0.0.1:8081")).unwrap();
        assert!(t.contains("\nListen 127.0.0.1:8081\n"));
        assert!(t.contains("<VirtualHost 127.0.0.1:8081>"));
    }

    #[test]
    fn unquotable_roots_are_refused() {
        let mut o = opts(Format::Caddy, "80");
        o.root = PathBuf::from("/srv/a\"b");
        assert!(render(&o).is_err());
        o.root = PathBuf::from("/srv/$x");
        assert!(render(&o).is_err());
    }
}
