//! Manual ideas: `stratagem submit`, and an inbox folder of files people drop ideas into.
//!
//! A `.json` idea is `{"title": …, "hypothesis": …, "url"?: …, "family"?: …, "template"?: …,
//! "parameters"?: {"lookback": 20, …}}`. A `.md` idea's first `# ` heading is the title and the
//! rest the hypothesis. An idea's id is a hash of its bytes, so the same file dropped twice (or
//! renamed) is one idea; files are left where they are.

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{clip, malformed, Item, Page, ParseError, SourceName};

/// Largest idea file read.
pub const MAX_IDEA_BYTES: usize = 256 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonIdea {
    title: String,
    hypothesis: String,
    url: Option<String>,
    family: Option<String>,
    template: Option<String>,
    #[serde(default)]
    parameters: std::collections::BTreeMap<String, f64>,
}

/// The id of an idea file's bytes.
pub fn idea_id(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("inbox:{hex}")
}

/// Parses one idea file; `name` is its file name (the extension says the format).
///
/// # Errors
/// [`ParseError::Malformed`] naming the file and what is wrong.
pub fn parse(name: &str, bytes: &[u8]) -> Result<Page, ParseError> {
    if bytes.len() > MAX_IDEA_BYTES {
        return Err(malformed(
            "idea file",
            format!("{name} is larger than {MAX_IDEA_BYTES} bytes"),
        ));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| malformed("idea file", format!("{name} is not UTF-8 text")))?;
    let mut fields = Vec::new();
    let (title, hypothesis, url) = if name.ends_with(".json") {
        let idea: JsonIdea = serde_json::from_str(text)
            .map_err(|e| malformed("idea file", format!("{name}: {e}")))?;
        for (k, v) in [("family", idea.family), ("template", idea.template)] {
            if let Some(v) = v.filter(|v| !v.trim().is_empty()) {
                fields.push((k.to_string(), v.trim().to_string()));
            }
        }
        for (k, v) in idea.parameters {
            if !v.is_finite() {
                return Err(malformed(
                    "idea file",
                    format!("{name}: parameter {k} is not a finite number"),
                ));
            }
            fields.push((format!("param:{k}"), v.to_string()));
        }
        (idea.title, idea.hypothesis, idea.url)
    } else if name.ends_with(".md") || name.ends_with(".markdown") {
        let mut title = None;
        let mut body = Vec::new();
        for line in text.lines() {
            match (title.is_none(), line.trim_start().strip_prefix("# ")) {
                (true, Some(t)) => title = Some(t.trim().to_string()),
                _ => body.push(line),
            }
        }
        let title = title
            .ok_or_else(|| malformed("idea file", format!("{name} has no '# ' title line")))?;
        let hypothesis = body.join("\n");
        let url = hypothesis
            .split_whitespace()
            .find(|w| w.starts_with("https://") || w.starts_with("http://"))
            .map(|w| w.trim_end_matches(['.', ',', ')', '>']).to_string());
        (title, hypothesis, url)
    } else {
        return Err(malformed(
            "idea file",
            format!("{name} is neither .json nor .md"),
        ));
    };
    let (title, hypothesis) = (clip(&title, 300), clip(&hypothesis, 20_000));
    if title.is_empty() || hypothesis.is_empty() {
        return Err(malformed(
            "idea file",
            format!("{name} needs a title and a hypothesis"),
        ));
    }
    let url = url.filter(|u| {
        (u.starts_with("https://") || u.starts_with("http://")) && !u.contains(char::is_whitespace)
    });
    fields.push(("file".into(), name.to_string()));
    Ok(Page {
        items: vec![Item {
            source: SourceName::Manual,
            external_id: idea_id(bytes),
            title,
            text: hypothesis,
            url,
            published: None,
            fields,
        }],
        ..Page::default()
    })
}
