//! The breaker on synthetic traffic with a seeded generator: a label-mix shift
//! trips it within a known number of decisions, A/A deploys (same model, new
//! version number) over many windows do not.

use super::*;

/// SplitMix64: a small seeded generator, enough for test traffic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A decision of a model whose label shares are `mix` (approve, review, deny).
fn decision(rng: &mut Rng, version: &str, mix: [f64; 3]) -> Observation {
    let u = rng.next();
    let (label, base) = if u < mix[0] {
        ("approve", 0.1)
    } else if u < mix[0] + mix[1] {
        ("review", 0.5)
    } else {
        ("deny", 0.8)
    };
    Observation {
        stream: "payments.fraud".into(),
        model: Version {
            model: "fraud".into(),
            version: version.into(),
        },
        label: Some(label.into()),
        score: Some(base + 0.2 * rng.next()),
        latency_ms: Some(2.0 + 3.0 * rng.next()),
    }
}

const MIX: [f64; 3] = [0.8, 0.15, 0.05];
const SHIFTED: [f64; 3] = [0.6, 0.15, 0.25];
/// Decisions per second of recorded time.
const RATE: i64 = 50;
/// Checks run after every this many decisions (a group commit).
const GROUP: u64 = 20;

/// Send `count` decisions of `version` from time `t` (µs), checking after every
/// group; returns the decision count at which the breaker opened, if it did.
fn run(
    state: &mut State,
    rng: &mut Rng,
    t: &mut i64,
    version: &str,
    mix: [f64; 3],
    count: u64,
) -> Option<u64> {
    for i in 1..=count {
        *t += 1_000_000 / RATE;
        state.observe(*t, &decision(rng, version, mix));
        if i % GROUP == 0 && state.evaluate("payments.fraud", *t).is_some() {
            return Some(i);
        }
    }
    None
}

fn thresholds() -> Thresholds {
    Thresholds::default()
}

#[test]
fn a_label_mix_shift_trips_within_min_samples_plus_one_group() {
    let mut state = State::new(Limits::default(), thresholds());
    let mut rng = Rng(7);
    let mut t = 1_000_000_000_000;
    assert_eq!(run(&mut state, &mut rng, &mut t, "6", MIX, 3000), None);
    let at = run(&mut state, &mut rng, &mut t, "7", SHIFTED, 3000).expect("the shift trips");
    let min = thresholds().min_samples;
    assert!(
        at >= min && at <= min + GROUP,
        "tripped after {at} decisions"
    );
    let view = state.view();
    let Breaker::Open { trip, .. } = &view[0].breaker else {
        panic!("open: {:?}", view[0].breaker)
    };
    assert_eq!(trip.check.check, "label_mix");
    assert_eq!(
        (
            trip.current.version.as_str(),
            trip.reference.version.as_str()
        ),
        ("7", "6")
    );
    assert!(trip.check.statistic > trip.check.threshold);

    // A reset accepts 7 against 6: no new trip; a newer version is checked again.
    assert!(state.reset("payments.fraud"));
    assert_eq!(run(&mut state, &mut rng, &mut t, "7", SHIFTED, 1000), None);
    assert!(matches!(state.view()[0].breaker, Breaker::Closed));
    assert_eq!(state.view()[0].trips, vec![("label_mix".to_owned(), 1)]);
}

#[test]
fn an_open_breaker_closes_after_the_checks_pass_for_the_configured_time() {
    let limits = Limits {
        close_after_ms: 10_000,
        ..Limits::default()
    };
    let mut state = State::new(limits, thresholds());
    let mut rng = Rng(8);
    let mut t = 1_000_000_000_000;
    run(&mut state, &mut rng, &mut t, "1", MIX, 3000);
    assert!(run(&mut state, &mut rng, &mut t, "2", SHIFTED, 1000).is_some());
    // Version 2 is fixed: once its window holds only good traffic the checks
    // pass, and 10 s later the breaker closes by itself.
    run(&mut state, &mut rng, &mut t, "2", MIX, 6000);
    assert!(
        matches!(state.view()[0].breaker, Breaker::Closed),
        "{:?}",
        state.view()[0].breaker
    );
}

/// The false-trip rate of A/A deploys: 300 seeded deploys of the same model under
/// a new version number, each followed for 10 windows (about 5,300 checks per
/// ... see BENCHMARKS.md for the figure), never trip.
#[test]
fn aa_deploys_do_not_trip_over_many_windows() {
    let deploys = 300;
    let mut tripped = 0;
    let mut checks = 0u64;
    for seed in 0..deploys {
        let mut state = State::new(Limits::default(), thresholds());
        let mut rng = Rng(1000 + seed);
        let mut t = 1_000_000_000_000;
        run(&mut state, &mut rng, &mut t, "1", MIX, 3000);
        // 10 windows of 60 s at 50/s.
        let n = 10 * 60 * RATE as u64;
        checks += n / GROUP;
        if run(&mut state, &mut rng, &mut t, "2", MIX, n).is_some() {
            tripped += 1;
        }
    }
    eprintln!("A/A: {tripped} of {deploys} deploys tripped over {checks} checks");
    assert_eq!(tripped, 0, "false trips in {deploys} A/A deploys");
}

#[test]
fn labels_past_the_cap_count_as_other_and_streams_past_the_cap_are_dropped() {
    let limits = Limits {
        labels_max: 2,
        streams_max: 1,
        ..Limits::default()
    };
    let mut state = State::new(limits, thresholds());
    let mut rng = Rng(9);
    for label in ["a", "b", "c", "d", "a"] {
        let mut o = decision(&mut rng, "1", MIX);
        o.label = Some(label.into());
        state.observe(1_000_000, &o);
    }
    let mut o = decision(&mut rng, "1", MIX);
    o.stream = "another".into();
    state.observe(1_000_000, &o);
    assert_eq!(state.dropped, 1);
    let view = state.view();
    assert_eq!(view.len(), 1);
    assert_eq!(
        view[0].versions[0].labels,
        vec![
            ("a".to_owned(), 2),
            ("b".to_owned(), 1),
            ("other".to_owned(), 2)
        ]
    );
}

#[test]
fn a_pinned_reference_is_compared_instead_of_the_previous_version() {
    let mut state = State::new(Limits::default(), thresholds());
    let mut rng = Rng(10);
    let mut t = 1_000_000_000_000;
    run(&mut state, &mut rng, &mut t, "1", MIX, 3000);
    run(&mut state, &mut rng, &mut t, "2", SHIFTED, 3000);
    state.reset("payments.fraud");
    let v1 = Version {
        model: "fraud".into(),
        version: "1".into(),
    };
    let v9 = Version {
        model: "fraud".into(),
        version: "9".into(),
    };
    assert_eq!(
        state.pin("payments.fraud", Some(v9)),
        Err(PinError::UnknownVersion)
    );
    assert_eq!(state.pin("nope", None), Err(PinError::UnknownStream));
    state
        .pin("payments.fraud", Some(v1.clone()))
        .expect("tracked");
    // Version 3 behaves like 2: against 2 it would pass, against the pinned 1 it trips.
    let at = run(&mut state, &mut rng, &mut t, "3", SHIFTED, 3000).expect("trips against the pin");
    assert!(at <= thresholds().min_samples + GROUP, "{at}");
    let view = state.view();
    let Breaker::Open { trip, .. } = &view[0].breaker else {
        panic!("open")
    };
    assert_eq!(trip.reference, v1);
    assert_eq!(view[0].pinned, Some(v1));
}
