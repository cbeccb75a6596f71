//! `phones/**/group.yaml`: settings for every phone below a folder, checked once per file.

#[allow(unused_imports)]
use super::*;

/// A group file, checked.
pub(super) struct Group {
    /// The folder it applies to, as phones files' paths start (`inventory/phones/lyon/`).
    pub folder: String,
    pub file: String,
    pub doc: GroupDoc,
    pub patch: Patch,
    /// Per model named in `models:`, its admin password.
    pub model_patches: HashMap<ModelId, Patch>,
}

/// Parses and checks the group files. Diagnostics go to the reporter.
pub(super) fn resolve_groups(r: &mut Reporter, srcs: &[(SourceText, GroupDoc)]) -> Vec<Group> {
    let mut out = Vec::new();
    for (src, doc) in srcs {
        let f = src.path.as_str();
        let folder = match f.rfind('/') {
            Some(i) => f[..=i].to_string(),
            None => String::new(),
        };
        let patch = resolve_patch(r, f, &[], &doc.scope_doc());
        let mut model_patches = HashMap::new();
        for (name, m) in &doc.models {
            let Some(model) = ModelId::parse(name) else {
                r.error_at_key(
                    f,
                    &[key("models"), key(name.clone())],
                    format!("unknown model `{name}`"),
                    format!("the models are {}", ModelId::names().join(", ")),
                );
                continue;
            };
            if let Some(d) = &m.admin_password {
                let doc = ScopeDoc {
                    admin_password: Some(d.clone()),
                    ..ScopeDoc::default()
                };
                model_patches.insert(
                    model,
                    resolve_patch(r, f, &[key("models"), key(name.clone())], &doc),
                );
            }
        }
        if let Some(p) = &doc.profile {
            r.text(f, &[key("profile")], Field::Name, "profile name", p);
        }
        out.push(Group {
            folder,
            file: f.to_string(),
            doc: doc.clone(),
            patch,
            model_patches,
        });
    }
    // Outermost first: a shorter folder contains a longer one.
    out.sort_by(|a, b| {
        a.folder
            .len()
            .cmp(&b.folder.len())
            .then(a.folder.cmp(&b.folder))
    });
    out
}

impl Group {
    /// The model settings entry of this group for a model (by any spelling of its name).
    pub(super) fn model_doc(&self, model: ModelId) -> Option<(&String, &GroupModelDoc)> {
        self.doc
            .models
            .iter()
            .find(|(n, _)| ModelId::parse(n) == Some(model))
    }
}

/// The groups a phones file is under, outermost first.
pub(super) fn groups_of<'g>(groups: &'g [Group], phones_file: &str) -> Vec<&'g Group> {
    groups
        .iter()
        .filter(|g| phones_file.starts_with(&g.folder))
        .collect()
}
