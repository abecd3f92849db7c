//! Word lists and sentence templates for support-chat conversations.
//!
//! Templates carry `{slot}` placeholders that are filled from the conversation's
//! context (the product, order number, plan and so on stay the same for a whole
//! session) or drawn fresh for each sentence (days, counts, error messages).

use rand::Rng;

use crate::rng::RngExt;

/// What a support conversation is about; it fixes the vocabulary and the intent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Topic {
    Refund,
    Shipping,
    Billing,
    Account,
    Technical,
    Cancellation,
}

impl Topic {
    /// Topics with their relative frequency.
    pub(crate) const WEIGHTED: [(Topic, u32); 6] = [
        (Topic::Refund, 22),
        (Topic::Shipping, 26),
        (Topic::Billing, 16),
        (Topic::Account, 12),
        (Topic::Technical, 14),
        (Topic::Cancellation, 10),
    ];

    /// The intent label a model assigns when it handles the topic itself.
    pub(crate) fn intent(self) -> &'static str {
        match self {
            Topic::Refund => "refund",
            Topic::Shipping => "order_status",
            Topic::Billing => "billing",
            Topic::Account => "account_update",
            Topic::Technical => "troubleshoot",
            Topic::Cancellation => "cancel",
        }
    }

    fn user_templates(self) -> &'static [&'static str] {
        match self {
            Topic::Refund => &[
                "I would like a refund for the {product} I bought last {day}.",
                "The {product} arrived damaged and I want my money back.",
                "Order {order} was charged twice, can you refund one of the payments?",
                "It has been {n} days since I returned the {product} and I still have not seen the refund.",
                "Can you tell me how long a refund usually takes to show up on my card?",
                "I sent the {product} back with {carrier} and the tracking says it was delivered to you.",
                "The {product} stopped working after two weeks, so I would rather have a refund than a replacement.",
                "You told me the refund of {amount} was approved, but nothing has arrived yet.",
            ],
            Topic::Shipping => &[
                "Where is my order {order}? It was supposed to arrive on {day}.",
                "The tracking for my {product} has not updated in {n} days.",
                "{carrier} says the package was delivered but I never got it.",
                "Can I change the delivery address for order {order}?",
                "Is there any way to get the {product} faster? I need it before {day}.",
                "Only half of order {order} arrived, the {product} is missing from the box.",
                "The courier left a note saying they could not find the building.",
                "My order shows as shipped but {carrier} has no record of the tracking number.",
            ],
            Topic::Billing => &[
                "I was charged {amount} this month but my plan is supposed to cost less than that.",
                "Why is there a charge of {amount} on my statement from {month}?",
                "Can you send me an invoice for the {plan} plan with our company address on it?",
                "My card expired and I need to update the payment method before the renewal.",
                "I think I was billed for the {plan} plan but I only signed up for Basic.",
                "The discount code from the welcome email was not applied to my last bill.",
                "We were charged sales tax even though we gave you our exemption certificate.",
            ],
            Topic::Account => &[
                "I cannot log in to my account from my {device}.",
                "How do I change the email address on my account?",
                "I never received the password reset email, I checked the spam folder too.",
                "Please remove my old phone number from the account, I do not use it anymore.",
                "Can I add a second user to my {plan} subscription?",
                "Someone changed the shipping address on my account and it was not me.",
                "The two factor code never arrives on my {device}.",
            ],
            Topic::Technical => &[
                "The app shows {error} every time I open it on my {device}.",
                "Since the last update the {product} will not connect to my {device}.",
                "I keep getting {error} when I try to check out.",
                "Sync between the website and my {device} has been broken for {n} days now.",
                "The {product} firmware update fails halfway through with {error}.",
                "Notifications stopped working on my {device} after I reinstalled the app.",
            ],
            Topic::Cancellation => &[
                "I want to cancel my {plan} subscription before the next billing date.",
                "How do I cancel order {order}? I ordered the wrong size.",
                "Please close my account, I no longer need it.",
                "I tried to cancel in the app but the button does nothing on my {device}.",
                "If I cancel the {plan} plan today, do I get a refund for the rest of the month?",
            ],
        }
    }

    fn assistant_templates(self) -> &'static [&'static str] {
        match self {
            Topic::Refund => &[
                "I have issued a refund of {amount} to your original payment method.",
                "Refunds usually appear on your statement within {n} business days, depending on your bank.",
                "I can see the return for order {order} was received at our warehouse on {day}.",
                "Once the {product} has been inspected, the refund is released automatically.",
                "I have also waived the return shipping fee for this order.",
                "The duplicate charge on order {order} was only an authorization hold and it will drop off by itself.",
            ],
            Topic::Shipping => &[
                "Order {order} is currently with {carrier} and is expected to arrive by {day}.",
                "I have opened a trace with {carrier} for your package and they will update us within 48 hours.",
                "The delivery address can be changed until the order leaves our warehouse.",
                "I have upgraded the shipping on order {order} to express at no cost.",
                "If the package does not turn up by {day}, we will send a replacement {product} right away.",
                "The missing {product} was shipped separately and has its own tracking number.",
            ],
            Topic::Billing => &[
                "The charge of {amount} covers the {plan} plan plus applicable taxes.",
                "I have sent a copy of the invoice to the email address on file.",
                "You can update your card under Settings, then Billing, then Payment methods.",
                "I have credited {amount} back to your account, it will be applied to the next invoice.",
                "Your plan renews on the {n}th of each month, and the price has not changed since {month}.",
                "I have applied the discount retroactively and adjusted the last invoice.",
            ],
            Topic::Account => &[
                "I have sent a new password reset link, it is valid for {n} hours.",
                "You can change your email under Settings, then Profile, then Contact details.",
                "For security reasons I need to verify the last four digits of the card on file.",
                "I have signed out all active sessions and locked the account until you set a new password.",
                "Additional users can be invited from the Team page once you are on the {plan} plan.",
            ],
            Topic::Technical => &[
                "Please try signing out and back in on your {device}.",
                "Our engineers are aware of {error} and a fix is being rolled out today.",
                "Clearing the app cache usually resolves this on the {device}.",
                "Could you tell me which version of the app you are running?",
                "The {product} needs to be within a few meters of the {device} during the update.",
            ],
            Topic::Cancellation => &[
                "I have cancelled your {plan} subscription, and you will keep access until the end of the billing period.",
                "Order {order} has been cancelled and you will not be charged.",
                "Before you go, I can offer you {n} percent off your next three months.",
                "Your account will be closed within {n} days and your data deleted as described in our privacy policy.",
            ],
        }
    }
}

/// Steps offered in troubleshooting replies.
const STEPS: &[&str] = &[
    "Close the app completely and open it again.",
    "Check that your {device} is on the latest system update.",
    "Turn Bluetooth off and on again, then pair the {product} from scratch.",
    "Sign out, wait a minute, and sign back in.",
    "Clear the app cache from the storage settings.",
    "Try a different network, for example mobile data instead of Wi-Fi.",
    "Restart the {product} by holding the power button for ten seconds.",
    "Reinstall the app and allow notifications when asked.",
];

const OPENERS: &[&str] = &[
    "Hi.",
    "Hello.",
    "Hey there.",
    "Good morning.",
    "Good afternoon.",
    "Hi team.",
];

const USER_EXTRAS: &[&str] = &[
    "Thanks in advance.",
    "Please let me know what you need from me.",
    "I already tried restarting it.",
    "My order number is {order}.",
    "Any help would be appreciated.",
    "I have been a customer for {n} years.",
    "I need this sorted out before {day}.",
];

const USER_FOLLOWUPS: &[&str] = &[
    "That did not work.",
    "Thanks, but I still have the same problem.",
    "Okay, what happens next?",
    "This is the second time I am asking about this.",
    "Honestly this is getting frustrating.",
    "Can I speak to a person instead?",
    "Great, that helps. One more question.",
    "I did what you said and nothing changed.",
];

const EMPATHY: &[&str] = &[
    "I am sorry for the trouble this has caused.",
    "Thank you for your patience while I looked into this.",
    "I understand how frustrating this must be.",
    "Thanks for reaching out about this.",
    "Let me check that for you.",
];

const CLOSINGS: &[&str] = &[
    "Is there anything else I can help you with today?",
    "Let me know if there is anything else I can do.",
    "I have added a note to your account so the team has the full context.",
    "You will also get a confirmation by email in a few minutes.",
];

const ESCALATIONS: &[&str] = &[
    "I am going to transfer you to a specialist who can take a closer look.",
    "I have escalated this to our senior support team, and someone will contact you within one business day.",
    "This needs a manual review, so I have opened a priority ticket for you.",
];

const FILLER_SUBJECTS: &[&str] = &[
    "The warehouse team",
    "Our billing system",
    "Your account manager",
    "The courier",
    "Our support team",
    "The payment processor",
    "The returns desk",
    "The logistics partner",
];
const FILLER_VERBS: &[&str] = &[
    "has already processed",
    "will review",
    "flagged",
    "is still holding",
    "confirmed",
    "updated",
    "needs to verify",
    "has scheduled",
];
const FILLER_OBJECTS: &[&str] = &[
    "the request",
    "your order",
    "the payment",
    "the return label",
    "the replacement",
    "the refund",
    "your ticket",
    "the invoice",
];
const FILLER_TAILS: &[&str] = &[
    "this morning",
    "within the next hour",
    "as a priority",
    "earlier today",
    "before the weekend",
    "by the end of the day",
    "on the next business day",
    "without any extra cost",
];

const USER_FILLER_SUBJECTS: &[&str] = &["I", "My partner", "We", "My colleague"];
const USER_FILLER_VERBS: &[&str] = &["checked", "already looked at", "contacted", "went through"];
const USER_FILLER_OBJECTS: &[&str] = &[
    "the help center",
    "my email",
    "the tracking page",
    "our bank",
    "the app settings",
    "the order history",
];
const USER_FILLER_TAILS: &[&str] = &[
    "twice",
    "yesterday",
    "this morning",
    "a few times",
    "again just now",
    "last week",
];

const PRODUCTS: &[&str] = &[
    "wireless headphones",
    "standing desk",
    "espresso machine",
    "running shoes",
    "winter jacket",
    "phone case",
    "mechanical keyboard",
    "air purifier",
    "travel backpack",
    "smart thermostat",
    "yoga mat",
    "coffee grinder",
    "desk lamp",
    "bluetooth speaker",
    "office chair",
    "electric toothbrush",
    "blender",
    "laptop stand",
    "robot vacuum",
    "fitness tracker",
];
/// Connected products, for troubleshooting conversations.
const GADGETS: &[&str] = &[
    "wireless headphones",
    "smart thermostat",
    "bluetooth speaker",
    "fitness tracker",
    "robot vacuum",
    "smart doorbell",
    "security camera",
];
const CARRIERS: &[&str] = &[
    "UPS",
    "FedEx",
    "DHL",
    "USPS",
    "Royal Mail",
    "the local courier",
];
const PLANS: &[&str] = &["Basic", "Plus", "Premium", "Team", "Business"];
const DEVICES: &[&str] = &[
    "iPhone",
    "Android phone",
    "Windows laptop",
    "MacBook",
    "iPad",
    "Chromebook",
    "smart TV",
];
const DAYS: &[&str] = &[
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "the 14th",
    "the 21st",
    "the weekend",
];
const MONTHS: &[&str] = &["August", "September", "October", "November"];
const ERRORS: &[&str] = &[
    "error 502",
    "a blank white screen",
    "a payment declined message",
    "a spinning wheel that never stops",
    "error code E-104",
    "a session expired message",
    "an unknown error",
];
const SYSTEM_PROMPTS: &[&str] = &[
    "You are a helpful customer support assistant for {tenant}. Answer concisely, follow the published refund policy, never invent order details, and escalate when the customer asks for a human.",
    "You are the {tenant} support agent. Be friendly and brief. Use the order tools before answering questions about shipping, refunds or billing. Do not discuss internal systems.",
    "Role: support assistant for {tenant}. Policies: refunds within 30 days of delivery, free returns on defective items, escalate account security issues immediately. Keep answers under 150 words.",
];

/// Per-conversation facts that stay fixed across its turns.
#[derive(Clone, Debug)]
pub(crate) struct ChatFacts {
    pub topic: Topic,
    pub product: &'static str,
    pub carrier: &'static str,
    pub plan: &'static str,
    pub device: &'static str,
    pub order: String,
    pub amount: String,
}

impl ChatFacts {
    /// Draws the facts for a new conversation.
    pub(crate) fn draw<R: Rng>(rng: &mut R) -> Self {
        let topic = rng.pick_weighted(&Topic::WEIGHTED);
        let cents = (rng.lognormal(60.0, 0.8) * 100.0).round() as u64 + 199;
        ChatFacts {
            topic,
            product: rng.word(if topic == Topic::Technical {
                GADGETS
            } else {
                PRODUCTS
            }),
            carrier: rng.word(CARRIERS),
            plan: rng.word(PLANS),
            device: rng.word(DEVICES),
            order: format!("#{}", rng.random_range(1_000_000u32..9_999_999)),
            amount: format!("${}.{:02}", cents / 100, cents % 100),
        }
    }
}

/// Replaces `{slot}` placeholders in `template`, appending to `out`.
fn fill<R: Rng>(out: &mut String, template: &str, facts: &ChatFacts, tenant: &str, rng: &mut R) {
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            return;
        };
        match &after[..close] {
            "product" => out.push_str(facts.product),
            "carrier" => out.push_str(facts.carrier),
            "plan" => out.push_str(facts.plan),
            "device" => out.push_str(facts.device),
            "order" => out.push_str(&facts.order),
            "amount" => out.push_str(&facts.amount),
            "tenant" => out.push_str(tenant),
            "day" => out.push_str(rng.word(DAYS)),
            "month" => out.push_str(rng.word(MONTHS)),
            "error" => out.push_str(rng.word(ERRORS)),
            "n" => out.push_str(&rng.random_range(2u32..15).to_string()),
            other => {
                out.push('{');
                out.push_str(other);
                out.push('}');
            }
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
}

/// Up to `n` distinct indices into a list of `len` items, in draw order.
fn distinct<R: Rng>(len: usize, n: usize, rng: &mut R) -> Vec<usize> {
    let mut used: Vec<usize> = Vec::with_capacity(n);
    for _ in 0..n.min(len) {
        let mut i = rng.random_range(0..len);
        while used.contains(&i) {
            i = (i + 1) % len;
        }
        used.push(i);
    }
    used
}

/// Appends `n` distinct sentences drawn from `templates`.
fn sentences<R: Rng>(
    out: &mut String,
    templates: &'static [&'static str],
    n: usize,
    facts: &ChatFacts,
    rng: &mut R,
) {
    for i in distinct(templates.len(), n, rng) {
        sentence(out, templates[i], facts, "", rng);
    }
}

/// Appends one sentence, separated from what precedes it by a space.
fn sentence<R: Rng>(
    out: &mut String,
    template: &str,
    facts: &ChatFacts,
    tenant: &str,
    rng: &mut R,
) {
    if !out.is_empty() && !out.ends_with('\n') {
        out.push(' ');
    }
    fill(out, template, facts, tenant, rng);
}

/// Builds a sentence from the four word lists (subject, verb, object, tail).
fn word_list_sentence<R: Rng>(out: &mut String, lists: [&[&'static str]; 4], rng: &mut R) {
    if !out.is_empty() && !out.ends_with('\n') {
        out.push(' ');
    }
    let [s, v, o, t] = lists;
    out.push_str(rng.word(s));
    out.push(' ');
    out.push_str(rng.word(v));
    out.push(' ');
    out.push_str(rng.word(o));
    out.push(' ');
    out.push_str(rng.word(t));
    out.push('.');
}

/// The system prompt for a tenant.
pub(crate) fn system_prompt<R: Rng>(facts: &ChatFacts, tenant: &str, rng: &mut R) -> String {
    let mut out = String::new();
    let template = rng.word(SYSTEM_PROMPTS);
    fill(&mut out, template, facts, tenant, rng);
    out
}

/// A customer message; `turn` is 0 for the message that opens the conversation.
pub(crate) fn user_message<R: Rng>(facts: &ChatFacts, turn: u32, rng: &mut R) -> String {
    let mut out = String::new();
    if turn == 0 {
        if rng.chance(0.6) {
            out.push_str(rng.word(OPENERS));
        }
        let topical = rng.random_range(1..=3);
        sentences(&mut out, facts.topic.user_templates(), topical, facts, rng);
        let extras = rng.random_range(0..=2);
        sentences(&mut out, USER_EXTRAS, extras, facts, rng);
        if rng.chance(0.2) {
            pasted_details(&mut out, facts, rng);
        }
    } else {
        sentence(&mut out, rng.word(USER_FOLLOWUPS), facts, "", rng);
        if rng.chance(0.5) {
            let lists = [
                USER_FILLER_SUBJECTS,
                USER_FILLER_VERBS,
                USER_FILLER_OBJECTS,
                USER_FILLER_TAILS,
            ];
            word_list_sentence(&mut out, lists, rng);
        }
        let topical = rng.random_range(0..=2);
        sentences(&mut out, facts.topic.user_templates(), topical, facts, rng);
    }
    out
}

/// Details a customer pastes into the first message: a receipt, or the
/// circumstances of an app problem.
fn pasted_details<R: Rng>(out: &mut String, facts: &ChatFacts, rng: &mut R) {
    let template = match facts.topic {
        Topic::Technical | Topic::Account => {
            "Here are the details:\nDevice: {device}\nApp version: 4.{n}.{n}\nError: {error}\nWhat I did: opened the app, signed in, tapped Checkout and waited about {n} seconds\nLast time it worked: {day}\nNetwork: home Wi-Fi, also tried mobile data"
        }
        _ => {
            "This is what my confirmation email says:\nOrder {order}\nItem: {product}, quantity 1\nPlaced on: {day}\nShipping method: {carrier}, standard\nSubtotal: {amount}\nDiscount: none\nPayment: card ending in {n}{n}\nStatus: processing"
        }
    };
    out.push_str("\n\n");
    fill(out, template, facts, "", rng);
}

/// An assistant reply. With `escalate`, the reply hands the case to a person;
/// a `verbose` reply has more sentences.
pub(crate) fn assistant_message<R: Rng>(
    facts: &ChatFacts,
    escalate: bool,
    verbose: bool,
    rng: &mut R,
) -> String {
    let mut out = String::new();
    if rng.chance(0.7) {
        sentence(&mut out, rng.word(EMPATHY), facts, "", rng);
    }
    if escalate {
        sentence(&mut out, rng.word(ESCALATIONS), facts, "", rng);
        if rng.chance(0.5) {
            sentence(&mut out, rng.word(CLOSINGS), facts, "", rng);
        }
        return out;
    }
    let topical = if verbose {
        rng.random_range(3..=6)
    } else {
        rng.random_range(1..=3)
    };
    sentences(
        &mut out,
        facts.topic.assistant_templates(),
        topical,
        facts,
        rng,
    );
    if facts.topic == Topic::Technical && rng.chance(if verbose { 0.8 } else { 0.4 }) {
        out.push_str(" Here is what usually fixes it:\n");
        let n = rng.random_range(3..=6);
        for (k, i) in distinct(STEPS.len(), n, rng).into_iter().enumerate() {
            out.push_str(&format!("{}. ", k + 1));
            fill(&mut out, STEPS[i], facts, "", rng);
            out.push('\n');
        }
        out.push_str("If none of that helps,");
        out.push_str(" reply here and I will dig deeper.");
    }
    let fillers = if verbose {
        rng.random_range(1..=3)
    } else {
        rng.random_range(0..=1)
    };
    for _ in 0..fillers {
        let lists = [FILLER_SUBJECTS, FILLER_VERBS, FILLER_OBJECTS, FILLER_TAILS];
        word_list_sentence(&mut out, lists, rng);
    }
    if rng.chance(0.6) {
        sentence(&mut out, rng.word(CLOSINGS), facts, "", rng);
    }
    out
}

/// Cuts `text` at a word boundary no later than `max` bytes (a truncated reply).
pub(crate) fn truncate_words(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut max = max;
    while !text.is_char_boundary(max) {
        max -= 1;
    }
    let cut = text[..max].rfind(' ').unwrap_or(max);
    text.truncate(cut);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn templates_fill_every_slot() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..2000 {
            let facts = ChatFacts::draw(&mut rng);
            let u = user_message(&facts, rng.random_range(0..3), &mut rng);
            let a = assistant_message(&facts, rng.chance(0.1), rng.chance(0.3), &mut rng);
            let s = system_prompt(&facts, "Northwind", &mut rng);
            for text in [u, a, s] {
                assert!(!text.is_empty());
                assert!(!text.contains('{') && !text.contains('}'), "{text}");
            }
        }
    }

    #[test]
    fn truncation_keeps_whole_words() {
        let mut s = String::from("alpha beta gamma delta");
        truncate_words(&mut s, 13);
        assert_eq!(s, "alpha beta");
    }
}
