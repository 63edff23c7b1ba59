//! Tool mediation: bad calls are answered with tool errors, recorded, and bounded.

use crate::harness::Run;

#[test]
fn unknown_tools_malformed_json_and_schema_mismatches_get_tool_errors() {
    let out = Run::new()
        .chaos()
        .model("scripted/mischief")
        .axis("mode=bad-calls")
        .exec()
        .success();
    let tool_messages =
        out.rows("SELECT content, is_error FROM messages WHERE role = 'tool' ORDER BY idx");
    let expect = [
        (
            "unknown tool `launch_missiles`; the available tools are: read_file, echo",
            "1",
        ),
        ("arguments for `echo` are not valid JSON", "1"),
        (
            "invalid arguments for `echo`: `/text`: expected string, got integer",
            "1",
        ),
        ("ok", "0"),
    ];
    for (i, (text, is_error)) in expect.iter().enumerate() {
        assert!(
            tool_messages[i][0].starts_with(text),
            "message {i}: {:?}",
            tool_messages[i]
        );
        assert_eq!(tool_messages[i][1], *is_error, "message {i}");
    }
    // Second turn: 10 calls, 4 answered (the scenario's limit), 6 refused.
    let second_turn = &tool_messages[4..];
    assert_eq!(second_turn.len(), 10);
    assert_eq!(second_turn.iter().filter(|m| m[1] == "0").count(), 4);
    assert!(
        second_turn[4..]
            .iter()
            .all(|m| m[0] == "not run: at most 4 tool calls are answered per turn" && m[1] == "1")
    );
    assert_eq!(out.rows("SELECT status FROM trials")[0][0], "completed");
}

#[test]
fn an_agent_that_never_stops_is_ended_by_the_turn_limit() {
    let out = Run::new()
        .chaos()
        .model("scripted/mischief")
        .axis("mode=endless")
        .exec()
        .success();
    assert_eq!(
        out.rows("SELECT status, turns FROM trials")[0],
        ["turn-limit", "5"]
    );
    assert_eq!(
        out.rows("SELECT COUNT(*) FROM messages WHERE role = 'assistant'")[0][0],
        "5"
    );
}
