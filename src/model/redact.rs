//! Credentials in URLs are never shown: peer and AMQP URLs may carry `user:password@`, and
//! every place that prints, logs or serves such a URL (or an error quoting it) shows the
//! redacted form instead.

/// What a password (or a user-only credential) is shown as.
pub const MASK: &str = "***";

/// Where the user information of `url` is: the byte range of `userinfo` in
/// `scheme://userinfo@host…`, if it has any.
fn userinfo_span(url: &str) -> Option<(usize, usize)> {
    let start = url.find("://")? + 3;
    let authority_len = url[start..].find(['/', '?', '#']).unwrap_or(url.len() - start);
    let at = url[start..start + authority_len].rfind('@')?;
    Some((start, start + at))
}

/// `url` with its credentials masked: `http://user:***@host/…` (the user name is kept, it
/// helps to tell peers apart) and `http://***@host/…` for a user-only credential (often a
/// token). URLs without credentials come back unchanged.
pub fn url(url: &str) -> String {
    let Some((start, end)) = userinfo_span(url) else { return url.to_owned() };
    let shown = match url[start..end].split_once(':') {
        Some((user, _)) => format!("{user}:{MASK}"),
        None => MASK.to_owned(),
    };
    format!("{}{shown}{}", &url[..start], &url[end..])
}

/// `text` (an error message, say) with every occurrence of `url`'s credentials masked as
/// [`url`] masks them.
pub fn scrub(text: &str, url: &str) -> String {
    let Some((start, end)) = userinfo_span(url) else { return text.to_owned() };
    let raw = &url[start..end];
    if raw.is_empty() {
        return text.to_owned();
    }
    let masked = self::url(url);
    let shown = &masked[start..masked.len() - (url.len() - end)];
    let mut out = text.replace(&format!("{raw}@"), &format!("{shown}@"));
    // The password alone (a library may print it apart from the user name).
    if let Some((_, password)) = raw.split_once(':')
        && !password.is_empty()
    {
        out = out.replace(password, MASK);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_masked() {
        assert_eq!(url("http://user:secret@h:1/x?y=z@w"), "http://user:***@h:1/x?y=z@w");
        assert_eq!(url("https://tok@h"), "https://***@h");
        assert_eq!(url("amqp://u:p%40ss@h:5672/%2f"), "amqp://u:***@h:5672/%2f");
        assert_eq!(url("http://h:1/a@b"), "http://h:1/a@b");
        assert_eq!(url("not a url"), "not a url");
        let u = "http://user:secret@h:1";
        assert_eq!(scrub(&format!("{u}/changes failed; pw secret"), u), "http://user:***@h:1/changes failed; pw ***");
        assert_eq!(scrub("nothing here", "http://h:1"), "nothing here");
    }
}
