//! Reddit: new posts of subreddits as a Listing (`{"kind":"Listing","data":{"children":[{"kind":
//! "t3","data":{…}}],"after":…}}`). OAuth app-only (`oauth.reddit.com`, a bearer token from the
//! client-credentials grant) when credentials are set, else the public `.json` listing; both
//! return the same Listing.

use serde_json::Value;

use super::{clip, json_text, malformed, unix_to_rfc3339, Item, Page, ParseError, SourceName};

/// Default subreddits.
pub const DEFAULT_SUBREDDITS: [&str; 2] = ["algotrading", "quant"];
const MAX_TEXT: usize = 4_000;

/// Parses a Listing of posts.
///
/// # Errors
/// [`ParseError::Service`] for Reddit's error object, [`ParseError::Malformed`] otherwise.
pub fn parse(body: &[u8]) -> Result<Page, ParseError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| malformed("Reddit listing", e))?;
    if let (Some(error), message) = (v.get("error"), v.get("message").and_then(Value::as_str)) {
        return Err(ParseError::Service {
            service: "Reddit",
            message: format!("{} {}", error, message.unwrap_or(""))
                .trim()
                .to_string(),
        });
    }
    if v.get("kind").and_then(Value::as_str) != Some("Listing") {
        return Err(malformed("Reddit listing", "not a Listing"));
    }
    let data = v
        .get("data")
        .ok_or_else(|| malformed("Reddit listing", "no data"))?;
    let children = data
        .get("children")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("Reddit listing", "no data.children array"))?;
    let mut page = Page {
        next: data
            .get("after")
            .and_then(Value::as_str)
            .map(str::to_string),
        ..Page::default()
    };
    for child in children {
        if child.get("kind").and_then(Value::as_str) != Some("t3") {
            continue;
        }
        let post = child
            .get("data")
            .ok_or_else(|| malformed("Reddit listing", "a child without data"))?;
        let text_of = |k: &str| post.get(k).and_then(Value::as_str).unwrap_or_default();
        let Some(name) = json_text(post.get("name")).filter(|n| !n.is_empty()) else {
            return Err(malformed("Reddit listing", "a post without a name"));
        };
        let title = clip(text_of("title"), 300);
        if title.is_empty() {
            return Err(malformed(
                "Reddit listing",
                format!("post {name} has no title"),
            ));
        }
        let mut fields = Vec::new();
        for key in ["subreddit", "author", "link_flair_text", "domain"] {
            if let Some(v) = post
                .get(key)
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
            {
                fields.push((key.to_string(), v.to_string()));
            }
        }
        for key in ["score", "num_comments", "upvote_ratio"] {
            if let Some(v) = post.get(key).filter(|v| v.is_number()) {
                fields.push((key.to_string(), v.to_string()));
            }
        }
        let permalink = text_of("permalink");
        page.push(Item {
            source: SourceName::Reddit,
            external_id: name,
            title,
            text: clip(text_of("selftext"), MAX_TEXT),
            url: (!permalink.is_empty()).then(|| format!("https://www.reddit.com{permalink}")),
            published: post
                .get("created_utc")
                .and_then(Value::as_f64)
                .and_then(unix_to_rfc3339),
            fields,
        });
    }
    Ok(page)
}
