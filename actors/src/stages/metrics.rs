//! Performance metrics of a run, from its mark-to-market equity curve and its trades. Pure
//! functions; every formula is written here.
//!
//! Notation: equity `E_0 … E_n` at each bar's close (E_0 = initial capital), per-bar returns
//! `r_t = E_t / E_{t-1} − 1` (t = 1 … n), `B` = bars per year (8,760 for hourly crypto bars on a
//! 24/7 calendar; 525,600 for minute bars).
//!
//! - total return = E_n / E_0 − 1
//! - Sharpe = mean(r) / std(r) × √B, std with ddof = 1, risk-free rate 0 (0 when std = 0)
//! - Sortino = mean(r) / DD × √B, downside deviation DD = √(Σ min(r_t, 0)² / (n − 1))
//! - max drawdown = max_t (1 − E_t / max_{s≤t} E_s), a positive fraction
//! - annualised return = (E_n / E_0)^(B / n) − 1; Calmar = annualised return / max drawdown
//! - win rate = winning closed trades / closed trades; profit factor = gross profit / gross loss
//!   (∞ shown as `f64::INFINITY` when there is no losing trade but a winning one, 0 with none)
//! - exposure = bars with a non-zero position / n; turnover = Σ |traded notional| / mean(E)
//! - probabilistic Sharpe ratio (Bailey & López de Prado 2012), with the per-bar Sharpe
//!   SR = mean(r)/std(r), skewness γ₃ and (non-excess) kurtosis γ₄ of r:
//!   PSR(SR*) = Φ( (SR − SR*) √(n − 1) / √(1 − γ₃·SR + (γ₄ − 1)/4 · SR²) ), SR* = 0
//! - deflated Sharpe ratio (Bailey & López de Prado 2014): PSR(SR₀) with the expected maximum
//!   Sharpe of N independent trials, SR₀ = √V · ((1 − γ) Φ⁻¹(1 − 1/N) + γ Φ⁻¹(1 − 1/(N·e))),
//!   γ = 0.5772… (Euler–Mascheroni), V the variance of the Sharpe estimator
//!   (1 − γ₃·SR + (γ₄ − 1)/4 · SR²) / (n − 1). N is the number of backtests in the log.

use stratagem_events::StageMetrics;

/// Euler–Mascheroni constant.
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// A closed (round-trip) trade's profit, in quote currency, net of fees.
pub type TradePnl = f64;

/// Inputs of the metrics.
#[derive(Debug, Clone)]
pub struct RunRecord<'a> {
    /// Equity at the start and at each bar's close (length n + 1).
    pub equity: &'a [f64],
    /// Net profit of each closed trade.
    pub trades: &'a [TradePnl],
    /// Bars (of the n) with a non-zero position.
    pub bars_in_market: u64,
    /// Sum of |traded notional|.
    pub traded_notional: f64,
    /// Bars per year.
    pub bars_per_year: f64,
    /// Backtests in the log, this one included (for the deflated Sharpe ratio).
    pub trials: u64,
}

/// Per-bar returns of an equity curve.
pub fn returns(equity: &[f64]) -> Vec<f64> {
    equity
        .windows(2)
        .map(|w| if w[0] != 0.0 { w[1] / w[0] - 1.0 } else { 0.0 })
        .collect()
}

/// The mean (0 for no values).
pub fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        0.0
    } else {
        xs.iter().sum::<f64>() / xs.len() as f64
    }
}

/// Sample standard deviation (ddof = 1); 0 for fewer than two values.
pub fn std_dev(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return 0.0;
    }
    let m = mean(xs);
    (xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (xs.len() - 1) as f64).sqrt()
}

/// Annualised Sharpe ratio of per-bar returns (risk-free 0).
pub fn sharpe(r: &[f64], bars_per_year: f64) -> f64 {
    let sd = std_dev(r);
    if sd > 0.0 {
        mean(r) / sd * bars_per_year.sqrt()
    } else {
        0.0
    }
}

/// Annualised Sortino ratio: ∞ for a curve that gains with no downside (the formula divides by
/// a zero downside deviation; 0 would rank a flawless curve last), 0 for a flat one.
pub fn sortino(r: &[f64], bars_per_year: f64) -> f64 {
    if r.len() < 2 {
        return 0.0;
    }
    let downside =
        (r.iter().map(|x| x.min(0.0).powi(2)).sum::<f64>() / (r.len() - 1) as f64).sqrt();
    if downside > 0.0 {
        mean(r) / downside * bars_per_year.sqrt()
    } else if mean(r) > 0.0 {
        f64::INFINITY
    } else {
        0.0
    }
}

/// Calmar ratio: annual return over the largest drawdown; ∞ for a gain without a drawdown, 0
/// without a gain.
pub fn calmar(annual_return: f64, max_drawdown: f64) -> f64 {
    if max_drawdown > 0.0 {
        annual_return / max_drawdown
    } else if annual_return > 0.0 {
        f64::INFINITY
    } else {
        0.0
    }
}

/// Fewest bars an annualised figure is printed for: below, a Sharpe of 25 over four bars is
/// noise, not a finding.
pub const MIN_BARS_TO_ANNUALISE: u64 = 30;

/// Largest peak-to-trough fall, as a positive fraction.
pub fn max_drawdown(equity: &[f64]) -> f64 {
    let mut peak = f64::MIN;
    let mut worst: f64 = 0.0;
    for e in equity {
        peak = peak.max(*e);
        if peak > 0.0 {
            worst = worst.max(1.0 - e / peak);
        }
    }
    worst
}

/// Skewness and non-excess kurtosis (population moments).
fn moments(r: &[f64]) -> (f64, f64) {
    let m = mean(r);
    let n = r.len() as f64;
    let m2 = r.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n;
    if m2 <= 0.0 {
        return (0.0, 3.0);
    }
    let m3 = r.iter().map(|x| (x - m).powi(3)).sum::<f64>() / n;
    let m4 = r.iter().map(|x| (x - m).powi(4)).sum::<f64>() / n;
    (m3 / m2.powf(1.5), m4 / (m2 * m2))
}

/// Probabilistic Sharpe ratio against a per-bar benchmark Sharpe `sr_star`.
pub fn probabilistic_sharpe(r: &[f64], sr_star: f64) -> Option<f64> {
    let sd = std_dev(r);
    if r.len() < 3 || sd <= 0.0 {
        return None;
    }
    let sr = mean(r) / sd;
    let (skew, kurt) = moments(r);
    let denom = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr * sr;
    if denom <= 0.0 {
        return None;
    }
    Some(normal_cdf(
        (sr - sr_star) * ((r.len() - 1) as f64).sqrt() / denom.sqrt(),
    ))
}

/// Deflated Sharpe ratio given `trials` backtests.
pub fn deflated_sharpe(r: &[f64], trials: u64) -> Option<f64> {
    let sd = std_dev(r);
    if r.len() < 3 || sd <= 0.0 {
        return None;
    }
    if trials <= 1 {
        return probabilistic_sharpe(r, 0.0);
    }
    let sr = mean(r) / sd;
    let (skew, kurt) = moments(r);
    let variance = (1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr * sr) / (r.len() - 1) as f64;
    if variance <= 0.0 {
        return None;
    }
    let n = trials as f64;
    let sr0 = variance.sqrt()
        * ((1.0 - EULER_GAMMA) * normal_quantile(1.0 - 1.0 / n)
            + EULER_GAMMA * normal_quantile(1.0 - 1.0 / (n * std::f64::consts::E)));
    probabilistic_sharpe(r, sr0)
}

/// Annualised Sharpe above which a backtest is not believed without a look (the best
/// published strategies stay below 3).
pub const IMPLAUSIBLE_SHARPE: f64 = 6.0;
/// Trades over which no drawdown at all, or a win rate of 95 %, is not believed.
pub const IMPLAUSIBLE_TRADES: u64 = 20;

/// Standard errors by which the Sharpe must exceed [`IMPLAUSIBLE_SHARPE`] before it is held
/// against the strategy. An annualised Sharpe over `n` bars has a standard error of about
/// √(bars a year / n): about 7 over a week of hourly bars, where a Sharpe of 7 is luck, not a
/// sign; about 3 over 1,000 of them.
pub const IMPLAUSIBLE_Z: f64 = 2.0;

/// Why a run's figures are too good to believe (a look-ahead, a table of the future): a Sharpe
/// above [`IMPLAUSIBLE_SHARPE`] by [`IMPLAUSIBLE_Z`] standard errors of a Sharpe over this many
/// bars, or no drawdown or 95 % of trades won over at least [`IMPLAUSIBLE_TRADES`] trades.
/// `None` when nothing is suspicious.
pub fn implausible(m: &StageMetrics, bars_per_year: f64) -> Option<String> {
    let mut why = Vec::new();
    let error = (bars_per_year / (m.bars.max(1) as f64)).sqrt();
    if m.sharpe > IMPLAUSIBLE_SHARPE && (m.sharpe - IMPLAUSIBLE_SHARPE) / error >= IMPLAUSIBLE_Z {
        why.push(format!("Sharpe {:.1} above {IMPLAUSIBLE_SHARPE}", m.sharpe));
    }
    if m.trades >= IMPLAUSIBLE_TRADES && m.max_drawdown <= 1e-9 {
        why.push(format!("no drawdown over {} trades", m.trades));
    }
    if m.trades >= IMPLAUSIBLE_TRADES && m.win_rate >= 0.95 {
        why.push(format!(
            "{:.1} % of {} trades won",
            m.win_rate * 100.0,
            m.trades
        ));
    }
    (!why.is_empty()).then(|| format!("implausible: check for look-ahead ({})", why.join("; ")))
}

/// Every metric of a run.
pub fn compute(run: &RunRecord<'_>) -> StageMetrics {
    let r = returns(run.equity);
    let n = r.len();
    let first = run.equity.first().copied().unwrap_or(0.0);
    let last = run.equity.last().copied().unwrap_or(0.0);
    let total_return = if first > 0.0 { last / first - 1.0 } else { 0.0 };
    let mdd = max_drawdown(run.equity);
    let annual = if n > 0 && first > 0.0 && last > 0.0 {
        (last / first).powf(run.bars_per_year / n as f64) - 1.0
    } else {
        0.0
    };
    let wins: Vec<f64> = run.trades.iter().copied().filter(|p| *p > 0.0).collect();
    let losses: f64 = run
        .trades
        .iter()
        .copied()
        .filter(|p| *p < 0.0)
        .map(f64::abs)
        .sum();
    let gross_profit: f64 = wins.iter().sum();
    StageMetrics {
        bars: n as u64,
        total_return,
        sharpe: sharpe(&r, run.bars_per_year),
        sortino: sortino(&r, run.bars_per_year),
        max_drawdown: mdd,
        calmar: calmar(annual, mdd),
        win_rate: if run.trades.is_empty() {
            0.0
        } else {
            wins.len() as f64 / run.trades.len() as f64
        },
        profit_factor: if losses > 0.0 {
            gross_profit / losses
        } else if gross_profit > 0.0 {
            f64::INFINITY
        } else {
            0.0
        },
        trades: run.trades.len() as u64,
        exposure: if n > 0 {
            run.bars_in_market as f64 / n as f64
        } else {
            0.0
        },
        turnover: {
            let avg = mean(run.equity);
            if avg > 0.0 {
                run.traded_notional / avg
            } else {
                0.0
            }
        },
        probabilistic_sharpe: probabilistic_sharpe(&r, 0.0),
        deflated_sharpe: deflated_sharpe(&r, run.trials.max(1)),
        baseline_sharpe: None,
    }
}

/// The test of a candidate's Sharpe against its baseline's on the same bars.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SharpeTest {
    /// Per-bar returns compared (n).
    pub bars: usize,
    /// The candidate's per-bar Sharpe.
    pub candidate: f64,
    /// The baseline's per-bar Sharpe.
    pub baseline: f64,
    /// The margin the difference must exceed (per bar): `improvement` × |baseline|.
    pub margin: f64,
    /// Correlation of the two return series (0 when either is constant).
    pub correlation: f64,
    /// (candidate − baseline − margin) / its standard error.
    pub z: f64,
    /// One-sided p-value of "the candidate does not beat the baseline by the margin".
    pub p_value: f64,
}

/// What a test says at a confidence level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The candidate beats the baseline by the margin, at the confidence asked.
    Better,
    /// It does not: the difference is below the margin at that confidence.
    NotBetter,
    /// The bars cannot tell.
    Inconclusive,
}

/// Fewest paired returns the Sharpe test judges on: its variance is asymptotic, and on a handful
/// of bars it would call chance significant.
pub const MIN_TEST_BARS: usize = 30;

impl SharpeTest {
    /// The verdict at `confidence` (one-sided, e.g. 0.90): `Inconclusive` on fewer than
    /// [`MIN_TEST_BARS`] returns; else `Better` when z ≥ Φ⁻¹(confidence), `NotBetter` when
    /// z ≤ −Φ⁻¹(confidence), and `Inconclusive` between.
    pub fn verdict(&self, confidence: f64) -> Verdict {
        if self.bars < MIN_TEST_BARS {
            return Verdict::Inconclusive;
        }
        let critical = normal_quantile(confidence.clamp(0.5, 0.999_999));
        if self.z >= critical {
            Verdict::Better
        } else if self.z <= -critical {
            Verdict::NotBetter
        } else {
            Verdict::Inconclusive
        }
    }
}

/// Tests whether the candidate's Sharpe ratio exceeds the baseline's by `improvement` × |its
/// Sharpe|, on paired per-bar returns of the same bars: the difference of the two Sharpe ratios
/// over its standard error, with the variance of Jobson & Korkie (1981) as corrected by Memmel
/// (2003), which accounts for the correlation ρ of the two series:
/// Var(SR_c − SR_b) = (2 − 2ρ + ½ (SR_c² + SR_b² − 2 SR_c SR_b ρ²)) / n.
/// `None` with fewer than 3 returns on either side.
pub fn sharpe_test(candidate: &[f64], baseline: &[f64], improvement: f64) -> Option<SharpeTest> {
    let n = candidate.len().min(baseline.len());
    if n < 3 {
        return None;
    }
    let (c, b) = (&candidate[..n], &baseline[..n]);
    let per_bar = |r: &[f64]| {
        let sd = std_dev(r);
        if sd > 0.0 {
            mean(r) / sd
        } else {
            0.0
        }
    };
    let (sc, sb) = (per_bar(c), per_bar(b));
    let (mc, mb, dc, db) = (mean(c), mean(b), std_dev(c), std_dev(b));
    let correlation = if dc > 0.0 && db > 0.0 {
        let cov = c
            .iter()
            .zip(b)
            .map(|(x, y)| (x - mc) * (y - mb))
            .sum::<f64>()
            / (n - 1) as f64;
        (cov / (dc * db)).clamp(-1.0, 1.0)
    } else {
        0.0
    };
    let margin = improvement * sb.abs();
    let variance = (2.0 - 2.0 * correlation
        + 0.5 * (sc * sc + sb * sb - 2.0 * sc * sb * correlation * correlation))
        / n as f64;
    let difference = sc - sb - margin;
    let z = if variance > 0.0 {
        difference / variance.sqrt()
    } else if difference > 0.0 {
        f64::INFINITY
    } else if difference < 0.0 {
        f64::NEG_INFINITY
    } else {
        0.0
    };
    Some(SharpeTest {
        bars: n,
        candidate: sc,
        baseline: sb,
        margin,
        correlation,
        z,
        p_value: 1.0 - normal_cdf(z),
    })
}

/// Standard normal cumulative distribution, Φ(x), via erfc (absolute error below 1.2e-7).
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// Complementary error function: erfc(x) = t·exp(−z² + P(t)), t = 1/(1 + z/2), z = |x|, with
/// the Chebyshev-fitted polynomial P of Numerical Recipes (§6.2); fractional error < 1.2e-7
/// everywhere, ample for a probability reported to a few decimals.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let approx = t * poly.exp();
    if x >= 0.0 {
        approx
    } else {
        2.0 - approx
    }
}

/// Standard normal quantile Φ⁻¹(p) (P. J. Acklam's algorithm, relative error < 1.2e-9).
pub fn normal_quantile(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let low = 0.024_25;
    if p < low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic series of small pseudo-random returns.
    fn noise(n: usize, seed: u64, scale: f64) -> Vec<f64> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                ((x >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * scale
            })
            .collect()
    }

    #[test]
    fn the_sharpe_test_needs_evidence_not_two_point_estimates() {
        let base = noise(2000, 7, 0.02);
        // The same returns plus a steady edge: clearly better on 2,000 bars.
        let better: Vec<f64> = base.iter().map(|r| r + 0.004).collect();
        let t = sharpe_test(&better, &base, 0.10).unwrap();
        assert_eq!(t.verdict(0.90), Verdict::Better, "{t:?}");
        assert!(t.correlation > 0.99);
        // Clearly worse.
        let worse: Vec<f64> = base.iter().map(|r| r - 0.004).collect();
        assert_eq!(
            sharpe_test(&worse, &base, 0.10).unwrap().verdict(0.90),
            Verdict::NotBetter
        );
        // Four bars of a higher point estimate prove nothing.
        let short = sharpe_test(&better[..4], &noise(4, 9, 0.02), 0.10).unwrap();
        assert!(short.candidate > short.baseline);
        assert_eq!(short.verdict(0.90), Verdict::Inconclusive, "{short:?}");
        // Two independent noises of one mean are not told apart on 200 bars.
        let other = noise(200, 11, 0.02);
        assert_eq!(
            sharpe_test(&other, &noise(200, 13, 0.02), 0.0)
                .unwrap()
                .verdict(0.90),
            Verdict::Inconclusive
        );
        assert!(sharpe_test(&base[..2], &base[..2], 0.1).is_none());
    }

    #[test]
    fn a_high_sharpe_is_implausible_only_over_a_window_that_can_carry_it() {
        // A week of hourly bars: an annualised 6.8 is about one standard error from 0.
        let week = |sharpe: f64| StageMetrics {
            bars: 168,
            sharpe,
            ..StageMetrics::default()
        };
        assert_eq!(implausible(&week(6.8), 8760.0), None);
        assert_eq!(implausible(&week(18.0), 8760.0), None);
        assert!(implausible(&week(22.2), 8760.0).is_some());
        let table = StageMetrics {
            bars: 1_000,
            sharpe: 12.0,
            ..StageMetrics::default()
        };
        assert!(implausible(&table, 8760.0)
            .unwrap()
            .starts_with("implausible: check for look-ahead"));
    }

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol, "{a} vs {b} (tolerance {tol})");
    }

    #[test]
    fn hand_computed_curve() {
        // Equity 100 → 110 → 99 → 108.9: returns +10 %, −10 %, +10 %.
        let equity = [100.0, 110.0, 99.0, 108.9];
        let r = returns(&equity);
        close(r[0], 0.10, 1e-12);
        close(r[1], -0.10, 1e-12);
        close(r[2], 0.10, 1e-12);
        // mean = 1/30; sample variance = ((2/30)²·2 + (4/30)²)/2 = 0.013333…; std = 0.11547
        close(std_dev(&r), (0.04_f64 / 3.0).sqrt(), 1e-12);
        // Sharpe with B = 1: (1/30) / 0.11547 = 0.288675
        close(
            sharpe(&r, 1.0),
            (1.0 / 30.0) / (0.04_f64 / 3.0).sqrt(),
            1e-12,
        );
        // Annualised with B = 8,760 scales by √8760 = 93.59
        close(sharpe(&r, 8760.0), sharpe(&r, 1.0) * 8760f64.sqrt(), 1e-9);
        // Downside: only −0.10 counts: √(0.01 / 2) = 0.070711; Sortino = 0.033333 / 0.070711
        close(sortino(&r, 1.0), (1.0 / 30.0) / (0.005_f64).sqrt(), 1e-12);
        // Peak 110, trough 99: drawdown 10 %.
        close(max_drawdown(&equity), 0.1, 1e-12);
    }

    #[test]
    fn trade_statistics() {
        let equity = [100.0, 101.0, 103.0, 102.0];
        let m = compute(&RunRecord {
            equity: &equity,
            trades: &[3.0, -1.0, 2.0],
            bars_in_market: 2,
            traded_notional: 204.0,
            bars_per_year: 8760.0,
            trials: 1,
        });
        close(m.win_rate, 2.0 / 3.0, 1e-12);
        close(m.profit_factor, 5.0, 1e-12);
        assert_eq!(m.trades, 3);
        close(m.exposure, 2.0 / 3.0, 1e-12);
        close(m.turnover, 204.0 / 101.5, 1e-12);
        close(m.total_return, 0.02, 1e-12);
    }

    #[test]
    fn normal_functions_match_tables() {
        close(normal_cdf(0.0), 0.5, 1e-7);
        close(normal_cdf(1.959_963_985), 0.975, 1e-7);
        close(normal_cdf(-1.0), 0.158_655_254, 1e-7);
        close(normal_quantile(0.975), 1.959_963_985, 1e-8);
        close(normal_quantile(0.001), -3.090_232_306, 1e-8);
        close(normal_quantile(0.5), 0.0, 1e-12);
    }

    #[test]
    fn deflation_lowers_the_probability_as_trials_grow() {
        let r: Vec<f64> = (0..500)
            .map(|i| 0.001 + 0.01 * ((i * 7919 % 101) as f64 / 100.0 - 0.5))
            .collect();
        let psr = probabilistic_sharpe(&r, 0.0).unwrap();
        let d1 = deflated_sharpe(&r, 1).unwrap();
        let d10 = deflated_sharpe(&r, 10).unwrap();
        let d1000 = deflated_sharpe(&r, 1000).unwrap();
        close(psr, d1, 1e-12);
        assert!(psr > d10 && d10 > d1000, "{psr} {d10} {d1000}");
        assert!(psr > 0.5, "a positive mean gives PSR above one half: {psr}");
    }

    #[test]
    fn a_flawless_curve_has_infinite_sortino_and_calmar_not_zero() {
        let gains = [0.01, 0.02, 0.0, 0.01];
        assert_eq!(sortino(&gains, 8760.0), f64::INFINITY);
        assert_eq!(calmar(0.5, 0.0), f64::INFINITY);
        assert_eq!(sortino(&[0.0, 0.0, 0.0], 8760.0), 0.0, "flat: no return");
        assert_eq!(calmar(-0.1, 0.0), 0.0);
        assert!(sortino(&[0.01, -0.02, 0.03], 8760.0).is_finite());
    }
}
