//! Env-files: `KEY=VALUE` lines as read by `docker run --env-file`, systemd's `EnvironmentFile=` and compose
//! `.env` files, so a policyserv deployment's file can be handed to `palisade serve --env-file` unchanged.
//!
//! Accepted per line: blank lines; comments starting with `#` (or `;`, systemd); an optional `export ` prefix;
//! `KEY=VALUE` where KEY is `[A-Za-z_][A-Za-z0-9_]*`. VALUE is taken verbatim after trimming outer whitespace,
//! except that a value wrapped in single quotes is literal and one in double quotes understands `\"`, `\\`,
//! `\n`, `\t` and `\$`; after a closing quote only whitespace or a `#` comment may follow. A bare `KEY` line
//! (docker: "pass through from the environment") is accepted and contributes nothing, since the real
//! environment already wins over the file.
//!
//! Docker keeps quotes as part of the value; we strip them like systemd and compose, because a policyserv value
//! never legitimately starts and ends with a quote.

use std::path::Path;

use super::error::ConfigError;

/// Reads and parses an env-file.
pub fn read_env_file(path: &Path) -> Result<Vec<(String, String)>, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
    parse_env_file(&text).map_err(|(line, message)| ConfigError::EnvFile {
        path: path.to_owned(),
        line,
        message,
    })
}

/// Parses env-file text into (name, value) pairs in file order. Errors carry the 1-based line number.
pub fn parse_env_file(text: &str) -> Result<Vec<(String, String)>, (usize, String)> {
    let mut pairs = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if let Some(pair) = parse_line(line).map_err(|message| (index + 1, message))? {
            pairs.push(pair);
        }
    }
    Ok(pairs)
}

/// One line: `None` for blanks, comments and bare names.
fn parse_line(line: &str) -> Result<Option<(String, String)>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
        return Ok(None);
    }
    let line = line.strip_prefix("export ").map_or(line, str::trim_start);
    let (name, value) = match line.split_once('=') {
        Some((name, value)) => (name.trim_end(), Some(value.trim())),
        None => (line, None),
    };
    if !is_variable_name(name) {
        return Err(format!("{name:?} is not a valid variable name"));
    }
    match value {
        Some(value) => Ok(Some((name.to_owned(), unquote(value)?))),
        None => Ok(None),
    }
}

/// `[A-Za-z_][A-Za-z0-9_]*`.
fn is_variable_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Removes one level of quoting from a value; unquoted values are kept verbatim.
fn unquote(value: &str) -> Result<String, String> {
    let (content, rest) = if let Some(body) = value.strip_prefix('\'') {
        let end = body.find('\'').ok_or("unterminated single quote")?;
        (body[..end].to_owned(), &body[end + 1..])
    } else if let Some(body) = value.strip_prefix('"') {
        read_double_quoted(body)?
    } else {
        return Ok(value.to_owned());
    };
    let rest = rest.trim_start();
    if rest.is_empty() || rest.starts_with('#') {
        Ok(content)
    } else {
        Err(format!("unexpected {rest:?} after the closing quote"))
    }
}

/// Reads a double-quoted body up to its closing quote; returns the content and what follows the quote.
fn read_double_quoted(body: &str) -> Result<(String, &str), String> {
    let mut content = String::new();
    let mut chars = body.char_indices();
    while let Some((index, c)) = chars.next() {
        match c {
            '"' => return Ok((content, &body[index + 1..])),
            '\\' => match chars.next().map(|(_, escaped)| escaped) {
                Some('n') => content.push('\n'),
                Some('t') => content.push('\t'),
                Some(escaped @ ('"' | '\\' | '$' | '`')) => content.push(escaped),
                // Unknown escapes are kept as written, which is what shells do inside double quotes.
                Some(other) => {
                    content.push('\\');
                    content.push(other);
                }
                None => break,
            },
            other => content.push(other),
        }
    }
    Err("unterminated double quote".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse_env_file(text).unwrap()
    }

    fn one(text: &str) -> String {
        let mut parsed = pairs(text);
        assert_eq!(parsed.len(), 1, "{text:?}");
        parsed.remove(0).1
    }

    #[test]
    fn values_and_quotes() {
        let cases = [
            ("A=b", "b"),
            ("A = b ", "b"),
            ("A=", ""),
            ("A=\"quoted value\"", "quoted value"),
            ("A='single $x \\n'", "single $x \\n"),
            ("A=\"esc \\\" \\\\ \\n \\$x\"", "esc \" \\ \n $x"),
            ("A=\"x\" # trailing comment", "x"),
            ("A=unquoted # not a comment", "unquoted # not a comment"),
            ("A=a=b=c", "a=b=c"),
            ("export A=exported", "exported"),
            ("A=172.16.0.0/12,::1/128", "172.16.0.0/12,::1/128"),
            ("A=\"\"", ""),
        ];
        for (text, expected) in cases {
            assert_eq!(one(text), expected, "{text}");
        }
    }

    #[test]
    fn comments_blank_lines_and_bare_names() {
        let text = "# policyserv\n\n  # indented comment\n; systemd comment\nPS_HOMESERVER_NAME=example.org\r\nPS_API_KEY\nexport PS_JOIN_SERVER=matrix.org\n";
        assert_eq!(
            pairs(text),
            [
                ("PS_HOMESERVER_NAME".to_owned(), "example.org".to_owned()),
                ("PS_JOIN_SERVER".to_owned(), "matrix.org".to_owned())
            ]
        );
    }

    #[test]
    fn errors_carry_line_numbers() {
        let cases = [
            ("OK=1\n1BAD=x", 2, "is not a valid variable name"),
            ("A=\"open", 1, "unterminated double quote"),
            ("\n\nA='open", 3, "unterminated single quote"),
            ("A=\"x\" y", 1, "after the closing quote"),
            ("WITH SPACE=x", 1, "is not a valid variable name"),
        ];
        for (text, line, why) in cases {
            let (at, message) = parse_env_file(text).unwrap_err();
            assert_eq!(at, line, "{text:?}");
            assert!(message.contains(why), "{text:?}: {message}");
        }
    }

    #[test]
    fn reads_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policyserv.env");
        std::fs::write(&path, "PS_HOMESERVER_NAME=example.org\n").unwrap();
        assert_eq!(read_env_file(&path).unwrap().len(), 1);
        let missing = read_env_file(&dir.path().join("missing.env")).unwrap_err();
        assert!(missing.to_string().starts_with("cannot read"), "{missing}");
        std::fs::write(&path, "A=1\nB=\"x").unwrap();
        let bad = read_env_file(&path).unwrap_err().to_string();
        assert!(bad.ends_with("policyserv.env:2: unterminated double quote"), "{bad}");
    }
}
