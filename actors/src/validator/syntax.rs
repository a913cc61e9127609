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
    match syn::parse_file(source) {
        Ok(file) => {
            let outline = outline(&file);
            (report(errors, started), Some(Parsed { file, outline }))
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
