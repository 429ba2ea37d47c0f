//! Table tests for the insight module.
