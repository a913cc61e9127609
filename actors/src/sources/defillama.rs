//! DefiLlama (the successor of the defunct DeFi Pulse): protocols newly listed since the last
//! check (`GET /protocols`, `listedAt` in Unix seconds, many fields nullable), and Ethereum gas
//! conditions from `eth_feeHistory` on a configurable JSON-RPC URL.

use serde_json::Value;

use super::{
    clip, json_text, malformed, unix_to_rfc3339, GasConditions, Item, Page, ParseError, SourceName,
};

/// The `eth_feeHistory` request: the last 20 blocks, 25th/75th percentile rewards.
pub fn fee_history_request() -> Value {
    serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "eth_feeHistory", "params": ["0x14", "latest", [25, 75]]})
}

/// Parses the protocols array or an `eth_feeHistory` reply (told apart by shape).
///
/// # Errors
/// [`ParseError::Service`] for a JSON-RPC error, [`ParseError::Malformed`] otherwise.
pub fn parse(body: &[u8]) -> Result<Page, ParseError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| malformed("DefiLlama reply", e))?;
    match v {
        Value::Array(protocols) => parse_protocols(&protocols),
        Value::Object(ref o)
            if o.contains_key("jsonrpc") || o.contains_key("result") || o.contains_key("error") =>
        {
            parse_fee_history(&v)
        }
        _ => Err(malformed(
            "DefiLlama reply",
            "neither a protocols array nor a JSON-RPC reply",
        )),
    }
}

fn parse_protocols(protocols: &[Value]) -> Result<Page, ParseError> {
    let mut page = Page::default();
    for p in protocols {
        let text = |k: &str| {
            p.get(k)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        let Some(name) = text("name") else {
            return Err(malformed(
                "DefiLlama protocols",
                "a protocol without a name",
            ));
        };
        let Some(key) = text("slug")
            .map(str::to_string)
            .or_else(|| json_text(p.get("id")))
        else {
            return Err(malformed(
                "DefiLlama protocols",
                format!("protocol {name:?} has neither slug nor id"),
            ));
        };
        let category = text("category").unwrap_or("Unknown");
        let chains: Vec<&str> = p
            .get("chains")
            .and_then(Value::as_array)
            .map(|c| c.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut fields = vec![("category".to_string(), category.to_string())];
        if !chains.is_empty() {
            fields.push(("chains".into(), chains.join(" ")));
        }
        if let Some(listed) = p.get("listedAt").and_then(Value::as_f64) {
            fields.push(("listed_at".into(), format!("{}", listed as i64)));
        }
        if let Some(tvl) = p
            .get("tvl")
            .and_then(Value::as_f64)
            .filter(|t| t.is_finite())
        {
            fields.push(("tvl_usd".into(), format!("{tvl:.0}")));
        }
        if let Some(audits) = json_text(p.get("audits")) {
            fields.push(("audits".into(), audits));
        }
        let description = text("description").unwrap_or("");
        page.push(Item {
            source: SourceName::Defillama,
            external_id: key,
            title: clip(&format!("New DeFi protocol: {name} ({category})"), 200),
            text: clip(description, 2_000),
            url: text("url").map(str::to_string),
            published: p
                .get("listedAt")
                .and_then(Value::as_f64)
                .and_then(unix_to_rfc3339),
            fields,
        });
    }
    Ok(page)
}

fn hex_u64(v: &Value) -> Option<u64> {
    let s = v.as_str()?.strip_prefix("0x")?;
    u64::from_str_radix(s, 16).ok()
}

fn hex_f64(v: &Value) -> Option<f64> {
    let s = v.as_str()?.strip_prefix("0x")?;
    u128::from_str_radix(s, 16).ok().map(|x| x as f64)
}

fn parse_fee_history(v: &Value) -> Result<Page, ParseError> {
    if let Some(error) = v.get("error") {
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("an error without a message");
        return Err(ParseError::Service {
            service: "Ethereum JSON-RPC",
            message: clip(message, 300),
        });
    }
    let result = v
        .get("result")
        .ok_or_else(|| malformed("eth_feeHistory reply", "no result"))?;
    let bad = |what: &str| malformed("eth_feeHistory reply", what.to_string());
    let oldest = result
        .get("oldestBlock")
        .and_then(hex_u64)
        .ok_or_else(|| bad("oldestBlock is not a hex number"))?;
    let fees: Vec<f64> = result
        .get("baseFeePerGas")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no baseFeePerGas array"))?
        .iter()
        .map(hex_f64)
        .collect::<Option<_>>()
        .ok_or_else(|| bad("a base fee is not a hex number"))?;
    let used: Vec<f64> = result
        .get("gasUsedRatio")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no gasUsedRatio array"))?
        .iter()
        .map(Value::as_f64)
        .collect::<Option<_>>()
        .ok_or_else(|| bad("a gasUsedRatio is not a number"))?;
    // baseFeePerGas has one more entry than blocks: the next block's fee.
    if fees.len() != used.len() + 1 || used.is_empty() {
        return Err(bad(
            "baseFeePerGas must have one entry more than gasUsedRatio",
        ));
    }
    let gwei = 1e9;
    let window = &fees[..used.len()];
    let gas = GasConditions {
        oldest_block: oldest,
        blocks: used.len() as u32,
        next_base_fee_gwei: fees[fees.len() - 1] / gwei,
        mean_base_fee_gwei: window.iter().sum::<f64>() / window.len() as f64 / gwei,
        mean_gas_used_ratio: used.iter().sum::<f64>() / used.len() as f64,
    };
    Ok(Page {
        gas: Some(gas),
        ..Page::default()
    })
}
