//! Every template, rendered with its defaults, is approved by all six layers with no finding;
//! opportunity parameters are clamped into their documented ranges.

use std::path::PathBuf;

use stratagem_actors::generator::{self, templates};
use stratagem_actors::market;
use stratagem_actors::validator::integration::IntegrationRules;
use stratagem_actors::validator::sandbox::compile::{Author, CompileLimits};
use stratagem_actors::validator::sandbox::runtime::{RiskLimits, SandboxLimits};
use stratagem_actors::validator::sandbox::SandboxLayer;
use stratagem_actors::validator::Validator;
use stratagem_events::Decision;
use uuid::Uuid;

fn validator() -> Validator {
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("template-cache");
    let sandbox = SandboxLayer::new(
        cache,
        CompileLimits::default(),
        SandboxLimits::default(),
        RiskLimits::default(),
    )
    .unwrap();
    let bars = market::embedded_hourly().to_vec();
    Validator {
        rules: IntegrationRules {
            require_error_handling: true,
            require_logging: true,
        },
        sandbox,
        bars: bars[bars.len() - 1000..].to_vec(),
    }
}

#[test]
fn every_template_with_defaults_is_approved_by_all_six_layers() {
    assert!(templates::TEMPLATES.len() >= 4);
    let validator = validator();
    for spec in templates::TEMPLATES {
        let generated = generator::from_template(spec, Uuid::now_v7(), &[]).unwrap();
        let report = validator
            .validate(&generated.source, Author::Template)
            .unwrap();
        assert_eq!(
            report.decision,
            Decision::Approved,
            "{}: {report:#?}\n{}",
            spec.name,
            generated.source
        );
        assert!(
            report
                .layers
                .iter()
                .all(|l| l.errors.is_empty() && l.warnings.is_empty()),
            "{}: {report:#?}",
            spec.name
        );
        assert_eq!(
            report.strategy_type.as_deref(),
            Some(generated.strategy_type.as_str())
        );
        assert!(generated.parameters.iter().all(|p| p.origin == "default"));
        // With a stated stop-loss and take-profit: the bracket is in the code, and approved.
        let given = [
            ("stop_loss".to_string(), 0.02),
            ("take_profit".to_string(), 0.06),
        ];
        let bracketed = generator::from_template(spec, Uuid::now_v7(), &given).unwrap();
        assert!(
            bracketed
                .source
                .contains("stop_loss: 0.02, take_profit: 0.06 }"),
            "{}",
            bracketed.source
        );
        assert!(
            !generated.source.contains("stop_loss"),
            "no bracket code by default"
        );
        let report = validator
            .validate(&bracketed.source, Author::Template)
            .unwrap();
        assert_eq!(
            report.decision,
            Decision::Approved,
            "{} with a bracket: {report:#?}",
            spec.name
        );
    }
}

#[test]
fn opportunity_parameters_are_used_clamped_and_rounded() {
    let spec = templates::find("momentum").unwrap();
    let given = vec![
        ("lookback".to_string(), 36.4),
        ("threshold".to_string(), 9.0),
        ("unknown".to_string(), 1.0),
    ];
    let generated = generator::from_template(spec, Uuid::now_v7(), &given).unwrap();
    let lookback = generated
        .parameters
        .iter()
        .find(|p| p.name == "lookback")
        .unwrap();
    assert_eq!(
        (lookback.value, lookback.origin),
        (36.0, "opportunity (clamped)")
    );
    let threshold = generated
        .parameters
        .iter()
        .find(|p| p.name == "threshold")
        .unwrap();
    assert_eq!(
        (threshold.value, threshold.origin),
        (0.5, "opportunity (clamped)")
    );
    assert!(
        generated
            .source
            .contains("Params { lookback: 36, threshold: 0.5 }"),
        "{}",
        generated.source
    );
    assert_eq!(
        generated.name,
        format!("momentum_{}", &generated.sha256[..8])
    );
    assert_eq!(generated.sha256, generator::sha256_hex(&generated.source));
}

#[test]
fn contradictory_parameters_are_refused() {
    let spec = templates::find("vol_target_trend").unwrap();
    let given = vec![("fast".to_string(), 60.0), ("slow".to_string(), 30.0)];
    let err = generator::from_template(spec, Uuid::now_v7(), &given).unwrap_err();
    assert!(
        err.to_string()
            .contains("fast (60) must be shorter than slow (30)"),
        "{err}"
    );
}

/// `benches/native/momentum.rs` is the momentum template rendered with its defaults (for the
/// wasm-against-native benchmark); it must stay byte-identical to what the template renders.
/// `STRATAGEM_BLESS=1` rewrites it.
#[test]
fn the_native_benchmark_copy_of_the_momentum_template_is_current() {
    let spec = templates::find("momentum").unwrap();
    let rendered =
        templates::render(spec, &templates::choose_params(spec, &[]), Uuid::nil()).unwrap();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/native/momentum.rs");
    if std::env::var_os("STRATAGEM_BLESS").is_some() {
        std::fs::write(&path, &rendered).unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        rendered,
        "run with STRATAGEM_BLESS=1 to update"
    );
}
