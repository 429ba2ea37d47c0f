//! Placeholder while the CI-message mapping lands on its branch: ResultsDB-shaped JSON only.

use crate::model::{InputLimits, Outcomes, ResultInput, parse_create_result};
use serde_json::Value;

/// One message from the bus, mapped.
pub struct Mapped {
    pub results: Vec<ResultInput>,
    pub kind: &'static str,
    pub id: Option<String>,
}

/// Why a message cannot be mapped.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MapError(String);

pub fn map_message(_topic: &str, body: &Value, outcomes: &Outcomes, limits: &InputLimits) -> Result<Mapped, MapError> {
    let r = parse_create_result(body, outcomes, limits).map_err(|e| MapError(e.to_string()))?;
    Ok(Mapped { results: vec![r], kind: "resultsdb", id: None })
}
