use super::*;

#[test]
fn a_shared_answer_reads_back_as_it_was_stored() {
    for next_poll_ms in [Some(1_700_000_005_000), None] {
        let answer = SharedAnswer {
            fetched_ms: 1_700_000_000_000,
            next_poll_ms,
            etag: "W/\"0123abcd\"".into(),
            body: Bytes::from_static(b"{\"a\": \"b c\"}"),
        };
        let stored = [b"floor-id ".as_slice(), &answer.encode()].concat();
        assert_eq!(SharedAnswer::decode_stored(&stored), Some(answer));
    }
    assert_eq!(SharedAnswer::decode_stored(b"id garbage"), None);
    assert_eq!(SharedAnswer::decode_stored(b"id 1 x W/\"a\" {}"), None);
    assert_eq!(SharedAnswer::decode_stored(b"no-space"), None);
}
