//! arXiv: the API's Atom feed (`/api/query`) in both its layouts — before 2025 each `arxiv:` and
//! `opensearch:` element declared its namespace inline; now the root declares them — and the
//! rss.arxiv.org RSS 2.0 channel. The API's error reply (HTTP 400 with a feed whose one entry is
//! titled `Error`) is an error, never a paper.

use super::xml::{self, Element, ATOM};
use super::{clip, malformed, Item, Page, ParseError, SourceName};

/// The arXiv Atom extension namespace.
pub const ARXIV_NS: &str = "http://arxiv.org/schemas/atom";
/// OpenSearch namespace (paging totals).
pub const OPENSEARCH_NS: &str = "http://a9.com/-/spec/opensearch/1.1/";

/// The default categories (the seed's q-fin.TR, q-fin.CP, stat.ML).
pub const DEFAULT_CATEGORIES: [&str; 3] = ["q-fin.TR", "q-fin.CP", "stat.ML"];

/// Longest abstract kept, in characters.
const MAX_TEXT: usize = 4_000;

/// The arXiv base URL setting does not make a URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad arXiv base URL: {0}")]
pub struct BadBaseUrl(String);

/// The query of one page: the categories OR-ed, newest submissions first.
///
/// # Errors
/// When the base URL is not a URL.
pub fn query_url(
    base_url: &str,
    categories: &[String],
    start: u64,
    per_page: u32,
) -> Result<String, BadBaseUrl> {
    let query = categories
        .iter()
        .map(|c| format!("cat:{c}"))
        .collect::<Vec<_>>()
        .join(" OR ");
    let mut url = reqwest::Url::parse(&format!("{}/api/query", base_url.trim_end_matches('/')))
        .map_err(|e| BadBaseUrl(e.to_string()))?;
    url.query_pairs_mut()
        .append_pair("search_query", &query)
        .append_pair("sortBy", "submittedDate")
        .append_pair("sortOrder", "descending")
        .append_pair("start", &start.to_string())
        .append_pair("max_results", &per_page.to_string());
    Ok(url.to_string())
}

/// The arXiv id of an abstract URL, without its version: `http://arxiv.org/abs/2202.12139v1` →
/// `2202.12139`, `…/abs/cond-mat/0603029v1` → `cond-mat/0603029`.
pub fn arxiv_id(url_or_id: &str) -> Option<String> {
    let tail = url_or_id
        .split("/abs/")
        .nth(1)
        .or_else(|| url_or_id.strip_prefix("oai:arXiv.org:"))
        .or_else(|| url_or_id.strip_prefix("arXiv:"))
        .unwrap_or(url_or_id)
        .trim()
        .trim_end_matches('/');
    let base = match tail.rfind('v') {
        Some(i)
            if i > 0 && tail[i + 1..].chars().all(|c| c.is_ascii_digit()) && i + 1 < tail.len() =>
        {
            &tail[..i]
        }
        _ => tail,
    };
    let ok = !base.is_empty()
        && base.len() <= 64
        && base
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '/' | '-' | '_'));
    ok.then(|| base.to_string())
}

/// Parses an API Atom feed or an RSS channel.
///
/// # Errors
/// [`ParseError::Service`] for arXiv's error feed, [`ParseError::Malformed`] otherwise.
pub fn parse(body: &[u8]) -> Result<Page, ParseError> {
    let root = xml::parse(body).map_err(|e| malformed("arXiv feed", e))?;
    if root.name == "rss" {
        return parse_rss(&root);
    }
    if !root.is(ATOM, "feed") {
        return Err(malformed(
            "arXiv feed",
            format!("the root element is <{}>, not an Atom <feed>", root.name),
        ));
    }
    let mut page = Page {
        total: root
            .child_text(OPENSEARCH_NS, "totalResults")
            .and_then(|t| t.parse().ok()),
        ..Page::default()
    };
    for entry in root.children_named(ATOM, "entry") {
        let id = entry.child_text(ATOM, "id").unwrap_or_default();
        let title = entry.child_text(ATOM, "title").unwrap_or_default();
        if title == "Error"
            && (id.contains("/api/errors") || entry.child(ATOM, "published").is_none())
        {
            return Err(ParseError::Service {
                service: "arXiv API",
                message: entry
                    .child_text(ATOM, "summary")
                    .unwrap_or_else(|| "an error entry without a message".into()),
            });
        }
        page.push(entry_item(entry, &id, title)?);
    }
    Ok(page)
}

fn entry_item(entry: &Element, id: &str, title: String) -> Result<Item, ParseError> {
    let external_id = arxiv_id(id)
        .ok_or_else(|| malformed("arXiv feed", format!("entry id {id:?} is not an arXiv id")))?;
    if title.is_empty() {
        return Err(malformed(
            "arXiv feed",
            format!("entry {external_id} has no title"),
        ));
    }
    let mut fields = Vec::new();
    if let Some(primary) = entry
        .child(ARXIV_NS, "primary_category")
        .and_then(|c| c.attr("term"))
    {
        fields.push(("arxiv:primary_category".to_string(), primary.to_string()));
    }
    for (name, key) in [
        ("comment", "arxiv:comment"),
        ("journal_ref", "arxiv:journal_ref"),
        ("doi", "arxiv:doi"),
    ] {
        if let Some(v) = entry.child_text(ARXIV_NS, name) {
            fields.push((key.to_string(), v));
        }
    }
    let categories: Vec<&str> = entry
        .children_named(ATOM, "category")
        .filter_map(|c| c.attr("term"))
        .collect();
    if !categories.is_empty() {
        fields.push(("categories".into(), categories.join(" ")));
    }
    let authors: Vec<String> = entry
        .children_named(ATOM, "author")
        .filter_map(|a| a.child_text(ATOM, "name"))
        .collect();
    if !authors.is_empty() {
        fields.push(("authors".into(), authors.join(", ")));
    }
    let url = entry
        .children_named(ATOM, "link")
        .find(|l| l.attr("rel") == Some("alternate"))
        .and_then(|l| l.attr("href"))
        .map(str::to_string)
        .or_else(|| Some(format!("https://arxiv.org/abs/{external_id}")));
    Ok(Item {
        source: SourceName::Arxiv,
        external_id,
        title,
        text: clip(
            &entry
                .child(ATOM, "summary")
                .map(|s| s.text.clone())
                .unwrap_or_default(),
            MAX_TEXT,
        ),
        url,
        published: entry.child_text(ATOM, "published"),
        fields,
    })
}

fn parse_rss(root: &Element) -> Result<Page, ParseError> {
    let channel = root
        .child("", "channel")
        .ok_or_else(|| malformed("arXiv RSS", "no <channel>"))?;
    let mut page = Page::default();
    for item in channel.children_named("", "item") {
        let title = item.child_text("", "title").unwrap_or_default();
        let link = item.child_text("", "link");
        let description = item
            .child("", "description")
            .map(|d| d.text.clone())
            .unwrap_or_default();
        let external_id = item
            .child_text("", "guid")
            .and_then(|g| arxiv_id(&g))
            .or_else(|| link.as_deref().and_then(arxiv_id))
            .ok_or_else(|| malformed("arXiv RSS", format!("item {title:?} has no arXiv id")))?;
        // "arXiv:2509.13332v1 Announce Type: new \nAbstract: …"
        let (announce, abstract_text) = match description.split_once("Abstract:") {
            Some((head, rest)) => (
                head.split("Announce Type:")
                    .nth(1)
                    .map(|t| t.trim().to_string()),
                rest,
            ),
            None => (None, description.as_str()),
        };
        let mut fields = Vec::new();
        if let Some(kind) = announce.filter(|k| !k.is_empty()) {
            fields.push(("arxiv:announce_type".to_string(), kind));
        }
        page.push(Item {
            source: SourceName::Arxiv,
            external_id,
            title,
            text: clip(abstract_text, MAX_TEXT),
            url: link,
            published: item.child_text("", "pubDate"),
            fields,
        });
    }
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_lose_their_version_and_url() {
        let check = |input: &str, expected: Option<&str>| {
            assert_eq!(arxiv_id(input).as_deref(), expected, "{input}")
        };
        check("http://arxiv.org/abs/2202.12139v1", Some("2202.12139"));
        check("https://arxiv.org/abs/2509.13332", Some("2509.13332"));
        check(
            "http://arxiv.org/abs/cond-mat/0603029v12",
            Some("cond-mat/0603029"),
        );
        check("oai:arXiv.org:2509.13332v1", Some("2509.13332"));
        check("https://arxiv.org/api/errors#incorrect id", None);
        check("", None);
    }

    #[test]
    fn the_query_names_every_category_newest_first() {
        let url = query_url("http://h/", &["q-fin.TR".into(), "stat.ML".into()], 50, 25).unwrap();
        assert!(
            url.starts_with("http://h/api/query?search_query=cat%3Aq-fin.TR+OR+cat%3Astat.ML"),
            "{url}"
        );
        assert!(url.contains("sortBy=submittedDate&sortOrder=descending&start=50&max_results=25"));
    }
}
