//! Addresses as people type them: `a@example.org`, `Name <a@example.org>`,
//! `"Doe, Jane" <jane@example.org>`, lists separated by commas or
//! semicolons. Anything else is an error that names the string.

use crate::{Error, Result};

/// The address in `text` (`addr` or `Name <addr>`), lowercase.
pub fn parse_address(text: &str) -> Result<String> {
    let invalid = || Error::InvalidAddress(text.trim().to_string());
    let text = text.trim();
    let spec = match (text.rfind('<'), text.ends_with('>')) {
        (Some(open), true) => &text[open + 1..text.len() - 1],
        (None, false) => text,
        _ => return Err(invalid()),
    };
    let spec = spec.trim();
    let (local, domain) = spec.rsplit_once('@').ok_or_else(invalid)?;
    let bad = |c: char| c.is_whitespace() || c.is_control() || "<>,;\"()[]\\".contains(c);
    if local.is_empty()
        || domain.is_empty()
        || domain.contains('@')
        || local.contains('@')
        || !domain.contains(|c: char| c.is_alphanumeric())
        || spec.chars().any(bad)
    {
        return Err(invalid());
    }
    Ok(spec.to_ascii_lowercase())
}

/// The addresses of a list such as a To field, in order, without repeats.
/// Commas and semicolons separate, except inside quotes or angle brackets.
pub fn parse_list(text: &str) -> Result<Vec<String>> {
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<String> = Vec::new();
    for item in split(text) {
        if item.trim().is_empty() {
            continue;
        }
        let address = parse_address(item)?;
        if seen.insert(address.clone()) {
            out.push(address);
        }
    }
    Ok(out)
}

fn split(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quoted, mut angle, mut start) = (false, false, 0);
    for (i, c) in text.char_indices() {
        match c {
            '"' if !angle => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' | ';' if !quoted && !angle => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_brackets_are_understood() {
        for (text, want) in [
            ("a@example.org", "a@example.org"),
            ("  A@Example.ORG ", "a@example.org"),
            ("Alice <alice@example.org>", "alice@example.org"),
            ("\"Doe, Jane\" <Jane@example.org>", "jane@example.org"),
            ("<bob@example.org>", "bob@example.org"),
        ] {
            assert_eq!(parse_address(text).unwrap(), want, "{text}");
        }
        assert_eq!(
            parse_list("\"Doe, Jane\" <jane@example.org>; b@example.org, ,B@example.org").unwrap(),
            ["jane@example.org", "b@example.org"]
        );
    }

    #[test]
    fn strings_that_are_no_address_are_named() {
        for text in [
            "alice",
            "alice@",
            "@example.org",
            "a b@example.org",
            "Alice <alice@example.org",
            "Alice alice@example.org>",
            "a@b@example.org",
            "a@.",
            "a@exa\u{7}mple.org",
        ] {
            match parse_address(text) {
                Err(Error::InvalidAddress(s)) => assert_eq!(s, text.trim()),
                other => panic!("{text:?}: {other:?}"),
            }
        }
        match parse_list("a@example.org, not an address") {
            Err(Error::InvalidAddress(s)) => assert_eq!(s, "not an address"),
            other => panic!("{other:?}"),
        }
    }
}
