use super::*;

/// The template of policyserv's keyword-template tests, rewritten: lower-cased, punctuation-free words `bad1..3`
/// emit `org.example.keyword.spam`; `BAD1..3` in the upper-cased raw body emits `...spam.flooding`.
pub(crate) const EXAMPLE: &str = r#"
{{- /* words */ -}}
{{- range $w := .BodyWords -}}
  {{- $clean := RemovePunctuation (ToLower $w) -}}
  {{- if StrSliceContains (StrSlice "bad1" "bad2" "bad3") $clean }} org.example.keyword.spam {{ end -}}
{{- end -}}
{{- $upper := ToUpper .BodyRaw -}}
{{- if or (StringContains $upper "BAD1") (StringContains $upper "BAD2") (StringContains $upper "BAD3") -}}
  {{- " " }}org.example.keyword.spam.flooding
{{- end -}}
"#;

fn run(source: &str, text: &str) -> Vec<String> {
    KeywordTemplate::parse("t", source).unwrap().harms(text).unwrap()
}

/// §8.5 #49.
#[test]
fn functions() {
    let cases = [
        (r#"{{ ToUpper "abc" }}"#, "", vec!["ABC"]),
        (r#"{{ ToLower "AbC" }}"#, "", vec!["abc"]),
        (
            r#"{{ RemovePunctuation "!':;.,@?punctuation should be removed!':;.,@?" }}"#,
            "",
            vec!["punctuation", "should", "be", "removed"],
        ),
        (r#"{{ if StringContains .BodyRaw "needle" }}found{{ end }}"#, "hay needle hay", vec!["found"]),
        (r#"{{ if StringContains .BodyRaw "needle" }}found{{ end }}"#, "hay", vec![]),
        (r#"{{ range StrSlice "a" "b" }}{{ . }} {{ end }}"#, "", vec!["a", "b"]),
        (r#"{{ if StrSliceContains (StrSlice "a" "b") "b" }}yes{{ end }}"#, "", vec!["yes"]),
        (r#"{{ if StrSliceContains (StrSlice "a" "b") "c" }}yes{{ end }}"#, "", vec![]),
        (r#"{{ len .BodyWords }}"#, "the_harms_input_should_be retained_as_two_words", vec!["2"]),
        (r#"{{ len .BodyWords }}"#, "a  b", vec!["3"]),
        ("  first \n second\tthird  ", "", vec!["first", "second", "third"]),
    ];
    for (source, text, want) in cases {
        assert_eq!(run(source, text), want, "{source}");
    }
    assert_eq!(
        run(r#"{{ RemovePunctuation "naïve_ok" }}"#, ""),
        vec!["nave_ok"],
        "Go's \\w is ASCII-only, so non-ASCII letters go too"
    );
}

#[test]
fn example_template() {
    let cases = [
        (
            "this has a bad word, bad2, in it",
            vec!["org.example.keyword.spam", "org.example.keyword.spam.flooding"],
        ),
        (
            "LET'S TEST CASE SENSITIVITY TOO: BAD3",
            vec!["org.example.keyword.spam", "org.example.keyword.spam.flooding"],
        ),
        ("this is not spam", vec![]),
    ];
    for (text, want) in cases {
        assert_eq!(run(EXAMPLE, text), want, "{text}");
    }
}

#[test]
fn errors_are_values() {
    let err = KeywordTemplate::parse("broken", "{{ if }").unwrap_err();
    assert_eq!(err.name, "broken");
    for nested in
        [r#"{{define "x"}}{{template "x"}}{{end}}{{template "x"}}"#, r#"{{- block "b" . }}x{{ end }}"#]
    {
        assert!(KeywordTemplate::parse("n", nested).is_err(), "{nested}");
    }
    let runtime = KeywordTemplate::parse("rt", "{{ ToUpper 5 }}").unwrap();
    assert!(runtime.harms("x").is_err());
}
