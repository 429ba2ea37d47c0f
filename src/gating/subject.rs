//! Subject types (Greenwave's `conf/subject_types`, built in) and decision subjects: how
//! an identifier is found in a request, which ResultsDB queries find its results, and the
//! back-compat `item` dict.

use crate::model::DataFilter;
use serde_json::{Map, Value, json};

/// `{item_key, keys}`: a dict with the identifier under `item_key` plus fixed `keys`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemDict {
    pub item_key: Option<String>,
    pub keys: Vec<(String, String)>,
}

impl ItemDict {
    fn new(item_key: &str, keys: &[(&str, &str)]) -> ItemDict {
        ItemDict {
            item_key: Some(item_key.to_owned()),
            keys: keys.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        }
    }

    /// The dict for `item`, keys in upstream insertion order (item key first).
    fn render(&self, item: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(k) = &self.item_key {
            out.push((k.clone(), item.to_owned()));
        }
        for (k, v) in &self.keys {
            match out.iter_mut().find(|(ok, _)| ok == k) {
                Some(slot) => slot.1 = v.clone(),
                None => out.push((k.clone(), v.clone())),
            }
        }
        out
    }

    fn to_json(&self) -> Value {
        let keys: Map<String, Value> = self.keys.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
        let mut m = Map::new();
        if let Some(k) = &self.item_key {
            m.insert("item_key".into(), Value::String(k.clone()));
        }
        if !keys.is_empty() {
            m.insert("keys".into(), Value::Object(keys));
        }
        Value::Object(m)
    }
}

/// One subject type (`!SubjectType`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectType {
    pub id: String,
    pub aliases: Vec<String>,
    /// Data key holding the identifier in decision `subject` dicts (and result data).
    pub item_key: Option<String>,
    pub is_koji_build: bool,
    /// Identifiers are NVRs: the package name is the NVR minus its last two `-` fields.
    pub is_nvr: bool,
    pub supports_remote_rule: bool,
    /// No 404 when no policy applies: the subject is skipped.
    pub ignore_missing_policy: bool,
    pub product_version: Option<String>,
    /// `(regex, product version template)`, used by consumers guessing product versions.
    pub product_version_match: Vec<(String, String)>,
    pub item_dict: Option<ItemDict>,
    /// One ResultsDB query each; empty means one query with the item dict.
    pub result_queries: Vec<ItemDict>,
}

impl SubjectType {
    /// A type with every attribute at its default.
    pub fn plain(id: &str) -> SubjectType {
        SubjectType {
            id: id.to_owned(),
            aliases: Vec::new(),
            item_key: None,
            is_koji_build: false,
            is_nvr: false,
            supports_remote_rule: false,
            ignore_missing_policy: false,
            product_version: None,
            product_version_match: Vec::new(),
            item_dict: None,
            result_queries: Vec::new(),
        }
    }

    /// Upstream's `GenericSubjectType` for an id no configured type knows.
    pub fn generic(id: &str) -> SubjectType {
        SubjectType { is_koji_build: true, ..SubjectType::plain(id) }
    }

    /// Whether `name` is this type's id or one of its aliases.
    pub fn matches(&self, name: &str) -> bool {
        self.id == name || self.aliases.iter().any(|a| a == name)
    }

    /// The `/subject_types` JSON of this type (every attribute, defaults included).
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "aliases": self.aliases,
            "item_key": self.item_key,
            "is_koji_build": self.is_koji_build,
            "is_nvr": self.is_nvr,
            "supports_remote_rule": self.supports_remote_rule,
            "ignore_missing_policy": self.ignore_missing_policy,
            "product_version": self.product_version,
            "product_version_match": self.product_version_match.iter()
                .map(|(m, p)| json!({"match": m, "product_version": p}))
                .collect::<Vec<_>>(),
            "product_version_from_koji_build_target": [],
            "item_dict": self.item_dict.as_ref().map_or_else(|| json!({}), ItemDict::to_json),
            "result_queries": self.result_queries.iter().map(ItemDict::to_json).collect::<Vec<_>>(),
        })
    }
}

/// The configured subject types, in configuration order (the order `subject` dicts are
/// matched in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectTypes {
    pub types: Vec<SubjectType>,
}

impl Default for SubjectTypes {
    fn default() -> Self {
        SubjectTypes::stock()
    }
}

impl SubjectTypes {
    /// Greenwave's shipped subject types.
    pub fn stock() -> SubjectTypes {
        let koji_build = SubjectType {
            aliases: vec!["brew-build".into()],
            is_koji_build: true,
            is_nvr: true,
            supports_remote_rule: true,
            item_key: Some("original_spec_nvr".into()),
            result_queries: vec![
                ItemDict::new("item", &[("type", "koji_build,brew-build")]),
                ItemDict::new("original_spec_nvr", &[]),
            ],
            ..SubjectType::plain("koji_build")
        };
        let bodhi_update = SubjectType { ignore_missing_policy: true, ..SubjectType::plain("bodhi_update") };
        let compose = SubjectType {
            item_key: Some("productmd.compose.id".into()),
            item_dict: Some(ItemDict::new("productmd.compose.id", &[])),
            product_version_match: vec![(r"^(RHEL-\d*)\..*".into(), r"\1".into())],
            ..SubjectType::plain("compose")
        };
        let container = SubjectType {
            product_version: Some("rhel-8".into()),
            is_koji_build: true,
            is_nvr: true,
            supports_remote_rule: true,
            item_key: Some("nvr".into()),
            result_queries: vec![
                ItemDict::new("nvr", &[("type", "redhat-container-image")]),
                ItemDict::new("item", &[("type", "koji_build")]),
            ],
            ..SubjectType::plain("redhat-container-image")
        };
        let module = SubjectType { product_version: Some("rhel-8".into()), ..SubjectType::plain("redhat-module") };
        SubjectTypes { types: vec![bodhi_update, compose, koji_build, container, module] }
    }

    /// The configured type with this id or alias.
    pub fn find(&self, name: &str) -> Option<&SubjectType> {
        self.types.iter().find(|t| t.matches(name))
    }

    /// The configured type with this id or alias, else a generic one.
    pub fn resolve(&self, name: &str) -> SubjectType {
        self.find(name).cloned().unwrap_or_else(|| SubjectType::generic(name))
    }

    /// `GET /api/v1.0/subject_types` body: `{"subject_types": [...]}` sorted by id.
    pub fn to_json(&self) -> Value {
        let mut types: Vec<&SubjectType> = self.types.iter().collect();
        types.sort_by(|a, b| a.id.cmp(&b.id));
        json!({"subject_types": types.iter().map(|t| t.to_json()).collect::<Vec<_>>()})
    }
}

/// A decision subject: its type and identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub subject_type: SubjectType,
    pub identifier: String,
}

impl Subject {
    /// The subject type's id (what answers and waivers name).
    pub fn type_id(&self) -> &str {
        &self.subject_type.id
    }

    /// The package name for NVR subject types: the identifier minus its last two
    /// `-`-separated fields (`rsplit('-', 2)[0]`).
    pub fn package_name(&self) -> Option<&str> {
        if !self.subject_type.is_nvr {
            return None;
        }
        let mut end = self.identifier.len();
        for _ in 0..2 {
            match self.identifier[..end].rfind('-') {
                Some(i) => end = i,
                None => break,
            }
        }
        Some(&self.identifier[..end])
    }

    /// The back-compat `item` dict: the type's `item_dict`, else `{"type", "item"}`.
    pub fn item_json(&self) -> Value {
        let pairs = match &self.subject_type.item_dict {
            Some(d) => d.render(&self.identifier),
            None => vec![("type".into(), self.type_id().to_owned()), ("item".into(), self.identifier.clone())],
        };
        Value::Object(pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect())
    }

    /// The ResultsDB queries Greenwave makes for this subject (each a conjunction of data
    /// filters; a comma in a value means "any of"), e.g. `item=<nvr>&type=koji_build,brew-build`
    /// then `original_spec_nvr=<nvr>` for `koji_build`.
    pub fn result_queries(&self) -> Vec<Vec<DataFilter>> {
        let dicts: Vec<Vec<(String, String)>> = if self.subject_type.result_queries.is_empty() {
            vec![match &self.subject_type.item_dict {
                Some(d) => d.render(&self.identifier),
                None => vec![("type".into(), self.type_id().to_owned()), ("item".into(), self.identifier.clone())],
            }]
        } else {
            self.subject_type.result_queries.iter().map(|q| q.render(&self.identifier)).collect()
        };
        dicts
            .into_iter()
            .map(|pairs| {
                pairs
                    .into_iter()
                    .map(|(key, v)| DataFilter { key, like: false, values: v.split(',').map(str::to_owned).collect() })
                    .collect()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(t: &str, id: &str) -> Subject {
        Subject { subject_type: SubjectTypes::stock().resolve(t), identifier: id.into() }
    }

    #[test]
    fn aliases_and_generic_types() {
        let types = SubjectTypes::stock();
        assert_eq!(types.resolve("brew-build").id, "koji_build");
        let g = types.resolve("my-thing");
        assert_eq!(g.id, "my-thing");
        assert!(g.is_koji_build && !g.is_nvr);
    }

    #[test]
    fn package_names() {
        assert_eq!(subject("koji_build", "python2-foo-1.0-1.fc32").package_name(), Some("python2-foo"));
        assert_eq!(subject("koji_build", "nodash").package_name(), Some("nodash"));
        assert_eq!(subject("koji_build", "a-b").package_name(), Some("a"));
        assert_eq!(subject("compose", "Fedora-32-1.n.0").package_name(), None);
    }

    #[test]
    fn item_dicts_and_queries() {
        assert_eq!(subject("compose", "C-1").item_json(), json!({"productmd.compose.id": "C-1"}));
        assert_eq!(subject("brew-build", "n-1-1").item_json(), json!({"type": "koji_build", "item": "n-1-1"}));
        let q = subject("koji_build", "n-1-1").result_queries();
        assert_eq!(q.len(), 2);
        assert_eq!(q[0][0].key, "item");
        assert_eq!(q[0][1].values, vec!["koji_build", "brew-build"]);
        assert_eq!(q[1][0].key, "original_spec_nvr");
        let q = subject("bodhi_update", "FEDORA-1").result_queries();
        assert_eq!((q[0][0].key.as_str(), q[0][1].key.as_str()), ("type", "item"));
    }

    #[test]
    fn subject_types_json_is_sorted() {
        let j = SubjectTypes::stock().to_json();
        let ids: Vec<&str> = j["subject_types"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
        assert_eq!(ids, vec!["bodhi_update", "compose", "koji_build", "redhat-container-image", "redhat-module"]);
    }
}
