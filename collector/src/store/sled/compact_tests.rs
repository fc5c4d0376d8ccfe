//! Every field of a record round-trips through the compact form, byte for byte, and a record the
//! form cannot give back exactly is kept verbatim.

use proptest::{collection, option, prelude::*, sample::select};
use protocol::{
    Answers, Channel, Comment, Confidence, Context, Effort, Emotion, Ident, InvitationToken,
    Locale, PagePath, Submission, SubmissionId, SurveyRef, Timestamp,
};

use super::compact::{each_record, encode_block, parse_records, Deflater};
use super::format::encode;

fn ident() -> impl Strategy<Value = Ident> {
    "[A-Za-z0-9._:/-]{1,64}".prop_map(|s| Ident::parse(&s).expect("an ident"))
}

/// Few distinct values, so the block's table is shared, with now and then one of its own.
fn shared_ident() -> impl Strategy<Value = Ident> {
    prop_oneof![
        select(vec!["checkout", "branch-042", "premium", "a-7", "kiosk-3"])
            .prop_map(|s| Ident::parse(s).expect("an ident")),
        ident(),
    ]
}

/// `submitted_at` as the widget writes it, and as other clients may: without a fraction, with
/// microseconds, with an offset.
fn timestamp(received_millis: i64) -> impl Strategy<Value = Timestamp> {
    let near = (received_millis - 15 * 86_400_000)..(received_millis + 86_400_000);
    prop_oneof![
        near.clone().prop_map(Timestamp::from_unix_millis),
        (near, 0usize..4).prop_map(|(millis, form)| {
            let text = Timestamp::from_unix_millis(millis).as_str().to_owned();
            let text = match form {
                0 => [&text[..19], "Z"].concat(),
                1 => [&text[..23], "417Z"].concat(),
                2 => [&text[..23], "+05:30"].concat(),
                _ => [&text[..19], ".5-08:00"].concat(),
            };
            Timestamp::parse(&text).expect("a timestamp")
        }),
    ]
}

fn submission(received_millis: i64) -> impl Strategy<Value = Submission> {
    (
        (
            "[A-Za-z0-9_-]{16,64}",
            select(Channel::ALL.to_vec()),
            shared_ident(),
            (
                option::of(1i64..=7),
                option::of(1i64..=5),
                option::of(0usize..5),
            ),
            option::of("[^\\p{Cc}]{0,40}[\n\r\t\"\\\\é😀]{0,3}[a-z]{1,3}"),
            select(protocol::instrument::LOCALE_CODES.to_vec()),
        ),
        (
            option::of(ident()),
            [option::of(shared_ident()), option::of(shared_ident())],
            [option::of(shared_ident()), option::of(shared_ident())],
            option::of("[A-Za-z0-9._:/-]{1,512}"),
            option::of("[A-Za-z0-9_.-]{16,120}"),
            any::<bool>(),
            timestamp(received_millis),
        ),
    )
        .prop_map(
            |(
                (id, channel, touchpoint, (effort, confidence, emotion), comment, locale),
                (interaction, [agent, site], [device, segment], page, invitation, assisted, at),
            )| {
                let emotion = emotion.map(|e| Emotion::ALL[e]).or(
                    // At least one answer.
                    (effort.is_none() && confidence.is_none()).then_some(Emotion::Neutral),
                );
                Submission {
                    id: SubmissionId::parse(&id).expect("an id"),
                    survey: SurveyRef::current(),
                    channel,
                    touchpoint,
                    answers: Answers::new(
                        effort.map(|e| Effort::new(e).expect("effort")),
                        confidence.map(|c| Confidence::new(c).expect("confidence")),
                        emotion,
                    )
                    .expect("answered"),
                    comment: comment.and_then(|c| Comment::parse(&c).expect("a comment")),
                    locale: Locale::parse(locale).expect("a locale"),
                    context: Context {
                        interaction_id: interaction,
                        agent_id: agent,
                        site_id: site,
                        device_id: device,
                        segment,
                        page: page.map(|p| PagePath::parse(&p).expect("a page")),
                        invitation: invitation
                            .map(|t| InvitationToken::parse(&t).expect("a token")),
                        assisted,
                    },
                    submitted_at: at,
                }
            },
        )
}

/// A block's worth of records: increasing keys, each a submission in its canonical form (or, for
/// some, a JSON the canonical form would write otherwise), burst or not.
fn records() -> impl Strategy<Value = Vec<(u64, sled::IVec)>> {
    let start = 1_795_000_000_000_000u64;
    collection::vec((1u64..5_000_000_000, any::<bool>(), any::<bool>()), 1..40).prop_flat_map(
        move |steps| {
            let mut key = start;
            let keyed: Vec<_> = steps
                .into_iter()
                .map(|(step, burst, odd)| {
                    key += step;
                    (key, burst, odd)
                })
                .collect();
            keyed
                .into_iter()
                .map(|(key, burst, odd)| {
                    submission((key / 1000) as i64).prop_map(move |s| {
                        let json = s.to_json();
                        // Not the canonical form: a record stored by a collector that wrote it otherwise.
                        let json = if odd {
                            json.replacen(",", ", ", 1)
                        } else {
                            json
                        };
                        (key, sled::IVec::from(encode(&s, &json, u8::from(burst))))
                    })
                })
                .collect::<Vec<_>>()
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn every_record_comes_back_from_a_compact_block_byte_for_byte(records in records()) {
        let key = super::index::HashKey::from_bytes(&[7; 16]).expect("a key");
        let (block, _) = encode_block(&records, &parse_records(&records), key, &mut Deflater::default());
        let mut read = Vec::new();
        each_record(&block, &mut |key, record| {
            read.push((key, sled::IVec::from(record)));
            Ok(true)
        })
        .expect("a readable block");
        prop_assert_eq!(read, records);
    }
}
