//! Settings of code generation, from the seed's environment variables. A bad value is refused
//! with its key named. (The daemon's full configuration — file, environment, flags — comes with
//! issue 6 and absorbs this.)

use std::time::Duration;

use anyhow::bail;
use stratagem_actors::generator::llm::{LlmSettings, Provider, Secret};

use crate::cli::GenerationModeArg;

/// Code-generation settings.
#[derive(Debug, Clone)]
pub struct CodegenSettings {
    /// `CODEGEN_DEFAULT_MODE`; default hybrid when a model is configured, template otherwise.
    pub default_mode: GenerationModeArg,
    /// The configured model server, if any.
    pub provider: Option<Provider>,
    /// Model, temperature, token cap, retries.
    pub llm: LlmSettings,
    /// `CODEGEN_MAX_ATTEMPTS`: generations per strategy, repairs included (default 3).
    pub max_attempts: u32,
    /// `CODEGEN_DAILY_TOKEN_BUDGET`: tokens per UTC day (default 200,000).
    pub daily_token_budget: u64,
}

fn var(key: &str) -> anyhow::Result<Option<String>> {
    match crate::config::var(key) {
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => Ok(Some(v.trim().to_string())),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => bail!("{key} is not valid text"),
    }
}

fn parsed<T: std::str::FromStr>(
    key: &str,
    default: T,
    ok: impl Fn(&T) -> bool,
    what: &str,
) -> anyhow::Result<T> {
    match var(key)? {
        None => Ok(default),
        Some(v) => match v.parse::<T>() {
            Ok(x) if ok(&x) => Ok(x),
            _ => bail!("{key}={v:?} is not {what}"),
        },
    }
}

impl CodegenSettings {
    /// Reads the settings.
    pub fn from_env() -> anyhow::Result<CodegenSettings> {
        let anthropic_key = var("ANTHROPIC_API_KEY")?;
        let openai_base = var("CODEGEN_OPENAI_BASE_URL")?;
        let openai_key = var("OPENAI_API_KEY")?;
        let choice = var("CODEGEN_LLM_PROVIDER")?;
        let anthropic = || -> anyhow::Result<Provider> {
            let Some(key) = anthropic_key.clone() else {
                bail!("CODEGEN_LLM_PROVIDER=anthropic needs ANTHROPIC_API_KEY")
            };
            let base_url = var("CODEGEN_ANTHROPIC_BASE_URL")?
                .unwrap_or_else(|| "https://api.anthropic.com".into());
            Ok(Provider::Anthropic {
                base_url: check_url("CODEGEN_ANTHROPIC_BASE_URL", base_url)?,
                api_key: Secret::new(key),
            })
        };
        let openai = || -> anyhow::Result<Provider> {
            let base_url = match (openai_base.clone(), &openai_key) {
                (Some(url), _) => url,
                (None, Some(_)) => "https://api.openai.com/v1".into(),
                (None, None) => bail!(
                    "CODEGEN_LLM_PROVIDER=openai needs CODEGEN_OPENAI_BASE_URL or OPENAI_API_KEY"
                ),
            };
            Ok(Provider::OpenAiCompatible {
                base_url: check_url("CODEGEN_OPENAI_BASE_URL", base_url)?,
                api_key: openai_key.clone().map(Secret::new),
            })
        };
        let provider = match choice.as_deref() {
            Some("anthropic") => Some(anthropic()?),
            Some("openai") => Some(openai()?),
            Some(other) => bail!("CODEGEN_LLM_PROVIDER={other:?} is not anthropic or openai"),
            None if anthropic_key.is_some() => Some(anthropic()?),
            None if openai_base.is_some() || openai_key.is_some() => Some(openai()?),
            None => None,
        };
        let default_model = match provider {
            Some(Provider::OpenAiCompatible { .. }) => "gpt-4o-mini",
            _ => "claude-opus-4-6",
        };
        let defaults = LlmSettings::default();
        let llm = LlmSettings {
            model: var("CODEGEN_MODEL")?.unwrap_or_else(|| default_model.into()),
            temperature: parsed(
                "CODEGEN_CLAUDE_TEMPERATURE",
                defaults.temperature,
                |t: &f64| (0.0..=2.0).contains(t),
                "a temperature between 0 and 2",
            )?,
            max_tokens: parsed(
                "CODEGEN_CLAUDE_MAX_TOKENS",
                defaults.max_tokens,
                |t: &u32| (1..=200_000).contains(t),
                "a token count between 1 and 200000",
            )?,
            initial_backoff: Duration::from_millis(parsed(
                "CODEGEN_RETRY_BACKOFF_MS",
                500u64,
                |_| true,
                "a number of milliseconds",
            )?),
            ..defaults
        };
        let default_mode = match var("CODEGEN_DEFAULT_MODE")?.as_deref() {
            None if provider.is_some() => GenerationModeArg::Hybrid,
            None | Some("template") => GenerationModeArg::Template,
            Some("llm" | "claude") => GenerationModeArg::Llm,
            Some("hybrid") => GenerationModeArg::Hybrid,
            Some(other) => bail!("CODEGEN_DEFAULT_MODE={other:?} is not template, llm or hybrid"),
        };
        Ok(CodegenSettings {
            default_mode,
            provider,
            llm,
            max_attempts: parsed(
                "CODEGEN_MAX_ATTEMPTS",
                3u32,
                |n| (1..=10).contains(n),
                "a number of attempts between 1 and 10",
            )?,
            daily_token_budget: parsed(
                "CODEGEN_DAILY_TOKEN_BUDGET",
                200_000u64,
                |_| true,
                "a number of tokens",
            )?,
        })
    }
}

fn check_url(key: &str, url: String) -> anyhow::Result<String> {
    let ok = (url.starts_with("https://") || url.starts_with("http://"))
        && !url.contains(char::is_whitespace);
    if !ok {
        bail!("{key}={url:?} is not an http(s) URL");
    }
    Ok(url)
}

/// The stage settings, from the environment (`COLD_MIN_SHARPE`, `WARM_HOURS`, …).
pub fn stage_settings_from_env() -> anyhow::Result<stratagem_actors::stages::runner::StageSettings>
{
    let d = stratagem_actors::stages::runner::StageSettings::default();
    let fraction = |x: &f64| (0.0..=1.0).contains(x);
    Ok(stratagem_actors::stages::runner::StageSettings {
        cold_days: parsed(
            "COLD_DAYS",
            d.cold_days,
            |n| (1..=365).contains(n),
            "a number of days between 1 and 365",
        )?,
        cold_min_sharpe: parsed(
            "COLD_MIN_SHARPE",
            d.cold_min_sharpe,
            |x: &f64| x.is_finite(),
            "a Sharpe ratio",
        )?,
        cold_min_trades: parsed(
            "COLD_MIN_TRADES",
            d.cold_min_trades,
            |_| true,
            "a number of trades",
        )?,
        warm_hours: parsed(
            "WARM_HOURS",
            d.warm_hours,
            |n| (1..=24 * 90).contains(n),
            "a number of hours",
        )?,
        warm_min_improvement: parsed(
            "WARM_MIN_IMPROVEMENT",
            d.warm_min_improvement,
            fraction,
            "a fraction between 0 and 1",
        )?,
        limited_hours: parsed(
            "LIMITED_HOURS",
            d.limited_hours,
            |n| (1..=24 * 90).contains(n),
            "a number of hours",
        )?,
        limited_capital_fraction: parsed(
            "LIMITED_CAPITAL_FRACTION",
            d.limited_capital_fraction,
            |x: &f64| *x > 0.0 && *x <= 1.0,
            "a fraction above 0 and at most 1",
        )?,
        limited_min_improvement: parsed(
            "LIMITED_MIN_IMPROVEMENT",
            d.limited_min_improvement,
            fraction,
            "a fraction between 0 and 1",
        )?,
        live_days: parsed(
            "LIVE_DAYS",
            d.live_days,
            |n| (1..=365).contains(n),
            "a number of days between 1 and 365",
        )?,
        capital: parsed(
            "STAGE_CAPITAL",
            d.capital,
            |x: &f64| x.is_finite() && *x > 0.0,
            "a positive amount",
        )?,
        warmup_bars: parsed(
            "STAGE_WARMUP_BARS",
            d.warmup_bars,
            |n| *n <= 100_000,
            "a number of bars up to 100000",
        )?,
        costs: d.costs,
        require_approval_before: match var("REQUIRE_APPROVAL_BEFORE")?
            .map(|v| v.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("none") => None,
            Some("limited") => Some(stratagem_events::Stage::Limited),
            Some("full") => Some(stratagem_events::Stage::Full),
            Some(other) => bail!("REQUIRE_APPROVAL_BEFORE={other:?} is not limited, full or none"),
        },
    })
}

/// The monitor's thresholds, from the environment (`MONITOR_MAX_DRAWDOWN`, …).
pub fn monitor_settings_from_env(
) -> anyhow::Result<stratagem_actors::stages::monitor::MonitorSettings> {
    let d = stratagem_actors::stages::monitor::MonitorSettings::default();
    let hours = |n: &u32| (1..=24 * 90).contains(n);
    let fraction = |x: &f64| *x > 0.0 && *x <= 1.0;
    Ok(stratagem_actors::stages::monitor::MonitorSettings {
        step_hours: parsed(
            "MONITOR_STEP_HOURS",
            d.step_hours,
            hours,
            "a number of hours",
        )?,
        window_hours: parsed(
            "MONITOR_WINDOW_HOURS",
            d.window_hours,
            hours,
            "a number of hours",
        )?,
        max_drawdown: parsed(
            "MONITOR_MAX_DRAWDOWN",
            d.max_drawdown,
            fraction,
            "a fraction above 0 and at most 1",
        )?,
        underperform_hours: parsed(
            "MONITOR_UNDERPERFORM_HOURS",
            d.underperform_hours,
            hours,
            "a number of hours",
        )?,
        retire_after_rollbacks: parsed(
            "MONITOR_RETIRE_AFTER_ROLLBACKS",
            d.retire_after_rollbacks,
            |n| (1..=100).contains(n),
            "a number of rollbacks from 1 to 100",
        )?,
        retire_loss: parsed(
            "MONITOR_RETIRE_LOSS",
            d.retire_loss,
            fraction,
            "a fraction above 0 and at most 1",
        )?,
        clone_min_sharpe: parsed(
            "MONITOR_CLONE_MIN_SHARPE",
            d.clone_min_sharpe,
            |x: &f64| x.is_finite(),
            "a Sharpe ratio",
        )?,
        clone_variants: parsed(
            "MONITOR_CLONE_VARIANTS",
            d.clone_variants,
            |n| *n <= 10,
            "a number of variants from 0 to 10",
        )?,
        clone_step: parsed(
            "MONITOR_CLONE_STEP",
            d.clone_step,
            |x: &f64| *x > 0.0 && *x < 1.0,
            "a fraction between 0 and 1",
        )?,
        clone_max_depth: parsed(
            "MONITOR_CLONE_MAX_DEPTH",
            d.clone_max_depth,
            |n| *n <= 10,
            "a number of generations from 0 to 10",
        )?,
    })
}

/// `VALIDATOR_CONCURRENCY` and `STAGE_CONCURRENCY`: how many strategies validate, and how many
/// run each stage, at once (default: this machine's cores; 1 to 64).
pub fn concurrency_from_env() -> anyhow::Result<stratagem_actors::pipeline::Concurrency> {
    let cores = stratagem_actors::pipeline::Concurrency::of_cores();
    let workers = |key: &str, default: usize| {
        parsed(
            key,
            default,
            |n| (1..=64).contains(n),
            "a number of workers from 1 to 64",
        )
    };
    Ok(stratagem_actors::pipeline::Concurrency {
        validators: workers("VALIDATOR_CONCURRENCY", cores.validators)?,
        stages: workers("STAGE_CONCURRENCY", cores.stages)?,
    })
}
