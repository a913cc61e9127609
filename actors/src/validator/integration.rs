//! Layer 4: the strategy is wired into the SDK's safety rails — the `GoalValidator` confidence
//! gate, `RiskController` sizing, error handling (`?` or `Err`), logging (`log_*!`). Missing
//! rails are warnings, or errors when `VALIDATOR_REQUIRE_ERROR_HANDLING` /
//! `VALIDATOR_REQUIRE_LOGGING` are set (see [`IntegrationRules`]).

use std::time::Instant;

use syn::visit::Visit;

use super::{Finding, Layer, LayerReport};

/// Which missing rails are errors rather than warnings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IntegrationRules {
    /// Missing error handling is an error.
    pub require_error_handling: bool,
    /// Missing logging is an error.
    pub require_logging: bool,
}

#[derive(Default)]
struct Uses {
    gate: bool,
    sizing: bool,
    error_handling: bool,
    logging: bool,
}

impl<'ast> Visit<'ast> for Uses {
    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        let pair = |a: &str, b: &str| segments.windows(2).any(|w| w[0] == a && w[1] == b);
        self.gate |= pair("GoalValidator", "gate");
        self.sizing |= pair("RiskController", "size");
        self.error_handling |= segments.last().is_some_and(|s| s == "Err");
        syn::visit::visit_path(self, path);
    }

    fn visit_expr_try(&mut self, node: &'ast syn::ExprTry) {
        self.error_handling = true;
        syn::visit::visit_expr_try(self, node);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        if let Some(last) = mac.path.segments.last() {
            self.logging |= matches!(
                last.ident.to_string().as_str(),
                "log_info" | "log_warn" | "log_debug"
            );
        }
        syn::visit::visit_macro(self, mac);
    }
}

/// Runs layer 4.
pub fn check(file: &syn::File, rules: IntegrationRules) -> LayerReport {
    let started = Instant::now();
    let mut uses = Uses::default();
    uses.visit_file(file);
    // Each rail: (present, required, code, message). A missing rail is an error when required.
    let rails = [
        (
            uses.gate,
            false,
            "integration.no_gate",
            "no `GoalValidator::gate` confidence gate",
        ),
        (
            uses.sizing,
            false,
            "integration.no_sizing",
            "no `RiskController::size` position sizing",
        ),
        (
            uses.error_handling,
            rules.require_error_handling,
            "integration.no_error_handling",
            "no error handling (`?` or `Err`)",
        ),
        (
            uses.logging,
            rules.require_logging,
            "integration.no_logging",
            "no logging (`log_info!`, `log_warn!` or `log_debug!`)",
        ),
    ];
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    for (present, required, code, message) in rails {
        if !present {
            let finding = Finding::at(0, code, message);
            if required {
                errors.push(finding)
            } else {
                warnings.push(finding)
            }
        }
    }
    LayerReport {
        layer: Layer::Integration,
        errors,
        warnings,
        duration: started.elapsed(),
    }
    .normalise()
}
