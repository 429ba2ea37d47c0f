//! Item, type and artifact data per CI artifact type (upstream: the `item_type`
//! branches of `resultsdbupdater/utils.py::handle_ci_umb`).

use super::{Body, DataOut, MapError};
use serde_json::Value;

/// The artifact types of `<artifact>.test.*` topics this mapping knows.
pub const KNOWN: [&str; 9] = [
    "koji-build",
    "brew-build",
    "koji-build-group",
    "brew-build-group",
    "fedora-update",
    "productmd-compose",
    "redhat-module",
    "fedora-module",
    "redhat-container-image",
];

/// Puts `item`, `type` and the artifact's own fields into `data`. `topic_type` is the
/// artifact named by the topic; the body's `artifact.type`, when present, must agree.
pub(super) fn map(topic_type: &str, body: &Body, data: &mut DataOut) -> Result<(), MapError> {
    if !KNOWN.contains(&topic_type) {
        return Err(MapError::UnknownArtifact(topic_type.to_owned()));
    }
    match body.get("artifact") {
        Some(Value::Object(_)) => {}
        Some(_) => return Err(super::wrong("artifact", "an object")),
        None => return Err(MapError::Missing("artifact".into())),
    }
    if let Some(t) = body.opt_str("artifact.type")?.filter(|t| t != topic_type) {
        return Err(MapError::Invalid {
            field: "artifact.type".into(),
            value: t,
            reason: format!("does not match the topic's artifact {topic_type:?}"),
        });
    }
    match topic_type {
        "koji-build" | "brew-build" => rpm_build(topic_type, body, data),
        "koji-build-group" | "brew-build-group" => build_group(topic_type, body, data),
        "fedora-update" => fedora_update(body, data),
        "productmd-compose" => compose(body, data),
        "redhat-module" | "fedora-module" => module(topic_type, body, data),
        _ => container_image(topic_type, body, data),
    }
}

/// `scratch` is a bool in the spec; upstream also takes the strings "true"/"false".
fn scratch(body: &Body) -> Result<bool, MapError> {
    match body.get("artifact.scratch") {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) => Ok(s.eq_ignore_ascii_case("true")),
        Some(_) => Err(super::wrong("artifact.scratch", "a boolean")),
    }
}

/// Python's `str()` of a bool, as ResultsDB stores upstream's `scratch`.
fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// A koji/brew build: item = NVR. Greenwave's `koji_build` subject type queries
/// `type=koji_build,brew-build`, so koji-build becomes `koji_build` and brew-build stays
/// as upstream writes it; a scratch build gets `_scratch` so gating never sees it.
fn rpm_build(kind: &str, body: &Body, data: &mut DataOut) -> Result<(), MapError> {
    let nvr = body.str("artifact.nvr")?;
    let scratch = scratch(body)?;
    let base = if kind == "koji-build" { "koji_build" } else { "brew-build" };
    data.put("item", nvr);
    data.put("type", if scratch { format!("{base}_scratch") } else { base.to_owned() });
    data.put_opt("brew_task_id", body.opt_str("artifact.id")?);
    data.put("component", body.str("artifact.component")?);
    data.put("scratch", py_bool(scratch));
    data.put_opt("issuer", body.opt_str("artifact.issuer")?);
    Ok(())
}

/// A side tag with its builds: item = the group id; builds as JSON, one value each.
fn build_group(kind: &str, body: &Body, data: &mut DataOut) -> Result<(), MapError> {
    data.put("item", body.str("artifact.id")?);
    data.put("type", kind);
    data.put_opt("repository", body.opt_str("artifact.repository")?);
    data.put_json("builds", body.get("artifact.builds"));
    Ok(())
}

/// A Bodhi update: item = the update alias (`FEDORA-2024-…`), type `bodhi_update` as
/// Greenwave's subject type; 1.x carries a digest in `artifact.id` and the alias apart.
fn fedora_update(body: &Body, data: &mut DataOut) -> Result<(), MapError> {
    let item = match body.opt_str("artifact.alias")? {
        Some(a) if !a.is_empty() => a,
        _ => body.str("artifact.id").map_err(|_| MapError::Missing("artifact.alias".into()))?,
    };
    data.put("item", item);
    data.put("type", "bodhi_update");
    data.put_opt("release", body.opt_str("artifact.release.name")?);
    let nvrs: Vec<Value> = match body.get("artifact.builds") {
        Some(Value::Array(builds)) => builds
            .iter()
            .filter_map(|b| b.get("nvr").and_then(Value::as_str))
            .map(|s| Value::String(s.to_owned()))
            .collect(),
        _ => Vec::new(),
    };
    data.put_json("builds", Some(&Value::Array(nvrs)));
    Ok(())
}

/// A compose: item = the compose id, type `compose` (the rule and Greenwave's subject
/// type; resultsdb-updater writes `<id>/<variant>/<arch>` and `productmd-compose`), with the
/// id also in `productmd.compose.id` (what Greenwave's `compose` subject type queries) and
/// the variant and arch in data.
fn compose(body: &Body, data: &mut DataOut) -> Result<(), MapError> {
    // `compose_id` is the deprecated spelling of `id`.
    let id = match body.opt_str("artifact.id")? {
        Some(id) if !id.is_empty() => id,
        _ => body.str("artifact.compose_id").map_err(|_| MapError::Missing("artifact.id".into()))?,
    };
    let variant = body.system("variant")?;
    data.put("item", id.clone());
    data.put("type", "compose");
    data.put("productmd.compose.id", id);
    data.put_opt("system_variant", variant);
    Ok(())
}

/// A module: item = `name-stream-version.context` from the `name:stream:version:context`
/// NSVC, with `-` in the stream as `_` (MBS's spelling in koji).
fn module(kind: &str, body: &Body, data: &mut DataOut) -> Result<(), MapError> {
    let raw = body.str("artifact.nsvc")?;
    let parts: Vec<&str> = raw.split(':').collect();
    let [name, stream, version, context] = parts[..] else {
        return Err(MapError::Invalid {
            field: "artifact.nsvc".into(),
            value: raw,
            reason: "is not name:stream:version:context".into(),
        });
    };
    let nsvc = format!("{name}-{}-{version}.{context}", stream.replace('-', "_"));
    data.put("item", nsvc.clone());
    data.put("type", kind);
    data.put("nsvc", nsvc);
    data.put_opt("mbs_id", body.opt_str("artifact.id")?);
    for key in ["name", "stream", "version", "context", "issuer"] {
        data.put_opt(key, body.opt_str(&format!("artifact.{key}"))?);
    }
    Ok(())
}

/// A container image: item = the image id (digest); its NVR in `nvr`, which Greenwave's
/// `redhat-container-image` subject type queries.
fn container_image(kind: &str, body: &Body, data: &mut DataOut) -> Result<(), MapError> {
    data.put("item", body.str("artifact.id")?);
    data.put("type", kind);
    data.put("nvr", body.str("artifact.nvr")?);
    data.put_opt("brew_task_id", body.opt_str("artifact.task_id")?);
    data.put_opt("brew_build_id", body.opt_str("artifact.build_id")?);
    data.put_json("full_names", body.get("artifact.full_names"));
    for key in ["registry_url", "tag", "issuer", "component", "name", "namespace", "source"] {
        data.put_opt(key, body.opt_str(&format!("artifact.{key}"))?);
    }
    if body.get("artifact.scratch").is_some() {
        data.put("scratch", py_bool(scratch(body)?));
    }
    Ok(())
}
