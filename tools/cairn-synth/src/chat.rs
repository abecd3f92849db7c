//! Support-chat completions on the `support.chat` stream.
//!
//! A session is one conversation: each turn sends the (windowed) history plus
//! the customer's new message and records the assistant's reply. The newer
//! model version escalates to a human less often and resolves more requests
//! itself.

use rand::Rng;
use serde_json::{json, Value};

use crate::rng::{round, stable_unit, RngExt};
use crate::text::{self, ChatFacts};
use crate::{session_slot, session_step, tenant_of, Draft, ModelSpec, Open, Synth, STREAM_CHAT};

/// The assistant model: 2026.09.2 until 65% of the run, then 2026.11.0.
pub(crate) const MODEL: ModelSpec = ModelSpec {
    name: "support-assistant",
    versions: &["2026.09.2", "2026.11.0"],
    changes: &[0.65],
    with_digest: true,
};

/// Most messages a request carries, system prompt included.
const MAX_MESSAGES: usize = 12;
/// Most content bytes a request carries; older turns are dropped beyond it.
const MAX_PROMPT_CHARS: usize = 6000;

const TURNS: [(u32, u32); 8] = [
    (1, 18),
    (2, 24),
    (3, 22),
    (4, 14),
    (5, 10),
    (6, 6),
    (7, 4),
    (8, 2),
];

/// A conversation in progress.
pub(crate) struct SessionState {
    facts: ChatFacts,
    system: Option<String>,
    /// Earlier turns as (role, content), oldest first.
    history: Vec<(&'static str, String)>,
    turn: u32,
    temperature: f64,
    top_p: f64,
    seed: u32,
    max_tokens: u32,
    verbose: bool,
}

fn tokens(chars: usize) -> u64 {
    (chars as f64 / 3.9).ceil() as u64
}

/// Generates one chat-completion decision.
pub(crate) fn generate(s: &mut Synth) -> Draft {
    let version = s.version(&MODEL);
    let slot = match session_slot(&s.chat_sessions, &mut s.rng, &s.population, 0.72, 48) {
        Ok(slot) => slot,
        Err(subject) => {
            let id = s.new_session_id();
            let rng = &mut s.rng;
            let facts = ChatFacts::draw(rng);
            let tenant = tenant_of(subject);
            let system = rng
                .chance(0.7)
                .then(|| text::system_prompt(&facts, tenant.display, rng));
            let temperature = if version == 0 {
                *rng.pick(&[0.7, 0.7, 0.5, 1.0])
            } else {
                *rng.pick(&[0.2, 0.3, 0.3, 0.7])
            };
            let state = SessionState {
                facts,
                system,
                history: Vec::new(),
                turn: 0,
                temperature,
                top_p: *rng.pick(&[0.9, 0.95, 1.0]),
                seed: rng.random_range(0..100_000),
                max_tokens: *rng.pick(&[160, 256, 512, 1024, 1024]),
                verbose: rng.chance(if version == 0 { 0.35 } else { 0.2 }),
            };
            let left = rng.pick_weighted(&TURNS);
            s.chat_sessions.push(Open {
                subject,
                id,
                left,
                state,
            });
            s.chat_sessions.len() - 1
        }
    };
    let rng = &mut s.rng;
    let open = &mut s.chat_sessions[slot];
    let subject = open.subject;
    let session = open.id.clone();
    let st = &mut open.state;

    // The request: system prompt, the history that fits, the new message.
    let user = text::user_message(&st.facts, st.turn, rng);
    let fixed = usize::from(st.system.is_some()) + 1;
    let fixed_chars = st.system.as_ref().map_or(0, String::len) + user.len();
    while !st.history.is_empty()
        && (st.history.len() + fixed > MAX_MESSAGES
            || fixed_chars + st.history.iter().map(|m| m.1.len()).sum::<usize>() > MAX_PROMPT_CHARS)
    {
        let drop = st.history.len().min(2);
        st.history.drain(..drop);
    }
    let mut messages: Vec<Value> = Vec::with_capacity(MAX_MESSAGES);
    let mut prompt_tokens = 3;
    let mut push = |role: &str, content: &str| {
        prompt_tokens += tokens(content.len()) + 4;
        messages.push(json!({ "role": role, "content": content }));
    };
    if let Some(system) = &st.system {
        push("system", system);
    }
    for (role, content) in &st.history {
        push(role, content);
    }
    push("user", &user);

    // The model's verdict and reply.
    let turn = f64::from(st.turn);
    let p_escalate = if version == 0 {
        0.07 + 0.035 * turn
    } else {
        0.03 + 0.012 * turn
    };
    let escalate = rng.chance(p_escalate);
    let decision = if escalate {
        "escalate"
    } else if rng.chance(if version == 0 { 0.5 } else { 0.65 }) {
        st.facts.topic.intent()
    } else {
        "answer"
    };
    let mut reply = text::assistant_message(&st.facts, escalate, st.verbose, rng);
    let mut finish_reason = "stop";
    let limit = st.max_tokens as usize * 4;
    if rng.chance(0.002) {
        finish_reason = "content_filter";
        reply = "I am sorry, but I cannot help with that request.".to_string();
    } else if reply.len() > limit {
        finish_reason = "length";
        text::truncate_words(&mut reply, limit);
    }
    let completion_tokens = tokens(reply.len()).min(u64::from(st.max_tokens));
    let confidence = if escalate {
        0.55 + 0.4 * rng.unit()
    } else {
        0.62 + 0.37 * rng.unit()
    };
    let score = round(confidence, 3);

    let input = json!({ "messages": messages });
    let output = json!({
        "message": { "role": "assistant", "content": reply },
        "usage": { "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens },
        "finish_reason": finish_reason,
    });
    let params = json!({
        "temperature": st.temperature,
        "top_p": st.top_p,
        "seed": st.seed,
        "max_tokens": st.max_tokens,
    });
    let per_token = if version == 0 { 21.0 } else { 15.0 };
    let latency_ms = round(
        (180.0 + completion_tokens as f64 * per_token + prompt_tokens as f64 * 0.12)
            * rng.lognormal(1.0, 0.2),
        1,
    );
    let locale = if stable_unit(u64::from(subject), 0x10c) < 0.85 {
        "en-US"
    } else {
        "en-GB"
    };
    st.history.push(("user", user));
    st.history.push(("assistant", reply));
    st.turn += 1;
    if escalate {
        // A human takes over: the conversation ends here.
        open.left = 1;
    }
    session_step(&mut s.chat_sessions, slot);

    Draft {
        stream: STREAM_CHAT,
        model: MODEL.json(version),
        subject: Some(subject),
        session: Some(session),
        operation: "chat.completions",
        params: Some(params),
        input,
        output,
        decision: decision.to_string(),
        score,
        latency_ms,
        tenant: tenant_of(subject),
        extra_attributes: vec![("locale", locale.to_string())],
        with_request_id: true,
        p_attributes: 0.96,
        p_trace: 0.9,
        p_idempotency: 0.12,
    }
}
