//! The secrets a connector handle holds, in every form they take on the wire, and their removal
//! from any text that came back from an upstream.
//!
//! A provider that echoes a request (in an error body, a message, a request-id header) hands
//! back the credential in whatever encoding it was sent in: raw in a bearer header, base64 in a
//! Basic header (`base64(key:secret)`), percent- or form-encoded in a query or an OAuth token
//! request, JSON-escaped in a JSON body. [`Secrets`] is built once per handle from the
//! credentials and the auth scheme (and grows when an OAuth refresh brings new tokens); every
//! error path runs its text through [`Secrets::redact`] or [`Secrets::scrub`].

use std::fmt;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS, NON_ALPHANUMERIC};
use serde_json::Value;

use crate::error::Error;

/// What a secret is replaced with.
pub const MASK: &str = "****";

/// Values shorter than this are not treated as secrets: masking every `a` or `12` of a message
/// would destroy it, and no real credential is that short.
pub const MIN_SECRET_LEN: usize = 4;

/// Base64 fragments shorter than this (from a secret at an unknown offset inside a longer
/// base64 text) are not masked: too likely to match by chance.
const MIN_FRAGMENT_LEN: usize = 8;

/// The shortest start or end of a secret masked on its own (`sk_live_ab12...`, `...12cd34ef5678`:
/// providers echo a key's first or last characters to say which key they saw), in characters;
/// only for secrets at least [`MIN_PARTIAL_SECRET`] long, so every masked part leaves several
/// characters unknown.
const MIN_PARTIAL: usize = 12;
const MIN_PARTIAL_SECRET: usize = 16;

/// RFC 3986 unreserved characters stay; everything else is `%XX` (spaces as `%20`).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// The characters a URL parser encodes in a path or query by itself (the rest go raw).
const URL_MINIMAL: &AsciiSet =
    &CONTROLS.add(b' ').add(b'"').add(b'#').add(b'<').add(b'>').add(b'`').add(b'{').add(b'}').add(b'?');

/// Like [`URL_MINIMAL`], for values put in a query by hand (`&`, `=`, `+` and `%` escaped too).
const QUERY_VALUE: &AsciiSet = &URL_MINIMAL.add(b'&').add(b'=').add(b'+').add(b'%').add(b'/').add(b':');

/// Every form of every secret a handle holds. Cheap to share behind an `Arc`; never printed.
#[derive(Clone, Default)]
pub struct Secrets {
    /// The plain values, for [`Secrets::values`] and rebuilding.
    values: Vec<String>,
    /// Every encoded form, longest first, without repeats.
    forms: Vec<String>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print a secret, not even in a debug dump.
        f.debug_struct("Secrets").field("values", &self.values.len()).field("forms", &self.forms.len()).finish()
    }
}

impl Secrets {
    /// No secrets.
    pub fn new() -> Self {
        Self::default()
    }

    /// The secrets `values` (each in every encoding).
    pub fn from_values<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut s = Self::new();
        s.extend(values);
        s
    }

    /// Adds one secret value, in every encoding. Values shorter than [`MIN_SECRET_LEN`] are
    /// ignored. Returns whether it was new.
    pub fn add(&mut self, value: &str) -> bool {
        if value.chars().count() < MIN_SECRET_LEN || self.values.iter().any(|v| v == value) {
            return false;
        }
        self.values.push(value.to_string());
        let mut forms = std::mem::take(&mut self.forms);
        forms.extend(encodings(value));
        forms.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        forms.dedup();
        self.forms = forms;
        true
    }

    /// Adds several secret values.
    pub fn extend<I, S>(&mut self, values: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for v in values {
            self.add(v.as_ref());
        }
    }

    /// Whether there is nothing to redact.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// How many secret values (not forms) this set holds.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// `text` with every form of every secret replaced by [`MASK`]. A text holding HTML
    /// entities (an HTML page quoting the request, in any mix of named, decimal and hex
    /// entities) is looked at with them decoded too: when that shows a secret, the decoded text
    /// is what comes back, masked.
    pub fn redact(&self, text: &str) -> String {
        let out = self.replace_forms(text);
        if out.contains('&') {
            let decoded = html_decode(&out);
            if decoded != out {
                let masked = self.replace_forms(&decoded);
                if masked != decoded {
                    return masked;
                }
            }
        }
        out
    }

    fn replace_forms(&self, text: &str) -> String {
        let mut out = text.to_string();
        for form in &self.forms {
            if out.contains(form.as_str()) {
                out = out.replace(form.as_str(), MASK);
            }
        }
        out
    }

    /// Redacts every string of a JSON value in place, object keys included.
    pub fn redact_json(&self, v: &mut Value) {
        match v {
            Value::String(s) => {
                let r = self.redact(s);
                if r != *s {
                    *s = r;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|x| self.redact_json(x)),
            Value::Object(m) => {
                let old = std::mem::take(m);
                for (k, mut x) in old {
                    self.redact_json(&mut x);
                    m.insert(self.redact(&k), x);
                }
            }
            _ => {}
        }
    }

    /// The error with every field that may carry upstream text redacted: the message, the
    /// request id and every string of the details.
    pub fn scrub(&self, mut e: Error) -> Error {
        if self.is_empty() {
            return e;
        }
        e.message = self.redact(&e.message);
        e.request_id = e.request_id.map(|id| self.redact(&id));
        if let Some(d) = e.details.as_mut() {
            self.redact_json(d);
        }
        e
    }
}

/// Every form `value` may take on the wire (the raw value included), and in an upstream's echo:
/// upper- or lower-cased, or its first or last [`MIN_PARTIAL`] characters and more.
fn encodings(value: &str) -> Vec<String> {
    let mut out = vec![value.to_string(), value.to_ascii_lowercase(), value.to_ascii_uppercase()];
    let chars: Vec<(usize, char)> = value.char_indices().collect();
    if chars.len() >= MIN_PARTIAL_SECRET {
        for n in MIN_PARTIAL..chars.len() {
            out.push(value[..chars[n].0].to_string());
            out.push(value[chars[chars.len() - n].0..].to_string());
        }
    }
    let bytes = value.as_bytes();
    // Base64, the whole value (a Basic header's `user:pass`, a token sent encoded).
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        out.push(engine.encode(bytes));
    }
    // Base64 of a longer text holding the value at any offset: the characters that depend on
    // the value's bytes only.
    for offset in 0..3usize {
        let mut buf = vec![0u8; offset];
        buf.extend_from_slice(bytes);
        let start = (offset * 8).div_ceil(6);
        let end = (buf.len() * 8) / 6;
        for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
            let enc = engine.encode(&buf);
            if let Some(frag) = enc.get(start..end.min(enc.len())) {
                if frag.len() >= MIN_FRAGMENT_LEN {
                    out.push(frag.to_string());
                }
            }
        }
    }
    // Percent-encodings: forms (`+` for spaces), strict and loose URL encodings, both hex cases.
    let mut percent = vec![url::form_urlencoded::byte_serialize(bytes).collect::<String>()];
    for set in [UNRESERVED, NON_ALPHANUMERIC, URL_MINIMAL, QUERY_VALUE] {
        percent.push(utf8_percent_encode(value, set).to_string());
    }
    for p in percent {
        out.push(lower_hex_escapes(&p, '%'));
        out.push(p);
    }
    // JSON string escapes: minimal (serde), ASCII-only and HTML-safe variants, and escaped twice
    // (a JSON document inside a JSON string).
    let minimal = json_escape(value);
    out.push(json_escape(&minimal));
    out.push(minimal);
    for upper in [false, true] {
        out.push(json_escape_conservative(value, upper, false));
        out.push(json_escape_conservative(value, upper, true));
    }
    // Hex of the bytes, both cases (a provider or proxy logging what it received as bytes).
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    out.push(hex.to_ascii_uppercase());
    out.push(hex);
    // HTML escapes need no forms of their own: `redact` looks at a text holding entities
    // decoded as well, which covers any mix of them.
    out.retain(|f| f.chars().count() >= MIN_SECRET_LEN);
    out
}

/// `s` with its HTML character references decoded: `&amp;`, `&lt;`, `&gt;`, `&quot;`, `&apos;`
/// and numeric ones (`&#39;`, `&#x27;`); anything else stays as written.
fn html_decode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        // A reference is short: its `;` within the next 10 bytes (never a scan of the rest).
        let decoded = rest.bytes().take(11).position(|b| b == b';').and_then(|end| {
            let name = &rest[1..end];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => {
                    let n = name.strip_prefix('#')?;
                    let code = match n.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => n.parse().ok()?,
                    };
                    char::from_u32(code)
                }
            }?;
            Some((c, end + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// `%2F` -> `%2f` (some servers echo lower-case hex).
fn lower_hex_escapes(s: &str, marker: char) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == marker {
            for _ in 0..2 {
                if let Some(h) = chars.next() {
                    out.push(h.to_ascii_lowercase());
                }
            }
        }
    }
    out
}

/// The inside of a JSON string literal, as serde writes it.
fn json_escape(s: &str) -> String {
    let quoted = Value::String(s.to_string()).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

/// The inside of a JSON string literal as stricter encoders write it: every non-ASCII character
/// as `\uXXXX` (surrogate pairs beyond the BMP), and, with `html_safe`, `<`, `>`, `&`, `'` and
/// `/` escaped too (Go, PHP and friends).
fn json_escape_conservative(s: &str, upper: bool, html_safe: bool) -> String {
    let hex = |u: u16| if upper { format!("\\u{u:04X}") } else { format!("\\u{u:04x}") };
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '/' if html_safe => out.push_str("\\/"),
            '<' | '>' | '&' | '\'' if html_safe => out.push_str(&hex(c as u16)),
            c if (c as u32) < 0x20 || !c.is_ascii() => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&hex(*unit));
                }
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &str = "s3cr+t/v=l&ue \"q\" <x> é";

    #[test]
    fn every_encoding_is_masked() {
        let s = Secrets::from_values([SECRET]);
        let composite = format!("user-name:{SECRET}");
        let mut with_basic = s.clone();
        with_basic.add(&composite);
        let samples = [
            SECRET.to_string(),
            STANDARD.encode(SECRET),
            URL_SAFE_NO_PAD.encode(SECRET),
            url::form_urlencoded::byte_serialize(SECRET.as_bytes()).collect::<String>(),
            utf8_percent_encode(SECRET, NON_ALPHANUMERIC).to_string().to_ascii_lowercase(),
            serde_json::to_string(&json!({"k": SECRET})).unwrap_or_default(),
            json_escape_conservative(SECRET, false, true),
            SECRET.bytes().map(|b| format!("{b:02x}")).collect(),
            SECRET.bytes().map(|b| format!("{b:02X}")).collect(),
            "s3cr+t/v=l&amp;ue &quot;q&quot; &lt;x&gt; é".to_string(),
            "s3cr+t/v=l&#38;ue &#34;q&#34; &#60;x&#62; é".to_string(),
            "s3cr+t/v=l&#x26;ue &#x22;q&#x22; &#x3c;x&#x3e; é".to_string(),
        ];
        for sample in samples {
            let text = format!("before {sample} after");
            let r = s.redact(&text);
            assert_eq!(r.matches(MASK).count(), 1, "{sample} -> {r}");
            assert!(r.starts_with("before ") && r.ends_with(" after"), "{r}");
        }
        // A Basic header: the composite's base64, and the value's base64 at an offset inside it.
        let header = format!("Basic {}", STANDARD.encode(&composite));
        assert_eq!(with_basic.redact(&header), "Basic ****");
        let inside = STANDARD.encode(format!("xy{SECRET}zw"));
        assert!(s.redact(&inside).contains(MASK), "{inside}");
    }

    /// An HTML page's echo in any mix of entities (Go's `&#34;`, Jinja's `&#34;` with `&amp;`,
    /// Python's `&#x27;`), and the start of a long secret so echoed, is masked.
    #[test]
    fn html_echoes_in_any_mix_of_entities_are_masked() {
        let secret = "p&ss\"word-123456'<x>";
        let s = Secrets::from_values([secret]);
        for echo in [
            "p&amp;ss&#34;word-123456&#39;&lt;x&gt;",
            "p&amp;ss&quot;word-123456&#x27;&lt;x&gt;",
            "p&#38;ss&#x22;word-123456&apos;&#60;x&#62;",
        ] {
            let r = s.redact(&format!("<p>bad key {echo} given</p>"));
            assert_eq!(r, "<p>bad key **** given</p>", "{echo}");
        }
        let long = Secrets::from_values(["sk&live_0123456789abcdef"]);
        let r = long.redact("key sk&amp;live_0123456789ab... refused");
        assert!(!r.contains("0123456789ab"), "{r}");
        // Text without a secret keeps its entities.
        assert_eq!(s.redact("a &amp; b &#39;c&#39; &unknown; &#xZZ;"), "a &amp; b &#39;c&#39; &unknown; &#xZZ;");
        assert_eq!(html_decode("&amp;&lt;&#39;&#x27;&#X41;&bogus;&"), "&<''A&bogus;&");
    }

    /// A provider naming the key it saw by its start or end, or in another case, is masked too;
    /// a start shorter than [`MIN_PARTIAL`] (a public `sk_live_` prefix) is not.
    #[test]
    fn starts_ends_and_cases_of_long_secrets_are_masked() {
        let key = "sk_live_PROBESECRET123";
        let s = Secrets::from_values([key]);
        for echo in ["SK_LIVE_PROBESECRET123", "sk_live_probesecret123", "sk_live_PROBESEC", "OBESECRET123"] {
            assert_eq!(s.redact(&format!("key {echo}... was refused")), "key ****... was refused", "{echo}");
        }
        assert_eq!(s.redact("an sk_live_ key"), "an sk_live_ key");
        // A shorter secret is masked whole only.
        let short = Secrets::from_values(["tok-12345678"]);
        assert_eq!(short.redact("tok-1234567 tok-12345678"), "tok-1234567 ****");
    }

    #[test]
    fn short_values_are_ignored_and_debug_hides_values() {
        let s = Secrets::from_values(["abc", "longer-secret"]);
        assert_eq!(s.len(), 1);
        assert_eq!(s.redact("abc longer-secret"), "abc ****");
        assert!(!format!("{s:?}").contains("longer-secret"));
    }

    #[test]
    fn scrub_covers_message_request_id_and_details() {
        let s = Secrets::from_values(["tok-123456"]);
        let e = Error::internal("bad tok-123456")
            .with_request_id(Some("id tok-123456".into()))
            .with_details(json!({"echo": ["tok-123456"], "tok-123456": 1}));
        let e = s.scrub(e);
        assert_eq!(e.message, "bad ****");
        assert_eq!(e.request_id.as_deref(), Some("id ****"));
        assert_eq!(e.details, Some(json!({"echo": ["****"], "****": 1})));
    }

    #[test]
    fn shown_urls_hold_no_user_or_password() {
        assert_eq!(shown_url("http://u:tok-123456@127.0.0.1:1/x"), "http://****@127.0.0.1:1/x");
        assert_eq!(shown_url("https://tok-123456@e.example"), "https://****@e.example/");
        assert_eq!(shown_url("not a url tok-123456@x"), "****");
        assert_eq!(shown_url("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
    }
}

/// A URL as it may be shown (a `Debug` impl, a log): a user or password in it becomes `****`,
/// and text that is not a URL but holds an `@` is not shown at all.
pub fn shown_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_password(None);
            let _ = u.set_username("****");
            u.to_string()
        }
        Ok(_) => url.to_string(),
        Err(_) if url.contains('@') => "****".to_string(),
        Err(_) => url.to_string(),
    }
}

/// A serde message without the values it quotes: `invalid type: integer `123`, expected a
/// string` becomes `invalid type: integer, expected a string`, and a string's text goes too. A
/// value a caller put in the wrong place may be a secret (a client secret sent as a number, a
/// token where a list was due), and messages never hold one.
pub fn without_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) =
        ["invalid type: ", "invalid value: "].iter().filter_map(|m| rest.find(m).map(|i| i + m.len())).min()
    {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        // serde's `Unexpected`: a kind, then ` `value`` (numbers, booleans, characters) or
        // ` "text"` (strings, with Rust's escapes).
        let kind_end = rest.find([' ', ',']).unwrap_or(rest.len());
        let (kind, after) = rest.split_at(kind_end);
        let (kind, after) = match kind {
            "floating" if after.starts_with(" point") => ("floating point", &after[" point".len()..]),
            _ => (kind, after),
        };
        out.push_str(kind);
        rest = if let Some(v) = after.strip_prefix(" `") {
            v.find('`').map_or("", |end| &v[end + 1..])
        } else if let Some(v) = after.strip_prefix(" \"") {
            let mut escaped = false;
            let end = v.char_indices().find(|&(_, c)| {
                let close = c == '"' && !escaped;
                escaped = c == '\\' && !escaped;
                close
            });
            end.map_or("", |(i, _)| &v[i + 1..])
        } else {
            after
        };
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod without_values_tests {
    use super::without_values;

    #[test]
    fn serde_messages_lose_the_values_they_quote() {
        let cases = [
            (
                "client_secret: invalid type: integer `123456789`, expected a string at line 1 column 40",
                "client_secret: invalid type: integer, expected a string at line 1 column 40",
            ),
            (
                r#"scopes: invalid type: string "sk_live_\"x\"y", expected a sequence"#,
                "scopes: invalid type: string, expected a sequence",
            ),
            ("invalid type: floating point `1.5`, expected u64", "invalid type: floating point, expected u64"),
            (
                "a: invalid value: integer `-1`, expected u32; b: invalid type: boolean `true`, expected a map",
                "a: invalid value: integer, expected u32; b: invalid type: boolean, expected a map",
            ),
            ("invalid type: map, expected a string", "invalid type: map, expected a string"),
            ("missing field `name`", "missing field `name`"),
            (
                "unknown field `nmae`, expected one of `name`, `config`",
                "unknown field `nmae`, expected one of `name`, `config`",
            ),
        ];
        for (message, want) in cases {
            assert_eq!(without_values(message), want, "{message}");
        }
    }
}
