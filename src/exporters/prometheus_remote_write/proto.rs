//! The remote write 1.0 message, `prometheus.WriteRequest`, as prost structs written
//! by hand: four small messages whose wire format is frozen, so generating them
//! from Prometheus's `.proto` files (which import gogoproto options) at build time
//! would add a build step and `protoc` for nothing. Field numbers are those of
//! `prompb/remote.proto` and `prompb/types.proto`; the fields sloop does not write
//! (metadata, native histograms) are left out, which the protobuf wire format
//! allows.

/// A write: series with their samples.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    /// The series.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// One series: its labels (sorted by name, `__name__` among them) and samples.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Labels, sorted by name.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Samples, oldest first.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// A label.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Label {
    /// Name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// A sample.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    /// Value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Unix milliseconds.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}
