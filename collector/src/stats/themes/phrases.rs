//! Keyphrases of one comment, per locale, on the box: words lowercased, stop words dropped and
//! the rest stemmed, with the stop-word lists of `stop-words` (ISO lists) and the Snowball
//! stemmers of `rust-stemmers`, both maintained crates that need no model and no network.
//!
//! A comment is a few sentences, too short for a document-level extractor (YAKE scores a word by
//! its spread over many sentences): here a comment's candidates are its content words, each pair
//! of neighbouring content words ("activation code") and each pair joined by one short stop word
//! ("código de activación", "code d'activation"). Whether a candidate is a theme is decided over
//! many comments, by how many carry it ([`super`]). A candidate's key is its stems joined by a
//! space, so "codes" and "code" make one theme; its label is read back from a comment that
//! carries it ([`label`]).

use std::sync::OnceLock;

use rust_stemmers::{Algorithm, Stemmer};

/// At most this many candidates are taken from one comment (in the order they appear): a long
/// comment counts no more than a short one in any theme, and a comment's cost stays bounded.
pub const PER_COMMENT: usize = 16;

/// A stop word joins two content words into one phrase only when it is this short ("de", "d",
/// "of", "du", "der"): longer ones ("never", "jamais") separate two thoughts.
const JOINER_CHARS: usize = 3;

/// Frequent adverbs the ISO lists lack (checked against them), which would otherwise join a
/// theme's words into phrases such as "jamais arrivé" or "التفعيل أبدا" ("activation never"):
/// "never", "very", "only", "again", "always", "much", "also" and "from me" in Arabic (with and
/// without the hamza), "never" in French.
const MORE_STOP_WORDS: &[(&str, &[&str])] = &[
    (
        "ar",
        &[
            "أبدا",
            "ابدا",
            "جدا",
            "فقط",
            "مرة",
            "أخرى",
            "اخرى",
            "دائما",
            "كثيرا",
            "أيضا",
            "ايضا",
            "مني",
        ],
    ),
    ("fr", &["jamais"]),
];

/// One locale's stop words and stemmer.
struct Language {
    /// Looked up once per word of every comment as it arrives: foldhash, not SipHash (the words
    /// are the lists', fixed, so nothing here needs a hash that resists chosen keys).
    stop: foldhash::HashSet<&'static str>,
    stemmer: Stemmer,
}

fn language(locale: &str) -> &'static Language {
    static LANGUAGES: OnceLock<Vec<(&'static str, Language)>> = OnceLock::new();
    let all = LANGUAGES.get_or_init(|| {
        [
            ("en", Algorithm::English),
            ("es", Algorithm::Spanish),
            ("fr", Algorithm::French),
            ("de", Algorithm::German),
            ("ar", Algorithm::Arabic),
        ]
        .into_iter()
        .map(|(code, algorithm)| {
            let more = MORE_STOP_WORDS
                .iter()
                .filter(|(c, _)| *c == code)
                .flat_map(|(_, words)| words.iter());
            let stop = stop_words::lookup(code)
                .unwrap_or_default()
                .iter()
                .chain(more)
                .copied()
                .collect();
            (
                code,
                Language {
                    stop,
                    stemmer: Stemmer::create(algorithm),
                },
            )
        })
        .collect()
    });
    &all.iter()
        .find(|(code, _)| *code == locale)
        .unwrap_or(&all[0])
        .1
}

/// Arabic short vowels, shadda, sukun and tatweel: written or not by the same writer, they are
/// dropped so one word is one token.
fn is_arabic_mark(c: char) -> bool {
    matches!(c, '\u{064B}'..='\u{065F}' | '\u{0670}' | '\u{0640}')
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A content word, with its stem at this index in the stems.
    Content,
    /// A stop word that may join two content words.
    Joiner,
    /// Anything else between words: punctuation, numbers, other stop words.
    Break,
}

/// One word of a comment: where it is and what it is.
struct Token {
    start: usize,
    end: usize,
    kind: Kind,
    stem: String,
}

/// A word being read: its lowercased text, how many characters it has and whether one is
/// numeric (counted as it is read, not by walking it again).
#[derive(Default)]
struct Word {
    text: String,
    chars: usize,
    numeric: bool,
}

impl Word {
    /// Adds `c` lowercased (one character may lowercase to two: 'İ').
    fn push(&mut self, c: char) {
        // Most comments are mostly ASCII, whose lowercase is one byte away.
        if c.is_ascii() {
            self.text.push(c.to_ascii_lowercase());
            self.chars += 1;
            self.numeric |= c.is_ascii_digit();
            return;
        }
        for lower in c.to_lowercase() {
            self.text.push(lower);
            self.chars += 1;
            self.numeric |= lower.is_numeric();
        }
    }
}

fn tokens(locale: &str, text: &str) -> Vec<Token> {
    let lang = language(locale);
    let mut out: Vec<Token> = Vec::with_capacity(16);
    let mut start = None;
    let mut word = Word {
        text: String::with_capacity(32),
        ..Word::default()
    };
    let mut push = |start: usize, end: usize, word: &mut Word, gap: bool| {
        let chars = word.chars;
        let kind = if lang.stop.contains(word.text.as_str()) {
            if chars <= JOINER_CHARS {
                Kind::Joiner
            } else {
                Kind::Break
            }
        } else if chars < 2 || word.numeric {
            Kind::Break
        } else {
            Kind::Content
        };
        let stem = if kind == Kind::Content {
            lang.stemmer.stem(&word.text).into_owned()
        } else {
            String::new()
        };
        // Punctuation other than an apostrophe or a space ends a phrase.
        if gap {
            out.push(Token {
                start,
                end: start,
                kind: Kind::Break,
                stem: String::new(),
            });
        }
        out.push(Token {
            start,
            end,
            kind,
            stem,
        });
        word.text.clear();
        word.chars = 0;
        word.numeric = false;
    };
    let mut gap = false;
    for (i, c) in text.char_indices() {
        if is_arabic_mark(c) {
            continue;
        }
        if c.is_alphanumeric() {
            start.get_or_insert(i);
            word.push(c);
        } else {
            if let Some(s) = start.take() {
                push(s, i, &mut word, gap);
                gap = false;
            }
            if !(c.is_whitespace() || matches!(c, '\'' | '’' | '-')) {
                gap = true;
            }
        }
    }
    if let Some(s) = start {
        push(s, text.len(), &mut word, gap);
    }
    out
}

/// A candidate found in a comment: its key and where its words are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub key: String,
    pub start: usize,
    pub end: usize,
}

/// The candidates of `text` in `locale`, each key once, at most [`PER_COMMENT`], in order.
pub fn candidates(locale: &str, text: &str) -> Vec<Found> {
    let tokens = tokens(locale, text);
    let mut found: Vec<Found> = Vec::new();
    let mut add = |key: String, start: usize, end: usize| {
        if found.len() < PER_COMMENT && !found.iter().any(|f| f.key == key) {
            found.push(Found { key, start, end });
        }
    };
    for (i, t) in tokens.iter().enumerate() {
        if t.kind != Kind::Content {
            continue;
        }
        add(t.stem.clone(), t.start, t.end);
        let next = tokens.get(i + 1);
        if let Some(n) = next.filter(|n| n.kind == Kind::Content) {
            add(format!("{} {}", t.stem, n.stem), t.start, n.end);
        }
        if let (Some(_), Some(n)) = (
            next.filter(|n| n.kind == Kind::Joiner),
            tokens.get(i + 2).filter(|n| n.kind == Kind::Content),
        ) {
            add(format!("{} {}", t.stem, n.stem), t.start, n.end);
        }
    }
    found
}

/// The words of `text` that carry the theme `key`, lowercased ("activation code"), if any do.
pub fn label(locale: &str, text: &str, key: &str) -> Option<String> {
    candidates(locale, text)
        .into_iter()
        .find(|f| f.key == key)
        .map(|f| text[f.start..f.end].to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(locale: &str, text: &str) -> Vec<String> {
        candidates(locale, text)
            .into_iter()
            .map(|f| f.key)
            .collect()
    }

    #[test]
    fn each_locale_finds_its_activation_code() {
        for (locale, text, label_text) in [
            (
                "en",
                "The activation code never arrived, I tried three times.",
                "activation code",
            ),
            (
                "es",
                "El código de activación nunca llegó.",
                "código de activación",
            ),
            (
                "fr",
                "Le code d'activation n'est jamais arrivé.",
                "code d'activation",
            ),
            ("de", "Der Aktivierungscode kam nie an.", "aktivierungscode"),
            ("ar", "لم يصل رمز التفعيل أبداً.", "رمز التفعيل"),
        ] {
            let found = candidates(locale, text);
            assert!(
                found
                    .iter()
                    .any(|f| text[f.start..f.end].to_lowercase() == label_text),
                "{locale}: {found:?}"
            );
            let key = &found
                .iter()
                .find(|f| text[f.start..f.end].to_lowercase() == label_text)
                .expect("found")
                .key;
            assert_eq!(label(locale, text, key).as_deref(), Some(label_text));
        }
    }

    #[test]
    fn stop_words_punctuation_and_numbers_separate_phrases() {
        assert_eq!(
            keys("en", "The codes, never! Codes arrived in 40 minutes."),
            ["code", "code arriv", "arriv", "minut"]
        );
        // Inflections share a key.
        assert_eq!(
            keys("en", "activation codes"),
            keys("en", "Activation code")
        );
    }

    #[test]
    fn a_long_comment_gives_a_bounded_number_of_candidates() {
        let text = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike";
        assert_eq!(candidates("en", text).len(), PER_COMMENT);
    }

    proptest::proptest! {
        /// The ASCII shortcut reads a word as the character-by-character lowercasing did: the
        /// same text, character count and digits, for ASCII, other scripts and characters that
        /// lowercase to two ('İ').
        #[test]
        fn a_word_reads_as_each_character_lowercased(
            word in "[a-zA-Z0-9ÀÉİÑßΣЖ٣أⅠ-Ⅳ]{0,12}"
        ) {
            let mut read = Word::default();
            word.chars().for_each(|c| read.push(c));
            let lower: String = word.chars().flat_map(char::to_lowercase).collect();
            proptest::prop_assert_eq!(&read.text, &lower);
            proptest::prop_assert_eq!(read.chars, lower.chars().count());
            proptest::prop_assert_eq!(read.numeric, lower.chars().any(char::is_numeric));
        }
    }
}
