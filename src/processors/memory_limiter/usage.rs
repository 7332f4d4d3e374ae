//! What the limiter compares against its limits: one pure function of one
//! measurement, so the rule is tested on numbers rather than on this process.

use super::config::Limits;

/// One measurement of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Resident set size (`VmRSS`).
    pub rss: u64,
    /// Live heap bytes (allocated and not yet freed), when the binary counts them.
    pub heap: Option<u64>,
}

impl Sample {
    /// Resident memory that is not heap: code, thread stacks, the allocator's own
    /// books. Taken from the first sample, before the allocator has kept any freed
    /// memory that would be counted here too.
    pub fn non_heap(&self) -> u64 {
        self.heap.map_or(0, |heap| self.rss.saturating_sub(heap))
    }
}

/// What one sample means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// The memory sloop holds: live heap plus the non-heap part measured at start;
    /// RSS when the heap is not counted.
    pub usage: u64,
    /// Refuse incoming data.
    pub refuse: bool,
    /// Refusing because a hard limit is reached.
    pub above_hard: bool,
}

/// Judges `sample` against `limits`, given the non-heap resident memory measured at
/// start.
///
/// With the heap counted: refuse while `usage` (heap + non-heap) is at or above the
/// soft limit, or while RSS is at or above the soft limit *and* `usage` is within two
/// spikes of the soft limit (`limit - 3 × spike`). The second
/// rule is the backstop for memory the heap counter does not see (C libraries'
/// malloc, fragmentation); its second half keeps memory the allocator merely keeps
/// after a burst from causing refusals on its own: refusing cannot return that
/// memory, and new data reuses it.
///
/// Without the heap counted, RSS is all there is: refuse at or above the soft limit.
pub fn judge(sample: Sample, non_heap: u64, limits: Limits) -> Verdict {
    let Some(heap) = sample.heap else {
        return Verdict {
            usage: sample.rss,
            refuse: sample.rss >= limits.soft,
            above_hard: sample.rss >= limits.hard,
        };
    };
    let usage = heap.saturating_add(non_heap);
    let spike = limits.hard.saturating_sub(limits.soft);
    // Measured by the overload benchmark (BENCHMARKS.md): with the backstop at the
    // hard limit, glibc's per-thread arenas let RSS run 10% past it under a flood
    // while the heap stayed under the soft limit.
    let held_a_lot = usage >= limits.soft.saturating_sub(2 * spike);
    let rss_backstop = sample.rss >= limits.soft && held_a_lot;
    Verdict {
        usage,
        refuse: usage >= limits.soft || rss_backstop,
        above_hard: usage >= limits.hard || (sample.rss >= limits.hard && held_a_lot),
    }
}
