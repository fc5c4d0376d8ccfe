//! Demo data: plausible answers from every channel, touchpoint, site and segment over past weeks,
//! so the export, the benchmarks and a first look at the product have something to show.

use protocol::{
    Answers, Channel, Comment, Confidence, Context, Effort, Emotion, Ident, Locale, PagePath,
    Submission, SubmissionId, SurveyRef, Timestamp,
};

use crate::store::{SledStore, Store, StoreError};

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

const WEB_TOUCHPOINTS: &[&str] = &[
    "checkout",
    "login",
    "open-account",
    "card-activation",
    "help-centre",
];
const KIOSK_TOUCHPOINTS: &[&str] = &["branch-teller", "branch-queue", "branch-advice"];
const AGENT_TOUCHPOINTS: &[&str] = &["billing", "card-lost", "mortgage", "complaints"];
const SITES: &[&str] = &["branch-042", "branch-017", "branch-108"];
const SEGMENTS: &[&str] = &["standard", "premium", "business"];
const COMMENTS: &[&str] = &[
    "The page kept asking me to log in again.",
    "Quick and friendly, thank you.",
    "I waited 40 minutes in the queue.",
    "The agent solved it on the first call.",
    "Could not find the opening hours.",
    "The card activation code never arrived.",
    "Very helpful staff at the branch.",
    "Too many steps to change my address.",
];

/// How hard each touchpoint is, so the demo shows weak spots worth finding.
fn difficulty(touchpoint: &str) -> u64 {
    match touchpoint {
        "card-activation" | "complaints" | "branch-queue" => 3,
        "login" | "mortgage" => 2,
        _ => 0,
    }
}

/// Generates submission number `n`, received at `received_micros`.
fn generate(rng: &mut Rng, n: u64, received_micros: u64) -> Submission {
    let channel = match rng.below(10) {
        0..=5 => Channel::Web,
        6..=7 => Channel::Kiosk,
        _ => Channel::Agent,
    };
    let touchpoint = match channel {
        Channel::Web => rng.pick(WEB_TOUCHPOINTS),
        Channel::Kiosk => rng.pick(KIOSK_TOUCHPOINTS),
        Channel::Agent => rng.pick(AGENT_TOUCHPOINTS),
    };
    let hardness = difficulty(touchpoint);
    let effort = (7 - hardness - rng.below(4)).clamp(1, 7) as i64;
    let confidence = (5 - hardness.min(2) - rng.below(3)).clamp(1, 5) as i64;
    let emotion = Emotion::ALL[((effort as usize).saturating_sub(1) * 5 / 7).min(4)];
    let mut context = Context::default();
    match channel {
        Channel::Web => context.page = Some(PagePath::sanitize(&["/", touchpoint].concat())),
        Channel::Kiosk => {
            context.site_id = Ident::parse(rng.pick(SITES));
            context.device_id = Ident::parse(rng.pick(&["kiosk-1", "kiosk-2", "kiosk-3"]));
        }
        Channel::Agent => {
            context.interaction_id = Ident::parse(&format!("call-{n}"));
            context.agent_id = Ident::parse(rng.pick(&["a-7", "a-12", "a-31", "a-44"]));
        }
    }
    context.segment = Ident::parse(rng.pick(SEGMENTS));
    let comment = if rng.below(5) == 0 {
        Comment::parse(rng.pick(COMMENTS)).ok().flatten()
    } else {
        None
    };
    let locale = rng.pick(&["en", "en", "en", "es", "fr", "de", "ar"]);
    let submitted = (received_micros / 1000).saturating_sub(rng.below(5_000)) as i64;
    Submission {
        id: SubmissionId::parse(&format!("demo-{n:020}")).expect("a valid demo id"),
        survey: SurveyRef::current(),
        channel,
        touchpoint: Ident::parse(touchpoint).expect("a valid touchpoint"),
        answers: Answers::new(
            Effort::new(effort).ok(),
            Confidence::new(confidence).ok(),
            Some(emotion),
        )
        .expect("answered"),
        comment,
        locale: Locale::parse(locale).expect("a known locale"),
        context,
        submitted_at: Timestamp::from_unix_millis(submitted),
    }
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
    for n in 0..count {
        let at = start + n * step;
        let submission = generate(&mut rng, n, at);
        store.put_at(&submission, &submission.to_json(), at)?;
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
        store
            .scan(0, u64::MAX, &mut |r| {
                let parsed = protocol::parse_submission(r.json.as_bytes()).expect("valid");
                channels.insert(parsed.channel);
                first.get_or_insert_with(|| r.json.to_owned());
                true
            })
            .expect("scan");
        assert_eq!(channels.len(), 3);
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
    }
}
