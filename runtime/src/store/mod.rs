//! Persistence (being built).
