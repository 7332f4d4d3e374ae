//! Tests of TLS settings, loading and reload.
