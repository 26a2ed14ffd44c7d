//! Wrong-hit guards: checks that run after the vector search, on the two queries' words.
//!
//! Embeddings place "cancel my subscription" and "don't cancel my subscription" close
//! together, and "flights on May 3" next to "flights on May 4": the sentences share almost
//! every token, and one small word carries the difference. A cosine threshold cannot tell
//! these apart without also refusing true paraphrases, so a candidate above the threshold
//! must also agree with the query on the small words that change the answer:
//!
//! - **numbers** (digits, number words, ordinals): the same multiset;
//! - **dates and times** (months, weekdays, today/tomorrow/yesterday, next/last/this week,
//!   morning/evening, am/pm): the same set;
//! - **negation**: both negated or neither (not, no, never, n't, without, nobody, ...);
//! - **named entities** (capitalized words inside a sentence, acronyms, words with digits):
//!   every entity of one query appears, in any case, in the other;
//! - **scope** (all/some/any/none/only/most/first/last, before/after, more/less,
//!   cheapest/best-style superlatives kept as-is): the same set;
//! - **unresolved references** (he, she, it, they, this, that, there, a definite "the
//!   ...", a follow-up opener, no topic word of its own: [`leans_on_context`]): a query
//!   that leans on earlier turns only matches under the same conversation context; a
//!   standalone one matches whatever conversation it was asked in.
//!
//! Each check is deliberately simple and explainable; `Verdict` says which one refused, so
//! a miss can be understood. The evaluation (`hoard semantic eval`) measures what they cost
//! in recall and save in wrong hits.

use std::collections::BTreeSet;

/// Which checks run. All on by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Guards {
    /// Numbers must agree.
    pub numbers: bool,
    /// Dates and times must agree.
    pub dates: bool,
    /// Negation must agree.
    pub negation: bool,
    /// Named entities must agree.
    pub entities: bool,
    /// Scope words must agree.
    pub scope: bool,
    /// Queries with unresolved references match only under the same context.
    pub references: bool,
}

impl Default for Guards {
    fn default() -> Guards {
        Guards::all()
    }
}

impl Guards {
    /// Every check on.
    pub const fn all() -> Guards {
        Guards {
            numbers: true,
            dates: true,
            negation: true,
            entities: true,
            scope: true,
            references: true,
        }
    }

    /// Every check off: the plain cosine threshold (for comparison in the evaluation).
    pub const fn none() -> Guards {
        Guards {
            numbers: false,
            dates: false,
            negation: false,
            entities: false,
            scope: false,
            references: false,
        }
    }
}

/// Why a candidate was refused, or that it passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every enabled check agrees.
    Pass,
    /// The numbers differ.
    Numbers,
    /// The dates or times differ.
    Dates,
    /// One is negated, the other not.
    Negation,
    /// A named entity of one is missing from the other.
    Entities,
    /// The scope words differ.
    Scope,
    /// A query refers to something earlier in a conversation that is not the same.
    References,
    /// Feedback judged this entry wrong for a neighbour this far away or farther.
    Feedback,
    /// The verifier, reading both questions together, judged that they need different
    /// answers.
    Verifier,
}

/// The words of a query that the checks compare, extracted once per query.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Signature {
    /// Normalized numbers, sorted (a multiset).
    pub numbers: Vec<String>,
    /// Date and time words.
    pub dates: BTreeSet<String>,
    /// Whether the query is negated (an odd number of negations).
    pub negated: bool,
    /// Named entities, lower case.
    pub entities: BTreeSet<String>,
    /// Every word, lower case (entities are looked up here).
    pub words: BTreeSet<String>,
    /// Scope words.
    pub scope: BTreeSet<String>,
    /// Whether the query leans on earlier turns (he, she, it, that, ...).
    pub references: bool,
}

const NUMBER_WORDS: [(&str, &str); 40] = [
    ("zero", "0"),
    ("one", "1"),
    ("two", "2"),
    ("three", "3"),
    ("four", "4"),
    ("five", "5"),
    ("six", "6"),
    ("seven", "7"),
    ("eight", "8"),
    ("nine", "9"),
    ("ten", "10"),
    ("eleven", "11"),
    ("twelve", "12"),
    ("thirteen", "13"),
    ("fourteen", "14"),
    ("fifteen", "15"),
    ("sixteen", "16"),
    ("seventeen", "17"),
    ("eighteen", "18"),
    ("nineteen", "19"),
    ("twenty", "20"),
    ("thirty", "30"),
    ("forty", "40"),
    ("fifty", "50"),
    ("sixty", "60"),
    ("seventy", "70"),
    ("eighty", "80"),
    ("ninety", "90"),
    ("hundred", "100"),
    ("thousand", "1000"),
    ("million", "1000000"),
    ("billion", "1000000000"),
    ("first", "1st"),
    ("second", "2nd"),
    ("third", "3rd"),
    ("fourth", "4th"),
    ("fifth", "5th"),
    ("half", "0.5"),
    ("dozen", "12"),
    ("twice", "x2"),
];

const DATE_WORDS: [&str; 45] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "today",
    "tomorrow",
    "yesterday",
    "tonight",
    "morning",
    "afternoon",
    "evening",
    "night",
    "am",
    "pm",
    "weekend",
    "noon",
    "midnight",
    "now",
];

/// Words that shift a date word to another day ("next week" is not "last week").
const DATE_SHIFTS: [&str; 5] = ["next", "last", "this", "previous", "coming"];

const NEGATIONS: [&str; 13] = [
    "not", "no", "never", "nor", "neither", "nobody", "nothing", "none", "nowhere", "without",
    "cannot", "cant", "dont",
];

const SCOPE_WORDS: [&str; 24] = [
    "all", "every", "each", "any", "some", "only", "most", "least", "few", "many", "more", "less",
    "fewer", "first", "last", "before", "after", "above", "below", "over", "under", "minimum",
    "maximum", "except",
];

const REFERENCES: [&str; 16] = [
    "he", "she", "him", "her", "his", "hers", "they", "them", "their", "it", "its", "this", "that",
    "these", "those", "there",
];

/// Words that open a follow-up made of what the turns before it said: "and for two
/// people?", "what about Friday?".
const FOLLOW_UP_OPENERS: [&str; 8] = [
    "and",
    "also",
    "same",
    "then",
    "what about",
    "how about",
    "but",
    "or",
];

/// Words that carry no topic of their own: function words, and the verbs and replies a
/// follow-up is made of ("what do I need to do?", "yes, please go ahead"). A message made
/// only of these leans on the turns before it for what it is about.
const NO_TOPIC: [&str; 116] = [
    "a", "about", "after", "again", "ahead", "all", "am", "an", "any", "anything", "are", "as",
    "at", "be", "been", "before", "being", "by", "can", "could", "did", "do", "does", "doing",
    "done", "for", "from", "get", "go", "going", "got", "had", "has", "have", "help", "here",
    "how", "i", "i'd", "i'll", "i'm", "i've", "if", "in", "into", "is", "just", "know", "let",
    "let's", "like", "make", "me", "mine", "more", "much", "must", "my", "need", "next", "no",
    "now", "of", "ok", "okay", "on", "one", "or", "our", "out", "please", "really", "right",
    "should", "so", "sort", "step", "steps", "still", "sure", "tell", "than", "thank", "thanks",
    "the", "then", "thing", "things", "to", "too", "up", "us", "very", "want", "was", "we", "were",
    "what", "what's", "when", "where", "which", "who", "why", "will", "with", "would", "yeah",
    "yes", "yet", "you", "your", "great", "fine", "good", "also",
];

/// Whether `text` leans on the turns before it for what it is about: it refers back (he,
/// it, that..., or a definite "the ..."), opens as a follow-up ("and for two people?", "what about Friday?"), or has
/// no topic word of its own ("what do I need to do?"). A question that does not is
/// standalone: the conversation it was asked in does not change its answer.
pub fn leans_on_context(text: &str) -> bool {
    let words: Vec<String> = tokens(text)
        .into_iter()
        .map(|t| t.text.to_lowercase())
        .collect();
    if words.iter().any(|w| REFERENCES.contains(&w.as_str())) {
        return true;
    }
    // "the date", "the seats": a definite article points at something already named.
    if words.iter().any(|w| w == "the") {
        return true;
    }
    let opening = words.iter().take(2).cloned().collect::<Vec<_>>().join(" ");
    if FOLLOW_UP_OPENERS
        .iter()
        .any(|o| opening == *o || opening.starts_with(&format!("{o} ")))
    {
        return true;
    }
    words
        .iter()
        .all(|w| NO_TOPIC.contains(&w.as_str()) || number(w).is_some())
}

/// Words that start a question or are capitalized for grammar, not because they name
/// something.
const NOT_ENTITIES: [&str; 30] = [
    "i", "i'm", "i've", "i'd", "i'll", "what", "how", "why", "when", "where", "who", "which", "is",
    "are", "can", "do", "does", "did", "should", "would", "could", "will", "the", "a", "an", "in",
    "if", "my", "please", "hi",
];

impl Signature {
    /// Extracts the signature of `text`.
    pub fn of(text: &str) -> Signature {
        let mut signature = Signature::default();
        let mut negations = 0usize;
        let mut previous: Option<String> = None;
        let mut sentence_start = true;
        for token in tokens(text) {
            let raw = token.text.as_str();
            let lower = raw.to_lowercase();
            let plain: String = lower.chars().filter(|c| *c != '\'' && *c != '’').collect();
            signature.words.insert(lower.clone());
            if let Some(number) = number(&lower) {
                signature.numbers.push(number);
            } else if DATE_WORDS.contains(&lower.as_str()) {
                match previous.as_deref() {
                    Some(shift) if DATE_SHIFTS.contains(&shift) => {
                        signature.dates.insert(format!("{shift} {lower}"));
                    }
                    _ => {
                        signature.dates.insert(lower.clone());
                    }
                }
            } else if matches!(lower.as_str(), "week" | "month" | "year" | "weekend") {
                if let Some(shift) = previous.as_deref().filter(|p| DATE_SHIFTS.contains(p)) {
                    signature.dates.insert(format!("{shift} {lower}"));
                }
            }
            if NEGATIONS.contains(&plain.as_str())
                || plain.ends_with("nt") && lower.ends_with("n't")
            {
                negations += 1;
            }
            if SCOPE_WORDS.contains(&lower.as_str()) {
                signature.scope.insert(lower.clone());
            }
            if REFERENCES.contains(&lower.as_str()) {
                signature.references = true;
            }
            if is_entity(raw, sentence_start) && !NOT_ENTITIES.contains(&lower.as_str()) {
                signature.entities.insert(lower.clone());
            }
            sentence_start = token.ends_sentence;
            previous = Some(lower);
        }
        signature.numbers.sort();
        signature.negated = negations % 2 == 1;
        signature
    }

    /// Compares two signatures under `guards`; `same_context` says whether the two queries
    /// were asked in the same conversation context.
    pub fn agree(&self, other: &Signature, guards: Guards, same_context: bool) -> Verdict {
        if guards.numbers && self.numbers != other.numbers {
            return Verdict::Numbers;
        }
        if guards.dates && self.dates != other.dates {
            return Verdict::Dates;
        }
        if guards.negation && self.negated != other.negated {
            return Verdict::Negation;
        }
        if guards.entities
            && !(self.entities.iter().all(|e| other.words.contains(e))
                && other.entities.iter().all(|e| self.words.contains(e)))
        {
            return Verdict::Entities;
        }
        if guards.scope && self.scope != other.scope {
            return Verdict::Scope;
        }
        if guards.references && (self.references || other.references) && !same_context {
            return Verdict::References;
        }
        Verdict::Pass
    }
}

#[cfg(test)]
mod leaning {
    use super::leans_on_context;

    #[test]
    fn follow_ups_lean_on_the_turns_before_and_standalone_questions_do_not() {
        for follow_up in [
            "How do I cancel it?",
            "Can I get a refund for that?",
            "And for two people?",
            "What about Friday?",
            "What do I need to do?",
            "Yes, please go ahead.",
            "Can I change the date?",
            "ok thanks",
            "",
        ] {
            assert!(leans_on_context(follow_up), "{follow_up:?}");
        }
        for standalone in [
            "Do you have vegan options?",
            "How do I reset my password?",
            "What are your opening hours?",
            "Which plan includes priority support?",
            "Is parking included?",
        ] {
            assert!(!leans_on_context(standalone), "{standalone:?}");
        }
    }
}

/// A word and whether a sentence ends right after it.
struct Token {
    text: String,
    ends_sentence: bool,
}

/// Splits text into words: letters, digits and apostrophes, with `.`, `,`, `:` and `/`
/// kept between digits (`3.5`, `1,000`, `10:30`, `5/3`) and `$`/`%` kept on numbers. A
/// possessive `'s` is dropped (`France's` is `France`).
fn tokens(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<Token> = Vec::new();
    let mut current = String::new();
    let digit_at = |i: usize| chars.get(i).is_some_and(char::is_ascii_digit);
    let finish = |current: &mut String, out: &mut Vec<Token>, ends_sentence: bool| {
        if current.chars().any(char::is_alphanumeric) {
            let mut text = std::mem::take(current);
            for suffix in ["'s", "’s"] {
                if text.len() > suffix.len() + 1 && text.ends_with(suffix) {
                    text.truncate(text.len() - suffix.len());
                }
            }
            let text = text.trim_matches(|c| c == '\'' || c == '’').to_owned();
            out.push(Token {
                text,
                ends_sentence,
            });
        } else {
            current.clear();
        }
    };
    for (i, &c) in chars.iter().enumerate() {
        let joins_digits =
            matches!(c, '.' | ',' | ':' | '/') && i > 0 && digit_at(i - 1) && digit_at(i + 1);
        if c.is_alphanumeric() || c == '\'' || c == '’' || joins_digits {
            current.push(c);
        } else if matches!(c, '$' | '€' | '£') && digit_at(i + 1) && current.is_empty() {
            // Currency is part of the amount; dropped by `number`.
        } else if c == '%' && !current.is_empty() {
            current.push(c);
        } else {
            let ends_sentence = matches!(c, '.' | '?' | '!');
            finish(&mut current, &mut out, ends_sentence);
            if ends_sentence {
                if let Some(last) = out.last_mut() {
                    last.ends_sentence = true;
                }
            }
        }
    }
    finish(&mut current, &mut out, true);
    out
}

/// A normalized number: `3`, `3.5`, `3rd`, `$20` -> `20`, `10:30`, `2024`, number words.
fn number(token: &str) -> Option<String> {
    let trimmed = token;
    if let Some((_, digits)) = NUMBER_WORDS.iter().find(|(word, _)| *word == trimmed) {
        return Some((*digits).to_owned());
    }
    let stripped = trimmed
        .trim_start_matches(['$', '€', '£', '#'])
        .trim_end_matches('%');
    let has_digit = stripped.chars().any(|c| c.is_ascii_digit());
    if !has_digit {
        return None;
    }
    let digits_only = stripped
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | ',' | ':' | '/' | '-'));
    let ordinal = ["st", "nd", "rd", "th"].iter().any(|suffix| {
        stripped
            .strip_suffix(suffix)
            .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
    });
    if digits_only || ordinal {
        return Some(stripped.replace(',', ""));
    }
    // Words such as "5g" or "mp3" carry a number too, and name different things.
    Some(stripped.to_owned())
}

/// A token names something if it is capitalized mid-sentence, all capitals (an acronym of
/// two letters or more), or mixes letters and digits.
fn is_entity(raw: &str, sentence_start: bool) -> bool {
    let word = raw;
    let mut chars = word.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let letters: Vec<char> = word.chars().filter(|c| c.is_alphabetic()).collect();
    let acronym = letters.len() >= 2 && letters.iter().all(|c| c.is_uppercase());
    let mixed = word.chars().any(|c| c.is_ascii_digit()) && word.chars().any(char::is_alphabetic);
    acronym || mixed || (first.is_uppercase() && !sentence_start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(a: &str, b: &str) -> Verdict {
        Signature::of(a).agree(&Signature::of(b), Guards::all(), false)
    }

    #[test]
    fn paraphrases_pass() {
        for (a, b) in [
            (
                "How do I learn Python quickly?",
                "What is the fastest way to learn python?",
            ),
            ("red shoes size 9", "shoes red color size nine"),
            (
                "What is the capital of France?",
                "what's France's capital city?",
            ),
        ] {
            assert_eq!(verdict(a, b), Verdict::Pass, "{a} / {b}");
        }
    }

    #[test]
    fn traps_are_refused_with_the_reason() {
        assert_eq!(
            verdict("Cancel my subscription", "Don't cancel my subscription"),
            Verdict::Negation
        );
        assert_eq!(
            verdict("flights on May 3", "flights on May 4"),
            Verdict::Numbers
        );
        assert_eq!(
            verdict("weather tomorrow in Paris", "weather today in Paris"),
            Verdict::Dates
        );
        assert_eq!(
            verdict("meetings next week", "meetings last week"),
            Verdict::Dates
        );
        assert_eq!(
            verdict("Who founded Apple?", "Who founded Microsoft?"),
            Verdict::Entities
        );
        assert_eq!(
            verdict("delete all my photos", "delete some of my photos"),
            Verdict::Scope
        );
        assert_eq!(
            verdict("how old is he?", "how old is he?"),
            Verdict::References
        );
        assert_eq!(
            Signature::of("how old is he?").agree(
                &Signature::of("how old is he?"),
                Guards::all(),
                true
            ),
            Verdict::Pass
        );
    }

    #[test]
    fn numbers_normalize() {
        assert_eq!(
            Signature::of("I need 3 tickets for $20").numbers,
            ["20", "3"]
        );
        assert_eq!(Signature::of("three tickets").numbers, ["3"]);
        assert_eq!(
            Signature::of("the 3rd time, 1,000 people").numbers,
            ["1000", "3rd"]
        );
    }
}
