//! Masks what a customer should not have typed into a comment: e-mail addresses, phone numbers
//! and card numbers, in any script's digits, before the comment is stored (the collector) or sent
//! (the widget).
//!
//! A scanner written by hand rather than a regular expression: the widget is built from this
//! crate and every visitor downloads each byte of it (a regex engine costs tens of kilobytes of
//! wasm, the whole budget); the patterns need Unicode digits and full-width signs that a regex
//! would spell out one by one anyway; and a card number is told by its Luhn checksum, which no
//! regex can state.
//!
//! What is masked (each match is replaced by its marker, or by `•` per character when the match
//! is shorter than the marker, so a comment never grows):
//! - [`EMAIL`]: `local@domain.tld`, with `@`, `＠` or `﹫`, the domain holding a dot (`.`, `．`,
//!   `。`, `｡`) and a top-level part of at least two characters that are not all digits.
//! - [`CARD`]: 13–19 digits, possibly grouped by spaces, dashes or dots, whose Luhn check passes.
//! - [`PHONE`]: 9–15 digits, or 7–15 after a leading `+`/`＋`, possibly grouped by spaces,
//!   dashes, dots, slashes and parentheses (at most two of them in a row). A run too long to be
//!   either is read again piece by piece between its spaces.
//!
//! Digits are any script's decimal digits (`٠١٢`, `۰۱۲`, `०१२`, `０１２`…). A number glued to a
//! letter before it (`ref123456789`) is a reference, not a phone, and is left alone.

use alloc::string::String;
use alloc::vec::Vec;

/// What an e-mail address becomes.
pub const EMAIL: &str = "[email]";
/// What a phone number becomes.
pub const PHONE: &str = "[phone]";
/// What a card number becomes.
pub const CARD: &str = "[card]";
/// What each character of a match shorter than its marker becomes.
pub const MASK: char = '•';

/// The zero of every run of ten decimal digits in Unicode (category Nd, Unicode 14): a digit's
/// value is its distance from the zero of its run.
const DIGIT_ZEROS: [u32; 66] = [
    0x30, 0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66, 0xBE6, 0xC66, 0xCE6, 0xD66,
    0xDE6, 0xE50, 0xED0, 0xF20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90,
    0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10,
    0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650,
    0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x16A60, 0x16AC0, 0x16B50,
    0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E950, 0x1FBF0,
];

/// The value of a decimal digit of any script.
fn digit(c: char) -> Option<u32> {
    let c = c as u32;
    DIGIT_ZEROS
        .iter()
        .find(|zero| (**zero..**zero + 10).contains(&c))
        .map(|zero| c - zero)
}

fn is_at(c: char) -> bool {
    matches!(c, '@' | '\u{FF20}' | '\u{FE6B}')
}

fn is_dot(c: char) -> bool {
    matches!(c, '.' | '\u{FF0E}' | '\u{3002}' | '\u{FF61}')
}

fn is_plus(c: char) -> bool {
    matches!(c, '+' | '\u{FF0B}')
}

fn is_open(c: char) -> bool {
    matches!(c, '(' | '\u{FF08}')
}

/// Punctuation that surrounds an address or a number in text (and [`MASK`], so masking twice
/// finds nothing new).
fn is_delimiter(c: char) -> bool {
    matches!(
        c,
        '<' | '>'
            | '('
            | ')'
            | '['
            | ']'
            | '{'
            | '}'
            | ','
            | ';'
            | ':'
            | '"'
            | '\''
            | '/'
            | '\\'
            | '|'
            | '!'
            | '?'
            | '«'
            | '»'
            | '“'
            | '”'
            | '‘'
            | '’'
            | '「'
            | '」'
            | '、'
            | '，'
            | '；'
            | '：'
            | '！'
            | '？'
            | '（'
            | '）'
            | MASK
    )
}

/// A character an e-mail address can hold: anything but spaces, controls, `@` and the
/// punctuation around it.
fn in_address(c: char) -> bool {
    !c.is_whitespace() && !c.is_control() && !is_at(c) && !is_delimiter(c)
}

/// What may stand between the digits of one phone or card number.
fn is_number_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '\u{A0}' | '\u{2009}' | '\u{202F}' | '\u{3000}' | '-' | '\u{2010}'
            ..='\u{2015}' | '\u{2212}' | '\u{FF0D}' | '/' | '\u{200E}' | '\u{200F}' | '\u{061C}'
    ) || is_dot(c)
        || is_open(c)
        || matches!(c, ')' | '\u{FF09}')
}

/// What a character of the comment turned out to be part of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Text,
    Email,
    Phone,
    Card,
}

impl Part {
    fn marker(self) -> &'static str {
        match self {
            Self::Text => "",
            Self::Email => EMAIL,
            Self::Phone => PHONE,
            Self::Card => CARD,
        }
    }
}

/// The fewest digits anything masked holds: a phone number after a `+`.
const FEWEST_DIGITS: usize = 7;

/// Whether `text` may hold something [`redact`] masks: an at sign, or [`FEWEST_DIGITS`] digits.
/// Most comments hold neither, and the collector then skips the masking pass and its copies.
/// (The widget does not call it: it masks one comment per visitor, and would pay in bytes.)
pub fn may_hold_contact(text: &str) -> bool {
    let mut digits = 0;
    for c in text.chars() {
        let is_digit = if c.is_ascii() {
            c.is_ascii_digit()
        } else {
            digit(c).is_some()
        };
        digits += usize::from(is_digit);
        if is_at(c) || digits >= FEWEST_DIGITS {
            return true;
        }
    }
    false
}

/// `text` with every e-mail address, card number and phone number masked. Masking twice changes
/// nothing more, and the result never has more characters than `text`.
pub fn redact(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    // One mark per character rather than a list of matches to sort: less code in the widget.
    let mut parts = alloc::vec![Part::Text; chars.len()];
    emails(&chars, &mut parts);
    numbers(&chars, &mut parts);
    if parts.iter().all(|p| *p == Part::Text) {
        return String::from(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let part = parts.get(i).copied().unwrap_or(Part::Text);
        if part == Part::Text {
            out.push(c);
            i += 1;
            continue;
        }
        let len = parts.iter().skip(i).take_while(|p| **p == part).count();
        // The markers are ASCII: their length in bytes is their length in characters.
        if len >= part.marker().len() {
            out.push_str(part.marker());
        } else {
            for _ in 0..len {
                out.push(MASK);
            }
        }
        i += len;
    }
    out
}

fn mark(parts: &mut [Part], start: usize, end: usize, part: Part) {
    for p in parts.iter_mut().take(end).skip(start) {
        *p = part;
    }
}

fn emails(chars: &[char], parts: &mut [Part]) {
    let mut i = 0;
    while i < chars.len() {
        if !chars.get(i).copied().is_some_and(is_at) {
            i += 1;
            continue;
        }
        let mut start = i;
        while start > 0 && chars.get(start - 1).copied().is_some_and(in_address) {
            start -= 1;
        }
        while start < i && chars.get(start).copied().is_some_and(is_dot) {
            start += 1;
        }
        let mut end = i + 1;
        while chars.get(end).copied().is_some_and(in_address) {
            end += 1;
        }
        // A sentence's full stop or dash after the address is not part of it.
        while end > i + 1
            && chars
                .get(end - 1)
                .copied()
                .is_some_and(|c| is_dot(c) || c == '-')
        {
            end -= 1;
        }
        let domain = chars.get(i + 1..end).unwrap_or_default();
        let top = domain.rsplit(|c| is_dot(*c)).next().unwrap_or_default();
        let has_dot = domain.iter().skip(1).any(|c| is_dot(*c));
        let named = top.len() >= 2 && !top.iter().all(|c| digit(*c).is_some());
        if start < i && has_dot && named {
            mark(parts, start, end, Part::Email);
            i = end;
        } else {
            i += 1;
        }
    }
}

fn numbers(chars: &[char], parts: &mut [Part]) {
    let mut i = 0;
    while i < chars.len() {
        let free = parts.get(i) == Some(&Part::Text);
        let end = if free && run_starts(chars, i) {
            run_end(chars, i)
        } else {
            None
        };
        match end {
            Some(end) => {
                classify(chars, i, end, parts);
                i = end;
            }
            None => i += 1,
        }
    }
}

/// Whether a number starts at `i`: a digit, or `+`/`(` before one, not glued to a word before.
fn run_starts(chars: &[char], i: usize) -> bool {
    let Some(&c) = chars.get(i) else {
        return false;
    };
    let next_is_digit = chars.get(i + 1).is_some_and(|n| digit(*n).is_some());
    let opens = digit(c).is_some() || ((is_plus(c) || is_open(c)) && next_is_digit);
    // Anything before it but a space or punctuation is a word (a letter, a digit of a number
    // that did not start here): the number is part of a reference.
    let glued = i > 0
        && chars.get(i - 1).is_some_and(|p| {
            !(p.is_whitespace()
                || p.is_ascii_punctuation()
                || is_delimiter(*p)
                || is_number_separator(*p))
        });
    opens && !glued
}

/// Where the number starting at `start` ends: after its last digit.
fn run_end(chars: &[char], start: usize) -> Option<usize> {
    let mut last_digit = None;
    let mut separators = 0;
    for (i, c) in chars.iter().enumerate().skip(start) {
        if digit(*c).is_some() {
            last_digit = Some(i + 1);
            separators = 0;
        } else if (i == start && is_plus(*c)) || (is_number_separator(*c) && separators < 2) {
            separators += 1;
        } else {
            break;
        }
    }
    last_digit
}

/// Marks `start..end` as a card or a phone when it is one; a run too long for either is read
/// again piece by piece between its spaces (a date before a phone number, two numbers in a row).
fn classify(chars: &[char], start: usize, end: usize, parts: &mut [Part]) {
    let run = chars.get(start..end).unwrap_or_default();
    if let Some(part) = kind(run) {
        mark(parts, start, end, part);
        return;
    }
    if run.iter().filter(|c| digit(**c).is_some()).count() <= 15 {
        return;
    }
    let mut piece = start;
    for i in start..=end {
        if i < end && !chars.get(i).is_some_and(|c| c.is_whitespace()) {
            continue;
        }
        let last_digit = (piece..i)
            .rev()
            .find(|n| chars.get(*n).is_some_and(|c| digit(*c).is_some()));
        if let Some(last) = last_digit {
            if let Some(part) = kind(chars.get(piece..=last).unwrap_or_default()) {
                mark(parts, piece, last + 1, part);
            }
        }
        piece = i + 1;
    }
}

/// A card when its 13–19 digits pass the Luhn check, else a phone when it has 9–15 digits (7–15
/// after a `+`), else nothing to mask.
fn kind(run: &[char]) -> Option<Part> {
    // The digit count and the Luhn sum (every second digit from the right doubled) in one pass.
    let (count, sum) =
        run.iter()
            .rev()
            .filter_map(|c| digit(*c))
            .fold((0usize, 0u32), |(count, sum), d| {
                let d = if count % 2 == 1 { d * 2 } else { d };
                (count + 1, sum + if d > 9 { d - 9 } else { d })
            });
    let plus = run.first().copied().is_some_and(is_plus);
    if (13..=19).contains(&count) && sum % 10 == 0 {
        Some(Part::Card)
    } else if (9..=15).contains(&count) || (plus && (FEWEST_DIGITS..=15).contains(&count)) {
        Some(Part::Phone)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(cases: &[(&str, &str)]) {
        for (text, masked) in cases {
            assert_eq!(redact(text), *masked, "{text:?}");
        }
    }

    #[test]
    fn email_addresses_are_masked_in_every_script() {
        check(&[
            ("mail me at jane.doe@example.com.", "mail me at [email]."),
            ("<j_doe+cx@mail.example.co.uk>", "<[email]>"),
            ("josé.núñez@correo.es gracias", "[email] gracias"),
            (
                "راسلني على ahmed@example.sa شكرا",
                "راسلني على [email] شكرا",
            ),
            ("ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ", "[email]"),
            ("jane＠example.com", "[email]"),
            ("max﹫beispiel。de", "[email]"),
            ("a@b.co", "••••••"),
        ]);
    }

    #[test]
    fn what_only_looks_like_an_email_stays() {
        check(&[
            (
                "write to me @ example dot com",
                "write to me @ example dot com",
            ),
            ("@support was quick", "@support was quick"),
            ("user@localhost", "user@localhost"),
            ("won 10@3.50 each", "won 10@3.50 each"),
        ]);
    }

    #[test]
    fn phone_numbers_are_masked_in_every_script() {
        check(&[
            ("call +44 20 7946 0958 please", "call [phone] please"),
            ("(020) 7946 0958", "[phone]"),
            ("555-123-4567", "[phone]"),
            ("appelez le 01 23 45 67 89", "appelez le [phone]"),
            ("Tel. 030/1234567", "Tel. [phone]"),
            ("llámame al +34 612 345", "llámame al [phone]"),
            ("اتصل بي ٠٥٠ ١٢٣ ٤٥٦٧", "اتصل بي [phone]"),
            ("شماره ۰۹۱۲۳۴۵۶۷۸۹", "شماره [phone]"),
            ("फ़ोन ९८७६५४३२१०", "फ़ोन [phone]"),
            ("＋４４ ２０ ７９４６ ０９５８", "[phone]"),
            ("22/11/2026 0612345678", "22/11/2026 [phone]"),
            ("Tel:0612345678, merci", "Tel:[phone], merci"),
        ]);
    }

    #[test]
    fn dates_times_and_short_numbers_stay() {
        check(&[
            ("on 2026-11-22 at 10:30", "on 2026-11-22 at 10:30"),
            ("am 22.11.2026", "am 22.11.2026"),
            ("order 12345678 late", "order 12345678 late"),
            ("ref123456789", "ref123456789"),
            (
                "waited 45 minutes for 3 forms",
                "waited 45 minutes for 3 forms",
            ),
        ]);
    }

    #[test]
    fn card_numbers_are_masked_when_their_checksum_passes() {
        check(&[
            (
                "card 4111 1111 1111 1111 charged twice",
                "card [card] charged twice",
            ),
            ("4111-1111-1111-1111", "[card]"),
            ("4111111111111111", "[card]"),
            ("4222222222222", "[card]"),
            ("amex 3782 822463 10005", "amex [card]"),
            ("٤١١١ ١١١١ ١١١١ ١١١١", "[card]"),
            ("４１１１ １１１１ １１１１ １１１１", "[card]"),
            // 16 digits failing the check: not a card, too long for a phone.
            ("4111 1111 1111 1112", "4111 1111 1111 1112"),
        ]);
    }

    #[test]
    fn every_zero_starts_ten_digits() {
        for zero in DIGIT_ZEROS {
            for value in 0..10 {
                let c = char::from_u32(zero + value).expect("a character");
                assert!(c.is_numeric(), "{c:?}");
                assert_eq!(digit(c), Some(value));
            }
        }
        assert_eq!(digit('a'), None);
        assert_eq!(digit('½'), None);
    }

    proptest! {
        #[test]
        fn masking_is_stable_and_never_lengthens(text in "[a-z0-9@+ .()٠-٩０-９＠-]{0,80}") {
            let once = redact(&text);
            prop_assert!(once.chars().count() <= text.chars().count());
            prop_assert_eq!(redact(&once), once.clone());
        }

        #[test]
        fn text_without_an_at_sign_or_seven_digits_is_never_masked(
            text in "call [+＋]?[0-9٠-٩０-９]{1,3}([ .-]?[0-9٠-٩０-９]{1,3}){1,5} now|[a-z0-9@+ .()٠-٩０-９＠-]{0,40}|\\PC{0,60}"
        ) {
            if !may_hold_contact(&text) {
                prop_assert_eq!(redact(&text), text.clone());
            }
            if let Ok(Some(comment)) = crate::Comment::parse(&text) {
                let mut masked = comment.clone();
                masked.mask();
                prop_assert_eq!(masked, comment.redacted());
            }
        }

        #[test]
        fn any_text_masks_into_a_valid_comment(text in "\\PC{0,120}") {
            let once = redact(&text);
            prop_assert!(once.chars().count() <= text.chars().count());
            prop_assert_eq!(redact(&once), once.clone());
            prop_assert!(crate::Comment::parse(&once).is_ok());
        }
    }
}
