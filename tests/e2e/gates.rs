//! `cairn replay --gate`: the deploy gate a pipeline requires. The example model's
//! v2 flips a known set of fraud decisions from approve to review, so each gate's
//! value is known before the run.

use serde_json::Value;

use crate::replay::{cmd, p, v2_flips, Recorded};

/// The exit status of a run that failed a gate.
const EXIT_GATE_FAILED: i32 = 3;

fn recorded_seq(stderr: &str) -> u64 {
    stderr
        .split("recorded as replay entry ")
        .nth(1)
        .and_then(|s| s.split(';').next())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no replay entry recorded: {stderr}"))
}

#[test]
fn a_failed_gate_exits_3_says_by_how_much_and_is_recorded_in_the_results() {
    let r = Recorded::new(5, 600, &[]);
    let flipped = r.seqs(v2_flips).len() as f64;
    let compared = r
        .decisions
        .iter()
        .filter(|d| d["stream"] == "payments.fraud")
        .count() as f64;
    assert!(flipped >= 3.0, "the workload has decisions that v2 flips");
    let share = flipped / compared;
    let results = r.ledger.path("gated.json");
    let page = r.ledger.path("gated.html");
    let strict = format!("flip[approve->review]<={}", share / 2.0);
    let run = r.replay(&[
        "--candidate-cmd",
        &cmd("--version v2"),
        "--stream",
        "payments.fraud",
        "--gate",
        "errors==0",
        "--gate",
        &strict,
        "--gate",
        "label_agreement>=0.5",
        "--json-out",
        p(&results),
        "--html",
        p(&page),
    ]);
    assert_eq!(run.code, EXIT_GATE_FAILED, "{}\n{}", run.stdout, run.stderr);
    let dom = crate::support::rendered_dom(&page).stdout;
    assert!(
        dom.contains("Gates: 2 of 3 passed; failed: flip[approve-&gt;review]"),
        "{dom}"
    );
    assert!(dom.contains("label agreement"), "{dom}");
    assert!(
        run.stderr
            .contains("gate failed: FAIL flip[approve->review]<="),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("gates: 2 of 3 passed"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.starts_with("replay against"), "{}", run.stdout);
    assert!(run.stdout.contains("label agreement "), "{}", run.stdout);

    // The gates are in the JSON results, and so under the recorded digest.
    let report: Value = serde_json::from_slice(&std::fs::read(&results).unwrap()).unwrap();
    let gates = report["gates"].as_array().unwrap();
    assert_eq!(gates.len(), 3);
    assert_eq!(gates[0]["gate"], "errors==0");
    assert_eq!(gates[0]["passed"], true);
    assert_eq!(gates[0]["value"], 0.0);
    assert_eq!(gates[1]["metric"], "flip[approve->review]");
    assert_eq!(gates[1]["op"], "<=");
    assert_eq!(gates[1]["passed"], false);
    let value = gates[1]["value"].as_f64().unwrap();
    assert!((value - share).abs() < 1e-12, "{value} vs {share}");
    let margin = gates[1]["margin"].as_f64().unwrap();
    assert!((margin - share / 2.0).abs() < 1e-12, "{margin}");
    assert_eq!(gates[2]["passed"], true);
    let label_agreement = report["label"]["agreement_rate"].as_f64().unwrap();
    assert!((label_agreement - (1.0 - share)).abs() < 1e-12);

    let seq = recorded_seq(&run.stderr);
    r.ledger
        .cairn(
            &["replay", "show"],
            &[&seq.to_string(), "--results", p(&results)],
        )
        .ok();
}

#[test]
fn gates_that_hold_exit_0_and_a_gate_that_cannot_be_measured_fails() {
    let r = Recorded::new(6, 300, &[]);
    let run = r.replay(&[
        "--candidate-cmd",
        &cmd("--version v1"),
        "--no-record",
        "--gate",
        "agreement>=0.98",
        "--gate",
        "label_agreement == 1",
        "--gate",
        "score_shift_mean<=0.02",
        "--gate",
        "p99_latency_ms<=60000",
        "--gate",
        "flip[approve->deny]<=0",
    ]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("gates: 5 of 5 passed"),
        "{}",
        run.stdout
    );

    // A score path that no output has: nothing to measure, so the gate fails.
    let run = r.replay(&[
        "--candidate-cmd",
        &cmd("--version v1"),
        "--no-record",
        "--json",
        "--score-path",
        "$.no_such_field",
        "--gate",
        "score_shift_mean<=0.02",
    ]);
    assert_eq!(run.code, EXIT_GATE_FAILED, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["gates"][0]["value"], Value::Null);
    assert!(run.stderr.contains("not measurable"), "{}", run.stderr);
}

#[test]
fn a_malformed_gate_is_refused_before_anything_runs_or_is_recorded() {
    let r = Recorded::new(7, 50, &[]);
    for (gate, says) in [
        ("agreement", "expected METRIC OP NUMBER"),
        ("agreemnt>=0.9", "unknown metric \"agreemnt\""),
        ("agreement>=lots", "is not a finite number"),
    ] {
        let run = r.replay(&["--candidate-cmd", &cmd("--version v1"), "--gate", gate]);
        assert_eq!(run.code, 2, "{gate}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{gate}: {}", run.stderr);
        assert!(!run.stderr.contains("recorded as replay entry"));
    }
    let size = r.ledger.cairn(&["verify"], &["--json"]).ok().json();
    assert_eq!(size["size"].as_u64(), Some(50), "{size}");
}
