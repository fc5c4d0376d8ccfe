//! Demo data: plausible answers from every channel, touchpoint, site and segment over past weeks,
//! so the export, the benchmarks and a first look at the product have something to show; and the
//! outcomes the bank's systems would report for its calls and web orders (repeat contacts, an
//! engineer sent again, refunds), more often after a hard experience, so the business view tells
//! its story at once.

use protocol::{
    Answers, Channel, Comment, Confidence, Context, Effort, Emotion, Ident, Locale, PagePath,
    Submission, SubmissionId, SurveyRef, Timestamp,
};

use crate::store::{outcomes::Outcome, SledStore, Store, StoreError};

/// Small deterministic pseudo-random numbers (xorshift64*), so demo data is the same every time.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// Touchpoints and the channels that serve them: several are served by more than one channel, so
/// the dashboard's channel × touchpoint matrix can show gaps between channels.
const TOUCHPOINTS: &[(&str, &[Channel])] = &[
    ("checkout", &[Channel::Web]),
    ("login", &[Channel::Web]),
    (
        "open-account",
        &[Channel::Web, Channel::Kiosk, Channel::Agent],
    ),
    ("card-activation", &[Channel::Web, Channel::Agent]),
    (
        "address-change",
        &[Channel::Web, Channel::Kiosk, Channel::Agent],
    ),
    ("branch-queue", &[Channel::Kiosk]),
    ("mortgage", &[Channel::Agent, Channel::Kiosk]),
    ("billing", &[Channel::Web, Channel::Agent]),
    ("complaints", &[Channel::Agent]),
    // The "report a fault" journey: the call, the engineer's visit (answered on the engineer's
    // tablet), the follow-up on the web.
    ("fault-call", &[Channel::Agent]),
    ("engineer-visit", &[Channel::Kiosk]),
    ("fault-follow-up", &[Channel::Web, Channel::Agent]),
];
const SITES: &[&str] = &["branch-042", "branch-017", "branch-108"];
const SEGMENTS: &[&str] = &["standard", "standard", "premium", "business"];
const AGENTS: &[&str] = &["a-7", "a-12", "a-31", "a-44"];
const LOCALES: &[&str] = &["en", "en", "en", "es", "fr", "de", "ar"];

/// Comments per locale: what went badly — about card activation, an address change, waiting,
/// logging in, anything else — then what went well.
const COMMENTS: &[(&str, [&str; 5], &[&str])] = &[
    (
        "en",
        [
            "The activation code never arrived, I tried three times.",
            "Too many steps to change my address.",
            "I waited 40 minutes before anyone helped me.",
            "The page kept asking me to log in again.",
            "Nobody could tell me what happens next.",
        ],
        &[
            "Quick and friendly, thank you.",
            "Solved on the first try.",
            "Very helpful staff.",
        ],
    ),
    (
        "es",
        [
            "El código de activación nunca llegó.",
            "Demasiados pasos para cambiar mi dirección.",
            "Esperé 40 minutos antes de que me atendieran.",
            "La página me pedía iniciar sesión una y otra vez.",
            "Nadie supo decirme qué pasa ahora.",
        ],
        &["Rápido y amable, gracias."],
    ),
    (
        "fr",
        [
            "Le code d'activation n'est jamais arrivé.",
            "Trop d'étapes pour changer mon adresse.",
            "J'ai attendu 40 minutes avant d'être reçu.",
            "La page me demandait sans cesse de me reconnecter.",
            "Personne n'a pu me dire la suite.",
        ],
        &["Rapide et efficace, merci."],
    ),
    (
        "de",
        [
            "Der Aktivierungscode kam nie an.",
            "Zu viele Schritte für eine Adressänderung.",
            "Ich habe 40 Minuten gewartet.",
            "Die Seite wollte ständig eine neue Anmeldung.",
            "Niemand konnte mir sagen, wie es weitergeht.",
        ],
        &["Schnell und freundlich, danke."],
    ),
    (
        "ar",
        [
            "لم يصل رمز التفعيل أبداً.",
            "خطوات كثيرة جداً لتغيير عنواني.",
            "انتظرت أربعين دقيقة قبل أن يساعدني أحد.",
            "ظلت الصفحة تطلب مني تسجيل الدخول مرة أخرى.",
            "لم يستطع أحد أن يخبرني بما سيحدث بعد ذلك.",
        ],
        &["خدمة سريعة ولطيفة، شكراً."],
    ),
];

/// Which of a locale's complaints fits a touchpoint.
fn complaint(touchpoint: &str) -> usize {
    match touchpoint {
        "card-activation" => 0,
        "address-change" => 1,
        "branch-queue" | "complaints" | "engineer-visit" => 2,
        "login" => 3,
        _ => 4,
    }
}

/// How hard a touchpoint is on a channel, in effort points taken off a perfect 7, at `progress`
/// (0 at the start of the demo period, 1 at its end). The demo's story: card activation is hard on
/// the web and easy with an agent; address changes are hard on the web only; the login got worse
/// after a change in the last third; the branch queue improved after more staff came in. In the
/// "report a fault" journey, the call centre was tuned for short calls in the second half: the
/// calls themselves stay easy, but engineers then arrive without the right diagnosis, and the
/// visit is where the journey breaks.
fn difficulty(channel: Channel, touchpoint: &str, site: Option<&str>, progress: f64) -> f64 {
    let base = match (channel, touchpoint) {
        (Channel::Web, "card-activation") => 3.6,
        (_, "card-activation") => 0.8,
        (Channel::Web, "address-change") => 2.6,
        (_, "address-change") => 0.9,
        (_, "complaints") => 2.4,
        (_, "mortgage") => 1.6,
        (_, "branch-queue") => 3.2 - 1.8 * progress,
        (_, "fault-call") => 0.8,
        (_, "engineer-visit") if progress > 0.5 => 3.4,
        (_, "engineer-visit") => 1.2,
        (_, "fault-follow-up") => 1.8,
        (_, "login") if progress > 0.66 => 2.8,
        (_, "login") => 1.0,
        (Channel::Kiosk, _) => 0.9,
        _ => 0.6,
    };
    base + if site == Some("branch-017") { 0.8 } else { 0.0 }
}

/// Generates submission number `n`, received at `received_micros`, `progress` of the way through
/// the demo period.
fn generate(rng: &mut Rng, n: u64, received_micros: u64, progress: f64) -> Submission {
    let channel = match rng.below(10) {
        0..=5 => Channel::Web,
        6..=7 => Channel::Kiosk,
        _ => Channel::Agent,
    };
    let served: Vec<&str> = TOUCHPOINTS
        .iter()
        .filter(|(_, channels)| channels.contains(&channel))
        .map(|(t, _)| *t)
        .collect();
    let touchpoint = rng.pick(&served);
    let mut context = Context {
        segment: Ident::parse(rng.pick(SEGMENTS)),
        ..Context::default()
    };
    match channel {
        Channel::Web => {
            context.page = Some(PagePath::sanitize(&["/", touchpoint].concat()));
            // The page passes its order or case number (`data-interaction`).
            context.interaction_id = Ident::parse(&format!("order-{n}"));
        }
        Channel::Kiosk => {
            context.site_id = Ident::parse(rng.pick(SITES));
            context.device_id = Ident::parse(rng.pick(&["kiosk-1", "kiosk-2", "kiosk-3"]));
        }
        Channel::Agent => {
            context.interaction_id = Ident::parse(&format!("call-{n}"));
            context.agent_id = Ident::parse(rng.pick(AGENTS));
        }
    }
    let mut hardness = difficulty(
        channel,
        touchpoint,
        context.site_id.as_ref().map(Ident::as_str),
        progress,
    );
    if context.agent_id.as_ref().map(Ident::as_str) == Some("a-12") {
        hardness += 1.0;
    }
    // Noise of 0–3 points around the touchpoint's difficulty.
    let noise = rng.below(1000) as f64 / 1000.0 * 3.0 - 1.0;
    let effort = (7.0 - hardness - noise).round().clamp(1.0, 7.0) as i64;
    let premium = context.segment.as_ref().map(Ident::as_str) == Some("premium");
    let confidence = (5.0 - hardness * 0.6 - rng.below(3) as f64
        + f64::from(u8::from(premium)) * 0.5)
        .round()
        .clamp(1.0, 5.0) as i64;
    let emotion = Emotion::ALL[((effort as usize - 1) * 5 / 7 + rng.below(2) as usize).min(4)];
    // Not every question is answered on every channel.
    let skip = rng.below(20);
    let locale = rng.pick(LOCALES);
    let comment = if rng.below(4) == 0 {
        let (_, bad, good) = COMMENTS
            .iter()
            .find(|(code, _, _)| *code == locale)
            .unwrap_or(&COMMENTS[0]);
        let text = if effort >= 5 {
            rng.pick(good)
        } else {
            bad[complaint(touchpoint)]
        };
        Comment::parse(text).ok().flatten()
    } else {
        None
    };
    let submitted = (received_micros / 1000).saturating_sub(rng.below(5_000)) as i64;
    Submission {
        id: SubmissionId::parse(&format!("demo-{n:020}")).expect("a valid demo id"),
        survey: SurveyRef::current(),
        channel,
        touchpoint: Ident::parse(touchpoint).expect("a valid touchpoint"),
        answers: Answers::new(
            Effort::new(effort).ok().filter(|_| skip != 0),
            Confidence::new(confidence).ok().filter(|_| skip != 1),
            Some(emotion),
        )
        .expect("answered"),
        comment,
        locale: Locale::parse(locale).expect("a known locale"),
        context,
        submitted_at: Timestamp::from_unix_millis(submitted),
    }
}

/// What the bank's systems report after the interaction of `answer` (none without one): a
/// repeat contact, the engineer sent again after a fault call, a refund of a web order, each more
/// likely the harder the answer found it.
fn outcomes_of(rng: &mut Rng, answer: &Submission) -> Vec<Outcome> {
    let Some(interaction) = &answer.context.interaction_id else {
        return Vec::new();
    };
    let hardness = 7 - answer.answers.effort().map_or(4, Effort::get).min(7) as u64;
    let mut happened = |per_mille: u64| rng.below(1000) < per_mille;
    let mut kinds: Vec<(&str, Option<f64>)> = Vec::new();
    if happened(80 + 60 * hardness) {
        kinds.push(("repeat_contact", None));
    }
    if answer.touchpoint.as_str() == "fault-call" && happened(40 + 70 * hardness) {
        kinds.push(("engineer_revisit", None));
    }
    if answer.touchpoint.as_str() == "checkout" && happened(15 + 20 * hardness) {
        kinds.push(("refund", Some((10 + rng.below(90)) as f64)));
    }
    kinds
        .into_iter()
        .map(|(kind, value)| {
            let at = answer.submitted_at.unix_millis() + 3_600_000 * (1 + rng.below(240)) as i64;
            let at = Timestamp::from_unix_millis(at);
            Outcome {
                interaction: interaction.as_str().to_owned(),
                outcome: kind.to_owned(),
                at: at.as_str().to_owned(),
                at_millis: at.unix_millis(),
                value,
            }
        })
        .collect()
}

/// Fills an empty store with `count` answers spread evenly over the `days` before `until_micros`,
/// then flushes. Refuses a store that already holds answers: demo data never mixes with real data.
pub fn seed(store: &SledStore, count: u64, days: u64, until_micros: u64) -> Result<u64, SeedError> {
    if !store.is_empty() {
        return Err(SeedError::NotEmpty);
    }
    let span = days.max(1) * 86_400_000_000;
    let start = until_micros.saturating_sub(span);
    let step = (span / count.max(1)).max(1);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Outcomes draw from their own numbers, so the answers are the same with or without them.
    let mut outcome_rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut outcomes = Vec::new();
    let mut last_kiosk: Option<Submission> = None;
    for n in 0..count {
        let at = start + n * step;
        let mut submission = generate(&mut rng, n, at, n as f64 / count.max(1) as f64);
        if submission.channel == Channel::Kiosk {
            // Now and then someone hammers a kiosk's Send button: the same device again, a second
            // after its last answer. Stored, flagged as a burst, left out of the stats.
            if let Some(last) = last_kiosk.as_ref().filter(|_| rng.below(40) == 0) {
                submission.context.site_id = last.context.site_id.clone();
                submission.context.device_id = last.context.device_id.clone();
                submission.submitted_at =
                    Timestamp::from_unix_millis(last.submitted_at.unix_millis() + 1_000);
            }
            last_kiosk = Some(submission.clone());
        }
        store.put_at(&submission, &submission.to_json(), at)?;
        outcomes.extend(outcomes_of(&mut outcome_rng, &submission));
    }
    for chunk in outcomes.chunks(10_000) {
        store.put_outcomes(chunk)?;
    }
    store.flush()?;
    store.seal_now()?;
    Ok(count)
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("the store already holds answers; demo data goes into an empty data directory")]
    NotEmpty,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_data_is_valid_deterministic_and_never_mixes_with_real_data() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SledStore::open(dir.path()).expect("open");
        assert_eq!(
            seed(&store, 500, 30, 1_795_341_600_000_000).expect("seeded"),
            500
        );
        let mut channels = std::collections::HashSet::new();
        let mut first = None;
        let mut bursts = 0;
        store
            .scan(0, u64::MAX, &mut |r| {
                let parsed = protocol::parse_submission(r.json.as_bytes()).expect("valid");
                channels.insert(parsed.channel);
                bursts += u32::from(r.flags & crate::store::FLAG_BURST != 0);
                first.get_or_insert_with(|| r.json.to_owned());
                true
            })
            .expect("scan");
        assert_eq!(channels.len(), 3);
        assert!(bursts > 0, "a few hammered kiosks");
        assert!(matches!(
            seed(&store, 1, 1, 1_795_341_600_000_000),
            Err(SeedError::NotEmpty)
        ));
        let other = tempfile::tempdir().expect("tempdir");
        let again = SledStore::open(other.path()).expect("open");
        seed(&again, 1, 30, 1_795_341_600_000_000).expect("seeded");
        let mut json = None;
        again
            .scan(0, u64::MAX, &mut |r| {
                json = Some(r.json.to_owned());
                false
            })
            .expect("scan");
        assert_eq!(json, first, "the same seed gives the same data");
        let mut kinds = std::collections::BTreeSet::new();
        store
            .outcomes_after(0, &mut |_, o| {
                kinds.insert(o.outcome);
                true
            })
            .expect("outcomes");
        assert_eq!(
            kinds.into_iter().collect::<Vec<_>>(),
            ["engineer_revisit", "refund", "repeat_contact"]
        );
    }
}
