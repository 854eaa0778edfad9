//! The Korean-aware analyzer of the postings index, without a morphological dictionary
//! (lindera's ko-dic downloads its data at build time, which this build cannot do):
//! lowercase, split on anything not alphanumeric and where Hangul meets other letters;
//! a Hangul word loses one common trailing particle (`개발자를` → `개발자`) and is
//! indexed whole and as character bigrams (`백엔드` → `백엔드`, `백엔`, `엔드`), so
//! compounds and partial words match; Latin and digit runs are words.

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

/// The name the analyzer is registered under in the index.
pub const NAME: &str = "ko_bigram";

/// Particles stripped from the end of a Hangul word, longest first.
const PARTICLES: [&str; 15] = [
    "에서", "으로", "을", "를", "이", "가", "은", "는", "에", "로", "와", "과", "의", "도", "만",
];

fn is_hangul(c: char) -> bool {
    matches!(c, '\u{AC00}'..='\u{D7A3}' | '\u{1100}'..='\u{11FF}' | '\u{3130}'..='\u{318F}')
}

/// A Hangul word without its trailing particle, if at least two syllables remain.
pub fn strip_particle(word: &str) -> &str {
    for p in PARTICLES {
        if let Some(stem) = word.strip_suffix(p) {
            if stem.chars().count() >= 2 {
                return stem;
            }
        }
    }
    word
}

/// One analysed piece: the text, its byte range in the input, and whether it is Hangul.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    pub text: String,
    pub from: usize,
    pub to: usize,
}

/// The words of `text` (lowercased runs of one script), each as the pieces it indexes
/// under; Latin words are flagged for typo tolerance by the caller.
pub fn words(text: &str) -> Vec<(bool, Vec<Piece>)> {
    let mut out = Vec::new();
    let mut run: Vec<(usize, char)> = Vec::new();
    let mut run_hangul = false;
    let flush = |run: &mut Vec<(usize, char)>, hangul: bool, out: &mut Vec<(bool, Vec<Piece>)>| {
        if run.is_empty() {
            return;
        }
        let from = run[0].0;
        let (last, c) = run[run.len() - 1];
        let word = &text[from..last + c.len_utf8()];
        // A particle right after a Latin word (`Go와`, `Rust를`) is no word of its own.
        let glued = text[..from]
            .chars()
            .last()
            .is_some_and(char::is_alphanumeric);
        if hangul && glued && PARTICLES.contains(&word) {
            run.clear();
            return;
        }
        let pieces = if hangul {
            hangul_pieces(text, run)
        } else {
            vec![Piece {
                text: word.to_lowercase(),
                from,
                to: from + word.len(),
            }]
        };
        out.push((!hangul, pieces));
        run.clear();
    };
    for (i, c) in text.char_indices() {
        if !c.is_alphanumeric() {
            flush(&mut run, run_hangul, &mut out);
            continue;
        }
        let h = is_hangul(c);
        if !run.is_empty() && h != run_hangul {
            flush(&mut run, run_hangul, &mut out);
        }
        run_hangul = h;
        run.push((i, c));
    }
    flush(&mut run, run_hangul, &mut out);
    out
}

fn hangul_pieces(text: &str, run: &[(usize, char)]) -> Vec<Piece> {
    let from = run[0].0;
    let (last, c) = run[run.len() - 1];
    let word = &text[from..last + c.len_utf8()];
    let stem = strip_particle(word);
    let chars: Vec<(usize, char)> = stem.char_indices().map(|(i, c)| (from + i, c)).collect();
    let end = from + stem.len();
    let mut pieces = vec![Piece {
        text: stem.to_owned(),
        from,
        to: end,
    }];
    if chars.len() > 2 {
        for w in chars.windows(2) {
            let to = w[1].0 + w[1].1.len_utf8();
            pieces.push(Piece {
                text: text[w[0].0..to].to_owned(),
                from: w[0].0,
                to,
            });
        }
    }
    pieces
}

/// The tantivy tokenizer over [`words`].
#[derive(Clone, Default)]
pub struct KoBigram;

pub struct KoBigramStream {
    tokens: Vec<Token>,
    next: usize,
}

impl Tokenizer for KoBigram {
    type TokenStream<'a> = KoBigramStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> KoBigramStream {
        let mut tokens = Vec::new();
        let mut position = 0;
        for (_, pieces) in words(text) {
            for p in pieces {
                tokens.push(Token {
                    offset_from: p.from,
                    offset_to: p.to,
                    position,
                    text: p.text,
                    position_length: 1,
                });
                position += 1;
            }
        }
        KoBigramStream { tokens, next: 0 }
    }
}

impl TokenStream for KoBigramStream {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }

    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(s: &str) -> Vec<String> {
        words(s)
            .into_iter()
            .flat_map(|(_, p)| p.into_iter().map(|p| p.text))
            .collect()
    }

    #[test]
    fn hangul_words_lose_particles_and_become_bigrams() {
        assert_eq!(texts("개발자를"), ["개발자", "개발", "발자"]);
        assert_eq!(texts("서울에서"), ["서울"]);
        assert_eq!(texts("백엔드"), ["백엔드", "백엔", "엔드"]);
        // One syllable would be left: the word stays whole.
        assert_eq!(texts("속도"), ["속도"]);
        assert_eq!(texts("신입"), ["신입"]);
    }

    #[test]
    fn latin_runs_are_lowercase_words_split_from_hangul() {
        assert_eq!(texts("Rust 백엔드"), ["rust", "백엔드", "백엔", "엔드"]);
        assert_eq!(
            texts("Rust개발자, K8s!"),
            ["rust", "개발자", "개발", "발자", "k8s"]
        );
        let w = words("Go 개발 Kubernetes");
        assert!(w[0].0 && !w[1].0 && w[2].0);
        assert_eq!(texts("Go와 Rust를"), ["go", "rust"]);
    }

    #[test]
    fn offsets_cover_the_original_text() {
        let s = "시니어 개발자를 모십니다";
        for (_, pieces) in words(s) {
            for p in pieces {
                assert_eq!(&s[p.from..p.to], p.text);
            }
        }
        let mut t = KoBigram;
        let mut stream = t.token_stream("AB 개발자");
        let mut seen = Vec::new();
        while let Some(tok) = stream.next() {
            seen.push((tok.text.clone(), tok.position));
        }
        assert_eq!(seen[0], ("ab".to_owned(), 0));
        assert_eq!(seen.len(), 4);
    }
}
