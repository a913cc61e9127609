//! Layer 3: the SDK's conventions. Errors: no SDK import, no `pub struct …Strategy`, no
//! `impl Strategy for` it with `should_trade` and `execute`. Warnings: hard-coded numbers in
//! trading logic (they belong in the parameters: a `const`, a `Default` impl or `new`); logic
//! that reads the bar's timestamp or a clock (a decision that depends on the date cannot be
//! tested by replaying the past: a trigger after the last bar never fires in the sandbox).

use std::time::Instant;

use syn::visit::Visit;

use super::syntax::line_of;
use super::{Finding, Layer, LayerReport};

/// Entries of a literal array, or characters of a literal string, from which a constant table
/// is reported: data of that size belongs in the bars, and a table written into the code can
/// hold the future (a look-ahead: 5,000 up/down flags backtest at a Sharpe of 36).
pub const MAX_CONSTANT_TABLE: usize = 64;

/// Numbers that are not parameters: identities, halves, small counts.
pub const TRIVIAL_NUMBERS: &[f64] = &[0.0, 0.5, 1.0, 2.0, 100.0];

/// The strategy type the file declares: the `pub struct` named `…Strategy` that implements
/// `Strategy`, if there is exactly such a one.
pub fn strategy_type(file: &syn::File) -> Option<String> {
    let implemented: Vec<String> = file
        .items
        .iter()
        .filter_map(|item| match item {
            syn::Item::Impl(i) if trait_name(i).as_deref() == Some("Strategy") => {
                type_name(&i.self_ty)
            }
            _ => None,
        })
        .collect();
    file.items.iter().find_map(|item| match item {
        syn::Item::Struct(s)
            if matches!(s.vis, syn::Visibility::Public(_))
                && s.ident.to_string().ends_with("Strategy")
                && implemented.contains(&s.ident.to_string()) =>
        {
            Some(s.ident.to_string())
        }
        _ => None,
    })
}

fn trait_name(i: &syn::ItemImpl) -> Option<String> {
    i.trait_
        .as_ref()
        .and_then(|(_, path, _)| path.segments.last())
        .map(|s| s.ident.to_string())
}

fn type_name(ty: &syn::Type) -> Option<String> {
    match ty {
        syn::Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    }
}

/// Runs layer 3.
pub fn check(file: &syn::File) -> LayerReport {
    let started = Instant::now();
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let sdk_import = file.items.iter().any(|item| matches!(item, syn::Item::Use(u) if matches!(&u.tree, syn::UseTree::Path(p) if p.ident == "stratagem_sdk")));
    if !sdk_import {
        errors.push(Finding::at(
            1,
            "conventions.sdk_import",
            "no `use stratagem_sdk::…` import",
        ));
    }
    let structs: Vec<&syn::ItemStruct> = file
        .items
        .iter()
        .filter_map(|i| match i {
            syn::Item::Struct(s) if s.ident.to_string().ends_with("Strategy") => Some(s),
            _ => None,
        })
        .collect();
    match structs.first() {
        None => errors.push(Finding::at(
            1,
            "conventions.strategy_struct",
            "no struct named `…Strategy`",
        )),
        Some(s) if !matches!(s.vis, syn::Visibility::Public(_)) => errors.push(Finding::at(
            line_of(&s.ident),
            "conventions.strategy_struct",
            format!("`{}` must be `pub`", s.ident),
        )),
        Some(_) => {}
    }
    let impls: Vec<&syn::ItemImpl> = file
        .items
        .iter()
        .filter_map(|i| match i {
            syn::Item::Impl(i) if trait_name(i).as_deref() == Some("Strategy") => Some(i),
            _ => None,
        })
        .collect();
    match impls.first() {
        None => errors.push(Finding::at(
            1,
            "conventions.trait_impl",
            "no `impl Strategy for …Strategy`",
        )),
        Some(imp) => {
            let methods: Vec<String> = imp
                .items
                .iter()
                .filter_map(|m| match m {
                    syn::ImplItem::Fn(f) => Some(f.sig.ident.to_string()),
                    _ => None,
                })
                .collect();
            for required in ["should_trade", "execute"] {
                if !methods.iter().any(|m| m == required) {
                    errors.push(Finding::at(
                        line_of(&imp.impl_token),
                        "conventions.missing_method",
                        format!("`impl Strategy` has no `{required}`"),
                    ));
                }
            }
            let target = type_name(&imp.self_ty).unwrap_or_default();
            if !structs.iter().any(|s| s.ident == target) {
                errors.push(Finding::at(
                    line_of(&imp.impl_token),
                    "conventions.trait_impl",
                    format!(
                        "`Strategy` is implemented for `{target}`, not for a `…Strategy` struct"
                    ),
                ));
            }
        }
    }
    let mut numbers = MagicNumbers { found: Vec::new() };
    numbers.visit_file(file);
    for (line, text) in numbers.found {
        warnings.push(Finding::at(
            line,
            "conventions.magic_number",
            format!("hard-coded number {text} in trading logic: make it a parameter"),
        ));
    }
    let mut tables = Tables { found: Vec::new() };
    visit_outside_tests(&mut tables, &file.items);
    for (line, what) in tables.found {
        warnings.push(Finding::at(
            line,
            "conventions.constant_table",
            format!("{what} in the code: a table of data written into a strategy can hold the future (look-ahead); strategies learn from the bars they are given"),
        ));
    }
    let mut time = TimeReads { found: Vec::new() };
    visit_outside_tests(&mut time, &file.items);
    for (line, what) in time.found {
        warnings.push(Finding::at(
            line,
            "conventions.time_dependent",
            format!("{what}: decisions that depend on the date or time cannot be tested by replaying past bars (a trigger after the last bar never fires); manual review"),
        ));
    }
    LayerReport {
        layer: Layer::Conventions,
        errors,
        warnings,
        duration: started.elapsed(),
    }
    .normalise()
}

/// Numeric literals in function bodies, except in `const`/`static` items, `Default` impls and
/// `new`/`default` constructors (where parameters get their values).
struct MagicNumbers {
    found: Vec<(usize, String)>,
}

impl<'ast> Visit<'ast> for MagicNumbers {
    fn visit_item_const(&mut self, _: &'ast syn::ItemConst) {}
    fn visit_item_static(&mut self, _: &'ast syn::ItemStatic) {}
    fn visit_impl_item_const(&mut self, _: &'ast syn::ImplItemConst) {}

    fn visit_item_impl(&mut self, node: &'ast syn::ItemImpl) {
        if trait_name(node).as_deref() != Some("Default") {
            syn::visit::visit_item_impl(self, node);
        }
    }

    fn visit_impl_item_fn(&mut self, node: &'ast syn::ImplItemFn) {
        if node.sig.ident != "new" && node.sig.ident != "default" {
            syn::visit::visit_impl_item_fn(self, node);
        }
    }

    fn visit_expr_index(&mut self, node: &'ast syn::ExprIndex) {
        // `v[3]` is a position, not a parameter.
        self.visit_expr(&node.expr);
    }

    fn visit_lit(&mut self, lit: &'ast syn::Lit) {
        let value = match lit {
            syn::Lit::Int(i) => i.base10_parse::<f64>().ok(),
            syn::Lit::Float(f) => f.base10_parse::<f64>().ok(),
            _ => None,
        };
        if let Some(v) = value {
            if !TRIVIAL_NUMBERS.iter().any(|t| (t - v).abs() < f64::EPSILON) {
                self.found.push((line_of(lit), lit_text(lit)));
            }
        }
    }
}

/// Literal arrays of more than [`MAX_CONSTANT_TABLE`] literal entries, and literal strings or
/// byte strings longer than that many times eight characters, anywhere but in tests.
struct Tables {
    found: Vec<(usize, String)>,
}

fn literal_entries(e: &syn::Expr) -> usize {
    match e {
        syn::Expr::Lit(_) => 1,
        syn::Expr::Unary(u) => literal_entries(&u.expr),
        syn::Expr::Array(a) => a.elems.iter().map(literal_entries).sum(),
        syn::Expr::Tuple(t) => t.elems.iter().map(literal_entries).sum(),
        syn::Expr::Paren(p) => literal_entries(&p.expr),
        _ => 0,
    }
}

impl<'ast> Visit<'ast> for Tables {
    fn visit_expr_array(&mut self, node: &'ast syn::ExprArray) {
        let entries = literal_entries(&syn::Expr::Array(node.clone()));
        if entries > MAX_CONSTANT_TABLE {
            self.found.push((
                line_of(node),
                format!("a constant table of {entries} literal entries"),
            ));
            return;
        }
        syn::visit::visit_expr_array(self, node);
    }

    fn visit_lit(&mut self, lit: &'ast syn::Lit) {
        let chars = match lit {
            syn::Lit::Str(s) => s.value().chars().count(),
            syn::Lit::ByteStr(b) => b.value().len(),
            _ => 0,
        };
        if chars > MAX_CONSTANT_TABLE * 8 {
            self.found.push((
                line_of(lit),
                format!("a literal string of {chars} characters"),
            ));
        }
    }
}

/// Reads of `.timestamp` (a field access or a destructured field) and of a clock
/// (`SystemTime`, `Instant`, `UNIX_EPOCH`) outside tests. Logging macros' arguments are not
/// parsed here, so a timestamp that is only logged is not reported.
struct TimeReads {
    found: Vec<(usize, String)>,
}

/// Visits every item but tests (`#[cfg(test)]` modules and `#[test]` functions), at any depth.
fn visit_outside_tests<'ast>(v: &mut impl Visit<'ast>, items: &'ast [syn::Item]) {
    for item in items {
        match item {
            syn::Item::Mod(m) if is_test(&m.attrs) => {}
            syn::Item::Fn(f) if is_test(&f.attrs) => {}
            syn::Item::Mod(m) => {
                if let Some((_, inner)) = &m.content {
                    visit_outside_tests(v, inner);
                }
            }
            other => v.visit_item(other),
        }
    }
}

fn is_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("test")
            || (a.path().is_ident("cfg") && a.parse_args::<syn::Ident>().is_ok_and(|i| i == "test"))
    })
}

impl<'ast> Visit<'ast> for TimeReads {
    fn visit_expr_field(&mut self, node: &'ast syn::ExprField) {
        if matches!(&node.member, syn::Member::Named(n) if n == "timestamp") {
            self.found
                .push((line_of(&node.member), "the logic reads `.timestamp`".into()));
        }
        syn::visit::visit_expr_field(self, node);
    }

    fn visit_field_pat(&mut self, node: &'ast syn::FieldPat) {
        if matches!(&node.member, syn::Member::Named(n) if n == "timestamp") {
            self.found.push((
                line_of(&node.member),
                "the logic destructures `timestamp`".into(),
            ));
        }
        syn::visit::visit_field_pat(self, node);
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        if let Some(clock) = path
            .segments
            .iter()
            .map(|s| s.ident.to_string())
            .find(|s| matches!(s.as_str(), "SystemTime" | "Instant" | "UNIX_EPOCH"))
        {
            self.found.push((
                line_of(path),
                format!("the logic reads a clock (`{clock}`)"),
            ));
        }
        syn::visit::visit_path(self, path);
    }
}

fn lit_text(lit: &syn::Lit) -> String {
    match lit {
        syn::Lit::Int(i) => i.base10_digits().to_string(),
        syn::Lit::Float(f) => f.base10_digits().to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warnings(source: &str) -> Vec<Finding> {
        check(&syn::parse_file(source).unwrap())
            .warnings
            .into_iter()
            .filter(|f| f.code == "conventions.time_dependent")
            .collect()
    }

    #[test]
    fn logic_that_reads_the_date_or_a_clock_is_reported() {
        let trigger = "struct P { epoch: i64 }\nfn f(bar: &Bar, p: &P) -> bool {\n    bar.timestamp > p.epoch\n}\n";
        assert_eq!(warnings(trigger)[0].line, Some(3));
        let destructured =
            "fn f(bar: &Bar) -> i64 {\n    let Bar { timestamp, .. } = *bar;\n    timestamp\n}\n";
        assert_eq!(warnings(destructured)[0].line, Some(2));
        let clock =
            "fn f() -> bool {\n    std::time::SystemTime::now() > std::time::UNIX_EPOCH\n}\n";
        assert_eq!(warnings(clock).len(), 1);
    }

    #[test]
    fn large_constant_tables_are_reported_and_small_ones_are_not() {
        let table = |n: usize| {
            let flags: Vec<&str> = (0..n)
                .map(|i| if i % 3 == 0 { "1" } else { "-1" })
                .collect();
            format!(
                "const FLAGS: [i8; {n}] = [{}];\nfn f() {{}}\n",
                flags.join(", ")
            )
        };
        let found = |source: &str| {
            check(&syn::parse_file(source).unwrap())
                .warnings
                .into_iter()
                .filter(|f| f.code == "conventions.constant_table")
                .collect::<Vec<_>>()
        };
        let big = found(&table(500));
        assert_eq!(big.len(), 1);
        assert!(
            big[0].message.contains("500 literal entries"),
            "{:?}",
            big[0]
        );
        assert!(found(&table(5_000))[0].message.contains("5000"));
        assert!(found(&table(32)).is_empty());
        let encoded = format!("const F: &str = \"{}\";\n", "10".repeat(400));
        assert!(found(&encoded)[0].message.contains("800 characters"));
    }

    #[test]
    fn a_logged_timestamp_and_test_code_are_not_reported() {
        let logged = "fn f(bar: &Bar) {\n    log_info!(\"bar at {}\", bar.timestamp);\n}\n#[cfg(test)]\nmod tests {\n    fn t(bar: &Bar) -> i64 { bar.timestamp }\n}\n";
        assert!(warnings(logged).is_empty());
    }
}
