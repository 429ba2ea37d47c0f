//! The page shell every page shares (head, inline CSS, navigation, footer) and small
//! rendering helpers: outcome colours, times, links, a pager. maud escapes every
//! interpolated string, so names from the store always render as text.

use maud::{DOCTYPE, Markup, PreEscaped, html};

/// The stylesheet, inlined in every page and in the offline report (no external asset).
pub const CSS: &str = include_str!("verdict.css");

/// Where the page is in the navigation (for `aria-current`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Results,
    Flaky,
    Compare,
    Waivers,
    Quarantines,
    None,
}

const NAV: [(Nav, &str, &str); 6] = [
    (Nav::Overview, "/", "Overview"),
    (Nav::Results, "/results", "Results"),
    (Nav::Flaky, "/flaky", "Flaky"),
    (Nav::Compare, "/compare", "Compare"),
    (Nav::Waivers, "/waivers", "Waivers"),
    (Nav::Quarantines, "/quarantines", "Quarantines"),
];

/// The `<head>` of every page and of the report: `extra` goes before the title (the
/// report's own security policy and link base).
pub fn head(title: &str, extra: Markup) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="color-scheme" content="light dark";
            (extra)
            title { (title) }
            style { (PreEscaped(CSS)) }
        }
    }
}

/// A whole page: `title`, the current navigation entry and the main content.
pub fn page(title: &str, nav: Nav, main: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(&format!("{title} · verdict"), html! {}))
            body {
                header.top {
                    a.brand href="/" { "verdict" }
                    nav aria-label="Main" {
                        ul {
                            @for (n, href, label) in NAV {
                                li { a href=(href) aria-current=[(n == nav).then_some("page")] { (label) } }
                            }
                        }
                    }
                }
                main id="main" { (main) }
                footer { "verdict " (env!("CARGO_PKG_VERSION")) " · " a href="/api/v2.0/" { "API" } }
            }
        }
    }
}

/// The CSS class of an outcome (its colour).
pub fn outcome_class(outcome: &str) -> &'static str {
    match outcome {
        "PASSED" => "o-pass",
        "FAILED" => "o-fail",
        "ERROR" => "o-error",
        "INFO" => "o-info",
        "NEEDS_INSPECTION" => "o-inspect",
        "QUEUED" | "RUNNING" => "o-pending",
        _ => "o-other",
    }
}

/// An outcome as a coloured badge.
pub fn outcome(outcome: &str) -> Markup {
    html! { span class={"badge " (outcome_class(outcome))} { (outcome) } }
}

/// An ISO 8601 time shortened for tables (`2026-12-02 12:49:55`), full in the tooltip.
pub fn time(iso: &str) -> Markup {
    let short: String = iso.chars().take(19).map(|c| if c == 'T' { ' ' } else { c }).collect();
    html! { time datetime=(iso) title=(iso) { (short) } }
}

/// Percent-encodes one path segment or query value.
pub fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, COMPONENT).to_string()
}

const COMPONENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// The link to an item's page.
pub fn item_link(item: &str) -> Markup {
    html! { a href={"/items/" (enc(item))} { (item) } }
}

/// The link to a testcase's page.
pub fn testcase_link(name: &str) -> Markup {
    html! { a href={"/testcases/" (enc(name))} { (name) } }
}

/// The link to one result's page.
pub fn result_link(id: i64, text: &str) -> Markup {
    html! { a href={"/results/" (id)} { (text) } }
}

/// An external link (ref_url): only http(s) URLs become links, anything else is text.
pub fn ext_link(url: &str, text: &str) -> Markup {
    if url.starts_with("https://") || url.starts_with("http://") {
        html! { a href=(url) rel="noopener noreferrer" { (text) } }
    } else {
        html! { (url) }
    }
}

/// A query string from pairs, each value encoded (`?a=1&b=2`, empty when none).
pub fn query_string(pairs: &[(String, String)]) -> String {
    let mut s = String::new();
    for (k, v) in pairs {
        s.push(if s.is_empty() { '?' } else { '&' });
        s.push_str(&enc(k));
        s.push('=');
        s.push_str(&enc(v));
    }
    s
}

/// Previous/next links keeping every other parameter (`page` replaced).
pub fn pager(path: &str, pairs: &[(String, String)], page: i64, has_next: bool) -> Markup {
    let at = |p: i64| {
        let mut kept: Vec<(String, String)> = pairs.iter().filter(|(k, _)| k != "page").cloned().collect();
        if p > 0 {
            kept.push(("page".into(), p.to_string()));
        }
        format!("{path}{}", query_string(&kept))
    };
    html! {
        nav.pager aria-label="Pages" {
            @if page > 0 { a rel="prev" href=(at(page - 1)) { "← newer" } }
            span { "page " (page + 1) }
            @if has_next { a rel="next" href=(at(page + 1)) { "older →" } }
        }
    }
}

/// A small "nothing here" paragraph.
pub fn empty(what: &str) -> Markup {
    html! { p.empty { (what) } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_render_as_text() {
        let m = testcase_link("<script>alert(1)</script>").into_string();
        assert!(!m.contains("<script>"), "{m}");
        assert!(m.contains("&lt;script&gt;"), "{m}");
        assert!(m.contains("/testcases/%3Cscript%3Ealert%281%29%3C%2Fscript%3E"), "{m}");
    }

    #[test]
    fn only_http_links_are_links() {
        assert!(ext_link("javascript:alert(1)", "x").into_string().find("href").is_none());
        assert!(ext_link("https://ci.example.org/1", "x").into_string().contains("href=\"https://ci.example.org/1\""));
    }

    #[test]
    fn pager_keeps_filters() {
        let pairs = vec![("outcome".to_owned(), "FAILED".to_owned()), ("page".to_owned(), "1".to_owned())];
        let m = pager("/results", &pairs, 1, true).into_string();
        assert!(m.contains("href=\"/results?outcome=FAILED\""), "{m}");
        assert!(m.contains("href=\"/results?outcome=FAILED&amp;page=2\""), "{m}");
    }
}
