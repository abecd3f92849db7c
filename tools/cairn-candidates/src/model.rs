//! The example model: a small deterministic function of a synthetic decision's
//! input (fraud scoring, support chat, pricing), in three versions.
//!
//! - `v1` is the reference.
//! - `v2` reviews more: a fraud decision v1 approves is reviewed when its score
//!   is within 0.05 below the review threshold. Everything else is as in v1.
//! - `v3` adds a sampled, nondeterministic `explanation` to every output and
//!   prices raises at .99 ("charm pricing"). Everything else is as in v1.
//!
//! `--noisy` adds the sampled `explanation` to any version: run the recorded
//! version with it to get a baseline that is as nondeterministic as v3.

use rand::Rng;
use serde_json::{json, Map, Value};

/// A version of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Version {
    /// The reference.
    V1,
    /// Reviews fraud decisions just below the review threshold.
    V2,
    /// Nondeterministic explanation, charm-priced raises.
    V3,
}

/// How much lower v2's fraud review threshold is.
pub const V2_REVIEW_MARGIN: f64 = 0.05;

/// The model's output for a request, or `{"error": ...}` for an input it does not know.
pub fn decide(version: Version, noisy: bool, input: &Value, params: Option<&Value>) -> Value {
    let mut out = if input.get("transaction").is_some() {
        fraud(version, input, params)
    } else if input.get("messages").is_some() {
        chat(input)
    } else if input.get("sku").is_some() {
        pricing(version, input)
    } else {
        return json!({"error": "unknown input: expected a fraud, chat or pricing decision"});
    };
    if noisy || version == Version::V3 {
        let pick: u32 = rand::rng().random();
        out["explanation"] = json!(format!("sampled rationale #{pick:08x}"));
    }
    out
}

fn round(x: f64, decimals: i32) -> f64 {
    let p = 10f64.powi(decimals);
    (x * p).round() / p
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn num(v: &Value, path: &[&str]) -> Option<f64> {
    path.iter().try_fold(v, |at, k| at.get(*k))?.as_f64()
}

fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |at, k| at.get(*k))?.as_str()
}

fn fraud(version: Version, input: &Value, params: Option<&Value>) -> Value {
    let features: Vec<f64> = input["features"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default();
    let f = |i: usize| features.get(i).copied().unwrap_or(0.0);
    let amount_usd = (8.0 * f(0)).exp() - 1.0;
    let mut factors: Vec<(&str, f64)> = Vec::new();
    if text(input, &["transaction", "country"]) != text(input, &["transaction", "card_country"]) {
        factors.push(("cross_border", 1.1));
    }
    if amount_usd > 400.0 {
        factors.push(("high_amount", 0.6 + 0.5 * (amount_usd / 400.0).ln()));
    }
    match (f(2) * 2.0).round() as i64 {
        1 => factors.push(("elevated_risk_mcc", 0.5)),
        2 => factors.push(("high_risk_mcc", 1.2)),
        _ => {}
    }
    if f(3) >= 1.0 {
        factors.push(("new_device", 0.9));
    }
    if f(4) >= 1.0 {
        factors.push(("ip_country_mismatch", 1.0));
    }
    let txns = num(input, &["account", "txn_count_24h"]).unwrap_or(0.0);
    if txns >= 3.0 {
        factors.push(("velocity", 0.2 * (txns - 2.0)));
    }
    if num(input, &["account", "age_days"]).unwrap_or(1000.0) < 30.0 {
        factors.push(("new_account", 0.8));
    }
    if input["transaction"].get("three_ds") == Some(&Value::Bool(false)) {
        factors.push(("no_3ds", 0.4));
    }
    let chargebacks = num(input, &["account", "prior_chargebacks"]).unwrap_or(0.0);
    if chargebacks > 0.0 {
        factors.push(("prior_chargebacks", 0.7 * chargebacks));
    }
    // A little of the embedding moves the score, so that scores spread.
    let embedding: f64 = features.iter().skip(8).take(8).sum::<f64>() * 0.15;
    let raw = factors.iter().map(|x| x.1).sum::<f64>() + embedding - 2.4;
    let score = round(sigmoid(raw), 4);
    let param = |k: &str, d: f64| {
        params
            .and_then(|p| p.get(k))
            .and_then(Value::as_f64)
            .unwrap_or(d)
    };
    let (review_at, decline_at) = (
        param("threshold_review", 0.5),
        param("threshold_decline", 0.78),
    );
    let mut decision = if score >= decline_at {
        "decline"
    } else if score >= review_at {
        "review"
    } else {
        "approve"
    };
    if version == Version::V2 && decision == "approve" && score >= review_at - V2_REVIEW_MARGIN {
        decision = "review";
    }
    factors.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    let reasons: Vec<&str> = factors.iter().take(3).map(|x| x.0).collect();
    json!({"decision": decision, "score": score, "reasons": reasons})
}

/// FNV-1a, for deterministic choices from text.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

const INTENTS: [(&str, &[&str]); 6] = [
    ("refund", &["refund", "money back", "return"]),
    ("cancel", &["cancel", "unsubscribe"]),
    ("billing", &["invoice", "charge", "bill", "payment"]),
    ("order_status", &["ship", "deliver", "track", "order"]),
    (
        "account_update",
        &["password", "email", "address", "account", "login"],
    ),
    (
        "troubleshoot",
        &["error", "crash", "broken", "not working", "app"],
    ),
];

fn chat(input: &Value) -> Value {
    let messages = input["messages"].as_array().cloned().unwrap_or_default();
    let last = messages
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_str())
        .unwrap_or("")
        .to_lowercase();
    let intent = INTENTS
        .iter()
        .find(|(_, words)| words.iter().any(|w| last.contains(w)))
        .map_or("answer", |(i, _)| i);
    let h = fnv(&last);
    let openers = [
        "Thanks for reaching out.",
        "I can help with that.",
        "Sorry for the trouble.",
    ];
    let reply = format!(
        "{} I have looked into your {} question and here is what happens next.",
        openers[(h % 3) as usize],
        intent.replace('_', " ")
    );
    let prompt_chars: usize = messages
        .iter()
        .filter_map(|m| m["content"].as_str())
        .map(str::len)
        .sum();
    json!({
        "message": {"role": "assistant", "content": reply},
        "decision": intent,
        "score": round(0.6 + 0.39 * ((h >> 16) % 1000) as f64 / 1000.0, 3),
        "usage": {"prompt_tokens": prompt_chars / 4 + 3, "completion_tokens": reply.len() / 4},
        "finish_reason": "stop",
    })
}

fn pricing(version: Version, input: &Value) -> Value {
    let base = num(input, &["base_price"]).unwrap_or(1.0).max(0.01);
    let decimals = if text(input, &["currency"]) == Some("JPY") {
        0
    } else {
        2
    };
    let lowest = input["competitor_prices"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_f64)
                .fold(f64::INFINITY, f64::min)
        })
        .filter(|x| x.is_finite())
        .unwrap_or(base);
    let gap = lowest / base - 1.0;
    let inventory = num(input, &["inventory"]).unwrap_or(0.0);
    let views = num(input, &["demand_features", "views_1h"])
        .or_else(|| num(input, &["demand_features", "views_24h"]).map(|v| v / 18.0))
        .unwrap_or(0.0);
    let (decision, mut price) = if gap < -0.04 || inventory > 900.0 {
        ("lower", (lowest * 0.99).max(base * 0.85))
    } else if views > 60.0 && inventory < 300.0 {
        ("raise", base * 1.05)
    } else {
        ("hold", base)
    };
    price = round(price, decimals);
    if version == Version::V3 && decision == "raise" && decimals == 2 {
        price = price.floor() + 0.99;
    }
    let mut out = Map::new();
    out.insert("decision".into(), json!(decision));
    out.insert("price".into(), json!(price));
    out.insert(
        "discount_pct".into(),
        json!(round(((1.0 - price / base) * 100.0).max(0.0), 1)),
    );
    out.insert(
        "score".into(),
        json!(round(0.5 + 0.45 * sigmoid(gap.abs() * 20.0), 3)),
    );
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fraud_input(f0: f64) -> Value {
        json!({"transaction": {"country": "US", "card_country": "US", "channel": "pos"},
               "account": {"age_days": 400, "prior_chargebacks": 0, "txn_count_24h": 1},
               "features": [f0, 0, 1, 0, 0, 0.1, 0.7, 0]})
    }

    #[test]
    fn v1_is_deterministic_and_v2_only_reviews_more() {
        let params = json!({"threshold_review": 0.5, "threshold_decline": 0.78});
        for f0 in [0.1, 0.5, 0.8, 0.9, 1.0] {
            let input = fraud_input(f0);
            let a = decide(Version::V1, false, &input, Some(&params));
            assert_eq!(a, decide(Version::V1, false, &input, Some(&params)));
            let b = decide(Version::V2, false, &input, Some(&params));
            let score = a["score"].as_f64().unwrap_or(0.0);
            if a["decision"] == "approve" && score >= 0.45 {
                assert_eq!(b["decision"], "review");
            } else {
                assert_eq!(a, b);
            }
        }
    }

    #[test]
    fn v3_samples_its_explanation() {
        let input = json!({"sku": "SKU-1", "base_price": 10.0, "inventory": 100, "currency": "USD",
                           "competitor_prices": [10.5], "demand_features": {"views_1h": 90}});
        let a = decide(Version::V3, false, &input, None);
        let b = decide(Version::V3, false, &input, None);
        assert_ne!(a["explanation"], b["explanation"]);
        assert_eq!(a["price"], json!(10.99));
        assert_eq!(
            decide(Version::V1, false, &input, None)["price"],
            json!(10.5)
        );
        assert!(decide(Version::V1, false, &json!({"x": 1}), None)
            .get("error")
            .is_some());
    }
}
