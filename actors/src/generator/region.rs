//! The hybrid mode's signal-logic region, enforced: a model's reply must be the body of the
//! marked block — statements only, no items, balanced delimiters — and after splicing, the
//! file's syntax tree equals the template's everywhere outside that block.
//!
//! Text pasting alone is not enough: a reply that closes `should_trade`, writes its own
//! `execute` and opens a dead `fn shadow() {` around the template's real one would parse and
//! pass the other layers. Here such a reply is refused before anything compiles it, with a
//! reason the repair prompt repeats.

use std::str::FromStr;

use syn::visit::Visit;
use syn::visit_mut::VisitMut;

use crate::validator::syntax::{line_of, too_deep};

/// The line that opens the region in every template.
pub const BEGIN_REGION: &str = "// BEGIN SIGNAL LOGIC";
/// The line that closes it.
pub const END_REGION: &str = "// END SIGNAL LOGIC";

/// Stands for the region while the template is parsed (an identifier no reply can hold: the
/// region is checked to be statements without items first, and this name is refused in it).
const PLACEHOLDER: &str = "__stratagem_signal_region__";

/// Why a region reply is refused. Each says what to do instead, for the repair prompt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegionRefusal {
    /// The template has no region (a bug in a template, never the model's fault).
    #[error("the template has no `{BEGIN_REGION}` … `{END_REGION}` region")]
    NoRegion,
    /// Nesting deeper than the validator parses.
    #[error(
        "the reply nests deeper than {} levels",
        crate::validator::syntax::MAX_NESTING
    )]
    TooDeep,
    /// Braces, brackets or parentheses do not pair up, or a string or comment is not closed.
    #[error("the reply's braces, brackets or parentheses do not balance (or a string or comment is not closed): it must be statements inside the region's block, never closing it or opening another ({0})")]
    Unbalanced(String),
    /// The text is not a sequence of statements.
    #[error("the reply does not parse as the statements of a block (line {line} of the region: {message})")]
    NotStatements {
        /// 1-based line in the region.
        line: usize,
        /// syn's message.
        message: String,
    },
    /// An item (`fn`, `impl`, `struct`, `use`, `const`, `mod`, a macro definition …).
    #[error("line {line} of the region declares an item ({kind}): the region holds statements only; helpers and fields belong to the template")]
    Item {
        /// 1-based line in the region.
        line: usize,
        /// What kind of item.
        kind: &'static str,
    },
    /// After splicing, the code outside the region is not the template's.
    #[error("after splicing, the code outside the region differs from the template")]
    Escapes,
}

/// A region reply spliced into its template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spliced {
    /// The whole file.
    pub source: String,
    /// The file's line of the region's first statement (1-based), to map findings.
    pub first_line: usize,
}

/// Splices `region` into `skeleton` and checks that it stayed in its block.
///
/// # Errors
/// [`RegionRefusal`] saying why the reply cannot be the region.
pub fn splice_checked(skeleton: &str, region: &str) -> Result<Spliced, RegionRefusal> {
    if too_deep(region).is_some() {
        return Err(RegionRefusal::TooDeep);
    }
    // Alone, the region must lex: a `}` that closes the enclosing block is unbalanced here.
    proc_macro2::TokenStream::from_str(region)
        .map_err(|e| RegionRefusal::Unbalanced(first_line(&e.to_string())))?;
    let statements =
        syn::parse::Parser::parse_str(syn::Block::parse_within, region).map_err(|e| {
            RegionRefusal::NotStatements {
                line: e.span().start().line.max(1),
                message: first_line(&e.to_string()),
            }
        })?;
    let mut items = Items::default();
    for s in &statements {
        items.visit_stmt(s);
    }
    if let Some((line, kind)) = items.first {
        return Err(RegionRefusal::Item { line, kind });
    }
    let spliced = splice_text(skeleton, region).ok_or(RegionRefusal::NoRegion)?;
    // The template with a placeholder statement where the region goes, parsed, and the
    // region's statements put in its place as syntax: what the file must be.
    let holder =
        splice_text(skeleton, &format!("{PLACEHOLDER};")).ok_or(RegionRefusal::NoRegion)?;
    let mut expected = syn::parse_file(&holder.source).map_err(|_| RegionRefusal::NoRegion)?;
    let mut put = PutRegion {
        statements: Some(statements),
    };
    put.visit_file_mut(&mut expected);
    if put.statements.is_some() {
        return Err(RegionRefusal::NoRegion);
    }
    let actual = syn::parse_file(&spliced.source).map_err(|_| RegionRefusal::Escapes)?;
    if actual != expected {
        return Err(RegionRefusal::Escapes);
    }
    Ok(spliced)
}

/// Whether `skeleton` has a region a reply can fill: both markers, and the template parses
/// with a statement in their place. Checked before a model is asked (a template without one is
/// our bug, never the model's).
pub fn has_region(skeleton: &str) -> bool {
    splice_text(skeleton, &format!("{PLACEHOLDER};"))
        .and_then(|holder| syn::parse_file(&holder.source).ok())
        .is_some_and(|mut file| {
            let mut put = PutRegion {
                statements: Some(Vec::new()),
            };
            put.visit_file_mut(&mut file);
            put.statements.is_none()
        })
}

/// Puts `region` between the markers of `skeleton`, indented like the markers (text only).
fn splice_text(skeleton: &str, region: &str) -> Option<Spliced> {
    let begin = skeleton.find(BEGIN_REGION)?;
    let end = skeleton.find(END_REGION)?;
    if end < begin {
        return None;
    }
    let line_start = skeleton[..begin].rfind('\n').map_or(0, |i| i + 1);
    let indent = &skeleton[line_start..begin];
    let body: String = region
        .lines()
        .map(|l| {
            if l.trim().is_empty() {
                "\n".to_string()
            } else {
                format!("{indent}{}\n", l.trim_end())
            }
        })
        .collect();
    let first_line = skeleton[..begin].matches('\n').count() + 2;
    Some(Spliced {
        source: format!(
            "{}{BEGIN_REGION}\n{body}{indent}{}",
            &skeleton[..begin],
            &skeleton[end..]
        ),
        first_line,
    })
}

fn first_line(text: &str) -> String {
    text.lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect()
}

/// The first item anywhere in the region (in closures and nested blocks too).
#[derive(Default)]
struct Items {
    first: Option<(usize, &'static str)>,
}

impl<'ast> Visit<'ast> for Items {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        if self.first.is_none() {
            let kind = match item {
                syn::Item::Fn(_) => "fn",
                syn::Item::Impl(_) => "impl",
                syn::Item::Struct(_) => "struct",
                syn::Item::Enum(_) => "enum",
                syn::Item::Trait(_) | syn::Item::TraitAlias(_) => "trait",
                syn::Item::Use(_) => "use",
                syn::Item::Const(_) => "const",
                syn::Item::Static(_) => "static",
                syn::Item::Mod(_) => "mod",
                syn::Item::Macro(_) => "macro definition",
                syn::Item::Type(_) => "type alias",
                syn::Item::Union(_) => "union",
                syn::Item::ExternCrate(_) | syn::Item::ForeignMod(_) => "extern",
                _ => "item",
            };
            self.first = Some((line_of(item), kind));
        }
    }

    fn visit_ident(&mut self, ident: &'ast proc_macro2::Ident) {
        if self.first.is_none() && ident == PLACEHOLDER {
            self.first = Some((ident.span().start().line, "reserved name"));
        }
    }
}

/// Replaces the placeholder statement with the region's statements.
struct PutRegion {
    statements: Option<Vec<syn::Stmt>>,
}

impl VisitMut for PutRegion {
    fn visit_block_mut(&mut self, block: &mut syn::Block) {
        let at = block.stmts.iter().position(is_placeholder);
        match (at, self.statements.take()) {
            (Some(i), Some(statements)) => {
                block.stmts.splice(i..=i, statements);
            }
            (_, taken) => {
                self.statements = taken;
                syn::visit_mut::visit_block_mut(self, block);
            }
        }
    }
}

fn is_placeholder(stmt: &syn::Stmt) -> bool {
    matches!(stmt, syn::Stmt::Expr(syn::Expr::Path(p), _) if p.path.is_ident(PLACEHOLDER))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SKELETON: &str = "pub struct S;\nimpl S {\n    fn should_trade(&mut self) -> Option<u8> {\n        let a = 1;\n        // BEGIN SIGNAL LOGIC\n        old();\n        // END SIGNAL LOGIC\n    }\n\n    fn execute(&mut self) -> u8 {\n        gate();\n        7\n    }\n}\n";

    #[test]
    fn every_template_has_a_region_and_text_without_markers_has_none() {
        assert!(has_region(SKELETON));
        assert!(!has_region("fn f() {}\n"));
        for spec in crate::generator::templates::TEMPLATES {
            let params = crate::generator::templates::choose_params(spec, &[]);
            let code =
                crate::generator::templates::render(spec, &params, uuid::Uuid::nil()).unwrap();
            assert!(has_region(&code), "{}", spec.name);
        }
    }

    #[test]
    fn splices_the_region_with_its_indent() {
        let out = splice_checked(SKELETON, "new();\n\nSome(a)\n").unwrap();
        assert!(
            out.source.contains("        // BEGIN SIGNAL LOGIC\n        new();\n\n        Some(a)\n        // END SIGNAL LOGIC\n    }\n"),
            "{}",
            out.source
        );
        assert_eq!(out.first_line, 6);
        assert_eq!(out.source.lines().nth(5), Some("        new();"));
    }

    #[test]
    fn an_escape_from_the_block_is_unbalanced() {
        let escape =
            "None\n}\n\nfn execute(&mut self) -> u8 { 99 }\n}\nimpl S {\n    fn shadow() {\n";
        assert!(matches!(
            splice_checked(SKELETON, escape),
            Err(RegionRefusal::Unbalanced(_))
        ));
        assert!(matches!(
            splice_checked(SKELETON, "if a > 0 {\n    return Some(1);\n"),
            Err(RegionRefusal::Unbalanced(_))
        ));
    }

    #[test]
    fn items_are_refused_wherever_they_are() {
        for (region, kind) in [
            ("fn helper() -> u8 { 3 }\nSome(helper())", "fn"),
            ("let f = || { struct X; 1 };\nSome(f())", "struct"),
            ("use std::fs;\nNone", "use"),
            ("const K: u8 = 4;\nSome(K)", "const"),
            ("impl S { fn shadow() {} }\nNone", "impl"),
            ("macro_rules! m { () => {} }\nNone", "macro definition"),
            ("__stratagem_signal_region__;\nNone", "reserved name"),
        ] {
            match splice_checked(SKELETON, region) {
                Err(RegionRefusal::Item { kind: k, .. }) => assert_eq!(k, kind, "{region}"),
                other => panic!("{region}: {other:?}"),
            }
        }
    }

    #[test]
    fn text_that_is_not_statements_is_refused_with_its_line() {
        match splice_checked(SKELETON, "let a = ;\nNone") {
            Err(RegionRefusal::NotStatements { line, .. }) => assert_eq!(line, 1),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_comment_trick_cannot_hide_the_end_marker() {
        // An unclosed block comment or raw string would swallow the template's tail.
        for region in ["None /*", "let s = r#\"\nNone"] {
            assert!(
                matches!(
                    splice_checked(SKELETON, region),
                    Err(RegionRefusal::Unbalanced(_))
                ),
                "{region}"
            );
        }
    }
}
