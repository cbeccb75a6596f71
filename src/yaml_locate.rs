//! Finds where a value sits in a YAML text (line and column), for diagnostics.
//!
//! serde_yaml gives positions only for syntax and type errors. Semantic checks (a bad MAC, a duplicate
//! user) know the *path* of the value (`[3].lines[0].user`); this module walks the YAML events once, on
//! demand, and turns such a path into a position. It is only used when there is something to report,
//! so a valid inventory pays nothing for it.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// One step of a path into a YAML document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// Builds paths conveniently: `path!["phones", 3, "mac"]` is not needed; use `p(&[..])`.
pub fn key(k: impl Into<String>) -> Seg {
    Seg::Key(k.into())
}

pub fn idx(i: usize) -> Seg {
    Seg::Index(i)
}

enum Frame {
    Seq {
        next: usize,
    },
    /// `fresh` until the first key: a block mapping's start mark points past its first key, so the
    /// mapping is located at that key instead.
    Map {
        expect_key: bool,
        current: Option<String>,
        fresh: bool,
    },
}

struct Walker<'a> {
    target: &'a [Seg],
    /// Path of the node the next event belongs to.
    stack: Vec<Frame>,
    path: Vec<Seg>,
    /// Position of the key of the target (when the target's last step is a key), and of its value.
    key_pos: Option<(usize, usize)>,
    value_pos: Option<(usize, usize)>,
    /// Deepest position reached along the target path, a fallback when the full path is absent.
    best: Option<(usize, (usize, usize))>,
    /// With `find_key`: the first key of that name anywhere under the target path.
    find_key: Option<&'a str>,
    found_key: Option<(usize, usize)>,
    /// With `repeated_key`: how often the target mapping's own keys were that name, and where
    /// the second one is.
    repeated_key: Option<&'a str>,
    seen: usize,
    repeat_pos: Option<(usize, usize)>,
}

fn pos(m: &Marker) -> (usize, usize) {
    (m.line(), m.col() + 1)
}

impl Walker<'_> {
    /// Path of the node that the incoming event starts, and whether the event is a mapping key.
    fn node_path(&mut self) -> (Vec<Seg>, bool) {
        let mut path = self.path.clone();
        match self.stack.last_mut() {
            Some(Frame::Seq { next }) => {
                path.push(Seg::Index(*next));
                (path, false)
            }
            Some(Frame::Map {
                expect_key: true, ..
            }) => (path, true),
            Some(Frame::Map {
                current: Some(k), ..
            }) => {
                path.push(Seg::Key(k.clone()));
                (path, false)
            }
            _ => (path, false),
        }
    }

    fn record(&mut self, path: &[Seg], p: (usize, usize)) {
        if path == self.target && self.value_pos.is_none() {
            self.value_pos = Some(p);
        }
        if self.target.starts_with(path) {
            let depth = path.len();
            if self.best.is_none_or(|(d, _)| depth > d) {
                self.best = Some((depth, p));
            }
        }
    }

    /// Called after a complete node (scalar, or end of collection) to advance the parent.
    fn finish_node(&mut self) {
        match self.stack.last_mut() {
            Some(Frame::Seq { next }) => *next += 1,
            Some(Frame::Map {
                expect_key,
                current,
                ..
            }) => {
                *expect_key = true;
                *current = None;
            }
            None => {}
        }
    }

    fn enter(&mut self, frame: Frame) {
        let (path, _) = self.node_path();
        self.path = path;
        self.stack.push(frame);
    }

    fn leave(&mut self) {
        self.stack.pop();
        self.path.pop();
        self.finish_node();
    }
}

impl MarkedEventReceiver for Walker<'_> {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let p = pos(&mark);
        match ev {
            Event::Scalar(value, ..) => {
                let (path, is_key) = self.node_path();
                if is_key {
                    if let Some(Frame::Map { fresh: true, .. }) = self.stack.last() {
                        self.record(&path, p);
                    }
                    let mut key_path = path.clone();
                    key_path.push(Seg::Key(value.clone()));
                    if key_path == self.target && self.key_pos.is_none() {
                        self.key_pos = Some(p);
                    }
                    if self.found_key.is_none()
                        && self.find_key == Some(value.as_str())
                        && path.starts_with(self.target)
                    {
                        self.found_key = Some(p);
                    }
                    if self.repeated_key == Some(value.as_str()) && path == self.target {
                        self.seen += 1;
                        if self.seen == 2 {
                            self.repeat_pos = Some(p);
                        }
                    }
                    if let Some(Frame::Map {
                        expect_key,
                        current,
                        fresh,
                    }) = self.stack.last_mut()
                    {
                        *expect_key = false;
                        *current = Some(value);
                        *fresh = false;
                    }
                } else {
                    self.record(&path, p);
                    self.finish_node();
                }
            }
            Event::Alias(_) => {
                let (path, is_key) = self.node_path();
                if is_key {
                    if let Some(Frame::Map {
                        expect_key,
                        current,
                        fresh,
                    }) = self.stack.last_mut()
                    {
                        *expect_key = false;
                        *current = Some(String::new());
                        *fresh = false;
                    }
                } else {
                    self.record(&path, p);
                    self.finish_node();
                }
            }
            Event::SequenceStart(..) => {
                let (path, _) = self.node_path();
                self.record(&path, p);
                self.enter(Frame::Seq { next: 0 });
            }
            Event::MappingStart(..) => {
                self.enter(Frame::Map {
                    expect_key: true,
                    current: None,
                    fresh: true,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => self.leave(),
            _ => {}
        }
    }
}

/// Where the target path is: the key's position when the path ends with a key that exists, else the
/// value's, else the deepest existing ancestor. `None` when the text does not parse at all.
pub fn locate(text: &str, target: &[Seg]) -> Option<(usize, usize)> {
    let (key_pos, value_pos, best, _) = walk(text, target, None);
    key_pos.or(value_pos).or(best)
}

/// Where the first mapping key named `name` is, anywhere below `under`; else where `under` is.
pub fn locate_key_under(text: &str, under: &[Seg], name: &str) -> Option<(usize, usize)> {
    let (_, value_pos, best, found) = walk(text, under, Some(name));
    found.or(value_pos).or(best)
}

/// Where the mapping at `map` holds the key `name` a second time (serde reports a repeated key
/// where its mapping starts); `None` when it does not, or the key is spelled another way.
pub fn locate_repeated_key(text: &str, map: &[Seg], name: &str) -> Option<(usize, usize)> {
    let mut walker = Walker::new(map, None);
    walker.repeated_key = Some(name);
    let mut parser = Parser::new_from_str(text);
    let _ = parser.load(&mut walker, false);
    walker.repeat_pos
}

/// Where the value at the target path is, only if there is one (no ancestor stands in for it).
pub fn locate_exact(text: &str, target: &[Seg]) -> Option<(usize, usize)> {
    walk(text, target, None).1
}

/// Where the value at the target path is (not its key), else the deepest existing ancestor.
pub fn locate_value(text: &str, target: &[Seg]) -> Option<(usize, usize)> {
    let (key_pos, value_pos, best, _) = walk(text, target, None);
    value_pos.or(key_pos).or(best)
}

type Pos = Option<(usize, usize)>;

impl<'a> Walker<'a> {
    fn new(target: &'a [Seg], find_key: Option<&'a str>) -> Self {
        Walker {
            target,
            stack: Vec::new(),
            path: Vec::new(),
            key_pos: None,
            value_pos: None,
            best: None,
            find_key,
            found_key: None,
            repeated_key: None,
            seen: 0,
            repeat_pos: None,
        }
    }
}

fn walk<'a>(text: &str, target: &'a [Seg], find_key: Option<&'a str>) -> (Pos, Pos, Pos, Pos) {
    let mut walker = Walker::new(target, find_key);
    let mut parser = Parser::new_from_str(text);
    // A parse error still leaves what was found before it.
    let _ = parser.load(&mut walker, false);
    (
        walker.key_pos,
        walker.value_pos,
        walker.best.map(|(_, p)| p),
        walker.found_key,
    )
}

/// Parses a path as serde_yaml prints it in its errors (`[3].lines[0].user`, `models.ST2030`).
pub fn parse_serde_path(s: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    for part in s.split('.') {
        let mut rest = part;
        if let Some(i) = rest.find('[') {
            if i > 0 {
                out.push(Seg::Key(rest[..i].to_string()));
            }
            rest = &rest[i..];
            while let Some(stripped) = rest.strip_prefix('[') {
                let end = stripped.find(']').unwrap_or(stripped.len());
                if let Ok(n) = stripped[..end].parse() {
                    out.push(Seg::Index(n));
                }
                rest = stripped.get(end + 1..).unwrap_or("");
            }
        } else if !rest.is_empty() {
            out.push(Seg::Key(rest.to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "- mac: \"00:11\"\n  lines:\n    - user: \"1001\"\n      display_name: Bob\n- mac: x\n  keys:\n    3: {blf: \"1002\"}\n";

    #[test]
    fn finds_values_and_keys() {
        assert_eq!(locate_value(DOC, &[idx(0), key("mac")]), Some((1, 8)));
        assert_eq!(locate(DOC, &[idx(0), key("mac")]), Some((1, 3)));
        assert_eq!(
            locate_value(DOC, &[idx(0), key("lines"), idx(0), key("display_name")]),
            Some((4, 21))
        );
        assert_eq!(locate_value(DOC, &[idx(1), key("mac")]), Some((5, 8)));
        assert_eq!(
            locate(DOC, &[idx(1), key("keys"), key("3"), key("blf")]),
            Some((7, 9))
        );
    }

    #[test]
    fn finds_a_key_by_name_below_a_path() {
        assert_eq!(
            locate_key_under(DOC, &[idx(0)], "display_name"),
            Some((4, 7))
        );
        assert_eq!(locate_key_under(DOC, &[idx(1)], "blf"), Some((7, 9)));
        assert_eq!(locate_key_under(DOC, &[idx(1)], "nothing"), Some((5, 3)));
    }

    #[test]
    fn falls_back_to_deepest_ancestor() {
        assert_eq!(locate(DOC, &[idx(1), key("lines")]), Some((5, 3)));
    }

    #[test]
    fn parses_serde_paths() {
        assert_eq!(
            parse_serde_path("[3].lines[0].user"),
            vec![idx(3), key("lines"), idx(0), key("user")]
        );
        assert_eq!(
            parse_serde_path("models.ST2030"),
            vec![key("models"), key("ST2030")]
        );
    }
}
