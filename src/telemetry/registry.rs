//! The self-metrics as values: a `metrics` recorder that keeps every series in a
//! registry, so that readers can take a [`Snapshot`] and render it their way
//! (Prometheus text with the reader's options, OTLP for a push).
//!
//! It runs beside the Prometheus recorder that serves the deprecated `address` form
//! (see [`super::install_metrics_recorder`]): `metrics_exporter_prometheus` renders
//! only its own fixed text, and offers no values to convert to OTLP.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::SystemTime;

use metrics::{Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_util::registry::{Registry, Storage};

/// Upper bounds of histogram buckets: the OpenTelemetry SDK's default explicit
/// bucket boundaries, which the Collector's histograms use.
pub const BUCKET_BOUNDS: [f64; 15] = [
    0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0, 10000.0,
];

/// A histogram kept cumulatively since the process started.
#[derive(Debug, Default)]
pub struct CumulativeHistogram(Mutex<HistogramValue>);

/// A histogram's figures: counts per bucket of [`BUCKET_BOUNDS`] (one more for
/// values above the last bound), the sum, min and max.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistogramValue {
    /// Observations per bucket, `BUCKET_BOUNDS.len() + 1` of them.
    pub bucket_counts: Vec<u64>,
    /// Observations in all.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// The smallest, if any.
    pub min: Option<f64>,
    /// The largest, if any.
    pub max: Option<f64>,
}

impl HistogramFn for CumulativeHistogram {
    fn record(&self, value: f64) {
        let mut h = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if h.bucket_counts.is_empty() {
            h.bucket_counts = vec![0; BUCKET_BOUNDS.len() + 1];
        }
        let bucket = BUCKET_BOUNDS.partition_point(|bound| *bound < value);
        h.bucket_counts[bucket] += 1;
        h.count += 1;
        h.sum += value;
        h.min = Some(h.min.map_or(value, |m| m.min(value)));
        h.max = Some(h.max.map_or(value, |m| m.max(value)));
    }
}

/// Storage of the registry: atomics for counters and gauges (gauges as `f64` bits,
/// as `metrics` expects), a locked cumulative histogram.
struct SeriesStorage;

impl Storage<Key> for SeriesStorage {
    type Counter = Arc<AtomicU64>;
    type Gauge = Arc<AtomicU64>;
    type Histogram = Arc<CumulativeHistogram>;

    fn counter(&self, _: &Key) -> Self::Counter {
        Arc::new(AtomicU64::new(0))
    }

    fn gauge(&self, _: &Key) -> Self::Gauge {
        Arc::new(AtomicU64::new(0))
    }

    fn histogram(&self, _: &Key) -> Self::Histogram {
        Arc::new(CumulativeHistogram::default())
    }
}

/// What `describe_*` said about a metric name.
#[derive(Debug, Clone, Default)]
struct Description {
    unit: Option<Unit>,
    help: String,
}

/// The recorder; clone the [`SelfMetricsRegistry`] handle to read it.
pub struct SnapshotRecorder {
    inner: Arc<Inner>,
}

struct Inner {
    series: Registry<Key, SeriesStorage>,
    descriptions: RwLock<BTreeMap<String, Description>>,
    start: SystemTime,
}

/// A handle that takes snapshots of what the recorder holds.
#[derive(Clone)]
pub struct SelfMetricsRegistry {
    inner: Arc<Inner>,
}

impl SnapshotRecorder {
    /// A new, empty recorder and the handle that reads it.
    pub fn new() -> (SnapshotRecorder, SelfMetricsRegistry) {
        let inner = Arc::new(Inner {
            series: Registry::new(SeriesStorage),
            descriptions: RwLock::new(BTreeMap::new()),
            start: SystemTime::now(),
        });
        (SnapshotRecorder { inner: inner.clone() }, SelfMetricsRegistry { inner })
    }

    fn describe(&self, key: KeyName, unit: Option<Unit>, help: SharedString) {
        let mut descriptions = self.inner.descriptions.write().unwrap_or_else(PoisonError::into_inner);
        descriptions.insert(
            key.as_str().to_string(),
            Description {
                unit,
                help: help.to_string(),
            },
        );
    }
}

impl Recorder for SnapshotRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key, unit, description);
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        self.inner
            .series
            .get_or_create_counter(key, |c| Counter::from_arc(c.clone()))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        self.inner
            .series
            .get_or_create_gauge(key, |g| Gauge::from_arc(g.clone()))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        self.inner
            .series
            .get_or_create_histogram(key, |h| Histogram::from_arc(h.clone()))
    }
}

/// Every metric at one moment, by name.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// When the process started recording (the start of every cumulative series).
    pub start: SystemTime,
    /// When the snapshot was taken.
    pub time: SystemTime,
    /// Metrics by name, sorted.
    pub metrics: Vec<MetricSnapshot>,
}

/// Labels of one series, sorted by key.
pub type Labels = Vec<(String, String)>;

/// One metric name: its description and every labelled series.
#[derive(Debug, Clone)]
pub struct MetricSnapshot {
    /// The name as recorded (`otelcol_receiver_accepted_spans`).
    pub name: String,
    /// What `describe_*` said, or empty.
    pub help: String,
    /// Its unit, if described with one.
    pub unit: Option<Unit>,
    /// Its series, each with its labels (sorted by key).
    pub series: Vec<(Labels, SeriesValue)>,
}

/// One series' value.
#[derive(Debug, Clone, PartialEq)]
pub enum SeriesValue {
    /// A monotonic count since start.
    Counter(u64),
    /// The last value set.
    Gauge(f64),
    /// Observations since start.
    Histogram(HistogramValue),
}

impl SelfMetricsRegistry {
    /// Everything recorded so far. Metrics are grouped by name; a name used with
    /// two kinds (which sloop does not do) keeps the kind seen first.
    pub fn snapshot(&self) -> Snapshot {
        let mut by_name: BTreeMap<String, Vec<(Labels, SeriesValue)>> = BTreeMap::new();
        let mut add = |key: &Key, value: SeriesValue| {
            let mut labels: Labels = key
                .labels()
                .map(|l| (l.key().to_string(), l.value().to_string()))
                .collect();
            labels.sort();
            by_name.entry(key.name().to_string()).or_default().push((labels, value));
        };
        self.inner
            .series
            .visit_counters(|key, c| add(key, SeriesValue::Counter(c.load(Ordering::Relaxed))));
        self.inner
            .series
            .visit_gauges(|key, g| add(key, SeriesValue::Gauge(f64::from_bits(g.load(Ordering::Relaxed)))));
        self.inner.series.visit_histograms(|key, h| {
            let value = h.0.lock().unwrap_or_else(PoisonError::into_inner).clone();
            add(key, SeriesValue::Histogram(value))
        });
        let descriptions = self.inner.descriptions.read().unwrap_or_else(PoisonError::into_inner);
        let metrics = by_name
            .into_iter()
            .map(|(name, mut series)| {
                let kind = std::mem::discriminant(&series[0].1);
                series.retain(|(_, v)| std::mem::discriminant(v) == kind);
                series.sort_by(|a, b| a.0.cmp(&b.0));
                let description = descriptions.get(&name).cloned().unwrap_or_default();
                MetricSnapshot {
                    name,
                    help: description.help,
                    unit: description.unit,
                    series,
                }
            })
            .collect();
        Snapshot {
            start: self.inner.start,
            time: SystemTime::now(),
            metrics,
        }
    }
}
