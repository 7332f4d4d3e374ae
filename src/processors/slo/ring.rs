//! Good/bad counts per one-minute slice in a ring covering the SLO window.
//!
//! Every rolling sum is a sum of exact per-slice counts (request-weighted, never a
//! mean of ratios). The whole-ring totals are kept incrementally: adding to a slice
//! adds to them, and a slice leaving the ring subtracts its counts.

/// Minutes since the Unix epoch: the slice an event falls in.
pub type Minute = i64;

/// Nanoseconds in one slice.
pub const SLICE_NANOS: u64 = 60_000_000_000;

/// The slice of a Unix-nanosecond timestamp.
pub fn minute_of(unix_nanos: u64) -> Minute {
    (unix_nanos / SLICE_NANOS) as Minute
}

/// Where an event fell relative to the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Counted in its slice.
    Counted,
    /// Older than the oldest slice: cannot be counted.
    TooLate,
}

/// Counts for minutes `head - len + 1 ..= head`.
#[derive(Debug, Clone)]
pub struct SliceRing {
    good: Vec<f64>,
    bad: Vec<f64>,
    head: Minute,
    total_good: f64,
    total_bad: f64,
}

impl SliceRing {
    /// An empty ring of `len` slices whose newest minute is `head`.
    pub fn new(len: usize, head: Minute) -> Self {
        let len = len.max(1);
        Self {
            good: vec![0.0; len],
            bad: vec![0.0; len],
            head,
            total_good: 0.0,
            total_bad: 0.0,
        }
    }

    /// Slices held.
    pub fn len(&self) -> usize {
        self.good.len()
    }

    /// Never empty; here for clippy's `len` rule.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The newest minute held.
    pub fn head(&self) -> Minute {
        self.head
    }

    /// The oldest minute held.
    pub fn oldest(&self) -> Minute {
        self.head - self.len() as Minute + 1
    }

    fn slot(&self, minute: Minute) -> usize {
        minute.rem_euclid(self.len() as Minute) as usize
    }

    /// Moves the newest minute forward to `minute`; slices that fall out of the ring
    /// are subtracted from the totals and cleared. Moving backwards does nothing.
    pub fn advance(&mut self, minute: Minute) {
        if minute <= self.head {
            return;
        }
        if minute - self.head >= self.len() as Minute {
            self.good.iter_mut().for_each(|v| *v = 0.0);
            self.bad.iter_mut().for_each(|v| *v = 0.0);
            self.total_good = 0.0;
            self.total_bad = 0.0;
        } else {
            for m in self.head + 1..=minute {
                let slot = self.slot(m);
                self.total_good -= self.good[slot];
                self.total_bad -= self.bad[slot];
                self.good[slot] = 0.0;
                self.bad[slot] = 0.0;
            }
            // Subtraction of exact integers is exact; with fractional weights keep
            // rounding from ever showing a negative count.
            self.total_good = self.total_good.max(0.0);
            self.total_bad = self.total_bad.max(0.0);
        }
        self.head = minute;
    }

    /// Adds weighted counts to `minute`'s slice, moving the ring forward first if the
    /// minute is newer than the head.
    pub fn add(&mut self, minute: Minute, good: f64, bad: f64) -> Placement {
        if minute < self.oldest() {
            return Placement::TooLate;
        }
        self.advance(minute);
        let slot = self.slot(minute);
        self.good[slot] += good;
        self.bad[slot] += bad;
        self.total_good += good;
        self.total_bad += bad;
        Placement::Counted
    }

    /// (good, bad) over every slice held.
    pub fn totals(&self) -> (f64, f64) {
        (self.total_good, self.total_bad)
    }

    /// (good, bad) over minutes `from ..= self.head` (clamped to the ring).
    pub fn sum_since(&self, from: Minute) -> (f64, f64) {
        let from = from.max(self.oldest());
        if from > self.head {
            return (0.0, 0.0);
        }
        (from..=self.head).fold((0.0, 0.0), |(g, b), m| {
            let slot = self.slot(m);
            (g + self.good[slot], b + self.bad[slot])
        })
    }

    /// (good, bad) over the newest `minutes` slices.
    pub fn sum_last(&self, minutes: usize) -> (f64, f64) {
        self.sum_since(self.head - minutes as Minute + 1)
    }

    /// (good, bad) of one minute's slice; zeros for a minute outside the ring.
    pub fn at(&self, minute: Minute) -> (f64, f64) {
        if minute < self.oldest() || minute > self.head {
            return (0.0, 0.0);
        }
        let slot = self.slot(minute);
        (self.good[slot], self.bad[slot])
    }

    /// Recomputes the totals from the slices (drops any rounding drift).
    pub fn recount(&mut self) {
        self.total_good = self.good.iter().sum();
        self.total_bad = self.bad.iter().sum();
    }

    /// Non-empty slices from `from` to the head, oldest first: (minute, good, bad).
    pub fn slices_since(&self, from: Minute) -> impl Iterator<Item = (Minute, f64, f64)> + '_ {
        (from.max(self.oldest())..=self.head).filter_map(move |m| {
            let slot = self.slot(m);
            let (g, b) = (self.good[slot], self.bad[slot]);
            (g != 0.0 || b != 0.0).then_some((m, g, b))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sums_cover_exactly_the_ring() {
        let mut ring = SliceRing::new(3, 100);
        assert_eq!(ring.add(100, 1.0, 0.0), Placement::Counted);
        assert_eq!(ring.add(99, 0.0, 2.0), Placement::Counted);
        assert_eq!(ring.add(97, 5.0, 5.0), Placement::TooLate);
        assert_eq!(ring.totals(), (1.0, 2.0));
        ring.add(102, 4.0, 0.0); // 99 and 100 remain; 101 empty
        assert_eq!(ring.totals(), (5.0, 0.0), "minute 99 left the ring");
        assert_eq!(ring.sum_last(1), (4.0, 0.0));
        assert_eq!(ring.sum_last(3), (5.0, 0.0));
        ring.advance(200);
        assert_eq!(ring.totals(), (0.0, 0.0));
        assert_eq!(ring.oldest(), 198);
    }

    /// An event stream: (minute offset, is_bad, weight), with late and out-of-order
    /// minutes, plus moments where the clock moves on.
    #[derive(Debug, Clone)]
    enum Step {
        Event { minute: i64, bad: bool, weight: u8 },
        Tick(i64),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (0i64..200, any::<bool>(), 1u8..20).prop_map(|(minute, bad, weight)| Step::Event { minute, bad, weight }),
            1 => (0i64..200).prop_map(Step::Tick),
        ]
    }

    proptest! {
        /// The incremental totals and every windowed sum equal a brute-force recount
        /// of the events that the ring accepted, over random streams that include
        /// late, out-of-order and boundary-crossing events.
        #[test]
        fn incremental_sums_equal_a_brute_force_recount(len in 1usize..60, steps in proptest::collection::vec(step(), 0..300)) {
            let mut ring = SliceRing::new(len, 0);
            let mut accepted: Vec<(i64, bool, f64)> = Vec::new();
            for step in steps {
                match step {
                    Step::Event { minute, bad, weight } => {
                        let w = f64::from(weight);
                        let oldest = ring.head() - len as i64 + 1;
                        let placement = ring.add(minute, if bad { 0.0 } else { w }, if bad { w } else { 0.0 });
                        prop_assert_eq!(placement == Placement::TooLate, minute < oldest);
                        if placement == Placement::Counted {
                            accepted.push((minute, bad, w));
                        }
                    }
                    Step::Tick(minute) => ring.advance(minute),
                }
                let head = ring.head();
                let brute = |from: i64| accepted.iter().filter(|(m, _, _)| *m >= from && *m <= head).fold((0.0, 0.0), |(g, b), (_, bad, w)| if *bad { (g, b + w) } else { (g + w, b) });
                prop_assert_eq!(ring.totals(), brute(head - len as i64 + 1));
                for window in [1usize, 5, len / 2 + 1, len] {
                    prop_assert_eq!(ring.sum_last(window), brute(head - window.min(len) as i64 + 1));
                }
            }
        }
    }
}
