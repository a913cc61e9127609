//! SEC EDGAR: the latest-filings Atom (`/cgi-bin/browse-edgar?action=getcurrent&output=atom`,
//! ISO-8859-1, one entry per filer so a filing can appear several times) and full-text search
//! (`efts.sec.gov/LATEST/search-index`, Elasticsearch JSON). The SEC requires a User-Agent with a
//! contact e-mail and at most 10 requests a second.

use serde_json::Value;

use super::xml::{self, ATOM};
use super::{clip, malformed, Item, Page, ParseError, SourceName};

/// Default forms: material events, annual and quarterly reports, registrations.
pub const DEFAULT_FORMS: [&str; 4] = ["8-K", "10-K", "10-Q", "S-1"];
/// Default full-text search terms.
pub const DEFAULT_TERMS: [&str; 2] = ["bitcoin treasury", "digital asset"];

/// Parses either payload (Atom or search JSON, told apart by the first byte).
///
/// # Errors
/// [`ParseError::Malformed`] when it is neither.
pub fn parse(body: &[u8]) -> Result<Page, ParseError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    match first {
        Some(b'{') => parse_search(body),
        Some(b'<') => parse_atom(body),
        _ => Err(malformed("EDGAR reply", "neither Atom nor JSON")),
    }
}

fn parse_atom(body: &[u8]) -> Result<Page, ParseError> {
    let root = xml::parse(body).map_err(|e| malformed("EDGAR Atom feed", e))?;
    if !root.is(ATOM, "feed") {
        return Err(malformed(
            "EDGAR Atom feed",
            format!("root is <{}>", root.name),
        ));
    }
    let mut page = Page::default();
    for entry in root.children_named(ATOM, "entry") {
        let id = entry.child_text(ATOM, "id").unwrap_or_default();
        let accession = id
            .split("accession-number=")
            .nth(1)
            .map(str::to_string)
            .filter(|a| a.len() == 20 && a.chars().all(|c| c.is_ascii_digit() || c == '-'))
            .ok_or_else(|| {
                malformed(
                    "EDGAR Atom feed",
                    format!("entry id {id:?} has no accession number"),
                )
            })?;
        let title = entry.child_text(ATOM, "title").unwrap_or_default();
        let form = entry
            .child(ATOM, "category")
            .and_then(|c| c.attr("term"))
            .map(str::to_string)
            .or_else(|| title.split(" - ").next().map(str::to_string))
            .unwrap_or_default();
        let summary = entry
            .child(ATOM, "summary")
            .map(|s| xml::strip_html(&s.text))
            .unwrap_or_default();
        page.push(Item {
            source: SourceName::Edgar,
            external_id: accession,
            title: clip(&title, 300),
            text: clip(&summary, 1_000),
            url: entry
                .child(ATOM, "link")
                .and_then(|l| l.attr("href"))
                .map(str::to_string),
            published: entry.child_text(ATOM, "updated"),
            fields: vec![("form".into(), form)],
        });
    }
    Ok(page)
}

fn parse_search(body: &[u8]) -> Result<Page, ParseError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| malformed("EDGAR search reply", e))?;
    if let Some(error) = v.get("error") {
        let message = error
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| error.to_string());
        return Err(ParseError::Service {
            service: "EDGAR full-text search",
            message: clip(&message, 300),
        });
    }
    let hits = v
        .pointer("/hits/hits")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("EDGAR search reply", "no hits.hits array"))?;
    let mut page = Page {
        total: v.pointer("/hits/total/value").and_then(Value::as_u64),
        ..Page::default()
    };
    for hit in hits {
        let id = hit.get("_id").and_then(Value::as_str).unwrap_or_default();
        let src = hit
            .get("_source")
            .ok_or_else(|| malformed("EDGAR search reply", "a hit without _source"))?;
        let s = |k: &str| src.get(k).and_then(Value::as_str).unwrap_or_default();
        let adsh = s("adsh");
        if adsh.is_empty() {
            return Err(malformed(
                "EDGAR search reply",
                format!("hit {id:?} has no adsh"),
            ));
        }
        let name = src
            .get("display_names")
            .and_then(Value::as_array)
            .and_then(|n| n.first())
            .and_then(Value::as_str)
            .unwrap_or("unknown filer");
        let form = if s("form").is_empty() {
            s("root_form")
        } else {
            s("form")
        };
        let cik = src
            .get("ciks")
            .and_then(Value::as_array)
            .and_then(|c| c.first())
            .and_then(Value::as_str)
            .map(|c| c.trim_start_matches('0').to_string());
        let file = id.split_once(':').map(|(_, f)| f);
        let url = match (cik, file) {
            (Some(cik), Some(file)) if !cik.is_empty() => Some(format!(
                "https://www.sec.gov/Archives/edgar/data/{cik}/{}/{file}",
                adsh.replace('-', "")
            )),
            _ => None,
        };
        let mut fields = vec![("form".to_string(), form.to_string())];
        if !s("period_ending").is_empty() {
            fields.push(("period_ending".into(), s("period_ending").into()));
        }
        page.push(Item {
            source: SourceName::Edgar,
            external_id: adsh.to_string(),
            title: clip(
                &format!(
                    "{form} - {} (filed {})",
                    xml::collapse_whitespace(name),
                    s("file_date")
                ),
                300,
            ),
            text: clip(
                &format!("{} {}", s("file_description"), s("file_type")),
                500,
            ),
            url,
            published: (!s("file_date").is_empty()).then(|| s("file_date").to_string()),
            fields,
        });
    }
    Ok(page)
}
