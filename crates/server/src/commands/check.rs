//! `palisade check --config FILE [--room-state FILE] EVENT.json`: judge one event offline with the same engine
//! as `/sign`, so operators can try a community configuration before deploying it.

use std::path::Path;

use serde_json::Value;

/// Reads the three inputs and returns the verdict, with its per-filter trace, as JSON.
pub fn run(config: &Path, room_state: Option<&Path>, event: &Path) -> Result<Value, String> {
    let config = read_json(config)?;
    let room_state = room_state.map(read_json).transpose()?;
    let event = read_json(event)?;
    let verdict =
        palisade_policy::check_offline(&config, room_state.as_ref(), &event).map_err(|e| e.to_string())?;
    serde_json::to_value(&verdict).map_err(|e| e.to_string())
}

fn read_json(path: &Path) -> Result<Value, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: not valid JSON: {e}", path.display()))
}
