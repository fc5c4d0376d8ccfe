//! The compact form of sealed records (block format 4; 3 without the index): each block keeps its
//! own table of the touchpoint, site, segment, agent, device, page and locale values its records
//! use, and each record refers to them by number; times and answers are integers, the id and the
//! comment are kept as they are, and the whole block is deflated. Before the deflated body, the
//! keyed hashes of its records' ids and interaction keys ([`super::index`]) let the store find a
//! sealed record's block without an index entry of its own. A record whose canonical JSON this
//! form would not give back byte for byte is kept verbatim, so an export reads what was stored.

use std::collections::HashMap;

use miniz_oxide::deflate::core::{
    compress, create_comp_flags_from_zip_params, CompressorOxide, TDEFLFlush, TDEFLStatus,
};
use protocol::{
    Answers, Channel, Comment, Confidence, Context, Effort, Emotion, Ident, InvitationToken,
    Locale, PagePath, Submission, SubmissionId, SurveyRef, Timestamp,
};

use super::format::{
    block_header, block_records_2, decode, encode, interaction_key, Visit, BLOCK_FORMAT_COMPACT_3,
    BLOCK_FORMAT_INDEXED as BLOCK_FORMAT,
};
use super::index::{BlockIndex, HashKey};
use crate::store::StoreError;

// The bits of a record's shape: which values it has and how its time is kept.
const EFFORT: u16 = 1;
const CONFIDENCE: u16 = 1 << 1;
const EMOTION: u16 = 1 << 2;
const COMMENT: u16 = 1 << 3;
const INTERACTION: u16 = 1 << 4;
const AGENT: u16 = 1 << 5;
const SITE: u16 = 1 << 6;
const DEVICE: u16 = 1 << 7;
const SEGMENT: u16 = 1 << 8;
const PAGE: u16 = 1 << 9;
const INVITATION: u16 = 1 << 10;
const ASSISTED: u16 = 1 << 11;
/// `submitted_at` as the client wrote it, not the millisecond UTC form.
const TIME_TEXT: u16 = 1 << 12;
const CHANNEL_SHIFT: u16 = 13;
/// The record's stored bytes, verbatim.
const VERBATIM: u16 = 1 << 15;

/// A sealed record's id and interaction key, for removing its `ids` and `interactions` entries
/// once its block is durable.
pub(super) struct Indexed {
    pub(super) id: String,
    pub(super) interaction: Option<Vec<u8>>,
}

/// The deflate level of new blocks (and of the business view's saved values): the fastest. At a
/// million demo answers level 1 takes 37.1 B an answer in `sealed.blocks` against 34.7 at level 6,
/// and the sealer 5 800 fewer instructions an answer (README, "Durable ingest, a cheaper
/// sealer"). Inflating reads any level, so blocks written at another level still read.
const DEFLATE_LEVEL: u8 = 1;

/// One deflate compressor for every block a thread seals: a new one per block would allocate and
/// clear its ~300 KB of tables each time (resetting it clears them in place).
pub(super) struct Deflater(Box<CompressorOxide>);

impl Default for Deflater {
    fn default() -> Self {
        // Window bits 0: a raw deflate stream, as `compress_to_vec` writes and `each_compact`
        // inflates.
        let flags = create_comp_flags_from_zip_params(DEFLATE_LEVEL.into(), 0, 0);
        Self(Box::new(CompressorOxide::new(flags)))
    }
}

impl Deflater {
    /// Appends `input` deflated (a raw stream, finished) to `out`.
    pub(super) fn deflate(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        self.0.reset();
        let mut at = out.len();
        out.resize(at + (input.len() / 2).max(64), 0);
        loop {
            let (status, read, written) =
                compress(&mut self.0, input, &mut out[at..], TDEFLFlush::Finish);
            at += written;
            input = &input[read.min(input.len())..];
            match status {
                TDEFLStatus::Done => break,
                TDEFLStatus::Okay => {
                    if out.len() - at < 64 {
                        out.resize(out.len() * 2, 0);
                    }
                }
                // As `compress_to_vec` does: only a bug in the compressor gets here.
                status => panic!("deflate failed on a block: {status:?}"),
            }
        }
        out.truncate(at);
    }
}

/// A recent-form record read for sealing, parsed once for its block and its part of the business
/// view ([`super::joined`]).
pub(super) struct Parsed {
    flags: u8,
    pub(super) submission: Submission,
    /// Whether the compact form gives the record's canonical JSON back exactly.
    exact: bool,
}

/// Each of `records` (arrival key, record in the recent form of [`super::format`]) parsed, or
/// `None` where it cannot be (such a record is kept verbatim and not indexed).
pub(super) fn parse_records(records: &[(u64, sled::IVec)]) -> Vec<Option<Parsed>> {
    records
        .iter()
        .map(|(key, value)| parse(*key, value))
        .collect()
}

/// Encodes `records` (arrival key, record in the recent form of [`super::format`]), with what
/// [`parse_records`] read of them, as a compact block: `[format][count u32 LE][last key u64 BE]`
/// (the header every block format shares), the index of its ids and interaction keys hashed with
/// `hash` ([`BlockIndex`]), then the body deflated with `deflater`: the value table, then the
/// records in key order. Returns the block and the records it indexes (a record whose id cannot
/// be read is not indexed: its `ids` entry stays).
pub(super) fn encode_block(
    records: &[(u64, sled::IVec)],
    parsed: &[Option<Parsed>],
    hash: HashKey,
    deflater: &mut Deflater,
) -> (Vec<u8>, Vec<Indexed>) {
    let mut table = Table::default();
    let mut body = Vec::with_capacity(records.len() * 96);
    let mut index = BlockIndex::default();
    let mut indexed = Vec::with_capacity(records.len());
    let mut previous = 0;
    for (position, ((key, value), parsed)) in (0u32..).zip(records.iter().zip(parsed)) {
        put_varint(&mut body, key - previous);
        previous = *key;
        match parsed {
            Some(Parsed {
                flags,
                submission,
                exact: true,
            }) => {
                body.push(*flags);
                write_submission(&mut body, &mut table, *key, submission);
            }
            _ => {
                body.push(0);
                body.extend_from_slice(&VERBATIM.to_le_bytes());
                put_bytes(&mut body, value);
            }
        }
        let Some(Parsed { submission, .. }) = parsed else {
            index.ids.push(0);
            continue;
        };
        index.ids.push(hash.hash(submission.id.as_str().as_bytes()));
        let interaction = interaction_key(submission);
        if let Some(ik) = &interaction {
            index.interactions.push((position, hash.hash(ik)));
        }
        indexed.push(Indexed {
            id: submission.id.as_str().to_owned(),
            interaction,
        });
    }
    let mut plain = Vec::with_capacity(body.len() + table.size);
    table.write(&mut plain);
    plain.extend_from_slice(&body);
    let mut block = Vec::with_capacity(17 + records.len() * 8 + plain.len() / 3);
    block.push(BLOCK_FORMAT);
    block.extend_from_slice(&(records.len() as u32).to_le_bytes());
    block.extend_from_slice(&records.last().map_or(0, |(k, _)| *k).to_be_bytes());
    index.write(&mut block);
    deflater.deflate(&plain, &mut block);
    (block, indexed)
}

fn parse(key: u64, value: &[u8]) -> Option<Parsed> {
    let record = decode(key, value).ok()?;
    let submission = protocol::parse_submission(record.json.as_bytes()).ok()?;
    let exact = submission.to_json() == record.json;
    Some(Parsed {
        flags: record.flags,
        submission,
        exact,
    })
}

/// The index of a block, when its format has one (blocks of the formats before it do not).
pub(super) fn block_index(block: &[u8]) -> Result<Option<BlockIndex>, StoreError> {
    let (count, _) = block_header(block)?;
    if block.first() != Some(&BLOCK_FORMAT) {
        return Ok(None);
    }
    Ok(Some(BlockIndex::read(&block[13..], count)?.0))
}

/// The record at `position` in a block of any format (key, record in the form of `responses`).
pub(super) fn record_at(block: &[u8], position: u32) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
    let mut at = 0;
    let mut found = None;
    each_record(block, &mut |key, record| {
        if at == position {
            found = Some((key, record.to_vec()));
        }
        at += 1;
        Ok(at <= position)
    })?;
    Ok(found)
}

/// Calls `visit` with each record of a block of any format (key, record in the form of
/// `responses`), in key order, until it returns `false`.
pub(super) fn each_record(block: &[u8], visit: &mut Visit<'_>) -> Result<(), StoreError> {
    let (count, _) = block_header(block)?;
    match block.first() {
        Some(&BLOCK_FORMAT) => {
            let (_, body) = BlockIndex::read(&block[13..], count)?;
            return each_compact(count, body, visit);
        }
        Some(&BLOCK_FORMAT_COMPACT_3) => return each_compact(count, &block[13..], visit),
        _ => {}
    }
    for entry in block_records_2(block) {
        let (key, record) = entry?;
        if !visit(key, record)? {
            break;
        }
    }
    Ok(())
}

/// [`each_record`] for the deflated body of a compact block of `count` records.
fn each_compact(count: u32, body: &[u8], visit: &mut Visit<'_>) -> Result<(), StoreError> {
    let corrupt = || StoreError::Corrupt { key: 0 };
    let plain = miniz_oxide::inflate::decompress_to_vec(body).map_err(|_| corrupt())?;
    let mut reader = Reader(&plain);
    let values = reader.table()?;
    let mut key = 0u64;
    let mut recent = Vec::with_capacity(512);
    for _ in 0..count {
        key = key.checked_add(reader.varint()?).ok_or_else(corrupt)?;
        let flags = reader.byte()?;
        let shape = u16::from_le_bytes([reader.byte()?, reader.byte()?]);
        let more = if shape & VERBATIM != 0 {
            visit(key, reader.bytes()?)?
        } else {
            let submission = read_submission(&mut reader, &values, key, shape)
                .ok_or(StoreError::Corrupt { key })?;
            recent.clear();
            recent.extend_from_slice(&encode(&submission, &submission.to_json(), flags));
            visit(key, &recent)?
        };
        if !more {
            break;
        }
    }
    Ok(())
}

/// The values a block's records share, each written once (and the touchpoints of a block's
/// saved part of the business view, [`super::joined`]).
#[derive(Default)]
pub(super) struct Table {
    index: HashMap<String, u64>,
    values: Vec<String>,
    size: usize,
}

impl Table {
    /// Writes `value`'s number in the table to `out`, giving it one when it is new.
    pub(super) fn put(&mut self, out: &mut Vec<u8>, value: &str) {
        let next = self.values.len() as u64;
        let number = *self.index.entry(value.to_owned()).or_insert_with(|| {
            self.values.push(value.to_owned());
            self.size += value.len() + 1;
            next
        });
        put_varint(out, number);
    }

    /// Writes the table, its count then each value, as [`Reader::table`] reads it.
    pub(super) fn write(&self, out: &mut Vec<u8>) {
        out.reserve(self.size + 8);
        put_varint(out, self.values.len() as u64);
        for value in &self.values {
            put_bytes(out, value.as_bytes());
        }
    }
}

fn write_submission(out: &mut Vec<u8>, table: &mut Table, key: u64, s: &Submission) {
    let c = &s.context;
    let answers = &s.answers;
    let millis = s.submitted_at.unix_millis();
    let time_text = Timestamp::from_unix_millis(millis).as_str() != s.submitted_at.as_str();
    let bits = [
        (answers.effort().is_some(), EFFORT),
        (answers.confidence().is_some(), CONFIDENCE),
        (answers.emotion().is_some(), EMOTION),
        (s.comment.is_some(), COMMENT),
        (c.interaction_id.is_some(), INTERACTION),
        (c.agent_id.is_some(), AGENT),
        (c.site_id.is_some(), SITE),
        (c.device_id.is_some(), DEVICE),
        (c.segment.is_some(), SEGMENT),
        (c.page.is_some(), PAGE),
        (c.invitation.is_some(), INVITATION),
        (c.assisted, ASSISTED),
        (time_text, TIME_TEXT),
    ];
    let shape = bits
        .iter()
        .filter(|(set, _)| *set)
        .fold(channel_code(s.channel) << CHANNEL_SHIFT, |acc, (_, bit)| {
            acc | bit
        });
    out.extend_from_slice(&shape.to_le_bytes());
    put_bytes(out, s.id.as_str().as_bytes());
    table.put(out, s.touchpoint.as_str());
    table.put(out, s.locale.as_str());
    out.extend(answers.effort().map(Effort::get));
    out.extend(answers.confidence().map(Confidence::get));
    out.extend(answers.emotion().map(|e| e.index() as u8));
    if let Some(comment) = &s.comment {
        put_bytes(out, comment.as_str().as_bytes());
    }
    if let Some(interaction) = &c.interaction_id {
        put_bytes(out, interaction.as_str().as_bytes());
    }
    for value in [&c.agent_id, &c.site_id, &c.device_id, &c.segment]
        .into_iter()
        .flatten()
    {
        table.put(out, value.as_str());
    }
    if let Some(page) = &c.page {
        table.put(out, page.as_str());
    }
    if let Some(invitation) = &c.invitation {
        put_bytes(out, invitation.as_str().as_bytes());
    }
    if time_text {
        put_bytes(out, s.submitted_at.as_str().as_bytes());
    } else {
        // Usually a few seconds before arrival: a few bytes.
        put_varint(out, zigzag(arrival_millis(key).wrapping_sub(millis)));
    }
}

fn read_submission(
    r: &mut Reader<'_>,
    values: &[&str],
    key: u64,
    shape: u16,
) -> Option<Submission> {
    let has = |bit: u16| shape & bit != 0;
    let channel = Channel::ALL
        .into_iter()
        .find(|c| channel_code(*c) == shape >> CHANNEL_SHIFT & 0b11)?;
    let id = SubmissionId::parse(r.str().ok()?).ok()?;
    let value = |r: &mut Reader<'_>| values.get(r.varint().ok()? as usize).copied();
    let ident = |r: &mut Reader<'_>| Ident::parse(value(r)?);
    let touchpoint = ident(r)?;
    let locale = Locale::parse(value(r)?).ok()?;
    let effort = match has(EFFORT) {
        true => Some(Effort::new(r.byte().ok()?.into()).ok()?),
        false => None,
    };
    let confidence = match has(CONFIDENCE) {
        true => Some(Confidence::new(r.byte().ok()?.into()).ok()?),
        false => None,
    };
    let emotion = match has(EMOTION) {
        true => Some(*Emotion::ALL.get(usize::from(r.byte().ok()?))?),
        false => None,
    };
    let comment = if has(COMMENT) {
        Some(Comment::parse(r.str().ok()?).ok()??)
    } else {
        None
    };
    let mut context = Context {
        assisted: has(ASSISTED),
        ..Context::default()
    };
    if has(INTERACTION) {
        context.interaction_id = Some(Ident::parse(r.str().ok()?)?);
    }
    for (bit, field) in [
        (AGENT, &mut context.agent_id),
        (SITE, &mut context.site_id),
        (DEVICE, &mut context.device_id),
        (SEGMENT, &mut context.segment),
    ] {
        if has(bit) {
            *field = Some(ident(r)?);
        }
    }
    if has(PAGE) {
        context.page = Some(PagePath::parse(value(r)?)?);
    }
    if has(INVITATION) {
        context.invitation = Some(InvitationToken::parse(r.str().ok()?).ok()?);
    }
    let submitted_at = if has(TIME_TEXT) {
        Timestamp::parse(r.str().ok()?).ok()?
    } else {
        Timestamp::from_unix_millis(arrival_millis(key).wrapping_sub(unzigzag(r.varint().ok()?)))
    };
    Some(Submission {
        id,
        survey: SurveyRef::current(),
        channel,
        touchpoint,
        answers: Answers::new(effort, confidence, emotion).ok()?,
        comment,
        locale,
        context,
        submitted_at,
    })
}

fn channel_code(channel: Channel) -> u16 {
    match channel {
        Channel::Web => 0,
        Channel::Kiosk => 1,
        Channel::Agent => 2,
    }
}

fn arrival_millis(key: u64) -> i64 {
    (key / 1000) as i64
}

fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

fn unzigzag(n: u64) -> i64 {
    (n >> 1) as i64 ^ -((n & 1) as i64)
}

/// LEB128, the usual seven bits a byte: written by hand, as the few lines it takes cost less than
/// a dependency.
pub(super) fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

pub(super) fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Reads a compact block's body (or a saved value of [`super::joined`]) front to back.
pub(super) struct Reader<'a>(pub(super) &'a [u8]);

impl<'a> Reader<'a> {
    pub(super) fn byte(&mut self) -> Result<u8, StoreError> {
        let (first, rest) = self.0.split_first().ok_or(StoreError::Corrupt { key: 0 })?;
        self.0 = rest;
        Ok(*first)
    }

    pub(super) fn varint(&mut self) -> Result<u64, StoreError> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            n |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(n);
            }
        }
        Err(StoreError::Corrupt { key: 0 })
    }

    pub(super) fn bytes(&mut self) -> Result<&'a [u8], StoreError> {
        let len = usize::try_from(self.varint()?).map_err(|_| StoreError::Corrupt { key: 0 })?;
        if len > self.0.len() {
            return Err(StoreError::Corrupt { key: 0 });
        }
        let (bytes, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(bytes)
    }

    pub(super) fn str(&mut self) -> Result<&'a str, StoreError> {
        std::str::from_utf8(self.bytes()?).map_err(|_| StoreError::Corrupt { key: 0 })
    }

    /// A table as [`Table::write`] wrote it: its values, by number.
    pub(super) fn table(&mut self) -> Result<Vec<&'a str>, StoreError> {
        (0..self.varint()?).map(|_| self.str()).collect()
    }
}
