import pytest

from rldojo.llm.parse import STRATEGIES, marked_text, parse_action

AVAILABLE = ["get 1 poppy", "get 4 prismarine shard", "craft 1 red dye using 1 poppy", "inventory"]


@pytest.mark.parametrize(
    "reply, action, strategy",
    [
        ("Thought: I need dye.\nAction: get 1 poppy\nmore text", "get 1 poppy", "marker"),
        ("get 4 prismarine shard", "get 4 prismarine shard", "exact"),
        ("  GET 4 Prismarine Shard. ", "get 4 prismarine shard", "case_insensitive"),
        ("I will now craft 1 red dye using 1 poppy because", "craft 1 red dye using 1 poppy", "substring"),
        ("Action: prismarine shard", "get 4 prismarine shard", "substring"),
        ("craft 1 red dye using poppy", "craft 1 red dye using 1 poppy", "fuzzy"),
        ("dance wildly", "get 1 poppy", "fallback"),
    ],
)
def test_each_strategy_fires_on_its_case(reply, action, strategy):
    parsed = parse_action(reply, AVAILABLE)
    assert (parsed.action, parsed.strategy) == (action, strategy)


def test_fallback_can_be_switched_off_so_the_raw_text_reaches_the_env():
    parsed = parse_action("Action: dance wildly", AVAILABLE, fallback=False)
    assert (parsed.action, parsed.strategy) == ("dance wildly", "none")


def test_worlds_without_action_lists_take_the_marked_text_or_the_whole_reply():
    assert parse_action("x1=True\nAction: x1=True, x2=False", []).action == "x1=True, x2=False"
    assert parse_action("  x1=True, x2=False ", []).strategy == "raw"
    assert parse_action("  x1=True, x2=False ", []).action == "x1=True, x2=False"


def test_the_last_marker_wins_and_only_its_first_line_counts():
    assert marked_text("Action: a\nAction: `b c`\nd") == "b c"
    assert marked_text("no marker here") is None


def test_substring_prefers_the_longest_contained_action_and_ambiguous_fragments_do_not_match():
    available = ["get 1 stick", "get 1 stick and 1 plank"]
    assert parse_action("please get 1 stick and 1 plank now", available).action == "get 1 stick and 1 plank"
    # "get" is inside both actions: not a substring match; fuzzy overlap is too low: fallback.
    assert parse_action("get", available).strategy == "fallback"
    assert set(STRATEGIES) >= {"marker", "exact", "case_insensitive", "substring", "fuzzy", "fallback"}
