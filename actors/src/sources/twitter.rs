//! X (Twitter): API v2 recent search (`GET /2/tweets/search/recent`) with a bearer token. Ids are
//! strings; `meta.next_token` pages; an `errors` array without `data` is the API's error reply.

use serde_json::Value;

use super::{clip, json_text, malformed, Item, Page, ParseError, SourceName};

/// Default queries: trading ideas, not retweets.
pub const DEFAULT_QUERIES: [&str; 2] = [
    "(\"trading strategy\" OR backtest OR \"sharpe ratio\") lang:en -is:retweet",
    "(\"mean reversion\" OR momentum OR \"funding rate\") (crypto OR bitcoin) lang:en -is:retweet",
];

/// Parses one search reply.
///
/// # Errors
/// [`ParseError::Service`] for the API's error reply, [`ParseError::Malformed`] otherwise.
pub fn parse(body: &[u8]) -> Result<Page, ParseError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| malformed("X search reply", e))?;
    let data = v.get("data");
    if data.is_none() {
        if let Some(first) = v
            .get("errors")
            .and_then(Value::as_array)
            .and_then(|e| e.first())
        {
            let message = first
                .get("detail")
                .or_else(|| first.get("message"))
                .and_then(Value::as_str)
                .unwrap_or("an error without a message");
            return Err(ParseError::Service {
                service: "X API",
                message: clip(message, 300),
            });
        }
        if let Some(title) = v.get("title").and_then(Value::as_str) {
            let detail = v.get("detail").and_then(Value::as_str).unwrap_or("");
            return Err(ParseError::Service {
                service: "X API",
                message: clip(&format!("{title}: {detail}"), 300),
            });
        }
    }
    let meta = v
        .get("meta")
        .ok_or_else(|| malformed("X search reply", "no meta"))?;
    let mut page = Page {
        next: meta
            .get("next_token")
            .and_then(Value::as_str)
            .map(str::to_string),
        total: meta.get("result_count").and_then(Value::as_u64),
        ..Page::default()
    };
    let tweets = match data {
        None => return Ok(page),
        Some(d) => d
            .as_array()
            .ok_or_else(|| malformed("X search reply", "data is not an array"))?,
    };
    for tweet in tweets {
        let id = json_text(tweet.get("id"))
            .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()))
            .ok_or_else(|| malformed("X search reply", "a post without a numeric id"))?;
        let text = tweet
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mut fields = Vec::new();
        if let Some(author) = json_text(tweet.get("author_id")) {
            fields.push(("author_id".to_string(), author));
        }
        page.push(Item {
            source: SourceName::Twitter,
            title: clip(text, 120),
            text: clip(text, 1_000),
            url: Some(format!("https://x.com/i/web/status/{id}")),
            published: tweet
                .get("created_at")
                .and_then(Value::as_str)
                .map(str::to_string),
            external_id: id,
            fields,
        });
    }
    Ok(page)
}
