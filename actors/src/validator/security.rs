//! Layer 2: nothing in the source that could reach outside the sandbox, weaken the compiler's
//! checks, read files at compile time, or leak a secret.
//!
//! **Allowlists, not denylists.** A strategy may use only the attributes in
//! [`ALLOWED_ATTRIBUTES`] (lint levels only for the lints in [`ALLOWED_LINTS`], `cfg` only as
//! `cfg(test)`), call only the macros in [`ALLOWED_MACROS`], and name only the standard-library
//! modules in [`ALLOWED_STD_MODULES`]. Anything else is a finding, whatever it is called, so a
//! construct rustc adds tomorrow is refused until someone allows it. A `use` is judged by the
//! full path it names (`use std::{self as s}` names `std` itself, and renaming or importing a
//! standard-library root is refused), so no alias, `pub use` or glob import can bring a path in
//! under another name.
//!
//! Two passes, because either alone can be fooled:
//! - the **syntax tree** (syn) gives precise findings for items, attributes, paths and macro
//!   calls; the arguments of allowed macros are parsed and visited as expressions too;
//! - the **raw token stream** sees inside any macro body (also one syn cannot parse), raw
//!   identifiers (`r#include_str!`), and literals the tree does not assemble (`concat!` pieces,
//!   byte arrays).
//!
//! Secrets: the known formats are looked for in the whole text (comments included), and the
//! entropy rule only next to a secret-like name ([`secrets`]).
//!
//! Nothing here recurses without a bound: layer 1 refuses nesting deeper than
//! [`super::syntax::MAX_NESTING`] before anything parses, and [`scan_source`] does the same.
//!
//! Everything here is a rejection (error); the layer has no warnings.

use std::time::Instant;

use proc_macro2::{Delimiter, Group, Spacing, TokenStream, TokenTree};
use syn::visit::Visit;

use super::syntax::line_of;
use super::{secrets, Finding, Layer, LayerReport};

/// Roots of the standard library.
const STD_ROOTS: &[&str] = &["std", "core", "alloc"];

/// Standard-library modules a strategy may name (`std::collections::VecDeque`,
/// `core::f64::consts::PI`). Files, processes, network, environment, threads, OS and architecture
/// specifics, I/O, FFI, raw pointers and allocation, panic hooks and intrinsics are not among
/// them.
pub const ALLOWED_STD_MODULES: &[&str] = &[
    "collections",
    "cmp",
    "f32",
    "f64",
    "i8",
    "i16",
    "i32",
    "i64",
    "i128",
    "isize",
    "u8",
    "u16",
    "u32",
    "u64",
    "u128",
    "usize",
    "iter",
    "num",
    "ops",
    "option",
    "result",
    "fmt",
    "mem",
    "string",
    "vec",
    "boxed",
    "convert",
    "default",
    "clone",
    "marker",
    "hash",
    "borrow",
    "slice",
    "str",
    "char",
    "array",
    "cell",
    "rc",
    "ascii",
    "any",
    "hint",
    "time",
];

/// Macros a strategy may call: formatting, assertions, collections and the SDK's logging.
pub const ALLOWED_MACROS: &[&str] = &[
    "format",
    "format_args",
    "vec",
    "assert",
    "assert_eq",
    "assert_ne",
    "debug_assert",
    "debug_assert_eq",
    "debug_assert_ne",
    "panic",
    "unreachable",
    "unimplemented",
    "todo",
    "write",
    "writeln",
    "matches",
    "stringify",
    "concat",
    "line",
    "column",
    "log_info",
    "log_warn",
    "log_debug",
];

/// Attributes a strategy may use.
pub const ALLOWED_ATTRIBUTES: &[&str] = &[
    "derive",
    "doc",
    "inline",
    "must_use",
    "allow",
    "warn",
    "cfg",
    "test",
    "cold",
    "track_caller",
    "non_exhaustive",
];

/// Lints `allow`/`warn` may name (and any `clippy::` lint). Weakening `unsafe_code` or
/// `long_running_const_eval` is not among them.
pub const ALLOWED_LINTS: &[&str] = &[
    "dead_code",
    "unused",
    "non_snake_case",
    "non_camel_case_types",
    "non_upper_case_globals",
    "unreachable_code",
    "unreachable_patterns",
    "missing_docs",
    "deprecated",
    "clippy",
];

/// Standard macros that read files or the environment at compile time, inject assembly or hide
/// code: named, they are reported as a macro rather than a module.
const DANGEROUS_MACROS: &[&str] = &[
    "include_str",
    "include_bytes",
    "include",
    "env",
    "option_env",
    "asm",
    "global_asm",
    "naked_asm",
    "llvm_asm",
    "macro_rules",
    "concat_idents",
    "trace_macros",
    "log_syntax",
    "module_path",
    "file",
    "compile_error",
];

/// Keywords that can stand before a `!` that negates (`if !(a > b)`): not macro calls.
const KEYWORDS: &[&str] = &[
    "if", "while", "return", "match", "in", "break", "else", "as", "mut", "let", "loop", "for",
    "move", "yield", "await", "box", "ref", "where", "unsafe", "const", "static",
];

/// Runs layer 2 over the source and its syntax tree.
pub fn check(source: &str, file: &syn::File) -> LayerReport {
    let text = source.strip_prefix('\u{feff}').unwrap_or(source);
    match text.parse::<TokenStream>() {
        Ok(tokens) => check_parsed(source, file, tokens),
        Err(e) => LayerReport {
            layer: Layer::Security,
            errors: vec![Finding::at(
                e.span().start().line,
                "security.tokens",
                "the token stream does not lex",
            )],
            warnings: Vec::new(),
            duration: std::time::Duration::ZERO,
        },
    }
}

/// Layer 2 over the source, its syntax tree and the tokens it was parsed from (layer 1 lexed
/// them: [`super::syntax::Parsed::tokens`]).
pub fn check_parsed(source: &str, file: &syn::File, tokens: TokenStream) -> LayerReport {
    let started = Instant::now();
    let mut errors = Vec::new();
    let mut ast = AstScan {
        errors: &mut errors,
    };
    ast.visit_file(file);
    scan_text(source, &mut errors);
    TokenScan {
        errors: &mut errors,
    }
    .scan(tokens, UseContext::None);
    LayerReport {
        layer: Layer::Security,
        errors,
        warnings: Vec::new(),
        duration: started.elapsed(),
    }
    .normalise()
}

/// The whole text's known-format secrets, then the token scan.
fn scan_text_and_tokens(source: &str, errors: &mut Vec<Finding>) {
    scan_text(source, errors);
    let text = source.strip_prefix('\u{feff}').unwrap_or(source);
    match text.parse::<TokenStream>() {
        Ok(tokens) => TokenScan { errors }.scan(tokens, UseContext::None),
        Err(e) => errors.push(Finding::at(
            e.span().start().line,
            "security.tokens",
            "the token stream does not lex",
        )),
    }
}

/// The whole text's known-format secrets (comments and every literal kind included).
fn scan_text(source: &str, errors: &mut Vec<Finding>) {
    // Most files hold none: one pass over the whole text first, then the lines when needed.
    let Some(whole) = secrets::find(source) else {
        return;
    };
    let before = errors.len();
    for (n, line) in source.lines().enumerate() {
        if let Some(kind) = secrets::find(line) {
            errors.push(Finding::at(
                n + 1,
                "security.secret",
                format!("hard-coded secret: {kind}"),
            ));
        }
    }
    // A PEM block spans lines: no one line holds it whole.
    if errors.len() == before {
        errors.push(Finding::at(
            0,
            "security.secret",
            format!("hard-coded secret: {whole}"),
        ));
    }
}

/// Runs layer 2 on source text alone: parses it first (what `stratagem scan` does).
pub fn scan_source(source: &str) -> LayerReport {
    // Thousands of nested levels would overflow the parser's stack: refused unparsed.
    if let Some((depth, line)) = super::syntax::too_deep(source) {
        return LayerReport {
            layer: Layer::Security,
            errors: vec![Finding::at(
                line,
                "security.too_deep",
                format!(
                    "nested more than {} levels deep (at least {depth}): not scanned",
                    super::syntax::MAX_NESTING
                ),
            )],
            warnings: Vec::new(),
            duration: std::time::Duration::ZERO,
        };
    }
    match syn::parse_file(source) {
        Ok(file) => check(source, &file),
        Err(_) => {
            // Not Rust: the text and token scans alone still name what they can.
            let started = Instant::now();
            let mut errors = vec![Finding::at(
                0,
                "security.unparsed",
                "the file does not parse as Rust (see layer 1)",
            )];
            scan_text_and_tokens(source, &mut errors);
            LayerReport {
                layer: Layer::Security,
                errors,
                warnings: Vec::new(),
                duration: started.elapsed(),
            }
            .normalise()
        }
    }
}

fn unraw(name: &str) -> &str {
    name.strip_prefix("r#").unwrap_or(name)
}

fn forbidden_macro_message(name: &str) -> String {
    match name {
        "include" | "include_str" | "include_bytes" => {
            format!("`{name}!` reads a file at compile time")
        }
        "env" | "option_env" => format!("`{name}!` reads the build environment"),
        "asm" | "global_asm" | "naked_asm" | "llvm_asm" => format!("`{name}!` injects assembly"),
        "macro_rules" => {
            "`macro_rules!` defines a macro, whose body the security scan cannot see".into()
        }
        _ => format!("`{name}!` is not among the macros a strategy may call"),
    }
}

/// The finding for `root::second…` when `root` is a standard-library root and `second` is not
/// allowed; `last` when nothing follows `second` (`core::include_str`, not `std::env::var`).
fn std_path_finding(root: &str, second: &str, last: bool) -> Option<(&'static str, String)> {
    if ALLOWED_STD_MODULES.contains(&second) || (last && ALLOWED_MACROS.contains(&second)) {
        return None;
    }
    if last && DANGEROUS_MACROS.contains(&second) {
        return Some(("security.macro", forbidden_macro_message(second)));
    }
    Some((
        "security.module",
        format!("`{root}::{second}` is outside what a strategy may use"),
    ))
}

/// A lint `allow`/`warn` may name: `path` is its segments.
fn lint_allowed(path: &[String]) -> bool {
    match path {
        [one] => ALLOWED_LINTS.contains(&one.as_str()) || one.starts_with("unused_"),
        [tool, _] => tool == "clippy",
        _ => false,
    }
}

/// The finding for an attribute whose path is `path` and whose arguments are `args` (the tokens
/// inside its parentheses, when it has them).
fn attribute_finding(path: &[String], args: Option<TokenStream>) -> Option<String> {
    if path == ["rustfmt", "skip"] {
        return None;
    }
    let [name] = path else {
        return Some(format!(
            "attribute `#[{}]` is not allowed in a strategy",
            path.join("::")
        ));
    };
    let name = unraw(name);
    if !ALLOWED_ATTRIBUTES.contains(&name) {
        return Some(format!(
            "attribute `#[{name}]` is not allowed in a strategy"
        ));
    }
    match name {
        "cfg" => {
            let only_test = args.is_some_and(|a| {
                let t: Vec<TokenTree> = a.into_iter().collect();
                matches!(t.as_slice(), [TokenTree::Ident(i)] if i == "test")
            });
            (!only_test).then(|| "`#[cfg(…)]` is allowed only as `#[cfg(test)]`".into())
        }
        "allow" | "warn" => {
            let lints = args.map(lint_paths).unwrap_or_default();
            let bad = lints.iter().find(|l| !lint_allowed(l));
            match (lints.is_empty(), bad) {
                (true, _) => Some(format!("`#[{name}]` without lints")),
                (_, Some(lint)) => Some(format!(
                    "`#[{name}({})]` changes a lint a strategy may not touch",
                    lint.join("::")
                )),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The lint paths of `allow(a, b::c)`: `None` for anything else than paths and commas.
fn lint_paths(args: TokenStream) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    for tt in args {
        match tt {
            TokenTree::Ident(i) => current.push(unraw(&i.to_string()).to_string()),
            TokenTree::Punct(p) if p.as_char() == ':' => {}
            TokenTree::Punct(p) if p.as_char() == ',' => out.push(std::mem::take(&mut current)),
            // Anything else: a path that allows nothing.
            _ => current.push("?".into()),
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

struct AstScan<'a> {
    errors: &'a mut Vec<Finding>,
}

impl AstScan<'_> {
    fn push(&mut self, line: usize, code: &'static str, message: impl Into<String>) {
        self.errors.push(Finding::at(line, code, message));
    }

    fn check_path_segments(&mut self, line: usize, segments: &[String]) {
        if let [root, second, ..] = segments {
            if STD_ROOTS.contains(&root.as_str()) {
                if let Some((code, message)) = std_path_finding(root, second, segments.len() == 2) {
                    self.push(line, code, message);
                }
            }
        }
    }
}

impl<'ast> Visit<'ast> for AstScan<'_> {
    fn visit_expr_unsafe(&mut self, node: &'ast syn::ExprUnsafe) {
        self.push(
            line_of(&node.unsafe_token),
            "security.unsafe",
            "`unsafe` block",
        );
        syn::visit::visit_expr_unsafe(self, node);
    }

    fn visit_signature(&mut self, node: &'ast syn::Signature) {
        if let Some(u) = &node.unsafety {
            self.push(
                line_of(u),
                "security.unsafe",
                format!("`unsafe fn {}`", node.ident),
            );
        }
        if let Some(abi) = &node.abi {
            self.push(
                line_of(&abi.extern_token),
                "security.extern",
                format!("`extern` ABI on `fn {}`", node.ident),
            );
        }
        syn::visit::visit_signature(self, node);
    }

    fn visit_item_impl(&mut self, node: &'ast syn::ItemImpl) {
        if let Some(u) = &node.unsafety {
            self.push(line_of(u), "security.unsafe", "`unsafe impl`");
        }
        syn::visit::visit_item_impl(self, node);
    }

    fn visit_item_trait(&mut self, node: &'ast syn::ItemTrait) {
        if let Some(u) = &node.unsafety {
            self.push(
                line_of(u),
                "security.unsafe",
                format!("`unsafe trait {}`", node.ident),
            );
        }
        syn::visit::visit_item_trait(self, node);
    }

    fn visit_item_foreign_mod(&mut self, node: &'ast syn::ItemForeignMod) {
        self.push(
            line_of(&node.abi.extern_token),
            "security.extern",
            "`extern` block declares foreign functions",
        );
        syn::visit::visit_item_foreign_mod(self, node);
    }

    fn visit_item_extern_crate(&mut self, node: &'ast syn::ItemExternCrate) {
        self.push(
            line_of(&node.extern_token),
            "security.extern",
            format!("`extern crate {}`", node.ident),
        );
        syn::visit::visit_item_extern_crate(self, node);
    }

    fn visit_item_mod(&mut self, node: &'ast syn::ItemMod) {
        if node.content.is_none() {
            self.push(
                line_of(&node.mod_token),
                "security.file_module",
                format!("`mod {};` loads another file", node.ident),
            );
        }
        syn::visit::visit_item_mod(self, node);
    }

    fn visit_item_macro(&mut self, node: &'ast syn::ItemMacro) {
        if node.ident.is_some() {
            self.push(
                line_of(&node.mac.path),
                "security.macro",
                forbidden_macro_message("macro_rules"),
            );
        }
        syn::visit::visit_item_macro(self, node);
    }

    fn visit_attribute(&mut self, node: &'ast syn::Attribute) {
        let line = line_of(&node.pound_token);
        if matches!(node.style, syn::AttrStyle::Inner(_)) && !is_doc_comment(node) {
            self.push(
                line,
                "security.inner_attribute",
                "inner attributes (`#![…]`) are not allowed in a strategy",
            );
        }
        let path: Vec<String> = node
            .path()
            .segments
            .iter()
            .map(|s| unraw(&s.ident.to_string()).to_string())
            .collect();
        let path = if node.path().leading_colon.is_some() {
            let mut p = vec![String::new()];
            p.extend(path);
            p
        } else {
            path
        };
        let args = match &node.meta {
            syn::Meta::List(list) => Some(list.tokens.clone()),
            _ => None,
        };
        if let Some(message) = attribute_finding(&path, args) {
            self.push(line, "security.attribute", message);
        }
        syn::visit::visit_attribute(self, node);
    }

    fn visit_path(&mut self, node: &'ast syn::Path) {
        let segments: Vec<String> = node
            .segments
            .iter()
            .map(|s| unraw(&s.ident.to_string()).to_string())
            .collect();
        self.check_path_segments(line_of(node), &segments);
        syn::visit::visit_path(self, node);
    }

    fn visit_macro(&mut self, node: &'ast syn::Macro) {
        if let Some(last) = node.path.segments.last() {
            let name = last.ident.to_string();
            let name = unraw(&name);
            if !ALLOWED_MACROS.contains(&name) {
                self.push(
                    line_of(&node.path),
                    "security.macro",
                    forbidden_macro_message(name),
                );
            } else {
                // The arguments of an allowed macro are expressions (or, for `vec!`, `x; n`):
                // visited as such. What does not parse is left to the token scan.
                let bracketed =
                    TokenTree::Group(Group::new(Delimiter::Bracket, node.tokens.clone()));
                if let Ok(args) = syn::parse2::<syn::Expr>(bracketed.into()) {
                    self.visit_expr(&args);
                }
            }
        }
        syn::visit::visit_macro(self, node);
    }

    fn visit_item_use(&mut self, node: &'ast syn::ItemUse) {
        let mut paths = Vec::new();
        flatten_use(&node.tree, &mut Vec::new(), &mut paths);
        let line = line_of(&node.use_token);
        for (segments, rename) in paths {
            let root_is_std = segments
                .first()
                .is_some_and(|r| STD_ROOTS.contains(&r.as_str()));
            if !root_is_std {
                continue;
            }
            if segments.last().is_some_and(|l| l == "*") {
                self.push(
                    line,
                    "security.glob_std",
                    "glob import from the standard library hides what is used",
                );
            } else if segments.len() == 1 {
                if rename.is_some() {
                    self.push(
                        line,
                        "security.rename_std",
                        "renaming a standard-library root hides what is used",
                    );
                } else {
                    self.push(
                        line,
                        "security.module",
                        "importing a standard-library root hides what is used",
                    );
                }
            }
            self.check_path_segments(line, &segments);
        }
        syn::visit::visit_item_use(self, node);
    }
}

/// `//!` comments are `#![doc = "…"]`: harmless when the value is a plain string literal.
fn is_doc_comment(attr: &syn::Attribute) -> bool {
    matches!(&attr.meta, syn::Meta::NameValue(nv) if nv.path.is_ident("doc")
        && matches!(&nv.value, syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(_), .. })))
}

/// Whether a bracket group's tokens are `doc = "literal"` and nothing else.
fn is_doc_comment_tokens(group: &Group) -> bool {
    let tokens: Vec<TokenTree> = group.stream().into_iter().collect();
    matches!(tokens.as_slice(), [TokenTree::Ident(name), TokenTree::Punct(eq), TokenTree::Literal(lit)]
        if name == "doc" && eq.as_char() == '=' && matches!(syn::Lit::new(lit.clone()), syn::Lit::Str(_)))
}

/// Every path a use tree imports, with its rename if any. `self` in a group names its prefix
/// (`use std::{self as s}` imports `std` as `s`).
fn flatten_use(
    tree: &syn::UseTree,
    prefix: &mut Vec<String>,
    out: &mut Vec<(Vec<String>, Option<String>)>,
) {
    let named = |prefix: &Vec<String>, ident: &syn::Ident| {
        let name = unraw(&ident.to_string()).to_string();
        let mut full = prefix.clone();
        if name != "self" || full.is_empty() {
            full.push(name);
        }
        full
    };
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(unraw(&p.ident.to_string()).to_string());
            flatten_use(&p.tree, prefix, out);
            prefix.pop();
        }
        syn::UseTree::Name(n) => out.push((named(prefix, &n.ident), None)),
        syn::UseTree::Rename(r) => out.push((named(prefix, &r.ident), Some(r.rename.to_string()))),
        syn::UseTree::Glob(_) => {
            let mut full = prefix.clone();
            full.push("*".into());
            out.push((full, None));
        }
        syn::UseTree::Group(g) => {
            for item in &g.items {
                flatten_use(item, prefix, out);
            }
        }
    }
}

/// Where in a `use` statement the token scan is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum UseContext {
    /// Not in a `use`.
    None,
    /// In a `use` of something else.
    Other,
    /// In a `use` whose root is `std`, `core` or `alloc`.
    Std,
}

struct TokenScan<'a> {
    errors: &'a mut Vec<Finding>,
}

/// A literal's text when it is a string of any kind (string, raw, byte, C string).
fn literal_text(lit: &proc_macro2::Literal) -> Option<String> {
    match syn::Lit::new(lit.clone()) {
        syn::Lit::Str(s) => Some(s.value()),
        syn::Lit::ByteStr(b) => Some(String::from_utf8_lossy(&b.value()).into_owned()),
        syn::Lit::CStr(c) => Some(c.value().to_string_lossy().into_owned()),
        syn::Lit::Char(c) => Some(c.value().to_string()),
        syn::Lit::Byte(b) => Some(char::from(b.value()).to_string()),
        _ => None,
    }
}

/// A byte array written out (`[0x41, 0x4B, …]` or `[b'A', b'K', …]`), decoded; `None` for
/// anything else or fewer than 16 elements.
fn byte_array(group: &Group) -> Option<Vec<u8>> {
    if group.delimiter() != Delimiter::Bracket {
        return None;
    }
    let mut bytes = Vec::new();
    for (i, tt) in group.stream().into_iter().enumerate() {
        match (i % 2, tt) {
            (0, TokenTree::Literal(lit)) => match syn::Lit::new(lit) {
                syn::Lit::Int(n) => bytes.push(n.base10_parse::<u8>().ok()?),
                syn::Lit::Byte(b) => bytes.push(b.value()),
                _ => return None,
            },
            (1, TokenTree::Punct(p)) if p.as_char() == ',' => {}
            _ => return None,
        }
    }
    (bytes.len() >= 16).then_some(bytes)
}

impl TokenScan<'_> {
    fn push(&mut self, line: usize, code: &'static str, message: impl Into<String>) {
        self.errors.push(Finding::at(line, code, message));
    }

    fn secret(&mut self, line: usize, text: &str, named: bool) {
        if let Some(kind) = secrets::find(text).or_else(|| secrets::find_generic(text, named)) {
            self.push(
                line,
                "security.secret",
                format!("hard-coded secret: {kind}"),
            );
        }
    }

    /// An attribute's bracket group: its path, then its arguments.
    fn attribute(&mut self, line: usize, group: &Group) {
        let tokens: Vec<TokenTree> = group.stream().into_iter().collect();
        let mut path = Vec::new();
        let mut i = 0;
        loop {
            match tokens.get(i) {
                Some(TokenTree::Ident(id)) => {
                    path.push(unraw(&id.to_string()).to_string());
                    i += 1;
                }
                Some(TokenTree::Punct(p)) if p.as_char() == ':' => {
                    if path.is_empty() {
                        path.push(String::new());
                    }
                    i += 1;
                }
                _ => break,
            }
        }
        let args = match tokens.get(i) {
            Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis => {
                Some(g.stream())
            }
            _ => None,
        };
        if let Some(message) = attribute_finding(&path, args) {
            self.push(line, "security.attribute", message);
        }
    }

    fn scan(&mut self, stream: TokenStream, inherited: UseContext) {
        let tokens: Vec<TokenTree> = stream.into_iter().collect();
        let mut use_ctx = inherited;
        let ident_at = |i: usize| match tokens.get(i) {
            Some(TokenTree::Ident(id)) => Some(unraw(&id.to_string()).to_string()),
            _ => None,
        };
        let punct_at = |i: usize| match tokens.get(i) {
            Some(TokenTree::Punct(p)) => Some((p.as_char(), p.spacing())),
            _ => None,
        };
        // `::` is two ':' puncts, the first joint.
        let path_sep_at = |i: usize| {
            punct_at(i) == Some((':', Spacing::Joint)) && punct_at(i + 1).map(|p| p.0) == Some(':')
        };
        // Whether this statement names a secret-like identifier before position `i`.
        let named_before = |i: usize| {
            tokens[..i]
                .iter()
                .rev()
                .take_while(|t| !matches!(t, TokenTree::Punct(p) if p.as_char() == ';'))
                .take(8)
                .any(|t| matches!(t, TokenTree::Ident(id) if secrets::secret_like_name(&id.to_string())))
        };
        for (i, tt) in tokens.iter().enumerate() {
            let line = tt.span().start().line;
            match tt {
                TokenTree::Ident(id) => {
                    let raw = id.to_string();
                    let name = unraw(&raw);
                    match name {
                        "unsafe" => self.push(line, "security.unsafe", "`unsafe`"),
                        "extern" => self.push(line, "security.extern", "`extern`"),
                        "use" => {
                            let root_at = if path_sep_at(i + 1) { i + 3 } else { i + 1 };
                            let std_root =
                                ident_at(root_at).filter(|r| STD_ROOTS.contains(&r.as_str()));
                            use_ctx = if let Some(root) = std_root {
                                if ident_at(root_at + 1).as_deref() == Some("as") {
                                    self.push(
                                        line,
                                        "security.rename_std",
                                        "renaming a standard-library root hides what is used",
                                    );
                                } else if punct_at(root_at + 1).map(|p| p.0) == Some(';') {
                                    self.push(
                                        line,
                                        "security.module",
                                        format!("importing `{root}` hides what is used"),
                                    );
                                }
                                UseContext::Std
                            } else {
                                UseContext::Other
                            }
                        }
                        "mod"
                            if ident_at(i + 1).is_some()
                                && punct_at(i + 2).map(|p| p.0) == Some(';') =>
                        {
                            self.push(
                                line,
                                "security.file_module",
                                "`mod name;` loads another file",
                            )
                        }
                        _ => {}
                    }
                    // A macro call: `name!(…)`, `name![…]`, `name!{…}`, `macro_rules! x {…}`.
                    let bang = matches!(tokens.get(i + 1), Some(TokenTree::Punct(p)) if p.as_char() == '!' && p.spacing() == Spacing::Alone);
                    let called = bang
                        && matches!(
                            tokens.get(i + 2),
                            Some(TokenTree::Group(_)) | Some(TokenTree::Ident(_))
                        );
                    if called && !ALLOWED_MACROS.contains(&name) && !KEYWORDS.contains(&name) {
                        self.push(line, "security.macro", forbidden_macro_message(name));
                    }
                    if called && name == "concat" {
                        if let Some(TokenTree::Group(g)) = tokens.get(i + 2) {
                            let joined: String = g
                                .stream()
                                .into_iter()
                                .filter_map(|t| match t {
                                    TokenTree::Literal(l) => literal_text(&l),
                                    _ => None,
                                })
                                .collect();
                            self.secret(line, &joined, named_before(i));
                        }
                    }
                    // A path from a standard-library root.
                    if STD_ROOTS.contains(&name) && path_sep_at(i + 1) {
                        match tokens.get(i + 3) {
                            Some(TokenTree::Ident(second)) => {
                                let second = unraw(&second.to_string()).to_string();
                                let last = !path_sep_at(i + 4);
                                if let Some((code, message)) = std_path_finding(name, &second, last)
                                {
                                    self.push(line, code, message);
                                }
                            }
                            Some(TokenTree::Group(g)) if use_ctx == UseContext::Std => {
                                self.use_group(name, g);
                            }
                            Some(TokenTree::Punct(p)) if p.as_char() == '*' => self.push(
                                line,
                                "security.glob_std",
                                "glob import from the standard library hides what is used",
                            ),
                            _ => {}
                        }
                    }
                }
                TokenTree::Punct(p) => match p.as_char() {
                    ';' if inherited == UseContext::None => use_ctx = UseContext::None,
                    '#' => {
                        let inner = punct_at(i + 1).map(|p| p.0) == Some('!');
                        let at = if inner { i + 2 } else { i + 1 };
                        if let Some(TokenTree::Group(g)) = tokens.get(at) {
                            if g.delimiter() == Delimiter::Bracket {
                                if inner && !is_doc_comment_tokens(g) {
                                    self.push(
                                        line,
                                        "security.inner_attribute",
                                        "inner attributes (`#![…]`) are not allowed in a strategy",
                                    );
                                }
                                self.attribute(line, g);
                            }
                        }
                    }
                    _ => {}
                },
                TokenTree::Group(g) => {
                    if let Some(bytes) = byte_array(g) {
                        self.secret(line, &String::from_utf8_lossy(&bytes), named_before(i));
                    }
                    self.scan(g.stream(), use_ctx)
                }
                TokenTree::Literal(lit) => {
                    if let Some(text) = literal_text(lit) {
                        self.secret(line, &text, named_before(i));
                    }
                }
            }
        }
    }

    /// `use std::{a, b::c, self as s}`: each item's first segment is judged.
    fn use_group(&mut self, root: &str, group: &Group) {
        let line = group.span().start().line;
        let tokens: Vec<TokenTree> = group.stream().into_iter().collect();
        for item in tokens.split(|t| matches!(t, TokenTree::Punct(p) if p.as_char() == ',')) {
            match item {
                [TokenTree::Ident(first), rest @ ..] => {
                    let first = unraw(&first.to_string()).to_string();
                    if first == "self" {
                        if matches!(rest.first(), Some(TokenTree::Ident(a)) if a == "as") {
                            self.push(
                                line,
                                "security.rename_std",
                                "renaming a standard-library root hides what is used",
                            );
                        }
                    } else if let Some((code, message)) =
                        std_path_finding(root, &first, rest.is_empty())
                    {
                        self.push(line, code, message);
                    }
                }
                [TokenTree::Punct(p), ..] if p.as_char() == '*' => self.push(
                    line,
                    "security.glob_std",
                    "glob import from the standard library hides what is used",
                ),
                _ => {}
            }
        }
    }
}
