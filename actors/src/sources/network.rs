//! Network upgrades: the `releases.atom` feed of a client repository on GitHub (go-ethereum,
//! bitcoin, prysm, …). A release of a consensus or execution client can move markets (hard
//! forks, fee changes), so each is an event-driven idea.

use super::xml::{self, ATOM};
use super::{clip, malformed, Item, Page, ParseError, SourceName};

/// Default client repositories.
pub const DEFAULT_REPOS: [&str; 3] = [
    "ethereum/go-ethereum",
    "bitcoin/bitcoin",
    "prysmaticlabs/prysm",
];

/// The repository (`owner/name`) a releases feed is of, from its id or link.
fn repository(root: &xml::Element) -> Option<String> {
    let from = |s: &str| {
        let rest = s.split("github.com/").nth(1)?;
        let mut parts = rest.split('/');
        Some(format!("{}/{}", parts.next()?, parts.next()?))
    };
    root.child_text(ATOM, "id")
        .and_then(|id| from(&id))
        .or_else(|| {
            root.children_named(ATOM, "link")
                .filter_map(|l| l.attr("href"))
                .find_map(from)
        })
}

/// Parses a releases feed.
///
/// # Errors
/// [`ParseError::Malformed`] when it is not an Atom feed of releases.
pub fn parse(body: &[u8]) -> Result<Page, ParseError> {
    let root = xml::parse(body).map_err(|e| malformed("releases feed", e))?;
    if !root.is(ATOM, "feed") {
        return Err(malformed(
            "releases feed",
            format!("root is <{}>", root.name),
        ));
    }
    let repo = repository(&root).unwrap_or_else(|| "unknown".into());
    let mut page = Page::default();
    for entry in root.children_named(ATOM, "entry") {
        let id = entry
            .child_text(ATOM, "id")
            .ok_or_else(|| malformed("releases feed", "an entry without an id"))?;
        let title = entry.child_text(ATOM, "title").unwrap_or_default();
        let tag = id.rsplit('/').next().unwrap_or(&title).to_string();
        let lower = tag.to_ascii_lowercase();
        let prerelease = ["alpha", "beta", "rc", "pre"]
            .iter()
            .any(|p| lower.contains(p));
        let notes = entry
            .child(ATOM, "content")
            .map(|c| xml::strip_html(&c.text))
            .unwrap_or_default();
        page.push(Item {
            source: SourceName::Network,
            external_id: id,
            title: clip(&format!("{repo} release {title}"), 300),
            text: clip(&notes, 2_000),
            url: entry
                .child(ATOM, "link")
                .and_then(|l| l.attr("href"))
                .map(str::to_string),
            published: entry.child_text(ATOM, "updated"),
            fields: vec![
                ("repository".into(), repo.clone()),
                ("tag".into(), tag),
                ("prerelease".into(), prerelease.to_string()),
            ],
        });
    }
    Ok(page)
}
