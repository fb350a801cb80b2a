//! Where a JSON pointer is in a YAML (or JSON) text: line and column, for `connectors check`.
//!
//! The YAML crate the workspace uses (`serde_norway`) gives positions only for syntax errors,
//! so this module reads the text's structure itself: block mappings and sequences (by
//! indentation), flow collections (`{a: 1, b: [x, y]}`, which covers JSON), quoted and plain
//! scalars, block scalars (`|`, `>`), comments, anchors and tags. It only needs to find where
//! keys and items start; values are never decoded, and text it cannot follow ends the walk at
//! the nearest node it could place, never with a panic. A pointer through an alias (`*name`)
//! stops at the alias.

/// A node of the text: where it starts and what it holds.
#[derive(Debug)]
struct Node {
    line: usize,
    col: usize,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// Keys with their own position, and their values.
    Map(Vec<Entry>),
    Seq(Vec<Node>),
    Scalar,
}

#[derive(Debug)]
struct Entry {
    key: String,
    line: usize,
    col: usize,
    value: Node,
}

/// A position in the text, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
    /// False when the pointer's last tokens are not in the text (a missing field): the position
    /// is that of the deepest node that is.
    pub exact: bool,
}

/// The structure of one YAML or JSON text, for finding pointers in it.
#[derive(Debug)]
pub struct SourceMap {
    root: Option<Node>,
}

impl SourceMap {
    /// Reads the structure of `text`.
    pub fn new(text: &str) -> SourceMap {
        let mut p = Parser { lines: text.lines().collect(), next: 0 };
        let root = p.next_content(0).map(|(l, i)| p.node(l, i, -1));
        SourceMap { root }
    }

    /// Where the node at JSON pointer `pointer` (`/paths/~1pets/get`) starts: for an object
    /// member, its key.
    pub fn locate(&self, pointer: &str) -> Position {
        let Some(mut node) = self.root.as_ref() else { return Position { line: 1, column: 1, exact: false } };
        let mut at = Position { line: node.line, column: node.col, exact: true };
        if pointer.is_empty() || pointer == "/" {
            return at;
        }
        for raw in pointer.trim_start_matches('/').split('/') {
            let token = raw.replace("~1", "/").replace("~0", "~");
            let found = match &node.kind {
                Kind::Map(entries) => {
                    entries.iter().find(|e| e.key == token).map(|e| (&e.value, Some((e.line, e.col))))
                }
                Kind::Seq(items) => token.parse::<usize>().ok().and_then(|i| items.get(i)).map(|n| (n, None)),
                Kind::Scalar => None,
            };
            match found {
                Some((next, key_pos)) => {
                    let (line, column) = key_pos.unwrap_or((next.line, next.col));
                    at = Position { line, column, exact: true };
                    node = next;
                }
                None => return Position { exact: false, ..at },
            }
        }
        at
    }
}

struct Parser<'a> {
    lines: Vec<&'a str>,
    /// The first line not yet read by the block parser.
    next: usize,
}

/// 1-based character column of byte offset `b` in `line`.
fn column(line: &str, b: usize) -> usize {
    line.get(..b).map_or(b, |s| s.chars().count()) + 1
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// Whether `text` (a block line from its first non-space) starts a sequence item.
fn is_item(text: &str) -> bool {
    text == "-" || text.starts_with("- ") || text.starts_with("-\t")
}

/// Skips anchors (`&a`) and tags (`!t`, `!!str`) before a node; returns the byte offset past them.
fn skip_properties(text: &str) -> usize {
    let mut off = 0;
    loop {
        let rest = &text[off..];
        if !(rest.starts_with('&') || rest.starts_with('!')) {
            return off;
        }
        let end = rest.find([' ', '\t']).unwrap_or(rest.len());
        off += end;
        off += text[off..].len() - text[off..].trim_start().len();
    }
}

/// A quoted scalar starting at `text[0]` (`"` or `'`) on one line: its value and the byte
/// offset past the closing quote, if it closes on this line.
fn quoted(text: &str) -> Option<(String, usize)> {
    let q = text.chars().next()?;
    let mut out = String::new();
    let mut chars = text.char_indices().skip(1).peekable();
    while let Some((i, c)) = chars.next() {
        if q == '"' && c == '\\' {
            if let Some((_, e)) = chars.next() {
                out.push(match e {
                    'n' => '\n',
                    't' => '\t',
                    other => other,
                });
            }
        } else if c == q {
            if q == '\'' && chars.peek().map(|x| x.1) == Some('\'') {
                chars.next();
                out.push('\'');
            } else {
                return Some((out, i + 1));
            }
        } else {
            out.push(c);
        }
    }
    None
}

/// If the block line `text` (from its first non-space) is `key: ...`, the key and the byte
/// offset of what follows the colon.
fn block_key(text: &str) -> Option<(String, usize)> {
    if text.starts_with(['"', '\'']) {
        let (key, end) = quoted(text)?;
        let rest = &text[end..];
        let after = rest.trim_start();
        let colon = end + (rest.len() - after.len());
        return after.starts_with(':').then_some((key, colon + 1));
    }
    if is_item(text) || text.starts_with(['#', '{', '[', '|', '>', '?', '*', '%', '@', '`']) {
        return None;
    }
    let bytes = text.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'#' && i > 0 && (bytes[i - 1] == b' ' || bytes[i - 1] == b'\t') {
            return None;
        }
        if b == b':' && (i + 1 == bytes.len() || bytes[i + 1] == b' ' || bytes[i + 1] == b'\t') {
            return Some((text[..i].trim_end().to_string(), i + 1));
        }
    }
    None
}

impl Parser<'_> {
    /// The first line at or after `from` with content (not blank, a comment, `---` or a
    /// directive), and its indentation.
    fn next_content(&self, from: usize) -> Option<(usize, usize)> {
        (from..self.lines.len()).find_map(|l| {
            let t = self.lines[l].trim();
            let skip = t.is_empty() || t.starts_with('#') || t == "---" || t.starts_with('%') || t == "...";
            (!skip).then(|| (l, indent_of(self.lines[l])))
        })
    }

    /// The block node whose content starts at byte `b` of line `l`; `parent` is the
    /// indentation of the enclosing block (-1 at the top).
    fn node(&mut self, l: usize, b: usize, parent: isize) -> Node {
        let line = self.lines[l];
        let b = b + skip_properties(&line[b..]);
        let text = &line[b..];
        if text.is_empty() || text.starts_with('#') {
            // Only properties on this line (`key: &anchor` then a block below).
            return match self.next_content(l + 1) {
                Some((l2, i2)) if i2 as isize > parent => self.node(l2, i2, parent),
                _ => {
                    self.next = l + 1;
                    Node { line: l + 1, col: column(line, b), kind: Kind::Scalar }
                }
            };
        }
        if is_item(text) {
            return self.seq(l, b);
        }
        if block_key(text).is_some() {
            return self.map(l, b);
        }
        self.inline_value(l, b, parent)
    }

    /// A value that starts on a line after a key or a dash: flow, block scalar or scalar.
    fn inline_value(&mut self, l: usize, b: usize, parent: isize) -> Node {
        let line = self.lines[l];
        let text = &line[b..];
        let col = column(line, b);
        if text.starts_with(['{', '[']) {
            let mut f = Flow { lines: &self.lines, l, b };
            let node = f.value();
            self.next = f.l + 1;
            return node;
        }
        // A scalar: block (`|`, `>`) or plain / quoted, possibly continued on deeper lines.
        let mut end = l + 1;
        if text.starts_with('"') && quoted(text).is_none() {
            // A double-quoted scalar over several lines: up to the line that closes it.
            while end < self.lines.len() {
                let t = self.lines[end];
                end += 1;
                if t.replace("\\\\", "").replace("\\\"", "").contains('"') {
                    break;
                }
            }
        }
        while end < self.lines.len() {
            let t = self.lines[end];
            if t.trim().is_empty() || indent_of(t) as isize > parent {
                end += 1;
            } else {
                break;
            }
        }
        // Trailing blank lines belong to no one; let the caller find its next content.
        self.next = end;
        Node { line: l + 1, col, kind: Kind::Scalar }
    }

    fn map(&mut self, l: usize, b: usize) -> Node {
        let indent = b;
        let start = Node { line: l + 1, col: column(self.lines[l], b), kind: Kind::Scalar };
        let mut entries = Vec::new();
        let mut cur = Some((l, b));
        while let Some((l, b)) = cur {
            let line = self.lines[l];
            let Some((key, after)) = block_key(&line[b..]) else { break };
            let v = b + after;
            let rest = &line[v..];
            let vstart = v + (rest.len() - rest.trim_start().len());
            let props = skip_properties(&line[vstart..]);
            let value_text = line[vstart + props..].trim_end();
            let value = if value_text.is_empty() || value_text.starts_with('#') {
                match self.next_content(l + 1) {
                    Some((l2, i2)) if i2 > indent || (i2 == indent && is_item(self.lines[l2].trim_start())) => {
                        self.node(l2, i2, indent as isize)
                    }
                    _ => {
                        self.next = l + 1;
                        Node { line: l + 1, col: column(line, vstart), kind: Kind::Scalar }
                    }
                }
            } else {
                self.inline_value(l, vstart + props, indent as isize)
            };
            entries.push(Entry { key, line: l + 1, col: column(line, b), value });
            cur = match self.next_content(self.next) {
                Some((l2, i2)) if i2 == indent && !is_item(self.lines[l2].trim_start()) => Some((l2, i2)),
                _ => None,
            };
        }
        Node { kind: Kind::Map(entries), ..start }
    }

    fn seq(&mut self, l: usize, b: usize) -> Node {
        let indent = b;
        let start = Node { line: l + 1, col: column(self.lines[l], b), kind: Kind::Scalar };
        let mut items = Vec::new();
        let mut cur = Some(l);
        while let Some(l) = cur {
            let line = self.lines[l];
            let after = &line[indent + 1..];
            let content = indent + 1 + (after.len() - after.trim_start().len());
            let text = line[content..].trim_end();
            let item = if text.is_empty() || text.starts_with('#') {
                match self.next_content(l + 1) {
                    Some((l2, i2)) if i2 > indent => self.node(l2, i2, indent as isize),
                    _ => {
                        self.next = l + 1;
                        Node { line: l + 1, col: column(line, indent), kind: Kind::Scalar }
                    }
                }
            } else {
                self.node(l, content, indent as isize)
            };
            items.push(Node { line: l + 1, col: column(line, indent), kind: item.kind });
            cur = match self.next_content(self.next) {
                Some((l2, i2)) if i2 == indent && is_item(self.lines[l2].trim_start()) => Some(l2),
                _ => None,
            };
        }
        Node { kind: Kind::Seq(items), ..start }
    }
}

/// A cursor over flow text (`{...}`, `[...]`), which may span lines.
struct Flow<'a, 'b> {
    lines: &'b [&'a str],
    l: usize,
    b: usize,
}

impl Flow<'_, '_> {
    fn peek(&self) -> Option<char> {
        self.lines.get(self.l).and_then(|s| s[self.b..].chars().next())
    }

    fn bump(&mut self) {
        if let Some(c) = self.peek() {
            self.b += c.len_utf8();
        }
    }

    /// Skips spaces, line ends and comments.
    fn ws(&mut self) {
        while self.l < self.lines.len() {
            let line = self.lines[self.l];
            let rest = &line[self.b..];
            let trimmed = rest.trim_start();
            self.b += rest.len() - trimmed.len();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                if self.l + 1 >= self.lines.len() {
                    self.b = line.len();
                    return;
                }
                self.l += 1;
                self.b = 0;
            } else {
                return;
            }
        }
    }

    fn here(&self) -> (usize, usize) {
        let line = self.lines.get(self.l).copied().unwrap_or("");
        (self.l + 1, column(line, self.b))
    }

    /// A quoted scalar at the cursor, possibly over several lines; its text.
    fn quoted(&mut self) -> String {
        let q = self.peek().unwrap_or('"');
        self.bump();
        let mut out = String::new();
        while self.l < self.lines.len() {
            match self.peek() {
                None => {
                    if self.l + 1 >= self.lines.len() {
                        return out;
                    }
                    out.push(' ');
                    self.l += 1;
                    self.b = 0;
                }
                Some('\\') if q == '"' => {
                    self.bump();
                    if let Some(c) = self.peek() {
                        out.push(c);
                        self.bump();
                    }
                }
                Some(c) if c == q => {
                    self.bump();
                    if q == '\'' && self.peek() == Some('\'') {
                        out.push('\'');
                        self.bump();
                    } else {
                        return out;
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.bump();
                }
            }
        }
        out
    }

    /// A plain scalar at the cursor: up to `,`, `]`, `}`, or (as a key) `: `.
    fn plain(&mut self, key: bool) -> String {
        let mut out = String::new();
        loop {
            match self.peek() {
                None => {
                    // Plain scalars may continue on the next line.
                    self.ws();
                    if self.peek().is_none() || matches!(self.peek(), Some(',' | ']' | '}')) {
                        return out.trim().to_string();
                    }
                    out.push(' ');
                }
                Some(',' | ']' | '}') => return out.trim().to_string(),
                Some(':') if key => {
                    let next = self.lines[self.l][self.b + 1..].chars().next();
                    if next.is_none_or(|c| c == ' ' || c == '\t' || c == ',' || c == '}' || c == ']') {
                        return out.trim().to_string();
                    }
                    out.push(':');
                    self.bump();
                }
                Some('#') if out.ends_with(' ') => {
                    self.b = self.lines[self.l].len();
                }
                Some(c) => {
                    out.push(c);
                    self.bump();
                }
            }
        }
    }

    fn properties(&mut self) {
        while matches!(self.peek(), Some('&' | '!')) {
            while self.peek().is_some_and(|c| !c.is_whitespace() && c != ',' && c != ']' && c != '}') {
                self.bump();
            }
            self.ws();
        }
    }

    /// The flow node at the cursor; leaves the cursor past it.
    fn value(&mut self) -> Node {
        self.ws();
        self.properties();
        let (line, col) = self.here();
        match self.peek() {
            Some('{') => {
                self.bump();
                let mut entries = Vec::new();
                loop {
                    self.ws();
                    match self.peek() {
                        None => break,
                        // A `]` closing a `{` (a typo) ends the mapping as well: read as a key,
                        // it would be read again and again, the cursor never moving.
                        Some('}' | ']') => {
                            self.bump();
                            break;
                        }
                        Some(',') => {
                            self.bump();
                            continue;
                        }
                        _ => {}
                    }
                    let (kl, kc) = self.here();
                    let key = if matches!(self.peek(), Some('"' | '\'')) { self.quoted() } else { self.plain(true) };
                    self.ws();
                    let value = if self.peek() == Some(':') {
                        self.bump();
                        self.ws();
                        if matches!(self.peek(), Some(',' | '}')) {
                            let (l, c) = self.here();
                            Node { line: l, col: c, kind: Kind::Scalar }
                        } else {
                            self.value()
                        }
                    } else {
                        Node { line: kl, col: kc, kind: Kind::Scalar }
                    };
                    entries.push(Entry { key, line: kl, col: kc, value });
                }
                Node { line, col, kind: Kind::Map(entries) }
            }
            Some('[') => {
                self.bump();
                let mut items = Vec::new();
                loop {
                    self.ws();
                    match self.peek() {
                        None => break,
                        // A `}` closing a `[` ends the sequence, as `]` a mapping above.
                        Some(']' | '}') => {
                            self.bump();
                            break;
                        }
                        Some(',') => {
                            self.bump();
                            continue;
                        }
                        _ => items.push(self.value()),
                    }
                }
                Node { line, col, kind: Kind::Seq(items) }
            }
            Some('"' | '\'') => {
                self.quoted();
                Node { line, col, kind: Kind::Scalar }
            }
            _ => {
                self.plain(false);
                Node { line, col, kind: Kind::Scalar }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str, ptr: &str) -> (usize, usize, bool) {
        let p = SourceMap::new(text).locate(ptr);
        (p.line, p.column, p.exact)
    }

    #[test]
    fn block_mappings_and_sequences() {
        let text = "# comment\nopenapi: 3.1.0\ninfo:\n  title: T   # trailing\n  x-connector-name: t\nservers:\n  - url: https://x\n    variables:\n      sub: {default: api}\n  - url: b\npaths:\n  /a/{id}:\n    get:\n      description: |\n        text: with colon\n\n        more\n      x-action: get\n";
        assert_eq!(at(text, "/openapi"), (2, 1, true));
        assert_eq!(at(text, "/info/x-connector-name"), (5, 3, true));
        assert_eq!(at(text, "/servers/0"), (7, 3, true));
        assert_eq!(at(text, "/servers/0/variables/sub/default"), (9, 13, true));
        assert_eq!(at(text, "/servers/1/url"), (10, 5, true));
        assert_eq!(at(text, "/paths/~1a~1{id}/get/x-action"), (18, 7, true));
        assert_eq!(at(text, "/paths/~1a~1{id}/get/x-entity"), (13, 5, false));
        assert_eq!(at(text, "/info/missing/deeper"), (3, 1, false));
    }

    #[test]
    fn sequences_at_the_key_indent_and_nested_items() {
        let text = "a:\n- x\n- - y\n  - z\n- k: 1\n  j: 2\nb: 'q''s: x'\n\"c d\": [1, {e: 2,\n  f: [3]}]\n";
        assert_eq!(at(text, "/a/0"), (2, 1, true));
        assert_eq!(at(text, "/a/1/1"), (4, 3, true));
        assert_eq!(at(text, "/a/2/j"), (6, 3, true));
        assert_eq!(at(text, "/b"), (7, 1, true));
        assert_eq!(at(text, "/c d/1/f/0"), (9, 7, true));
    }

    #[test]
    fn json_documents() {
        let text = "{\n  \"openapi\": \"3.0.0\",\n  \"paths\": {\n    \"/pets\": {\"get\": {\"x-a\": \"b, c: d\", \"n\": [1, 2]}}\n  }\n}\n";
        assert_eq!(at(text, "/paths/~1pets/get/n/1"), (4, 50, true));
        assert_eq!(at(text, "/paths/~1pets/get/x-a"), (4, 23, true));
    }

    #[test]
    fn anchors_aliases_and_unreadable_text_do_not_panic() {
        let text = "x: &p {a: 1}\ny: *p\nz: &q\n  k: v\n";
        assert_eq!(at(text, "/x/a"), (1, 8, true));
        assert_eq!(at(text, "/y/a"), (2, 1, false));
        assert_eq!(at(text, "/z/k"), (4, 3, true));
        for junk in ["{", "[{\"a\": ", "a: \"open\n", "- : :\n  -", "\u{e9}: [\u{e9}"] {
            let _ = SourceMap::new(junk).locate("/a/0/b");
        }
    }

    /// A closer that does not match its opener (`{"a": 1]}`, the commonest JSON typo) ends the
    /// collection: it used to be read as a key or an item forever, the cursor never moving.
    #[test]
    fn mismatched_closers_end_their_collection() {
        for junk in ["paths: {a: 1]}", "{\"a\": 1]}", "[a}]", "{]", "x: [{a: [1}, b: 2]}]\ny: 3"] {
            let (done, finished) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let p = SourceMap::new(junk).locate("/a");
                let _ = done.send((p.line, p.column));
            });
            let located = finished.recv_timeout(std::time::Duration::from_secs(10));
            assert!(located.is_ok(), "{junk:?}: the map was never made");
        }
        assert_eq!(at("x: {a: 1]}\ny: 3\n", "/y"), (2, 1, true));
    }
}
