//! The optional lobby word filter, as the original ChatHack server had: each listed word,
//! matched whole and whatever its case, becomes `****`.

use rustc_hash::FxHashSet;

#[derive(Debug, Clone, Default)]
pub struct WordFilter {
    words: FxHashSet<String>,
}

impl WordFilter {
    /// From a list of words (one a line in its file; blank lines and `#` comments skipped).
    pub fn from_lines(text: &str) -> WordFilter {
        let words = text
            .lines()
            .map(str::trim)
            .filter(|w| !w.is_empty() && !w.starts_with('#'))
            .map(str::to_lowercase)
            .collect();
        WordFilter { words }
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// `text` with every listed word replaced by `****`.
    pub fn apply(&self, text: String) -> String {
        if self.words.is_empty() {
            return text;
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while !rest.is_empty() {
            let word_len = rest.find(|c: char| !c.is_alphanumeric()).unwrap_or(rest.len());
            if word_len > 0 {
                let word = &rest[..word_len];
                out.push_str(if self.words.contains(&word.to_lowercase()) { "****" } else { word });
                rest = &rest[word_len..];
            } else {
                let c = rest.chars().next().expect("not empty");
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::WordFilter;

    #[test]
    fn whole_words_whatever_their_case() {
        let f = WordFilter::from_lines("# banned\ndarn\n  Heck \n\n");
        assert_eq!(f.apply("Darn it, HECK! darned heckle darn".into()), "**** it, ****! darned heckle ****");
        assert_eq!(f.apply("é darn é".into()), "é **** é");
        assert_eq!(WordFilter::default().apply("darn".into()), "darn");
        assert!(WordFilter::from_lines("# only a comment\n").is_empty());
    }
}
