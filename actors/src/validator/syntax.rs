//! Layer 1: the source parses as a Rust file. A size cap comes first, so a huge file costs
//! nothing. Lists the imports, functions and types for the report and later layers.

use std::time::Instant;

use quote::ToTokens;
use serde::Serialize;
use syn::spanned::Spanned;

use super::{Finding, Layer, LayerReport};

/// Largest strategy source accepted, in bytes.
pub const MAX_SOURCE_BYTES: usize = 256 * 1024;
/// Most lines accepted.
pub const MAX_SOURCE_LINES: usize = 5_000;
/// Deepest nesting accepted — of `(`, `[`, `{`, and of `<` within one statement. syn and the
/// scanners recurse once per level: thousands of levels overflow the stack and kill the
/// process (a hostile model reply would crash-loop the daemon), so the depth is measured on
/// the text, without recursion, before anything parses it. Hand-written strategies stay far
/// below (a few dozen levels).
pub const MAX_NESTING: usize = 256;

/// The deepest nesting in `source` and the line where it first passes `MAX_NESTING`, if it
/// does. A flat scan: strings, characters and comments are skipped (approximately: a limit
/// this far above real code needs no exact lexer).
pub fn too_deep(source: &str) -> Option<(usize, usize)> {
    let bytes = source.as_bytes();
    let (mut depth, mut angle, mut line) = (0usize, 0usize, 1usize);
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let next = bytes.get(i + 1).copied();
        match b {
            b'\n' => line += 1,
            b'/' if next == Some(b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if next == Some(b'*') => {
                i += 2;
                while i + 1 < bytes.len() && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                    line += usize::from(bytes[i] == b'\n');
                    i += 1;
                }
                i += 2;
                continue;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    line += usize::from(bytes[i] == b'\n');
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'\'' if bytes.get(i + 2) == Some(&b'\'') => i += 2,
            b'(' | b'[' | b'{' => {
                depth += 1;
                if b == b'{' {
                    angle = 0;
                }
            }
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                if b == b'}' {
                    angle = 0;
                }
            }
            b';' => angle = 0,
            b'<' if next != Some(b'=') && next != Some(b'<') => angle += 1,
            b'>' if i > 0 && !matches!(bytes[i - 1], b'-' | b'=' | b'>') => {
                angle = angle.saturating_sub(1)
            }
            _ => {}
        }
        if depth > MAX_NESTING || angle > MAX_NESTING {
            return Some((depth.max(angle), line));
        }
        i += 1;
    }
    None
}

/// What the file declares.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Outline {
    /// `use` items, as written.
    pub imports: Vec<String>,
    /// Free functions and methods, as `name` or `Type::name`.
    pub functions: Vec<String>,
    /// Structs, enums, traits and type aliases.
    pub types: Vec<String>,
}

/// A parsed strategy.
pub struct Parsed {
    /// The syntax tree.
    pub file: syn::File,
    /// The token stream it was parsed from (layer 2 scans it too: lexed once).
    pub tokens: proc_macro2::TokenStream,
    /// Its outline.
    pub outline: Outline,
}

/// Runs layer 1.
pub fn check(source: &str) -> (LayerReport, Option<Parsed>) {
    let started = Instant::now();
    let mut errors = Vec::new();
    let report = |errors, started: Instant| {
        LayerReport {
            layer: Layer::Syntax,
            errors,
            warnings: Vec::new(),
            duration: started.elapsed(),
        }
        .normalise()
    };
    if source.len() > MAX_SOURCE_BYTES {
        errors.push(Finding::at(
            0,
            "syntax.too_large",
            format!(
                "the file is {} bytes; the limit is {MAX_SOURCE_BYTES}",
                source.len()
            ),
        ));
        return (report(errors, started), None);
    }
    let lines = source.lines().count();
    if lines > MAX_SOURCE_LINES {
        errors.push(Finding::at(
            0,
            "syntax.too_long",
            format!("the file has {lines} lines; the limit is {MAX_SOURCE_LINES}"),
        ));
        return (report(errors, started), None);
    }
    if let Some(line) = source.lines().position(|l| l.contains('\0')) {
        errors.push(Finding::at(
            line + 1,
            "syntax.nul",
            "the file contains a NUL character",
        ));
        return (report(errors, started), None);
    }
    if let Some((depth, line)) = too_deep(source) {
        errors.push(Finding::at(
            line,
            "syntax.too_deep",
            format!("nested more than {MAX_NESTING} levels deep (at least {depth}): not parsed"),
        ));
        return (report(errors, started), None);
    }
    // Lexed once, for the parser and for layer 2's token scan.
    let text = source.strip_prefix('\u{feff}').unwrap_or(source);
    let parsed = text
        .parse::<proc_macro2::TokenStream>()
        .map_err(syn::Error::from)
        .and_then(|tokens| Ok((syn::parse2::<syn::File>(tokens.clone())?, tokens)));
    match parsed {
        Ok((file, tokens)) => {
            let outline = outline(&file);
            (
                report(errors, started),
                Some(Parsed {
                    file,
                    tokens,
                    outline,
                }),
            )
        }
        Err(e) => {
            let line = e.span().start().line;
            errors.push(Finding::at(
                line,
                "syntax.parse",
                format!("does not parse as Rust: {e}"),
            ));
            (report(errors, started), None)
        }
    }
}

fn outline(file: &syn::File) -> Outline {
    let mut o = Outline::default();
    for item in &file.items {
        match item {
            syn::Item::Use(u) => o
                .imports
                .push(u.tree.to_token_stream().to_string().replace(' ', "")),
            syn::Item::Fn(f) => o.functions.push(f.sig.ident.to_string()),
            syn::Item::Struct(s) => o.types.push(s.ident.to_string()),
            syn::Item::Enum(e) => o.types.push(e.ident.to_string()),
            syn::Item::Trait(t) => o.types.push(t.ident.to_string()),
            syn::Item::Type(t) => o.types.push(t.ident.to_string()),
            syn::Item::Impl(i) => {
                let owner = i.self_ty.to_token_stream().to_string().replace(' ', "");
                for member in &i.items {
                    if let syn::ImplItem::Fn(f) = member {
                        o.functions.push(format!("{owner}::{}", f.sig.ident));
                    }
                }
            }
            _ => {}
        }
    }
    o
}

/// 1-based line of anything with a span.
pub(crate) fn line_of(node: &impl Spanned) -> usize {
    node.span().start().line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outlines_a_small_file() {
        let (report, parsed) = check(
            "use stratagem_sdk::prelude::*;\nstruct MaStrategy { n: usize }\nimpl MaStrategy { fn new() -> Self { MaStrategy { n: 3 } } }\nfn helper() {}\n",
        );
        assert!(report.passed());
        let o = parsed.unwrap().outline;
        assert_eq!(o.imports, vec!["stratagem_sdk::prelude::*"]);
        assert_eq!(o.functions, vec!["MaStrategy::new", "helper"]);
        assert_eq!(o.types, vec!["MaStrategy"]);
    }

    #[test]
    fn names_the_line_of_a_parse_error() {
        let (report, parsed) = check("fn ok() {}\n\nfn broken( {\n");
        assert!(parsed.is_none());
        assert_eq!(report.errors[0].code, "syntax.parse");
        assert_eq!(report.errors[0].line, Some(3));
    }

    #[test]
    fn refuses_oversized_input_before_parsing() {
        let (report, _) = check(&"// x\n".repeat(MAX_SOURCE_LINES + 1));
        assert_eq!(report.errors[0].code, "syntax.too_long");
        let (report, _) = check(&"x".repeat(MAX_SOURCE_BYTES + 1));
        assert_eq!(report.errors[0].code, "syntax.too_large");
    }
}

#[cfg(test)]
mod depth_tests {
    use super::*;

    #[test]
    fn nesting_is_measured_flat_and_comparisons_do_not_count() {
        let many_comparisons: String = (0..2_000)
            .map(|i| format!("let c{i} = a < b && x < {i};\n"))
            .collect();
        assert_eq!(too_deep(&many_comparisons), None);
        let in_strings = format!(
            "let s = \"{}\"; // {}\n",
            "(".repeat(5_000),
            "[".repeat(5_000)
        );
        assert_eq!(too_deep(&in_strings), None);
        let deep = format!("\n\nconst X: u8 = {}1{};", "[".repeat(400), "]".repeat(400));
        assert_eq!(too_deep(&deep), Some((MAX_NESTING + 1, 3)));
        let generics = format!("type T = {}u8{};", "Option<".repeat(300), ">".repeat(300));
        assert!(too_deep(&generics).is_some());
        let arrows = "fn f() -> Vec<u8> { let g = |x: u8| -> u8 { x }; match 1 { _ => 2 } }";
        assert_eq!(too_deep(&arrows.repeat(500)), None);
    }
}
