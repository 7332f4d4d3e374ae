//! Tests of the OpenSLO import and export.
