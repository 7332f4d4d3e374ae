//! Connectors: an exporter at the end of one pipeline and a receiver at the start of
//! others, in the Collector's shape (`connectors:`; the id listed under a pipeline's
//! `exporters` and under another's `receivers`).
