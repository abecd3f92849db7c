//! `schemas/openapi.yaml` and the router agree: same routes and methods, same
//! error codes; and every route of the table is really served.

use std::collections::BTreeSet;

use cairn_server::{ErrorCode, Settings, ROUTES};
use yaml_rust2::{Yaml, YamlLoader};

use crate::support::start;

fn spec() -> Yaml {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/openapi.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    YamlLoader::load_from_str(&text).unwrap().remove(0)
}

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

fn spec_routes(spec: &Yaml) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in spec["paths"].as_hash().expect("paths") {
        for (method, _) in item.as_hash().unwrap() {
            let method = method.as_str().unwrap();
            if METHODS.contains(&method) {
                out.insert((method.to_uppercase(), path.as_str().unwrap().to_owned()));
            }
        }
    }
    out
}

#[test]
fn the_spec_describes_exactly_the_routes_served() {
    let spec = spec();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(spec_routes(&spec), served);
}

#[test]
fn every_operation_documents_its_answers_and_the_error_codes_match() {
    let spec = spec();
    for (method, path) in ROUTES {
        let op = &spec["paths"][*path][method.to_lowercase().as_str()];
        assert!(
            op["operationId"].as_str().is_some(),
            "{method} {path}: operationId"
        );
        let responses = op["responses"]
            .as_hash()
            .unwrap_or_else(|| panic!("{method} {path}: responses"));
        assert!(
            responses.contains_key(&Yaml::String("200".into())),
            "{method} {path}: 200"
        );
    }
    let append = &spec["paths"]["/v1/decisions"]["post"]["responses"];
    for status in [
        "200", "400", "401", "403", "408", "413", "415", "429", "503",
    ] {
        assert!(
            !append[status].is_badvalue(),
            "POST /v1/decisions does not document {status}"
        );
    }
    let codes: BTreeSet<&str> = spec["components"]["schemas"]["Error"]["properties"]["code"]
        ["enum"]
        .as_vec()
        .expect("Error.code enum")
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let ours: BTreeSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(codes, ours);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_in_the_table_is_served_and_nothing_else() {
    let d = start(Settings::default()).await;
    for (method, path) in ROUTES {
        let url = d.url(&path.replace("{seq}", "0"));
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let r = d.client.request(method.clone(), url).send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        assert_ne!(status, 405, "{method} {path}");
        assert!(
            !text.contains("no route"),
            "{method} {path} is not routed: {text}"
        );
    }
    let r = d.get("/v1/secret").await;
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (404, Some("not_found"))
    );
    d.stop().await;
}

#[test]
fn the_decision_schema_is_referred_to_not_copied() {
    let spec = spec();
    let decision = &spec["components"]["schemas"]["Decision"];
    assert_eq!(decision["$ref"].as_str(), Some("decision.schema.json"));
    assert!(
        decision["properties"].is_badvalue(),
        "no second copy of the fields to drift"
    );
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../schemas/decision.schema.json"
    );
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(schema["title"], "Cairn decision");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_status_the_daemon_answers_is_documented_for_its_route() {
    let spec = spec();
    let description = spec["info"]["description"].as_str().unwrap();
    assert!(description.contains("`405`") && description.contains("`404`"));
    let d = start(Settings::default()).await;
    d.post_json(&crate::support::decision(0)).await;

    // (method, route in the spec, path and query asked, body)
    let asked: &[(&str, &str, &str, &str)] = &[
        ("POST", "/v1/decisions", "/v1/decisions", "{}"),
        ("POST", "/v1/decisions", "/v1/decisions", "not json"),
        ("POST", "/v1/replays", "/v1/replays", "{}"),
        ("GET", "/v1/checkpoint", "/v1/checkpoint", ""),
        (
            "GET",
            "/v1/proofs/inclusion",
            "/v1/proofs/inclusion?seq=0&size=1",
            "",
        ),
        (
            "GET",
            "/v1/proofs/inclusion",
            "/v1/proofs/inclusion?seq=x",
            "",
        ),
        (
            "GET",
            "/v1/proofs/inclusion",
            "/v1/proofs/inclusion?seq=5&size=1",
            "",
        ),
        (
            "GET",
            "/v1/proofs/consistency",
            "/v1/proofs/consistency?from=0&to=1",
            "",
        ),
        (
            "GET",
            "/v1/proofs/consistency",
            "/v1/proofs/consistency?from=2&to=1",
            "",
        ),
        ("GET", "/v1/entries/{seq}", "/v1/entries/0", ""),
        ("GET", "/v1/entries/{seq}", "/v1/entries/99", ""),
        ("GET", "/v1/entries/{seq}", "/v1/entries/x", ""),
        ("GET", "/healthz", "/healthz", ""),
        ("GET", "/readyz", "/readyz", ""),
        ("GET", "/metrics", "/metrics", ""),
    ];
    for (method, route, path, body) in asked {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let r = d
            .client
            .request(m, d.url(path))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16().to_string();
        let documented = &spec["paths"][*route][method.to_lowercase().as_str()]["responses"];
        assert!(
            !documented[status.as_str()].is_badvalue(),
            "{method} {path} answered {status}, which the spec does not document for {route}"
        );
    }

    // A method a route does not take: 405, and `Allow` names what the spec
    // lists (and HEAD beside GET, which HTTP servers answer alike).
    for (path, item) in spec["paths"].as_hash().unwrap() {
        let route = path.as_str().unwrap();
        let mut listed: Vec<String> = item
            .as_hash()
            .unwrap()
            .keys()
            .map(|k| k.as_str().unwrap().to_uppercase())
            .filter(|m| METHODS.contains(&m.to_lowercase().as_str()))
            .collect();
        if listed.iter().any(|m| m == "GET") {
            listed.push("HEAD".into());
        }
        listed.sort();
        let r = d
            .client
            .delete(d.url(&route.replace("{seq}", "0")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 405, "DELETE {route}");
        let mut allow: Vec<String> = r.headers()["allow"]
            .to_str()
            .unwrap()
            .split(", ")
            .map(str::to_owned)
            .collect();
        allow.sort();
        assert_eq!(allow, listed, "Allow of {route}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["code"], "method_not_allowed");
    }
    d.stop().await;
}
