//! Card-fraud scoring decisions on the `payments.fraud` stream.
//!
//! A risk score is built from the transaction's risk factors plus noise. Model
//! 8 is calibrated more aggressively than model 7 and has lower thresholds, so
//! after the version change the share of reviews and declines rises.

use rand::Rng;
use serde_json::json;

use crate::rng::{mix64, round, stable_unit, RngExt};
use crate::{session_slot, session_step, tenant_of, Draft, ModelSpec, Open, Synth, STREAM_FRAUD};

/// The fraud model: 7.3.1 until 40% of the run, then 8.0.0.
pub(crate) const MODEL: ModelSpec = ModelSpec {
    name: "fraud-model",
    versions: &["7.3.1", "8.0.0"],
    changes: &[0.40],
    with_digest: true,
};

/// Per-version calibration: (score offset, review threshold, decline threshold).
const CALIBRATION: [(f64, f64, f64); 2] = [(-3.0, 0.5, 0.78), (-2.7, 0.42, 0.66)];

/// A checkout session: one card holder on one device.
pub(crate) struct SessionState {
    channel: &'static str,
    device_id: String,
    new_device: bool,
    txns: u32,
}

/// (country, currency, units per USD, decimals, weight).
const COUNTRIES: [(&str, &str, f64, i32, u32); 16] = [
    ("US", "USD", 1.0, 2, 30),
    ("GB", "GBP", 0.79, 2, 8),
    ("DE", "EUR", 0.92, 2, 8),
    ("FR", "EUR", 0.92, 2, 6),
    ("NL", "EUR", 0.92, 2, 3),
    ("ES", "EUR", 0.92, 2, 4),
    ("IT", "EUR", 0.92, 2, 4),
    ("CA", "CAD", 1.36, 2, 6),
    ("AU", "AUD", 1.52, 2, 4),
    ("JP", "JPY", 150.0, 0, 5),
    ("BR", "BRL", 5.0, 2, 4),
    ("IN", "INR", 83.0, 2, 4),
    ("SG", "SGD", 1.34, 2, 2),
    ("MX", "MXN", 17.0, 2, 3),
    ("SE", "SEK", 10.5, 2, 2),
    ("PL", "PLN", 4.0, 2, 2),
];

/// (merchant name, MCC, risk level 0..=2, median ticket in USD, weight).
const MERCHANTS: [(&str, &str, u8, f64, u32); 18] = [
    ("Blue Harbor Coffee", "5814", 0, 7.5, 14),
    ("Northline Grocers", "5411", 0, 54.0, 14),
    ("QuickFuel", "5541", 0, 42.0, 9),
    ("Bella Cucina", "5812", 0, 38.0, 8),
    ("City Pharmacy", "5912", 0, 23.0, 7),
    ("Metro Transit", "4111", 0, 3.5, 6),
    ("StreamBox", "4899", 0, 14.99, 6),
    ("Harbor Hardware", "5251", 0, 61.0, 5),
    ("Velo Sports", "5941", 0, 88.0, 4),
    ("Pixel Electronics", "5732", 1, 240.0, 5),
    ("Skyway Airlines", "4511", 1, 410.0, 3),
    ("Grand Plaza Hotel", "7011", 1, 280.0, 3),
    ("Atlas Car Rental", "7512", 1, 190.0, 2),
    ("Lumen Digital Goods", "5818", 1, 19.0, 4),
    ("Gift Card Hub", "5999", 2, 150.0, 2),
    ("Luxe Watches", "5944", 2, 1200.0, 1),
    ("CryptoNest Exchange", "6051", 2, 500.0, 1),
    ("PlayVault Games", "5816", 2, 45.0, 3),
];

const CHANNELS: [(&str, u32); 3] = [("ecommerce", 58), ("pos", 37), ("moto", 5)];
const SESSION_LENGTHS: [(u32, u32); 4] = [(1, 60), (2, 25), (3, 10), (4, 5)];

fn country_index_stable(entity: u64, salt: u64) -> usize {
    let total: u32 = COUNTRIES.iter().map(|c| c.4).sum();
    let mut ticket = (stable_unit(entity, salt) * f64::from(total)) as u32;
    for (i, c) in COUNTRIES.iter().enumerate() {
        if ticket < c.4 {
            return i;
        }
        ticket -= c.4;
    }
    0
}

fn country_index_random<R: Rng>(rng: &mut R) -> usize {
    let weights: Vec<(usize, u32)> = COUNTRIES
        .iter()
        .enumerate()
        .map(|(i, c)| (i, c.4))
        .collect();
    rng.pick_weighted(&weights)
}

/// The card's BIN: Visa, Mastercard or Amex, stable for a subject.
fn card_bin(subject: u32) -> String {
    let h = mix64(u64::from(subject) ^ 0xb1b1_b1b1);
    let scheme = h % 100;
    let digits = (h >> 8) % 10_000;
    if scheme < 55 {
        format!("4{:05}", (h >> 24) % 100_000)
    } else if scheme < 90 {
        format!("5{}{digits:04}", 1 + (h >> 40) % 5)
    } else {
        format!("37{digits:04}")
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Generates one fraud-scoring decision.
pub(crate) fn generate(s: &mut Synth) -> Draft {
    let version = s.version(&MODEL);
    let slot = match session_slot(&s.fraud_sessions, &mut s.rng, &s.population, 0.3, 64) {
        Ok(slot) => slot,
        Err(subject) => {
            let id = s.new_session_id();
            let rng = &mut s.rng;
            let state = SessionState {
                channel: rng.pick_weighted(&CHANNELS),
                device_id: format!("dev-{}", rng.hex(12)),
                new_device: rng.chance(0.12),
                txns: 0,
            };
            let left = rng.pick_weighted(&SESSION_LENGTHS);
            s.fraud_sessions.push(Open {
                subject,
                id,
                left,
                state,
            });
            s.fraud_sessions.len() - 1
        }
    };
    let rng = &mut s.rng;
    let open = &mut s.fraud_sessions[slot];
    open.state.txns += 1;
    let subject = open.subject;
    let session = open.id.clone();
    let st = &open.state;
    let sub = u64::from(subject);

    // The card holder and the transaction.
    let home = country_index_stable(sub, 0x40e);
    let cross_border = rng.chance(if st.channel == "pos" { 0.06 } else { 0.14 });
    let tx_country = if cross_border {
        country_index_random(rng)
    } else {
        home
    };
    let cross_border = tx_country != home;
    let (country, currency, per_usd, decimals, _) = COUNTRIES[tx_country];
    let card_country = COUNTRIES[home].0;
    let weights: Vec<(usize, u32)> = MERCHANTS
        .iter()
        .enumerate()
        .map(|(i, m)| (i, m.4))
        .collect();
    let mi = rng.pick_weighted(&weights);
    let (merchant, mcc, risk_level, median_usd, _) = MERCHANTS[mi];
    let amount_usd = rng.lognormal(median_usd, 0.7).max(0.5);
    let amount = round(amount_usd * per_usd, decimals);
    let merchant_id = format!(
        "mch-{:06}",
        mix64((mi as u64) << 8 | tx_country as u64) % 1_000_000
    );
    let ecommerce = st.channel == "ecommerce";
    let ip_mismatch = ecommerce && rng.chance(0.06);
    let ip_country = if ip_mismatch {
        COUNTRIES[country_index_random(rng)].0
    } else {
        card_country
    };
    let three_ds = ecommerce && rng.chance(0.7);
    let age_days = (stable_unit(sub, 0xa9e).powi(2) * 3650.0) as u32 + 1;
    let chargebacks = if stable_unit(sub, 0xcb) < 0.03 {
        1 + (sub % 3) as u32
    } else {
        0
    };
    let txn_24h = st.txns + rng.random_range(0..6);

    // Risk factors and their contributions to the score.
    let mut factors: Vec<(&str, f64)> = Vec::new();
    if cross_border {
        factors.push(("cross_border", if version == 0 { 1.0 } else { 1.3 }));
    }
    if amount_usd > 400.0 {
        factors.push(("high_amount", 0.6 + 0.5 * (amount_usd / 400.0).ln()));
    }
    match risk_level {
        1 => factors.push(("elevated_risk_mcc", 0.5)),
        2 => factors.push(("high_risk_mcc", 1.2)),
        _ => {}
    }
    if ecommerce && st.new_device {
        factors.push(("new_device", 0.9));
    }
    if ip_mismatch {
        factors.push(("ip_country_mismatch", 1.0));
    }
    if st.txns >= 2 {
        factors.push(("velocity", 0.45 * f64::from(st.txns - 1)));
    }
    if age_days < 30 {
        factors.push(("new_account", 0.8));
    }
    if ecommerce && !three_ds {
        factors.push(("no_3ds", 0.4));
    }
    if chargebacks > 0 {
        factors.push(("prior_chargebacks", 0.7 * f64::from(chargebacks)));
    }
    let (offset, review_at, decline_at) = CALIBRATION[version.min(1)];
    let raw: f64 = factors.iter().map(|f| f.1).sum::<f64>() + 1.2 * rng.normal() + offset;
    let score = round(sigmoid(raw), 4);
    let decision = if score >= decline_at {
        "decline"
    } else if score >= review_at {
        "review"
    } else {
        "approve"
    };
    factors.sort_by(|a, b| b.1.total_cmp(&a.1));
    let reasons: Vec<&str> = if decision == "approve" && score < 0.2 {
        factors
            .iter()
            .take(1)
            .filter(|f| f.1 >= 1.0)
            .map(|f| f.0)
            .collect()
    } else {
        factors.iter().take(3).map(|f| f.0).collect()
    };

    // The feature vector: a few engineered features, then learned embeddings.
    let dims = rng.random_range(16..=64usize);
    let mut features = Vec::with_capacity(dims);
    let engineered = [
        (1.0 + amount_usd).ln() / 8.0,
        f64::from(u8::from(cross_border)),
        f64::from(risk_level) / 2.0,
        f64::from(u8::from(ecommerce && st.new_device)),
        f64::from(u8::from(ip_mismatch)),
        f64::from(txn_24h) / 10.0,
        (f64::from(age_days)).ln() / 8.0,
        f64::from(u8::from(three_ds)),
    ];
    features.extend(engineered.iter().map(|x| round(*x, 4)));
    while features.len() < dims {
        features.push(round(rng.normal() * 0.8, 4));
    }

    let mut transaction = json!({
        "amount": amount,
        "currency": currency,
        "merchant": { "id": merchant_id, "name": merchant, "mcc": mcc, "country": country },
        "country": country,
        "card_bin": card_bin(subject),
        "card_country": card_country,
        "channel": st.channel,
    });
    if ecommerce {
        transaction["ip_country"] = ip_country.into();
        transaction["device_id"] = st.device_id.clone().into();
        transaction["three_ds"] = three_ds.into();
    }
    let input = json!({
        "transaction": transaction,
        "account": { "age_days": age_days, "prior_chargebacks": chargebacks, "txn_count_24h": txn_24h },
        "features": features,
    });
    let output = json!({ "decision": decision, "score": score, "reasons": reasons });
    let params = json!({
        "feature_set": if version == 0 { "fs-2026-07" } else { "fs-2026-10" },
        "threshold_review": review_at,
        "threshold_decline": decline_at,
    });
    let median_ms = if version == 0 { 6.5 } else { 9.0 };
    let latency_ms = round(rng.lognormal(median_ms, 0.35) + dims as f64 * 0.02, 2);
    let channel = st.channel.to_string();
    session_step(&mut s.fraud_sessions, slot);

    Draft {
        stream: STREAM_FRAUD,
        model: MODEL.json(version),
        subject: Some(subject),
        session: Some(session),
        operation: "score_transaction",
        params: Some(params),
        input,
        output,
        decision: decision.to_string(),
        score,
        latency_ms,
        tenant: tenant_of(subject),
        extra_attributes: vec![("channel", channel)],
        with_request_id: true,
        p_attributes: 0.96,
        p_trace: 0.92,
        p_idempotency: 0.55,
    }
}
