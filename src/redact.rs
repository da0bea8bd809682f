//! Hiding credentials: a pre-signed `download_url` reads the export file for 24 hours, so its
//! query (the signature) must not reach an error, a `Debug` output or a log line.

use std::borrow::Cow;

/// Characters of a remote host's own words (an error message, a header value) kept in an error.
const MAX_ECHO: usize = 300;

/// `url` as `Debug` and logs show it: without user info, query and fragment (a `?<redacted>`
/// marks where they were).
pub(crate) fn redact_query(url: &str) -> String {
    let base = url.find(['?', '#']).map_or(url, |cut| &url[..cut]);
    let mut shown = url::Url::parse(base).map_or(base.to_owned(), |mut parsed| {
        let _ = parsed.set_username("");
        let _ = parsed.set_password(None);
        parsed.into()
    });
    if base.len() < url.len() {
        shown.push_str("?<redacted>");
    }
    shown
}

/// `text` with every URL (and every `path?name=value` word) cut at its query and fragment,
/// which become `?<redacted>`; nothing else changes.
pub(crate) fn redact_urls(text: &str) -> String {
    let separator = |c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\'' | '`');
    let mut out = String::with_capacity(text.len());
    for piece in text.split_inclusive(separator) {
        let word = piece.strip_suffix(separator).unwrap_or(piece);
        out.push_str(&redact_word(word));
        out.push_str(&piece[word.len()..]);
    }
    out
}

fn redact_word(word: &str) -> Cow<'_, str> {
    match word.find(['?', '#']) {
        Some(cut) if word[..cut].contains("://") || word[cut..].contains('=') => {
            format!("{}?<redacted>", &word[..cut]).into()
        }
        _ => word.into(),
    }
}

/// Text a remote host sent, safe for an error or a log line and cut to [`MAX_ECHO`] characters:
/// [`redact_urls`], and each value of 8 characters or more in the `urls`' queries and fragments
/// (raw and percent-decoded) blanked wherever it appears.
pub(crate) fn scrub(text: &str, urls: &[&str]) -> String {
    let mut secrets = Vec::new();
    for url in urls {
        let (rest, fragment) = url.split_once('#').unwrap_or((url, ""));
        let query = rest.split_once('?').map_or("", |(_, query)| query);
        for part in [query, fragment] {
            let values = part
                .split('&')
                .map(|pair| pair.split_once('=').map_or(pair, |p| p.1));
            secrets.extend(values.map(str::to_owned));
            let decoded = url::form_urlencoded::parse(part.as_bytes());
            secrets.extend(decoded.map(|(_, value)| value.into_owned()));
        }
    }
    secrets.retain(|s| s.chars().count() >= 8);
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = redact_urls(text);
    for secret in &secrets {
        out = out.replace(secret.as_str(), "<redacted>");
    }
    match out.char_indices().nth(MAX_ECHO) {
        Some((end, _)) => format!("{}…", &out[..end]),
        None => out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGNED: &str = "https://user:pw@bucket.s3.example/exp_1.csv?X-Amz-Signature=abcdef0123456789&X-Amz-Expires=86400#frag";

    #[test]
    fn redact_query_drops_user_info_query_and_fragment() {
        assert_eq!(
            redact_query(SIGNED),
            "https://bucket.s3.example/exp_1.csv?<redacted>"
        );
        assert_eq!(redact_query("https://h/p"), "https://h/p");
        assert_eq!(
            redact_query("https://h/p#only-a-fragment"),
            "https://h/p?<redacted>"
        );
        // Not a URL: still cut at the query, never echoed whole.
        assert_eq!(redact_query("not a url?sig=secret"), "not a url?<redacted>");
    }

    #[test]
    fn redact_urls_cuts_every_url_and_query_like_word_and_nothing_else() {
        let text = format!("GET <{SIGNED}> failed; see /p?token=abc and why? ok");
        let shown = redact_urls(&text);
        assert!(!shown.contains("abcdef0123456789"), "{shown}");
        assert!(!shown.contains("token=abc"), "{shown}");
        assert!(shown.contains("exp_1.csv?<redacted>>"), "{shown}");
        // A question mark in prose is not a query.
        assert!(shown.ends_with("and why? ok"), "{shown}");
    }

    #[test]
    fn scrub_blanks_the_urls_secrets_wherever_they_appear() {
        let echoed = "AccessDenied: signature abcdef0123456789 does not match; Expires=86400";
        let shown = scrub(echoed, &[SIGNED]);
        assert!(!shown.contains("abcdef0123456789"), "{shown}");
        // Values shorter than 8 characters are too common to blank (86400 stays).
        assert!(shown.contains("86400"), "{shown}");
    }

    #[test]
    fn scrub_blanks_percent_decoded_values_too() {
        let url = "https://h/f?sig=a%2Bb%2Fc%3D0123456";
        let shown = scrub("the server said: a+b/c=0123456 is wrong", &[url]);
        assert!(!shown.contains("a+b/c=0123456"), "{shown}");
    }

    #[test]
    fn scrub_cuts_long_text_on_a_character_boundary() {
        let long = "é".repeat(MAX_ECHO + 50);
        let shown = scrub(&long, &[]);
        assert_eq!(shown.chars().count(), MAX_ECHO + 1);
        assert!(shown.ends_with('…'));
    }
}
