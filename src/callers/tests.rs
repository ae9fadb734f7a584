use std::num::NonZeroU32;

use super::*;
use crate::config::CallersSettings;

const MODEL: &str = "75A40874E6B64FA3AE0743278996850F";
const OTHER: &str = "85A40874E6B64FA3AE0743278996850F";

fn sha256_hex(key: &str) -> String {
    digest(&SHA256, key.as_bytes())
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn callers(text: &str) -> Result<Callers, String> {
    let dir = std::env::temp_dir().join(format!("callers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{:016x}.json", rand::random::<u64>()));
    std::fs::write(&path, text).unwrap();
    let five = Quota::per_second(NonZeroU32::new(5).unwrap());
    CallersSettings::load(&path, five).map(|settings| Callers::new(&settings))
}

fn file(entries: &[(&str, &str, &str, bool)]) -> String {
    let entries: Vec<String> = entries
        .iter()
        .map(|(name, key, models, may_cancel)| {
            format!(
                r#"{{"name":"{name}","keySha256":"{}","models":[{models}],"mayCancel":{may_cancel}}}"#,
                sha256_hex(key)
            )
        })
        .collect();
    format!(r#"{{"callers":[{}]}}"#, entries.join(","))
}

fn model(text: &str) -> ModelId {
    ModelId::parse("modelId", text).unwrap()
}

#[test]
fn a_key_finds_its_caller_and_what_it_may_do() {
    let models = format!("\"{MODEL}\"");
    let callers = callers(&file(&[
        ("orders", "orders-key", &models, false),
        ("ops", "ops-key", "\"*\"", true),
    ]))
    .unwrap();
    let orders = callers.authenticate(Some(b"Bearer orders-key")).unwrap();
    assert_eq!(&**orders.name(), "orders");
    assert_eq!(orders.may_read(Some(model(MODEL)), None), Ok(None));
    assert_eq!(
        orders.may_read(Some(model(OTHER)), None),
        Err(Refused::Model)
    );
    assert_eq!(orders.may_read(None, None), Err(Refused::Tenant));
    assert_eq!(orders.may_cancel(), Err(Refused::Cancel));
    let ops = callers.authenticate(Some(b"bearer  ops-key ")).unwrap();
    assert_eq!(ops.may_read(Some(model(OTHER)), None), Ok(None));
    assert_eq!(ops.may_read(None, None), Ok(None));
    assert_eq!(ops.may_cancel(), Ok(()));
}

#[test]
fn no_key_or_an_unknown_one_finds_no_caller() {
    let callers = callers(&file(&[("ops", "ops-key", "\"*\"", true)])).unwrap();
    assert_eq!(
        callers.authenticate(None).unwrap_err(),
        Unauthenticated::NoKey
    );
    let basic = callers
        .authenticate(Some(b"Basic b3BzLWtleQ=="))
        .unwrap_err();
    assert_eq!(basic, Unauthenticated::NoKey);
    let wrong = callers.authenticate(Some(b"Bearer ops-keY")).unwrap_err();
    assert_eq!(wrong, Unauthenticated::UnknownKey);
    // The hash itself is not a key.
    let hash = format!("Bearer {}", sha256_hex("ops-key"));
    let hash = callers.authenticate(Some(hash.as_bytes())).unwrap_err();
    assert_eq!(hash, Unauthenticated::UnknownKey);
}

#[test]
fn a_changed_file_is_swapped_in_and_a_broken_one_is_not() {
    let callers = callers(&file(&[("old", "old-key", "\"*\"", false)])).unwrap();
    std::fs::write(
        &callers.settings.path,
        file(&[("new", "new-key", "\"*\"", false)]),
    )
    .unwrap();
    callers.reload();
    assert!(callers.authenticate(Some(b"Bearer old-key")).is_err());
    assert!(callers.authenticate(Some(b"Bearer new-key")).is_ok());
    std::fs::write(&callers.settings.path, "{ not json").unwrap();
    callers.reload();
    assert!(callers.authenticate(Some(b"Bearer new-key")).is_ok());
}

#[tokio::test(start_paused = true)]
async fn cold_lookups_are_bounded_per_caller() {
    let text = format!(
        r#"{{"callers":[{{"name":"a","keySha256":"{}","models":["*"],"coldLookupsPerSecond":2}}]}}"#,
        sha256_hex("k")
    );
    let callers = callers(&text).unwrap();
    let caller = callers.authenticate(Some(b"Bearer k")).unwrap();
    assert_eq!(caller.cold_lookup(), Ok(()));
    assert_eq!(caller.cold_lookup(), Ok(()));
    assert!(matches!(caller.cold_lookup(), Err(Refused::ColdLookups(_))));
    // Another caller joins the file: `a` keeps what is left of its allowance.
    let more = format!(
        r#"{{"callers":[{{"name":"a","keySha256":"{}","models":["*"],"coldLookupsPerSecond":2}},
            {{"name":"b","keySha256":"{}","models":["*"]}}]}}"#,
        sha256_hex("k"),
        sha256_hex("k2")
    );
    std::fs::write(&callers.settings.path, more).unwrap();
    callers.reload();
    let caller = callers.authenticate(Some(b"Bearer k")).unwrap();
    assert!(matches!(caller.cold_lookup(), Err(Refused::ColdLookups(_))));
    tokio::time::advance(Duration::from_millis(500)).await;
    assert_eq!(caller.cold_lookup(), Ok(()));
}
