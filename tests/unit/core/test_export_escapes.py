"""The exported page's JSON: markup and invisible / bidi characters as \\uXXXX escapes, the same strings back."""

from __future__ import annotations

import json
import re

from featurecard.core.export import json_for_script, to_html

# Written out by hand: the bidi controls of UAX #9 and the zero-width / separator characters.
INVISIBLE = [0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069, 0x200E, 0x200F, 0x061C]
INVISIBLE += [0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0x2028, 0x2029]


def test_json_for_script_escapes_markup_and_bidi_characters_and_decodes_back() -> None:
    vocab = ["</script>", "<!--", "a&b", *(f"x{chr(c)}y" for c in INVISIBLE), "עברית", "é 日本"]
    out = json_for_script({"vocab": vocab})
    assert json.loads(out) == {"vocab": vocab}
    for c in [*map(ord, "<>&"), *INVISIBLE]:
        assert chr(c) not in out, f"U+{c:04X} is written raw"
        assert f"\\u{c:04x}" in out
    assert "עברית" in out and "é 日本" in out  # visible text stays as it is (ensure_ascii=False)


def test_the_page_holds_no_raw_bidi_control() -> None:
    state = {"feature": 0, "vocab": ["ok", "\u202eevil", "\u2067iso"]}
    page = to_html([state])
    assert not re.search("[\u202a-\u202e\u2066-\u2069]", page)
    data = re.search(r'<script type="application/json" id="featurecard-data">(.*?)</script>', page, re.S)
    assert data is not None and json.loads(data.group(1))["states"][0]["vocab"] == state["vocab"]
