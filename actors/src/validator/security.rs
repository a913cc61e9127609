//! Layer 2: nothing in the source that could reach outside the sandbox, weaken the compiler's
//! checks, read files at compile time, or leak a secret.
//!
//! Two passes, because either alone can be fooled:
//! - the **syntax tree** (syn) gives precise findings for items, attributes, paths and macro
//!   calls it understands;
//! - the **raw token stream** sees inside macro bodies (opaque to syn), renamed imports
//!   (`use core::include_str as x;`) and raw identifiers (`r#include_str!`). Any forbidden
//!   identifier anywhere is enough to reject.
//!
//! Everything here is a rejection (error); the layer has no warnings.

use std::time::Instant;

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};
use syn::visit::Visit;

use super::syntax::line_of;
use super::{secrets, Finding, Layer, LayerReport};

/// Roots of the standard library.
const STD_ROOTS: &[&str] = &["std", "core", "alloc"];

/// Standard-library modules a strategy may not name: processes, files, network, environment,
/// threads, OS and architecture specifics, raw I/O, FFI, raw allocation, intrinsics.
pub const FORBIDDEN_MODULES: &[&str] = &[
    "process",
    "fs",
    "net",
    "env",
    "thread",
    "os",
    "arch",
    "io",
    "ffi",
    "alloc",
    "intrinsics",
];

/// Macros that read files or the environment at compile time, inject assembly, or define
/// macros (whose bodies would hide code from this scan). Named anywhere, they reject.
pub const FORBIDDEN_MACROS: &[&str] = &[
    "include_str",
    "include_bytes",
    "option_env",
    "global_asm",
    "naked_asm",
    "llvm_asm",
    "macro_rules",
    "concat_idents",
    "trace_macros",
    "log_syntax",
];

/// Forbidden macros whose names are also ordinary words: rejected when invoked (`name!`), named
/// through a path (`core::include`), or imported.
pub const FORBIDDEN_MACROS_AMBIGUOUS: &[&str] = &["include", "env", "asm"];

/// Attributes that change linking or symbol export, point module loading at files, switch lints
/// off, or wrap other attributes.
pub const FORBIDDEN_ATTRIBUTES: &[&str] = &[
    "link",
    "link_name",
    "link_section",
    "link_ordinal",
    "linkage",
    "no_mangle",
    "export_name",
    "used",
    "path",
    "cfg_attr",
    "allow",
    "warn",
    "deny",
    "forbid",
    "expect",
    "unsafe",
    "naked",
    "target_feature",
    "instruction_set",
    "global_allocator",
    "panic_handler",
    "no_builtins",
    "macro_export",
    "proc_macro",
    "proc_macro_derive",
    "proc_macro_attribute",
    "register_tool",
];

/// Runs layer 2 over the source and its syntax tree.
pub fn check(source: &str, file: &syn::File) -> LayerReport {
    let started = Instant::now();
    let mut errors = Vec::new();
    let mut ast = AstScan {
        errors: &mut errors,
    };
    ast.visit_file(file);
    match source.parse::<TokenStream>() {
        Ok(tokens) => TokenScan {
            errors: &mut errors,
        }
        .scan(tokens, UseContext::None),
        Err(e) => errors.push(Finding::at(
            e.span().start().line,
            "security.tokens",
            "the token stream does not lex",
        )),
    }
    LayerReport {
        layer: Layer::Security,
        errors,
        warnings: Vec::new(),
        duration: started.elapsed(),
    }
    .normalise()
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
            // Not Rust: the token scan alone still names what it can.
            let started = Instant::now();
            let mut errors = vec![Finding::at(
                0,
                "security.unparsed",
                "the file does not parse as Rust (see layer 1)",
            )];
            if let Ok(tokens) = source.parse::<TokenStream>() {
                TokenScan {
                    errors: &mut errors,
                }
                .scan(tokens, UseContext::None);
            }
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
        _ => format!("`{name}!` is not allowed in a strategy"),
    }
}

struct AstScan<'a> {
    errors: &'a mut Vec<Finding>,
}

impl AstScan<'_> {
    fn push(&mut self, line: usize, code: &'static str, message: impl Into<String>) {
        self.errors.push(Finding::at(line, code, message));
    }

    fn check_path_segments(&mut self, line: usize, segments: &[String]) {
        if let [root, module, ..] = segments {
            if STD_ROOTS.contains(&root.as_str()) && FORBIDDEN_MODULES.contains(&module.as_str()) {
                self.push(
                    line,
                    "security.module",
                    format!("`{root}::{module}` is outside what a strategy may use"),
                );
            }
        }
        if let Some(last) = segments.last() {
            if segments.len() > 1
                && (FORBIDDEN_MACROS.contains(&last.as_str())
                    || FORBIDDEN_MACROS_AMBIGUOUS.contains(&last.as_str()))
            {
                self.push(line, "security.macro", forbidden_macro_message(last));
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
        if let Some(name) = node.path().segments.first().map(|s| s.ident.to_string()) {
            if FORBIDDEN_ATTRIBUTES.contains(&name.as_str()) {
                self.push(
                    line,
                    "security.attribute",
                    format!("attribute `#[{name}]` is not allowed in a strategy"),
                );
            }
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
            if FORBIDDEN_MACROS.contains(&name) || FORBIDDEN_MACROS_AMBIGUOUS.contains(&name) {
                self.push(
                    line_of(&node.path),
                    "security.macro",
                    forbidden_macro_message(name),
                );
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
            if root_is_std && segments.last().is_some_and(|l| l == "*") {
                self.push(
                    line,
                    "security.glob_std",
                    "glob import from the standard library hides what is used",
                );
            }
            if root_is_std && segments.len() == 1 && rename.is_some() {
                self.push(
                    line,
                    "security.rename_std",
                    "renaming a standard-library root hides what is used",
                );
            }
            if segments.iter().any(|s| {
                FORBIDDEN_MACROS.contains(&s.as_str())
                    || FORBIDDEN_MACROS_AMBIGUOUS.contains(&s.as_str())
            }) {
                let name = segments
                    .iter()
                    .find(|s| {
                        FORBIDDEN_MACROS.contains(&s.as_str())
                            || FORBIDDEN_MACROS_AMBIGUOUS.contains(&s.as_str())
                    })
                    .cloned()
                    .unwrap_or_default();
                self.push(line, "security.macro", forbidden_macro_message(&name));
            }
            self.check_path_segments(line, &segments);
        }
        syn::visit::visit_item_use(self, node);
    }

    fn visit_lit_str(&mut self, node: &'ast syn::LitStr) {
        if let Some(kind) = secrets::find(&node.value()) {
            self.push(
                line_of(node),
                "security.secret",
                format!("hard-coded secret: {kind}"),
            );
        }
    }

    fn visit_lit_byte_str(&mut self, node: &'ast syn::LitByteStr) {
        if let Some(kind) = secrets::find(&String::from_utf8_lossy(&node.value())) {
            self.push(
                line_of(node),
                "security.secret",
                format!("hard-coded secret: {kind}"),
            );
        }
    }
}

/// `//!` comments are `#![doc = "…"]`: harmless when the value is a plain string literal.
fn is_doc_comment(attr: &syn::Attribute) -> bool {
    matches!(&attr.meta, syn::Meta::NameValue(nv) if nv.path.is_ident("doc")
        && matches!(&nv.value, syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(_), .. })))
}

/// Whether a bracket group's tokens are `doc = "literal"` and nothing else.
fn is_doc_comment_tokens(group: &proc_macro2::Group) -> bool {
    let tokens: Vec<TokenTree> = group.stream().into_iter().collect();
    matches!(tokens.as_slice(), [TokenTree::Ident(name), TokenTree::Punct(eq), TokenTree::Literal(lit)]
        if name == "doc" && eq.as_char() == '=' && matches!(syn::Lit::new(lit.clone()), syn::Lit::Str(_)))
}

/// Every path a use tree imports, with its rename if any.
fn flatten_use(
    tree: &syn::UseTree,
    prefix: &mut Vec<String>,
    out: &mut Vec<(Vec<String>, Option<String>)>,
) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(unraw(&p.ident.to_string()).to_string());
            flatten_use(&p.tree, prefix, out);
            prefix.pop();
        }
        syn::UseTree::Name(n) => {
            let mut full = prefix.clone();
            full.push(unraw(&n.ident.to_string()).to_string());
            out.push((full, None));
        }
        syn::UseTree::Rename(r) => {
            let mut full = prefix.clone();
            full.push(unraw(&r.ident.to_string()).to_string());
            out.push((full, Some(r.rename.to_string())));
        }
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

impl TokenScan<'_> {
    fn push(&mut self, line: usize, code: &'static str, message: impl Into<String>) {
        self.errors.push(Finding::at(line, code, message));
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
                            use_ctx = if ident_at(i + 1)
                                .is_some_and(|r| STD_ROOTS.contains(&r.as_str()))
                                || (path_sep_at(i + 1)
                                    && ident_at(i + 3)
                                        .is_some_and(|r| STD_ROOTS.contains(&r.as_str())))
                            {
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
                    if FORBIDDEN_MACROS.contains(&name) {
                        self.push(line, "security.macro", forbidden_macro_message(name));
                    }
                    if FORBIDDEN_MACROS_AMBIGUOUS.contains(&name) {
                        let invoked = punct_at(i + 1).map(|p| p.0) == Some('!');
                        let pathed = i >= 2
                            && punct_at(i - 1).map(|p| p.0) == Some(':')
                            && punct_at(i - 2).map(|p| p.0) == Some(':');
                        if invoked || pathed || use_ctx != UseContext::None {
                            self.push(line, "security.macro", forbidden_macro_message(name));
                        }
                    }
                    if STD_ROOTS.contains(&name) && path_sep_at(i + 1) {
                        if let Some(module) =
                            ident_at(i + 3).filter(|m| FORBIDDEN_MODULES.contains(&m.as_str()))
                        {
                            self.push(
                                line,
                                "security.module",
                                format!("`{name}::{module}` is outside what a strategy may use"),
                            );
                        }
                    }
                    if use_ctx == UseContext::Std && FORBIDDEN_MODULES.contains(&name) {
                        self.push(
                            line,
                            "security.module",
                            format!("importing `{name}` from the standard library"),
                        );
                    }
                    if use_ctx == UseContext::Std
                        && STD_ROOTS.contains(&name)
                        && ident_at(i + 1).as_deref() == Some("as")
                    {
                        self.push(
                            line,
                            "security.rename_std",
                            "renaming a standard-library root hides what is used",
                        );
                    }
                }
                TokenTree::Punct(p) => {
                    match p.as_char() {
                        ';' if inherited == UseContext::None => use_ctx = UseContext::None,
                        '*' if use_ctx == UseContext::Std => self.push(
                            line,
                            "security.glob_std",
                            "glob import from the standard library hides what is used",
                        ),
                        '#' => {
                            if punct_at(i + 1).map(|p| p.0) == Some('!') {
                                let doc = matches!(tokens.get(i + 2), Some(TokenTree::Group(g)) if is_doc_comment_tokens(g));
                                if !doc {
                                    self.push(
                                        line,
                                        "security.inner_attribute",
                                        "inner attributes (`#![…]`) are not allowed in a strategy",
                                    );
                                }
                            } else if let Some(TokenTree::Group(g)) = tokens.get(i + 1) {
                                if g.delimiter() == Delimiter::Bracket {
                                    if let Some(TokenTree::Ident(first)) =
                                        g.stream().into_iter().next()
                                    {
                                        let first = first.to_string();
                                        if FORBIDDEN_ATTRIBUTES.contains(&unraw(&first)) {
                                            self.push(line, "security.attribute", format!("attribute `#[{}]` is not allowed in a strategy", unraw(&first)));
                                        }
                                    }
                                }
                            }
                        }
                        _ => {}
                    }
                }
                TokenTree::Group(g) => self.scan(g.stream(), use_ctx),
                TokenTree::Literal(lit) => {
                    let text = match syn::Lit::new(lit.clone()) {
                        syn::Lit::Str(s) => Some(s.value()),
                        syn::Lit::ByteStr(b) => {
                            Some(String::from_utf8_lossy(&b.value()).into_owned())
                        }
                        _ => None,
                    };
                    if let Some(kind) = text.as_deref().and_then(secrets::find) {
                        self.push(
                            line,
                            "security.secret",
                            format!("hard-coded secret: {kind}"),
                        );
                    }
                }
            }
        }
    }
}
