//! Model test (below).
