//! Dynamic-pricing decisions on the `commerce.pricing` stream.
//!
//! Most records are price quotes for a shopper browsing a catalogue (sessions
//! group one shopper's quotes); the rest come from a nightly repricing job and
//! carry no subject, session or trace. Version 3.2 matches competitors more
//! eagerly (more `lower`), version 3.3 leans on demand (more `raise`).

use rand::Rng;
use serde_json::{json, Map, Value};

use crate::rng::{round, stable_unit, RngExt};
use crate::{
    session_slot, session_step, tenant_of, Draft, ModelSpec, Open, Synth, STREAM_PRICING, TENANTS,
};

/// The pricing model: 3.1.0, then 3.2.0 from 25% of the run, 3.3.0 from 80%.
pub(crate) const MODEL: ModelSpec = ModelSpec {
    name: "dynamic-pricer",
    versions: &["3.1.0", "3.2.0", "3.3.0"],
    changes: &[0.25, 0.80],
    with_digest: false,
};

/// Size of the SKU catalogue.
pub(crate) const SKUS: u32 = 5000;

const CATEGORIES: [(&str, f64); 8] = [
    ("electronics", 180.0),
    ("home", 45.0),
    ("apparel", 38.0),
    ("grocery", 6.5),
    ("toys", 24.0),
    ("sports", 55.0),
    ("beauty", 19.0),
    ("books", 14.0),
];

const STRATEGIES: [&str; 3] = ["margin_guard", "match_lowest", "demand_curve"];
const SESSION_LENGTHS: [(u32, u32); 6] = [(1, 25), (2, 20), (3, 18), (4, 14), (6, 13), (10, 10)];

/// A shopper's browsing session; quotes share the shopper's currency.
pub(crate) struct SessionState {
    category: usize,
}

/// Per-currency (units per USD, decimals).
fn currency_scale(currency: &str) -> (f64, i32) {
    match currency {
        "EUR" => (0.92, 2),
        "GBP" => (0.79, 2),
        "SGD" => (1.34, 2),
        "JPY" => (150.0, 0),
        _ => (1.0, 2),
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Generates one pricing decision.
pub(crate) fn generate(s: &mut Synth) -> Draft {
    let version = s.version(&MODEL);
    let batch = s.rng.chance(0.18);
    let (subject, session, category_hint) = if batch {
        (None, None, None)
    } else {
        let slot = match session_slot(&s.pricing_sessions, &mut s.rng, &s.population, 0.6, 64) {
            Ok(slot) => slot,
            Err(subject) => {
                let id = s.new_session_id();
                let state = SessionState {
                    category: s.rng.random_range(0..CATEGORIES.len()),
                };
                let left = s.rng.pick_weighted(&SESSION_LENGTHS);
                s.pricing_sessions.push(Open {
                    subject,
                    id,
                    left,
                    state,
                });
                s.pricing_sessions.len() - 1
            }
        };
        let open = &s.pricing_sessions[slot];
        let out = (
            Some(open.subject),
            Some(open.id.clone()),
            Some(open.state.category),
        );
        session_step(&mut s.pricing_sessions, slot);
        out
    };
    let tenant = match subject {
        Some(sub) => tenant_of(sub),
        None => &s.rng.pick(&TENANTS).0,
    };
    let rng = &mut s.rng;

    // The SKU: shoppers mostly stay in one category; the catalogue is skewed.
    // A SKU's category is its number modulo the number of categories.
    let mut sku_n = s.sku_population.draw(rng);
    let per = CATEGORIES.len() as u32;
    if let Some(c) = category_hint {
        if rng.chance(0.75) {
            sku_n = (sku_n / per * per + c as u32) % SKUS;
        }
    }
    let sku_u = u64::from(sku_n);
    let (category_name, median_usd) = CATEGORIES[(sku_n % per) as usize];
    let (per_usd, decimals) = currency_scale(tenant.currency);
    let z = (stable_unit(sku_u, 0x9a1) - 0.5) * 3.0;
    let base_price = round((median_usd * (0.6 * z).exp() * per_usd).max(0.5), decimals);
    let sku = format!("SKU-{sku_n:06}");

    // Market state.
    let inventory = rng.lognormal(320.0, 1.3).round() as u64;
    let demand = rng.normal();
    let competitors = if batch {
        rng.random_range(1..=3)
    } else {
        rng.random_range(2..=8)
    };
    let competitor_prices: Vec<f64> = (0..competitors)
        .map(|_| round(base_price * (1.03 + 0.05 * rng.normal()).max(0.6), decimals))
        .collect();
    let lowest = competitor_prices
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min);
    let gap = lowest / base_price - 1.0;
    let views = (rng.lognormal(40.0, 0.6) * (0.5 * demand).exp()).round() as u64;
    let conversion = round(
        (0.025 * (0.4 * demand).exp() * rng.lognormal(1.0, 0.2)).min(0.5),
        4,
    );

    // The decision, with per-version rules.
    let overstock = inventory > 900;
    let (raise, lower) = match version {
        0 => (
            demand > 1.0 && inventory < 300 || demand > 1.7,
            gap < -0.06 || overstock && demand < -0.5,
        ),
        1 => (
            demand > 1.0 && inventory < 300 || demand > 1.7,
            gap < -0.02 || overstock && demand < -0.2,
        ),
        _ => (
            demand > 0.5 && inventory < 400 || demand > 1.2,
            gap < -0.04 || overstock && demand < -0.5,
        ),
    };
    let (decision, price, strength) = if raise && !lower {
        let up = 0.02 + 0.08 * rng.unit();
        ("raise", base_price * (1.0 + up), demand.abs())
    } else if lower {
        let floor = base_price * if version == 1 { 0.8 } else { 0.85 };
        let target = (lowest * (0.99 - 0.02 * rng.unit()))
            .max(floor)
            .min(base_price * 0.98);
        ("lower", target, (-gap * 20.0).max(0.5))
    } else {
        ("hold", base_price, 0.8 - demand.abs() * 0.3)
    };
    let price = round(price, decimals);
    let discount_pct = round(((1.0 - price / base_price) * 100.0).max(0.0), 1);
    let score = round(
        (0.5 + 0.45 * sigmoid(strength + 0.4 * rng.normal())).min(0.99),
        3,
    );

    let mut demand_features = Map::new();
    if batch {
        demand_features.insert("views_24h".into(), (views * 18).into());
    } else {
        demand_features.insert("views_1h".into(), views.into());
        let atc = round((0.08 * (0.3 * demand).exp()).min(0.9), 4);
        demand_features.insert("add_to_cart_rate".into(), atc.into());
        demand_features.insert("conversion_rate_7d".into(), conversion.into());
        let season = round(1.0 + 0.15 * rng.normal(), 3);
        demand_features.insert("seasonality_index".into(), season.into());
        demand_features.insert(
            "days_since_restock".into(),
            rng.random_range(0..60u32).into(),
        );
        let elasticity = round(-0.4 - 1.8 * stable_unit(sku_u, 0xe1a), 3);
        demand_features.insert("price_elasticity".into(), elasticity.into());
    }
    let mut input = json!({
        "sku": sku,
        "currency": tenant.currency,
        "base_price": base_price,
        "inventory": inventory,
        "competitor_prices": competitor_prices,
        "demand_features": Value::Object(demand_features),
    });
    if !batch {
        input["category"] = category_name.into();
    }
    let output = json!({ "price": price, "discount_pct": discount_pct, "decision": decision });
    let params = json!({
        "strategy": STRATEGIES[version.min(STRATEGIES.len() - 1)],
        "max_change_pct": if version == 1 { 20 } else { 15 },
        "floor_margin": 0.12,
    });
    let latency_ms = if batch {
        round(rng.lognormal(2.8, 0.3), 2)
    } else {
        round(rng.lognormal(11.0, 0.4), 2)
    };
    let extra_attributes = if batch {
        vec![("job", "nightly-reprice".to_string())]
    } else {
        vec![(
            "surface",
            (*rng.pick(&["web", "web", "ios", "android"])).to_string(),
        )]
    };

    Draft {
        stream: STREAM_PRICING,
        model: MODEL.json(version),
        subject,
        session,
        operation: if batch { "batch_reprice" } else { "quote" },
        params: (!batch).then_some(params),
        input,
        output,
        decision: decision.to_string(),
        score,
        latency_ms,
        tenant,
        extra_attributes,
        with_request_id: !batch,
        p_attributes: if batch { 0.5 } else { 0.96 },
        p_trace: if batch { 0.0 } else { 0.9 },
        p_idempotency: if batch { 0.3 } else { 0.05 },
    }
}
