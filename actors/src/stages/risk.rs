//! The account's risk states as a runner honours them: the orders a strategy places are
//! filtered bar by bar by the state in force at the bar (`RiskMark`s of its run, from the log).
//!
//! - **Active**: every order.
//! - **Reduce-only**: exits only. Orders are target positions, so an order is kept when it
//!   closes the position, or keeps its side with a quantity no larger; one that would flip the
//!   side is turned into a close; one that opens or grows a position is dropped.
//! - **Halted**: no order. A halt with flatten closes the position at its first bar.
//!
//! The filter is a function of the orders, the bars and the marks only, so a run replayed after
//! a crash is filtered the same way.

use stratagem_events::projection::RiskMark;
use stratagem_events::RiskState;

use crate::validator::sandbox::runtime::{HostOrder, OrderKind, SandboxBar};

/// `orders` (placed during `bars`, by index) as the risk states `marks` let them trade.
pub fn filter(orders: &[HostOrder], bars: &[SandboxBar], marks: &[RiskMark]) -> Vec<HostOrder> {
    if marks.iter().all(|m| m.state == RiskState::Active) {
        return orders.to_vec();
    }
    let mut out = Vec::with_capacity(orders.len());
    // The target the kept orders left: side and quantity.
    let mut held = (0i32, 0.0f64);
    let mut flattened: Vec<usize> = Vec::new();
    let mut next = 0;
    for (i, bar) in bars.iter().enumerate() {
        // The state in force at this bar: the last one changed before it.
        let found = marks
            .iter()
            .enumerate()
            .rev()
            .find(|(_, m)| m.after < bar.timestamp);
        let mark = found.map(|(_, m)| m);
        // A halt with flatten closes the position at its first bar.
        if let Some((k, m)) = found {
            if m.state == RiskState::Halted && m.flatten && !flattened.contains(&k) {
                flattened.push(k);
                if held.0 != 0 {
                    out.push(HostOrder::market(i, 0, 0.0));
                    held = (0, 0.0);
                }
            }
        }
        while next < orders.len() && orders[next].bar <= i {
            let o = orders[next];
            next += 1;
            let state = mark.map_or(RiskState::Active, |m| m.state);
            match state {
                RiskState::Active => {
                    if o.kind != OrderKind::Cancel {
                        held = (o.direction, o.quantity);
                    }
                    out.push(o);
                }
                RiskState::Halted => {}
                RiskState::ReduceOnly => {
                    if o.kind == OrderKind::Cancel || o.direction == 0 {
                        if o.direction == 0 && o.kind != OrderKind::Cancel {
                            held = (0, 0.0);
                        }
                        out.push(o);
                    } else if held.0 == o.direction && o.quantity <= held.1 {
                        held = (o.direction, o.quantity);
                        out.push(o);
                    } else if held.0 == -o.direction && held.0 != 0 {
                        // A flip becomes a close.
                        out.push(HostOrder::market(o.bar, 0, 0.0));
                        held = (0, 0.0);
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bars(n: usize) -> Vec<SandboxBar> {
        (0..n)
            .map(|i| SandboxBar {
                timestamp: 60 * i as i64,
                open: 100.0,
                high: 101.0,
                low: 99.0,
                close: 100.0,
                volume: 1.0,
            })
            .collect()
    }

    fn mark(after: i64, state: RiskState, flatten: bool) -> RiskMark {
        RiskMark {
            after,
            state,
            flatten,
        }
    }

    #[test]
    fn a_halt_drops_every_order_from_the_bar_after_it_and_resume_lets_them_through() {
        let b = bars(10);
        let orders: Vec<HostOrder> = (0..10)
            .map(|i| HostOrder::market(i, if i % 2 == 0 { 1 } else { -1 }, 1.0))
            .collect();
        // Halted after bar 3 (open time 180), active again after bar 6.
        let marks = [
            mark(180, RiskState::Halted, false),
            mark(360, RiskState::Active, false),
        ];
        let kept: Vec<usize> = filter(&orders, &b, &marks).iter().map(|o| o.bar).collect();
        assert_eq!(kept, [0, 1, 2, 3, 7, 8, 9]);
        assert_eq!(filter(&orders, &b, &[]), orders);
    }

    #[test]
    fn a_halt_with_flatten_closes_the_position_at_its_first_bar() {
        let b = bars(6);
        let orders = [HostOrder::market(0, 1, 2.0), HostOrder::market(4, -1, 2.0)];
        let out = filter(&orders, &b, &[mark(60, RiskState::Halted, true)]);
        let got: Vec<(usize, i32, f64)> = out
            .iter()
            .map(|o| (o.bar, o.direction, o.quantity))
            .collect();
        assert_eq!(got, [(0, 1, 2.0), (2, 0, 0.0)]);
    }

    #[test]
    fn reduce_only_keeps_exits_turns_a_flip_into_a_close_and_drops_new_positions() {
        let b = bars(8);
        let orders = [
            HostOrder::market(0, 1, 2.0),  // active: long 2
            HostOrder::market(2, 1, 3.0),  // grows: dropped
            HostOrder::market(3, 1, 1.0),  // reduces: kept
            HostOrder::market(4, -1, 1.0), // flips: a close
            HostOrder::market(5, -1, 1.0), // opens: dropped
            HostOrder::market(6, 0, 0.0),  // flat: kept
        ];
        let out = filter(&orders, &b, &[mark(60, RiskState::ReduceOnly, false)]);
        let got: Vec<(usize, i32, f64)> = out
            .iter()
            .map(|o| (o.bar, o.direction, o.quantity))
            .collect();
        assert_eq!(got, [(0, 1, 2.0), (3, 1, 1.0), (4, 0, 0.0), (6, 0, 0.0)]);
    }
}
