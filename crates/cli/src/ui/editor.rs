//! The input line: the text being typed, its cursor, and the editing keys of a shell
//! (Ctrl-A/E/W/U/K, Alt-B/F, the arrows, Home/End, Backspace/Delete). Characters, not bytes:
//! the cursor never lands inside one.

#[derive(Default, Debug, Clone, PartialEq, Eq)]
pub struct Editor {
    text: Vec<char>,
    /// In characters, `0..=text.len()`.
    cursor: usize,
}

impl Editor {
    pub fn text(&self) -> String {
        self.text.iter().collect()
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// The characters before the cursor.
    pub fn before_cursor(&self) -> String {
        self.text[..self.cursor].iter().collect()
    }

    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// Replaces the whole line, the cursor at its end.
    pub fn set(&mut self, text: &str) {
        self.text = text.chars().collect();
        self.cursor = self.text.len();
    }

    /// Empties the line and says what it was.
    pub fn take(&mut self) -> String {
        let text = self.text();
        self.set("");
        text
    }

    pub fn insert(&mut self, c: char) {
        self.text.insert(self.cursor, c);
        self.cursor += 1;
    }

    pub fn insert_str(&mut self, s: &str) {
        for c in s.chars() {
            self.insert(c);
        }
    }

    /// Replaces the `n` characters before the cursor with `with`.
    pub fn replace_before(&mut self, n: usize, with: &str) {
        let from = self.cursor - n.min(self.cursor);
        self.text.splice(from..self.cursor, with.chars());
        self.cursor = from + with.chars().count();
    }

    pub fn backspace(&mut self) {
        if self.cursor > 0 {
            self.cursor -= 1;
            self.text.remove(self.cursor);
        }
    }

    pub fn delete(&mut self) {
        if self.cursor < self.text.len() {
            self.text.remove(self.cursor);
        }
    }

    pub fn left(&mut self) {
        self.cursor = self.cursor.saturating_sub(1);
    }

    pub fn right(&mut self) {
        self.cursor = (self.cursor + 1).min(self.text.len());
    }

    pub fn home(&mut self) {
        self.cursor = 0;
    }

    pub fn end(&mut self) {
        self.cursor = self.text.len();
    }

    /// Where the word before the cursor starts (spaces before it skipped).
    fn word_start(&self) -> usize {
        let mut i = self.cursor;
        while i > 0 && self.text[i - 1].is_whitespace() {
            i -= 1;
        }
        while i > 0 && !self.text[i - 1].is_whitespace() {
            i -= 1;
        }
        i
    }

    /// Where the word after the cursor ends (spaces before it skipped).
    fn word_end(&self) -> usize {
        let mut i = self.cursor;
        while i < self.text.len() && self.text[i].is_whitespace() {
            i += 1;
        }
        while i < self.text.len() && !self.text[i].is_whitespace() {
            i += 1;
        }
        i
    }

    /// Alt-B.
    pub fn word_left(&mut self) {
        self.cursor = self.word_start();
    }

    /// Alt-F.
    pub fn word_right(&mut self) {
        self.cursor = self.word_end();
    }

    /// Ctrl-W: deletes the word before the cursor.
    pub fn delete_word(&mut self) {
        let from = self.word_start();
        self.text.drain(from..self.cursor);
        self.cursor = from;
    }

    /// Ctrl-U: deletes from the start of the line to the cursor.
    pub fn delete_to_start(&mut self) {
        self.text.drain(..self.cursor);
        self.cursor = 0;
    }

    /// Ctrl-K: deletes from the cursor to the end of the line.
    pub fn delete_to_end(&mut self) {
        self.text.truncate(self.cursor);
    }
}

#[cfg(test)]
mod tests {
    use super::Editor;

    fn at(text: &str, cursor: usize) -> Editor {
        let mut e = Editor::default();
        e.set(text);
        e.cursor = cursor;
        e
    }

    #[test]
    fn words_and_lines_are_cut_as_a_shell_cuts_them() {
        let mut e = at("hello big  world", 16);
        e.delete_word();
        assert_eq!((e.text().as_str(), e.cursor()), ("hello big  ", 11));
        e.delete_word();
        assert_eq!((e.text().as_str(), e.cursor()), ("hello ", 6));
        let mut e = at("one two three", 7);
        e.delete_to_end();
        assert_eq!(e.text(), "one two");
        let mut e = at("one two three", 7);
        e.delete_to_start();
        assert_eq!((e.text().as_str(), e.cursor()), (" three", 0));
    }

    #[test]
    fn the_cursor_moves_by_characters_and_words() {
        let mut e = at("héllo wörld", 11);
        e.word_left();
        assert_eq!(e.cursor(), 6);
        e.word_left();
        assert_eq!(e.cursor(), 0);
        e.word_right();
        assert_eq!(e.cursor(), 5);
        e.right();
        e.insert('é');
        assert_eq!(e.text(), "héllo éwörld");
        e.home();
        e.delete();
        e.end();
        e.backspace();
        assert_eq!(e.text(), "éllo éwörl");
        e.left();
        e.left();
        e.left();
        e.replace_before(2, "XYZ");
        assert_eq!((e.text().as_str(), e.cursor()), ("éllo XYZörl", 8));
    }

    #[test]
    fn nothing_moves_past_the_ends() {
        let mut e = Editor::default();
        e.backspace();
        e.delete();
        e.left();
        e.right();
        e.delete_word();
        e.word_left();
        e.word_right();
        assert_eq!((e.text().as_str(), e.cursor()), ("", 0));
    }
}
