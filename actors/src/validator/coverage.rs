//! Layer 5: enough substance to judge — at least [`MIN_FUNCTIONS`] functions and
//! [`MIN_LOGIC_LINES`] lines of logic inside them. Warnings only, as in the seed.

use std::collections::BTreeSet;
use std::time::Instant;

use syn::spanned::Spanned;
use syn::visit::Visit;

use super::{Finding, Layer, LayerReport};

/// Fewest functions (free functions and methods).
pub const MIN_FUNCTIONS: usize = 3;
/// Fewest lines of logic inside function bodies.
pub const MIN_LOGIC_LINES: usize = 20;

#[derive(Default)]
struct Bodies {
    functions: usize,
    lines: BTreeSet<usize>,
}

impl Bodies {
    fn body(&mut self, block: &syn::Block) {
        self.functions += 1;
        for stmt in &block.stmts {
            let span = stmt.span();
            self.lines.extend(span.start().line..=span.end().line);
        }
    }
}

impl<'ast> Visit<'ast> for Bodies {
    fn visit_item_fn(&mut self, node: &'ast syn::ItemFn) {
        self.body(&node.block);
        syn::visit::visit_item_fn(self, node);
    }

    fn visit_impl_item_fn(&mut self, node: &'ast syn::ImplItemFn) {
        self.body(&node.block);
        syn::visit::visit_impl_item_fn(self, node);
    }
}

/// Runs layer 5. `source` is needed to leave out blank, comment-only and brace-only lines.
pub fn check(source: &str, file: &syn::File) -> LayerReport {
    let started = Instant::now();
    let mut bodies = Bodies::default();
    bodies.visit_file(file);
    let text: Vec<&str> = source.lines().collect();
    let logic = bodies
        .lines
        .iter()
        .filter(|l| {
            let t = text.get(l.wrapping_sub(1)).map_or("", |t| t.trim());
            !t.is_empty() && !t.starts_with("//") && !t.chars().all(|c| "{}();,".contains(c))
        })
        .count();
    let mut warnings = Vec::new();
    if bodies.functions < MIN_FUNCTIONS {
        warnings.push(Finding::at(
            0,
            "coverage.few_functions",
            format!(
                "{} functions; at least {MIN_FUNCTIONS} expected",
                bodies.functions
            ),
        ));
    }
    if logic < MIN_LOGIC_LINES {
        warnings.push(Finding::at(
            0,
            "coverage.short",
            format!("{logic} lines of logic; at least {MIN_LOGIC_LINES} expected"),
        ));
    }
    LayerReport {
        layer: Layer::Coverage,
        errors: Vec::new(),
        warnings,
        duration: started.elapsed(),
    }
    .normalise()
}
