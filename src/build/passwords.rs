//! The passwords a build needs: which cannot be had now (reported at the line that names them),
//! and each phone's, its page passwords derived once per shared scope.

#[allow(unused_imports)]
use super::*;

/// Reports every password that cannot be had now, naming the line it belongs to.
pub(super) fn check_secrets(
    inv: &Inventory,
    site: &SiteSecret,
    (files, late): (&InventoryFiles, &dyn inventory::LateText),
    required: bool,
    diags: &mut Vec<Diagnostic>,
) {
    let mut srcs: Vec<&SourceText> = vec![&files.site];
    srcs.extend(files.groups.iter().map(|(s, _)| s));
    srcs.extend(files.phones.iter().map(|(s, _)| s));
    // The page passwords of every scope (the site's, and those groups, profiles, models or phones
    // set), each (secret, origin) once.
    let mut seen = std::collections::HashSet::new();
    let mut page_passwords: Vec<(&Secret, &inventory::Origin, &str)> = Vec::new();
    // Phones with the same levels share one scope: each is looked at once.
    let mut scopes_seen = std::collections::HashSet::new();
    let scopes = std::iter::once(&inv.site.scope)
        .chain(inv.phones.iter().map(|p| &p.scope))
        .filter(|s| scopes_seen.insert(Arc::as_ptr(s)));
    for scope in scopes {
        for (pw, what) in [
            (&scope.admin_password, "admin_password"),
            (&scope.user_password, "user_password"),
        ] {
            if seen.insert((&pw.0, &pw.1)) {
                page_passwords.push((&pw.0, &pw.1, what));
            }
        }
    }
    // The factory password is refused wherever it comes from, the environment included.
    for (secret, origin, what) in &page_passwords {
        if *what != "admin_password" {
            continue;
        }
        if let (Secret::Env(name), Ok(pw)) = (secret, secrets::resolve(secret, site)) {
            if pw == inventory::FACTORY_ADMIN_PASSWORD {
                let d = Diagnostic::error(
                    "",
                    format!("admin_password: environment variable {name} holds the factory admin password 784518"),
                )
                .hint("anyone on the LAN knows it: set a password of your own");
                diags.push(inventory::diagnostic_at(&srcs, late, origin, d));
            }
        }
    }
    let mut derived_lines = Vec::new();
    let mut report = |secret: &Secret,
                      origin: &inventory::Origin,
                      what: String,
                      derived_lines: &mut Vec<String>| {
        let missing = match secrets::check_available(secret, site) {
            Ok(()) => return,
            Err(m) => m,
        };
        let (msg, hint) = match missing {
            Missing::Env(name) => (
                format!("{what}: environment variable {name} is not set"),
                format!("export {name}=... before building"),
            ),
            Missing::Unusable { name, why } => {
                let d = Diagnostic::error(
                    "",
                    format!("{what}: environment variable {name} cannot be a password: {why}"),
                )
                .hint("a password is printable ASCII without spaces or line breaks");
                diags.push(inventory::diagnostic_at(&srcs, late, origin, d));
                return;
            }
            Missing::SiteSecret => {
                derived_lines.push(what.clone());
                return;
            }
        };
        let d = if required {
            Diagnostic::error("", msg)
        } else {
            Diagnostic::warning("", msg)
        };
        diags.push(inventory::diagnostic_at(&srcs, late, origin, d.hint(hint)));
    };
    for (secret, origin, what) in &page_passwords {
        report(secret, origin, what.to_string(), &mut derived_lines);
    }
    for p in &inv.phones {
        for (j, l) in p.lines.iter().enumerate() {
            // Where and what are written out for a password that is missing only.
            if secrets::check_available(&l.password, site).is_ok() {
                continue;
            }
            report(
                &l.password,
                &p.password_origin(j),
                format!("line {} of phone {}", l.user, p.mac),
                &mut derived_lines,
            );
        }
    }
    if !derived_lines.is_empty() {
        let shown: Vec<&str> = derived_lines.iter().take(8).map(String::as_str).collect();
        let more = if derived_lines.len() > 8 {
            format!(" and {} more", derived_lines.len() - 8)
        } else {
            String::new()
        };
        let msg = format!(
            "no site secret to derive passwords for: {}{more}",
            shown.join(", ")
        );
        let hint = format!("set {} (or pass --secret-file PATH) to a secret kept outside git, e.g. `head -c 32 /dev/urandom | base64`; or give those passwords as {{env: NAME}}", secrets::SECRET_ENV);
        let d = if required {
            Diagnostic::error(&files.site.path, msg)
        } else {
            Diagnostic::warning(&files.site.path, msg)
        };
        diags.push(d.hint(hint));
    }
}

pub(crate) fn phone_secrets(phone: &inventory::Phone, site: &SiteSecret) -> Option<PhoneSecrets> {
    let page = page_secrets(&phone.scope, site)?;
    phone_secrets_with(phone, site, &page)
}

/// A scope's admin and user page passwords.
pub(crate) type PageSecrets = (String, String);

pub(crate) fn page_secrets(scope: &inventory::Scope, site: &SiteSecret) -> Option<PageSecrets> {
    Some((
        secrets::resolve(&scope.admin_password.0, site).ok()?,
        secrets::resolve(&scope.user_password.0, site).ok()?,
    ))
}

/// A phone's passwords, its page passwords given (they are its scope's, shared by many phones:
/// derived once per scope rather than once per phone).
pub(crate) fn phone_secrets_with(
    phone: &inventory::Phone,
    site: &SiteSecret,
    page: &PageSecrets,
) -> Option<PhoneSecrets> {
    let lines = phone
        .lines
        .iter()
        .map(|l| secrets::resolve(&l.password, site).ok())
        .collect::<Option<Vec<_>>>()?;
    Some(PhoneSecrets {
        lines,
        admin: page.0.clone(),
        user: Some(page.1.clone()),
    })
}

/// The page passwords of every scope the phones have, by the scope's address.
pub(super) fn scope_secrets(
    phones: &[inventory::Phone],
    site: &SiteSecret,
) -> std::collections::HashMap<usize, Option<PageSecrets>> {
    let mut out = std::collections::HashMap::new();
    for p in phones {
        out.entry(Arc::as_ptr(&p.scope) as usize)
            .or_insert_with(|| page_secrets(&p.scope, site));
    }
    out
}
