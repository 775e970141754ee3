//! Evaluation: fidelity and privacy metrics of synthetic against real signals, and reports.
