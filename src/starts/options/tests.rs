use super::*;

fn body(kind: TaskKind, json: &str) -> Result<String, String> {
    let options = StartOptions::read(kind, json.as_bytes())?;
    Ok(options
        .upstream_body()
        .map(|body| String::from_utf8(body.to_vec()).unwrap())
        .unwrap_or_default())
}

#[test]
fn an_empty_body_takes_every_default() {
    assert_eq!(
        body(TaskKind::Import, ""),
        Ok(r#"{"localeName":"en_US"}"#.into())
    );
    assert_eq!(
        body(TaskKind::Export, " "),
        Ok(r#"{"localeName":"en_US"}"#.into())
    );
    assert_eq!(
        body(TaskKind::Action, "{}"),
        Ok(r#"{"localeName":"en_US"}"#.into())
    );
    assert_eq!(
        body(TaskKind::ViewRead, ""),
        Ok(r#"{"exportType":"TABULAR_MULTI_COLUMN"}"#.into())
    );
    assert_eq!(body(TaskKind::ListRead, "{}"), Ok(String::new()));
}

#[test]
fn the_locale_goes_before_the_mapping_parameters() {
    let given = r#"{"mappingParameters":[{"entityName":"Actual","entityType":"Version"}],"localeName":"en_GB"}"#;
    assert_eq!(
        body(TaskKind::Process, given),
        Ok(r#"{"localeName":"en_GB","mappingParameters":[{"entityType":"Version","entityName":"Actual"}]}"#.into())
    );
}

#[test]
fn what_a_kind_does_not_take_is_refused() {
    let refused = [
        (
            TaskKind::Import,
            r#"{"localeName":"en_US","extra":1}"#,
            "unknown field `extra`",
        ),
        (
            TaskKind::Export,
            r#"{"mappingParameters":[]}"#,
            "a export start takes none",
        ),
        (
            TaskKind::Action,
            r#"{"mappingParameters":[]}"#,
            "a action start takes none",
        ),
        (
            TaskKind::ViewRead,
            r#"{"exportType":"CSV"}"#,
            "unknown variant `CSV`",
        ),
        (
            TaskKind::ViewRead,
            r#"{"localeName":"en_US"}"#,
            "unknown field `localeName`",
        ),
        (
            TaskKind::ListRead,
            r#"{"exportType":"GRID_ALL_PAGES"}"#,
            "takes no fields",
        ),
        (
            TaskKind::Import,
            r#"{"localeName":"en US; drop"}"#,
            "localeName must be",
        ),
        (
            TaskKind::Import,
            r#"{"mappingParameters":[{"entityType":"","entityName":"x"}]}"#,
            "entityType and entityName",
        ),
        (
            TaskKind::Import,
            r#"{"mappingParameters":[{"entityType":"Version"}]}"#,
            "missing field `entityName`",
        ),
        (TaskKind::Import, "[1]", "the body"),
        (TaskKind::Import, "[null, null]", "a JSON object"),
        (TaskKind::ListRead, "[]", "a JSON object"),
        (
            TaskKind::Import,
            r#"{"localeName":null}"#,
            "localeName: null",
        ),
        (
            TaskKind::ViewRead,
            r#"{"exportType":null}"#,
            "exportType: null",
        ),
        (TaskKind::Import, "not json", "the body"),
    ];
    for (kind, given, why) in refused {
        let error = body(kind, given).expect_err(given);
        assert!(error.contains(why), "{given}: {error}");
    }
}

#[test]
fn too_many_mapping_parameters_are_refused() {
    let one = r#"{"entityType":"Version","entityName":"Actual"}"#;
    let many = format!(r#"{{"mappingParameters":[{}]}}"#, vec![one; 101].join(","));
    assert!(
        body(TaskKind::Import, &many)
            .unwrap_err()
            .contains("at most 100")
    );
}
