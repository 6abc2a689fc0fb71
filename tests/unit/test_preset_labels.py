"""A preset's label (its name on the page) from an apps file: the built-in ones have one, a
user's RENDERGATE_APPS_FILE gives its own, and a bad one stops the start saying which
preset and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from rendergate.config.apps_file import load_apps_and_presets
from rendergate.config.settings import Settings
from rendergate.domain.errors import ConfigError, InvalidInput
from rendergate.domain.presets import check_label


def with_apps_file(settings: Settings, tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "apps.toml"
    path.write_text(text, encoding="utf-8")
    return settings.model_copy(update={"apps_file": path})


def test_a_users_apps_file_gives_its_presets_labels(settings: Settings, tmp_path: Path) -> None:
    own = with_apps_file(
        settings,
        tmp_path,
        '[presets.studio_noon]\ntype = "preview"\nlabel = "Studio, noon"\n\n'
        '[presets.studio_plain]\ntype = "preview"\n',
    )
    _, presets = load_apps_and_presets(own)
    labels = {name: preset.label for name, preset in presets.presets.items()}
    assert (labels["studio_noon"], labels["studio_plain"]) == ("Studio, noon", "")
    assert (labels["dusk"], labels["su_warm_interior"]) == ("Dusk", "Warm interior, photoreal")


@pytest.mark.parametrize(
    ("label", "says"),
    [
        ('"' + "x" * 65 + '"', "preset 'bad': label is over 64 characters"),
        (
            '"Dusk\\tlate"',
            "preset 'bad': label has a control character '\\t' at position 4: "
            "a label is one line of text",
        ),
        ("7", "preset 'bad': label must be text"),
    ],
)
def test_a_bad_label_in_an_apps_file_stops_the_start(
    settings: Settings, tmp_path: Path, label: str, says: str
) -> None:
    broken = with_apps_file(
        settings, tmp_path, f'[presets.bad]\ntype = "preview"\nlabel = {label}\n'
    )
    with pytest.raises(ConfigError) as refused:
        load_apps_and_presets(broken)
    assert str(refused.value) == says


def test_a_label_is_one_line_of_at_most_64_characters() -> None:
    assert check_label("") == ""
    assert check_label("Façade, 黄昏") == "Façade, 黄昏"  # any script; ASCII reads everywhere
    assert check_label("x" * 64) == "x" * 64
    for bad in ("x" * 65, "a\nb", "a\x00", "\x7f", "a\ud800"):
        with pytest.raises(InvalidInput) as refused:
            check_label(bad)
        assert refused.value.field == "label"
