//! Crash consistency (below).
