use super::*;

fn callers(text: &str) -> Result<CallerList, String> {
    parse_callers(
        text.as_bytes().to_vec(),
        Quota::per_second(NonZeroU32::new(5).unwrap()),
    )
}

fn file(entries: &[(&str, &str)]) -> String {
    let entries: Vec<String> = entries
        .iter()
        .map(|(name, models)| {
            format!(
                r#"{{"name":"{name}","keySha256":"{}","models":[{models}]}}"#,
                "ab".repeat(32)
            )
        })
        .collect();
    format!(r#"{{"callers":[{}]}}"#, entries.join(","))
}

#[test]
fn a_file_names_each_caller_with_its_rights() {
    let list = callers(&file(&[
        ("orders", "\"75A40874E6B64FA3AE0743278996850F\""),
        ("ops", "\"*\""),
    ]))
    .unwrap();
    let names: Vec<&str> = list.callers.iter().map(|c| &*c.name).collect();
    assert_eq!(names, ["orders", "ops"]);
    assert!(list.callers[0].models.is_some() && list.callers[1].models.is_none());
    assert_eq!(list.callers[0].key_sha256, [0xab; 32]);
}

#[test]
fn a_bad_file_is_refused_without_quoting_it() {
    let short = r#"{"callers":[{"name":"a","keySha256":"abc","models":["*"]}]}"#;
    assert!(callers(short).unwrap_err().contains("64 hex digits"));
    let secretish = r#"{"callers":[{"name":"a","keySha256":"0123456789abcdef", "extra": 1}]}"#;
    let problem = callers(secretish).unwrap_err();
    assert!(!problem.contains("0123456789abcdef"), "{problem}");
    assert!(callers(r#"{"callers":[]}"#).is_err());
    let twice = file(&[("a", "\"*\""), ("a", "\"*\"")]);
    assert!(callers(&twice).unwrap_err().contains("twice"));
    assert!(callers(&file(&[("a b", "\"*\"")])).is_err());
    assert!(callers(&file(&[("a", "\"nope\"")])).is_err());
}

#[test]
fn debug_names_the_callers_never_their_hashes() {
    let list = callers(&file(&[("ops", "\"*\"")])).unwrap();
    let shown = format!("{list:?}");
    assert!(shown.contains("ops"), "{shown}");
    assert!(
        !shown.contains("abab") && !shown.contains("171, 171"),
        "{shown}"
    );
}
