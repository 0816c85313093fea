//! Operator-written keyword rules in Go `text/template` syntax (policyserv's `keyword_templates`), evaluated with
//! gtmpl. A template sees `.BodyRaw` (the text) and `.BodyWords` (the text split on every single whitespace
//! character) and prints harm IDs separated by whitespace.

use std::collections::HashMap;
use std::sync::LazyLock;

use gtmpl::{Context, Template};
use gtmpl_value::{Func, FuncError, Value};
use regex::Regex;

/// A parsed template.
pub struct KeywordTemplate {
    name: String,
    template: Template,
}

impl std::fmt::Debug for KeywordTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeywordTemplate").field("name", &self.name).finish_non_exhaustive()
    }
}

/// A template that failed to parse or run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("keyword template {name}: {message}")]
pub struct TemplateError {
    /// The template's name.
    pub name: String,
    /// What went wrong.
    pub message: String,
}

/// Actions that define or invoke named templates.
static NESTING: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"\{\{-?\s*(define|template|block)\b").ok());

/// policyserv's template functions.
const FUNCS: [(&str, Func); 6] = [
    ("ToLower", to_lower),
    ("ToUpper", to_upper),
    ("StringContains", string_contains),
    ("StrSliceContains", str_slice_contains),
    ("RemovePunctuation", remove_punctuation),
    ("StrSlice", str_slice),
];

impl KeywordTemplate {
    /// Parses `source`. Templates that define or call other templates are refused: a template calling itself
    /// would recurse until the stack overflows, which aborts the process instead of failing one check.
    pub fn parse(name: &str, source: &str) -> Result<Self, TemplateError> {
        let nested = NESTING.as_ref().is_none_or(|pattern| pattern.is_match(source));
        if nested {
            let message = "define, template and block actions are not allowed".to_owned();
            return Err(TemplateError { name: name.to_owned(), message });
        }
        let mut template = Template::with_name(name);
        template.add_funcs(&FUNCS);
        template
            .parse(source)
            .map_err(|err| TemplateError { name: name.to_owned(), message: err.to_string() })?;
        Ok(Self { name: name.to_owned(), template })
    }

    /// The template's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs the template on `text` and returns the harm IDs it printed, in order.
    pub fn harms(&self, text: &str) -> Result<Vec<String>, TemplateError> {
        let words: Vec<Value> = text.split(is_go_space).map(|w| Value::String(w.to_owned())).collect();
        let data = HashMap::from([
            ("BodyRaw".to_owned(), Value::String(text.to_owned())),
            ("BodyWords".to_owned(), Value::Array(words)),
        ]);
        let output = self
            .template
            .render(&Context::from(Value::Object(data)))
            .map_err(|err| TemplateError { name: self.name.clone(), message: err.to_string() })?;
        Ok(output.split_whitespace().map(str::to_owned).collect())
    }
}

/// Go's `\s`: space, `\t`, `\n`, `\f`, `\r` (and `\v` in newer Go).
fn is_go_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

/// The single string argument of a function.
fn string_arg<'a>(name: &str, args: &'a [Value], index: usize, count: usize) -> Result<&'a str, FuncError> {
    if args.len() != count {
        return Err(FuncError::ExactlyXArgs(name.to_owned(), count));
    }
    match args.get(index) {
        Some(Value::String(s)) => Ok(s),
        _ => Err(FuncError::UnableToConvertFromValue),
    }
}

fn to_lower(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(string_arg("ToLower", args, 0, 1)?.to_lowercase()))
}

fn to_upper(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(string_arg("ToUpper", args, 0, 1)?.to_uppercase()))
}

fn string_contains(args: &[Value]) -> Result<Value, FuncError> {
    let haystack = string_arg("StringContains", args, 0, 2)?;
    let needle = string_arg("StringContains", args, 1, 2)?;
    Ok(Value::Bool(haystack.contains(needle)))
}

fn str_slice_contains(args: &[Value]) -> Result<Value, FuncError> {
    let [Value::Array(items), needle] = args else {
        return Err(FuncError::ExactlyXArgs("StrSliceContains".to_owned(), 2));
    };
    Ok(Value::Bool(items.iter().any(|item| item == needle)))
}

/// Go's `[^\w\s]` with Go's ASCII-only classes: every character (including non-ASCII letters) that is not an ASCII
/// letter, digit, `_` or whitespace.
static PUNCTUATION: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"[^0-9A-Za-z_\t\n\x0B\x0C\r ]").ok());

fn remove_punctuation(args: &[Value]) -> Result<Value, FuncError> {
    let text = string_arg("RemovePunctuation", args, 0, 1)?;
    let pattern =
        PUNCTUATION.as_ref().ok_or_else(|| FuncError::Generic("pattern failed to compile".into()))?;
    Ok(Value::String(pattern.replace_all(text, "").into_owned()))
}

fn str_slice(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::Array(args.to_vec()))
}

#[cfg(test)]
mod tests;

/// The example template used by the filter's tests.
#[cfg(test)]
pub(crate) fn tests_example() -> &'static str {
    tests::EXAMPLE
}
