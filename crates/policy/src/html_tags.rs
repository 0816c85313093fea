//! A small HTML tokenizer that yields start tags with their attributes, following the HTML5 tokenizer's rules for
//! tag and attribute syntax (lower-cased names, quoted and unquoted values, duplicates kept, comments and raw-text
//! elements skipped). It never fails: malformed markup is text, as in a browser.

/// A start (or self-closing) tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartTag {
    /// Lower-cased tag name.
    pub name: String,
    /// Attributes in source order: lower-cased name, and value (`None` when written without `=`).
    pub attributes: Vec<(String, Option<String>)>,
}

/// Elements whose content is not markup.
const RAW_TEXT: [&str; 8] = ["script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes"];

/// Every start tag in `html`, in order.
pub fn start_tags(html: &str) -> Vec<StartTag> {
    let chars: Vec<char> = html.chars().collect();
    let mut tags = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars.get(i) != Some(&'<') {
            i += 1;
            continue;
        }
        let next = chars.get(i + 1).copied();
        if starts_with(&chars, i, "<!--") {
            i = find(&chars, i + 4, "-->").map_or(chars.len(), |end| end + 3);
        } else if matches!(next, Some('!' | '?' | '/')) {
            i = find(&chars, i + 1, ">").map_or(chars.len(), |end| end + 1);
        } else if next.is_some_and(|c| c.is_ascii_alphabetic()) {
            match parse_start_tag(&chars, i + 1) {
                Some((tag, end)) => {
                    i = end;
                    if RAW_TEXT.contains(&tag.name.as_str()) {
                        i = find_ci(&chars, i, &format!("</{}", tag.name)).unwrap_or(chars.len());
                    }
                    tags.push(tag);
                }
                // A tag cut off by the end of input is dropped, as the HTML tokenizer does.
                None => break,
            }
        } else {
            i += 1;
        }
    }
    tags
}

fn starts_with(chars: &[char], at: usize, needle: &str) -> bool {
    let len = needle.chars().count();
    chars.get(at..at + len).is_some_and(|s| s.iter().copied().eq(needle.chars()))
}

/// Index of the next `needle` at or after `from`.
fn find(chars: &[char], from: usize, needle: &str) -> Option<usize> {
    (from..chars.len()).find(|&i| starts_with(chars, i, needle))
}

/// Case-insensitive `find`.
fn find_ci(chars: &[char], from: usize, needle: &str) -> Option<usize> {
    let needle: Vec<char> = needle.chars().collect();
    (from..chars.len()).find(|&i| {
        chars
            .get(i..i + needle.len())
            .is_some_and(|s| s.iter().zip(&needle).all(|(a, b)| a.eq_ignore_ascii_case(b)))
    })
}

/// Parses a start tag whose name begins at `at`; returns it and the index after `>`.
fn parse_start_tag(chars: &[char], mut at: usize) -> Option<(StartTag, usize)> {
    let is_space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\x0c' | '\r');
    let mut name = String::new();
    while let Some(&c) = chars.get(at) {
        if is_space(c) || c == '/' || c == '>' {
            break;
        }
        name.extend(c.to_lowercase());
        at += 1;
    }
    let mut attributes = Vec::new();
    loop {
        while chars.get(at).is_some_and(|c| is_space(*c) || *c == '/') {
            at += 1;
        }
        match chars.get(at)? {
            '>' => return Some((StartTag { name, attributes }, at + 1)),
            _ => {
                let mut attr = String::new();
                // The first character may be `=` (a parse error the tokenizer keeps in the name).
                attr.extend(chars.get(at)?.to_lowercase());
                at += 1;
                while let Some(&c) = chars.get(at) {
                    if is_space(c) || matches!(c, '/' | '>' | '=') {
                        break;
                    }
                    attr.extend(c.to_lowercase());
                    at += 1;
                }
                while chars.get(at).is_some_and(|c| is_space(*c)) {
                    at += 1;
                }
                let mut value = None;
                if chars.get(at) == Some(&'=') {
                    at += 1;
                    while chars.get(at).is_some_and(|c| is_space(*c)) {
                        at += 1;
                    }
                    let (v, end) = parse_value(chars, at)?;
                    value = Some(v);
                    at = end;
                }
                attributes.push((attr, value));
            }
        }
    }
}

/// Parses an attribute value starting at `at`; returns it and the index after it.
fn parse_value(chars: &[char], at: usize) -> Option<(String, usize)> {
    match chars.get(at)? {
        quote @ ('"' | '\'') => {
            let end = (at + 1..chars.len()).find(|&i| chars.get(i) == Some(quote))?;
            Some((chars.get(at + 1..end)?.iter().collect(), end + 1))
        }
        '>' => Some((String::new(), at)),
        _ => {
            let end = (at..chars.len())
                .find(|&i| chars.get(i).is_some_and(|c| matches!(c, ' ' | '\t' | '\n' | '\x0c' | '\r' | '>')))
                .unwrap_or(chars.len());
            Some((chars.get(at..end)?.iter().collect(), end))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(tag: &StartTag) -> Vec<(&str, Option<&str>)> {
        tag.attributes.iter().map(|(n, v)| (n.as_str(), v.as_deref())).collect()
    }

    #[test]
    fn tokenizes_attributes() {
        let tags =
            start_tags(r#"hi <IMG Data-MX-Emoticon SRC="mxc://a/b" height=16 alt='x y'/> <b>bold</b>"#);
        assert_eq!(tags.len(), 2);
        assert_eq!(tags[0].name, "img");
        assert_eq!(
            attrs(&tags[0]),
            vec![
                ("data-mx-emoticon", None),
                ("src", Some("mxc://a/b")),
                ("height", Some("16")),
                ("alt", Some("x y"))
            ]
        );
        assert_eq!(tags[1].name, "b");
    }

    #[test]
    fn skips_comments_raw_text_and_broken_tags() {
        let tags =
            start_tags("<!-- <img> --><script>if (a<b) { '<img>' }</script><p>x</p> 1 < 2 <img height=");
        let names: Vec<&str> = tags.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, vec!["script", "p"]);
        let dup = start_tags("<img height=1 height=2>");
        assert_eq!(attrs(&dup[0]), vec![("height", Some("1")), ("height", Some("2"))]);
        assert!(start_tags("").is_empty());
        assert!(start_tags("<").is_empty());
        assert!(start_tags("<img a=\"unterminated>").is_empty());
    }
}
