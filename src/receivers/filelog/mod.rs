//! `filelog` — tails files, as the Collector's filelog receiver. (Being built: the
//! tailing core, the operators and the access-log formats each live in a folder of
//! their own below.)

pub mod entry;
pub mod format;
pub mod operators;
