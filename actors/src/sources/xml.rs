//! A small namespace-resolved XML tree for the feed parsers (Atom, RSS).
//!
//! Names are matched by namespace URI and local name, never by prefix: the arXiv API declared
//! its namespaces on each element before 2025 (`<arxiv:comment xmlns:arxiv="…">`) and on the
//! root since, and both must read the same. Input is decoded first (UTF-8, or ISO-8859-1 /
//! windows-1252 when the declaration says so, as EDGAR's Atom does). Depth and element count are
//! bounded, so hostile input cannot exhaust the stack or memory.

use quick_xml::events::Event as XmlEvent;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

/// The Atom namespace.
pub const ATOM: &str = "http://www.w3.org/2005/Atom";
/// Deepest nesting accepted.
pub const MAX_DEPTH: usize = 64;
/// Most elements accepted in one document.
pub const MAX_ELEMENTS: usize = 500_000;

/// One element.
#[derive(Debug, Clone, Default)]
pub struct Element {
    /// Namespace URI; empty when none.
    pub ns: String,
    /// Local name.
    pub name: String,
    /// Attributes by local name.
    pub attrs: Vec<(String, String)>,
    /// The element's own text (character data and CDATA, entities resolved).
    pub text: String,
    /// Child elements in document order.
    pub children: Vec<Element>,
}

impl Element {
    /// Whether this element is `{ns}name`.
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns == ns && self.name == name
    }

    /// The first child `{ns}name`.
    pub fn child(&self, ns: &str, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.is(ns, name))
    }

    /// Every child `{ns}name`.
    pub fn children_named<'a>(
        &'a self,
        ns: &'a str,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.is(ns, name))
    }

    /// The trimmed text of the first child `{ns}name`, when present and not empty.
    pub fn child_text(&self, ns: &str, name: &str) -> Option<String> {
        self.child(ns, name)
            .map(|c| collapse_whitespace(&c.text))
            .filter(|t| !t.is_empty())
    }

    /// An attribute by local name.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Joins runs of whitespace (line breaks of wrapped titles and abstracts) into single spaces.
pub fn collapse_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Why a document could not be read, in our own words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct XmlError(String);

impl From<String> for XmlError {
    fn from(message: String) -> XmlError {
        XmlError(message)
    }
}

impl From<&str> for XmlError {
    fn from(message: &str) -> XmlError {
        XmlError(message.to_string())
    }
}

/// Decodes a document's bytes by its XML declaration: UTF-8 (with or without BOM) by default,
/// ISO-8859-1 / windows-1252 mapped byte for byte.
///
/// # Errors
/// When the bytes are not valid in the declared encoding, or the encoding is one we do not read.
pub fn decode(bytes: &[u8]) -> Result<String, XmlError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let head = &bytes[..bytes.len().min(200)];
    let head = String::from_utf8_lossy(head).to_ascii_lowercase();
    let declared = head
        .strip_prefix("<?xml")
        .and_then(|rest| rest.split("?>").next())
        .and_then(|decl| decl.split("encoding").nth(1))
        .and_then(|rest| {
            let rest = rest.trim_start().strip_prefix('=')?.trim_start();
            let quote = rest.chars().next()?;
            rest[1..].split(quote).next().map(str::to_string)
        });
    match declared.as_deref() {
        None | Some("utf-8") | Some("utf8") | Some("us-ascii") => String::from_utf8(bytes.to_vec())
            .map_err(|e| {
                XmlError::from(format!(
                    "not valid UTF-8 at byte {}",
                    e.utf8_error().valid_up_to()
                ))
            }),
        Some("iso-8859-1") | Some("latin1") | Some("latin-1") | Some("windows-1252") => {
            Ok(bytes.iter().map(|&b| b as char).collect())
        }
        Some(other) => Err(XmlError::from(format!("unsupported encoding {other:?}"))),
    }
}

/// Parses a whole document into its root element.
///
/// # Errors
/// A message naming what is wrong: not XML, badly nested, too deep, too large, no root.
pub fn parse(bytes: &[u8]) -> Result<Element, XmlError> {
    let text = decode(bytes)?;
    let mut reader = NsReader::from_str(&text);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    loop {
        let position = reader.buffer_position();
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|e| format!("malformed XML near byte {position}: {e}"))?;
        let ns = match ns {
            ResolveResult::Bound(n) => String::from_utf8_lossy(n.0).into_owned(),
            ResolveResult::Unbound => String::new(),
            ResolveResult::Unknown(p) => {
                return Err(XmlError::from(format!(
                    "malformed XML near byte {position}: undeclared prefix {:?}",
                    String::from_utf8_lossy(&p)
                )))
            }
        };
        match event {
            XmlEvent::Start(ref start) | XmlEvent::Empty(ref start) => {
                let empty = matches!(event, XmlEvent::Empty(_));
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(XmlError::from(format!("more than {MAX_ELEMENTS} elements")));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::from(format!(
                        "elements nested deeper than {MAX_DEPTH}"
                    )));
                }
                if root.is_some() {
                    return Err(XmlError::from("content after the root element"));
                }
                let mut element = Element {
                    ns,
                    name: String::from_utf8_lossy(start.local_name().as_ref()).into_owned(),
                    ..Element::default()
                };
                for attr in start.attributes() {
                    let attr = attr.map_err(|e| format!("malformed attribute: {e}"))?;
                    let key = attr.key.local_name();
                    let key = String::from_utf8_lossy(key.as_ref()).into_owned();
                    if attr.key.as_ref().starts_with(b"xmlns") {
                        continue;
                    }
                    let value = attr
                        .unescape_value()
                        .map_err(|e| format!("malformed attribute {key:?}: {e}"))?;
                    element.attrs.push((key, value.into_owned()));
                }
                if empty {
                    close(&mut stack, &mut root, element);
                } else {
                    stack.push(element);
                }
            }
            XmlEvent::End(_) => {
                let Some(element) = stack.pop() else {
                    return Err(XmlError::from("closing tag without an opening one"));
                };
                close(&mut stack, &mut root, element);
            }
            XmlEvent::Text(t) => {
                let t = t.decode().map_err(|e| format!("bad text: {e}"))?;
                push_text(&mut stack, &t)?;
            }
            XmlEvent::CData(t) => {
                let t = t.decode().map_err(|e| format!("bad CDATA: {e}"))?;
                push_text(&mut stack, &t)?;
            }
            XmlEvent::GeneralRef(r) => {
                let name = r.decode().map_err(|e| format!("bad entity: {e}"))?;
                let resolved = resolve_entity(&name)
                    .ok_or_else(|| format!("unknown entity &{name}; near byte {position}"))?;
                push_text(&mut stack, &resolved)?;
            }
            XmlEvent::Eof => break,
            XmlEvent::Comment(_) | XmlEvent::Decl(_) | XmlEvent::PI(_) | XmlEvent::DocType(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::from(format!(
            "document ends inside <{}>",
            stack.last().map(|e| e.name.as_str()).unwrap_or("")
        )));
    }
    root.ok_or_else(|| XmlError::from("no root element"))
}

fn close(stack: &mut [Element], root: &mut Option<Element>, element: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None => *root = Some(element),
    }
}

fn push_text(stack: &mut [Element], text: &str) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(e) => {
            e.text.push_str(text);
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None => Err(XmlError::from("text outside the root element")),
    }
}

fn resolve_entity(name: &str) -> Option<String> {
    let named = match name {
        "lt" => "<",
        "gt" => ">",
        "amp" => "&",
        "quot" => "\"",
        "apos" => "'",
        _ => {
            let code =
                if let Some(hex) = name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
                    u32::from_str_radix(hex, 16).ok()?
                } else {
                    name.strip_prefix('#')?.parse::<u32>().ok()?
                };
            return char::from_u32(code).map(String::from);
        }
    };
    Some(named.to_string())
}

/// Strips HTML tags and decodes the common entities of HTML carried as text (EDGAR summaries,
/// GitHub release notes), then collapses whitespace.
pub fn strip_html(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    let out = out
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    collapse_whitespace(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_resolve_wherever_they_are_declared() {
        let inline = br#"<feed xmlns="http://www.w3.org/2005/Atom"><entry><a:c xmlns:a="urn:x">one</a:c><b/></entry></feed>"#;
        let root = parse(inline).unwrap();
        let entry = root.child(ATOM, "entry").unwrap();
        assert_eq!(entry.child_text("urn:x", "c").as_deref(), Some("one"));
        assert!(entry.child(ATOM, "b").is_some());
        let at_root = br#"<feed xmlns="http://www.w3.org/2005/Atom" xmlns:z="urn:x"><entry><z:c>one &amp; two&#33;</z:c></entry></feed>"#;
        let root = parse(at_root).unwrap();
        let entry = root.child(ATOM, "entry").unwrap();
        assert_eq!(
            entry.child_text("urn:x", "c").as_deref(),
            Some("one & two!")
        );
    }

    #[test]
    fn bad_documents_are_errors() {
        for bad in [
            &b"<a><b></a>"[..],
            b"<a>",
            b"",
            b"just text",
            b"<a/><b/>",
            b"<x:a/>",
            b"<a>&bogus;</a>",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let deep = "<a>".repeat(MAX_DEPTH + 1);
        assert!(parse(deep.as_bytes())
            .unwrap_err()
            .to_string()
            .contains("deeper"));
    }

    #[test]
    fn latin1_is_decoded_by_its_declaration() {
        let doc = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?><a>caf\xe9</a>";
        assert_eq!(parse(doc).unwrap().text, "caf\u{e9}");
    }
}
