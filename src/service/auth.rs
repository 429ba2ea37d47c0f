//! Identity: who is writing, and may they. `none` (open results, no waivers), `dummy` (any
//! HTTP Basic user name, as WaiverDB's dummy method) and `tokens` (a TOML file of users with
//! a blake3 hash of their token, the testcase patterns they may write results for, and
//! whether they may waive). Tokens are compared by hash and never logged.

use serde::Deserialize;
use std::path::Path;

/// How requests are authenticated.
#[derive(Debug, Clone, Default)]
pub enum AuthMode {
    /// Reads and result writes are open; waivers are refused (no identity to record).
    #[default]
    None,
    /// Any HTTP Basic user name is the identity (closed labs, tests).
    Dummy,
    /// Users from a tokens file.
    Tokens(Vec<TokenUser>),
}

/// One user of a tokens file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenUser {
    pub name: String,
    /// blake3 (hex) of the user's token; the token itself is never stored.
    pub token_blake3: String,
    /// Testcase name patterns (`*`, `?`, `[...]`) the user may submit results for.
    #[serde(default)]
    pub testcases: Vec<String>,
    /// Whether the user may create waivers (for the testcases their patterns allow).
    #[serde(default)]
    pub waive: bool,
    /// Whether the user may change the description or ref_url of groups that already exist
    /// (anyone may create a group, and repeat a group's metadata unchanged).
    #[serde(default)]
    pub groups: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensFile {
    #[serde(default, rename = "user")]
    users: Vec<TokenUser>,
}

/// Why a request may not do what it asks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Missing or wrong credentials (401).
    #[error("{0}")]
    Unauthorized(String),
    /// A known user without the right (403).
    #[error("{0}")]
    Forbidden(String),
    /// The tokens file is unusable (start-up).
    #[error("{0}")]
    Config(String),
}

/// Credentials as sent: `Authorization: Basic …` or `Bearer …`.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Credentials {
    #[default]
    None,
    Basic {
        user: String,
        password: String,
    },
    Bearer(String),
}

impl std::fmt::Debug for Credentials {
    // Never print a secret, even in debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::None => f.write_str("None"),
            Credentials::Basic { user, .. } => write!(f, "Basic({user}, ***)"),
            Credentials::Bearer(_) => f.write_str("Bearer(***)"),
        }
    }
}

impl Credentials {
    /// Parses an `Authorization` header value.
    pub fn from_header(value: Option<&str>) -> Credentials {
        use base64::Engine;
        let Some(v) = value.map(str::trim) else { return Credentials::None };
        if let Some(token) = v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")) {
            return Credentials::Bearer(token.trim().to_owned());
        }
        let basic = v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic "));
        let decoded = basic.and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok());
        match decoded.and_then(|d| String::from_utf8(d).ok()) {
            Some(pair) => {
                let (user, password) = pair.split_once(':').unwrap_or((pair.as_str(), ""));
                Credentials::Basic { user: user.to_owned(), password: password.to_owned() }
            }
            None => Credentials::None,
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    /// The tokens-file entry, in `tokens` mode.
    user: Option<TokenUser>,
}

impl PartialEq for TokenUser {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for TokenUser {}

/// The configured authentication and superusers.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    pub mode: AuthMode,
    /// May waive on behalf of others (`username`), recorded as `proxied_by`.
    pub superusers: Vec<String>,
}

/// The blake3 hex of a token, as stored in a tokens file.
pub fn hash_token(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

/// A fresh random token (for `verdict token`).
pub fn new_token() -> String {
    format!("vdt_{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

impl Auth {
    /// Reads a tokens file (`[[user]]` tables).
    pub fn load_tokens(path: &Path) -> Result<Vec<TokenUser>, AuthError> {
        let text = std::fs::read_to_string(path).map_err(|e| AuthError::Config(format!("{}: {e}", path.display())))?;
        let file: TokensFile =
            toml::from_str(&text).map_err(|e| AuthError::Config(format!("{}: {e}", path.display())))?;
        for u in &file.users {
            if u.token_blake3.len() != 64 || !u.token_blake3.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(AuthError::Config(format!(
                    "{}: user {}: token_blake3 must be 64 hex digits (`verdict token` prints one)",
                    path.display(),
                    u.name
                )));
            }
        }
        Ok(file.users)
    }

    /// Who is calling. `Ok(None)`: anonymous (allowed for reads, and for result writes
    /// unless the mode is `tokens`). Wrong credentials are an error in every mode.
    pub fn authenticate(&self, creds: &Credentials) -> Result<Option<Identity>, AuthError> {
        match (&self.mode, creds) {
            (_, Credentials::None) => Ok(None),
            (AuthMode::None, _) => Ok(None),
            (AuthMode::Dummy, Credentials::Basic { user, .. }) if !user.is_empty() => {
                Ok(Some(Identity { name: user.clone(), user: None }))
            }
            (AuthMode::Dummy, _) => {
                Err(AuthError::Unauthorized("dummy authentication takes HTTP Basic with a user name".into()))
            }
            (AuthMode::Tokens(users), Credentials::Bearer(token) | Credentials::Basic { password: token, .. }) => {
                let hash = hash_token(token);
                users
                    .iter()
                    .find(|u| constant_time_eq(u.token_blake3.as_bytes(), hash.as_bytes()))
                    .map(|u| Some(Identity { name: u.name.clone(), user: Some(u.clone()) }))
                    .ok_or_else(|| AuthError::Unauthorized("invalid token".into()))
            }
        }
    }

    /// May `who` submit a result (or create a testcase) named `testcase`? Upstream's 403 text.
    pub fn may_submit(&self, who: Option<&Identity>, testcase: &str) -> Result<(), AuthError> {
        let AuthMode::Tokens(_) = self.mode else { return Ok(()) };
        let who = who.ok_or_else(|| AuthError::Unauthorized("a token is required to submit results".into()))?;
        let allowed = who.user.as_ref().is_some_and(|u| u.testcases.iter().any(|p| glob_match(p, testcase)));
        if allowed {
            Ok(())
        } else {
            Err(AuthError::Forbidden(format!(
                "User {} is not authorized to submit results for the test case {testcase}",
                who.name
            )))
        }
    }

    /// May `who` waive `testcase`? In `tokens` mode a waiver needs the same testcase
    /// patterns as a result: the waive right alone does not reach other teams' tests.
    pub fn may_waive_testcase(&self, who: Option<&Identity>, testcase: &str) -> Result<(), AuthError> {
        let AuthMode::Tokens(_) = self.mode else { return Ok(()) };
        let Some(who) = who else { return Err(AuthError::Unauthorized("Authentication required".into())) };
        if who.user.as_ref().is_some_and(|u| u.testcases.iter().any(|p| glob_match(p, testcase))) {
            Ok(())
        } else {
            Err(AuthError::Forbidden(format!("User {} is not authorized to waive the test case {testcase}", who.name)))
        }
    }

    /// May `who` change the metadata of an existing group? Only in `tokens` mode is there a
    /// rule: the user needs the `groups` right.
    pub fn may_edit_group(&self, who: Option<&Identity>, group: &str, field: &str) -> Result<(), AuthError> {
        let AuthMode::Tokens(_) = self.mode else { return Ok(()) };
        let Some(who) = who else { return Err(AuthError::Unauthorized("a token is required to write".into())) };
        if who.user.as_ref().is_some_and(|u| u.groups) {
            Ok(())
        } else {
            Err(AuthError::Forbidden(format!(
                "User {} may not change the {field} of the existing group {group} (it needs the groups right in the tokens file)",
                who.name
            )))
        }
    }

    /// May `who` create waivers, and as whom? Returns (username, proxied_by).
    pub fn may_waive(
        &self,
        who: Option<&Identity>,
        on_behalf_of: Option<&str>,
    ) -> Result<(String, Option<String>), AuthError> {
        let who = match (&self.mode, who) {
            (AuthMode::None, _) => {
                return Err(AuthError::Unauthorized(
                    "waivers need an identity: start the server with --auth dummy or --auth tokens".into(),
                ));
            }
            (_, None) => return Err(AuthError::Unauthorized("Authentication required".into())),
            (_, Some(w)) => w,
        };
        if let Some(user) = &who.user
            && !user.waive
        {
            return Err(AuthError::Forbidden(format!("User {} is not allowed to create waivers", who.name)));
        }
        match on_behalf_of {
            Some(other) if other != who.name => {
                if self.superusers.iter().any(|s| s == &who.name) {
                    Ok((other.to_owned(), Some(who.name.clone())))
                } else {
                    Err(AuthError::Forbidden(format!("user {} does not have the proxyuser ability", who.name)))
                }
            }
            _ => Ok((who.name.clone(), None)),
        }
    }
}

/// Compares without leaking where the first difference is.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// fnmatch-style matching: `*` any run, `?` one character, `[...]` a class (`[!...]` negated).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Iterative matcher with backtracking on the last `*`.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ti));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                '[' => {
                    if let Some((matched, next)) = class_match(&p, pi, t[ti])
                        && matched
                    {
                        pi = next;
                        ti += 1;
                        continue;
                    }
                }
                c if c == t[ti] => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, st)) => {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Matches `c` against the class starting at `p[start] == '['`; returns (matched, index after).
fn class_match(p: &[char], start: usize, c: char) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = matches!(p.get(i), Some('!') | Some('^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < p.len() && (p[i] != ']' || first) {
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            matched |= p[i] <= c && c <= p[i + 2];
            i += 3;
        } else {
            matched |= p[i] == c;
            i += 1;
        }
        first = false;
    }
    (i < p.len()).then_some((matched != negate, i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        for (p, t, want) in [
            ("dist.*", "dist.rpmlint", true),
            ("dist.*", "fedora-ci.x", false),
            ("*", "", true),
            ("a?c", "abc", true),
            ("a[bc]d", "acd", true),
            ("a[!bc]d", "acd", false),
            ("fedora-ci.*.functional", "fedora-ci.koji-build.tier0.functional", true),
            ("x[a-c]", "xb", true),
        ] {
            assert_eq!(glob_match(p, t), want, "{p} {t}");
        }
    }

    #[test]
    fn credentials_never_print_secrets() {
        let c = Credentials::from_header(Some("Basic YWxpY2U6czNjcjN0")); // alice:s3cr3t
        assert_eq!(c, Credentials::Basic { user: "alice".into(), password: "s3cr3t".into() });
        assert!(!format!("{c:?}").contains("s3cr3t"));
        assert!(!format!("{:?}", Credentials::from_header(Some("Bearer tok123"))).contains("tok123"));
    }

    #[test]
    fn token_rules() {
        let alice = TokenUser {
            name: "alice".into(),
            token_blake3: hash_token("ta"),
            testcases: vec!["dist.*".into()],
            waive: true,
            groups: false,
        };
        let bob = TokenUser {
            name: "bob".into(),
            token_blake3: hash_token("tb"),
            testcases: vec![],
            waive: false,
            groups: true,
        };
        let auth = Auth { mode: AuthMode::Tokens(vec![alice, bob]), superusers: vec!["alice".into()] };
        let a = auth.authenticate(&Credentials::Bearer("ta".into())).unwrap();
        let b = auth.authenticate(&Credentials::Basic { user: "x".into(), password: "tb".into() }).unwrap();
        assert!(auth.authenticate(&Credentials::Bearer("nope".into())).is_err());
        assert!(auth.may_submit(a.as_ref(), "dist.rpmlint").is_ok());
        assert!(matches!(auth.may_submit(b.as_ref(), "dist.rpmlint"), Err(AuthError::Forbidden(_))));
        assert!(matches!(auth.may_submit(None, "dist.rpmlint"), Err(AuthError::Unauthorized(_))));
        assert_eq!(auth.may_waive(a.as_ref(), Some("carol")).unwrap(), ("carol".into(), Some("alice".into())));
        assert!(matches!(auth.may_waive(b.as_ref(), None), Err(AuthError::Forbidden(_))));
        assert!(auth.may_waive_testcase(a.as_ref(), "dist.rpmlint").is_ok());
        assert!(matches!(auth.may_waive_testcase(a.as_ref(), "fedora-ci.x"), Err(AuthError::Forbidden(_))));
        assert!(matches!(auth.may_edit_group(a.as_ref(), "g", "description"), Err(AuthError::Forbidden(_))));
        assert!(auth.may_edit_group(b.as_ref(), "g", "description").is_ok());
        let open = Auth::default();
        assert!(open.may_edit_group(None, "g", "description").is_ok() && open.may_waive_testcase(None, "x").is_ok());
    }
}
