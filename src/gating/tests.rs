//! Decision tables for the gating engine: every answer type, waivers, expiry, `when`.

use super::*;
