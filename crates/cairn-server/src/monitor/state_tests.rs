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
    run_at(state, rng, t, (version, mix), count, RATE)
}

/// [`run`] at `rate` decisions per second of recorded time.
fn run_at(
    state: &mut State,
    rng: &mut Rng,
    t: &mut i64,
    (version, mix): (&str, [f64; 3]),
    count: u64,
    rate: i64,
) -> Option<u64> {
    for i in 1..=count {
        *t += 1_000_000 / rate;
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
        (trip.window.as_str(), trip.window_ms),
        ("1m", 60_000),
        "the shortest window trips first"
    );
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

/// A/A deploys: `deploys` seeded deploys of the same model under a new version
/// number, at `rate` decisions/s of recorded time, each followed for `minutes`
/// after 3,000 decisions of the old version. Returns (deploys tripped, check
/// rounds), a round being every check on every window after a group.
fn aa_run(deploys: u64, rate: i64, minutes: u64) -> (u64, u64) {
    let (mut tripped, mut rounds) = (0, 0);
    for seed in 0..deploys {
        let mut state = State::new(Limits::default(), thresholds());
        let mut rng = Rng(1000 + seed);
        let mut t = 1_000_000_000_000;
        run_at(&mut state, &mut rng, &mut t, ("1", MIX), 3000, rate);
        let n = minutes * 60 * rate as u64;
        rounds += n / GROUP;
        if run_at(&mut state, &mut rng, &mut t, ("2", MIX), n, rate).is_some() {
            tripped += 1;
        }
    }
    eprintln!(
        "A/A: {tripped} of {deploys} deploys tripped over {rounds} check rounds \
         ({rate}/s, {minutes} min each, windows 1m and 15m)"
    );
    (tripped, rounds)
}

/// The false-trip rate of A/A deploys: 300 seeded deploys, each followed for 10
/// one-minute windows (the 15-minute window fills meanwhile), never trip. The
/// figure and the longer run are in `schemas/monitor.md`.
#[test]
fn aa_deploys_do_not_trip_over_many_windows() {
    let (tripped, _) = aa_run(300, RATE, 10);
    assert_eq!(tripped, 0, "false trips in 300 A/A deploys");
}

/// The long run behind the false-trip rate in `schemas/monitor.md`: 1,000
/// deploys, each followed for 150 minutes (150 one-minute windows, 10
/// fifteen-minute ones). Minutes of CPU: run it with
/// `cargo test --release -p cairn-server --lib aa_long_run -- --ignored --nocapture`.
#[test]
#[ignore = "long: the measured false-trip rate (schemas/monitor.md)"]
fn aa_long_run() {
    let (tripped, _) = aa_run(1000, 10, 150);
    assert_eq!(tripped, 0, "false trips in 1000 A/A deploys");
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
        view[0].versions[0].windows[0].labels,
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

#[test]
fn each_window_keeps_its_own_counts_and_checks() {
    let mut state = State::new(Limits::default(), thresholds());
    let mut rng = Rng(11);
    let mut t = 1_000_000_000_000;
    // Five minutes at 50/s.
    run(&mut state, &mut rng, &mut t, "1", MIX, 15_000);
    let view = state.view();
    let windows: Vec<(&str, u64)> = view[0].versions[0]
        .windows
        .iter()
        .map(|w| (w.window.as_str(), w.decisions))
        .collect();
    // The 1-minute window slides by 5 s, so it holds 55 to 60 s of traffic.
    assert_eq!(windows.len(), 2);
    assert_eq!(windows[0].0, "1m");
    assert!((2750..=3000).contains(&windows[0].1), "{windows:?}");
    assert_eq!(windows[1], ("15m", 15_000), "all five minutes");
    let rates: Vec<f64> = view[0].versions[0]
        .windows
        .iter()
        .map(|w| w.rate_per_s)
        .collect();
    assert!((45.0..=50.0).contains(&rates[0]), "{rates:?}");
    // A second version: the checks run on both windows.
    run(&mut state, &mut rng, &mut t, "2", MIX, 400);
    let names: Vec<String> = state.view()[0]
        .checks
        .iter()
        .map(|w| w.window.clone())
        .collect();
    assert_eq!(names, ["1m", "15m"]);
}

/// At one decision a second a 1-minute window never holds the 200 decisions a
/// check needs; the 15-minute window does, and its check trips and is named.
#[test]
fn a_slow_stream_is_checked_on_the_longer_window() {
    let mut state = State::new(Limits::default(), thresholds());
    let mut rng = Rng(12);
    let mut t = 1_000_000_000_000;
    let slow = |state: &mut State, rng: &mut Rng, t: &mut i64, v, mix, n| {
        run_at(state, rng, t, (v, mix), n, 1)
    };
    assert_eq!(slow(&mut state, &mut rng, &mut t, "1", MIX, 900), None);
    let at = slow(&mut state, &mut rng, &mut t, "2", SHIFTED, 900).expect("trips");
    let min = thresholds().min_samples;
    assert!(
        at >= min && at <= min + GROUP,
        "tripped after {at} decisions"
    );
    let view = state.view();
    let Breaker::Open { trip, .. } = &view[0].breaker else {
        panic!("open: {:?}", view[0].breaker)
    };
    assert_eq!(trip.window, "15m");
    assert_eq!(trip.check.check, "label_mix");
    assert!(
        view[0].checks[0].checks.iter().all(|c| !c.measured),
        "too few decisions in the 1-minute window: {:?}",
        view[0].checks[0]
    );
}

#[test]
fn breakers_pins_and_accepted_pairs_are_saved_and_taken_back() {
    let mut state = State::new(Limits::default(), thresholds());
    let mut rng = Rng(13);
    let mut t = 1_000_000_000_000;
    run(&mut state, &mut rng, &mut t, "1", MIX, 3000);
    let g0 = state.generation();
    assert!(run(&mut state, &mut rng, &mut t, "2", SHIFTED, 3000).is_some());
    assert!(state.generation() > g0, "a trip is a change to save");
    let v1 = Version {
        model: "fraud".into(),
        version: "1".into(),
    };
    state
        .pin("payments.fraud", Some(v1.clone()))
        .expect("tracked");
    let saved = state.saved();
    let before = state.view();

    // A new process: nothing seen yet, the breaker still open with its trip.
    let mut fresh = State::new(Limits::default(), thresholds());
    assert_eq!(fresh.restore(saved), 1);
    let after = fresh.view();
    assert_eq!(after[0].breaker, before[0].breaker);
    assert_eq!(after[0].pinned, Some(v1));
    assert!(after[0].versions.is_empty(), "the windows start empty");
    // Reset there, and it is saved closed (the pair accepted).
    assert!(fresh.reset("payments.fraud"));
    let again = fresh.saved();
    let stream = &again.streams["payments.fraud"];
    assert_eq!(stream.breaker, Breaker::Closed);
    let Breaker::Open { trip, .. } = &before[0].breaker else {
        panic!("open")
    };
    assert_eq!(
        stream.accepted,
        Some((trip.current.clone(), trip.reference.clone())),
        "the reset accepts the pair that tripped, though nothing was compared yet"
    );
}
