//! Tokenizer and variable masker: splits a log message into tokens and replaces the
//! variable parts (numbers, ids, addresses, paths, quoted strings, values) with `<*>`.

/// The placeholder that stands for a masked variable in templates.
pub const WILDCARD: &str = "<*>";

/// One token of a masked message: either a masked variable or a literal slice of the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Token {
    /// A masked variable (`<*>`).
    Wild,
    /// A literal: the byte range `start..end` of the (truncated) message.
    Lit {
        /// Byte offset of the first byte.
        start: u32,
        /// Byte offset one past the last byte.
        end: u32,
    },
}

impl Token {
    /// The text of this token: `<*>` for a variable, else the slice of `src` it covers.
    pub fn text<'a>(&self, src: &'a str) -> &'a str {
        match *self {
            Token::Wild => WILDCARD,
            Token::Lit { start, end } => src.get(start as usize..end as usize).unwrap_or(""),
        }
    }

    /// [`Token::text`] as bytes of `src` (the same message as bytes): no char-boundary
    /// checks, for hashing and comparing.
    pub fn bytes<'a>(&self, src: &'a [u8]) -> &'a [u8] {
        match *self {
            Token::Wild => WILDCARD.as_bytes(),
            Token::Lit { start, end } => src.get(start as usize..end as usize).unwrap_or(&[]),
        }
    }
}

/// Limits applied by the [`Masker`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MaskConfig {
    /// Messages longer than this many bytes are cut (at a char boundary) before tokenizing.
    pub max_bytes: usize,
    /// At most this many tokens are produced; the rest of a longer message becomes one `<*>`.
    pub max_tokens: usize,
}

impl Default for MaskConfig {
    fn default() -> Self {
        MaskConfig {
            max_bytes: 16 * 1024,
            max_tokens: 128,
        }
    }
}

/// Splits messages into tokens and masks variables; holds no per-message state.
#[derive(Clone, Debug, Default)]
pub struct Masker {
    cfg: MaskConfig,
}

/// Bytes stripped from the start of a token.
const fn is_open_punct(b: u8) -> bool {
    matches!(
        b,
        b'(' | b'[' | b'{' | b'<' | b'"' | b'\'' | b'`' | b'#' | b'-'
    )
}

/// Bytes stripped from the end of a token.
const fn is_close_punct(b: u8) -> bool {
    matches!(
        b,
        b')' | b']' | b'}' | b'>' | b'"' | b'\'' | b'`' | b',' | b';' | b'.' | b':' | b'!' | b'?'
    )
}

/// Units that may follow a number as a separate word ("12 ms", "(1.16 KB)").
fn is_unit(w: &[u8]) -> bool {
    let mut lower = [0u8; 7];
    let Some(word) = lower.get_mut(..w.len()) else {
        return false;
    };
    word.copy_from_slice(w);
    word.make_ascii_lowercase();
    matches!(
        &*word,
        b"b" | b"kb"
            | b"mb"
            | b"gb"
            | b"tb"
            | b"pb"
            | b"kib"
            | b"mib"
            | b"gib"
            | b"tib"
            | b"byte"
            | b"bytes"
            | b"bit"
            | b"bits"
            | b"ms"
            | b"us"
            | b"ns"
            | b"s"
            | b"sec"
            | b"secs"
            | b"second"
            | b"seconds"
            | b"min"
            | b"mins"
            | b"minute"
            | b"minutes"
            | b"h"
            | b"hr"
            | b"hrs"
            | b"hour"
            | b"hours"
            | b"day"
            | b"days"
            | b"%"
    )
}

/// Byte classes, one bit each, for [`Shape`].
const DIGIT: u16 = 1;
const ALPHA: u16 = 1 << 1;
const HEX: u16 = 1 << 2;
const DOT: u16 = 1 << 3;
const COLON: u16 = 1 << 4;
const EQ: u16 = 1 << 5;
const LIST: u16 = 1 << 6;
const SLASH: u16 = 1 << 7;
const BACKSLASH: u16 = 1 << 8;
const AT: u16 = 1 << 9;
/// Letters, digits, `-` and `.`: what a DNS name is made of.
const HOST: u16 = 1 << 10;
/// Digits and `.` `,` `-` `+` `<` `~`: what a number is made of.
const NUM: u16 = 1 << 11;
/// ASCII whitespace: ends a word.
const SPACE: u16 = 1 << 12;
/// `"` and `'`: may open a quoted value that runs over whitespace.
const QUOTE: u16 = 1 << 13;
/// Punctuation stripped from the start of a word.
const OPEN: u16 = 1 << 14;
/// Punctuation stripped from the end of a word.
const CLOSE: u16 = 1 << 15;

/// The classes of every byte value.
static CLASSES: [u16; 256] = {
    let mut t = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let mut c = 0;
        if b.is_ascii_digit() {
            c |= DIGIT | HEX | HOST | NUM;
        }
        if b.is_ascii_alphabetic() {
            c |= ALPHA | HOST;
        }
        if b.is_ascii_hexdigit() {
            c |= HEX;
        }
        c |= match b {
            b'.' => DOT | HOST | NUM,
            b':' => COLON,
            b'=' => EQ,
            b',' => LIST | NUM,
            b';' => LIST,
            b'/' => SLASH,
            b'\\' => BACKSLASH,
            b'@' => AT,
            b'-' => HOST | NUM,
            b'+' | b'<' | b'~' => NUM,
            _ => 0,
        };
        if b.is_ascii_whitespace() {
            c |= SPACE;
        }
        if b == b'"' || b == b'\'' {
            c |= QUOTE;
        }
        if is_open_punct(b) {
            c |= OPEN;
        }
        if is_close_punct(b) {
            c |= CLOSE;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// Which byte classes occur in a word (`any`) and which all its bytes share (`all`), found
/// in one pass so that every shape test after it only looks closer when it can succeed.
#[derive(Clone, Copy)]
struct Shape {
    any: u16,
    all: u16,
}

impl Shape {
    /// The shape of no bytes yet.
    const EMPTY: Shape = Shape {
        any: 0,
        all: u16::MAX,
    };

    fn of(w: &[u8]) -> Shape {
        let mut sh = Shape::EMPTY;
        for &b in w {
            sh.add(CLASSES[usize::from(b)]);
        }
        sh
    }

    /// Adds a byte of classes `c`.
    fn add(&mut self, c: u16) {
        self.any |= c;
        self.all &= c;
    }

    fn has(self, class: u16) -> bool {
        self.any & class != 0
    }

    fn only(self, class: u16) -> bool {
        self.all & class == class
    }
}

/// True when `w` is a plain identifier (letters, `_`, `-`, `.`; at least one letter).
fn is_ident(w: &[u8]) -> bool {
    !w.is_empty()
        && w.iter().any(|b| b.is_ascii_alphabetic())
        && w.iter()
            .all(|&b| b.is_ascii_alphabetic() || matches!(b, b'_' | b'-' | b'.'))
}

/// True when the (already punctuation-stripped) word is a variable by shape; `sh` is
/// `Shape::of(w)`.
fn is_variable(w: &[u8], sh: Shape) -> bool {
    if sh.has(DIGIT) {
        return true;
    }
    match w {
        [b'/', _, ..] | [b'~', b'/', ..] | [b'.', b'/', ..] | [b'.', b'.', b'/', ..] => {
            return true;
        }
        [d, b':', b'\\', ..] if d.is_ascii_alphabetic() => return true,
        _ => {}
    }
    if w.len() >= 8 && sh.only(HEX) {
        return true;
    }
    if sh.has(DOT) && sh.only(HOST) && is_hostname(w) {
        return true;
    }
    if sh.only(ALPHA) && is_date_word(w) {
        return true;
    }
    if !sh.has(COLON | BACKSLASH | AT) {
        return false;
    }
    // IPv6 without decimal digits, e.g. `fe80::abcd`.
    if w.windows(2).any(|p| p == b"::") && w.iter().all(|&c| c == b':' || c.is_ascii_hexdigit()) {
        return true;
    }
    let mut prev = 0u8;
    for (i, &b) in w.iter().enumerate() {
        match b {
            b'\\' => return true,
            b'@' if i > 0 && i + 1 < w.len() => return true,
            b'/' if prev == b':' && w.get(i + 1) == Some(&b'/') => return true,
            _ => {}
        }
        prev = b;
    }
    false
}

/// True when the word is a capitalized month or weekday name (`Jan`, `Monday`), a date part.
fn is_date_word(w: &[u8]) -> bool {
    if !(3..=9).contains(&w.len()) || !w[0].is_ascii_uppercase() {
        return false;
    }
    matches!(
        w,
        b"Jan"
            | b"Feb"
            | b"Mar"
            | b"Apr"
            | b"May"
            | b"Jun"
            | b"Jul"
            | b"Aug"
            | b"Sep"
            | b"Sept"
            | b"Oct"
            | b"Nov"
            | b"Dec"
            | b"January"
            | b"February"
            | b"March"
            | b"April"
            | b"June"
            | b"July"
            | b"August"
            | b"September"
            | b"October"
            | b"November"
            | b"December"
            | b"Mon"
            | b"Tue"
            | b"Wed"
            | b"Thu"
            | b"Fri"
            | b"Sat"
            | b"Sun"
            | b"Monday"
            | b"Tuesday"
            | b"Wednesday"
            | b"Thursday"
            | b"Friday"
            | b"Saturday"
            | b"Sunday"
    )
}

/// True when the word is a DNS name ending in a common top-level domain (`ns.example.com`).
fn is_hostname(w: &[u8]) -> bool {
    const TLDS: &[&str] = &[
        "com",
        "net",
        "org",
        "edu",
        "gov",
        "mil",
        "int",
        "io",
        "co",
        "info",
        "biz",
        "me",
        "us",
        "uk",
        "de",
        "fr",
        "nl",
        "ru",
        "cn",
        "hk",
        "tw",
        "jp",
        "kr",
        "in",
        "br",
        "au",
        "ca",
        "it",
        "es",
        "se",
        "pl",
        "local",
        "localdomain",
        "internal",
        "lan",
        "arpa",
    ];
    let Some(dot) = w.iter().rposition(|&c| c == b'.') else {
        return false;
    };
    let tld = &w[dot + 1..];
    // The top-level domain first: it rules out most dotted words (`org.apache.Foo`) at once.
    dot > 0
        && (2..=11).contains(&tld.len())
        && TLDS.iter().any(|t| t.as_bytes().eq_ignore_ascii_case(tld))
        && w.iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.')
        && !w.windows(2).any(|p| p == b"..")
}

/// Strips surrounding punctuation from `b[s..e]`, returning the inner range.
fn strip(b: &[u8], mut s: usize, mut e: usize) -> (usize, usize) {
    while s < e && CLASSES[usize::from(b[s])] & OPEN != 0 {
        s += 1;
    }
    while e > s && CLASSES[usize::from(b[e - 1])] & CLOSE != 0 {
        e -= 1;
    }
    (s, e)
}

/// Output buffer that collapses runs of wildcards and enforces the token cap.
struct Out<'v> {
    v: &'v mut Vec<Token>,
    max: usize,
    full: bool,
}

impl Out<'_> {
    fn push(&mut self, t: Token) {
        if self.full {
            return;
        }
        if t == Token::Wild && self.v.last() == Some(&Token::Wild) {
            return;
        }
        if self.v.len() + 1 >= self.max {
            self.v.push(Token::Wild);
            self.full = true;
            return;
        }
        self.v.push(t);
    }

    fn lit(&mut self, s: usize, e: usize) {
        // Offsets are bounded by `max_bytes`, which `Masker::new` keeps below `u32::MAX`.
        self.push(Token::Lit {
            start: s as u32,
            end: e as u32,
        });
    }
}

impl Masker {
    /// Creates a masker with the given limits (`max_bytes` is clamped below 4 GiB,
    /// `max_tokens` to at least 2).
    pub fn new(mut cfg: MaskConfig) -> Self {
        cfg.max_bytes = cfg.max_bytes.min(u32::MAX as usize - 1);
        cfg.max_tokens = cfg.max_tokens.max(2);
        Masker { cfg }
    }

    /// The limits in force.
    pub fn config(&self) -> &MaskConfig {
        &self.cfg
    }

    /// Cuts `msg` to at most `max_bytes`, at a char boundary.
    pub fn truncate<'a>(&self, msg: &'a str) -> &'a str {
        let mut cut = self.cfg.max_bytes.min(msg.len());
        while cut > 0 && !msg.is_char_boundary(cut) {
            cut -= 1;
        }
        msg.get(..cut).unwrap_or("")
    }

    /// Tokenizes and masks `msg` into `out` (cleared first) and returns the truncated message
    /// that the tokens' byte ranges refer to. Consecutive variables collapse into one `<*>`.
    pub fn mask<'a>(&self, msg: &'a str, out: &mut Vec<Token>) -> &'a str {
        out.clear();
        let msg = self.truncate(msg);
        let b = msg.as_bytes();
        let n = b.len();
        let mut o = Out {
            v: out,
            max: self.cfg.max_tokens,
            full: false,
        };
        let mut i = 0;
        // Set when the last chunk was a bare number, so a following unit word is absorbed.
        let mut after_number = false;
        while i < n && !o.full {
            while i < n && CLASSES[usize::from(b[i])] & SPACE != 0 {
                i += 1;
            }
            if i >= n {
                break;
            }
            // One pass finds the word's end and its shape.
            let start = i;
            let mut sh = Shape::EMPTY;
            while i < n {
                let c = CLASSES[usize::from(b[i])];
                if c & (SPACE | QUOTE) != 0 {
                    if c & SPACE != 0 {
                        break;
                    }
                    // A value quoted after `=` or `:` runs to its closing quote.
                    if i > start
                        && matches!(b[i - 1], b'=' | b':')
                        && let Some(off) = memchr::memchr(b[i], &b[i + 1..])
                    {
                        for &q in &b[i..i + off + 2] {
                            sh.add(CLASSES[usize::from(q)]);
                        }
                        i += off + 2;
                        continue;
                    }
                }
                sh.add(c);
                i += 1;
            }
            if sh.only(ALPHA) {
                // Letters only (most words): nothing to strip, no number, no structure.
                if !(after_number && is_unit(&b[start..i])) {
                    letter_word(b, start, i, sh, &mut o);
                }
                after_number = false;
                continue;
            }
            let (s, e) = strip(b, start, i);
            if s == e {
                continue; // punctuation only
            }
            let w = &b[s..e];
            if after_number && is_unit(w) {
                after_number = false;
                continue;
            }
            if (s, e) != (start, i) {
                sh = Shape::of(w);
            }
            after_number = sh.has(DIGIT) && sh.only(NUM);
            if after_number {
                o.push(Token::Wild); // a plain number
                continue;
            }
            self.word(b, s, e, i, sh, &mut o);
        }
        msg
    }

    /// Masks one chunk `b[s0..e0]` (surrounding punctuation not yet stripped); a quoted
    /// string is one variable when it is the value of a `key=`/`key:`.
    fn chunk(&self, b: &[u8], s0: usize, e0: usize, value: bool, o: &mut Out<'_>) {
        if value && is_quoted(b, s0, e0) {
            o.push(Token::Wild);
            return;
        }
        let (s, e) = strip(b, s0, e0);
        if s == e {
            return;
        }
        self.word(b, s, e, e0, Shape::of(&b[s..e]), o);
    }

    /// Masks the stripped word `b[s..e]` of the chunk ending at `e0`; `sh` is its shape.
    fn word(&self, b: &[u8], s: usize, e: usize, e0: usize, sh: Shape, o: &mut Out<'_>) {
        let w = &b[s..e];
        if sh.only(ALPHA) {
            letter_word(b, s, e, sh, o);
            return;
        }
        // URLs and absolute paths may contain any punctuation; they are variables whole.
        let drive = matches!(w, [d, b':', b'\\', ..] if d.is_ascii_alphabetic());
        let url = sh.has(COLON) && sh.has(SLASH) && w.windows(3).any(|x| x == b"://");
        if drive || w.first() == Some(&b'/') && w.len() > 1 || url {
            o.push(Token::Wild);
            return;
        }
        // Lists: `a,b` and `a;b` are separate tokens (but `1,024` stays one number).
        if sh.has(LIST)
            && let Some(p) = find_separator(w)
        {
            self.chunk(b, s, s + p, false, o);
            self.chunk(b, s + p + 1, e, false, o);
            return;
        }
        // key=value: the key stays, the value is masked by its shape.
        if sh.has(EQ)
            && let Some(p) = w.iter().position(|&c| c == b'=')
            && p > 0
        {
            o.lit(s, s + p + 1);
            self.chunk(b, s + p + 1, e0, true, o);
            return;
        }
        // key:value with an identifier key: the key stays, the value is masked by shape.
        if sh.has(COLON)
            && let Some(p) = w.iter().position(|&c| c == b':')
        {
            let key = &w[..p];
            let rest = &w[p + 1..];
            if is_ident(key) && !key.contains(&b'.') && !rest.is_empty() && !rest.starts_with(b"//")
            {
                o.lit(s, s + p + 1);
                self.chunk(b, s + p + 1, e0, true, o);
                return;
            }
        }
        if is_variable(w, sh) {
            o.push(Token::Wild);
        } else {
            o.lit(s, e);
        }
    }
}

/// Masks the word `b[s..e]` of letters only (shape `sh`): only the letter rules of
/// [`is_variable`] can apply to it.
fn letter_word(b: &[u8], s: usize, e: usize, sh: Shape, o: &mut Out<'_>) {
    let w = &b[s..e];
    if w.len() >= 8 && sh.only(HEX) || is_date_word(w) {
        o.push(Token::Wild);
    } else {
        o.lit(s, e);
    }
}

/// True when `b[s..e]` is a quoted string, possibly followed by closing punctuation.
fn is_quoted(b: &[u8], s: usize, e: usize) -> bool {
    let Some(&q) = b.get(s) else { return false };
    if q != b'"' && q != b'\'' {
        return false;
    }
    let inner = b.get(s + 1..e).unwrap_or(&[]);
    match inner.iter().rposition(|&c| c == q) {
        Some(r) => inner[r + 1..].iter().all(|&c| is_close_punct(c)),
        None => false,
    }
}

/// Position of the first list separator (`,` or `;`) outside quotes and not between digits.
fn find_separator(w: &[u8]) -> Option<usize> {
    let mut quote = 0u8;
    for (i, &c) in w.iter().enumerate() {
        if quote != 0 {
            if c == quote {
                quote = 0;
            }
            continue;
        }
        match c {
            b'"' => quote = c,
            b',' | b';' => {
                let digits = i > 0
                    && w[i - 1].is_ascii_digit()
                    && w.get(i + 1).is_some_and(u8::is_ascii_digit);
                if !digits {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(s: &str) -> String {
        let m = Masker::default();
        let mut v = Vec::new();
        let src = m.mask(s, &mut v);
        v.iter().map(|t| t.text(src)).collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn masks_common_variables() {
        assert_eq!(
            masked("PacketResponder 1 for block blk_-6952295868487656571 terminating"),
            "PacketResponder <*> for block <*> terminating"
        );
        assert_eq!(
            masked("Invalid user webmaster from 173.234.31.186"),
            "Invalid user webmaster from <*>"
        );
        assert_eq!(
            masked("lock=233570404, flags=0x1, tag=\"View Lock\", ws=null"),
            "lock= <*> flags= <*> tag= <*> ws= null"
        );
        assert_eq!(
            masked("open /etc/httpd/conf/x.properties ok"),
            "open <*> ok"
        );
        assert_eq!(
            masked("took 12ms and -3.5 and 0x1f"),
            "took <*> and <*> and <*>"
        );
        assert_eq!(
            masked("from [fe80::1]:8080 at 2024-01-02T03:04:05Z"),
            "from <*> at <*>"
        );
        assert_eq!(
            masked("id 123e4567-e89b-12d3-a456-426614174000 x"),
            "id <*> x"
        );
        assert_eq!(masked("GET http://example.com/a?b=c now"), "GET <*> now");
        assert_eq!(masked("path C:\\Windows\\x done"), "path <*> done");
        assert_eq!(masked("onExtend:1514038530000 14 0 4"), "onExtend: <*>");
        assert_eq!(masked("sent 1190 bytes (1.16 KB) sent"), "sent <*> sent");
        assert_eq!(
            masked("user='bob' msg=\"hello world\" (x)"),
            "user= <*> msg= <*> x"
        );
        assert_eq!(masked("said \"hello world\""), "said hello world");
        assert_eq!(masked("\"GET /a?b=1 HTTP/1.1\" 200"), "GET <*>");
        assert_eq!(
            masked("job_1445144423722_0020 attempt_1445144423722_0020_m_000001_0"),
            "<*>"
        );
        assert_eq!(masked("value deadbeefcafe1234"), "value <*>");
    }

    #[test]
    fn truncates_at_char_boundary() {
        let m = Masker::new(MaskConfig {
            max_bytes: 5,
            max_tokens: 8,
        });
        assert_eq!(m.truncate("abcdé"), "abcd");
        let mut v = Vec::new();
        assert_eq!(m.mask("ééé", &mut v), "éé");
    }

    #[test]
    fn caps_tokens() {
        let m = Masker::new(MaskConfig {
            max_bytes: 1 << 14,
            max_tokens: 4,
        });
        let mut v = Vec::new();
        m.mask("a b c d e f g", &mut v);
        assert_eq!(v.len(), 4);
        assert_eq!(v.last(), Some(&Token::Wild));
    }
}
