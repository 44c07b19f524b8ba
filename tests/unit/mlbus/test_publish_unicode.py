"""`mlbus publish` refuses text that is not Unicode before it reaches the bus."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlbus.cli import main
from mlbus.publishing import unicode_row


def test_a_row_with_a_lone_surrogate_is_refused_with_its_number_and_place() -> None:
    with pytest.raises(ValueError, match=r"row 7: the text at \$\.furnishing \(a key\) is not"):
        unicode_row({"record_id": "r", "furnishing": {"\ud800": 1}}, 7)
    with pytest.raises(ValueError, match=r"row 3: the text at \$\.area is not valid Unicode"):
        unicode_row({"record_id": "r", "area": "12\udc00"}, 3)


def test_rows_of_valid_text_pass_as_their_json_even_with_surrogate_pairs() -> None:
    assert unicode_row({"name": "\U0001f600"}, 1) == b'{"name": "\\ud83d\\ude00"}'


def test_a_file_that_is_not_utf8_is_refused_before_anything_is_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(b"record_id,area\nr1,\xff\xfe\n")
    # No broker at that address: the refusal comes before any connection.
    assert main(["publish", str(path), "--bootstrap", "127.0.0.1:9", "--wait", "0"]) == 1
    error = capsys.readouterr().err
    assert f"{path} is not valid UTF-8 text" in error
    assert "nothing was published" in error
