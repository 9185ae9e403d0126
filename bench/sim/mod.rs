//! The simulated bench (placeholder while building).
